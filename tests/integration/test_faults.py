"""Faults (docs/reliability.md): transient failures are retried with backoff up to ``retries``, then the
module fails saying what happened and that a re-run is safe; a write whose response was lost is
never blindly repeated (the module reads again and writes only what is still missing); a batch
that fails part-way reports each failed strategy with the server's reason and keeps what
succeeded; a hung server hits ``timeout``.

The module runs in the test process (``tests/support/inproc.py``) over real HTTP. Every test
injects its fault into the simulator and checks the simulator's counters, so that
"no duplicate, no lost write" is shown by what the server stored and did, not only by what the
module says about itself.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from tests.integration.conftest import MODULE, delta, set_calls, stored, wire_strategy
from tests.support import inproc
from tests.support.sim import ADMIN_TOKEN, NOOUTBOUND_TOKEN

RERUN_SAFE = re.compile(r"re-?run|run (it |the play(book)? )?again|safe to (retry|repeat)", re.IGNORECASE)

# Transient faults: kind, extra fault() arguments, and how the message must name the fault once
# the retries are used up.
TRANSIENT = [
    ("http503", {}, r"503|unavailable"),
    ("http502", {}, r"502|bad gateway"),
    ("http504", {}, r"504|gateway time"),
    ("http429", {"retry_after": 1}, r"429|too many"),
    ("server_unavailable", {}, r"serverUnavailable|unavailable"),
    ("drop_before", {}, r"connect|reset|closed|abort|disconnect"),
]
TRANSIENT_IDS = [case[0] for case in TRANSIENT]
TRANSIENT_FAULTS = [case[:2] for case in TRANSIENT]
# Fast retries: the backoff is the module's own; these keep each test to a few seconds.
FAST = {"retries": 3, "timeout": 5}


def connection(sim, **extra):
    return {"url": sim.url, "token": ADMIN_TOKEN, **FAST, **extra}


def names(sim):
    """The stored names, sorted; ``stored`` fails on a duplicate name."""
    return sorted(stored(sim))


def free_port():
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed_run(sim, tmp_path, task_args, *, conn=None, name="apply"):
    """Run one module task in this process (errors ignored) and return (its result, seconds it
    took). The result's ``failed`` comes from the recorded status."""
    args = dict(conn if conn is not None else connection(sim))
    args.update(task_args)
    started = time.monotonic()
    outcome = inproc.run_tasks([{"name": name, MODULE: args, "ignore_errors": True}])
    seconds = time.monotonic() - started
    return dict(outcome.result(name), failed=outcome.status(name) == "failed"), seconds


def run(sim, tmp_path, task_args, *, conn=None, name="apply"):
    """Run one module task (errors ignored) and return its result."""
    return timed_run(sim, tmp_path, task_args, conn=conn, name=name)[0]


# --- transient faults: retried, then a clear failure -------------------------------------------


@pytest.mark.parametrize("kind,extra", TRANSIENT_FAULTS, ids=TRANSIENT_IDS)
def test_transient_fault_is_retried_and_the_create_happens_once(sim, tmp_path, kind, extra):
    sim.reset()
    sim.fault(kind, count=2, match="any", **extra)
    result = run(sim, tmp_path, {"name": "after-" + kind, "connect_timeout": "2m"})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert stored(sim)["after-" + kind]["connectTimeout"] == 120000
    assert sim.stats()["objects_created"] == 1


@pytest.mark.parametrize("kind,extra", TRANSIENT_FAULTS, ids=TRANSIENT_IDS)
def test_transient_fault_on_the_write_is_retried_without_a_duplicate(sim, tmp_path, kind, extra):
    sim.reset()
    sim.fault(kind, count=1, match="write", **extra)
    result = run(sim, tmp_path, {"strategies": [{"name": "w1"}, {"name": "w2", "data_timeout": "20m"}]})
    assert not result.get("failed"), result.get("msg")
    assert names(sim) == ["default", "w1", "w2"]
    assert sim.stats()["objects_created"] == 2


@pytest.mark.parametrize("kind,extra,words", TRANSIENT, ids=TRANSIENT_IDS)
def test_transient_fault_past_retries_fails_saying_what_and_that_a_rerun_is_safe(sim, tmp_path, kind, extra, words):
    sim.reset()
    sim.fault(kind, count=50, match="any", **extra)
    result = run(sim, tmp_path, {"name": "never", "connect_timeout": "2m"}, conn=connection(sim, retries=1))
    assert result.get("failed") is True
    assert re.search(words, result["msg"], re.IGNORECASE), result["msg"]
    assert RERUN_SAFE.search(result["msg"]), result["msg"]
    assert names(sim) == ["default"]
    # retries: 1 means two attempts at the request that meets the fault, and not one more; a
    # method-level serverUnavailable can only answer a JMAP POST, so the session read before it
    # succeeds and counts as one request
    assert sim.stats()["requests"] == (3 if kind == "server_unavailable" else 2)


