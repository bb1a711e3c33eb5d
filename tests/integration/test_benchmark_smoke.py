"""The benchmark (``benchmarks/run.py``, run by ``scripts/benchmark``) still runs: a ``--quick``
run (N = 1 and 2, one repetition, two simulated hosts) writes the report with its table and request
counts. No timing is asserted (machines are shared and noisy); the request counts are, since they
are exact (the formula of docs/performance.md, asserted in full by test_request_counts.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (?P<case>[^|]+?) \| (?P<n>[^|]*?) \| (?P<runs>\d+) \| [\d.]+ \| [\d.]+–[\d.]+ \| "
                 r"(?P<requests>\d+) \| (?P<posts>\d+) \|", re.M)


@pytest.mark.slow
def test_quick_benchmark_writes_the_table_with_request_counts(tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--quick", "--output",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "performance.md").read_text()
    for heading in ("## The formula", "## How it was measured", "## Results", "## Goals",
                    "## Where the role's time goes", "## The fleet"):
        assert heading in report
    rows = {(match["case"], match["n"]): match for match in ROW.finditer(report)}
    costs = {key: (int(row["requests"]), int(row["posts"])) for key, row in rows.items()}
    assert all(int(row["runs"]) == 1 for row in rows.values())
    # the role: 1 session GET + 1 read POST, whatever N; a converge adds 1 write POST and the
    # handler's reload (1 session GET + 1 POST)
    assert costs[("role converge", "1")] == costs[("role converge", "2")] == (5, 3)
    assert costs[("role no-op", "1")] == costs[("role no-op", "2")] == (2, 1)
    # the loop: per item, 1 session GET + 1 read POST, and on a converge 1 write POST and the
    # module's own reload (reload: true), a POST of its own after the write
    assert costs[("loop converge", "2")] == (8, 6) and costs[("loop no-op", "2")] == (4, 2)
    assert costs[("floor: one no-op task", "")] == (0, 0)
    # the fleet: the role's cost once per host, in the worker or with the modules in processes of
    # their own alike, whatever the list's length; the ping beside it sends nothing
    for how in ("the role", "the modules in processes of their own"):
        assert costs[(f"fleet converge: {how}, 2 hosts, forks 2", "2 × 2")] == (10, 6)
        assert costs[(f"fleet no-op: {how}, 2 hosts, forks 2", "2 × 2")] == (4, 2)
    assert costs[("fleet converge: the role, 2 hosts, forks 2", "2 × 3")] == (10, 6)
    for floor in ("ansible.builtin.ping", "one ansible.builtin.debug task", "two ansible.builtin.debug tasks"):
        assert costs[(f"fleet: {floor}, 2 hosts, forks 2", "2 × 2")] == (0, 0)
    assert "Fleet of 2 hosts × 2 strategies, no-op" in report and "requests` for the Python that runs" in report
    # without matplotlib (the test venv) the plot is skipped and the report says so
    try:
        import matplotlib  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        assert "plot skipped" in report and not (tmp_path / "performance.png").exists()
    else:
        assert (tmp_path / "performance.png").stat().st_size > 0


def test_the_fleet_is_compared_with_the_ping_of_the_same_round():
    """The machine's speed drifts during a run: each fleet case is divided by the ping of its own
    round, and the median of those ratios is what the goals are held to, not the ratio of two
    medians that may come from different rounds."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import run  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    ping = run.Case("ping", "fleet-ping", "floor", 10, hosts=100)
    role = run.Case("role", "fleet", "no-op", 10, hosts=100)
    for mine, theirs in ((5.0, 15.0), (6.0, 25.0), (5.5, 14.0)):  # a quiet round, a slow one, a quiet one
        role.walls.append(mine)
        ping.walls.append(theirs)
    assert role.per_round(ping) == [5.0 / 15.0, 6.0 / 25.0, 5.5 / 14.0]
    assert role.ratio(ping) == (5.0 / 15.0, 6.0 / 25.0, 5.5 / 14.0)  # median, lowest, highest
    assert role.ratio(ping)[0] != role.median / ping.median  # 0.367: the slow round's ping in the quiet ones'
    ping.walls.pop()
    with pytest.raises(ValueError):  # a case that missed a round cannot be paired
        role.per_round(ping)
