# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the planner: every case of comparison and purge, table-driven."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _objects, _planner, _values
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY


def server(*objects):
    """Current state from wire objects (ids made up from the names)."""
    current = {}
    for wire in objects:
        wire = dict({"id": "id-" + wire["name"]}, **wire)
        current[wire["name"]] = STRATEGY.from_wire(wire)
    return current


def desired(*items):
    return _objects.desired_from_params(STRATEGY, {"strategies": list(items)})


CURRENT = server(
    {"name": "default", "description": "Default connection strategy"},
    {"name": "bulk", "description": "Bulk", "ehloHostname": "mx.example.org", "connectTimeout": 120000,
     "sourceIps": {"0": {"sourceIp": "192.0.2.1", "ehloHostname": "a.example.org"},
                   "1": {"sourceIp": "2001:db8::a", "ehloHostname": None}}},
    {"name": "gmail"},
    {"name": "stale"},
)

CASES = [
    # id, desired items, expected summary
    ("create", [{"name": "fresh", "connect_timeout": "3m"}], {"create": ["fresh"], "update": {}, "delete": []}),
    ("no-op same spelling", [{"name": "bulk", "connect_timeout": "2m", "description": "Bulk"}],
     {"create": [], "update": {}, "delete": []}),
    ("no-op other spellings", [{"name": "bulk", "connect_timeout": 120000, "ehlo_hostname": "MX.Example.ORG",
                                "data_timeout": "600s"}], {"create": [], "update": {}, "delete": []}),
    ("change one option", [{"name": "bulk", "connect_timeout": "2m30s", "description": "Bulk"}],
     {"create": [], "update": {"bulk": ["connect_timeout"]}, "delete": []}),
    ("clear description and ehlo", [{"name": "bulk", "description": "", "ehlo_hostname": ""}],
     {"create": [], "update": {"bulk": ["description", "ehlo_hostname"]}, "delete": []}),
    ("clear already clear", [{"name": "gmail", "description": "", "ehlo_hostname": ""}],
     {"create": [], "update": {}, "delete": []}),
    ("reorder source_ips", [{"name": "bulk", "source_ips": [
        {"ip": "2001:DB8::A"}, {"ip": "192.0.2.1", "ehlo_hostname": "A.example.org"}]}],
     {"create": [], "update": {}, "delete": []}),
    ("change source_ips", [{"name": "bulk", "source_ips": [{"ip": "2001:DB8::A"}]}],
     {"create": [], "update": {"bulk": ["source_ips"]}, "delete": []}),
    ("clear source_ips", [{"name": "bulk", "source_ips": []}],
     {"create": [], "update": {"bulk": ["source_ips"]}, "delete": []}),
    ("delete", [{"name": "stale", "state": "absent"}], {"create": [], "update": {}, "delete": ["stale"]}),
    ("delete absent", [{"name": "never", "state": "absent"}], {"create": [], "update": {}, "delete": []}),
    ("batch mixed", [{"name": "new-b"}, {"name": "new-a"}, {"name": "stale", "state": "absent"},
                     {"name": "bulk", "greeting_timeout": "45s", "data_timeout": "1m"}],
     {"create": ["new-b", "new-a"], "update": {"bulk": ["data_timeout", "greeting_timeout"]}, "delete": ["stale"]}),
]


@pytest.mark.parametrize("items,expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_plan(items, expected):
    result = _planner.plan(STRATEGY, CURRENT, desired(*items))
    assert result.summary() == expected
    assert result.changed is bool(expected["create"] or expected["update"] or expected["delete"])
    assert result.warnings == []


def test_update_patch_holds_only_changed_properties_never_name():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk", "connect_timeout": "2m30s", "description": "Bulk",
                                                       "source_ips": [{"ip": "192.0.2.9"}, {"ip": "192.0.2.1"}]}))
    assert result.update_patch("bulk") == {"connectTimeout": 150000,
                                           "sourceIps": {"0": {"sourceIp": "192.0.2.9"}, "1": {"sourceIp": "192.0.2.1"}}}
    assert result.update_patch("bulk", durations_as_strings=True)["connectTimeout"] == "150s"
    assert result.ids == {"bulk": "id-bulk"}


def test_clears_are_sent_as_null():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk", "description": "", "ehlo_hostname": ""}))
    assert result.update_patch("bulk") == {"description": None, "ehloHostname": None}


def test_create_body_and_prediction_with_server_defaults():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "fresh", "connect_timeout": "3m",
                                                       "source_ips": [{"ip": "198.51.100.7"}]}))
    assert result.create_body("fresh") == {"name": "fresh", "connectTimeout": 180000,
                                           "sourceIps": {"0": {"sourceIp": "198.51.100.7"}}}
    assert result.create_body("fresh", True)["connectTimeout"] == "3m"
    assert STRATEGY.to_info(result.predicted["fresh"]) == {
        "name": "fresh", "description": None, "ehlo_hostname": None,
        "source_ips": [{"ip": "198.51.100.7", "ehlo_hostname": None}], "connect_timeout": "3m",
        "data_timeout": "10m", "ehlo_timeout": "5m", "greeting_timeout": "5m", "mail_from_timeout": "5m",
        "rcpt_to_timeout": "5m", "id": None}


