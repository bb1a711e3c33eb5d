# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the object model: durations, host names, IPs, source_ips, validation, wire
encoding in both dialects, decoding, the info form and the mapping of server paths to options."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _objects, _values
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError

DURATIONS_OK = [
    (300000, 300000), ("5m", 300000), ("300s", 300000), ("300000ms", 300000), ("300000", 300000),
    ("5 M", 300000), (" 2 m ", 120000), ("4m60s", 300000), ("1h30m", 5400000), ("1H 30M", 5400000),
    ("2d", 172800000), ("1500ms", 1500), ("90S", 90000), ("1d1h1m1s1ms", 90061001), (1, 1),
]
DURATIONS_BAD = [0, -5, "0s", "-5m", "1.5s", 1.5, 300000.0, "5w", "1h 30x", "ten minutes", "", "  ",
                 True, False, [300000], {"ms": 5}, None, "m5", "5mm", "ms"]


@pytest.mark.parametrize("value,expected", DURATIONS_OK)
def test_normalise_duration_accepts(value, expected):
    assert _values.normalise_duration(value) == expected


@pytest.mark.parametrize("value", DURATIONS_BAD)
def test_normalise_duration_refuses(value):
    with pytest.raises(ValueError):
        _values.normalise_duration(value)


@pytest.mark.parametrize("value", ["\uff15m", "\u0663m", "\uff13\uff10\uff10", "\u00b2", "5\u00b2m", "\u00b2\u00b3"])
def test_a_duration_takes_ascii_digits_only_and_says_so_in_its_own_words(value):
    """Python's int() and \\d take other scripts' digits, and str.isdigit() superscripts (which int()
    then refuses with its own message): only 0-9 are digits of a duration."""
    with pytest.raises(ValueError) as raised:
        _values.normalise_duration(value)
    assert "is not a duration (unknown unit or syntax)" in str(raised.value)
    assert _values.duration_unit(value) is None


@pytest.mark.parametrize("ms,unit,expected", [
    (300000, None, "5m"), (90000, None, "90s"), (1500, None, "1500ms"), (86400000, None, "1d"),
    (7200000, None, "2h"), (5400000, None, "90m"), (600000, None, "10m"), (300000, "s", "300s"),
    (300000, "ms", "300000ms"), (90000, "m", "90s"), (172800000, "h", "48h"), (1, None, "1ms"),
])
def test_render_duration(ms, unit, expected):
    assert _values.render_duration(ms, unit) == expected


UNIT_CASES = [("300s", "s"), (" 5 M", "m"), ("1500ms", "ms"), ("1h30m", None), (300000, None), ("300000", None)]


@pytest.mark.parametrize("value,unit", UNIT_CASES)
def test_duration_unit(value, unit):
    assert _values.duration_unit(value) == unit


HOSTNAMES_OK = [
    ("mx.example.com", "mx.example.com"), ("MX.Example.ORG", "mx.example.org"),
    ("MX.Bücher.Example.ORG", "mx.xn--bcher-kva.example.org"), ("mx_1.example.com", "mx_1.example.com"),
    ("  mx.example.com ", "mx.example.com"), ("münchen.de", "xn--mnchen-3ya.de"),
    ("192.0.2.1", "192.0.2.1"), ("2001:DB8::A", "2001:db8::a"), ("mx.lan", "mx.lan"),
    # the server removes white space anywhere in a name (Unicode White_Space), then checks it
    ("mx example.com", "mxexample.com"), ("mx.\u3000example.com\t", "mx.example.com"),
    # UTS 46 non-transitional, as the server: not IDNA 2003's ss / σ / dropped joiners
    ("straße.example.com", "xn--strae-oqa.example.com"), ("ς.example.com", "xn--3xa.example.com"),
    ("ẞ.example.de", "xn--zca.example.de"), ("क्\u200dष.example.com", "xn--11b2ezcw70k.example.com"),
    ("نامه\u200cای.example.com", "xn--mgba3gch31f060k.example.com"),
    ("mx.example.xn--p1ai", "mx.example.xn--p1ai"), ("mx.example.рф", "mx.example.xn--p1ai"),
    # lower-cased letter by letter as the server does: a final capital sigma becomes σ, not ς
    ("ΟΔΟΣ.example.com", "xn--pxavbq.example.com"), ("οδος.example.com", "xn--pxavbm.example.com"),
]
HOSTNAMES_BAD = ["mailserver", "mx.example.com.", "mx..example.com", ".example.com", "mx. .example.com",
                 # the server's Public Suffix List check: an unknown top-level domain is refused
                 "mx.example.notatld", "mx.example.invalid",
                 # an IP literal only as it is: with spaces it is a name, and it has no known TLD
                 " 192.0.2.1", "2001:db8::1 ",
                 # a joiner where UTS 46 (CheckJoiners) does not allow one
                 "a\u200db.example.com", "a\u200cb.example.com", "   "]


