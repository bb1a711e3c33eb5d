"""The /_sim/ control surface: stats, reset, objects, config, faults; state file; concurrency.

The control surface exists only in the simulator: this module's ``sim`` and ``any_sim`` have no
real-server parameter. Concurrent creates of one name are server behaviour and run on both
(``wire_sim``)."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from tests.simulator.conftest import GET, QUERY, REAL, SET, call, create_id, reset_target, result
from tests.support.sim import DEFAULT_OUTBOUND, Simulator

HTTP_TITLES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
SERVER_UNAVAILABLE = ("This server is temporarily unavailable. Attempting this same operation later "
                      "may succeed.")


@pytest.fixture
def sim(_server_sim):
    """The server-dialect simulator, reset (no real server: the control surface is the simulator's)."""
    _server_sim.reset()
    return _server_sim


@pytest.fixture(params=("server", "docs"))
def any_sim(request):
    """Each dialect of the simulator, reset (no real server)."""
    return reset_target(request)


@pytest.fixture(params=("server", REAL))
def wire_sim(request):
    """The server-dialect simulator, and a real server when one is available: for server behaviour."""
    return reset_target(request)


def raw_post(sim, body, timeout=10.0):
    """POST to the JMAP endpoint with http.client; returns (status, headers, body bytes) or raises
    the connection error (so dropped connections can be seen)."""
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)
    try:
        connection.request("POST", sim.api_path, body=json.dumps(body),
                           headers={"Content-Type": "application/json", "Authorization": sim.authorization()})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def request_of(*calls):
    return {"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"], "methodCalls": list(calls)}


CREATE_X = request_of([SET, {"create": {"n1": {"name": "x"}}}, "s"])
READ = request_of([GET, {}, "g"])


# --- stats ------------------------------------------------------------------------------------

def test_stats_count_every_kind_of_request(any_sim):
    """In the docs dialect the two discovery GETs are 404s, but still counted as session requests
    (docs/simulator.md: "the GETs of /jmap/session and /.well-known/jmap"): a client's probe shows."""
    sim = any_sim
    assert sim.stats() == {"requests": 0, "session_requests": 0, "posts": 0, "method_calls": {}, "set_calls": 0,
                           "writes": 0, "objects_created": 0, "objects_updated": 0, "objects_destroyed": 0,
                           "reloads": 0, "bytes_in": 0, "bytes_out": 0, "max_calls_in_one_post": 0,
                           "set_errors": {}}
    discovery = [sim.http("GET", path).status for path in ("/jmap/session", "/.well-known/jmap")]
    assert discovery == ([200, 307] if sim.dialect == "server" else [404, 404])
    sim.http("GET", "/nothing")
    keep = create_id(sim, {"name": "keep"})
    gone = create_id(sim, {"name": "gone"})
    sim.jmap([[SET, {"update": {keep: {"description": "d"}}, "destroy": [gone]}, "s"], [SET, {}, "empty"],
              [GET, {}, "g"], [QUERY, {}, "q"]])
    sim.jmap([["x:Action/set", {"create": {"r": {"@type": "ReloadSettings"}}}, "a"]])
    stats = sim.stats()
    assert stats["requests"] == 7 and stats["session_requests"] == 2 and stats["posts"] == 4
    assert stats["method_calls"] == {SET: 4, GET: 1, QUERY: 1, "x:Action/set": 1}
    assert (stats["set_calls"], stats["writes"]) == (5, 4)
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (2, 1, 1)
    assert stats["reloads"] == 1 and stats["max_calls_in_one_post"] == 4
    assert stats["bytes_in"] > 200 and stats["bytes_out"] > stats["bytes_in"]
    assert stats["set_errors"] == {}
    # The control surface itself is never counted.
    sim.objects()
    assert sim.stats()["requests"] == 7


def test_log_records_each_request_with_its_arrival_time_and_fault(any_sim):
    sim = any_sim
    sim.fault("http503", match="write")
    sim.http("GET", "/jmap/session")  # of the session class in both dialects (a 404 in docs)
    raw_post(sim, READ)
    time.sleep(0.2)
    raw_post(sim, CREATE_X)
    log = sim.log()
    assert [(entry["method"], entry["path"], entry["class"], entry["fault"]) for entry in log] == [
        ("GET", "/jmap/session", "session", None), ("POST", sim.api_path, "read", None),
        ("POST", sim.api_path, "write", "http503")]
    assert log[0]["at"] <= log[1]["at"] and log[2]["at"] - log[1]["at"] >= 0.2
    sim.reset()
    assert sim.log() == []


