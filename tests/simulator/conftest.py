"""Fixtures of the simulator's own suite: one simulator process per dialect and test module,
reset before each test (seeded ``default`` strategy, zero counters, start-up limits).

``sim`` and ``any_sim`` also run each test against a real Stalwart server when one is available
(the ``real`` parameter, see ``tests/real/adapter.py``): what the simulator claims about the wire
is checked against the server it imitates, and a difference shows as a test that passes on the
simulator and fails on the real server. What only the simulator has (its ``/_sim/`` control
surface: stats, faults, limits, the reload count) is tested with ``server_sim`` and
``any_dialect``, which have no real parameter."""

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


REAL = pytest.param("real", marks=pytest.mark.real)


@pytest.fixture(scope="session")
def _real_server():
    from tests.real.adapter import RealServerAsSimulator  # pylint: disable=import-outside-toplevel
    from tests.real.conftest import real_target  # pylint: disable=import-outside-toplevel
    from tests.real.server import RealServer  # pylint: disable=import-outside-toplevel

    how, what = real_target()
    if how != "binary":
        pytest.skip("the simulator's suite runs only against a throwaway real server (a binary)")
    with RealServer(what) as server:
        yield RealServerAsSimulator(server)


def reset_target(request):
    """The backend of a ``server``/``docs``/``real`` parameter, reset."""
    target = request.getfixturevalue("_real_server" if request.param == "real" else f"_{request.param}_sim")
    target.reset()
    return target


@pytest.fixture(params=("server", REAL))
def sim(request):
    """The server-dialect simulator, reset; and a real server when one is available."""
    return reset_target(request)


@pytest.fixture
def server_sim(_server_sim):
    """The server-dialect simulator alone, reset: for its control surface."""
    _server_sim.reset()
    return _server_sim


@pytest.fixture(params=("server", "docs"))
def any_dialect(request):
    """Each dialect of the simulator alone, reset: for its control surface."""
    return reset_target(request)


@pytest.fixture
def docs_sim(_docs_sim):
    """The docs-dialect simulator, reset."""
    _docs_sim.reset()
    return _docs_sim


@pytest.fixture(params=("server", "docs", REAL))
def any_sim(request):
    """Each dialect in turn, reset: for behaviour that both dialects share; and a real server."""
    return reset_target(request)


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