@pytest.mark.parametrize("value,expected", HOSTNAMES_OK)
def test_normalise_hostname(value, expected):
    assert _values.normalise_hostname(value) == expected


@pytest.mark.parametrize("value", HOSTNAMES_BAD)
def test_normalise_hostname_refuses(value):
    with pytest.raises(ValueError):
        _values.normalise_hostname(value)


# names the server stores although DNS cannot carry them: accepted (the info module returns them,
# and they must paste back), and named by dns_problem, from which the module warns
HOSTNAMES_NOT_DNS = [
    ("a" * 64 + ".example.com", "a" * 64 + ".example.com", "has a label longer than 63 characters"),
    ("mx.exa$mple.com", "mx.exa$mple.com", "has a label with characters other than letters, digits, '-' and '_'"),
    ("M!X.Example.com", "m!x.example.com", "has a label with characters other than letters, digits, '-' and '_'"),
    ("-mx.example.com", "-mx.example.com", "has a label that starts or ends with '-'"),
    ("a.b-.com", "a.b-.com", "has a label that starts or ends with '-'"),
    (("a" * 60 + ".") * 5 + "com", ("a" * 60 + ".") * 5 + "com", "is longer than 253 characters"),
]


@pytest.mark.parametrize("value,stored,problem", HOSTNAMES_NOT_DNS)
def test_a_name_dns_cannot_carry_is_taken_as_the_server_stores_it_and_named_as_such(value, stored, problem):
    assert _values.normalise_hostname(value) == stored
    assert _values.dns_problem(stored) == problem


@pytest.mark.parametrize("value,expected", HOSTNAMES_OK)
def test_a_name_dns_can_carry_has_no_problem(value, expected):
    assert _values.dns_problem(expected) is None


def test_a_name_dns_cannot_carry_is_written_with_a_warning_naming_the_strategy_and_the_option():
    item = _objects.normalise_item(STRATEGY, {"name": "bulk", "ehlo_hostname": "a.b-.com",
                                              "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": "m!x.example.com"}]},
                                   position=2)
    assert item["values"]["ehlo_hostname"] == "a.b-.com"
    assert item["values"]["source_ips"] == [{"ip": "192.0.2.1", "ehlo_hostname": "m!x.example.com"}]
    assert item["warnings"] == [
        "strategies[2] ('bulk'): strategies[2].ehlo_hostname: 'a.b-.com' has a label that starts or ends with '-', so "
        "DNS cannot carry it: receivers refuse or distrust such an EHLO name; written as given, since the server "
        "accepts it",
        "strategies[2] ('bulk'): strategies[2].source_ips[0].ehlo_hostname: 'm!x.example.com' has a label with "
        "characters other than letters, digits, '-' and '_', so DNS cannot carry it: receivers refuse or distrust "
        "such an EHLO name; written as given, since the server accepts it"]
    assert _objects.normalise_item(STRATEGY, {"name": "ok", "ehlo_hostname": "mx.example.com"})["warnings"] == []


