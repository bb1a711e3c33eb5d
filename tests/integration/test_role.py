"""The role ``stalwart.mail.mta_connection_strategies`` through real ansible-playbook, against
simulators over real HTTP. Each test asserts on what the simulators store and count, not only on
what the role reports.

One inventory is used throughout (``inventory()``): two hosts, each pointing at its own simulator,
group_vars with the plain list and a ``__10_common`` layer, host_vars with a ``__20_host`` layer
holding each host's own IP pool (and, on mx2, a strategy only mx2 runs).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.stalwart.mail.plugins.action import mta_connection_strategies_role as role_action
from tests.integration.conftest import ROLE_ACTION, STRATEGY_RUNS, stored
from tests.support.ansible import RESCUES_EVERY_HOST, ROLE_ENDS_ITSELF, run_playbook
from tests.support.sim import ADMIN_TOKEN, Simulator

ROLE = "stalwart.mail.mta_connection_strategies"
MODULE = "stalwart.mail.mta_connection_strategy"
HANDLER = f"{ROLE} : Reload Stalwart settings"
APPLY = f"{ROLE} : Apply the merged strategies in one module run"
RESCUE_RELOAD = f"{ROLE} : Have the handler reload what the failed run applied"
RESCUE_FAIL = f"{ROLE} : Fail as the module did"

GROUP_VARS = {
    "stalwart_token": ADMIN_TOKEN,
    # the plain list: the first layer
    "stalwart_mta_connection_strategies": [
        {"name": "gmail", "description": "from the plain list", "connect_timeout": "1m"},
    ],
    "stalwart_mta_connection_strategies__10_common": [
        {"name": "gmail", "description": "Google MX", "greeting_timeout": "2m"},
        {"name": "bulk", "ehlo_hostname": "bulk.example.org", "data_timeout": "15m"},
    ],
}
HOST_VARS = {
    "mx1": {"stalwart_mta_connection_strategies__20_host": [
        {"name": "bulk", "data_timeout": "20m", "source_ips": [
            {"ip": "192.0.2.10", "ehlo_hostname": "mx1-a.example.org"},
            {"ip": "192.0.2.11", "ehlo_hostname": "mx1-b.example.org"},
        ]},
    ]},
    "mx2": {"stalwart_mta_connection_strategies__20_host": [
        {"name": "bulk", "source_ips": [{"ip": "198.51.100.20", "ehlo_hostname": "mx2-a.example.org"}]},
        {"name": "warmup", "connect_timeout": "30s", "source_ips": [
            {"source_ip": "198.51.100.22", "ehlo_hostname": "mx2-warmup.example.org"},
        ]},
    ]},
}
DEFAULTS_MS = {"connectTimeout": 300000, "dataTimeout": 600000, "ehloTimeout": 300000,
               "greetingTimeout": 300000, "mailFromTimeout": 300000, "rcptToTimeout": 300000}
GMAIL = {"name": "gmail", "description": "Google MX", "ehloHostname": None, "sourceIps": {},
         **DEFAULTS_MS, "connectTimeout": 60000, "greetingTimeout": 120000}

SITE = [{"name": "Apply the strategies", "hosts": "mailservers", "gather_facts": False,
         "roles": [{"role": ROLE}]}]


@pytest.fixture(scope="module")
def _second_server():
    with Simulator(dialect="server") as simulator:
        yield simulator


@pytest.fixture
def sims(sim, _second_server):
    """mx1 → the shared server-dialect simulator, mx2 → a second one; both reset."""
    _second_server.reset()
    return {"mx1": sim, "mx2": _second_server}


def inventory(tmp_path: Path, sims, group_extra=None) -> Path:
    """Write the two-host inventory (hosts.yml, group_vars, host_vars) and return its directory."""
    root = tmp_path / "inventory"
    (root / "group_vars").mkdir(parents=True, exist_ok=True)
    (root / "host_vars").mkdir(exist_ok=True)
    hosts = {"mailservers": {
        "hosts": {name: {"stalwart_url": server.url} for name, server in sims.items()},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    }}
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (root / "group_vars" / "mailservers.yml").write_text(yaml.safe_dump({**GROUP_VARS, **(group_extra or {})}))
    for name, layer in HOST_VARS.items():
        (root / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(layer))
    return root


def apply(tmp_path, inventory_dir, **kwargs):
    """Run the site playbook (the role on both hosts) with the two-host inventory."""
    return run_playbook(tmp_path, SITE, extra_args=["-i", str(inventory_dir)], **kwargs)


def module_result(outcome, host):
    """The result of the role's one module run for ``host``."""
    runs = [entry for entry in outcome.results
            if entry["action"] in STRATEGY_RUNS and entry["host"] == host and entry["status"] != "skipped"]
    assert len(runs) == 1, f"expected one module run for {host}, got {len(runs)}\n{outcome.output()}"
    return runs[0]["result"]


def without_id(strategies):
    return {name: {key: value for key, value in item.items() if key != "id"} for name, item in strategies.items()}


def test_layers_merge_by_suffix_each_host_gets_its_pool_one_reload_per_host_then_nothing(tmp_path, sims):
    inv = inventory(tmp_path, sims)
    first = apply(tmp_path, inv, diff=True).assert_ok()

    mx1, mx2 = without_id(stored(sims["mx1"])), without_id(stored(sims["mx2"]))
    # gmail: the plain list's connect_timeout survives, __10_common's description wins over it
    assert mx1["gmail"] == GMAIL == mx2["gmail"]
    # bulk on mx1: the group layer's EHLO name, the host layer's data_timeout (overridden) and pool
    assert mx1["bulk"] == {"name": "bulk", "description": None, "ehloHostname": "bulk.example.org", **DEFAULTS_MS,
                           "dataTimeout": 1200000, "sourceIps": {
                               "0": {"sourceIp": "192.0.2.10", "ehloHostname": "mx1-a.example.org"},
                               "1": {"sourceIp": "192.0.2.11", "ehloHostname": "mx1-b.example.org"}}}
    # bulk on mx2: the group layer's data_timeout (not overridden there), mx2's own pool
    assert mx2["bulk"] == {"name": "bulk", "description": None, "ehloHostname": "bulk.example.org", **DEFAULTS_MS,
                           "dataTimeout": 900000, "sourceIps": {
                               "0": {"sourceIp": "198.51.100.20", "ehloHostname": "mx2-a.example.org"}}}
    # a host_vars-only strategy lands on its host only
    assert mx2["warmup"]["connectTimeout"] == 30000
    assert mx2["warmup"]["sourceIps"] == {"0": {"sourceIp": "198.51.100.22", "ehloHostname": "mx2-warmup.example.org"}}
    assert sorted(mx1) == ["bulk", "default", "gmail"]  # purge is off: the seeded default stays
    assert sorted(mx2) == ["bulk", "default", "gmail", "warmup"]

    for host, server in sims.items():
        result = module_result(first, host)
        assert result["changed"] is True
        assert result["diff"], "diff mode must pass through to the module"
        assert server.stats()["reloads"] == 1, f"{host}: one reload after the changes"
        assert first.status(HANDLER, host) == "changed", f"{host}: the reload comes from the role's handler"
        # the module's own write request carries no reload (the handler's POST is the last one)
        assert server.stats()["method_calls"]["x:Action/set"] == 1

    before = {host: server.stats() for host, server in sims.items()}
    again = apply(tmp_path, inv).assert_ok()
    for host, server in sims.items():
        assert module_result(again, host)["changed"] is False
        after = server.stats()
        assert after["reloads"] == before[host]["reloads"], f"{host}: no change, no reload"
        assert after["writes"] == before[host]["writes"], f"{host}: a re-run writes nothing"
        # a constant, small number of requests per host, whatever the number of strategies
        assert after["requests"] - before[host]["requests"] <= 4
        assert not again.entries(HANDLER, host), f"{host}: no change, the handler must not run"
    assert "changed=0" in again.stdout