def test_prediction_of_an_update_keeps_id_and_server_order_when_only_reordered():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk", "data_timeout": "20m", "source_ips": [
        {"ip": "2001:db8::a"}, {"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]}))
    predicted = result.predicted["bulk"]
    assert predicted["id"] == "id-bulk" and predicted["data_timeout"] == 1200000
    assert predicted["source_ips"] == CURRENT["bulk"]["source_ips"]
    assert result.before["bulk"] is CURRENT["bulk"]


def test_prediction_of_a_changed_source_ips_is_in_the_users_order():
    wanted = [{"ip": "192.0.2.9"}, {"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk", "source_ips": wanted}))
    assert [entry["ip"] for entry in result.predicted["bulk"]["source_ips"]] == ["192.0.2.9", "192.0.2.1"]


OUTBOUND = {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'default'"}


@pytest.mark.parametrize("connection,names", [
    (OUTBOUND, {"gmail", "default"}),
    ({"match": [{"if": "x == 'a'", "then": "'a-strat'"}], "else": "'b'"}, {"a-strat", "b"}),
    ("'default'", {"default"}),
    ({"match": {}, "else": "'default'"}, {"default"}),
    ({"match": {"0": {"if": 'rcpt_domain == "gmail.com"', "then": '"gmail"'}}, "else": '"default"'},
     {"gmail", "default"}),
    # the server's tokenizer keeps a backslash, and the character after it does not end the string;
    # \n after it is a line feed (crates/common/src/expr/tokenizer.rs, parse_string)
    ({"else": "'it\\'s'"}, {"it\\'s"}),
    ({"else": '"say \\"hi\\""'}, {'say \\"hi\\"'}),
    ({"else": "'a\\nb'"}, {"a\\\nb"}),
    ({"else": "'a\\\\'b'"}, {"a\\\\'b"}),
    # a computed name may be any name: unknown, whatever string literals it holds
    ({"else": "if_then('x', 'y')"}, None),
    ({"match": {"0": {"if": "true", "then": "'local-' + rcpt_domain"}}, "else": "'default'"}, None),
    ({"match": {"0": {"if": "true", "then": "rcpt_domain"}}, "else": "'default'"}, None),
    ({"else": "'a' + 'b'"}, None),
    # nothing stored: the server's default expression, which routes to 'default'
    (None, {"default"}),
])
def test_protected_names(connection, names):
    default = OUTBOUND_STRATEGY.field_by_name["connection"].default
    assert _values.EXPRESSION.names(_values.EXPRESSION.from_wire(connection, default)) == names


def test_the_computed_targets_say_where_they_are():
    value = _values.EXPRESSION.from_wire({"match": {"0": {"if": "a", "then": "'x'"}, "1": {"if": "b", "then": "rcpt_domain"}},
                                          "else": "'local-' + rcpt_domain"}, None)
    assert _values.EXPRESSION.computed(value) == [("rules[1].then_expr", "rcpt_domain"),
                                                  ("else_expr", "'local-' + rcpt_domain")]


def test_purge_deletes_unlisted_but_keeps_protected_with_a_warning():
    protected = _values.EXPRESSION.names(_values.EXPRESSION.from_wire(OUTBOUND, None))
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}, {"name": "fresh"}), purge=True, protected=protected)
    assert result.summary() == {"create": ["fresh"], "update": {}, "delete": ["stale"]}
    assert len(result.warnings) == 1 and "'default'" in result.warnings[0] and "'gmail'" in result.warnings[0]
    assert "names them (deleting them" in result.warnings[0] and "to delete them anyway" in result.warnings[0]


def test_purge_keeping_one_protected_strategy_says_it():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}, {"name": "gmail"}), purge=True,
                           protected={"default"})
    assert result.delete == ["stale"]
    assert result.warnings == ["purge kept 'default': the outbound strategy's connection expression names it "
                               "(deleting it would make deliveries fall back to built-in defaults); set force: true "
                               "to delete it anyway"]


def test_purge_with_force_deletes_protected_too():
    protected = _values.EXPRESSION.names(_values.EXPRESSION.from_wire(OUTBOUND, None))
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected=protected, force=True)
    assert result.delete == ["default", "gmail", "stale"]
    assert result.ids["gmail"] == "id-gmail"
    assert result.warnings and "force" in result.warnings[0]


@pytest.mark.parametrize("force", [False, True])
def test_purge_never_deletes_what_purge_keep_names_not_even_with_force(force):
    """purge_keep: the names of the expression the role writes. Deleting one would leave that
    expression naming a strategy that does not exist, so force (meant for what the server's own
    expression names) does not apply to them; what they do not name is deleted."""
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected={"gmail", "elsewhere"},
                           force=force, keep_given=True)
    assert result.delete == ["default", "stale"]
    assert result.warnings == ["purge kept 'gmail': purge_keep names it (the role passes the names that the connection "
                               "expression it writes routes to)"
                               + ("; force does not delete what purge_keep names" if force else "")]