@pytest.mark.parametrize("value,expected", [
    ("2001:DB8::A", "2001:db8::a"), ("2001:db8:0:0:0:0:0:a", "2001:db8::a"), ("2001:DB8:0::A", "2001:db8::a"),
    ("::ffff:1.2.3.4", "::ffff:1.2.3.4"), ("::FFFF:0102:0304", "::ffff:1.2.3.4"), ("192.0.2.10", "192.0.2.10"),
    ("::", "::"), ("::1", "::1"),
])
def test_canonical_ip(value, expected):
    assert _values.canonical_ip(value) == expected


@pytest.mark.parametrize("value", ["192.0.2.300", "not-an-ip", "192.0.2.0/24", "fe80::1%eth0", "", "1.2.3",
                                   " 192.0.2.1 ", "192.0.2.1\n"])
def test_canonical_ip_refuses(value):
    with pytest.raises(ValueError):
        _values.canonical_ip(value)


def test_source_ips_compare_as_multisets():
    first = [{"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}, {"ip": "2001:db8::a", "ehlo_hostname": None}]
    assert STRATEGY.equal("source_ips", first, list(reversed(first)))
    assert not STRATEGY.equal("source_ips", first, first[:1])
    assert not STRATEGY.equal("source_ips", first + first[:1], first + first[1:])
    changed = [{"ip": "192.0.2.1", "ehlo_hostname": None}, first[1]]
    assert not STRATEGY.equal("source_ips", first, changed)
    assert STRATEGY.equal("source_ips", [], [])


def item(**options):
    return dict({"name": "bulk"}, **options)


def test_normalise_item_values_and_units():
    result = _objects.normalise_item(STRATEGY, item(
        description="", ehlo_hostname="MX.Example.ORG", connect_timeout="300s", data_timeout=600000,
        rcpt_to_timeout="1h30m", source_ips=[{"source_ip": "2001:DB8::A", "ehlo_hostname": "A.Example.org"},
                                             {"ip": "192.0.2.1", "ehlo_hostname": ""}],
        id="ignored-id"))
    assert result["name"] == "bulk" and result["state"] == "present"
    assert result["values"] == {
        "description": None, "ehlo_hostname": "mx.example.org",
        "source_ips": [{"ip": "2001:db8::a", "ehlo_hostname": "a.example.org"},
                       {"ip": "192.0.2.1", "ehlo_hostname": None}],
        "connect_timeout": 300000, "data_timeout": 600000, "rcpt_to_timeout": 5400000}
    assert result["units"] == {"connect_timeout": "s"}


def test_options_left_out_are_not_in_values():
    assert _objects.normalise_item(STRATEGY, item(description=None, source_ips=None))["values"] == {}
    assert _objects.normalise_item(STRATEGY, item(source_ips=[]))["values"] == {"source_ips": []}


BAD_ITEMS = [
    # (params, words the message must hold)
    ({"name": "bad-ip", "source_ips": [{"ip": "192.0.2.300"}]}, ["bad-ip", "source_ips[0].ip", "192.0.2.300", "IPv4"]),
    ({"name": "zero-ip", "source_ips": [{"ip": "0.0.0.0"}]}, ["zero-ip", "0.0.0.0"]),
    ({"name": "no-ip", "source_ips": [{"ehlo_hostname": "mx.example.com"}]}, ["no-ip", "ip", "required"]),
    ({"name": "d", "connect_timeout": 0}, ["'d'", "connect_timeout", "ms"]),
    ({"name": "d", "data_timeout": "5x"}, ["data_timeout", "5x", "ms"]),
    ({"name": "d", "mail_from_timeout": True}, ["mail_from_timeout", "boolean"]),
    ({"name": "h", "ehlo_hostname": "mx..example.com"}, ["'h'", "ehlo_hostname", "host name"]),
    ({"name": "h", "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": "mx..bad"}]},
     ["source_ips[0].ehlo_hostname", "host name"]),
    ({"name": ""}, ["name", "empty"]),
    ({"name": "s", "state": "gone"}, ["state", "present", "absent"]),
    ({"name": "l", "source_ips": {"ip": "192.0.2.1"}}, ["source_ips", "list"]),
    ({"name": "l", "source_ips": [["192.0.2.1"]]}, ["source_ips[0]", "dict"]),
    ({"name": "l", "source_ips": [{"ip": "192.0.2.1", "hostname": "x"}]}, ["hostname", "supported"]),
    # YAML's unquoted yes/no where text is expected: said why, as for a name
    ({"name": "y", "ehlo_hostname": True}, ["ehlo_hostname", "the boolean true", "quote it"]),
    ({"name": "y", "description": False}, ["description", "the boolean false", "quote it"]),
    ({"name": "y", "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": True}]},
     ["source_ips[0].ehlo_hostname", "the boolean true", "quote it"]),
]