@pytest.mark.parametrize("match", ["session", "write"])
def test_retry_after_is_honoured(sim, tmp_path, match):
    """The wait is read off the simulator's arrival times: the request after the 429 came at
    least Retry-After seconds later (not the backoff's 0.5 s). Load on the machine can only
    lengthen the gap, so this holds on a busy machine too."""
    sim.reset()
    sim.fault("http429", count=1, match=match, retry_after=3)
    result = run(sim, tmp_path, {"name": "throttled"})
    assert not result.get("failed"), result.get("msg")
    assert names(sim) == ["default", "throttled"]
    log = sim.log()
    refused = next(index for index, entry in enumerate(log) if entry["fault"] == "http429")
    assert log[refused + 1]["class"] == match, log  # the same request, sent again
    assert log[refused + 1]["at"] - log[refused]["at"] >= 2.95, log


def test_fault_on_the_session_read_is_retried(sim, tmp_path):
    sim.reset()
    sim.fault("http503", count=2, match="session")
    result = run(sim, tmp_path, {"name": "after-session-fault"})
    assert not result.get("failed"), result.get("msg")
    assert names(sim) == ["after-session-fault", "default"]


def test_a_key_past_its_concurrent_requests_is_retried_and_the_create_happens_once(sim, tmp_path):
    """Other runs with the same key (a cluster's hosts sharing one API, forks > 4) hold the
    server's maxConcurrentRequests: the 400 comes before anything is done, so the module waits
    and sends again, reads and the write alike."""
    sim.reset()
    sim.fault("delay", count=4, seconds=1.2)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {NOOUTBOUND_TOKEN}"}
    body = {"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"],
            "methodCalls": [["x:MtaConnectionStrategy/get", {"ids": []}, "g"]]}
    held = [threading.Thread(target=sim.http, args=("POST", "/jmap/", body, headers)) for _request in range(4)]
    for thread in held:
        thread.start()
    while sim.faults():
        time.sleep(0.02)
    result = run(sim, tmp_path, {"name": "crowded", "connect_timeout": "2m"},
                 conn={"url": sim.url, "token": NOOUTBOUND_TOKEN, **FAST})
    for thread in held:
        thread.join()
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["retried_requests"] >= 1, result
    assert any("maxConcurrentRequests" in warning for warning in result["warnings"]), result["warnings"]
    assert names(sim) == ["crowded", "default"] and sim.stats()["objects_created"] == 1


def test_connection_refused_is_retried_then_fails_clearly(tmp_path):
    port = free_port()
    conn = {"url": f"http://127.0.0.1:{port}", "token": ADMIN_TOKEN, "retries": 2, "timeout": 2}
    result, seconds = timed_run(None, tmp_path, {"name": "nowhere"}, conn=conn)
    assert result.get("failed") is True
    assert re.search(r"refused|connect", result["msg"], re.IGNORECASE), result["msg"]
    assert f"127.0.0.1:{port}" in result["msg"] or str(port) in result["msg"], result["msg"]
    assert RERUN_SAFE.search(result["msg"]), result["msg"]
    assert seconds < 30


def test_hung_server_hits_timeout_and_fails_clearly(sim, tmp_path):
    sim.reset()
    sim.fault("delay", count=50, match="any", seconds=4.0)
    result, seconds = timed_run(sim, tmp_path, {"name": "hung"}, conn=connection(sim, timeout=1, retries=1))
    assert result.get("failed") is True
    assert re.search(r"time(d)?[ -]?out", result["msg"], re.IGNORECASE), result["msg"]
    assert RERUN_SAFE.search(result["msg"]), result["msg"]
    # two attempts, the second one timeout (1 s) plus the first backoff (0.5 s) after the first,
    # not after the 4 s hang (arrival times from the simulator: machine load cannot fake this)
    log = sim.log()
    assert len(log) == 2 and all(entry["fault"] == "delay" for entry in log), log
    assert 1.0 <= log[1]["at"] - log[0]["at"] < 3.5, log
    assert seconds < 30, seconds
    assert names(sim) == ["default"]


