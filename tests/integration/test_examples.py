"""The EXAMPLES block of every module runs as written: its tasks, wrapped into one
play whose ``module_defaults`` for ``group/stalwart.mail.jmap`` give the simulator's URL and
token, run with real ``ansible-playbook`` against the simulator in both dialects.

The deliverability check's examples ask DNS: its ``resolver`` comes from ``module_defaults`` too,
pointing at a DNS server on 127.0.0.1 whose zone holds the names and addresses the examples use,
with forward-confirmed reverse DNS for each (so that the example with ``mode: fail`` passes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.support.ansible import play
from tests.support.dns import ZoneServer
from tests.support.sim import ADMIN_TOKEN

MODULES_DIR = Path(__file__).resolve().parents[2] / "plugins" / "modules"
EXPECTED = {"mta_connection_strategy", "mta_connection_strategy_info"}
MODULES = sorted(EXPECTED | {path.stem for path in MODULES_DIR.glob("*.py") if path.stem != "__init__"})


# the names and addresses of the deliverability check's EXAMPLES, each with its PTR
EXAMPLES_ZONE = """
warm1.mx1.example.org.   60 IN A   192.0.2.20
20.2.0.192.in-addr.arpa. 60 IN PTR warm1.mx1.example.org.
warm2.mx1.example.org.   60 IN A   192.0.2.21
21.2.0.192.in-addr.arpa. 60 IN PTR warm2.mx1.example.org.
"""


@pytest.fixture(scope="module")
def examples_dns():
    with ZoneServer(EXAMPLES_ZONE) as server:
        yield server


def examples_of(module: str) -> list:
    """The module's EXAMPLES, read from its source (not imported), parsed as YAML."""
    source = (MODULES_DIR / f"{module}.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "EXAMPLES" for target in node.targets):
            tasks = yaml.safe_load(ast.literal_eval(node.value))
            assert isinstance(tasks, list) and tasks, f"{module}: EXAMPLES is not a list of tasks"
            return tasks
    raise AssertionError(f"{module} has no EXAMPLES")


@pytest.mark.parametrize("module", MODULES)
def test_examples_run_as_written(module, any_sim, ansible, examples_dns):
    tasks = examples_of(module)
    group = {"group/stalwart.mail.jmap": {"url": any_sim.url, "token": ADMIN_TOKEN},
             "stalwart.mail.deliverability_check": {"resolver": examples_dns.resolver}}
    outcome = ansible(playbook=[play(tasks, module_defaults=group, name=f"EXAMPLES of {module}")])
    assert outcome.rc == 0, outcome.output()
    failed = [entry["task"] for entry in outcome.results if entry["status"] in ("failed", "unreachable")]
    assert failed == [], outcome.output()
    ran = {entry["task"] for entry in outcome.results}
    named = [item.get("name") for item in tasks if isinstance(item, dict) and item.get("name")]
    assert set(named) <= ran, (sorted(set(named) - ran), outcome.output())
    assert any(entry["action"].startswith("stalwart.mail.") for entry in outcome.results)
    if module == "deliverability_check":
        assert examples_dns.asked("warm2.mx1.example.org", "A") > 0, "the examples did not ask the test's DNS server"
        checks = [entry["result"] for entry in outcome.results if entry["action"] == "stalwart.mail.deliverability_check"]
        assert len(checks) == 2 and all(result["findings"] == [] for result in checks), checks
