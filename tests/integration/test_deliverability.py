"""``stalwart.mail.deliverability_check`` and ``stalwart.mail.source_ip_probe``, run in this process
(``tests/support/inproc.py``), the check's resolver pointed at a DNS server the tests start on
127.0.0.1 (``tests/support/dns.py``), and the strategies read from a simulator in a thread when a
test needs the server. One zone holds one source IP per case; each case asserts the exact
(check, severity) list, so that a check that stops firing, or fires where it should not, fails.
"""

from __future__ import annotations

import errno
import glob
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _dns
from tests.support.ansible import ANSIBLE_CORE, run_playbook
from tests.support.dns import BlackHole, ZoneServer
from tests.support.inproc import ThreadedSimulator, run_module
from tests.support.sim import ADMIN_TOKEN, wait_until

CHECK, PROBE = "deliverability_check", "source_ip_probe"

ZONE = """
; a clean pair
clean.example.org.              60 IN A     192.0.2.20
20.2.0.192.in-addr.arpa.        60 IN PTR   clean.example.org.
; no PTR
noptr.example.org.              60 IN A     192.0.2.21
; a PTR naming another host, which resolves back
22.2.0.192.in-addr.arpa.        60 IN PTR   other.example.org.
other.example.org.              60 IN A     192.0.2.22
ehlo22.example.org.             60 IN A     192.0.2.22
; a PTR whose name resolves elsewhere
23.2.0.192.in-addr.arpa.        60 IN PTR   elsewhere.example.org.
elsewhere.example.org.          60 IN A     198.51.100.23
; an EHLO name that does not resolve (ghost.example.org has no record); the PTR is fine
24.2.0.192.in-addr.arpa.        60 IN PTR   ptr24.example.org.
24.2.0.192.in-addr.arpa.        60 IN PTR   ghost.example.org.
ptr24.example.org.              60 IN A     192.0.2.24
; an EHLO name whose A lacks the IP; the PTR is fine and names it second
25.2.0.192.in-addr.arpa.        60 IN PTR   ptr25.example.org.
25.2.0.192.in-addr.arpa.        60 IN PTR   wrongip.example.org.
ptr25.example.org.              60 IN A     192.0.2.25
wrongip.example.org.            60 IN A     198.51.100.25
; IPv6: the nibble PTR
0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR v6.example.org.
v6.example.org.                 60 IN AAAA  2001:db8::20
; an IDN EHLO name: straße, as the server stores it, and the name IDNA 2003 would make of it
xn--strae-oqa.example.org.      60 IN A     192.0.2.30
30.2.0.192.in-addr.arpa.        60 IN PTR   xn--strae-oqa.example.org.
strasse.example.org.            60 IN A     198.51.100.30
; 1:1 NAT: the server binds 10.0.0.5, receivers see 192.0.2.40
40.2.0.192.in-addr.arpa.        60 IN PTR   nat.example.org.
nat.example.org.                60 IN A     192.0.2.40
; the provider's generic name, resolving back
41.2.0.192.in-addr.arpa.        60 IN PTR   ip-192-0-2-41.hoster.example.
ip-192-0-2-41.hoster.example.   60 IN A     192.0.2.41
gen41.example.org.              60 IN A     192.0.2.41
; the server's host name (default_ehlo)
42.2.0.192.in-addr.arpa.        60 IN PTR   mx.example.org.
mx.example.org.                 60 IN A     192.0.2.42
; a strategy's EHLO name
43.2.0.192.in-addr.arpa.        60 IN PTR   bulk.example.org.
bulk.example.org.               60 IN A     192.0.2.43
; an IPv4-mapped IPv6 source address, published as DNS servers write it (::ffff:c000:214)
mapped.example.org.             60 IN A     192.0.2.20
mapped.example.org.             60 IN AAAA  ::ffff:c000:214
4.1.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. 60 IN PTR mapped.example.org.
; three PTR names (this server gives them in zone order; real ones rotate): two that do not
; resolve back behind one that does, one that does behind two that do not, one bad among three
50.2.0.192.in-addr.arpa.        60 IN PTR   good50.example.org.
50.2.0.192.in-addr.arpa.        60 IN PTR   bad50a.example.org.
50.2.0.192.in-addr.arpa.        60 IN PTR   bad50b.example.org.
good50.example.org.             60 IN A     192.0.2.50
bad50a.example.org.             60 IN A     198.51.100.50
51.2.0.192.in-addr.arpa.        60 IN PTR   bad51a.example.org.
51.2.0.192.in-addr.arpa.        60 IN PTR   bad51b.example.org.
51.2.0.192.in-addr.arpa.        60 IN PTR   good51.example.org.
good51.example.org.             60 IN A     192.0.2.51
52.2.0.192.in-addr.arpa.        60 IN PTR   good52.example.org.
52.2.0.192.in-addr.arpa.        60 IN PTR   bad52.example.org.
52.2.0.192.in-addr.arpa.        60 IN PTR   also52.example.org.
good52.example.org.             60 IN A     192.0.2.52
also52.example.org.             60 IN A     192.0.2.52
"""
SERVFAIL = ("44.2.0.192.in-addr.arpa",)


