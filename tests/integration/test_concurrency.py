"""Concurrency (DESIGN.md §7): two ``ansible-playbook`` runs at once against one server, with
overlapping lists, end in the union of what the two lists ask for, with no duplicate; a
``primaryKeyViolation`` from the race (both runs saw a strategy missing and both created it) is
recovered by the module, not reported.

Ten rounds. In half of them the simulator holds every read for a moment, so that both runs read
before either writes: the race is then certain rather than a matter of scheduling.
"""

from __future__ import annotations

import collections
import concurrent.futures

from tests.integration.conftest import MODULE, set_calls
from tests.support.ansible import run_tasks
from tests.support.sim import ADMIN_TOKEN

ROUNDS = 10

# Two lists that overlap on "shared-*" (same values in both, so the union is well defined) and
# each update the seeded "default".
LIST_A = [
    {"name": "only-a-1", "connect_timeout": "1m"},
    {"name": "only-a-2", "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]},
    {"name": "shared-1", "data_timeout": "15m"},
    {"name": "shared-2", "ehlo_hostname": "shared.example.org"},
    {"name": "shared-3", "description": "both lists"},
    {"name": "default", "greeting_timeout": "2m"},
]
LIST_B = [
    {"name": "shared-1", "data_timeout": "15m"},
    {"name": "shared-2", "ehlo_hostname": "shared.example.org"},
    {"name": "shared-3", "description": "both lists"},
    {"name": "only-b-1", "rcpt_to_timeout": "45s"},
    {"name": "only-b-2", "mail_from_timeout": "3m"},
    {"name": "default", "greeting_timeout": "2m"},
]
EXPECTED = {
    "default": {"greetingTimeout": 120000},
    "only-a-1": {"connectTimeout": 60000},
    "only-a-2": {"sourceIps": {"0": {"ehloHostname": "a.example.org", "sourceIp": "192.0.2.1"}}},
    "shared-1": {"dataTimeout": 900000},
    "shared-2": {"ehloHostname": "shared.example.org"},
    "shared-3": {"description": "both lists"},
    "only-b-1": {"rcptToTimeout": 45000},
    "only-b-2": {"mailFromTimeout": 180000},
}


def one_run(sim, tmp_path, label, strategies):
    task = {
        "name": label,
        MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "retries": 3, "timeout": 10, "strategies": strategies},
        "ignore_errors": True,
    }
    outcome = run_tasks(tmp_path / label, [task])
    return dict(outcome.result(label), failed=outcome.status(label) == "failed")


def test_two_runs_at_once_end_in_the_union_without_duplicates(sim, tmp_path):
    races = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for round_number in range(ROUNDS):
            sim.reset()
            if round_number % 2:
                # hold both runs' reads, so that both plan against the same empty server
                sim.fault("delay", count=2, match="read", seconds=1.0)
            here = tmp_path / f"round-{round_number}"
            run_a = pool.submit(one_run, sim, here, "a", LIST_A)
            run_b = pool.submit(one_run, sim, here, "b", LIST_B)
            result_a, result_b = run_a.result(), run_b.result()
            context = f"round {round_number}"
            # any failure would have to be explained; a race is not a reason to fail
            assert not result_a.get("failed"), (context, "a", result_a.get("msg"))
            assert not result_b.get("failed"), (context, "b", result_b.get("msg"))
            stored = sim.objects()
            counts = collections.Counter(item["name"] for item in stored)
            assert {name: n for name, n in counts.items() if n > 1} == {}, (context, counts)
            assert sorted(counts) == sorted(EXPECTED), (context, sorted(counts))
            by_name = {item["name"]: item for item in stored}
            for name, fields in EXPECTED.items():
                for key, value in fields.items():
                    assert by_name[name][key] == value, (context, name, key, by_name[name][key])
            stats = sim.stats()
            assert stats["objects_created"] == 7, (context, stats)
            # more than one write per run means a run found its create taken and recovered
            if set_calls(stats) > 2:
                races += 1
    print(f"concurrency: {ROUNDS} rounds x 2 runs, races recovered: {races}, duplicates: 0")