# --- lost writes: committed, response lost; read again, write only what is missing -------------


def test_lost_single_create_is_not_repeated(sim, tmp_path):
    sim.reset()
    sim.fault("drop_after", count=1, match="write")
    result = run(sim, tmp_path, {"name": "lost-one", "connect_timeout": "2m"})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    stats = sim.stats()
    assert stats["objects_created"] == 1
    assert set_calls(stats) == 1, "the write was sent again after its response was lost"
    assert names(sim) == ["default", "lost-one"]


def test_lost_batch_of_creates_is_not_repeated(sim, tmp_path):
    sim.reset()
    sim.fault("drop_after", count=1, match="write")
    batch = [{"name": f"lost-{index}", "data_timeout": f"{10 + index}m"} for index in range(6)]
    result = run(sim, tmp_path, {"strategies": batch})
    assert not result.get("failed"), result.get("msg")
    stats = sim.stats()
    assert stats["objects_created"] == 6
    assert set_calls(stats) == 1
    server = stored(sim)
    assert sorted(server) == ["default"] + [f"lost-{index}" for index in range(6)]
    assert all(server[f"lost-{index}"]["dataTimeout"] == (10 + index) * 60000 for index in range(6))


def test_lost_mixed_batch_of_creates_updates_and_deletes_converges(sim, tmp_path):
    sim.reset(objects=[
        wire_strategy(sim, "upd-1"), wire_strategy(sim, "upd-2", ehloHostname="old.example.org"),
        wire_strategy(sim, "del-1"), wire_strategy(sim, "del-2"), wire_strategy(sim, "keep"),
    ])
    sim.fault("drop_after", count=1, match="write")
    batch = [
        {"name": "new-1", "connect_timeout": "1m"},
        {"name": "new-2", "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx10.example.org"}]},
        {"name": "upd-1", "greeting_timeout": "90s"},
        {"name": "upd-2", "ehlo_hostname": "new.example.org"},
        {"name": "del-1", "state": "absent"},
        {"name": "del-2", "state": "absent"},
    ]
    result = run(sim, tmp_path, {"strategies": batch})
    assert not result.get("failed"), result.get("msg")
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (2, 2, 2)
    assert set_calls(stats) == 1
    server = stored(sim)
    assert sorted(server) == ["default", "keep", "new-1", "new-2", "upd-1", "upd-2"]
    assert server["upd-1"]["greetingTimeout"] == 90000
    assert server["upd-2"]["ehloHostname"] == "new.example.org"
    assert server["new-2"]["sourceIps"] == {"0": {"ehloHostname": "mx10.example.org", "sourceIp": "192.0.2.10"}}


def test_lost_purge_is_not_repeated(sim, tmp_path):
    sim.reset(objects=[
        wire_strategy(sim, "keep"), wire_strategy(sim, "extra-1"), wire_strategy(sim, "extra-2"),
        wire_strategy(sim, "extra-3"),
    ])
    sim.fault("drop_after", count=1, match="write")
    result = run(sim, tmp_path, {"strategies": [{"name": "default"}, {"name": "keep"}, {"name": "added"}],
                                 "purge": True})
    assert not result.get("failed"), result.get("msg")
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_destroyed"]) == (1, 3)
    assert set_calls(stats) == 1
    assert names(sim) == ["added", "default", "keep"]


def test_a_write_answered_with_a_gateways_page_is_read_again_and_reported_changed(sim, tmp_path):
    """A gateway (a WAF, an SSO proxy) passes the /set on and answers 200 with a page of its own:
    the write may have been applied, so the module reads again instead of failing with changed:
    false (it did, and the reload was never sent, though the server held the new strategy)."""
    sim.reset()
    sim.fault("html_after", count=1, match="write")
    result = run(sim, tmp_path, {"name": "behind-a-waf", "connect_timeout": "3m", "reload": True})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["reloaded"] is True, result
    stats = sim.stats()
    assert (stats["objects_created"], set_calls(stats), stats["reloads"]) == (1, 1, 1), stats
    assert stored(sim)["behind-a-waf"]["connectTimeout"] == 180000


def test_a_write_always_answered_with_a_gateways_page_says_its_outcome_is_unknown(sim, tmp_path):
    sim.reset()
    sim.fault("html_after", count=10, match="write")
    sim.fault("html_after", count=10, match="read", skip=1)  # the first read passes, then every answer is a page
    result = run(sim, tmp_path, {"name": "behind-a-waf", "connect_timeout": "3m"})
    assert result["failed"] is True and result["changed"] is True and result["unconfirmed"] == ["behind-a-waf"], result
    assert "the answer to a write could not be read" in result["msg"] and "text/html" in result["msg"], result["msg"]