def test_check_mode_writes_nothing_and_shows_the_diff(tmp_path, sims):
    inv = inventory(tmp_path, sims)
    outcome = apply(tmp_path, inv, check=True, diff=True).assert_ok()
    for host, server in sims.items():
        result = module_result(outcome, host)
        assert result["changed"] is True
        assert result["diff"]
        assert sorted(result["plan"]["create"]) == (["bulk", "gmail"] if host == "mx1" else ["bulk", "gmail", "warmup"])
        stats = server.stats()
        assert stats["writes"] == 0 and stats["reloads"] == 0, f"{host}: check mode sent a write: {stats}"
        # the handler runs in check mode too, and sends nothing
        assert outcome.status(HANDLER, host) == "changed"
        assert sorted(stored(server)) == ["default"]


def test_purge_through_the_role_deletes_what_no_layer_names_and_reload_can_be_turned_off(tmp_path, sims):
    for server in sims.values():
        server.reset(objects=[{"name": "stray", "description": "not in any layer", "ehloHostname": None,
                               "sourceIps": {}, **DEFAULTS_MS}])
    inv = inventory(tmp_path, sims, group_extra={
        "stalwart_mta_connection_strategies_purge": True,
        "stalwart_mta_connection_strategies_reload": False,
        # the seeded default is named by the outbound strategy on a real server: keep it listed
        "stalwart_mta_connection_strategies__00_base": [{"name": "default"}],
    })
    outcome = apply(tmp_path, inv).assert_ok()
    for host, server in sims.items():
        names = sorted(stored(server))
        assert "stray" not in names, f"{host}: purge kept a strategy no layer names"
        assert names == (["bulk", "default", "gmail"] if host == "mx1" else ["bulk", "default", "gmail", "warmup"])
        assert "stray" in module_result(outcome, host)["plan"]["delete"]
        assert server.stats()["reloads"] == 0, f"{host}: stalwart_mta_connection_strategies_reload: false"
        # the task that changed something notified nothing (the choice is made when it notifies)
        assert outcome.entries(HANDLER, host) == []


LEGACY_OUTBOUND = {"connection": {"match": {"0": {"if": "rcpt_domain == 'example.net'", "then": "'legacy'"}},
                                  "else": "'default'"}}


def test_purge_keeps_what_the_outbound_expression_names_unless_the_role_forces_it(tmp_path, sims):
    legacy = {"name": "legacy", "description": "named by the outbound expression", "ehloHostname": None,
              "sourceIps": {}, **DEFAULTS_MS}
    for server in sims.values():
        server.reset(objects=[legacy], outbound=LEGACY_OUTBOUND)
    purge = {"stalwart_mta_connection_strategies_purge": True}

    kept = apply(tmp_path, inventory(tmp_path, sims, group_extra=purge)).assert_ok()
    for host, server in sims.items():
        result = module_result(kept, host)
        assert result["plan"]["delete"] == [], f"{host}: purge without force deleted {result['plan']['delete']}"
        assert "legacy" in " ".join(result.get("warnings") or []), f"{host}: no warning names the kept strategy"
        assert {"default", "legacy"} <= set(stored(server))

    forced = apply(tmp_path, inventory(tmp_path, sims, group_extra={
        **purge, "stalwart_mta_connection_strategies_force": True})).assert_ok()
    for host, server in sims.items():
        assert sorted(module_result(forced, host)["plan"]["delete"]) == ["default", "legacy"]
        names = sorted(stored(server))
        assert names == (["bulk", "gmail"] if host == "mx1" else ["bulk", "gmail", "warmup"]), names
        assert server.stats()["objects_destroyed"] == 2


def test_the_module_and_the_handler_run_on_the_stalwart_delegate_to_host(tmp_path, sims):
    inv = inventory(tmp_path, sims, group_extra={"stalwart_delegate_to": "ctl"})
    # the servers cannot be connected to (nothing listens on port 1): a task that ran on them
    # rather than on ctl would be unreachable
    hosts = {
        "mailservers": {"hosts": {name: {"stalwart_url": server.url} for name, server in sims.items()},
                        "vars": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1}},
        "controllers": {"hosts": {"ctl": {"ansible_connection": "local",
                                          "ansible_python_interpreter": sys.executable}}},
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    outcome = apply(tmp_path, inv).assert_ok()
    for host, server in sims.items():
        assert module_result(outcome, host)["changed"] is True
        assert f"changed: [{host} -> ctl]" in outcome.stdout, outcome.output()
        assert outcome.status(HANDLER, host) == "changed"
        assert "bulk" in stored(server)
        assert server.stats()["reloads"] == 1
    handler_output = outcome.stdout.split("RUNNING HANDLER", 1)[1]
    assert all(f"[{host} -> ctl]" in handler_output for host in sims), outcome.output()


BAD_INPUTS = [
    # (label, role vars, words the failure must contain)
    ("purge-not-a-bool", {"stalwart_mta_connection_strategies_purge": "maybe"},
     ["stalwart_mta_connection_strategies_purge"]),
    ("item-without-name", {"stalwart_mta_connection_strategies": [{"connect_timeout": "1m"}]},
     ["name"]),
    ("source-ip-without-ip", {"stalwart_mta_connection_strategies": [
        {"name": "s", "source_ips": [{"ehlo_hostname": "a.example.org"}]}]},
     ["ip", "source_ip"]),
    ("suffix-layer-unknown-key", {"stalwart_mta_connection_strategies__20_host": [
        {"name": "bulk", "conect_timeout": "1m"}]},
     ["stalwart_mta_connection_strategies__20_host[0]", "bulk", "conect_timeout"]),
    ("suffix-layer-not-a-list", {"stalwart_mta_connection_strategies__20_host": {"name": "bulk"}},
     ["stalwart_mta_connection_strategies__20_host", "must be a list"]),
    ("suffix-layer-bad-duration", {"stalwart_mta_connection_strategies__20_host": [
        {"name": "bulk", "connect_timeout": "soon"}]},
     ["bulk", "connect_timeout"]),
    # an unquoted yes is a boolean in YAML: the message says so and how to quote it, in the plain
    # list (which the role's argument spec would quietly turn into "True") and in a layer
    ("name-unquoted-yes", {"stalwart_mta_connection_strategies": [{"name": True}]},
     ["stalwart_mta_connection_strategies[0]", "must be a string", "quote it"]),
    ("layer-name-unquoted-no", {"stalwart_mta_connection_strategies__20_host": [{"name": False}]},
     ["stalwart_mta_connection_strategies__20_host[0]", "must be a string", "quote it"]),
    # a list is not a description: refused (Ansible's str would have stored "['x', 'y']")
    ("description-a-list", {"stalwart_mta_connection_strategies": [{"name": "s", "description": ["x", "y"]}]},
     ["'s'", "description", "expected a string"]),
    # malformed routes, and route layers the argument spec cannot name: refused before the
    # strategies step writes the (valid) strategy of the list
    ("route-if-empty", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                        "stalwart_mta_connection_routes": [{"if": "", "strategy": "x9"}]},
     ["stalwart_mta_connection_routes[0]", "if must be a non-empty string"]),
    ("route-strategy-empty", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                              "stalwart_mta_connection_routes": [{"if": "a == b", "strategy": ""}]},
     ["stalwart_mta_connection_routes[0]", "strategy must be a non-empty string"]),
    # (ansible-core 2.16's argument validation refuses this one first, in words of its own)
    ("route-strategy-null", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                             "stalwart_mta_connection_routes": [{"if": "a == b", "strategy": None}]},
     ["stalwart_mta_connection_routes", "strategy"]),
    ("route-layer-without-strategy", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                                      "stalwart_mta_connection_routes__5": [{"if": "a == b"}]},
     ["stalwart_mta_connection_routes__5[0]", "strategy must be a non-empty string"]),
    ("route-layer-a-dict", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                            "stalwart_mta_connection_routes__5": {"if": "a == b", "strategy": "x9"}},
     ["stalwart_mta_connection_routes__5 must be a list of routes"]),
    ("route-name-without-literal", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                                    "stalwart_mta_connection_routes": [{"if": "a == b", "strategy": "it's \"x\""}]},
     ["stalwart_mta_connection_routes[0]", "cannot be written as a string literal"]),
    ("route-default-a-list", {"stalwart_mta_connection_strategies": [{"name": "x9"}],
                              "stalwart_mta_connection_route_default": ["x9"]},
     ["stalwart_mta_connection_route_default", "non-empty string (a strategy name)", "['x9']"]),
    # the deliverability check's variables: refused before any DNS query (no resolver here would answer)
    ("deliverability-on", {"stalwart_deliverability_check": True}, ["stalwart_deliverability_check", "off, warn, fail"]),
    ("deliverability-unknown-check", {"stalwart_deliverability_check": "warn",
                                      "stalwart_deliverability_checks": ["spf"]},
     ["stalwart_deliverability_checks", "spf"]),
    ("deliverability-public-ips-family", {"stalwart_deliverability_check": "warn",
                                          "stalwart_deliverability_probe_bind": False,
                                          "stalwart_deliverability_public_ips": {"10.0.0.5": "2001:db8::5"}},
     ["public_ips[10.0.0.5]", "family"]),
    ("deliverability-bad-ip", {"stalwart_deliverability_check": "fail", "stalwart_deliverability_probe_bind": False,
                               "stalwart_mta_connection_strategies": [{"name": "warmup",
                                                                       "source_ips": [{"ip": "192.0.2.300"}]}]},
     ["strategies[0] ('warmup')", "source_ips[0].ip", "not an IP address"]),
]