@pytest.mark.parametrize("params,words", BAD_ITEMS)
def test_bad_single_input(params, words):
    with pytest.raises(InputError) as caught:
        _objects.desired_from_params(STRATEGY, params)
    for word in words:
        assert word in caught.value.msg, (word, caught.value.msg)


BAD_BATCHES = [
    ({"strategies": [{"name": "fine"}, {"name": ""}]}, ["strategies[1]", "name"]),
    ({"strategies": [{"connect_timeout": "5m"}]}, ["strategies[0]", "name"]),
    ({"strategies": [{"name": "dup"}, {"name": "other"}, {"name": "dup"}]}, ["dup", "once", "strategies[2]"]),
    ({"strategies": [{"name": "b-unknown", "colour": "red"}]}, ["b-unknown", "colour", "supported"]),
    ({"strategies": [{"name": "b-state", "state": "deleted"}]}, ["b-state", "state", "present"]),
    ({"strategies": [{"name": "ok"}, {"name": "b-dur", "data_timeout": "10 minutes"}]},
     ["b-dur", "strategies[1].data_timeout", "ms"]),
    ({"strategies": [{"name": "b-ip", "source_ips": [{"source_ip": "0.0.0.0"}]}]},
     ["b-ip", "strategies[0].source_ips[0].ip", "0.0.0.0"]),
    ({"strategies": [{"name": "b-ip"}, {"name": "b-ip4", "source_ips": [{}, {"ip": "x"}]}]},
     ["b-ip4", "strategies[1].source_ips[0].ip"]),
    ({"strategies": [{"name": "b-host", "ehlo_hostname": ".example.com"}]}, ["b-host", "ehlo_hostname"]),
    ({"purge": True}, ["purge", "strategies"]),
    ({"name": "b3", "purge": True}, ["purge", "strategies"]),
    ({"name": "x", "strategies": [{"name": "y"}]}, ["name", "strategies", "exclusive"]),
    ({"strategies": {"name": "b4"}}, ["strategies", "list"]),
]


@pytest.mark.parametrize("params,words", BAD_BATCHES)
def test_bad_batch_input(params, words):
    with pytest.raises(InputError) as caught:
        _objects.desired_from_params(STRATEGY, params)
    for word in words:
        assert word in caught.value.msg, (word, caught.value.msg)
    assert caught.value.fail_kwargs()["msg"] == caught.value.msg


def test_batch_of_info_output_is_accepted():
    desired = _objects.desired_from_params(STRATEGY, {"strategies": [
        STRATEGY.to_info(STRATEGY.from_wire({"name": "a", "connectTimeout": 180000, "id": "xyz",
                                             "sourceIps": {"0": {"sourceIp": "192.0.2.1", "ehloHostname": None}}})),
    ]})
    assert desired[0]["values"]["connect_timeout"] == 180000
    assert desired[0]["values"]["source_ips"] == [{"ip": "192.0.2.1", "ehlo_hostname": None}]
    assert "description" not in desired[0]["values"]