@pytest.fixture(scope="module")
def dns_server():
    with ZoneServer(ZONE, servfail=SERVFAIL) as server:
        yield server


def check(dns_server, source_ips, ehlo=None, check_mode=False, **options):
    """The check of one strategy ``s`` holding ``source_ips`` (``[(ip, ehlo)]``)."""
    strategy = {"name": "s", "source_ips": [{"ip": ip, "ehlo_hostname": name} for ip, name in source_ips]}
    if ehlo:
        strategy["ehlo_hostname"] = ehlo
    options.setdefault("resolver", dns_server.resolver)
    return run_module(CHECK, {"strategies": [strategy], **options}, check=check_mode)


def found(result):
    return [(finding["check"], finding["severity"]) for finding in result["findings"]]


CASES = [
    # (case, source IP, EHLO name, [(check, severity)])
    ("clean pair", "192.0.2.20", "clean.example.org", []),
    ("no PTR", "192.0.2.21", "noptr.example.org", [("ptr", "error")]),
    ("PTR to another name", "192.0.2.22", "ehlo22.example.org", [("ehlo_matches_ptr", "warning")]),
    ("PTR name resolving elsewhere", "192.0.2.23", "elsewhere.example.org",
     [("ehlo_contains_ip", "warning"), ("fcrdns", "error")]),
    ("EHLO that does not resolve", "192.0.2.24", "ghost.example.org", [("ehlo_forward", "error")]),
    ("EHLO whose A lacks the IP", "192.0.2.25", "wrongip.example.org", [("ehlo_contains_ip", "warning")]),
    ("IPv6 nibble PTR", "2001:db8::20", "v6.example.org", []),
    ("IPv6 EHLO name without AAAA for the IP", "2001:db8::20", "clean.example.org",
     [("ehlo_contains_ip", "warning"), ("ehlo_matches_ptr", "warning")]),
    ("IDN EHLO name, asked as the server's A-label", "192.0.2.30", "Straße.example.org", []),
    ("generic PTR", "192.0.2.41", "gen41.example.org", [("ehlo_matches_ptr", "warning"), ("generic_ptr", "info")]),
    ("SERVFAIL", "192.0.2.44", "clean.example.org", [("ehlo_contains_ip", "warning"), ("ptr", "unknown")]),
    # the first two PTR names decide; with more, whether another order of them fails
    ("three PTR names, two not resolving back", "192.0.2.50", "good50.example.org", [("fcrdns", "warning")]),
    ("three PTR names, the one resolving back third", "192.0.2.51", "good51.example.org", [("fcrdns", "error")]),
    ("three PTR names, one not resolving back", "192.0.2.52", "good52.example.org", []),
]


@pytest.mark.parametrize("case, ip, ehlo, expected", CASES, ids=[case[0] for case in CASES])
def test_each_check_and_severity(dns_server, case, ip, ehlo, expected):
    result = check(dns_server, [(ip, ehlo)])
    assert not result.get("failed"), result.get("msg")
    assert found(result) == expected, (case, result["messages"])
    (pair,) = result["pairs"]
    assert pair["source_ip"] == pair["public_ip"] == ip
    assert result["changed"] is False
    # warn mode: every error, warning and unknown is a warning of the task
    shown = [message for finding, message in zip(result["findings"], result["messages"]) if finding["severity"] != "info"]
    assert result.get("warnings", []) == [f"deliverability {finding['severity']}: {message}" for finding, message
                                          in zip([f for f in result["findings"] if f["severity"] != "info"], shown)]


def test_an_ehlo_name_dns_cannot_carry_is_an_error_not_a_crash(dns_server):
    """The server stores an EHLO name with a label over 63 octets (or over 255 in all); no DNS
    record can have it. Building the question crashed the module (LabelTooLong)."""
    for name in ("a" * 64 + ".example.org", ".".join(["abcdefghij"] * 24) + ".example.org"):
        result = check(dns_server, [("192.0.2.20", name)])
        assert not result.get("failed"), result.get("msg")
        assert ("ehlo_forward", "error") in found(result), result["messages"]
        assert any("not a name DNS can carry" in message for message in result["messages"]), result["messages"]