def test_bad_variables_fail_before_any_request(tmp_path, sim):
    tasks = []
    for label, role_vars, _words in BAD_INPUTS:
        tasks.append({"block": [{"name": label, "ansible.builtin.include_role": {"name": ROLE},
                                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN, **role_vars}}],
                      "rescue": [{"name": f"caught {label}",
                                  "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}}]})
    playbook = [{"name": "bad input", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    outcome = run_playbook(tmp_path, playbook)
    for label, _role_vars, words in BAD_INPUTS:
        message = outcome.result(f"caught {label}")["msg"]
        for word in words:
            assert word in message, f"{label}: {word!r} not in {message!r}"
    assert sim.stats()["requests"] == 0
    assert sorted(stored(sim)) == ["default"]
    assert "admin-token" not in outcome.stdout + outcome.stderr


def test_the_roles_own_action_outside_the_role_fails_saying_so_before_any_request(tmp_path, sim):
    """The usual run's action reads the role's lists (vars/main.yml) from the host's variables: in a
    play of its own it has none, and says that it runs inside the role only, sending nothing."""
    playbook = [{"name": "no role", "hosts": "localhost", "gather_facts": False,
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                          "stalwart_mta_connection_strategies": [{"name": "bulk"}]},
                 "tasks": [{"name": "outside", ROLE_ACTION: None, "ignore_errors": True}]}]
    outcome = run_playbook(tmp_path, playbook)
    result = outcome.result("outside")
    assert result.get("failed") is True, outcome.output()
    assert "runs inside the role stalwart.mail.mta_connection_strategies only" in result["msg"], result["msg"]
    assert sim.stats()["requests"] == 0
    assert sorted(stored(sim)) == ["default"]


def run_role(tmp_path, sim, **role_vars):
    """The role on localhost against ``sim`` (errors kept: the outcome tells)."""
    playbook = [{"name": "role", "hosts": "localhost", "gather_facts": False, "roles": [{"role": ROLE}],
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN, **role_vars}}]
    return run_playbook(tmp_path, playbook)


def test_a_run_that_fails_part_way_still_reloads_what_it_applied(tmp_path, sim):
    sim.refuse(["refused"])  # the server refuses this one; the other is applied
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "applied"}, {"name": "refused"}])
    assert outcome.rc != 0, outcome.output()
    result = outcome.result(APPLY)
    assert result["failed"] is True and result["changed"] is True
    assert result["applied"]["create"] == ["applied"]
    assert sorted(stored(sim)) == ["applied", "default"]
    assert sim.stats()["reloads"] == 1, "the applied strategy must reach the running server"
    assert outcome.status(HANDLER) == "changed"
    assert "refused" in outcome.result(RESCUE_FAIL)["msg"]


def test_a_routing_step_that_fails_after_the_strategies_were_applied_still_reloads_them(tmp_path, sim):
    """With routing, the strategies step applies (and notifies), then the routing step fails on a
    route to a strategy that exists nowhere: the rescue says an earlier step applied changes, and
    the handler reloads them before the host fails."""
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "applied"}],
                       stalwart_mta_connection_routes=[{"if": "rcpt_domain == 'gmail.com'", "strategy": "nowhere"}])
    assert outcome.rc != 0, outcome.output()
    assert outcome.result(f"{ROLE} : Route mail to the strategies")["missing"] == ["nowhere"]
    assert "applied" in stored(sim) and sim.stats()["reloads"] == 1
    assert outcome.result(RESCUE_RELOAD)["msg"] == ("The run failed after an earlier step applied changes: the server "
                                                    "reloads them before the host fails")
    assert outcome.status(HANDLER) == "changed"
    assert "nowhere" in outcome.result(RESCUE_FAIL)["msg"]
    # the module's advice (assume_present, check_references) is for its own tasks: the role says its way
    assert outcome.result(RESCUE_FAIL)["msg"].endswith(
        "Through the role: add the strategy to stalwart_mta_connection_strategies (or one of its __<suffix> layers), "
        "or route elsewhere"), outcome.result(RESCUE_FAIL)["msg"]


def test_a_run_that_applied_nothing_does_not_reload(tmp_path, sim):
    sim.refuse(["refused"])
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "refused"}])
    assert outcome.rc != 0
    assert sim.stats()["reloads"] == 0
    assert outcome.status(RESCUE_RELOAD) == "ok"  # ran, but not changed: it notified nothing


def test_a_run_that_applied_nothing_leaves_the_plays_own_handlers_alone(tmp_path, sim):
    """The rescue flushes handlers only to reload what the run applied: a run that applied nothing
    (a wrong key) must not run the play's other notified handlers on a host that then fails, as
    Ansible would not; one that applied something does flush them, with its reload."""
    def playbook(token, strategies):
        return [{"name": "role", "hosts": "localhost", "gather_facts": False,
                 "vars": {"stalwart_url": sim.url, "stalwart_token": token,
                          "stalwart_mta_connection_strategies": strategies},
                 "tasks": [{"name": "change something else", "ansible.builtin.command": "true",
                            "changed_when": True, "notify": "user handler"},
                           {"name": "apply", "ansible.builtin.include_role": {"name": ROLE}}],
                 "handlers": [{"name": "user handler", "ansible.builtin.debug": {"msg": "USER HANDLER RAN"}}]}]
    outcome = run_playbook(tmp_path, playbook("wrong-token", [{"name": "one"}]))
    assert outcome.rc != 0, outcome.output()
    assert "USER HANDLER RAN" not in outcome.stdout, outcome.output()
    # ansible-core 2.19 and later quote the lines above the failing task's name: not a comment
    # about another case (any_errors_fatal, changes reloaded) under a failure that applied nothing
    assert "any_errors_fatal" not in outcome.stdout + outcome.stderr, outcome.output()
    assert outcome.status(f"{ROLE} : Reload now, before the host fails") == "skipped"
    assert sim.stats()["reloads"] == 0
    sim.refuse(["refused"])
    outcome = run_playbook(tmp_path, playbook(ADMIN_TOKEN, [{"name": "applied"}, {"name": "refused"}]))
    assert outcome.rc != 0, outcome.output()
    assert sim.stats()["reloads"] == 1 and "USER HANDLER RAN" in outcome.stdout


def test_a_handler_of_the_same_name_elsewhere_in_the_play_does_not_take_the_roles_reload(tmp_path, sim):
    """A notification by name reaches only the last handler loaded with that name: a play's (or
    another role's) handler named "Reload Stalwart settings" ran instead of the role's, and the
    changes were stored but never applied. The role notifies its handler's listen topic."""
    playbook = [{"name": "role", "hosts": "localhost", "gather_facts": False,
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                          "stalwart_mta_connection_strategies": [{"name": "one"}]},
                 "roles": [{"role": ROLE}],
                 "handlers": [{"name": "Reload Stalwart settings", "ansible.builtin.debug": {"msg": "PLAY HANDLER RAN"}}]}]
    outcome = run_playbook(tmp_path, playbook).assert_ok()
    assert "one" in stored(sim) and sim.stats()["reloads"] == 1, outcome.output()
    assert "PLAY HANDLER RAN" not in outcome.stdout, outcome.output()