def test_purge_refused_when_the_outbound_strategy_is_unreadable():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected=None,
                           unknown=_planner.unreadable("the credentials lack the permission sysMtaOutboundStrategyGet"))
    assert result.delete == []
    assert result.warnings == [
        "purge deleted nothing: the outbound strategy could not be read (the credentials lack the permission "
        "sysMtaOutboundStrategyGet), so it is unknown which strategies its connection expression uses; not listed and "
        "kept: default, gmail, stale. Grant sysMtaOutboundStrategyGet, or set force: true to delete them anyway"]


@pytest.mark.parametrize("force", [False, True])
def test_purge_with_a_computed_connection_deletes_nothing_unless_forced(force):
    """A connection expression that computes the name ('local-' + rcpt_domain) may route to any
    strategy: purge cannot tell which are in use, as when the expression cannot be read."""
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected=None, force=force,
                           unknown=_planner.computed("rules[0].then_expr", "'local-' + rcpt_domain"))
    assert result.delete == (["default", "gmail", "stale"] if force else [])
    cause = ("the outbound strategy's connection expression computes a strategy name (connection.rules[0].then_expr: "
             "\"'local-' + rcpt_domain\"), so it may route to any strategy")
    assert result.warnings == ([f"purge with force: {cause}; the strategies it may use are deleted too"] if force else
                               [f"purge deleted nothing: {cause}; not listed and kept: default, gmail, stale. List the "
                                "strategies it routes to and set force: true to delete the others"])


def test_purge_unreadable_with_force_deletes_everything_unlisted():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}), purge=True, protected=None, force=True)
    assert result.delete == ["default", "gmail", "stale"]


def test_purge_with_everything_listed_is_no_change_and_no_warning():
    items = [{"name": name} for name in CURRENT]
    result = _planner.plan(STRATEGY, CURRENT, desired(*items), purge=True, protected=None)
    assert not result.changed and result.warnings == []


def test_batch_state_absent_with_purge_is_deleted_once():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "stale", "state": "absent"}, {"name": "bulk"}),
                           purge=True, protected={"default", "gmail"})
    assert result.delete == ["stale"]


def test_explicit_absent_of_a_protected_name_is_deleted_with_a_warning():
    """state: absent is the operator's own request: the strategy goes, even one the expression
    routes to (purge would keep it), and the run says what that does to the mail routed there."""
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "gmail", "state": "absent"}, {"name": "bulk"},
                                                      {"name": "stale"}, {"name": "default"}), purge=True, protected={"gmail"})
    assert result.delete == ["gmail"]
    assert result.warnings == [
        "strategies[0] ('gmail') is deleted (state: absent), though the outbound strategy's connection expression "
        "routes to "
        "it: deliveries routed there fall back to built-in defaults, with no source IP, until the expression stops "
        "naming it (stalwart.mail.mta_outbound_strategy)"]
    # the role's last step: purge_keep names what its new expression routes to, and never an item set absent
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "gmail", "state": "absent"}), protected={"gmail"},
                           keep_given=True)
    assert result.delete == ["gmail"] and result.warnings == []


def test_no_purge_leaves_unlisted_alone():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk"}))
    assert not result.changed


def test_units_are_kept_for_the_diff():
    result = _planner.plan(STRATEGY, CURRENT, desired({"name": "bulk", "connect_timeout": "150s"}))
    assert result.units["bulk"] == {"connect_timeout": "s"}


def test_an_update_that_does_not_grow_an_object_the_server_holds_is_not_refused_for_its_size():
    """The server measures an object compressed, the planner uncompressed: Stalwart 0.16.19 holds a
    strategy with a 250,000-letter description made through its API, and takes an update of its
    timeout. Refusing that update (as the planner did) would leave such a strategy unmanageable
    for an option the task never gave; what makes it larger still is refused before sending."""
    current = server({"name": "long", "description": "d" * 250_000})
    result = _planner.plan(STRATEGY, current, desired({"name": "long", "connect_timeout": "1m"}))
    assert result.summary() == {"create": [], "update": {"long": ["connect_timeout"]}, "delete": []}
    with pytest.raises(_planner.InputError, match="stores at most 200000 bytes"):
        _planner.plan(STRATEGY, current, desired({"name": "long", "description": "d" * 250_001}))
    with pytest.raises(_planner.InputError, match="stores at most 200000 bytes") as caught:
        _planner.plan(STRATEGY, {}, desired({"name": "long", "description": "d" * 250_000}))
    # the server measures the compressed form: the message says this one is not
    assert "250030 bytes on the server before compression" in str(caught.value), caught.value
    assert "text that repeats itself may fit" in str(caught.value)