def test_the_advice_fits_the_address_family_and_who_can_fix_it(dns_server):
    """Gmail answers 550-5.7.1 for IPv6 (550-5.7.25 is its IPv4 text), Microsoft's refusal is for
    IPv6 only; and where the PTR already names the EHLO name, only that name's A record can be
    wrong: the advice asked the hosting provider for the PTR it already had."""
    (v4,) = check(dns_server, [("192.0.2.21", "noptr.example.org")])["messages"]
    assert "550-5.7.25" in v4 and "Microsoft" not in v4, v4
    (v6,) = [message for message in check(dns_server, [("2001:db8::99", "v6.example.org")])["messages"]
             if "has no PTR record" in message]
    assert "550-5.7.1" in v6 and "550-5.7.25" not in v6 and "Microsoft (450 4.7.25)" in v6, v6
    fcrdns = [message for message in check(dns_server, [("192.0.2.23", "elsewhere.example.org")])["messages"]
              if "forward-confirmed" in message]
    assert fcrdns and fcrdns[0].endswith("The PTR already names elsewhere.example.org: the owner of the DNS zone of "
                                         "elsewhere.example.org can add 192.0.2.23 to its A records."), fcrdns
    assert "ask them to point it" not in fcrdns[0]


def test_more_than_two_ptr_names_are_all_named_and_the_order_they_come_in_is_no_verdict(dns_server):
    """Receivers try the first two PTR names in the order the DNS server gives them, which servers
    rotate. The verdict stays on the first two, as the receivers' is; but a pass where another order
    fails is a warning, and an error where a later name resolves back says so and advises keeping
    that name alone (the message named only the first two, and advised pointing the PTR to a name
    it already had)."""
    (warning,) = check(dns_server, [("192.0.2.50", "good50.example.org")])["messages"]
    assert ("the PTR of 192.0.2.50 names 3 names, in this answer good50.example.org, bad50a.example.org, "
            "bad50b.example.org; bad50a.example.org, bad50b.example.org do not resolve (A) back to 192.0.2.50") in warning
    assert "servers rotate that order" in warning and "keep only good50.example.org" in warning, warning
    (error,) = check(dns_server, [("192.0.2.51", "good51.example.org")])["messages"]
    assert "bad51a.example.org, bad51b.example.org, good51.example.org" in error, error
    assert "good51.example.org resolves back, but comes after the first 2" in error, error
    assert "keep only good51.example.org" in error and "point it to" not in error, error
    # the forward lookups of every PTR name were asked, the third's too
    assert ("bad50b.example.org.", "A") in dns_server.queries or ("bad50b.example.org", "A") in dns_server.queries


def test_a_name_without_addresses_has_null_ehlo_addresses_as_documented(dns_server):
    (pair,) = check(dns_server, [("192.0.2.24", "ghost.example.org")])["pairs"]
    assert pair["ehlo_addresses"] is None and pair["ptr"] == ["ptr24.example.org", "ghost.example.org"], pair


def test_the_advice_never_says_to_announce_a_generic_ptr_name(dns_server):
    """ehlo_matches_ptr told to set the EHLO name to the provider's generic PTR name, while
    generic_ptr, in the same run, told to replace that name."""
    result = check(dns_server, [("192.0.2.41", "gen41.example.org")])
    (matches,) = [message for finding, message in zip(result["findings"], result["messages"])
                  if finding["check"] == "ehlo_matches_ptr"]
    assert "to ip-192-0-2-41.hoster.example" not in matches and "set its PTR to gen41.example.org" in matches, matches


def test_the_idn_name_is_looked_up_as_the_servers_a_label(dns_server):
    before = dns_server.asked("strasse.example.org")
    result = check(dns_server, [("192.0.2.30", "straße.example.org")])
    assert result["pairs"][0]["ehlo"] == "xn--strae-oqa.example.org"
    assert result["pairs"][0]["ehlo_addresses"] == ["192.0.2.30"]
    assert dns_server.asked("xn--strae-oqa.example.org", "A") >= 1
    # IDNA 2003 would have asked for strasse.example.org, another domain
    assert dns_server.asked("strasse.example.org") == before