def test_the_reload_is_chosen_by_the_entry_of_the_role_that_changed_something(tmp_path, sim):
    """The role twice in one play: the handler runs once, with the variables of the last entry, whose
    stalwart_mta_connection_strategies_reload: false cancelled the reload of the first entry's
    changes. The choice is now made when a task notifies."""
    def playbook(first, second):
        return [{"name": "role twice", "hosts": "localhost", "gather_facts": False,
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN},
                 "roles": [{"role": ROLE, "vars": {"stalwart_mta_connection_strategies": first,
                                                   "stalwart_mta_connection_strategies_reload": True}},
                           {"role": ROLE, "vars": {"stalwart_mta_connection_strategies": second,
                                                   "stalwart_mta_connection_strategies_reload": False}}]}]
    run_playbook(tmp_path, playbook([{"name": "one"}], [{"name": "one"}])).assert_ok()
    assert "one" in stored(sim) and sim.stats()["reloads"] == 1
    # and the other way round: the entry that changed something asked for no reload
    run_playbook(tmp_path, playbook([{"name": "one"}], [{"name": "one"}, {"name": "two"}])).assert_ok()
    assert "two" in stored(sim) and sim.stats()["reloads"] == 1


def test_the_rescue_says_that_what_the_routing_step_wrote_is_reloaded(tmp_path, sim):
    """The routing step wrote the connection expression, then the deletes step failed: the rescue
    said "failed before applying anything: nothing to reload", looking at the first step only,
    while the handler did reload the expression."""
    sim.reset(objects=[{"name": "old", "description": None, "ehloHostname": None, "sourceIps": {}, **DEFAULTS_MS}])
    sim.fault("http403", match="write", body_contains='"destroy"')
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "default"}],
                       stalwart_mta_connection_strategies_purge=True,
                       stalwart_mta_connection_routes=[{"if": "rcpt_domain == 'gmail.com'", "strategy": "default"}])
    assert outcome.rc != 0, outcome.output()
    assert outcome.status(f"{ROLE} : Route mail to the strategies") == "changed"
    assert "old" in stored(sim) and sim.stats()["reloads"] == 1
    assert outcome.result(RESCUE_RELOAD)["msg"] == ("The run failed after an earlier step applied changes: the server "
                                                    "reloads them before the host fails")
    # with the reload off, the rescue says the changes are not reloaded, and nothing is flushed
    sim.reset(objects=[{"name": "old", "description": None, "ehloHostname": None, "sourceIps": {}, **DEFAULTS_MS}])
    sim.fault("http403", match="write", body_contains='"destroy"')
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "default"}],
                       stalwart_mta_connection_strategies_purge=True, stalwart_mta_connection_strategies_reload=False,
                       stalwart_mta_connection_routes=[{"if": "rcpt_domain == 'gmail.com'", "strategy": "default"}])
    assert outcome.rc != 0 and sim.stats()["reloads"] == 0, outcome.output()
    assert outcome.result(RESCUE_RELOAD)["msg"] == ("The run failed after an earlier step applied changes: they are not "
                                                    "reloaded (stalwart_mta_connection_strategies_reload is false)")
    assert outcome.status(f"{ROLE} : Reload now, before the host fails") == "skipped"


def test_the_plays_module_defaults_for_the_group_reach_the_role_and_its_variables_win(tmp_path, sim):
    """A play that sets the connection once for the action group (the README's way for the
    modules) applies the role with it: what a stalwart_* variable sets wins, option by option,
    and the group's values supply the rest. (The role's own module_defaults replaced the play's
    group entry whole, and left the role without url.)"""
    def playbook(group, role_vars):
        return [{"name": "role", "hosts": "localhost", "gather_facts": False,
                 "module_defaults": {"group/stalwart.mail.jmap": group},
                 "vars": {"stalwart_mta_connection_strategies": [{"name": "from-group-defaults"}], **role_vars},
                 "roles": [{"role": ROLE}]}]
    outcome = run_playbook(tmp_path, playbook({"url": sim.url, "token": ADMIN_TOKEN}, {}))
    outcome.assert_ok()
    assert "from-group-defaults" in stored(sim) and sim.stats()["reloads"] == 1
    # the variable's url and the group's token; then the variable's token over the group's wrong one
    outcome = run_playbook(tmp_path, playbook({"token": ADMIN_TOKEN, "url": "http://127.0.0.1:9"},
                                              {"stalwart_url": sim.url, "stalwart_token": "",
                                               "stalwart_mta_connection_strategies": [{"name": "second"}]}))
    outcome.assert_ok()
    outcome = run_playbook(tmp_path, playbook({"url": sim.url, "token": "wrong-token"},
                                              {"stalwart_token": ADMIN_TOKEN,
                                               "stalwart_mta_connection_strategies": [{"name": "third"}]}))
    outcome.assert_ok()
    assert {"second", "third"} <= set(stored(sim)) and sim.stats()["reloads"] == 3


def test_a_value_a_layer_omits_keeps_the_earlier_layers_value_and_a_falsy_route_default_is_not_ignored(tmp_path, sim):
    """description: "{{ x | default(omit) }}" in a later layer threw the earlier layer's value away
    (the create got the server's default), and a route default of no or 0 was taken as not set, so
    the routing was silently left alone."""
    layers = {"stalwart_mta_connection_strategies": [{"name": "o", "description": "from the plain list",
                                                      "data_timeout": "15m"}],
              "stalwart_mta_connection_strategies__20_host": [
                  {"name": "o", "description": "{{ host_description | default(omit) }}",
                   "data_timeout": "{{ host_data_timeout | default(omit) }}"}]}
    run_role(tmp_path, sim, **layers).assert_ok()
    assert stored(sim)["o"]["description"] == "from the plain list" and stored(sim)["o"]["dataTimeout"] == 900000
    again = run_role(tmp_path, sim, **layers).assert_ok()
    assert again.result(APPLY)["changed"] is False
    # a route default given as a YAML boolean is refused with the advice to quote it, before any write
    before = sim.stats()["writes"]
    refused = run_role(tmp_path, sim, stalwart_mta_connection_route_default=False,
                       stalwart_mta_connection_strategies=[{"name": "new"}])
    assert refused.rc != 0 and "quote it" in refused.output(), refused.output()
    assert sim.stats()["writes"] == before
    # and 0 is the name '0', as a strategy's name 0 is
    routed = run_role(tmp_path, sim, stalwart_mta_connection_route_default=0,
                      stalwart_mta_connection_strategies=[{"name": 0}]).assert_ok()
    assert routed.status(f"{ROLE} : Route mail to the strategies") == "changed"
    assert sim.dump()["outbound"]["connection"]["else"] == "'0'"


def test_a_numeric_name_is_taken_as_text_and_a_null_list_as_empty(tmp_path, sim):
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=None,
                       stalwart_mta_connection_strategies__20_host=[{"name": 2024, "connect_timeout": "1m"}])
    outcome.assert_ok()
    assert stored(sim)["2024"]["connectTimeout"] == 60000
    again = run_role(tmp_path, sim, stalwart_mta_connection_strategies=None,
                     stalwart_mta_connection_strategies__20_host=[{"name": "2024", "connect_timeout": "60s"}])
    assert again.assert_ok().result(APPLY)["changed"] is False


def test_a_numeric_name_is_taken_as_text_in_routes_and_the_route_default_too(tmp_path, sim):
    """A route's strategy and the route default take a number as its text, as the strategy list does."""
    role_vars = {"stalwart_mta_connection_strategies": [{"name": 2024}, {"name": 7}],
                 "stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'", "strategy": 2024}],
                 "stalwart_mta_connection_route_default": 7}
    run_role(tmp_path, sim, **role_vars).assert_ok()
    assert {"2024", "7"} <= set(stored(sim))
    assert sim.dump()["outbound"]["connection"] == {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'2024'"}},
                                                    "else": "'7'"}
    again = run_role(tmp_path, sim, **role_vars).assert_ok()
    assert "changed=0" in again.stdout, again.output()