def test_stats_count_set_errors_by_type(any_sim):
    sim = any_sim
    create_id(sim, {"name": "taken"})
    sim.jmap([[SET, {"create": {"a": {"name": "taken"}, "b": {"name": "ok"}, "c": {"name": "bad", "connectTimeout": 0}},
                     "update": {"zzzzzzzzzzzz": {"description": "d"}}, "destroy": ["zzzzzzzzzzzy"]}, "s"],
              ["x:MtaOutboundStrategy/set", {"update": {"singleton": {"colour": "blue"}}}, "o"]])
    assert sim.stats()["set_errors"] == {"primaryKeyViolation": 1, "invalidPatch": 2, "notFound": 2}


def test_refused_requests_count_as_requests_and_posts(any_sim):
    assert any_sim.http("POST", any_sim.api_path, READ, {"Content-Type": "application/json"}).status == 401
    assert any_sim.http("POST", any_sim.api_path, "{", {"Content-Type": "application/json",
                                                        "Authorization": any_sim.authorization()}).status == 400
    stats = any_sim.stats()
    assert (stats["requests"], stats["posts"], stats["method_calls"]) == (2, 2, {})


# --- reset, objects, config -------------------------------------------------------------------

def test_reset_replaces_objects_and_clears_stats_and_faults(any_sim):
    create_id(any_sim, {"name": "leftover"})
    any_sim.fault("http503", count=3)
    items = [{"name": "bulk", "ehloHostname": "MX.Example.ORG", "sourceIps": {"4": {"sourceIp": "2001:DB8::1"}},
              "connectTimeout": 60000 if any_sim.dialect == "server" else "1m"}]
    any_sim.reset(objects=items)
    assert any_sim.stats()["requests"] == 0 and any_sim.faults() == []
    stored = any_sim.objects()
    assert [item["name"] for item in stored] == ["default", "bulk"]
    assert stored[1]["ehloHostname"] == "mx.example.org"
    assert stored[1]["sourceIps"] == {"0": {"ehloHostname": None, "sourceIp": "2001:db8::1"}}
    assert stored[1]["connectTimeout"] == (60000 if any_sim.dialect == "server" else "1m")
    # The control view is exactly what /get shows.
    assert result(any_sim, GET, {"ids": None})["list"] == stored
    any_sim.reset(seed_default=False)
    assert any_sim.dump() == {"strategies": [], "outbound": DEFAULT_OUTBOUND, "reloads": 0}


def test_reset_with_an_outbound_strategy_patches_its_defaults(any_sim):
    connection = {"match": {"3": {"if": "true", "then": "'bulk'"}}, "else": "'default'"}
    any_sim.reset(outbound={"connection": connection, "route": {"else": "'relay'"}})
    assert any_sim.dump()["outbound"] == {
        **DEFAULT_OUTBOUND, "connection": {"match": {"0": {"if": "true", "then": "'bulk'"}}, "else": "'default'"},
        "route": {**DEFAULT_OUTBOUND["route"], "else": "'relay'"}}
    for outbound in ({"connection": []}, {"connection": {"else": "'unterminated"}}, {"colour": "blue"}):
        answer = any_sim.http("POST", "/_sim/reset", {"outbound": outbound})
        assert answer.status == 400 and "outbound refused" in answer.json()["error"]


@pytest.mark.parametrize("objects", [[{"name": "x", "connectTimeout": 0}], [{"name": "a"}, {"name": "a"}],
                                     [{"description": "no name"}]])
def test_reset_refuses_invalid_objects(sim, objects):
    answer = sim.http("POST", "/_sim/reset", {"objects": objects})
    assert answer.status == 400 and "objects[" in answer.json()["error"]


def test_config_switches_dialect_live(sim):
    assert sim.configure(dialect="docs")["dialect"] == "docs"
    assert sim.dialect == "docs"
    assert sim.objects()[0]["connectTimeout"] == "5m"
    assert sim.http("GET", "/jmap/session").status == 404
    assert call(sim, GET, {})[0] == GET  # sim.jmap follows the dialect: POST /api
    sim.reset()
    assert sim.dialect == "server" and sim.objects()[0]["connectTimeout"] == 300000


def test_config_refuses_bad_values(sim):
    assert sim.http("POST", "/_sim/config", {"maxObjectsInGet": 0}).status == 400
    assert sim.http("POST", "/_sim/config", {"dialect": "other"}).status == 400
    assert sim.http("POST", "/_sim/faults", {"faults": [{"kind": "meteor"}]}).status == 400


# --- faults -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,status", [("http503", 503), ("http502", 502), ("http504", 504)])
def test_http_error_faults(any_sim, kind, status):
    any_sim.fault(kind, count=2, match="any")
    for _attempt in range(2):
        code, headers, body = raw_post(any_sim, READ)
        assert code == status and headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["status"] == status
    assert raw_post(any_sim, READ)[0] == 200
    stats = any_sim.stats()
    assert stats["requests"] == 3 and stats["method_calls"] == {GET: 1}


