"""The playbooks of ``docs/user-guide.md`` run as written, and do what the guide says they do.

"Adopting an existing server": the export playbook is taken from the guide's text (not copied
here), run with real ``ansible-playbook`` from a directory other than the inventory's against two
servers (one simulator per dialect); it refuses to hide an existing ``host_vars/<host>.yml``, and
the files it writes are applied back through the role (with purge), which must report no change
and send no write.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import stored, wire_strategy
from tests.support.ansible import run_playbook
from tests.support.sim import ADMIN_TOKEN

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"
ROLE = "stalwart.mail.mta_connection_strategies"
MODULE = "stalwart.mail.mta_connection_strategy"


def guide_yaml_blocks(section: str) -> list[str]:
    """The ```yaml blocks of the guide's section titled ``section``, as written."""
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no section {section!r} in {GUIDE}"
    return re.findall(r"^```yaml\n(.*?)^```", match.group(1), flags=re.M | re.S)


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
                  if entry["action"] == MODULE and entry["host"] == host and entry["status"] != "skipped"]
        result = run["result"]
        # the exported file names every strategy, so even a purge has nothing to do
        assert result["changed"] is False, (host, result.get("plan"), applied.output())
        assert not any(result["plan"].get(key) for key in ("create", "update", "delete")), result["plan"]
        assert server.stats()["writes"] == before[host]["writes"], f"{host}: applying the export wrote"
        assert server.stats()["reloads"] == before[host]["reloads"]
    assert re.findall(r"^(mx[12]) +: ok=\d+ +changed=(\d+)", applied.stdout, flags=re.M) == [
        ("mx1", "0"), ("mx2", "0")]
