"""Fixtures of the scenarios that run against a server: the simulator, and a real Stalwart server
when one is available (docs/real-server-tests.md).

``backend`` is parametrized: ``sim`` (the project's simulator, always) and ``real`` (marked
``real``: a throwaway server started from ``STALWART_BIN`` or ``stalwart`` on PATH, or an existing
server given by ``STALWART_TEST_URL``). The same test body runs on both, so that a difference
between them shows up as one test passing on one and failing on the other. ``scripts/test`` runs
the ``real`` ones in a stage of their own; without a server that stage says so in one line.

Every backend is reached through a counting proxy (``proxy.py``), so request counts are taken the
same way for both, and every check of what was stored reads the server back with raw JMAP
(``Backend.strategies``), never from the collection's own report.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from tests.real.proxy import CountingProxy
from tests.real.server import RealServer, ServerError, basic, bearer, binary_version, find_binary, http
from tests.support.sim import DEFAULT_CONNECTION, UTF8_PASSWORD, UTF8_USER, Simulator

USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
# Every strategy a scenario writes carries this prefix: against an existing server, the suite
# touches nothing else (the worker id keeps two pytest workers apart).
PREFIX = "smtest-" + os.environ.get("PYTEST_XDIST_WORKER", "gw") + "-"
SIM_READONLY_KEY = "readonly-key"  # like the real suite's read-only key: strategies get and query only
# Stalwart's x:Jmap limits (their defaults) and the simulator's names for them
JMAP_DEFAULTS = {"maxMethodCalls": 16, "getMaxResults": 500, "setMaxObjects": 500, "queryMaxResults": 5000}
SIM_LIMITS = {"maxMethodCalls": "maxCallsInRequest", "getMaxResults": "maxObjectsInGet",
              "setMaxObjects": "maxObjectsInSet", "queryMaxResults": "queryMaxResults"}


def real_target():
    """What the real part runs against: ("url", url) for an existing server, ("binary", path), or
    (None, why not)."""
    if os.environ.get("STALWART_TEST_URL"):
        return "url", os.environ["STALWART_TEST_URL"].rstrip("/")
    binary = find_binary()
    if binary:
        return "binary", binary
    return None, "no Stalwart server: set STALWART_BIN or put stalwart on PATH, or STALWART_TEST_URL"


class Backend:
    """One server the scenarios talk to, behind a counting proxy."""

    kind = None
    throwaway = True  # False for an existing server: no purge, no restarts, only PREFIX objects

    def __init__(self, target_url, admin_token, readonly_token, basic_user, basic_password, version):
        self.target_url = target_url
        self.admin_token = admin_token
        self.readonly_token = readonly_token
        self.basic_user = basic_user
        self.basic_password = basic_password
        self.version = version
        self.proxy = CountingProxy(target_url).__enter__()
        self.url = self.proxy.url

    def close(self):
        self.proxy.__exit__(None, None, None)

    # --- raw access, never through the collection ------------------------------------------------

    def jmap(self, method_calls, auth=None):
        answer = http("POST", f"{self.target_url}/jmap/", {"using": USING, "methodCalls": method_calls},
                      auth or bearer(self.admin_token))
        assert answer.status == 200, (answer.status, answer.body[:500])
        return answer.json()["methodResponses"]

    def call(self, name, arguments, auth=None):
        [[answered, result, _id]] = self.jmap([[name, arguments, "c"]], auth)
        assert answered != "error", (name, result)
        return result

    def all_strategies(self):
        """Every strategy on the server (paged past the 500-object limit), raw, by name."""
        found, position = {}, 0
        while True:
            [query, listing] = self.jmap([
                ["x:MtaConnectionStrategy/query", {"position": position, "limit": 500, "calculateTotal": True}, "q"],
                ["x:MtaConnectionStrategy/get",
                 {"#ids": {"resultOf": "q", "name": "x:MtaConnectionStrategy/query", "path": "/ids"}}, "g"]])
            for item in listing[1]["list"]:
                assert item["name"] not in found, f"duplicate name on the server: {item['name']!r}"
                found[item["name"]] = item
            position += len(query[1]["ids"])
            if not query[1]["ids"] or position >= query[1]["total"]:
                return found

    def strategies(self):
        """The strategies the suite may look at (raw wire form, by name): those with ``PREFIX`` and
        ``default``; on a throwaway server, every one."""
        found = self.all_strategies()
        if self.throwaway:
            return found
        return {name: item for name, item in found.items() if name.startswith(PREFIX) or name == "default"}

    def outbound(self):
        return self.call("x:MtaOutboundStrategy/get", {"ids": ["singleton"]})["list"][0]

    def set_connection(self, connection):
        result = self.call("x:MtaOutboundStrategy/set", {"update": {"singleton": {"connection": connection}}})
        assert "singleton" in (result.get("updated") or {}), result

    def destroy(self, names):
        ids = [item["id"] for name, item in self.all_strategies().items() if name in set(names)]
        for start in range(0, len(ids), 500):
            self.call("x:MtaConnectionStrategy/set", {"destroy": ids[start:start + 500]})

    def reset(self):
        """Back to a known state: ``default`` with its defaults and only it (throwaway), or no
        ``PREFIX`` strategy (existing server); the outbound ``connection`` as it was found; the
        proxy's counts at zero."""
        if self.throwaway:
            self.destroy([name for name in self.all_strategies() if name != "default"])
            current = self.all_strategies().get("default")
            defaults = {"description": "Default connection strategy", "ehloHostname": None, "sourceIps": {},
                        "connectTimeout": 300000, "dataTimeout": 600000, "ehloTimeout": 300000,
                        "greetingTimeout": 300000, "mailFromTimeout": 300000, "rcptToTimeout": 300000}
            if current is None:
                self.call("x:MtaConnectionStrategy/set", {"create": {"d": {"name": "default", **defaults}}})
            elif any(current.get(key) != value for key, value in defaults.items()):
                self.call("x:MtaConnectionStrategy/set", {"update": {current["id"]: defaults}})
        else:
            self.destroy([name for name in self.all_strategies() if name.startswith(PREFIX)])
        if self.outbound().get("connection") != self.initial_connection:
            self.set_connection(self.initial_connection)
        self.proxy.reset()

    @contextlib.contextmanager
    def jmap_limits(self, **limits):
        """Inside the block the server has these limits of Stalwart's ``x:Jmap`` settings
        (``maxMethodCalls``, ``getMaxResults``, ``setMaxObjects``, ``queryMaxResults``, by those
        names), and advertises those the session shows."""
        raise NotImplementedError

    def connection(self, auth="token"):
        """The module's connection options for ``auth``: token, readonly, basic."""
        if auth == "token":
            return {"url": self.url, "token": self.admin_token}
        if auth == "readonly":
            return {"url": self.url, "token": self.readonly_token}
        return {"url": self.url, "username": self.basic_user, "password": self.basic_password}