VALUES = {"description": None, "ehlo_hostname": "mx.example.org", "connect_timeout": 90000, "data_timeout": 1500,
          "source_ips": [{"ip": "2001:db8::a", "ehlo_hostname": None},
                         {"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]}


@pytest.mark.parametrize("strings,durations", [(False, (90000, 1500)), (True, ("90s", "1500ms"))])
def test_to_wire(strings, durations):
    assert STRATEGY.to_wire(VALUES, strings) == {
        "description": None, "ehloHostname": "mx.example.org",
        "connectTimeout": durations[0], "dataTimeout": durations[1],
        "sourceIps": {"0": {"sourceIp": "2001:db8::a"},
                      "1": {"sourceIp": "192.0.2.1", "ehloHostname": "a.example.org"}}}


def test_to_wire_clears_source_ips_with_an_empty_object():
    assert STRATEGY.to_wire({"source_ips": []}) == {"sourceIps": {}}


WIRE = {"name": "bulk", "description": "Bulk", "ehloHostname": "mx.example.org",
        "sourceIps": {"1": {"ehloHostname": None, "sourceIp": "2001:db8::a"},
                      "0": {"ehloHostname": "mx-a.example.org", "sourceIp": "192.0.2.10"}},
        "connectTimeout": 180000, "dataTimeout": 600000, "ehloTimeout": 300000, "greetingTimeout": 300000,
        "mailFromTimeout": 300000, "rcptToTimeout": 300000, "id": "jaga3maaaeaa"}
EXPECTED_INFO = {"name": "bulk", "description": "Bulk", "ehlo_hostname": "mx.example.org",
                 "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx-a.example.org"},
                                {"ip": "2001:db8::a", "ehlo_hostname": None}],
                 "connect_timeout": "3m", "data_timeout": "10m", "ehlo_timeout": "5m", "greeting_timeout": "5m",
                 "mail_from_timeout": "5m", "rcpt_to_timeout": "5m", "id": "jaga3maaaeaa"}


def test_from_wire_and_info_form_in_both_dialects():
    docs = dict(WIRE, connectTimeout="3m", dataTimeout="10m", ehloTimeout="5m", greetingTimeout="300s",
                mailFromTimeout="5m", rcptToTimeout="300000ms")
    for wire in (WIRE, docs):
        obj = STRATEGY.from_wire(wire)
        assert obj["connect_timeout"] == 180000 and obj["greeting_timeout"] == 300000
        info = STRATEGY.to_info(obj)
        assert info == EXPECTED_INFO
        assert list(info) == list(EXPECTED_INFO)


def test_from_wire_defaults_missing_properties_and_accepts_arrays():
    obj = STRATEGY.from_wire({"name": "x", "id": "a", "sourceIps": [{"sourceIp": "::FFFF:1.2.3.4"}]})
    assert obj["connect_timeout"] == 300000 and obj["data_timeout"] == 600000
    assert obj["source_ips"] == [{"ip": "::ffff:1.2.3.4", "ehlo_hostname": None}]
    assert obj["description"] is None and obj["ehlo_hostname"] is None


def test_info_form_renders_in_the_given_units():
    info = STRATEGY.to_info(STRATEGY.from_wire(WIRE), units={"connect_timeout": "s", "data_timeout": "h"})
    assert info["connect_timeout"] == "180s" and info["data_timeout"] == "10m"


@pytest.mark.parametrize("objects,expected", [
    ([WIRE], False), ([dict(WIRE, connectTimeout="3m")], True), ([], None), ([{"name": "x"}], None)])
def test_wire_uses_strings(objects, expected):
    assert STRATEGY.wire_uses_strings(objects) is expected


def test_defaults_of_a_create():
    assert STRATEGY.to_info(STRATEGY.defaults("fresh")) == {
        "name": "fresh", "description": None, "ehlo_hostname": None, "source_ips": [], "connect_timeout": "5m",
        "data_timeout": "10m", "ehlo_timeout": "5m", "greeting_timeout": "5m", "mail_from_timeout": "5m",
        "rcpt_to_timeout": "5m", "id": None}


@pytest.mark.parametrize("path,option", [
    ("connectTimeout", "connect_timeout"), ("ehloHostname", "ehlo_hostname"), ("sourceIps", "source_ips"),
    ("sourceIps/sourceIp", "source_ips[].ip"), ("sourceIps/ehloHostname", "source_ips[].ehlo_hostname"),
    ("sourceIps/2/sourceIp", "source_ips[2].ip"), ("sourceIp", "source_ips[].ip"), ("name", "name"),
    ("", ""), ("description", "description"), ("rcptToTimeout", "rcpt_to_timeout"),
])
def test_option_for_wire_path(path, option):
    assert STRATEGY.option_for_wire_path(path) == option


def test_argument_specs_come_from_the_table():
    spec = STRATEGY.item_spec()
    assert list(spec) == ["name", "state", "id"] + [field.name for field in STRATEGY.fields]
    assert spec["name"]["required"] is True
    assert spec["source_ips"] == {"type": "list", "elements": "dict"}
    assert _values.SOURCE_IPS.suboptions()["ip"] == {"type": "str", "required": True, "aliases": ["source_ip"]}
    assert all(spec[field.name] == {"type": "raw"} for field in STRATEGY.fields if field.kind is _values.DURATION)


def test_the_roles_argument_specs_follow_the_table():
    """The role's meta/argument_specs.yml is written by hand (ansible-core reads it as YAML): it
    must declare every key of a strategy item, with the module's types, and nothing else."""
    import pathlib  # pylint: disable=import-outside-toplevel

    import yaml  # pylint: disable=import-outside-toplevel

    path = pathlib.Path(__file__).resolve().parents[4] / "roles/mta_connection_strategies/meta/argument_specs.yml"
    role = yaml.safe_load(path.read_text(encoding="utf-8"))["argument_specs"]["main"]["options"]
    items = role["stalwart_mta_connection_strategies"]["options"]
    spec = STRATEGY.item_spec()
    assert set(items) == set(spec)
    for name, option in spec.items():
        if name == "id":  # the module's str; the role lets any value through, the module ignores it
            continue
        assert items[name]["type"] == option["type"], name
        for key in ("elements", "choices", "default", "required"):
            assert items[name].get(key) == option.get(key), (name, key)
    sub = _values.SOURCE_IPS.suboptions()
    names = set(sub) | {alias for option in sub.values() for alias in option.get("aliases", [])}
    assert set(items["source_ips"]["options"]) == names
    assert all(items["source_ips"]["options"][name]["type"] == sub[name]["type"] for name in sub)


def test_stored_size_is_the_servers_pickle_size():
    # measured on Stalwart 0.16.19: a random 199,980-letter description under the 7-letter name
    # "r199980" was refused with "Object size 200013 exceeds maximum of 200000"
    strategy = STRATEGY.defaults("r199980")
    strategy["description"] = "x" * 199_980
    assert STRATEGY.stored_size(strategy) == 200_013
    strategy["source_ips"] = [{"ip": "2001:db8::1", "ehlo_hostname": "a.example.com"}, {"ip": "192.0.2.1",
                                                                                        "ehlo_hostname": None}]
    # each entry: its optional host name (1, then 1 length byte and 13 bytes), the family byte,
    # 16 or 4 address bytes; the count stays one byte
    assert STRATEGY.stored_size(strategy) == 200_013 + (1 + 1 + 13 + 1 + 16) + (1 + 1 + 4)


def test_the_role_passes_every_connection_option_once():
    """Every connection option of the modules is a stalwart_<option> variable of the role, declared
    in its argument spec and passed, once (vars/main.yml), to every module it runs."""
    import pathlib  # pylint: disable=import-outside-toplevel

    import yaml  # pylint: disable=import-outside-toplevel

    from ansible_collections.stalwart.mail.plugins.module_utils._connection import CONNECTION_OPTIONS  # noqa: E501 pylint: disable=import-outside-toplevel

    role = pathlib.Path(__file__).resolve().parents[4] / "roles/mta_connection_strategies"
    role_vars = yaml.safe_load((role / "vars/main.yml").read_text(encoding="utf-8"))
    # one template for all of them (a template per option would be compiled again, each, in every
    # host's worker): the options' names zipped with the stalwart_<option> variables, in order,
    # those left undefined, null or "" left out, not omitted: an omitted one would mask the play's
    # group/stalwart.mail.jmap value; both names are plain lists, outside the template
    assert role_vars["mta_connection_strategies_options"] == list(CONNECTION_OPTIONS)
    assert role_vars["mta_connection_strategies_variables"] == [f"stalwart_{name}" for name in CONNECTION_OPTIONS]
    assert " ".join(role_vars["mta_connection_strategies_connection"].split()) == (
        "{{ dict(mta_connection_strategies_options | zip(query('ansible.builtin.vars', "
        "*mta_connection_strategies_variables, default='')) | rejectattr('1', 'in', ['', none])) }}")
    spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text(encoding="utf-8"))
    declared = spec["argument_specs"]["main"]["options"]
    assert all(f"stalwart_{name}" in declared for name in CONNECTION_OPTIONS)
    for path in ("tasks/main.yml", "handlers/main.yml"):
        text = (role / path).read_text(encoding="utf-8")
        assert "stalwart_url" not in text, f"{path} spells a connection option itself"
    # every task of a module of the action group gets them through the role's own group (its
    # modules are those of jmap), set once on the block of tasks/main.yml and on the handler: a
    # play's module_defaults, for the group jmap or for a module, stay whole beside it
    runtime = yaml.safe_load((role.parents[1] / "meta/runtime.yml").read_text(encoding="utf-8"))
    assert runtime["action_groups"]["role_connection"] == runtime["action_groups"]["jmap"]
    group = {f"stalwart.mail.{name}" for name in runtime["action_groups"]["jmap"]}
    through_the_group = {"group/stalwart.mail.role_connection": "{{ mta_connection_strategies_connection }}"}
    main = yaml.safe_load((role / "tasks/main.yml").read_text(encoding="utf-8"))
    handlers = yaml.safe_load((role / "handlers/main.yml").read_text(encoding="utf-8"))
    assert [item.get("module_defaults") for item in main] == [through_the_group]
    assert [item.get("module_defaults") for item in handlers] == [through_the_group]

    def tasks(items):
        for item in items or ():
            yield item
            for key in ("block", "rescue", "always"):
                yield from tasks(item.get(key))
    found = []
    for path in sorted(role.glob("*/*.yml")):
        if path.parent.name not in ("tasks", "handlers"):
            continue
        for item in tasks(yaml.safe_load(path.read_text(encoding="utf-8"))):
            # and the usual run's task, whose action reads the same variables itself, in the same
            # order (plugins/action/mta_connection_strategies_role.py, held to the templates by
            # tests/integration/test_role.py)
            found += sorted((group | {"stalwart.mail.mta_connection_strategies_role"}) & set(item))
            if path.name != "main.yml":
                assert "module_defaults" not in item, (path, item.get("name"))
    assert len(found) == 6, found


def test_the_roles_own_options_are_those_of_its_argument_spec_that_share_the_layers_prefix():
    """tasks/main.yml hands merge_strategies every variable named stalwart_mta_connection_strategies_*
    but the role's own options (vars/main.yml), and merge_strategies refuses any that is not a layer:
    an option of the argument spec missing from that list would fail every run."""
    import pathlib  # pylint: disable=import-outside-toplevel

    import yaml  # pylint: disable=import-outside-toplevel

    role = pathlib.Path(__file__).resolve().parents[4] / "roles/mta_connection_strategies"
    role_vars = yaml.safe_load((role / "vars/main.yml").read_text(encoding="utf-8"))
    spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text(encoding="utf-8"))
    options = spec["argument_specs"]["main"]["options"]
    assert sorted(role_vars["mta_connection_strategies_own_options"]) == sorted(
        name for name in options if name.startswith("stalwart_mta_connection_strategies_"))
    assert not [name for name in options if name.startswith("stalwart_mta_connection_routes_")]