def test_connection_variables_left_unset_fall_back_to_the_environment(tmp_path, sim):
    """The role passes only the stalwart_* connection variables that are set: the others are
    omitted, so that the modules' environment fallbacks apply (the module task and the handler).
    A variable that is set wins over the environment."""
    playbook = [{"name": "role", "hosts": "localhost", "gather_facts": False, "roles": [{"role": ROLE}],
                 "vars": {"stalwart_mta_connection_strategies": [{"name": "from-env"}]}}]
    outcome = run_playbook(tmp_path, playbook, env={"STALWART_URL": sim.url, "STALWART_TOKEN": ADMIN_TOKEN})
    outcome.assert_ok()
    assert "from-env" in stored(sim) and sim.stats()["reloads"] == 1
    assert outcome.status(HANDLER) == "changed"
    # stalwart_token set (wrong) beats STALWART_TOKEN (right): the server refuses it
    playbook[0]["vars"]["stalwart_token"] = "not-the-token"
    refused = run_playbook(tmp_path, playbook, env={"STALWART_URL": sim.url, "STALWART_TOKEN": ADMIN_TOKEN})
    assert refused.rc != 0 and "401" in refused.result(APPLY)["msg"], refused.output()


@pytest.mark.parametrize("how", ["roles", "import_role", "include_role"])
def test_the_role_ends_itself_only_whatever_way_it_is_called(tmp_path, sim, how):
    """After the usual run the role ends itself for the host (meta end_role on ansible-core 2.18.3
    and later): the play's next task runs, for roles:, import_role and include_role alike, and the
    handler still reloads at the end of the play. Older versions skip the role's two tasks after
    the module task instead, each a worker per host (docs/user-guide.md, "Tasks per host")."""
    role_vars = {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                 "stalwart_mta_connection_strategies": [{"name": "ended"}]}
    after = {"name": "After the role", "ansible.builtin.debug": {"msg": "still here"}}
    play = {"name": "role", "hosts": "localhost", "gather_facts": False, "vars": role_vars}
    if how == "roles":
        play.update(roles=[{"role": ROLE}], tasks=[after])
    else:
        play["tasks"] = [{"name": "The role", f"ansible.builtin.{how}": {"name": ROLE}}, after]
    outcome = run_playbook(tmp_path, [play])
    outcome.assert_ok()
    assert outcome.status(APPLY) == "changed" and outcome.status("After the role") == "ok"
    steps = outcome.entries(f"{ROLE} : Check deliverability before, or route mail after, applying the strategies")
    # ended before the include (2.18.3 and later), or the include and the block's last task
    # skipped (2.16 to 2.18.2)
    assert [entry["status"] for entry in steps] == ([] if ROLE_ENDS_ITSELF else ["skipped"])
    assert [entry["status"] for entry in outcome.entries(IGNORED_RELOAD)] == ([] if ROLE_ENDS_ITSELF else ["skipped"])
    assert "ended" in stored(sim) and sim.stats()["reloads"] == 1
    # no warning of its own (2.16 and 2.17 warned of the empty tasks/noop.yml on every run)
    assert "WARNING" not in outcome.stdout + outcome.stderr, outcome.output()


@pytest.mark.parametrize("off", [False, "False", "off"])
def test_every_spelling_of_off_the_argument_spec_accepts_skips_the_check(tmp_path, sim, off):
    """stalwart_deliverability_check off, as the string, as a bare YAML off (false) or as the
    string "False" (-e): the role's one module task applies the list and no step of the check
    runs."""
    outcome = run_role(tmp_path, sim, stalwart_deliverability_check=off,
                       stalwart_mta_connection_strategies=[{"name": "unchecked"}])
    outcome.assert_ok()
    assert outcome.status(APPLY) == "changed" and "unchecked" in stored(sim)
    assert not outcome.entries(f"{ROLE} : Check the source IPs and EHLO names before anything is written")


@pytest.mark.parametrize("purge, purged", [("False", False), ("no", False), (False, False), ("True", True)])
def test_purge_given_as_a_string_means_what_it_says_on_the_steps_path_too(tmp_path, sim, purge, purged):
    """``-e stalwart_mta_connection_strategies_purge=False`` makes a string, which argument
    validation accepts as a bool but leaves as it is. With the deliverability check on (the steps
    path, here with DNS unreachable, so every finding is unknown), "False" once purged: it was
    combined with ``and`` in a template, where any non-empty string is true."""
    sim.reset(objects=[{"name": "stray"}])
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies_purge=purge,
                       stalwart_mta_connection_strategies=[{"name": "listed"}],
                       stalwart_deliverability_check="warn", stalwart_deliverability_probe_bind=False,
                       stalwart_deliverability_resolver={"nameservers": ["127.0.0.1"], "port": 9, "lifetime": 0.2,
                                                         "budget": 1})
    outcome.assert_ok()
    assert outcome.entries(f"{ROLE} : Check the source IPs and EHLO names against DNS"), outcome.output()
    assert ("stray" not in stored(sim)) is purged and "listed" in stored(sim), sorted(stored(sim))


ROUTE = f"{ROLE} : Route mail to the strategies"