def test_a_nat_mapping_checks_the_public_address_and_a_private_one_without_it_is_info(dns_server):
    mapped = check(dns_server, [("10.0.0.5", "nat.example.org")], public_ips={"10.0.0.5": "192.0.2.40"},
                   resolver={"port": dns_server.port, "nameservers": ["127.0.0.1"]})
    assert found(mapped) == [], mapped["messages"]
    assert mapped["pairs"][0]["public_ip"] == "192.0.2.40" and mapped["pairs"][0]["ptr"] == ["nat.example.org"]

    # the same private address with the user's own DNS server: checked as it is (and it has no PTR)
    unmapped = check(dns_server, [("10.0.0.5", "nat.example.org")])
    assert ("ptr", "error") in found(unmapped)

    # and with the system's resolvers: not looked up at all, one info (no DNS question leaves)
    asked = dns_server.asked()
    private = run_module(CHECK, {"strategies": [{"name": "s", "source_ips": [{"ip": "10.0.0.5"}]}],
                                 "default_ehlo": "nat.example.org",
                                 "checks": ["ptr", "fcrdns", "ehlo_matches_ptr", "generic_ptr", "ehlo_contains_ip"]})
    assert found(private) == [("ptr", "info")], private["messages"]
    assert "private or reserved address" in private["messages"][0] and "public_ips" in private["messages"][0]
    assert dns_server.asked() == asked
    # its check is one of those asked for: here the only one
    alone = run_module(CHECK, {"strategies": [{"name": "s", "source_ips": [{"ip": "10.0.0.5"}]}],
                               "default_ehlo": "nat.example.org", "checks": ["ehlo_contains_ip"]})
    assert found(alone) == [("ehlo_contains_ip", "info")], alone["messages"]


def test_a_ptr_lookup_that_fails_is_unknown_for_generic_ptr_alone_too(dns_server):
    """SERVFAIL for the PTR: with generic_ptr the only check, it is reported as unknown (not silence)."""
    result = check(dns_server, [("192.0.2.44", "clean.example.org")], checks=["generic_ptr"])
    assert found(result) == [("generic_ptr", "unknown")], result["messages"]
    assert result["summary"]["unknown"] == 1


def test_the_ehlo_name_comes_from_the_ip_else_the_strategy_else_default_ehlo(dns_server):
    result = check(dns_server, [("192.0.2.43", None), ("192.0.2.20", "clean.example.org")], ehlo="bulk.example.org")
    assert [(pair["ehlo"], pair["ehlo_origin"]) for pair in result["pairs"]] == [
        ("bulk.example.org", "strategy"), ("clean.example.org", "source_ip")]
    assert found(result) == []
    server_name = check(dns_server, [("192.0.2.42", None)], default_ehlo="MX.example.org")
    assert (server_name["pairs"][0]["ehlo"], server_name["pairs"][0]["ehlo_origin"]) == ("mx.example.org", "default_ehlo")
    assert found(server_name) == []
    unknown = check(dns_server, [("192.0.2.42", None)])
    assert found(unknown) == [("ehlo_forward", "info")]
    assert "Give default_ehlo" in unknown["messages"][0]


def test_fail_mode_fails_on_an_error_with_every_error_in_the_message(dns_server):
    result = check(dns_server, [("192.0.2.21", "noptr.example.org"), ("192.0.2.24", "ghost.example.org"),
                                ("192.0.2.22", "ehlo22.example.org")], mode="fail")
    assert result["failed"] is True
    assert result["msg"].startswith("2 deliverability errors: (1) strategy 's', source IP 192.0.2.21, EHLO "
                                    "noptr.example.org (the source IP's ehlo_hostname): 192.0.2.21 has no PTR record")
    assert "(2) strategy 's', source IP 192.0.2.24" in result["msg"]
    assert "usually the hosting provider" in result["msg"]
    # the warning is shown, not counted as a failure; the whole report comes back too
    assert [warning.split(":", 1)[0] for warning in result["warnings"]] == ["deliverability warning"]
    assert result["summary"] == {"error": 2, "warning": 1, "info": 0, "unknown": 0}
    # warnings alone never fail
    assert not check(dns_server, [("192.0.2.22", "ehlo22.example.org")], mode="fail").get("failed")


def test_check_mode_runs_the_checks_too(dns_server):
    result = check(dns_server, [("192.0.2.21", "noptr.example.org")], check_mode=True, mode="fail")
    assert result["failed"] is True and found(result) == [("ptr", "error")]


def test_a_resolver_that_drops_queries_is_unknown_within_the_budget():
    strategy = {"name": "s", "source_ips": [{"ip": f"192.0.2.{last}", "ehlo_hostname": f"h{last}.example.org"}
                                            for last in range(20, 26)]}
    with BlackHole() as hole:
        started = time.monotonic()
        result = run_module(CHECK, {"strategies": [strategy], "mode": "fail",
                                    "resolver": dict(hole.resolver, timeout=0.3, lifetime=5.0, budget=1.0)})
        elapsed = time.monotonic() - started
    assert not result.get("failed"), "a DNS failure never fails the check"
    assert elapsed < 2.0, f"the budget is 1 s, the check took {elapsed:.1f} s"
    assert {finding["severity"] for finding in result["findings"]} == {"unknown"}
    assert sorted({finding["check"] for finding in result["findings"]}) == ["ehlo_forward", "ptr"]
    assert hole.asked() >= 18, "every question is sent (at once), none answered"
    # no lookup outlives the budget (a module process waits for its threads before it exits): each
    # lookup's lifetime (5 s asked) is cut to the time left
    assert wait_until(lambda: not [thread for thread in threading.enumerate()
                                   if thread.name.startswith("deliverability-dns") and thread.is_alive()], timeout=2.0)
    assert "budget" in result["messages"][0] or "timeout" in result["messages"][0]


