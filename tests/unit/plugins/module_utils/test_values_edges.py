# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edges of the value kinds that test__objects.py left open (found by mutation testing): the
limits at their exact values, the reasons a duration is refused, what the server sends in a form
the collection does not expect, and the outbound strategy's expression kind (its checks, its wire
and info forms), which only the integration tests exercised."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _objects, _planner, _values
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY as OUTBOUND

# --- durations -----------------------------------------------------------------------------------


def test_the_longest_duration_is_the_servers_u64_of_milliseconds():
    assert _values.normalise_duration(2 ** 64 - 1) == 2 ** 64 - 1
    assert _values.normalise_duration(f"{2 ** 64 - 1}ms") == 2 ** 64 - 1
    with pytest.raises(ValueError, match=r"is more than the server takes \(18446744073709551615 ms\)"):
        _values.normalise_duration(2 ** 64)


@pytest.mark.parametrize("value,reason", [
    ("-5m", "is negative; a duration must be > 0"),
    (" - 5m", "is negative; a duration must be > 0"),
    # a decimal comma is a fraction too, not an unknown unit
    ("1,5s", "has a fraction; use a smaller unit (1500ms, not 1.5s)"),
    ("1.5s", "has a fraction; use a smaller unit (1500ms, not 1.5s)"),
    ("5w", "is not a duration (unknown unit or syntax)"),
])
def test_a_refused_duration_says_why(value, reason):
    with pytest.raises(ValueError) as raised:
        _values.normalise_duration(value)
    assert str(raised.value).endswith(reason), raised.value


# --- waits, sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds,ok", [(0.5, True), (1, True), (86_400, True), (86_400.5, False), (0, False),
                                        (float("nan"), False), (True, False)])
def test_a_wait_is_more_than_zero_and_at_most_a_day(seconds, ok):
    """A half-second timeout is a wait (the bound is 0, not 1); a day is the longest."""
    assert _values.is_wait_seconds(seconds) is ok


@pytest.mark.parametrize("length,size", [(0, 1), (127, 128), (128, 130), (16_383, 16_385), (16_384, 16_387)])
def test_a_string_is_stored_as_its_length_in_leb128_then_its_bytes(length, size):
    """The byte count the size check uses: one length byte up to 127, two up to 16,383, then three."""
    assert _values.text_size("x" * length) == size


# --- host names -----------------------------------------------------------------------------------


def test_a_host_name_is_mapped_by_uts46_as_the_server_maps_it():
    """Full-width letters are mapped to ASCII by UTS 46 (the server's idna crate does the same);
    IDNA 2008 alone would refuse them."""
    assert _values.normalise_hostname("ｍｘ.example.com") == "mx.example.com"


@pytest.mark.parametrize("name,problem", [
    ("a" * 63 + ".example.com", None),
    ("a" * 64 + ".example.com", "has a label longer than 63 characters"),
    (".".join(["a" * 63] * 3 + ["b" * 57, "com"]), None),  # 253 characters
    (".".join(["a" * 63] * 3 + ["b" * 58, "com"]), "is longer than 253 characters"),
])
def test_dns_limits_are_63_per_label_and_253_per_name(name, problem):
    assert _values.dns_problem(name) == problem


def test_a_source_ip_entry_without_its_address_says_it_is_missing():
    for entry in ({"ehlo_hostname": "mx.example.com"}, {"ip": ""}):
        with pytest.raises(_objects.InputError) as raised:
            _objects.normalise_item(STRATEGY, {"name": "bulk", "source_ips": [{"ip": "192.0.2.1"}, entry]})
        assert raised.value.msg.startswith(
            "strategy 'bulk': source_ips[1].ip: the address is missing (required); expected an IPv4"), raised.value.msg


def test_ip_and_its_alias_source_ip_may_be_given_together_only_alike():
    same = _objects.normalise_item(STRATEGY, {"name": "bulk", "source_ips": [{"ip": "192.0.2.1", "source_ip": "192.0.2.1"}]})
    assert same["values"]["source_ips"] == [{"ip": "192.0.2.1", "ehlo_hostname": None}]
    with pytest.raises(_objects.InputError) as raised:
        _objects.normalise_item(STRATEGY, {"name": "bulk", "source_ips": [{"ip": "192.0.2.1", "source_ip": "192.0.2.2"}]})
    assert raised.value.msg == ("strategy 'bulk': source_ips[0].ip: ip and its alias source_ip are both set, to different "
                                "values; set only one of them")