def test_lost_first_chunk_then_only_the_rest_is_written(sim, tmp_path):
    """With maxObjectsInSet 2 and maxCallsInRequest 2, six creates need three POSTs (a /set of two
    creates and the /get of what it made, each); the first is committed and its answer lost. The
    module must read again and create only the four still missing: three /set calls in all, where
    resending the lost chunk would make four."""
    sim.reset(limits={"maxObjectsInSet": 2, "maxCallsInRequest": 2})
    sim.fault("drop_after", count=1, match="write")
    batch = [{"name": f"chunk-{index}"} for index in range(6)]
    result = run(sim, tmp_path, {"strategies": batch})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    stats = sim.stats()
    assert stats["objects_created"] == 6
    assert set_calls(stats) == 3, "the lost chunk was sent again"
    assert stats["set_errors"] == {}
    assert names(sim) == [f"chunk-{index}" for index in range(6)] + ["default"]


def test_writes_stopped_part_way_still_reload_what_the_server_confirmed(sim, tmp_path):
    """One create a POST; the second POST's answer is lost and the re-read meets an HTTP 500: the
    run failed with changed true and sent no reload, though the server had confirmed the first
    create. A re-run then finds it done and sends none either: it was never applied."""
    sim.reset(limits={"maxObjectsInSet": 1, "maxCallsInRequest": 2})
    sim.fault("drop_after", count=1, match="write", skip=1)
    sim.fault("http500", count=10, match="read", skip=1)  # the first read passes; the re-read fails
    result = run(sim, tmp_path, {"strategies": [{"name": "a1"}, {"name": "a2"}, {"name": "a3"}], "reload": True})
    assert result["failed"] is True and result["changed"] is True, result
    assert result["applied"]["create"] == ["a1"] and result["unconfirmed"] == ["a2"], result
    assert result["reloaded"] is True and sim.stats()["reloads"] == 1, result
    assert result["msg"].endswith(". What the server confirmed, and what it may have applied, was reloaded."), \
        result["msg"]


def test_a_write_of_unknown_outcome_is_reloaded_and_the_message_says_it_may_have_been_applied(sim, tmp_path):
    """The only write's answer is lost and no re-read gets through: nothing is confirmed, but the
    write may have been applied (it was), so the reload is sent, and the message says so in those
    words rather than "what the server confirmed"."""
    sim.reset()
    sim.fault("drop_after", count=1, match="write")
    sim.fault("http500", count=10, match="read", skip=1)
    result = run(sim, tmp_path, {"name": "maybe", "reload": True})
    assert result["failed"] is True and result["changed"] is True, result
    assert result["applied"]["create"] == [] and result["unconfirmed"] == ["maybe"], result
    assert result["reloaded"] is True and sim.stats()["reloads"] == 1, result
    assert result["msg"].endswith("writes only what is missing. What the server may have applied was reloaded."), \
        result["msg"]
    assert names(sim) == ["default", "maybe"]


# --- 5xx after the server committed the write (a gateway that gave up) ---------------------------


AFTER_COMMIT = ["http502", "http504", "http500", "http503"]


@pytest.mark.parametrize("kind", AFTER_COMMIT)
def test_5xx_after_a_committed_create_is_not_resent_and_reports_the_change(sim, tmp_path, kind):
    sim.reset()
    sim.fault(kind, count=1, match="write", after=True)
    result = run(sim, tmp_path, {"name": "behind-gateway", "connect_timeout": "2m", "reload": True})
    assert not result.get("failed"), result.get("msg")
    # the server made the change: it is reported (so handlers run), and the reload still happens
    assert result["changed"] is True and result["reloaded"] is True
    assert result["strategy"]["connect_timeout"] == "2m" and result["strategy"]["id"]
    stats = sim.stats()
    assert set_calls(stats) == 1, "a /set of the strategy was sent again"
    assert stats["objects_created"] == 1 and stats["set_errors"] == {}
    # the reload is its own request after the writes: the lost answer did not carry it, so it is
    # sent once, after the re-read showed the change (docs/reliability.md)
    assert stats["reloads"] == 1
    assert names(sim) == ["behind-gateway", "default"]


