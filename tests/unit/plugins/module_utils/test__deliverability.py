"""The deliverability check's pure core (``_deliverability``): which pairs the server uses, which
questions are asked of DNS, and what each answer makes of a pair. DNS answers come from tables
(``Answer`` objects), not from a server: ``tests/integration/test_deliverability.py`` does the same
against a DNS server on 127.0.0.1."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _deliverability as core
from ansible_collections.stalwart.mail.plugins.module_utils._dns import FOUND, NONE, UNKNOWN, Answer, Lookups
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY, normalise_item


def strategy(name="warmup", ehlo=None, *entries):
    return core.strategy_view(name, ehlo, [{"ip": ip, "ehlo_hostname": entry_ehlo} for ip, entry_ehlo in entries])


def settings(**options):
    options.setdefault("resolver", {"nameservers": ["127.0.0.1"]})
    return core.Settings(**options)


# --- which EHLO name, which address ------------------------------------------------------------


@pytest.mark.parametrize("entry, strategy_ehlo, default, expected", [
    ("ip.example.org", "strategy.example.org", "server.example.org", ("ip.example.org", "source_ip")),
    (None, "strategy.example.org", "server.example.org", ("strategy.example.org", "strategy")),
    (None, None, "server.example.org", ("server.example.org", "default_ehlo")),
    (None, None, None, (None, None)),
])
def test_the_ehlo_name_is_the_ips_else_the_strategys_else_the_servers(entry, strategy_ehlo, default, expected):
    assert core.effective_ehlo(entry, strategy_ehlo, default) == expected


def test_pairs_are_per_strategy_and_ip_deduplicated_and_mapped_to_the_public_address():
    checked = settings(public_ips={"10.0.0.5": "192.0.2.5"}, default_ehlo="MX.Example.ORG")
    pairs = core.pairs_of([
        strategy("a", None, ("10.0.0.5", None), ("192.0.2.6", "six.example.org"), ("10.0.0.5", None)),
        strategy("b", "b.example.org", ("192.0.2.6", None)),
    ], checked)
    assert [(pair.strategy, pair.source_ip, pair.public_ip, pair.ehlo, pair.ehlo_origin) for pair in pairs] == [
        ("a", "10.0.0.5", "192.0.2.5", "mx.example.org", "default_ehlo"),
        ("a", "192.0.2.6", "192.0.2.6", "six.example.org", "source_ip"),
        ("b", "192.0.2.6", "192.0.2.6", "b.example.org", "strategy"),
    ]


@pytest.mark.parametrize("ip, public_ips, nameservers, skipped", [
    ("10.0.0.5", {}, None, True),                         # private, not mapped: receivers never see it
    ("192.0.2.5", {}, None, True),                        # reserved (TEST-NET-1)
    ("10.0.0.5", {"10.0.0.5": "8.8.8.8"}, None, False),   # mapped to a public address
    ("10.0.0.5", {}, ["127.0.0.1"], False),               # the user's own DNS server knows it
    ("8.8.8.8", {}, None, False),
])
def test_a_private_address_without_a_public_mapping_skips_the_address_checks(ip, public_ips, nameservers, skipped):
    checked = core.Settings(public_ips=public_ips, resolver={"nameservers": nameservers})
    (pair,) = core.pairs_of([strategy("a", "mx.example.org", (ip, None))], checked)
    assert pair.skip_ip_dns is skipped
    report, _pairs, _answers = core.evaluate([strategy("a", "mx.example.org", (ip, None))], checked,
                                             lambda questions: {question: Answer(NONE, detail="NXDOMAIN")
                                                                for question in questions})
    infos = [finding for finding in report.findings if finding["severity"] == "info" and finding["check"] == "ptr"]
    assert bool(infos) is skipped


def test_an_idn_ehlo_name_is_asked_as_the_servers_a_label_never_the_idna_2003_spelling():
    item = normalise_item(CONNECTION_STRATEGY, {"name": "idn", "source_ips": [
        {"ip": "192.0.2.30", "ehlo_hostname": "Straße.Example.ORG"}]}, 0)
    strategies = core.from_desired([item], {})
    questions = core.first_questions(core.pairs_of(strategies, settings()), settings())
    assert ("xn--strae-oqa.example.org", "A") in questions
    assert not any("strasse" in name for name, _kind in questions)
    assert core.Settings(default_ehlo="straße.example.org").default_ehlo == "xn--strae-oqa.example.org"


@pytest.mark.parametrize("given", ["MX1.example.org.", "mx1.example.org", " mx1.example.org. "])
def test_default_ehlo_is_compared_without_the_trailing_dot_of_a_fully_qualified_name(given):
    assert core.Settings(default_ehlo=given).default_ehlo == "mx1.example.org"


@pytest.mark.parametrize("given", ["mx1.example.org..", ".", "nodot."])
def test_default_ehlo_with_an_empty_label_or_no_dot_is_refused(given):
    with pytest.raises(InputError):
        core.Settings(default_ehlo=given)


# --- what the answers make of a pair -------------------------------------------------------------

IP, EHLO = "192.0.2.20", "warm1.example.org"
REVERSE = (IP, "PTR")


def found(*records):
    return Answer(FOUND, records)


NXDOMAIN = Answer(NONE, detail="NXDOMAIN")
TIMEOUT = Answer(UNKNOWN, detail="timeout after 2.0 s")
# the PTR names a host of its own first (which resolves back) and the EHLO name second, so that
# the EHLO rows below change only the EHLO checks
CLEAN = {(EHLO, "A"): found(IP), (EHLO, "AAAA"): NXDOMAIN, REVERSE: found("ptr.example.org", EHLO),
         ("ptr.example.org", "A"): found(IP)}


def run(answers, checks=None, **options):
    """Evaluate one pair (strategy warmup, 192.0.2.20, EHLO warm1.example.org) against ``answers``;
    an unanswered question is a NXDOMAIN. Returns [(check, severity)] and the report."""
    asked = []

    def lookup(questions):
        asked.extend(questions)
        return {question: answers.get(question, NXDOMAIN) for question in questions}

    checked = settings(checks=checks, **options)
    report, _pairs, _answers = core.evaluate([strategy("warmup", None, (IP, EHLO))], checked, lookup)
    return [(finding["check"], finding["severity"]) for finding in report.findings], report, asked


@pytest.mark.parametrize("label, changes, expected", [
    ("clean", {}, []),
    ("no PTR", {REVERSE: NXDOMAIN}, [("ptr", "error")]),
    ("PTR to another name that resolves back", {REVERSE: found("other.example.org"),
                                                ("other.example.org", "A"): found(IP)},
     [("ehlo_matches_ptr", "warning")]),
    ("PTR name resolving elsewhere", {REVERSE: found("other.example.org"),
                                      ("other.example.org", "A"): found("198.51.100.1")},
     [("fcrdns", "error"), ("ehlo_matches_ptr", "warning")]),
    ("EHLO that does not resolve", {(EHLO, "A"): NXDOMAIN}, [("ehlo_forward", "error")]),
    ("EHLO whose A lacks the IP", {(EHLO, "A"): found("198.51.100.1")}, [("ehlo_contains_ip", "warning")]),
    ("EHLO only in AAAA", {(EHLO, "A"): NXDOMAIN, (EHLO, "AAAA"): found("2001:db8::1")},
     [("ehlo_contains_ip", "warning")]),
    ("generic PTR that resolves back", {REVERSE: found("ip-192-0-2-20.hoster.example"),
                                        ("ip-192-0-2-20.hoster.example", "A"): found(IP)},
     [("ehlo_matches_ptr", "warning"), ("generic_ptr", "info")]),
    ("PTR timeout", {REVERSE: TIMEOUT}, [("ptr", "unknown")]),
    ("EHLO timeout", {(EHLO, "A"): TIMEOUT, (EHLO, "AAAA"): TIMEOUT}, [("ehlo_forward", "unknown")]),
    ("forward lookup of the PTR name times out", {REVERSE: found("other.example.org"),
                                                  ("other.example.org", "A"): TIMEOUT},
     [("fcrdns", "unknown"), ("ehlo_matches_ptr", "warning")]),
    ("the second PTR name resolves back", {REVERSE: found("one.example.org", EHLO),
                                           ("one.example.org", "A"): found("198.51.100.1"), (EHLO, "A"): found(IP)},
     []),
    ("only the third PTR name resolves back", {REVERSE: found("one.example.org", "two.example.org", EHLO),
                                               (EHLO, "A"): found(IP)},
     [("fcrdns", "error")]),
])
def test_each_answer_gives_its_check_and_severity(label, changes, expected):
    findings, report, _asked = run({**CLEAN, **changes})
    assert findings == expected, (label, report.messages)
    for finding, message in zip(report.findings, report.messages):
        assert set(finding) == {"strategy", "source_ip", "public_ip", "ehlo", "ehlo_origin", "check", "severity",
                                "observed", "expected"}
        # the message: whose pair, what was found, what was expected, who can fix it
        assert message.startswith(f"strategy 'warmup', source IP {IP}, EHLO {EHLO} (the source IP's ehlo_hostname): ")
        assert finding["observed"] in message and f"expected {finding['expected']}" in message


def test_messages_say_who_can_fix_it():
    _findings, report, _asked = run({**CLEAN, REVERSE: NXDOMAIN})
    (message,) = report.messages
    assert "550-5.7.25" in message and "owner of 192.0.2.20, usually the hosting provider" in message
    _findings, report, _asked = run({**CLEAN, (EHLO, "A"): NXDOMAIN})
    assert f"the ehlo_hostname of {IP} in strategy 'warmup'" in report.messages[0]
    assert f"The owner of the DNS zone of {EHLO}" in report.messages[0]


def test_without_the_prerequisite_check_a_dependent_check_reports_for_itself():
    findings, _report, _asked = run({**CLEAN, REVERSE: NXDOMAIN}, checks=["fcrdns"])
    assert findings == [("fcrdns", "error")]
    findings, _report, _asked = run({**CLEAN, (EHLO, "A"): NXDOMAIN}, checks=["ehlo_contains_ip"])
    assert findings == [("ehlo_contains_ip", "warning")]


def test_only_the_questions_of_the_chosen_checks_are_asked():
    _findings, _report, asked = run(CLEAN, checks=["ptr"])
    assert asked == [REVERSE]
    _findings, _report, asked = run(CLEAN, checks=["bind", "implicit_family"])
    assert asked == []
    _findings, _report, asked = run(CLEAN)
    # the forward lookup of the second PTR name was already asked as the EHLO name's: asked once
    assert sorted(asked) == sorted([REVERSE, (EHLO, "A"), (EHLO, "AAAA"), ("ptr.example.org", "A")])


def test_an_ipv6_pair_asks_the_nibble_ptr_and_aaaa():
    ipv6 = "2001:db8::20"
    checked = settings()
    pairs = core.pairs_of([strategy("v6", None, (ipv6, "v6.example.org"))], checked)
    assert core.first_questions(pairs, checked) == [(ipv6, "PTR"), ("v6.example.org", "A"), ("v6.example.org", "AAAA")]
    answers = {(ipv6, "PTR"): found("v6.example.org")}
    assert core.second_questions(pairs, checked, answers) == [("v6.example.org", "AAAA")]
    assert core.reverse_name(ipv6) == "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"


def test_an_unknown_ehlo_name_is_info_and_an_ip_literal_a_warning():
    checked = settings()

    def lookup(questions):
        return {question: CLEAN.get(question, NXDOMAIN) for question in questions}

    report, _pairs, _answers = core.evaluate([strategy("s", None, (IP, None))], checked, lookup)
    assert [(f["check"], f["severity"], f["ehlo"]) for f in report.findings] == [("ehlo_forward", "info", None)]
    report, _pairs, _answers = core.evaluate([strategy("s", IP, (IP, None))], checked, lookup)
    assert [(f["check"], f["severity"]) for f in report.findings] == [("ehlo_forward", "warning"),
                                                                      ("ehlo_matches_ptr", "warning")]
    # an address is no name a PTR could hold: the advice is a PTR name that resolves back, not "set
    # the PTR to 192.0.2.20"
    matches = report.findings[1]
    assert matches["observed"] == f"the EHLO name is the address {IP}; the PTR of {IP} names ptr.example.org, {EHLO}"
    assert "to ptr.example.org." in report.messages[1] and f"PTR to {IP}" not in report.messages[1]
    no_ptr = {question: answer for question, answer in CLEAN.items() if question != REVERSE}
    report, _pairs, _answers = core.evaluate([strategy("s", IP, (IP, None))], settings(checks=["ehlo_matches_ptr"]),
                                             lambda questions: {question: no_ptr.get(question, NXDOMAIN)
                                                                for question in questions})
    assert [(f["check"], f["severity"]) for f in report.findings] == [("ehlo_matches_ptr", "warning")]
    assert "to a host name instead of the address" in report.messages[0] and f"set it to {IP}" not in report.messages[0]


@pytest.mark.parametrize("name, ip, generic", [
    ("ip-192-0-2-21.hoster.example", "192.0.2.21", True),
    ("21.2.0.192.dsl.example.net", "192.0.2.21", True),
    ("host192.0.2.21.example.net", "192.0.2.21", True),
    ("c0000215.pool.example.net", "192.0.2.21", True),
    ("mx1.example.org", "192.0.2.21", False),
    ("mail21.example.org", "192.0.2.21", False),
    ("ip-192-0-2-210.hoster.example", "192.0.2.21", False),
    ("2001-db8--21.ip6.hoster.example", "2001:db8::21", True),
    ("2001-0db8-0000-0000-0000-0000-0000-0021.hoster.example", "2001:db8::21", True),
    ("mx6.example.org", "2001:db8::21", False),
    # an IPv4-mapped address, which Python 3.13 writes with its last 32 bits as a.b.c.d (it crashed there)
    ("mapped.example.org", "::ffff:192.0.2.20", False),
    ("0000-0000-0000-0000-0000-ffff-c000-0214.hoster.example", "::ffff:192.0.2.20", True),
])
def test_a_generic_ptr_name_carries_the_digits_of_the_address(name, ip, generic):
    assert core.looks_generic(name, ip) is generic


# --- bind and the implicit path -------------------------------------------------------------------


def test_a_probe_that_could_not_bind_is_a_bind_error_naming_the_errno():
    probe = {"ips": [{"ip": "192.0.2.20", "bindable": False, "errno": 99,
                      "error": "EADDRNOTAVAIL: Cannot assign requested address"},
                     {"ip": "192.0.2.21", "bindable": True, "errno": None, "error": None}],
             "global_addresses": [], "hostname": "mx1"}
    checked = settings(checks=["bind"], probe=probe)
    report, _pairs, _answers = core.evaluate([strategy("s", None, ("192.0.2.20", None), ("192.0.2.21", None))],
                                             checked, dict)
    assert [(f["check"], f["severity"], f["source_ip"]) for f in report.findings] == [("bind", "error", "192.0.2.20")]
    assert "mx1 cannot bind 192.0.2.20 (EADDRNOTAVAIL: Cannot assign requested address, errno 99)" in report.messages[0]


@pytest.mark.parametrize("sources, addresses, families", [
    (["192.0.2.20"], ["2001:db8::99"], ["IPv6"]),
    (["192.0.2.20"], ["198.51.100.7", "2001:db8::99"], ["IPv6"]),
    (["192.0.2.20", "2001:db8::20"], ["198.51.100.7", "2001:db8::99"], []),
    (["2001:db8::20"], ["10.0.0.7"], ["IPv4"]),  # a private IPv4 address reaches the Internet through NAT
    (["192.0.2.20"], ["fd00::2", "fe80::1", "::1"], []),  # unique-local, link-local and loopback do not
    ([], ["198.51.100.7", "2001:db8::99"], ["IPv4", "IPv6"]),
])
def test_a_family_the_host_has_and_the_strategy_has_no_source_of_is_a_warning(sources, addresses, families):
    checked = settings(checks=["implicit_family"], host_addresses=addresses, default_ehlo="mx.example.org")
    report, _pairs, _answers = core.evaluate([strategy("s", None, *[(ip, None) for ip in sources])], checked, dict)
    assert [(f["check"], f["severity"]) for f in report.findings] == [("implicit_family", "warning")] * len(families)
    for family, finding, message in zip(families, report.findings, report.messages):
        assert finding["source_ip"] is None and finding["ehlo"] == "mx.example.org"
        assert f"no source {family} address" in message


def test_checks_that_cannot_run_say_why():
    assert set(core.skipped_checks(settings())) == {"bind", "implicit_family"}
    assert core.skipped_checks(settings(host_addresses=["2001:db8::1"], probe={"ips": []})) == {}
    assert core.normalise_probe({"skipped": True, "changed": False}) is None


# --- input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, words", [
    ({"public_ips": {"10.0.0.5": "not-an-ip"}}, ["public_ips[10.0.0.5]", "not an IP address"]),
    ({"public_ips": {"10.0.0.5": "2001:db8::5"}}, ["public_ips[10.0.0.5]", "family"]),
    ({"public_ips": ["10.0.0.5"]}, ["public_ips", "expected a dict"]),
    ({"default_ehlo": "no-dot"}, ["default_ehlo", "no dot"]),
    ({"resolver": {"nameservers": ["dns.example.org"]}}, ["resolver.nameservers", "not an IP address"]),
    ({"resolver": {"budget": 0}}, ["resolver.budget", "> 0"]),
    # past a day (inf, 1e10): a thread's wait overflowed the platform's clock and crashed the module
    ({"resolver": {"budget": float("inf")}}, ["resolver.budget", "at most 86400"]),
    ({"resolver": {"lifetime": 1e10}}, ["resolver.lifetime", "at most 86400"]),
    ({"resolver": {"timeout": float("nan")}}, ["resolver.timeout", "> 0"]),
    ({"checks": ["ptr", "spf"]}, ["checks", "spf", "accepted"]),
    ({"probe": {"msg": "something"}}, ["probe", "source_ip_probe"]),
    ({"host_addresses": ["eth0"]}, ["host_addresses", "not an IP address"]),
])
def test_bad_options_are_refused_naming_the_option_and_what_is_accepted(options, words):
    with pytest.raises(InputError) as caught:
        core.Settings(**options)
    for word in words:
        assert word in caught.value.msg, caught.value.msg


def test_what_an_item_leaves_out_is_read_from_the_server_and_only_then():
    def item(raw):
        return normalise_item(CONNECTION_STRATEGY, raw, 0)

    complete = item({"name": "a", "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]})
    no_ehlo = item({"name": "b", "source_ips": [{"ip": "192.0.2.2"}]})
    no_ips = item({"name": "c", "ehlo_hostname": "c.example.org"})
    gone = item({"name": "d", "state": "absent"})
    everything = settings()
    assert core.names_to_read([complete, no_ehlo, no_ips, gone], everything) == ["b", "c"]
    assert core.names_to_read([no_ehlo], settings(checks=["ptr", "bind"])) == []
    stored = {"b": {"ehlo_hostname": "stored-b.example.org", "source_ips": []},
              "c": {"ehlo_hostname": "old-c.example.org", "source_ips": [{"ip": "192.0.2.3", "ehlo_hostname": None}]}}
    assert core.from_desired([complete, no_ehlo, no_ips, gone], stored) == [
        core.strategy_view("a", None, [{"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]),
        core.strategy_view("b", "stored-b.example.org", [{"ip": "192.0.2.2", "ehlo_hostname": None}]),
        core.strategy_view("c", "c.example.org", [{"ip": "192.0.2.3", "ehlo_hostname": None}]),
    ]


# --- the lookups' budget ----------------------------------------------------------------------------


def test_a_lookup_with_no_budget_left_is_unknown_and_not_sent():
    now = [100.0]
    lookups = Lookups({"nameservers": ["127.0.0.1"], "budget": 1.0}, clock=lambda: now[0])
    now[0] += 2.0
    answers = lookups.run([("warm1.example.org", "A"), ("192.0.2.20", "PTR")])
    assert {answer.status for answer in answers.values()} == {UNKNOWN}
    assert all("budget" in answer.detail for answer in answers.values())


@pytest.mark.parametrize("registered, said", [
    ({"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}, "unreachable"),
    ({"failed": True, "changed": False, "msg": "Permission denied"}, "failed"),
])
def test_a_probe_that_did_not_run_on_the_mail_host_says_so_and_how_to_leave_it_out(registered, said):
    """ignore_unreachable on the role let the probe's unreachable result through to the check,
    which refused it as 'expected the registered result of stalwart.mail.source_ip_probe'."""
    with pytest.raises(InputError) as caught:
        core.normalise_probe(registered)
    message = caught.value.msg
    assert f"did not run on the mail host: {said}" in message and registered["msg"] in message, message
    assert "stalwart_deliverability_probe_bind: false" in message, message
