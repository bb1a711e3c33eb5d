"""The playbooks of ``docs/user-guide.md`` run as written, and do what the guide says they do.

"Adopting an existing server": the export playbook is taken from the guide's text (not copied
here), run with real ``ansible-playbook`` from a directory other than the inventory's against two
servers (one simulator per dialect); it refuses to hide an existing ``host_vars/<host>.yml``, and
the files it writes are applied back through the role (with purge), which must report no change
and send no write.

"Catching a warm-up address before it goes live": the guide's group_vars and host_vars, run with
the command the guide shows, against a simulator and a DNS server on 127.0.0.1 holding the
records the guide's story describes; the failure and the warning the guide quotes must be what
ansible-playbook prints, and nothing may be written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import STRATEGY_RUNS, stored, wire_strategy
from tests.support.ansible import run_playbook
from tests.support.dns import ZoneServer
from tests.support.sim import ADMIN_TOKEN, NOPERM_TOKEN, READONLY_TOKEN

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"
ROLE = "stalwart.mail.mta_connection_strategies"
MODULE = "stalwart.mail.mta_connection_strategy"


def guide_yaml_blocks(section: str, language: str = "yaml") -> list[str]:
    """The ```yaml (or other ``language``) blocks of the guide's section titled ``section``, as written."""
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no section {section!r} in {GUIDE}"
    return re.findall(rf"^```{language}\n(.*?)^```", match.group(1), flags=re.M | re.S)


@pytest.fixture
def servers(sim, _sim_docs):
    """mx1 → a server-dialect simulator, mx2 → a docs-dialect one, each holding a few strategies."""
    _sim_docs.reset()
    found = {"mx1": sim, "mx2": _sim_docs}
    for host, server in found.items():
        server.reset(objects=[
            wire_strategy(server, "gmail", description="Google MX", greetingTimeout=120000, connectTimeout=90000),
            wire_strategy(server, "bulk", ehloHostname="bulk.example.org", dataTimeout=900000, sourceIps={
                "0": {"sourceIp": "192.0.2.10", "ehloHostname": f"{host}-a.example.org"},
                "1": {"sourceIp": "2001:db8::a", "ehloHostname": f"{host}-v6.example.org"}}),
        ])
    return found


def inventory(tmp_path: Path, servers) -> Path:
    """An inventory as an operator has it before the export: each host's URL in host_vars/<host>.yml."""
    root = tmp_path / "inventory"
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    hosts = {"mailservers": {
        "hosts": {name: None for name in servers},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    }}
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (root / "group_vars" / "mailservers.yml").write_text(yaml.safe_dump({"stalwart_token": ADMIN_TOKEN}))
    for name, server in servers.items():
        (root / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({"stalwart_url": server.url}))
    return root


def test_the_export_playbook_writes_host_vars_that_apply_back_with_no_change(tmp_path, servers):
    (export,) = guide_yaml_blocks("Adopting an existing server")
    inv = inventory(tmp_path, servers)

    # Ansible reads host_vars/<host>/ or host_vars/<host>.yml, not both: the play must not make
    # the directory that would hide the host's URL, and says what to do
    refused = run_playbook(tmp_path, export, extra_args=["-i", str(inv)])
    assert refused.rc != 0
    for host in servers:
        assert f"Move host_vars/{host}.yml to host_vars/{host}/main.yml first" in refused.stdout, refused.output()
        assert not (inv / "host_vars" / host).exists()
        # what the guide says: move the file, then export
        (inv / "host_vars" / host).mkdir()
        (inv / "host_vars" / f"{host}.yml").rename(inv / "host_vars" / host / "main.yml")

    # run_playbook works in a directory of its own: a path relative to the working directory
    # would land there, not beside the inventory
    exported = run_playbook(tmp_path, export, extra_args=["-i", str(inv)])
    exported.assert_ok()
    assert not (exported.workdir / "host_vars").exists()
    for host, server in servers.items():
        written = inv / "host_vars" / host / "strategies.yml"
        assert written.is_file(), f"{host}: the guide's export wrote no {written}\n{exported.output()}"
        layer = yaml.safe_load(written.read_text())["stalwart_mta_connection_strategies__50_host"]
        assert [item["name"] for item in layer] == sorted(stored(server)) == ["bulk", "default", "gmail"]
        assert server.stats()["writes"] == 0

    before = {host: server.stats() for host, server in servers.items()}
    site = [{"name": "Apply the exported strategies", "hosts": "mailservers", "gather_facts": False,
             "roles": [{"role": ROLE, "vars": {"stalwart_mta_connection_strategies_purge": True}}]}]
    applied = run_playbook(tmp_path, site, extra_args=["-i", str(inv)], diff=True).assert_ok()
    for host, server in servers.items():
        (run,) = [entry for entry in applied.results
                  if entry["action"] in STRATEGY_RUNS and entry["host"] == host and entry["status"] != "skipped"]
        result = run["result"]
        # the exported file names every strategy, so even a purge has nothing to do
        assert result["changed"] is False, (host, result.get("plan"), applied.output())
        assert not any(result["plan"].get(key) for key in ("create", "update", "delete")), result["plan"]
        assert server.stats()["writes"] == before[host]["writes"], f"{host}: applying the export wrote"
        assert server.stats()["reloads"] == before[host]["reloads"]
    assert re.findall(r"^(mx[12]) +: ok=\d+ +changed=(\d+)", applied.stdout, flags=re.M) == [
        ("mx1", "0"), ("mx2", "0")]


# --- Catching a warm-up address before it goes live ----------------------------------------------

WARM_UP = "Catching a warm-up address before it goes live"
# the story of the guide: the first address is ready, the second still has the provider's
# generic PTR, which resolves nowhere
WARM_UP_ZONE = """
warm1.mx1.example.org.   60 IN A   192.0.2.20
20.2.0.192.in-addr.arpa. 60 IN PTR warm1.mx1.example.org.
warm2.mx1.example.org.   60 IN A   192.0.2.21
21.2.0.192.in-addr.arpa. 60 IN PTR 21.2.0.192.static.hoster.example.
"""


def files_of(block: str) -> dict[str, str]:
    """A guide block holding several files, each after a ``# <path>`` comment line → {path: text}."""
    files, current = {}, None
    for line in block.splitlines(keepends=True):
        header = re.match(r"# ((?:group|host)_vars/\S+\.yml)$", line.strip())
        if header:
            current = header.group(1)
            files[current] = ""
        elif current is not None:
            files[current] += line
    return files


def squeezed(text: str) -> str:
    """White space runs as one space: older ansible-core wraps warnings at the terminal's width."""
    return " ".join(text.split())


def test_the_warm_up_address_is_caught_before_anything_is_written_with_the_message_the_guide_shows(tmp_path, sim):
    (layers,) = guide_yaml_blocks(WARM_UP)
    (console,) = guide_yaml_blocks(WARM_UP, "console")
    files = files_of(layers)
    assert sorted(files) == ["group_vars/mailservers.yml", "host_vars/mx1.example.org.yml"]
    root = tmp_path / "inventory"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "hosts.yml").write_text(yaml.safe_dump({"mailservers": {"hosts": {"mx1.example.org": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))

    command, *shown = console.splitlines()
    assert command.startswith("$ ansible-playbook -i inventory site.yml"), command
    # the host's failure: the last fatal line (the check's own failure, which the role rescues, is elided)
    fatal = [line for line in shown if line.startswith("fatal: ")][-1]
    warning = next(line for line in shown if line.startswith("[WARNING]: "))
    recap = next(line for line in shown if line.startswith("mx1.example.org "))

    site = [{"name": "Outbound connection strategies", "hosts": "mailservers", "gather_facts": False,
             "roles": [{"role": ROLE}]}]
    with ZoneServer(WARM_UP_ZONE) as dns:
        outcome = run_playbook(
            tmp_path, site, check="--check" in command, diff="--diff" in command, extra_args=["-i", str(root)],
            extra_vars={
                # what the test machine needs in place of a real server and the Internet's DNS
                "stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                "stalwart_deliverability_resolver": {"nameservers": ["127.0.0.1"], "port": dns.port},
                # the test machine does not hold the guide's addresses; the mail host of the story does
                "stalwart_deliverability_probe_bind": False,
            })
        assert dns.asked("21.2.0.192.in-addr.arpa", "PTR") >= 1
    assert outcome.rc != 0
    assert fatal in outcome.stdout, f"the guide's failure is not what ansible-playbook prints\n{outcome.output()}"
    assert squeezed(warning) in squeezed(outcome.stdout + outcome.stderr), outcome.output()
    # the guide's recap is the mail host's, whose bind probe runs (ok); here it is off (skipped)
    counts = dict(re.findall(r"(\w+)=(\d+)", recap))
    counts["ok"], counts["skipped"] = str(int(counts["ok"]) - 1), str(int(counts["skipped"]) + 1)
    ran = next(line for line in outcome.stdout.splitlines() if line.startswith("mx1.example.org "))
    assert dict(re.findall(r"(\w+)=(\d+)", ran)) == counts, (recap, ran)
    assert (counts["changed"], counts["failed"], counts["rescued"]) == ("0", "1", "1")
    assert sim.stats()["writes"] == 0 and sorted(stored(sim)) == ["default"]


# --- From nothing to Gmail through a warm-up pool: a server that already routes mail -------------

GMAIL_SECTION = "From nothing to Gmail through a warm-up pool"
LEGACY_ROUTING = {"connection": {"match": {"0": {"if": "rcpt_domain == 'example.net'", "then": "'legacy'"}},
                                 "else": "'default'"}}


def test_a_servers_routing_printed_as_the_guide_shows_pastes_into_the_roles_routes_with_no_change(tmp_path, servers):
    """The guide prints each server's connection expression and says its rules paste into
    stalwart_mta_connection_routes as they are, its else being the route default: applied back
    through the role (with purge), nothing is written, and the strategy of the server's rule stays."""
    (printer,) = [block for block in guide_yaml_blocks(GMAIL_SECTION) if "mta_outbound_strategy_info" in block]
    inv = inventory(tmp_path, servers)
    for server in servers.values():
        server.reset(objects=[wire_strategy(server, "legacy")], outbound=LEGACY_ROUTING)
    printed = run_playbook(tmp_path, printer, extra_args=["-i", str(inv)]).assert_ok()
    site = []
    for host, server in servers.items():
        connection = printed.result("Print its connection expression", host)["routing.outbound_strategy.connection"]
        assert connection == {"rules": [{"if": "rcpt_domain == 'example.net'", "then": "legacy"}], "else": "default"}
        site.append({"name": f"Apply to {host}", "hosts": host, "gather_facts": False, "roles": [{"role": ROLE, "vars": {
            "stalwart_mta_connection_strategies": [{"name": "legacy"}, {"name": "default"}],
            "stalwart_mta_connection_strategies_purge": True,
            "stalwart_mta_connection_routes": connection["rules"],
            "stalwart_mta_connection_route_default": connection["else"]}}]})
    before = {host: server.stats()["writes"] for host, server in servers.items()}
    run_playbook(tmp_path, site, extra_args=["-i", str(inv)]).assert_ok()
    for host, server in servers.items():
        assert server.stats()["writes"] == before[host], f"{host}: pasting the server's routing back wrote"
        assert sorted(stored(server)) == ["default", "legacy"]
        assert server.dump()["outbound"]["connection"] == LEGACY_ROUTING["connection"]


@pytest.mark.parametrize("token, lacking", [
    # a read refused: the task's own permission
    (NOPERM_TOKEN, "sysMtaConnectionStrategyQuery"),
    # writes refused: each refused strategy's
    (READONLY_TOKEN, "sysMtaConnectionStrategyCreate"),
    # nothing refused: the second task does not run
    (ADMIN_TOKEN, None),
], ids=["read-refused", "writes-refused", "allowed"])
def test_the_failure_fields_example_names_the_permissions_the_key_lacks(tmp_path, sim, token, lacking):
    """"Acting on a failure in a playbook": the guide's tasks, as written, with a key that may not
    read, one that may read but not write, and one that may do both."""
    (tasks,) = guide_yaml_blocks("Troubleshooting")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": yaml.safe_load(tasks),
             "module_defaults": {"group/stalwart.mail.jmap": {"url": sim.url, "token": token}},
             "vars": {"strategies": [{"name": "new-one", "description": "from the guide"}]}}]
    result = run_playbook(tmp_path, play)
    if lacking is None:
        result.assert_ok()
        assert result.status("Name the permissions the API key lacks") == "skipped"
        return
    assert result.rc != 0
    assert result.result("Name the permissions the API key lacks")["msg"] == f"Give the API key's role {lacking}"
