# -*- coding: utf-8 -*-
# Copyright (c) stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How merge_strategies names an item in its messages (found by mutation testing): by its name
only when that is a non-empty string, so that a boolean or a number is never shown as if it were
the strategy's name."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stalwart.mail.plugins.filter.merge_strategies import merge_strategies

HOST = "stalwart_mta_connection_strategies__20_host"


@pytest.mark.parametrize("item,message", [
    ({"name": True}, f"{HOST}[0]: the name must be a string, got the boolean true"),
    ({"name": 2024, "colour": "red"}, f"{HOST}[0] has unknown key(s) colour;"),
    ({"name": "bulk", "colour": "red"}, f"{HOST}[0] (strategy 'bulk') has unknown key(s) colour;"),
])
def test_an_item_is_named_by_its_name_only_when_that_is_a_string(item, message):
    with pytest.raises(AnsibleFilterError) as raised:
        merge_strategies({HOST: [item]})
    assert str(raised.value.message).startswith(message), raised.value.message