@pytest.mark.parametrize("kind,status", [("http500", 500), ("http502", 502), ("http503", 503), ("http504", 504)])
def test_http_error_after_commit(any_sim, kind, status):
    """``after``: the write is processed and committed, then answered with the error."""
    any_sim.fault(kind, match="write", after=True)
    code, headers, body = raw_post(any_sim, CREATE_X)
    assert code == status and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body) == {"type": "about:blank", "status": status, "title": HTTP_TITLES[status]}
    assert [item["name"] for item in any_sim.objects()] == ["default", "x"]
    assert any_sim.stats()["objects_created"] == 1


def test_http403_fault_is_the_blocked_access_problem(any_sim):
    any_sim.fault("http403", match="write")
    code, headers, body = raw_post(any_sim, CREATE_X)
    assert code == 403 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body) == {"type": "about:blank", "status": 403, "title": "Forbidden",
                                "detail": "Access to this endpoint is denied."}
    assert [item["name"] for item in any_sim.objects()] == ["default"]


@pytest.mark.parametrize("fault", [{"kind": "http429", "after": True}, {"kind": "drop_before", "after": True},
                                   {"kind": "http418"}])
def test_after_applies_only_to_5xx_faults(sim, fault):
    with pytest.raises(RuntimeError, match="400"):
        sim.fault(**fault)
    assert sim.faults() == []


def test_http429_carries_retry_after(any_sim):
    any_sim.fault("http429", retry_after=7)
    code, headers, body = raw_post(any_sim, READ)
    assert code == 429 and headers["Retry-After"] == "7"
    assert json.loads(body) == {"type": "about:blank", "status": 429, "title": "Too Many Requests",
                                "detail": "You have exceeded the request rate limit."}


def test_faults_match_request_classes(any_sim):
    sim = any_sim
    sim.fault("http503", match="write")
    sim.fault("http502", match="session")
    assert raw_post(sim, READ)[0] == 200
    # The session class is the discovery GETs in both dialects (a 404 in docs once the fault is used).
    assert sim.http("GET", "/jmap/session").status == 502
    assert sim.http("GET", "/jmap/session").status == (200 if sim.dialect == "server" else 404)
    assert raw_post(sim, request_of([SET, {}, "empty"]))[0] == 200  # an empty /set is a read
    assert raw_post(sim, CREATE_X)[0] == 503
    assert sim.faults() == []
    assert [item["name"] for item in sim.objects()] == ["default"]
    # A read fault leaves writes alone and hits the next read.
    sim.reset()
    sim.fault("http504", match="read")
    assert raw_post(sim, CREATE_X)[0] == 200
    assert raw_post(sim, request_of([SET, {}, "empty"]))[0] == 504
    assert raw_post(sim, READ)[0] == 200
    assert [item["name"] for item in sim.objects()] == ["default", "x"]


def test_a_fault_with_body_contains_waits_for_a_request_that_holds_the_text(any_sim):
    sim = any_sim
    sim.fault("http503", count=5, body_contains='"name": "y"')
    sim.fault("http502", body_contains='"name": "x"')
    assert raw_post(sim, READ)[0] == 200  # neither name: both faults stay queued
    assert sim.http("GET", "/jmap/session").status in (200, 404)  # no body at all
    assert raw_post(sim, CREATE_X)[0] == 502
    assert [fault["body_contains"] for fault in sim.faults()] == ['"name": "y"']
    assert [item["name"] for item in sim.objects()] == ["default"]


@pytest.mark.parametrize("text", ["", 5, None])
def test_body_contains_must_be_a_non_empty_string(sim, text):
    with pytest.raises(Exception, match="body_contains"):
        sim.fault("http503", body_contains=text)


def test_pending_faults_are_listed(sim):
    sim.fault("delay", count=2, match="read", seconds=0.1)
    assert sim.faults() == [{"kind": "delay", "count": 2, "match": "read", "seconds": 0.1}]
    raw_post(sim, READ)
    assert sim.faults()[0]["count"] == 1


def test_drop_before_loses_the_request(any_sim):
    any_sim.fault("drop_before", match="write")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw_post(any_sim, CREATE_X)
    assert [item["name"] for item in any_sim.objects()] == ["default"]
    assert any_sim.stats()["requests"] == 1


def test_drop_after_commits_but_loses_the_answer(any_sim):
    any_sim.fault("drop_after", match="write")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw_post(any_sim, CREATE_X)
    assert [item["name"] for item in any_sim.objects()] == ["default", "x"]
    assert any_sim.stats()["objects_created"] == 1
    # A blind resend would be refused as a duplicate.
    body = raw_post(any_sim, CREATE_X)[2]
    assert json.loads(body)["methodResponses"][0][1]["notCreated"]["n1"]["type"] == "primaryKeyViolation"