@pytest.mark.parametrize("routing, routed", [
    # a routes layer alone, with no plain list: found by its name, as the strategy layers are
    ({"stalwart_mta_connection_routes__10_site": [{"if": "rcpt_domain == 'gmail.com'", "strategy": "gmail"}]},
     {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'default'"}),
    # a route default alone: routing too, every message to it
    ({"stalwart_mta_connection_route_default": "bulk"}, {"match": {}, "else": "'bulk'"}),
    # set but empty, or absent: no routing, the usual run, the expression left alone
    ({"stalwart_mta_connection_route_default": ""}, None),
    ({}, None),
])
def test_routing_is_on_exactly_when_a_routes_layer_or_a_route_default_is_set(tmp_path, sims, routing, routed):
    """The usual run's module task runs exactly when neither routing nor the deliverability check
    is on; otherwise steps.yml runs, and its routing step writes the connection expression."""
    before = sims["mx1"].dump()["outbound"]["connection"]
    outcome = apply(tmp_path, inventory(tmp_path, sims, group_extra=routing)).assert_ok()
    for host, server in sims.items():
        connection = server.dump()["outbound"]["connection"]
        if routed is None:
            assert outcome.status(APPLY, host) == "changed" and not outcome.entries(ROUTE), outcome.output()
            assert connection == before
        else:
            assert outcome.status(ROUTE, host) == "changed", outcome.output()
            assert connection == routed


def test_a_routes_variable_set_to_an_empty_list_counts_as_routing(tmp_path, sims):
    """As documented: a route variable that is set, even to [], manages the routing, which then
    has no routes and sends all mail to the route default ('default' here)."""
    for server in sims.values():
        server.reset(outbound={"connection": {"match": {"0": {"if": "rcpt_domain == 'example.net'", "then": "'default'"}},
                                              "else": "'default'"}})
    outcome = apply(tmp_path, inventory(tmp_path, sims, group_extra={"stalwart_mta_connection_routes": []})).assert_ok()
    for host, server in sims.items():
        assert outcome.status(ROUTE, host) == "changed", outcome.output()
        assert server.dump()["outbound"]["connection"] == {"match": {}, "else": "'default'"}


def test_the_usual_run_and_the_strategies_step_run_the_module_alike():
    """The usual run's task (tasks/main.yml) reads the variables in its action, in Python; the
    strategies step of steps.yml templates the same into the module's arguments. They must not drift
    apart: the same keywords, and the action reads what the templates read (the same varnames
    patterns, the same role lists from vars/main.yml, which it looks up rather than copies). What the
    action computes is held to the templates by the role's tests of each case: layers
    (test_layers_merge_by_suffix..., test_a_layer_named_with_one_underscore...), the connection and
    module_defaults (test_the_plays_module_defaults..., test_a_plays_module_defaults_for_a_module...,
    test_connection_variables_left_unset...), when it leaves the run to the steps
    (test_routing_is_on_exactly_when..., test_every_spelling_of_off...), purge
    (test_purge_given_as_a_string...)."""
    role = Path(__file__).resolve().parents[2] / "roles" / "mta_connection_strategies"
    main = (role / "tasks" / "main.yml").read_text()
    block = yaml.safe_load(main)[0]["block"]
    usual = next(task for task in block if ROLE_ACTION in task)
    stepped = next(task for task in yaml.safe_load((role / "tasks" / "steps.yml").read_text()) if MODULE in task)
    assert usual.pop(ROLE_ACTION) is None  # no arguments: nothing to template
    module_args = stepped.pop(MODULE)
    stepped.pop("when")
    assert usual == stepped
    assert module_args["reload"] is False
    assert module_args["force"] == "{{ stalwart_mta_connection_strategies_force }}"
    # the patterns and the layers' name, as the block's templates give them
    assert re.findall(r"query\('ansible\.builtin\.varnames', '([^']+)'\)", main) == [
        role_action.LAYERS, role_action.ROUTES]
    assert f"merge_strategies(layers_of='{role_action.LAYERS_OF}')" in main
    # the role's own lists, which the action reads from the host's variables: each one the role
    # defines as a list, and uses in the templates of the steps' path too
    role_vars = yaml.safe_load((role / "vars" / "main.yml").read_text())
    read = re.findall(r'_role_list\(\s*task_vars, "(\w+)"\)', Path(role_action.__file__).read_text())
    assert sorted(read) == ["mta_connection_strategies_off", "mta_connection_strategies_options",
                            "mta_connection_strategies_own_options", "mta_connection_strategies_variables"]
    templates = "".join(path.read_text() for path in sorted((role / "tasks").glob("*.yml")))
    templates += role_vars["mta_connection_strategies_connection"]
    for name in read:
        assert isinstance(role_vars[name], list) and name in templates, name
    assert len(role_vars["mta_connection_strategies_options"]) == len(role_vars["mta_connection_strategies_variables"])
    # the role's own action group: the action reads the variables in its place
    runtime = yaml.safe_load((role.parents[1] / "meta" / "runtime.yml").read_text())
    assert role_action.ROLE_GROUP == "stalwart.mail.role_connection" and "role_connection" in runtime["action_groups"]
    assert "group/stalwart.mail.role_connection" in yaml.safe_load(main)[0]["module_defaults"]


# --- the role under the play's error handling (any_errors_fatal, ignore_errors) -------------------

IGNORED_RELOAD = f"{ROLE} : Have the handler reload what a step applied before its ignored failure"


def test_any_errors_fatal_stops_every_host_saying_why_after_reloading_what_each_applied(tmp_path, sims):
    """mx2's server refuses its one own strategy: with any_errors_fatal, ansible-core 2.17 and
    later send mx1 into the rescue too, with no failed result of its own. The rescue failed there
    on an undefined ansible_failed_result; now each host stops with its reason, and both servers
    have reloaded what was stored on them. (ansible-core 2.16 stops the play at the rescue's
    flush_handlers, before any reload: a limitation the user guide states.)"""
    sims["mx2"].refuse(["warmup"])
    playbook = [{**SITE[0], "any_errors_fatal": True}]
    outcome = run_playbook(tmp_path, playbook, extra_args=["-i", str(inventory(tmp_path, sims))])
    assert outcome.rc != 0
    assert "ansible_failed_result" not in outcome.stdout + outcome.stderr, outcome.output()
    assert sorted(stored(sims["mx1"])) == ["bulk", "default", "gmail"]
    assert sorted(stored(sims["mx2"])) == ["bulk", "default", "gmail"]
    if not RESCUES_EVERY_HOST:
        assert [sims[host].stats()["reloads"] for host in ("mx1", "mx2")] == [0, 0], outcome.output()
        assert outcome.status(RESCUE_RELOAD, "mx2") == "changed" and not outcome.entries(RESCUE_RELOAD, "mx1")
        assert not outcome.entries(RESCUE_FAIL), outcome.output()
        return
    assert [sims[host].stats()["reloads"] for host in ("mx1", "mx2")] == [1, 1], outcome.output()
    assert "warmup" in outcome.result(RESCUE_FAIL, "mx2")["msg"]
    stopped = outcome.result(RESCUE_FAIL, "mx1")["msg"]
    assert stopped == ("Stopped because another host failed and the play has any_errors_fatal (what this host had "
                       "applied was reloaded)"), stopped


def test_a_host_stopped_by_any_errors_fatal_before_it_wrote_says_it_applied_nothing(tmp_path, sims):
    """Both hosts route, so both take the steps; mx2's deliverability check fails (its source IPs are
    on no interface here) before anything is written, which stops mx1 before it writes: mx1's
    message said that its run succeeded and what it applied was reloaded. (ansible-core 2.16 lets
    mx1 go on through its steps while mx2 is in its rescue: the user guide names 2.17 and later.)"""
    playbook = [{**SITE[0], "any_errors_fatal": True}]
    root = inventory(tmp_path, sims, group_extra={"stalwart_mta_connection_route_default": "gmail"})
    (root / "host_vars" / "mx2.yml").write_text(yaml.safe_dump({
        **HOST_VARS["mx2"], "stalwart_deliverability_check": "fail", "stalwart_deliverability_checks": ["bind"]}))
    outcome = run_playbook(tmp_path, playbook, extra_args=["-i", str(root)])
    assert outcome.rc != 0
    if not RESCUES_EVERY_HOST:
        assert outcome.status(ROUTE, "mx1") == "changed" and not outcome.entries(RESCUE_FAIL, "mx1"), outcome.output()
        assert outcome.status(RESCUE_FAIL, "mx2") == "failed"
        # mx1 wrote its strategies and its routing, and the play ended before any reload
        assert [sims[host].stats()["writes"] for host in ("mx1", "mx2")] == [2, 0], outcome.output()
        assert [sims[host].stats()["reloads"] for host in ("mx1", "mx2")] == [0, 0], outcome.output()
        return
    assert outcome.result(RESCUE_FAIL, "mx1")["msg"] == (
        "Stopped because another host failed and the play has any_errors_fatal (this host had applied nothing)")
    assert [sims[host].stats()["writes"] for host in ("mx1", "mx2")] == [0, 0], outcome.output()


def test_an_ignored_failure_still_reloads_what_the_run_applied(tmp_path, sim):
    """ignore_errors on the role: its rescue does not run and a failed task notifies no handler,
    so the applied strategy stayed stored and unapplied, and the next run found nothing to change."""
    sim.refuse(["refused"])
    playbook = [{"name": "role", "hosts": "localhost", "gather_facts": False,
                 "roles": [{"role": ROLE, "ignore_errors": True}],
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                          "stalwart_mta_connection_strategies": [{"name": "applied"}, {"name": "refused"}]}}]
    outcome = run_playbook(tmp_path, playbook)
    assert outcome.rc == 0, outcome.output()
    assert outcome.result(APPLY)["failed"] is True and sorted(stored(sim)) == ["applied", "default"]
    assert outcome.status(IGNORED_RELOAD) == "changed"
    assert sim.stats()["reloads"] == 1, outcome.output()


def test_an_ignored_failure_of_the_strategies_step_stops_the_routing(tmp_path, sim):
    """With routing and ignore_errors on the role, a strategies step refused in part went on to
    write the expression, which then routed to the strategy the server had refused."""
    sim.refuse(["refused"])
    before = sim.dump()["outbound"]["connection"]
    playbook = [{"name": "role", "hosts": "localhost", "gather_facts": False,
                 "roles": [{"role": ROLE, "ignore_errors": True}],
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                          "stalwart_mta_connection_strategies": [{"name": "applied"}, {"name": "refused"}],
                          "stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'",
                                                              "strategy": "refused"}]}}]
    outcome = run_playbook(tmp_path, playbook)
    assert outcome.rc == 0, outcome.output()
    assert sorted(stored(sim)) == ["applied", "default"]
    assert sim.dump()["outbound"]["connection"] == before, "the expression must not route to 'refused'"
    assert outcome.status(IGNORED_RELOAD) == "changed"
    assert sim.stats()["reloads"] == 1, outcome.output()


