# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edges of the object declarations that test__objects.py left open (found by mutation testing):
the server's paths below the key, and the refusals of ``desired_from_params``, the generic entry
of a keyed module's input, in their own words."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _objects
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY


@pytest.mark.parametrize("path,option", [("name/0", "name"), ("colour/0", "colour/0"), ("colour", "colour")])
def test_a_path_below_the_key_names_the_key_and_an_unknown_path_stays_as_it_is(path, option):
    assert STRATEGY.option_for_wire_path(path) == option


@pytest.mark.parametrize("params,message,option", [
    # the item itself is the option at fault (it was 'strategies[0].', with a dot and no option)
    ({"strategies": ["bulk"]}, "strategies[0] (item 1): expected a dict (one strategy), got 'bulk'", "strategies[0]"),
    ({"strategies": [{"name": ["a"]}]}, "strategies[0] (item 1): strategies[0].name: expected a non-empty string, "
                                        "got ['a']", "strategies[0].name"),
    ({"strategies": [{"name": "a"}], "connect_timeout": "1m", "state": "absent"},
     "connect_timeout, state: the value options of one strategy go with name; with strategies, give them in each item "
     "of the list", "connect_timeout"),
    ({"name": "a", "force": True}, "force: only with strategies and purge (they say what purge keeps or deletes); one "
                                   "strategy given with name takes no such option", "force"),
    # false and empty are the options' defaults: not given
    ({"name": "a", "force": False, "purge_keep": [], "assume_present": ["b"]},
     "assume_present: only with strategies and purge (they say what purge keeps or deletes); one strategy given with "
     "name takes no such option", "assume_present"),
])
def test_input_that_fits_neither_one_strategy_nor_a_batch_is_refused_saying_why(params, message, option):
    with pytest.raises(InputError) as raised:
        _objects.desired_from_params(STRATEGY, params)
    assert raised.value.msg == message
    if option is not None:  # an item that is no dict has no option of its own to check
        assert raised.value.details["option"] == option