def test_delay_makes_a_client_time_out(any_sim):
    any_sim.fault("delay", seconds=3.0)
    with pytest.raises(TimeoutError):
        raw_post(any_sim, READ, timeout=0.3)
    # Other clients are served meanwhile (the sleep is outside the processing lock): the second
    # read is answered while the first still sleeps, unprocessed.
    assert raw_post(any_sim, READ)[0] == 200
    assert any_sim.stats()["method_calls"] == {GET: 1}


def test_delay_then_normal_answer(any_sim):
    any_sim.fault("delay", seconds=0.3)
    started = time.monotonic()
    assert raw_post(any_sim, CREATE_X)[0] == 200
    assert time.monotonic() - started >= 0.3


def test_server_unavailable_answers_every_call_with_the_method_error(any_sim):
    any_sim.fault("server_unavailable", match="write")
    code, _headers, body = raw_post(any_sim, request_of([SET, {"create": {"n1": {"name": "x"}}}, "s"], [GET, {}, "g"]))
    assert code == 200
    assert json.loads(body)["methodResponses"] == [
        ["error", {"type": "serverUnavailable", "description": SERVER_UNAVAILABLE}, "s"],
        ["error", {"type": "serverUnavailable", "description": SERVER_UNAVAILABLE}, "g"]]
    assert [item["name"] for item in any_sim.objects()] == ["default"]
    assert any_sim.stats()["method_calls"] == {}


# --- state file, concurrency ------------------------------------------------------------------

def test_state_file_persists_across_restarts(tmp_path):
    state = tmp_path / "state.json"
    with Simulator(state_file=state) as first:
        object_id = create_id(first, {"name": "kept", "connectTimeout": 1000})
        result(first, "x:Action/set", {"create": {"r": {"@type": "ReloadSettings"}}})
        saved = json.loads(state.read_text())
        assert [item["name"] for item in saved["strategies"]] == ["default", "kept"]
    assert not list(tmp_path.glob("state.json.tmp*"))
    with Simulator(dialect="docs", state_file=state) as second:
        stored = second.objects()
        assert [(item["name"], item["id"]) for item in stored][1] == ("kept", object_id)
        assert stored[1]["connectTimeout"] == "1s"
        assert second.dump()["reloads"] == 1
        newer = create_id(second, {"name": "newer"})
        values = [sum(32 ** power * "abcdefghijklmnopqrstuvwxyz792013".index(char)
                      for power, char in enumerate(reversed(text))) for text in (object_id, newer)]
        assert values[1] > values[0]


def test_default_is_seeded_again_after_a_restart_with_no_strategy(tmp_path):
    """[MtaConnectionStrategy]: re-created on the next boot if all strategies have been deleted."""
    state = tmp_path / "state.json"
    with Simulator(state_file=state) as first:
        default_id = first.objects()[0]["id"]
        result(first, SET, {"destroy": [default_id]})
        assert first.objects() == []
    with Simulator(state_file=state) as second:
        stored = second.objects()
        assert [item["name"] for item in stored] == ["default"] and stored[0]["id"] != default_id
        assert stored[0]["description"] == "Default connection strategy"


def test_unreadable_state_file_is_a_clear_start_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{broken")
    with pytest.raises(RuntimeError, match="cannot use the state file"):
        Simulator(state_file=state).start()


def test_no_seed_starts_empty():
    with Simulator(extra_args=("--no-seed",)) as running:
        assert running.objects() == []


def test_concurrent_creates_of_one_name_store_it_once(wire_sim):
    """Twelve requests create one name at once: it is stored once. The others are refused with
    primaryKeyViolation; the real server may also fail one of them at the store (a write conflict:
    the method error serverUnavailable, seen in 8 of 15 measured runs); the simulator, which
    processes one request at a time, never does."""
    sim = wire_sim
    outcomes = []

    def worker(index):
        body = raw_post(sim, request_of([SET, {"create": {"n": {"name": "race"}}}, "s"]))[2]
        outcomes.append(json.loads(body)["methodResponses"][0])

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kinds = ["created" if "created" in answer else answer["notCreated"]["n"]["type"] if name == SET
             else f"{name}:{answer['type']}" for name, answer, _call_id in outcomes]
    assert len(kinds) == 12 and kinds.count("created") == 1, kinds
    assert set(kinds) - {"created"} <= {"primaryKeyViolation", "error:serverUnavailable"}, kinds
    if isinstance(sim, Simulator):  # one request at a time
        assert kinds.count("primaryKeyViolation") == 11
    assert [item["name"] for item in sim.objects()].count("race") == 1