# --- the role's own check mode differs from the command line's ------------------------------------

ROUTE = f"{ROLE} : Route mail to the strategies"
DELETES = f"{ROLE} : Delete what the list sets absent or purges, keeping what the new expression routes to"
OLD_ROUTING = {"connection": {"match": {"0": {"if": "rcpt_domain == 'yahoo.com'", "then": "'old'"}},
                              "else": "'default'"}}


def routed_play(sim, role_keywords, routes):
    return [{"name": "role", "hosts": "localhost", "gather_facts": False,
             "roles": [{"role": ROLE, **role_keywords}],
             "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                      "stalwart_mta_connection_strategies": [{"name": "old", "state": "absent"}, {"name": "warmup"}],
                      "stalwart_mta_connection_routes": routes}}]


def test_check_mode_false_on_the_role_under_check_still_deletes_only_after_the_routing(tmp_path, sim):
    """--check with check_mode: false on the role: its tasks write, while ansible_check_mode says
    check. The role took its order from that variable: the strategies step deleted 'old' before
    the routing step, whose failure (a route to a strategy that exists nowhere) then left the
    expression routing to the deleted strategy."""
    sim.reset(objects=[{"name": "old"}], outbound=OLD_ROUTING)
    outcome = run_playbook(tmp_path, routed_play(sim, {"check_mode": False},
                                                 [{"if": "rcpt_domain == 'gmail.com'", "strategy": "ghost"}]),
                           check=True)
    assert outcome.rc != 0
    assert outcome.result(ROUTE)["missing"] == ["ghost"]
    assert "old" in stored(sim), "deleted while the expression still routes to it"
    assert sim.dump()["outbound"]["connection"] == OLD_ROUTING["connection"]


def test_check_mode_true_on_the_role_predicts_each_change_once_as_a_real_run_makes_it(tmp_path, sim):
    """check_mode: true on the role, without --check: nothing is written, and each step's plan is
    the real run's (the last step predicted the creates of the first a second time)."""
    routes = [{"if": "rcpt_domain == 'gmail.com'", "strategy": "warmup"}]
    sim.reset(objects=[{"name": "old"}], outbound=OLD_ROUTING)
    preview = run_playbook(tmp_path, routed_play(sim, {"check_mode": True}, routes))
    preview.assert_ok()
    assert sim.stats()["writes"] == 0
    done = run_playbook(tmp_path, routed_play(sim, {}, routes))
    done.assert_ok()
    assert sorted(stored(sim)) == ["default", "warmup"]
    for label in (APPLY, ROUTE, DELETES):
        assert preview.result(label)["plan"] == done.result(label)["plan"], label
    assert done.result(DELETES)["plan"] == {"create": [], "update": {}, "delete": ["old"]}


@pytest.mark.skipif(not ROLE_ENDS_ITSELF, reason="tasks/end_role.yml is imported on ansible-core 2.18.3 and later only")
def test_start_at_task_at_the_end_of_the_role_ends_it_without_aborting_the_playbook(tmp_path, sim):
    """With --start-at-task past the module task its result is undefined: the meta task's
    condition failed on it, and a meta task's error aborted the whole playbook, with no recap."""
    play = {"name": "role", "hosts": "localhost", "gather_facts": False, "roles": [{"role": ROLE}],
            "tasks": [{"name": "After the role", "ansible.builtin.debug": {"msg": "still here"}}],
            "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                     "stalwart_mta_connection_strategies": [{"name": "never"}]}}
    outcome = run_playbook(tmp_path, [play], extra_args=[
        "--start-at-task", f"{ROLE} : End the role for the hosts whose module run did it all"])
    outcome.assert_ok()
    assert outcome.status("After the role") == "ok"
    assert sim.stats()["requests"] == 0


def test_start_at_task_at_the_steps_runs_the_steps(tmp_path, sim):
    """Starting at the include of the steps (the module task's result undefined) failed every
    host on that condition; it now runs the steps, as asked (on every ansible-core version)."""
    play = {"name": "role", "hosts": "localhost", "gather_facts": False, "roles": [{"role": ROLE}],
            "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                     "stalwart_mta_connection_strategies": [{"name": "routed"}],
                     "stalwart_mta_connection_route_default": "routed"}}
    outcome = run_playbook(tmp_path, [play], extra_args=[
        "--start-at-task", f"{ROLE} : Check deliverability before, or route mail after, applying the strategies"])
    outcome.assert_ok()
    assert "routed" in stored(sim) and sim.dump()["outbound"]["connection"]["else"] == "'routed'"
    assert sim.stats()["reloads"] == 1


# the -vvv line of an action plugin that sends its task to a module process (_worker_action.py)
OWN_PROCESS = re.compile(r"(stalwart\.mail\.\w+): running the module in a process of its own: (.*)")


def test_a_play_with_become_does_not_become_on_the_controller(tmp_path, sim):
    """Mail servers' plays set become: true for their other roles, and the role's tasks inherit it.
    Those that run on stalwart_delegate_to then ran the module as the become user on the
    controller (sudo there, which may want a password or not exist), each in a process of its own
    instead of the worker. They only speak HTTP: they now run without become. Both paths, and the
    handler: the usual run, then the steps with routing and purge."""
    play = {"name": "role", "hosts": "localhost", "gather_facts": False,
            "become": True, "become_method": "pass_through", "roles": [{"role": ROLE}],
            "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                     "stalwart_mta_connection_strategies": [{"name": "warmup"}]}}
    routed = {**play, "vars": {**play["vars"], "stalwart_mta_connection_strategies_purge": True,
                               "stalwart_mta_connection_strategies": [{"name": "bulk"}],
                               "stalwart_mta_connection_route_default": "bulk"}}
    env = {"ANSIBLE_BECOME_PLUGINS": str(Path(__file__).resolve().parents[1] / "support" / "become_plugins")}
    for plays, kept in (([play], ["default", "warmup"]), ([routed], ["bulk"])):
        outcome = run_playbook(tmp_path, plays, verbosity=3, env=env)
        outcome.assert_ok()
        assert OWN_PROCESS.findall(outcome.stdout) == [], outcome.output()
        assert sorted(stored(sim)) == kept
    assert outcome.status(ROUTE) == "changed" and outcome.status(DELETES) == "changed"
    assert outcome.status(HANDLER) == "changed"


# --- a cluster: several inventory hosts share one server's configuration -----------------------------------


def test_hosts_sharing_a_server_that_route_differently_never_leave_the_expression_on_a_deleted_strategy(tmp_path, sim):
    """Three hosts of one cluster reach one configuration; each routes to its own pool (host_vars)
    and purges. The routing steps all write before any delete step runs (one task at a time), so
    the last writer's expression is on the server: each host's purge must keep what it routes to,
    with a warning that the hosts disagree. (Each purge kept only its own expression's names, and
    the run ended rc=0 with the expression naming a strategy that no longer existed.)"""
    root = tmp_path / "inventory"
    (root / "host_vars").mkdir(parents=True)
    hosts = {"mailservers": {"hosts": {name: {"stalwart_url": sim.url} for name in ("mx1", "mx2", "mx3")},
                             "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                      "stalwart_token": ADMIN_TOKEN,
                                      "stalwart_mta_connection_strategies": [{"name": "shared"}],
                                      "stalwart_mta_connection_strategies_purge": True}}}
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts))
    for name in ("mx1", "mx2", "mx3"):
        (root / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({
            "stalwart_mta_connection_strategies__20_host": [{"name": f"pool-{name}"}],
            "stalwart_mta_connection_route_default": f"pool-{name}"}))
    outcome = run_playbook(tmp_path, SITE, extra_args=["-i", str(root), "--forks", "3"])
    outcome.assert_ok()
    connection = sim.dump()["outbound"]["connection"]
    routed = connection["else"].strip("'")
    assert routed in stored(sim), (connection, sorted(stored(sim)))
    warnings = " ".join(warning for entry in outcome.results for warning in entry["result"].get("warnings") or ())
    assert "the hosts or runs that share this server disagree" in warnings, outcome.output()


