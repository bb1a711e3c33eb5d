# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edges of the planner that test__planner.py left open (found by mutation testing): the size
limit at its exact value, an object type without one, purge with another writer's routes, a purge
that keeps nothing, and the singleton's plan (the outbound strategy)."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _objects, _planner, _values
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY as OUTBOUND


def server(*objects):
    """Current state from wire objects (ids made up from the names)."""
    return {wire["name"]: STRATEGY.from_wire(dict({"id": "id-" + wire["name"]}, **wire)) for wire in objects}


def desired(*items):
    return _objects.desired_from_params(STRATEGY, {"strategies": list(items)})


CURRENT = server({"name": "default"}, {"name": "gmail"}, {"name": "bulk"}, {"name": "stale"})


# --- the size limit ------------------------------------------------------------------------------


def test_an_object_of_exactly_the_servers_limit_is_planned_and_one_byte_more_is_refused():
    """The server stores at most 200,000 bytes: at the limit is allowed. A strategy named 'long'
    with a description of n letters takes n + 30 bytes (see test__planner.py: 250,000 -> 250,030)."""
    result = _planner.plan(STRATEGY, {}, desired({"name": "long", "description": "d" * 199_970}))
    assert result.create == ["long"]
    with pytest.raises(_planner.InputError, match="it would take 200001 bytes on the server before compression"):
        _planner.plan(STRATEGY, {}, desired({"name": "long", "description": "d" * 199_971}))


def test_an_object_type_without_a_size_limit_is_not_measured():
    """``max_size=None`` is documented as "no check": a keyed type declared without one (a new
    type is one ObjectType line) plans creates and updates of any size."""
    thing = _objects.ObjectType("Thing", key="name", label="thing", collection_option="things",
                                fields=(_objects.Field("description", "description", _values.TEXT),))
    current = {"old": thing.from_wire({"id": "i1", "name": "old", "description": "short"})}
    items = [_objects.normalise_item(thing, {"name": "old", "description": "x" * 300_000}),
             _objects.normalise_item(thing, {"name": "new", "description": "y" * 300_000})]
    result = _planner.plan(thing, current, items)
    assert result.summary() == {"create": ["new"], "update": {"old": ["description"]}, "delete": []}


# --- purge ---------------------------------------------------------------------------------------


def test_a_purge_that_keeps_nothing_says_nothing():
    """No strategy that purge deletes is named by the expression: no warning of any kind."""
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}, {"name": "default"}), purge=True,
                           protected={"default"})
    assert result.delete == ["gmail", "stale"]
    assert result.warnings == []


def test_purge_keeps_another_writers_route_with_a_warning_of_its_own():
    """With purge_keep (``keep_given``), a name the server's expression routes to that purge_keep
    does not name (``foreign``: another host or run wrote that expression) is kept too, and the
    warning says the hosts disagree; what purge_keep names gets the purge_keep warning; the rest goes."""
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected={"gmail", "default"},
                           keep_given=True, foreign={"default"})
    assert result.delete == ["stale"]
    assert result.warnings == [
        "purge kept 'default': the server's connection expression routes to it, and it is not the one this run "
        "wrote (another host or run wrote it since, with other routes): the hosts or runs that share this server "
        "disagree",
        "purge kept 'gmail': purge_keep names it (the role passes the names that the connection expression it "
        "writes routes to)"]


def test_purge_keeps_several_foreign_routes_even_with_force():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected={"gmail", "default"},
                           keep_given=True, foreign={"default", "gmail"}, force=True)
    assert result.delete == ["stale"]
    assert result.warnings == [
        "purge kept 'default', 'gmail': the server's connection expression routes to them, and it is not the one "
        "this run wrote (another host or run wrote it since, with other routes): the hosts or runs that share this "
        "server disagree"]


# --- the singleton ----------------------------------------------------------------------------------


OUTBOUND_ON_SERVER = OUTBOUND.from_wire({
    "id": "singleton",
    "connection": {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'default'"},
    "route": {"match": {"0": {"if": "is_local_domain(rcpt_domain)", "then": "'local'"}}, "else": "'mx'"}})


def outbound_values(**params):
    values, _units = OUTBOUND.normalise_values(params, _objects.ItemContext(OUTBOUND))
    return values


def test_the_singleton_plan_changes_only_the_given_expressions_that_differ():
    # connection given as on the server (then: gmail is the literal 'gmail'), route changed, the rest left out
    values = outbound_values(
        connection={"rules": [{"if": "rcpt_domain == 'gmail.com'", "then": "gmail"}], "else": "default"},
        route={"rules": [], "else": "relay"})
    the_plan = _planner.plan_singleton(OUTBOUND, OUTBOUND_ON_SERVER, values)
    assert the_plan.changed is True
    assert the_plan.summary() == {"update": ["route"]}
    assert the_plan.wire_patch() == {"route": {"match": {}, "else": "'relay'"}}
    assert the_plan.predicted["route"] == {"rules": [], "else": "'relay'"}
    assert the_plan.predicted["connection"] == OUTBOUND_ON_SERVER["connection"]
    assert the_plan.before is OUTBOUND_ON_SERVER


def test_the_singleton_plan_of_what_the_server_holds_is_no_change():
    values = outbound_values(route={"rules": [{"if": "is_local_domain(rcpt_domain)", "then_expr": "'local'"}],
                                    "else": "mx"})
    the_plan = _planner.plan_singleton(OUTBOUND, OUTBOUND_ON_SERVER, values)
    assert the_plan.changed is False
    assert the_plan.summary() == {"update": []}
    assert the_plan.wire_patch() == {}
    assert the_plan.predicted == OUTBOUND_ON_SERVER