# --- what the server sends ------------------------------------------------------------------------


def test_unexpected_values_from_the_server_are_kept_as_it_sent_them():
    """A host name the collection would refuse is kept lower-cased, a number as its text, a
    duration it cannot read as it is; a list keyed by something other than positions is read in
    its order; an empty description is no description. Nothing of this fails the read."""
    obj = STRATEGY.from_wire({"id": "i1", "name": "odd", "ehloHostname": "MX.Example.NOTATLD", "description": "",
                              "connectTimeout": "soon", "sourceIps": {"first": {"sourceIp": "192.0.2.1"}}})
    assert obj["ehlo_hostname"] == "mx.example.notatld"
    assert obj["description"] is None
    assert obj["connect_timeout"] == "soon"
    assert obj["source_ips"] == [{"ip": "192.0.2.1", "ehlo_hostname": None}]
    assert STRATEGY.from_wire({"name": "n", "ehloHostname": 42})["ehlo_hostname"] == "42"
    assert STRATEGY.to_info(obj)["connect_timeout"] == "soon"


def test_a_duration_the_server_holds_in_an_unexpected_form_is_rewritten_and_does_not_break_the_size_check():
    current = {"odd": STRATEGY.from_wire({"id": "i1", "name": "odd", "connectTimeout": "soon"})}
    result = _planner.plan(STRATEGY, current, _objects.desired_from_params(STRATEGY, {"strategies": [
        {"name": "odd", "connect_timeout": "5m"}]}))
    assert result.update == {"odd": ["connect_timeout"]}
    # an update of another option keeps it, and the size check measures it as nothing
    result = _planner.plan(STRATEGY, current, _objects.desired_from_params(STRATEGY, {"strategies": [
        {"name": "odd", "description": "new"}]}))
    assert result.update == {"odd": ["description"]} and result.predicted["odd"]["connect_timeout"] == "soon"


def test_an_empty_description_on_the_server_is_already_cleared():
    current = {"plain": STRATEGY.from_wire({"id": "i1", "name": "plain", "description": ""})}
    result = _planner.plan(STRATEGY, current, _objects.desired_from_params(STRATEGY, {"strategies": [
        {"name": "plain", "description": ""}]}))
    assert not result.changed


# --- expressions ----------------------------------------------------------------------------------


def test_string_literals_start_only_at_a_quote_wherever_it_is():
    expression = "rcpt_domain == 'a.example' || sender == \"b\""
    assert _values.string_literals(expression) == [(15, 26, "a.example"), (40, 43, "b")]


@pytest.mark.parametrize("expression", ["'unterminated", "'a' + 'b", "rcpt_domain"])
def test_an_expression_that_is_not_one_whole_literal_names_no_strategy(expression):
    assert _values.literal_name(expression) is None
    assert _values.EXPRESSION.names({"rules": [], "else": expression}) is None


def normalise(raw):
    return _values.EXPRESSION.normalise(raw, _objects.ItemContext(OUTBOUND), "connection")


ACCEPTED = _values.EXPRESSION_ACCEPTED
RULE = _values.RULE_ACCEPTED