@pytest.mark.parametrize("typo", [{"stalwart_mta_connection_strategies_20_host": [{"name": "bulk"}]},
                                  {"stalwart_mta_connection_routes_10_x": [{"if": "true", "strategy": "bulk"}]}])
def test_a_layer_named_with_one_underscore_fails_before_any_request(tmp_path, sim, typo):
    """One underscore instead of two: the layer was left out without a word, and with purge the
    strategies it held were deleted (or the routes it held never written)."""
    sim.reset(objects=[{"name": "bulk"}])
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "bulk"}],
                       stalwart_mta_connection_strategies_purge=True, **typo)
    assert outcome.rc != 0, outcome.output()
    name = next(iter(typo))
    assert f"{name} is not a layer of" in outcome.output(), outcome.output()
    assert sim.stats()["requests"] == 0 and sorted(stored(sim)) == ["bulk", "default"]


def test_routes_without_a_route_default_while_the_list_sets_default_absent_fail_before_any_write(tmp_path, sim):
    """With routes and no route default, the expression's else is 'default': retiring the stock
    strategy in the same list is the same contradiction as an explicit route to it, and fails
    where the routes are checked (it failed only at the routing step, after the strategies step
    had written and the handler reloaded)."""
    outcome = run_role(tmp_path, sim, stalwart_mta_connection_strategies=[{"name": "r-new"},
                                                                          {"name": "default", "state": "absent"}],
                       stalwart_mta_connection_routes=[{"if": "rcpt_domain == 'x.com'", "strategy": "r-new"}])
    assert outcome.rc != 0, outcome.output()
    assert "('default' when it is not set) routes to 'default', which the strategies list sets absent" in \
        outcome.output(), outcome.output()
    assert sim.stats()["writes"] == 0 and sim.stats()["reloads"] == 0 and sorted(stored(sim)) == ["default"]


def test_in_check_mode_the_rescue_does_not_say_that_changes_were_applied(tmp_path, sim):
    """A later step fails in check mode after the strategies step predicted changes: the rescue's
    words are a prediction too (it said the changes were applied and reloaded)."""
    playbook = [{"name": "role", "hosts": "localhost", "gather_facts": False, "roles": [{"role": ROLE}],
                 "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                          "stalwart_mta_connection_strategies": [{"name": "applied"}],
                          "stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'",
                                                              "strategy": "nowhere"}]}}]
    outcome = run_playbook(tmp_path, playbook, check=True)
    assert outcome.rc != 0, outcome.output()
    assert outcome.result(RESCUE_RELOAD)["msg"].endswith(
        "(in check mode: what it says was predicted, nothing was applied or reloaded)"), outcome.result(RESCUE_RELOAD)
    assert sim.stats()["writes"] == 0 and sorted(stored(sim)) == ["default"]


def test_a_plays_module_defaults_for_a_module_reach_the_role_and_a_null_variable_is_not_set(tmp_path, sim):
    """A play's module_defaults keyed by a module's name were replaced whole by the role's own entry
    for that module (so the role ran without url); a connection variable set to null (an empty
    YAML value) masked the play's group value. Both now fall through as documented: a module's
    own entry wins, then the role's variables that are set, then the group, then the environment."""
    def playbook(module_defaults, role_vars):
        return [{"name": "role", "hosts": "localhost", "gather_facts": False, "module_defaults": module_defaults,
                 "vars": role_vars, "roles": [{"role": ROLE}]}]
    connection = {"url": sim.url, "token": ADMIN_TOKEN}
    outcome = run_playbook(tmp_path, playbook(
        {"stalwart.mail.mta_connection_strategy": connection, "stalwart.mail.reload_settings": connection},
        {"stalwart_mta_connection_strategies": [{"name": "by-module-key"}]}))
    outcome.assert_ok()
    outcome = run_playbook(tmp_path, playbook(
        {"group/stalwart.mail.jmap": connection},
        {"stalwart_url": None, "stalwart_token": None, "stalwart_mta_connection_strategies": [{"name": "null-vars"}]}))
    outcome.assert_ok()
    assert {"by-module-key", "null-vars"} <= set(stored(sim)) and sim.stats()["reloads"] == 2


def test_the_readmes_role_example_runs_as_written_on_every_ansible_core(tmp_path, sim):
    """The README's inventory directory, group_vars, host_vars and site.yml, written to disk as the
    README shows them (only the server's URL and token given with -e): it named the inventory file
    hosts.ini, which ansible-core 2.16 to 2.18 skip in an inventory directory (INVENTORY_IGNORE_EXTS),
    so the preview matched no host and exited 0, as if nothing were to change."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The role: strategies from inventory", 1)[1]
    files = {}
    for block in re.findall(r"```(?:yaml|ini)\n(.*?)```", section, re.S)[:3]:
        # a block holds one file or more, each under a comment naming its path
        for part in re.split(r"\n(?=# [\w./]+)", block.strip("\n")):
            header, body = part.split("\n", 1)
            files[header[2:].split()[0]] = body + "\n"
    assert sorted(files) == ["group_vars/mailservers.yml", "host_vars/mx1.example.org.yml", "inventory/hosts.yml",
                             "site.yml"], sorted(files)
    root = tmp_path / "readme"
    for path, text in files.items():
        # group_vars/ and host_vars/ sit beside the inventory file, in inventory/, as the README says
        target = root / path if path.startswith(("inventory/", "site")) else root / "inventory" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (root / "site.yml").rename(root / "playbook.yml")
    extra = {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN, "vault_stalwart_token": "unused"}
    preview = run_playbook(tmp_path, (root / "playbook.yml").read_text(), check=True, extra_vars=extra,
                           extra_args=["-i", str(root / "inventory")])
    preview.assert_ok()
    assert re.search(r"mx1\.example\.org\s+: ok=\d+\s+changed=[1-9]", preview.stdout), preview.output()
    assert sorted(stored(sim)) == ["default"]


def test_a_host_that_purges_without_routing_cannot_leave_a_routing_hosts_expression_on_a_deleted_strategy(
        tmp_path, sim):
    """Two hosts share a server: mxr routes to its pool, mxp purges and does not route (its
    deliverability check on, so it purges in the strategies step, the task in which mxr creates its
    pool). One host at a time, mxp's purge deletes mxr's new pool before mxr routes to it; the
    routing step took the list's names as existing (assume_present, which only check mode needs),
    wrote the expression on the deleted strategy and the run ended rc=0. The names are now read
    before the expression is written: mxr fails, naming the strategy, and the expression stays
    valid."""
    root = tmp_path / "inventory"
    (root / "host_vars").mkdir(parents=True)
    hosts = {"mailservers": {"hosts": {name: {"stalwart_url": sim.url} for name in ("mxr", "mxp")},
                             "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                      "stalwart_token": ADMIN_TOKEN,
                                      "stalwart_mta_connection_strategies": [{"name": "shared"}],
                                      "stalwart_mta_connection_strategies_purge": True}}}
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))  # mxr first, one host at a time
    (root / "host_vars" / "mxr.yml").write_text(yaml.safe_dump({
        "stalwart_mta_connection_strategies__20_host": [{"name": "pool-r"}],
        "stalwart_mta_connection_route_default": "pool-r"}))
    (root / "host_vars" / "mxp.yml").write_text(yaml.safe_dump({
        "stalwart_deliverability_check": "warn", "stalwart_deliverability_probe_bind": False}))
    outcome = run_playbook(tmp_path, SITE, extra_args=["-i", str(root), "--forks", "1"])
    assert outcome.rc != 0, outcome.output()
    assert outcome.result(ROUTE, "mxr")["missing"] == ["pool-r"], outcome.result(ROUTE, "mxr")
    # the advice fits: the list has it, another host deleted it (not "add it to the list")
    said = outcome.result(RESCUE_FAIL, "mxr")["msg"]
    assert "does not exist any more: another writer deleted it since" in said, said
    assert "Through the role: add the strategy" not in said and "list it in assume_present" not in said, said
    connection = sim.dump()["outbound"]["connection"]
    assert connection["else"].strip("'") in stored(sim), (connection, sorted(stored(sim)))
