"""Fixtures of the simulator's own suite: one simulator process per dialect and test module,
reset before each test (seeded ``default`` strategy, zero counters, start-up limits)."""

from __future__ import annotations

import pytest

from tests.support.sim import ADMIN_TOKEN, Simulator

GET = "x:MtaConnectionStrategy/get"
SET = "x:MtaConnectionStrategy/set"
QUERY = "x:MtaConnectionStrategy/query"


def _running(dialect):
    with Simulator(dialect=dialect) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def _server_sim():
    yield from _running("server")


@pytest.fixture(scope="module")
def _docs_sim():
    yield from _running("docs")


@pytest.fixture
def sim(_server_sim):
    """The server-dialect simulator, reset."""
    _server_sim.reset()
    return _server_sim


@pytest.fixture
def docs_sim(_docs_sim):
    """The docs-dialect simulator, reset."""
    _docs_sim.reset()
    return _docs_sim


@pytest.fixture(params=("server", "docs"))
def any_sim(request):
    """Each dialect in turn, reset: for behaviour that both dialects share."""
    simulator = request.getfixturevalue(f"_{request.param}_sim")
    simulator.reset()
    return simulator


def call(sim, name, arguments, token=ADMIN_TOKEN):
    """One method call in its own request; returns ``[response name, arguments, call id]``."""
    body = sim.jmap([[name, arguments, "c1"]], token=token)
    assert len(body["methodResponses"]) == 1, body
    return body["methodResponses"][0]


def result(sim, name, arguments, token=ADMIN_TOKEN):
    """The arguments of a successful (non-error) method response."""
    response_name, arguments_out, _call_id = call(sim, name, arguments, token)
    assert response_name == name, arguments_out
    return arguments_out


def create(sim, body, client_id="n1"):
    """Create one strategy; returns the /set result (``created`` or ``notCreated``)."""
    return result(sim, SET, {"create": {client_id: body}})


def create_id(sim, body) -> str:
    """Create one strategy that must succeed; returns its id."""
    answer = create(sim, body)
    assert "created" in answer, answer
    return answer["created"]["n1"]["id"]


def get_one(sim, object_id) -> dict:
    """The stored object as /get returns it."""
    answer = result(sim, GET, {"ids": [object_id]})
    assert answer["notFound"] == [], answer
    return answer["list"][0]


def update_error(sim, object_id, patch) -> dict:
    """The notUpdated entry of a refused update."""
    answer = result(sim, SET, {"update": {object_id: patch}})
    assert "updated" not in answer, answer
    return answer["notUpdated"][object_id]


def create_error(sim, body) -> dict:
    """The notCreated entry of a refused create."""
    answer = create(sim, body)
    assert "created" not in answer, answer
    return answer["notCreated"]["n1"]