def test_lookups_run_at_once():
    """Six pairs, three questions each, every answer held 0.4 s: one after the other they would take
    7 s; at once, two rounds of about 0.4 s each."""
    zone = "".join(f"h{last}.example.org. 60 IN A 192.0.2.{last}\n"
                   f"{last}.2.0.192.in-addr.arpa. 60 IN PTR h{last}.example.org.\n" for last in range(20, 26))
    strategy = {"name": "s", "source_ips": [{"ip": f"192.0.2.{last}", "ehlo_hostname": f"h{last}.example.org"}
                                            for last in range(20, 26)]}
    with ZoneServer(zone, delay=0.4) as slow:
        started = time.monotonic()
        result = run_module(CHECK, {"strategies": [strategy], "resolver": dict(slow.resolver, budget=4.0)})
        elapsed = time.monotonic() - started
    assert found(result) == [], result["messages"]
    assert elapsed < 2.5, f"{elapsed:.1f} s: the lookups did not run at once"


def test_bad_input_fails_before_any_query_or_request(dns_server):
    asked = dns_server.asked()
    with ThreadedSimulator() as sim:
        connection = {"url": sim.url, "token": ADMIN_TOKEN}
        cases = [
            ({"strategies": [{"name": "warmup", "source_ips": [{"ip": "192.0.2.300"}]}]},
             ["strategies[0] ('warmup')", "source_ips[0].ip", "not an IP address"]),
            ({"strategies": [{"name": "warmup", "source_ips": [{"ip": "192.0.2.20", "ehlo_hostname": "nodot"}]}]},
             ["'warmup'", "source_ips[0].ehlo_hostname", "no dot"]),
            ({"public_ips": {"10.0.0.5": "2001:db8::5"}}, ["public_ips[10.0.0.5]", "family"]),
            ({"default_ehlo": "mx..example.org"}, ["default_ehlo", "empty label"]),
            ({"resolver": {"nameservers": ["resolver.example.org"]}}, ["resolver.nameservers", "not an IP address"]),
            ({"checks": ["ptr", "spf"]}, ["checks", "spf"]),
            ({"mode": "strict"}, ["mode", "warn", "fail"]),
        ]
        for options, words in cases:
            result = run_module(CHECK, {**connection, "resolver": dns_server.resolver, **options})
            assert result.get("failed") is True, options
            for word in words:
                assert word in result["msg"], (options, result["msg"])
        assert sim.stats()["requests"] == 0
    assert dns_server.asked() == asked


def test_without_strategies_every_strategy_on_the_server_is_read_in_one_read(dns_server):
    with ThreadedSimulator() as sim:
        sim.reset(objects=[{"name": "warmup", "ehloHostname": "noptr.example.org",
                            "sourceIps": {"0": {"sourceIp": "192.0.2.21"},
                                          "1": {"sourceIp": "192.0.2.20", "ehloHostname": "clean.example.org"}}}])
        result = run_module(CHECK, {"url": sim.url, "token": ADMIN_TOKEN, "resolver": dns_server.resolver})
        stats = sim.stats()
    assert [(f["strategy"], f["source_ip"], f["check"], f["severity"]) for f in result["findings"]] == [
        ("warmup", "192.0.2.21", "ptr", "error")]
    # the seeded default strategy has no source IP: nothing to check
    assert [pair["strategy"] for pair in result["pairs"]] == ["warmup", "warmup"]
    assert (stats["session_requests"], stats["posts"], stats["writes"]) == (1, 1, 0)


def test_given_strategies_read_only_what_they_leave_out_and_nothing_when_they_decide_every_pair(dns_server):
    with ThreadedSimulator() as sim:
        sim.reset(objects=[{"name": "bulk", "ehloHostname": "bulk.example.org",
                            "sourceIps": {"0": {"sourceIp": "192.0.2.99"}}}])
        connection = {"url": sim.url, "token": ADMIN_TOKEN, "resolver": dns_server.resolver}
        complete = run_module(CHECK, {**connection, "strategies": [
            {"name": "bulk", "ehlo_hostname": "bulk.example.org", "source_ips": [{"ip": "192.0.2.43"}]}]})
        assert found(complete) == [] and sim.stats()["requests"] == 0
        # the item leaves out ehlo_hostname: the server's stays, so it is read (one read)
        partial = run_module(CHECK, {**connection, "strategies": [{"name": "bulk", "source_ips": [{"ip": "192.0.2.43"}]}]})
        assert [(pair["ehlo"], pair["ehlo_origin"]) for pair in partial["pairs"]] == [("bulk.example.org", "strategy")]
        assert found(partial) == []
        stats = sim.stats()
        assert (stats["session_requests"], stats["posts"], stats["writes"]) == (1, 1, 0)
    # with no server to read from, what is left out counts as not set, and the module says so
    offline = run_module(CHECK, {"strategies": [{"name": "bulk", "source_ips": [{"ip": "192.0.2.43"}]}],
                                 "resolver": dns_server.resolver})
    assert found(offline) == [("ehlo_forward", "info")]
    assert "no url to read them from the server" in " ".join(offline["warnings"])


