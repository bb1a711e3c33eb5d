"""The role's deliverability check (``stalwart_deliverability_*``) through real ansible-playbook.

Four hosts in one inventory, each with its own simulator and its own DNS server on 127.0.0.1 (so
that each host's queries and requests are counted apart), all with the same warm-up strategy, one
of whose addresses has a generic PTR that does not resolve back (an error):

- ``failing`` (``fail``): the host stops with the check's message; the server got no write;
- ``warning`` (``warn``): the strategy is written and the findings are warnings;
- ``silent`` (``off``): no DNS query at all, and exactly the requests of ``baseline``;
- ``baseline`` (the variable not set): what the role does without the check.

Then ``--check``: the check runs in check mode too, and nothing is written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import stored
from tests.support.ansible import ROLE_ENDS_ITSELF, run_playbook
from tests.support.dns import ZoneServer
from tests.support.inproc import ThreadedSimulator
from tests.support.sim import ADMIN_TOKEN

ROLE = "stalwart.mail.mta_connection_strategies"
STEPS = f"{ROLE} : Check deliverability before, or route mail after, applying the strategies"
INCLUDE = f"{ROLE} : Check the source IPs and EHLO names before anything is written"
PROBE = f"{ROLE} : Try to bind the source IPs on the mail host, as the server does before each delivery"
CHECK = f"{ROLE} : Check the source IPs and EHLO names against DNS"
APPLY = f"{ROLE} : Apply the merged strategies in one module run"
HANDLER = f"{ROLE} : Reload Stalwart settings"
RESCUE_FAIL = f"{ROLE} : Fail as the module did"

ZONE = """
warm1.mx1.example.org.          60 IN A   192.0.2.20
20.2.0.192.in-addr.arpa.        60 IN PTR warm1.mx1.example.org.
mx1.example.org.                60 IN A   192.0.2.21
21.2.0.192.in-addr.arpa.        60 IN PTR ip-192-0-2-21.hoster.example.
"""
MODES = {"failing": "fail", "warning": "warn", "silent": "off", "baseline": None}
GROUP_VARS = {
    "stalwart_token": ADMIN_TOKEN,
    "stalwart_deliverability_default_ehlo": "mx1.example.org",
    # the strategy leaves its own ehlo_hostname out, and 192.0.2.21 has none: the check reads the
    # server's (one read) to know which EHLO name the server will announce from it
    "stalwart_mta_connection_strategies": [{"name": "warmup", "source_ips": [
        {"ip": "192.0.2.20", "ehlo_hostname": "warm1.mx1.example.org"}, {"ip": "192.0.2.21"}]}],
}


@pytest.fixture(scope="module")
def hosts():
    """host → (simulator, DNS server), for the four hosts."""
    servers = {}
    try:
        for host in MODES:
            servers[host] = (ThreadedSimulator().start(), ZoneServer(ZONE).__enter__())
        yield servers
    finally:
        for sim, dns in servers.values():
            sim.stop()
            dns.__exit__(None, None, None)


def inventory(tmp_path, hosts):
    root = tmp_path / "inventory"
    (root / "group_vars").mkdir(parents=True, exist_ok=True)
    members = {}
    for host, (sim, dns) in hosts.items():
        sim.reset()
        variables = {"stalwart_url": sim.url,
                     "stalwart_deliverability_resolver": {"nameservers": ["127.0.0.1"], "port": dns.port}}
        if MODES[host] is not None:
            variables["stalwart_deliverability_check"] = MODES[host]
        if host == "failing":
            # its message is about DNS alone; the warning host shows the probe's findings
            variables["stalwart_deliverability_probe_bind"] = False
        members[host] = variables
    hosts_file = {"mailservers": {"hosts": members, "vars": {"ansible_connection": "local",
                                                             "ansible_python_interpreter": sys.executable}}}
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts_file))
    (root / "group_vars" / "mailservers.yml").write_text(yaml.safe_dump(GROUP_VARS))
    return root


SITE = [{"name": "Apply the strategies", "hosts": "mailservers", "gather_facts": False, "roles": [{"role": ROLE}]}]


def test_fail_writes_nothing_warn_writes_and_warns_off_asks_nothing(tmp_path, hosts):
    asked_before = {host: dns.asked() for host, (_sim, dns) in hosts.items()}
    outcome = run_playbook(tmp_path, SITE, extra_args=["-i", str(inventory(tmp_path, hosts))])
    stats = {host: sim.stats() for host, (sim, _dns) in hosts.items()}
    asked = {host: dns.asked() - asked_before[host] for host, (_sim, dns) in hosts.items()}

    # fail: the host stops before anything is written, with the check's own message
    failing = hosts["failing"][0]
    assert outcome.status(CHECK, "failing") == "failed"
    message = outcome.result(RESCUE_FAIL, "failing")["msg"]
    assert message.startswith("1 deliverability error: (1) strategy 'warmup', source IP 192.0.2.21, EHLO "
                              "mx1.example.org (default_ehlo, the server's host name): the PTR of 192.0.2.21 names "
                              "ip-192-0-2-21.hoster.example"), message
    assert "550-5.7.25" in message and "usually the hosting provider" in message
    # (the role's first module task is skipped whenever the check is on: the included one applies)
    assert [entry["status"] for entry in outcome.entries(APPLY, "failing")] == ["skipped"], \
        "the strategies were applied after a failed check"
    assert sorted(stored(failing)) == ["default"]
    assert stats["failing"]["writes"] == 0 and stats["failing"]["reloads"] == 0

    # warn: written, and the findings shown as warnings
    assert outcome.status(CHECK, "warning") == "ok"
    warnings = outcome.result(CHECK, "warning")["warnings"]
    assert any(warning.startswith("deliverability error: strategy 'warmup', source IP 192.0.2.21") and
               "forward-confirmed reverse DNS" in warning for warning in warnings), warnings
    assert "[WARNING]: deliverability error: strategy 'warmup'" in outcome.stdout + outcome.stderr
    assert outcome.status(APPLY, "warning") == "changed"
    assert "warmup" in stored(hosts["warning"][0])
    assert stats["warning"]["reloads"] == 1

    # the probe ran on the mail host (each host here is local), and each address it could not bind
    # (this machine holds neither, as a rule) is a bind error of the check
    probe = outcome.result(PROBE, "warning")
    assert [entry["ip"] for entry in probe["ips"]] == ["192.0.2.20", "192.0.2.21"]
    check = outcome.result(CHECK, "warning")
    assert [finding["source_ip"] for finding in check["findings"] if finding["check"] == "bind"] == [
        entry["ip"] for entry in probe["ips"] if not entry["bindable"]]
    assert "bind" not in check["skipped_checks"]
    assert outcome.status(PROBE, "failing") == "skipped"

    # off: the check is skipped whole: no DNS query, no request the baseline does not make
    # (the role ends after its module task, 2.18.3 and later, or skips the include of the steps;
    # 2.18.0 to 2.18.2 ended it for the first host alone, and this host is not the first)
    assert [entry["status"] for entry in outcome.entries(STEPS, "silent")] == ([] if ROLE_ENDS_ITSELF else ["skipped"])
    assert not outcome.entries(INCLUDE, "silent")
    assert outcome.status(STEPS, "warning") == "ok" and outcome.status(INCLUDE, "warning") == "ok"
    assert asked["silent"] == 0 and asked["baseline"] == 0
    assert asked["failing"] > 0 and asked["warning"] > 0
    for key in ("requests", "session_requests", "posts", "writes", "reloads"):
        assert stats["silent"][key] == stats["baseline"][key], (key, stats["silent"], stats["baseline"])
    assert "warmup" in stored(hosts["silent"][0]) and "warmup" in stored(hosts["baseline"][0])

    # warn (and fail) add one read at most: here one, for the EHLO name the list leaves to the server
    assert stats["warning"]["posts"] - stats["baseline"]["posts"] == 1
    assert stats["warning"]["requests"] - stats["baseline"]["requests"] == 2  # its session request and the read
    assert stats["warning"]["writes"] == stats["baseline"]["writes"]
    assert (stats["failing"]["posts"], stats["failing"]["requests"]) == (1, 2)
    assert outcome.rc != 0


def test_check_mode_runs_the_checks_too_and_writes_nothing(tmp_path, hosts):
    asked_before = {host: dns.asked() for host, (_sim, dns) in hosts.items()}
    outcome = run_playbook(tmp_path, SITE, check=True,
                           extra_args=["-i", str(inventory(tmp_path, hosts)), "--limit", "failing,warning"])
    assert outcome.status(CHECK, "failing") == "failed"
    assert "1 deliverability error" in outcome.result(RESCUE_FAIL, "failing")["msg"]
    assert outcome.status(CHECK, "warning") == "ok"
    assert ("192.0.2.21", "fcrdns", "error") in [(finding["source_ip"], finding["check"], finding["severity"])
                                                 for finding in outcome.result(CHECK, "warning")["findings"]]
    assert outcome.result(APPLY, "warning")["plan"]["create"] == ["warmup"]
    for host in ("failing", "warning"):
        sim, dns = hosts[host]
        assert dns.asked() > asked_before[host], f"{host}: check mode sent no DNS query"
        assert sim.stats()["writes"] == 0 and sorted(stored(sim)) == ["default"]


def test_a_strategy_without_source_ips_passes_the_probe_and_the_check(tmp_path, hosts):
    """A strategy that sets timeouts only, and one that clears its source IPs, give the bind probe
    nothing to try: with the check on (warn, the probe on), the host goes on and writes them."""
    more = {"stalwart_mta_connection_strategies__50_more": [
        {"name": "slow", "connect_timeout": "30s"}, {"name": "cleared", "source_ips": []}]}
    outcome = run_playbook(tmp_path, SITE, extra_args=["-i", str(inventory(tmp_path, hosts)), "--limit", "warning",
                                                       "-e", json.dumps(more)])
    outcome.assert_ok()
    assert [entry["ip"] for entry in outcome.result(PROBE, "warning")["ips"]] == ["192.0.2.20", "192.0.2.21"]
    assert outcome.status(CHECK, "warning") == "ok"
    assert outcome.result(APPLY, "warning")["plan"]["create"] == ["warmup", "slow", "cleared"]
    assert {"warmup", "slow", "cleared"} <= set(stored(hosts["warning"][0]))


def test_a_failed_check_whose_failure_is_ignored_still_writes_nothing(tmp_path, hosts):
    """ignore_errors on the role lets the play go on past the failed check (the rescue, which
    stops the host, does not run): the strategies step went on and wrote what the check refused."""
    playbook = [{**SITE[0], "hosts": "failing", "roles": [{"role": ROLE, "ignore_errors": True}]}]
    outcome = run_playbook(tmp_path, playbook, extra_args=["-i", str(inventory(tmp_path, hosts))])
    assert outcome.rc == 0, outcome.output()
    assert outcome.status(CHECK, "failing") == "failed"
    assert [entry["status"] for entry in outcome.entries(APPLY, "failing")] == ["skipped", "skipped"]
    failing = hosts["failing"][0]
    assert sorted(stored(failing)) == ["default"] and failing.stats()["writes"] == 0


def test_a_failed_check_whose_failure_is_ignored_does_not_route_mail_either(tmp_path, hosts):
    """With routing, the routing step ran after the ignored failure of the check (the strategies
    step, skipped, was not 'failed'): the expression then routed gmail.com to 'warmup', which
    was never created, and the handler reloaded it."""
    routes = {"stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'", "strategy": "warmup"}],
              "stalwart_mta_connection_strategies_purge": True}
    playbook = [{**SITE[0], "hosts": "failing", "roles": [{"role": ROLE, "ignore_errors": True}]}]
    failing = hosts["failing"][0]
    before = failing.dump()["outbound"]["connection"]
    outcome = run_playbook(tmp_path, playbook, extra_args=["-i", str(inventory(tmp_path, hosts)),
                                                           "-e", json.dumps(routes)])
    assert outcome.rc == 0, outcome.output()
    assert outcome.status(CHECK, "failing") == "failed"
    assert failing.dump()["outbound"]["connection"] == before, outcome.output()
    assert sorted(stored(failing)) == ["default"]
    assert failing.stats()["writes"] == 0 and failing.stats()["reloads"] == 0


def test_a_later_run_of_the_role_without_the_check_is_not_stopped_by_an_earlier_failed_one(tmp_path, hosts):
    """A registered result outlives its role run: the role run a second time in the same play,
    with the check off (and routing, so that the steps run), found the first run's failed and
    ignored check and skipped its write."""
    first = {"name": "With the check", "ansible.builtin.include_role": {"name": ROLE, "apply": {"ignore_errors": True}}}
    second = {"name": "Without it", "ansible.builtin.include_role": {"name": ROLE},
              "vars": {"stalwart_deliverability_check": "off", "stalwart_mta_connection_route_default": "warmup"}}
    playbook = [{"name": "twice", "hosts": "failing", "gather_facts": False, "tasks": [first, second]}]
    outcome = run_playbook(tmp_path, playbook, extra_args=["-i", str(inventory(tmp_path, hosts))])
    assert outcome.rc == 0, outcome.output()
    assert outcome.status(CHECK, "failing") == "failed"
    failing = hosts["failing"][0]
    assert "warmup" in stored(failing), outcome.output()
    assert failing.dump()["outbound"]["connection"]["else"] == "'warmup'"


def test_under_a_play_with_become_the_tasks_on_the_controller_do_not_become(tmp_path, hosts):
    """The DNS check, the strategies step and the handler run on the controller without the play's
    become, and so in the worker (the probe, a module that runs on the mail host, keeps it)."""
    playbook = [{**SITE[0], "hosts": "warning", "become": True, "become_method": "pass_through"}]
    outcome = run_playbook(tmp_path, playbook, verbosity=3, extra_args=["-i", str(inventory(tmp_path, hosts))],
                           env={"ANSIBLE_BECOME_PLUGINS": str(Path(__file__).resolve().parents[1] / "support"
                                                              / "become_plugins")})
    outcome.assert_ok()
    assert re.findall(r"(stalwart\.mail\.\w+): running the module in a process of its own", outcome.stdout) == []
    assert outcome.status(PROBE, "warning") == "ok" and outcome.status(CHECK, "warning") == "ok"
    assert outcome.status(HANDLER, "warning") == "changed"
    assert "warmup" in stored(hosts["warning"][0])