class SimBackend(Backend):
    kind = "sim"

    def __init__(self):
        self.simulator = Simulator(dialect="server", extra_args=[
            "--token", f"{SIM_READONLY_KEY}=authenticate,sysMtaConnectionStrategyGet,sysMtaConnectionStrategyQuery"]).start()
        super().__init__(self.simulator.url, "admin-token", SIM_READONLY_KEY, UTF8_USER, UTF8_PASSWORD,
                         "simulator")
        self.initial_connection = DEFAULT_CONNECTION

    def reset(self):
        self.simulator.reset()
        self.proxy.reset()

    @contextlib.contextmanager
    def jmap_limits(self, **limits):
        self.simulator.configure(**{SIM_LIMITS[name]: value for name, value in limits.items()})
        try:
            yield
        finally:
            self.simulator.configure(**{SIM_LIMITS[name]: JMAP_DEFAULTS[name] for name in limits})

    def close(self):
        super().close()
        self.simulator.stop()


class RealBackend(Backend):
    kind = "real"

    def __init__(self, server):
        self.server = server
        super().__init__(server.url, server.admin_token, server.readonly_token, "ops@example.org",
                         server.admin_password, server.version)
        self.initial_connection = self.outbound().get("connection")

    @contextlib.contextmanager
    def jmap_limits(self, **limits):
        # x:Jmap settings, read at start-up: the server takes them after a restart
        self._set_jmap(limits)
        try:
            yield
        finally:
            self._set_jmap({name: JMAP_DEFAULTS[name] for name in limits})

    def _set_jmap(self, settings):
        result = self.server.call("x:Jmap/set", {"update": {"singleton": settings}})
        assert "singleton" in (result.get("updated") or {}), result
        self.server.restart()

    def close(self):
        super().close()
        self.server.close()


class ExistingBackend(Backend):
    """A server given by ``STALWART_TEST_URL`` (``STALWART_TEST_TOKEN``, ``STALWART_TEST_READONLY_TOKEN``,
    ``STALWART_TEST_USER`` and ``STALWART_TEST_PASSWORD``)."""

    kind = "real"
    throwaway = False

    def __init__(self, url):
        version = "existing server at " + url
        super().__init__(url, os.environ.get("STALWART_TEST_TOKEN"), os.environ.get("STALWART_TEST_READONLY_TOKEN"),
                         os.environ.get("STALWART_TEST_USER"), os.environ.get("STALWART_TEST_PASSWORD"), version)
        self.initial_connection = self.outbound().get("connection")

    def reset(self):
        super().reset()


_BACKENDS = {}


def _open(kind):
    if kind == "sim":
        return SimBackend()
    how, what = real_target()
    if how == "url":
        return ExistingBackend(what)
    return RealBackend(RealServer(what).__enter__())


@pytest.fixture(scope="session")
def _backends():
    yield _BACKENDS
    for backend in _BACKENDS.values():
        backend.close()
    _BACKENDS.clear()


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real)])
def backend(request, _backends):
    """A server to run a scenario against, reset (see ``Backend.reset``)."""
    if request.param not in _backends:
        try:
            _backends[request.param] = _open(request.param)
        except ServerError as error:
            pytest.fail(f"could not start the real server: {error}")
    chosen = _backends[request.param]
    chosen.reset()
    return chosen


@pytest.fixture
def throwaway(backend):
    """The backend, when the scenario may do what only a throwaway server allows (purge)."""
    if not backend.throwaway:
        pytest.skip("an existing server: the suite deletes nothing it did not create")
    return backend


def pytest_report_header(config):
    how, what = real_target()
    if how is None:
        return f"real Stalwart server: {what}"
    if how == "url":
        return f"real Stalwart server: existing, at {what}"
    return f"real Stalwart server: {what} (version {binary_version(what)})"


__all__ = ["PREFIX", "Backend", "basic", "bearer"]