def test_without_dnspython_the_check_fails_with_missing_required_lib(dns_server, monkeypatch):
    monkeypatch.setattr(_dns, "load", lambda: "Traceback: ModuleNotFoundError: No module named 'dns'")
    result = check(dns_server, [("192.0.2.20", "clean.example.org")])
    assert result["failed"] is True
    assert "Failed to import the required Python library (dnspython)" in result["msg"]
    # the checks that need no DNS still run without it
    assert not check(dns_server, [("192.0.2.20", None)], checks=["bind", "implicit_family"]).get("failed")


# --- the probe and the checks that use it ---------------------------------------------------------------


def unbound_test_net_address(probe_result):
    """A TEST-NET address this machine does not hold (some test machines hold one of 192.0.2.0/24)."""
    held = {entry["address"] for entry in probe_result["addresses"]}
    return next(f"{prefix}.{last}" for prefix in ("203.0.113", "198.51.100", "192.0.2") for last in range(77, 99)
                if f"{prefix}.{last}" not in held)


def test_the_probe_binds_loopback_and_not_an_address_the_host_lacks():
    first = run_module(PROBE, {"ips": ["127.0.0.1"]})
    absent = unbound_test_net_address(first)
    result = run_module(PROBE, {"ips": ["127.0.0.1", absent, {"ip": "127.0.0.1"}],
                                "strategies": [{"name": "s", "source_ips": [{"source_ip": "::1"}]},
                                               {"name": "gone", "state": "absent", "source_ips": [{"ip": "192.0.2.99"}]}]})
    assert result["changed"] is False
    by_ip = {entry["ip"]: entry for entry in result["ips"]}
    assert list(by_ip) == ["127.0.0.1", absent, "::1"]
    assert by_ip["127.0.0.1"] == {"ip": "127.0.0.1", "family": "ipv4", "bindable": True, "errno": None, "error": None}
    assert by_ip[absent]["bindable"] is False
    assert by_ip[absent]["errno"] == errno.EADDRNOTAVAIL == 99
    assert by_ip[absent]["error"].startswith("EADDRNOTAVAIL")
    assert result["bindable"] == [ip for ip in by_ip if by_ip[ip]["bindable"]]
    assert "127.0.0.1" not in result["global_addresses"]
    assert all(entry["scope"] == "global" for entry in result["addresses"]
               if entry["address"] in result["global_addresses"])
    assert result["hostname"]


def test_the_probe_takes_strategies_without_source_ips():
    """A strategy that leaves source_ips out (timeouts only), sets it to null, or clears it with []
    gives the probe nothing to bind, and is no error."""
    result = run_module(PROBE, {"strategies": [{"name": "timeouts-only", "connect_timeout": "30s"},
                                               {"name": "null", "source_ips": None},
                                               {"name": "cleared", "source_ips": []},
                                               {"name": "s", "source_ips": [{"ip": "127.0.0.1"}]}]})
    assert result.get("failed") is not True, result
    assert [entry["ip"] for entry in result["ips"]] == ["127.0.0.1"]
    result = run_module(PROBE, {"strategies": [{"name": "timeouts-only", "connect_timeout": "30s"}]})
    assert result.get("failed") is not True and result["ips"] == [], result


def test_the_probe_refuses_what_is_not_an_ip_before_binding_anything():
    result = run_module(PROBE, {"strategies": [{"name": "warmup", "source_ips": [{"ip": "192.0.2.300"}]}]})
    assert result["failed"] is True
    assert "strategies[0] (warmup).source_ips[0].ip" in result["msg"] and "not an IP address" in result["msg"]
    # source_ips, as a strategy writes them, is the alias of ips
    result = run_module(PROBE, {"source_ips": [{"source_ip": "127.0.0.1"}, {"ip": "eth0"}]})
    assert result["failed"] is True and "ips[1]: 'eth0' is not an IP address" in result["msg"]
    # as the server and the check take them: no surrounding spaces, no zone; ::ffff:a.b.c.d written so
    for bad in (" 127.0.0.1 ", "fe80::1%lo", "127.0.0.1/8"):
        result = run_module(PROBE, {"ips": [bad]})
        assert result["failed"] is True and "not an IP address" in result["msg"], (bad, result)
    assert [entry["ip"] for entry in run_module(PROBE, {"ips": ["::FFFF:127.0.0.1"]})["ips"]] == ["::ffff:127.0.0.1"]


