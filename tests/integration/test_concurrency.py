"""Concurrency (docs/reliability.md): two ``ansible-playbook`` runs at once against one server, with
overlapping lists, end in the union of what the two lists ask for; a ``primaryKeyViolation`` from
the race (both runs saw a strategy missing and both created it) is recovered by the module, not
reported.

Each run is one ``ansible-playbook`` doing several rounds, one task per round; round ``i`` works
on its own names (``r<i>-…``), so the rounds need no reset between them. Before each round both
runs meet at a barrier (a task that marks its run ready and waits for the other's mark), so that
they enter the round together.

Two phases of rounds:

- **held**: the simulator holds every write for ``HOLD`` seconds before it processes it (a
  ``delay`` fault on the ``write`` class). Both runs read within a fraction of a second of each
  other, and the first write is processed ``HOLD`` seconds after its run read: the other run's
  read is long done by then. Both runs therefore plan against the same server, both create the
  shared names, and the second create is refused with ``primaryKeyViolation``. (A delay on reads
  would not do it: it shifts both runs by the same amount, and the run that reads first still
  writes before the other reads.) The simulator's ``set_errors`` counter shows that the race
  really happened, in every held round: three violations (the three shared names) per round.
- **free**: no fault; the runs race or not as scheduling has it. Any SetError there must be a
  ``primaryKeyViolation`` (three per round that raced); the count is printed.

In every round of both phases: both runs succeed, nothing about the race is reported, and the
server holds exactly the union, each name once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import sys

from tests.integration.conftest import MODULE
from tests.support.ansible import run_tasks
from tests.support.sim import ADMIN_TOKEN

HELD_ROUNDS = 5
FREE_ROUNDS = 5
ROUNDS = HELD_ROUNDS + FREE_ROUNDS
HOLD = 1.5  # seconds each write is held in the held phase (the runs enter a round < 0.3 s apart)
SHARED = ("shared-1", "shared-2", "shared-3")

# The barrier: mark this run ready (argv[1]), wait for the other run's mark (argv[2]).
BARRIER = """
import os, sys, time
open(sys.argv[1], "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[2]):
    if time.monotonic() > deadline:
        sys.exit("the other run never reached " + sys.argv[2])
    time.sleep(0.005)
"""


def list_a(prefix):
    """Run A's list: two of its own, the three shared ones, and an update of the seeded one."""
    return [
        {"name": prefix + "only-a-1", "connect_timeout": "1m"},
        {"name": prefix + "only-a-2", "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}]},
        {"name": prefix + "shared-1", "data_timeout": "15m"},
        {"name": prefix + "shared-2", "ehlo_hostname": "shared.example.org"},
        {"name": prefix + "shared-3", "description": "both lists"},
        {"name": prefix + "seeded", "greeting_timeout": "2m"},
    ]


def list_b(prefix):
    """Run B's list: the same shared ones (same values, so the union is well defined), two of its
    own, and the same update of the seeded one."""
    return [
        {"name": prefix + "shared-1", "data_timeout": "15m"},
        {"name": prefix + "shared-2", "ehlo_hostname": "shared.example.org"},
        {"name": prefix + "shared-3", "description": "both lists"},
        {"name": prefix + "only-b-1", "rcpt_to_timeout": "45s"},
        {"name": prefix + "only-b-2", "mail_from_timeout": "3m"},
        {"name": prefix + "seeded", "greeting_timeout": "2m"},
    ]


def expected(prefix):
    """The union, as the server stores it (server dialect: durations in ms)."""
    return {
        prefix + "seeded": {"greetingTimeout": 120000},
        prefix + "only-a-1": {"connectTimeout": 60000},
        prefix + "only-a-2": {"sourceIps": {"0": {"ehloHostname": "a.example.org", "sourceIp": "192.0.2.1"}}},
        prefix + "shared-1": {"dataTimeout": 900000},
        prefix + "shared-2": {"ehloHostname": "shared.example.org"},
        prefix + "shared-3": {"description": "both lists"},
        prefix + "only-b-1": {"rcptToTimeout": 45000},
        prefix + "only-b-2": {"mailFromTimeout": 180000},
    }


CREATED_PER_ROUND = len(expected("")) - 1  # all but the seeded one


def one_run(sim, workdir, label, other, make_list, rounds):
    """One ``ansible-playbook`` run: for each round, the barrier, then the module on that round's list."""
    tasks = []
    for number in rounds:
        prefix = f"r{number}-"
        tasks.append({"name": f"barrier {number}", "ansible.builtin.command": {
            "argv": [sys.executable, "-c", BARRIER, str(workdir / f"{label}-{number}.ready"),
                     str(workdir / f"{other}-{number}.ready")]}})
        tasks.append({"name": f"round {number}", MODULE: {
            "url": sim.url, "token": ADMIN_TOKEN, "retries": 3, "timeout": 10, "strategies": make_list(prefix)},
            "ignore_errors": True})
    return run_tasks(workdir / label, tasks)


def run_phase(sim, workdir, rounds):
    """Both runs at once over ``rounds``; returns {round: {"a": result, "b": result}}."""
    workdir.mkdir(parents=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        run_a = pool.submit(one_run, sim, workdir, "a", "b", list_a, rounds)
        run_b = pool.submit(one_run, sim, workdir, "b", "a", list_b, rounds)
        outcomes = {"a": run_a.result(), "b": run_b.result()}
    results = {}
    for number in rounds:
        results[number] = {}
        for label, outcome in outcomes.items():
            assert outcome.status(f"barrier {number}") != "failed", (label, outcome.output())
            results[number][label] = dict(outcome.result(f"round {number}"),
                                          failed=outcome.status(f"round {number}") == "failed")
    return results


def check_rounds(sim, results):
    """Both runs succeeded in every round, said nothing about the race, and the server holds the
    union of every round, each name once."""
    for number, by_run in results.items():
        for label, result in by_run.items():
            context = (f"round {number}", label)
            assert not result["failed"], (context, result.get("msg"))
            assert not result.get("failed_strategies"), (context, result.get("failed_strategies"))
            said = json.dumps({key: result.get(key) for key in ("msg", "warnings", "failed_strategies")})
            assert "primaryKeyViolation" not in said, (context, said)  # recovered, not reported
    stored = sim.objects()
    counts = collections.Counter(item["name"] for item in stored)
    union = {}
    for number in results:
        union.update(expected(f"r{number}-"))
    assert sorted(counts) == sorted(union), sorted(counts)
    assert [name for name, count in counts.items() if count > 1] == []
    by_name = {item["name"]: item for item in stored}
    for name, fields in union.items():
        for key, value in fields.items():
            assert by_name[name][key] == value, (name, key, by_name[name][key])


def seed(sim, rounds):
    sim.reset(seed_default=False, objects=[{"name": f"r{number}-seeded"} for number in rounds])


def test_two_runs_at_once_end_in_the_union_and_recover_from_a_certain_race(sim, tmp_path):
    held = range(HELD_ROUNDS)
    seed(sim, held)
    # every first write of every round (one per run per round) is held
    sim.fault("delay", count=2 * HELD_ROUNDS, match="write", seconds=HOLD)
    results = run_phase(sim, tmp_path / "held", held)
    check_rounds(sim, results)
    stats = sim.stats()
    assert stats["objects_created"] == CREATED_PER_ROUND * HELD_ROUNDS, stats
    # the race happened in every held round: the loser's three shared creates were refused
    assert stats["set_errors"] == {"primaryKeyViolation": len(SHARED) * HELD_ROUNDS}, stats["set_errors"]
    held_races = stats["set_errors"]["primaryKeyViolation"] // len(SHARED)

    free = range(HELD_ROUNDS, ROUNDS)
    seed(sim, free)
    results = run_phase(sim, tmp_path / "free", free)
    check_rounds(sim, results)
    stats = sim.stats()
    assert stats["objects_created"] == CREATED_PER_ROUND * FREE_ROUNDS, stats
    # a race is the only explained SetError, and it costs the three shared names at most
    assert set(stats["set_errors"]) <= {"primaryKeyViolation"}, stats["set_errors"]
    violations = stats["set_errors"].get("primaryKeyViolation", 0)
    assert violations % len(SHARED) == 0 and violations <= len(SHARED) * FREE_ROUNDS, stats["set_errors"]
    free_races = violations // len(SHARED)
    print(f"concurrency: {ROUNDS} rounds x 2 runs; races: {held_races}/{HELD_ROUNDS} held rounds, "
          f"{free_races}/{FREE_ROUNDS} free rounds, all recovered; duplicates: 0")


# --- a listing that shifts while it is paged -------------------------------------------------------------


def shift_before_every_page(sim):
    """Make the in-process simulator ``sim`` a cluster node's view: before every page past the first
    of a query, another node adds 100 strategies whose names sort before every ``m-``, so the
    others move back 100 places each time. Returns the list of names it added."""
    from tests.support.inproc import simulator_module  # pylint: disable=import-outside-toplevel

    state = sim._server.simulator  # pylint: disable=protected-access
    original, inserted = state.query_MtaConnectionStrategy, []

    def shifting(arguments, *rest):
        if (arguments.get("position") or 0) > 0:
            for _count in range(100):
                stored = simulator_module().default_strategy()
                stored["name"] = f"a-{len(inserted):04d}"
                state.strategies[state.ids.next()] = stored
                inserted.append(stored["name"])
        return original(arguments, *rest)

    state.query_MtaConnectionStrategy = shifting
    return inserted


def test_a_listing_that_shifts_while_it_is_paged_still_finds_every_listed_strategy():
    """Another node of a cluster creates strategies that sort first while this run pages through
    the listing by position: the tail it wanted is pushed past the last page it asks for. The
    run must still find them (it planned them as creates, had them refused as taken, read them
    again the same paged way, and failed with 'created concurrently and then not found', their
    updates never applied), here read by name once the pages' totals disagree."""
    from tests.support.inproc import ThreadedSimulator, run_module  # pylint: disable=import-outside-toplevel

    with ThreadedSimulator(limits={"maxObjectsInGet": 50}) as sim:
        sim.reset(objects=[{"name": f"m-{index:04d}"} for index in range(120)])
        inserted = shift_before_every_page(sim)
        wanted = [{"name": f"m-{index:04d}", "description": "updated"} for index in range(108, 120)]
        result = run_module("mta_connection_strategy", {"url": sim.url, "token": ADMIN_TOKEN, "strategies": wanted})
        assert inserted, "the listing never shifted: the test no longer tests anything"
        assert not result.get("failed"), result.get("msg")
        assert result["plan"]["create"] == [] and sorted(result["plan"]["update"]) == [item["name"] for item in wanted]
        stored = {item["name"]: item for item in sim.objects()}
        assert len(stored) == 121 + len(inserted) and all(stored[item["name"]]["description"] == "updated"
                                                          for item in wanted)


def test_the_info_module_says_when_a_listing_shifted_under_it_and_finds_named_ones():
    from tests.support.inproc import ThreadedSimulator, run_module  # pylint: disable=import-outside-toplevel

    with ThreadedSimulator(limits={"maxObjectsInGet": 50}) as sim:
        sim.reset(objects=[{"name": f"m-{index:04d}"} for index in range(120)])
        shift_before_every_page(sim)
        wanted = [f"m-{index:04d}" for index in range(108, 120)]
        named = run_module("mta_connection_strategy_info", {"url": sim.url, "token": ADMIN_TOKEN, "names": wanted})
        assert [item["name"] for item in named["strategies"]] == wanted, named
        every = run_module("mta_connection_strategy_info", {"url": sim.url, "token": ADMIN_TOKEN})
        assert any("run the task again for a complete one" in warning for warning in every.get("warnings") or []), every