@pytest.mark.parametrize("raw,message", [
    ("gmail", f"connection: expected a dict, got 'gmail'; {ACCEPTED}"),
    ({"else": "a", "colour": "red"}, "connection: unsupported key(s) colour; supported keys: rules, else, else_expr"),
    ({"rules": "x", "else": "a"}, f"connection.rules: expected a list of rules, got 'x'; {RULE}"),
    ({"rules": ["x"], "else": "a"}, f"connection.rules[0]: expected a dict, got 'x'; {RULE}"),
    ({"rules": [{"if": "true", "then": "b", "colour": 1}], "else": "a"},
     "connection.rules[0]: unsupported key(s) colour; supported keys: if, then, then_expr"),
    ({"rules": [{"then": "b"}], "else": "a"}, f"connection.rules[0].if: missing: each rule needs a condition; {RULE}"),
    ({"rules": [{"if": ["x"], "then": "b"}], "else": "a"},
     "connection.rules[0].if: expected an expression (a string), got ['x']"),
    ({"rules": [{"if": True, "then": "b"}], "else": "a"},
     f"connection.rules[0].if: expected an expression (a string), got True ({_values.YAML_BOOLEAN}: quote it)"),
    ({"rules": [{"if": "  ", "then": "b"}], "else": "a"}, "connection.rules[0].if: expected a non-empty expression, got '  '"),
    ({"else": "a", "else_expr": "'a'"}, "connection.else: give exactly one of else (a name) and else_expr (an expression)"),
    ({"rules": []}, "connection.else: give exactly one of else (a name) and else_expr (an expression)"),
    ({"else_expr": " "}, "connection.else_expr: expected a non-empty expression, got ' '"),
    ({"else": ["x"]}, "connection.else: expected a name (a string), got ['x']"),
    ({"else": False}, f"connection.else: expected a name (a string), got False ({_values.YAML_BOOLEAN}: quote it)"),
    ({"else": ""}, "connection.else: expected a non-empty name, got ''"),
    ({"rules": [{"if": "true", "then": "it's \"x\""}], "else": "a"},
     "connection.rules[0].then: the name 'it\\'s \"x\"' cannot be written as a string literal of Stalwart's "
     "expressions (it holds a backslash, or both kinds of quote); use then_expr with an expression of your own"),
    ({"else": "a\\b"}, "connection.else: the name 'a\\\\b' cannot be written as a string literal"),
])
def test_a_malformed_expression_is_refused_naming_where_and_what_is_accepted(raw, message):
    with pytest.raises(_objects.InputError) as raised:
        normalise(raw)
    assert str(raised.value.msg).startswith(f"the outbound strategy: {message}"), raised.value.msg


GIVEN = {"rules": [{"if": " rcpt_domain == 'gmail.com' ", "then": "gmail"},
                   {"if": "true", "then_expr": " 'local-' + rcpt_domain "},
                   {"if": "false", "then": 2024}],
         "else": "it's"}
STORED = {"rules": [("rcpt_domain == 'gmail.com'", "'gmail'"), ("true", "'local-' + rcpt_domain"), ("false", "'2024'")],
          "else": "\"it's\""}
WIRE = {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"},
                  "1": {"if": "true", "then": "'local-' + rcpt_domain"},
                  "2": {"if": "false", "then": "'2024'"}},
        "else": "\"it's\""}


def test_an_expression_is_stored_trimmed_with_names_as_string_literals():
    assert normalise(GIVEN) == STORED
    assert normalise({"else": "default"}) == {"rules": [], "else": "'default'"}


def test_an_expression_is_written_whole_and_read_back_as_written():
    assert _values.EXPRESSION.to_wire(STORED) == WIRE
    assert _values.EXPRESSION.from_wire(WIRE, None) == STORED
    assert OUTBOUND.to_wire({"connection": STORED}) == {"connection": WIRE}


def test_the_info_form_shows_a_name_only_where_the_module_would_write_that_literal():
    """So that the info module's output pastes back as no change: a name in the other quotes, or
    an empty one, is shown as the expression it is."""
    assert _values.EXPRESSION.to_info(STORED) == {
        "rules": [{"if": "rcpt_domain == 'gmail.com'", "then": "gmail"},
                  {"if": "true", "then_expr": "'local-' + rcpt_domain"},
                  {"if": "false", "then": "2024"}],
        "else": "it's"}
    assert _values.EXPRESSION.to_info({"rules": [("true", "\"bulk\"")], "else": "''"}) == {
        "rules": [{"if": "true", "then_expr": "\"bulk\""}], "else_expr": "''"}
    assert normalise(_values.EXPRESSION.to_info(STORED)) == STORED


def test_the_literal_names_an_expression_routes_to_are_listed_once_in_order():
    value = {"rules": [("a", "'x'"), ("b", "rcpt_domain"), ("c", "'x'"), ("d", "'z'")], "else": "'y'"}
    assert _values.EXPRESSION.literal_names(value) == ["x", "z", "y"]