@pytest.mark.parametrize("kind", ["http502", "http504"])
def test_5xx_after_a_committed_batch_with_purge_converges_without_resending(sim, tmp_path, kind):
    sim.reset(objects=[wire_strategy(sim, "upd"), wire_strategy(sim, "extra")])
    sim.fault(kind, count=1, match="write", after=True)
    batch = [{"name": "default"}, {"name": "upd", "data_timeout": "20m"}, {"name": "new"}]
    result = run(sim, tmp_path, {"strategies": batch, "purge": True})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (1, 1, 1)
    assert set_calls(stats) == 1 and stats["set_errors"] == {}
    assert names(sim) == ["default", "new", "upd"]
    assert stored(sim)["upd"]["dataTimeout"] == 1200000
    # and a re-run has nothing left to do
    again = run(sim, tmp_path, {"strategies": batch, "purge": True}, name="again")
    assert again["changed"] is False and again["plan"] == {"create": [], "update": {}, "delete": []}


def test_5xx_on_every_write_stops_after_retries_rounds_saying_the_outcome_is_unknown(sim, tmp_path):
    sim.reset()
    sim.fault("http502", count=50, match="write")
    result = run(sim, tmp_path, {"name": "never"}, conn=connection(sim, retries=2))
    assert result.get("failed") is True
    assert re.search(r"502", result["msg"]) and RERUN_SAFE.search(result["msg"]), result["msg"]
    assert "may or may not have applied" in result["msg"], result["msg"]
    # the first write and one write per re-read round (retries: 2), each after a fresh read
    stats = sim.stats()
    assert stats["posts"] == 1 + 3 + 2 and stats["method_calls"].get("x:MtaConnectionStrategy/set") is None
    assert names(sim) == ["default"]


# --- a batch the server refuses in part ---------------------------------------------------------


def failed_names(failed_strategies):
    """The strategy names in ``failed_strategies``, whether it is a list of entries or a mapping."""
    if isinstance(failed_strategies, dict):
        return sorted(failed_strategies)
    return sorted(item.get("strategy") or item.get("name") if isinstance(item, dict) else item
                  for item in failed_strategies or [])


def test_partly_refused_batch_reports_each_failure_keeps_the_rest_and_a_rerun_converges(sim, tmp_path):
    sim.reset(objects=[wire_strategy(sim, "upd")])  # plus the seeded "default"
    # refusals the collection cannot foresee (a server whose host name rules differ from its own)
    sim.refuse({"bad-host": None, "upd": {"type": "invalidPatch", "description": "Invalid hostname or IP address",
                                          "properties": ["sourceIps/ehloHostname"]}})
    batch = [
        {"name": "good-1", "connect_timeout": "1m"},
        {"name": "bad-host", "ehlo_hostname": "mx.example.net"},
        {"name": "good-2", "data_timeout": "15m"},
        {"name": "upd", "source_ips": [{"ip": "192.0.2.20", "ehlo_hostname": "mx20.example.net"}]},
    ]
    result = run(sim, tmp_path, {"strategies": batch}, name="first")
    assert result.get("failed") is True
    msg = result["msg"]
    for failed in ("bad-host", "upd"):
        assert failed in msg, msg
    assert "Invalid hostname" in msg, msg
    assert "good-1" not in msg and "good-2" not in msg, msg
    failed_strategies = result.get("failed_strategies")
    assert failed_names(failed_strategies) == ["bad-host", "upd"], failed_strategies
    assert "Invalid hostname" in str(failed_strategies), failed_strategies
    # what succeeded is kept
    server = stored(sim)
    assert sorted(server) == ["default", "good-1", "good-2", "upd"]
    assert server["upd"]["sourceIps"] == {}

    sim.refuse({})  # the server now takes them
    batch[1]["ehlo_hostname"] = "mx.example.org"
    batch[3]["source_ips"][0]["ehlo_hostname"] = "mx20.example.org"
    before = sim.stats()
    second = run(sim, tmp_path, {"strategies": batch}, name="second")
    assert not second.get("failed"), second.get("msg")
    assert second["changed"] is True
    moved = delta(before, sim.stats())
    assert (moved["objects_created"], moved["objects_updated"], moved["objects_destroyed"]) == (1, 1, 0)

    third = run(sim, tmp_path, {"strategies": batch}, name="third")
    assert not third.get("failed"), third.get("msg")
    assert third["changed"] is False
    assert names(sim) == ["bad-host", "default", "good-1", "good-2", "upd"]