def test_an_ipv4_mapped_source_address_is_compared_in_one_spelling_and_probed_as_unusable(dns_server):
    """DNS answers print ::ffff:192.0.2.20 as ::ffff:c000:214, the source IPs as the server writes
    them: the check reported the address missing from the records that held it. And the server
    takes a mapped address as an IPv6 source: its bind succeeds, and no IPv6 connection can leave
    from it (EAFNOSUPPORT), so every delivery through it fails; the probe said bindable."""
    result = check(dns_server, [("::ffff:192.0.2.20", "mapped.example.org")])
    assert found(result) == [], result["messages"]
    assert result["pairs"][0]["ehlo_addresses"] == ["192.0.2.20", "::ffff:192.0.2.20"], result["pairs"]
    (entry,) = run_module(PROBE, {"ips": ["::ffff:127.0.0.1"]})["ips"]
    assert entry["bindable"] is False and entry["errno"] == errno.EAFNOSUPPORT, entry
    assert "write 127.0.0.1" in entry["error"], entry
    probe = run_module(PROBE, {"ips": ["::ffff:127.0.0.1"]})
    checked = run_module(CHECK, {"strategies": [{"name": "s", "source_ips": [{"ip": "::ffff:127.0.0.1"}]}],
                                 "checks": ["bind"], "probe": probe})
    assert found(checked) == [("bind", "error")], checked["messages"]


@pytest.mark.parametrize("entries,state,expected", [
    (["127.0.0.1"], None, "strategies[0] (warmup).source_ips[0]: expected a dict {ip, ehlo_hostname}, got '127.0.0.1'"),
    ([{"x": 1}], None, "strategies[0] (warmup).source_ips[0]: the entry has no ip"),
    ([{"ip": "127.0.0.1", "source_ip": "127.0.0.2"}], None,
     "strategies[0] (warmup).source_ips[0]: ip and its alias source_ip are both set, to different values"),
    ([{"ip": "127.0.0.1"}], "gone", "strategies[0] (warmup): state: expected present or absent, got 'gone'"),
])
def test_the_probe_names_what_is_wrong_with_an_entry_not_a_missing_ip(entries, state, expected):
    """An entry that is not a dict, or has no ip, was reported as 'None is not an IP address';
    two different addresses in ip and source_ip, and a state of neither kind, went through."""
    strategy = {"name": "warmup", "source_ips": entries, **({"state": state} if state else {})}
    result = run_module(PROBE, {"strategies": [strategy]})
    assert result["failed"] is True and expected in result["msg"], result["msg"]


def test_an_address_the_host_cannot_bind_is_a_bind_error(dns_server):
    absent = unbound_test_net_address(run_module(PROBE, {}))
    strategies = [{"name": "warmup", "source_ips": [{"ip": absent}, {"ip": "127.0.0.1"}]}]
    probe = run_module(PROBE, {"strategies": strategies})
    result = run_module(CHECK, {"strategies": strategies, "probe": probe, "checks": ["bind"], "mode": "fail"})
    assert result["failed"] is True
    assert [(f["source_ip"], f["check"], f["severity"]) for f in result["findings"]] == [(absent, "bind", "error")]
    assert f"cannot bind {absent} (EADDRNOTAVAIL: Cannot assign requested address, errno 99)" in result["msg"]
    assert "Every delivery through this address fails" in result["msg"]


def test_an_address_the_probe_did_not_try_is_unknown_not_bindable():
    """The role probes the inventory's list; a strategy that leaves out source_ips is checked with
    the server's, which the probe never tried: the bind check passed them in silence."""
    with ThreadedSimulator() as sim:
        sim.reset(objects=[{"name": "srv", "sourceIps": {"0": {"sourceIp": "192.0.2.77"}}}])
        strategies = [{"name": "srv", "ehlo_hostname": "mx1.example.org"}]
        probe = run_module(PROBE, {"strategies": strategies})
        assert probe["ips"] == []
        result = run_module(CHECK, {"url": sim.url, "token": ADMIN_TOKEN, "strategies": strategies, "probe": probe,
                                    "checks": ["bind"], "mode": "fail"})
    assert not result.get("failed"), result.get("msg")  # unknown never fails the check
    assert [(f["source_ip"], f["check"], f["severity"]) for f in result["findings"]] == [
        ("192.0.2.77", "bind", "unknown")]
    assert "the bind probe did not try 192.0.2.77" in result["messages"][0]


def test_only_ipv4_sources_on_a_host_with_a_global_ipv6_address_is_a_warning(dns_server):
    strategies = [{"name": "v4only", "ehlo_hostname": "clean.example.org", "source_ips": [{"ip": "192.0.2.20"}]},
                  {"name": "both", "source_ips": [{"ip": "192.0.2.20", "ehlo_hostname": "clean.example.org"},
                                                  {"ip": "2001:db8::20", "ehlo_hostname": "v6.example.org"}]}]
    result = run_module(CHECK, {"strategies": strategies, "resolver": dns_server.resolver,
                                "host_addresses": ["192.0.2.2", "2001:db8::99", "fe80::1"]})
    assert [(f["strategy"], f["check"], f["severity"]) for f in result["findings"]] == [
        ("v4only", "implicit_family", "warning")]
    (message,) = result["messages"]
    assert "no source IPv6 address (source IPs: 192.0.2.20), while the mail host has the IPv6 address(es) " \
           "2001:db8::99" in message
    # the probe's global addresses count the same way
    probe = {"ips": [], "global_addresses": ["2001:db8::99"], "addresses": [], "hostname": "mx1"}
    from_probe = run_module(CHECK, {"strategies": strategies, "checks": ["implicit_family"], "probe": probe})
    assert [(f["strategy"], f["check"]) for f in from_probe["findings"]] == [("v4only", "implicit_family")]


@pytest.mark.parametrize("args,expected", [
    ({"strategies": [{"name": "a"}, ["b"]]}, "strategies[1] (item 2): expected a dictionary, a strategy as "
                                             "mta_connection_strategy takes one: {name, ehlo_hostname, source_ips}"),
    ({"strategies": "a"}, "strategies: expected a list, each item a strategy"),
    ({"strategies": [{"name": "a"}], "resolver": "8.8.8.8"},
     "resolver: expected a dictionary {nameservers, port, timeout, lifetime, tcp, budget}, got '8.8.8.8'"),
    ({"strategies": [{"name": "a"}], "public_ips": "192.0.2.1"}, "public_ips: expected a dictionary {private IP: "),
])
def test_a_value_of_the_wrong_kind_is_named_with_what_is_accepted(args, expected):
    """ansible-core's own words named neither the option ('dictionary requested, could not parse JSON
    or key=value') nor the item, nor what is accepted."""
    result = run_module("deliverability_check", args)
    assert result["failed"] is True and expected in result["msg"], result["msg"]


# The probe runs on the mail host, with its Python: ansible-core 2.16 still runs modules on Python
# 2.7 (EL7) and 3.6 (EL8's platform-python). The suite's machines have them under pyenv.
PROBE_SOURCE = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "source_ip_probe.py"
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")) / "versions"
OLD_PYTHONS = {version: sorted(glob.glob(str(PYENV_VERSIONS / f"{version}.*" / "bin" / "python")))
               for version in ("2.7", "3.6")}
NO_OLD_PYTHONS = f"needs Python 2.7 and 3.6 under {PYENV_VERSIONS} (pyenv), as the suite's machines have them"


@pytest.mark.skipif(not all(OLD_PYTHONS.values()), reason=NO_OLD_PYTHONS)
def test_the_probe_compiles_on_the_old_pythons_of_mail_hosts():
    """`from __future__ import annotations` made it a SyntaxError on Python 2.7 and 3.6."""
    for version, (python, *_rest) in OLD_PYTHONS.items():
        done = subprocess.run([python, "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
                               str(PROBE_SOURCE)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (version, done.stderr)


@pytest.mark.skipif(not all(OLD_PYTHONS.values()), reason=NO_OLD_PYTHONS)
@pytest.mark.skipif(ANSIBLE_CORE >= (2, 17), reason="ansible-core 2.17 and later run no module on Python 2.7 or 3.6")
def test_the_probe_runs_on_python_3_6_and_says_what_it_needs_on_2_7(tmp_path):
    playbook = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "probe", "stalwart.mail.source_ip_probe": {"ips": ["127.0.0.1", "::ffff:127.0.0.1"]},
         "ignore_errors": True}]}]
    results = {}
    for version, (python, *_rest) in OLD_PYTHONS.items():
        results[version] = run_playbook(tmp_path, playbook, extra_vars={"ansible_python_interpreter": python}).result("probe")
    assert [entry["bindable"] for entry in results["3.6"]["ips"]] == [True, False], results["3.6"]
    assert results["2.7"]["failed"] is True
    assert results["2.7"]["msg"].startswith("stalwart.mail.source_ip_probe needs Python 3.6 or later on the mail host; "
                                            ), results["2.7"]
