"""A real Stalwart server with the simulator's test interface, so that the simulator's own suite
(``tests/simulator/``) runs against both: what the simulator claims about the wire (error texts,
property paths, query and reference behaviour, HTTP answers) is then checked against the server it
imitates. ``tests/simulator/conftest.py`` adds this as a ``real`` parameter of its fixtures.

The simulator's fixed credentials are translated to the real server's: ``admin-token`` to the
administrator's API key, ``readonly-token``, ``noperm-token`` and ``nooutbound-token`` to API keys
with the same permissions, and HTTP Basic ``admin@example.com`` / ``admin-password`` (also written
``admin``, in any case) to the real administrator. The simulator's control surface (``/_sim/``:
stats, faults, limits) does not exist on a real server: a test that needs it is skipped there.
``authorization(token)`` is the translated ``Authorization`` value for raw requests, and
``account_ids`` the account each token works in (every key is the administrator's, ``b``).
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.real.server import ACCOUNT, DOMAIN, LOGIN, bearer, http
from tests.support.sim import (ADMIN_PASSWORD, ADMIN_TOKEN, DEFAULT_OUTBOUND, NOOUTBOUND_TOKEN, NOPERM_TOKEN, READONLY_TOKEN,
                               USING, HttpAnswer)

STRATEGY_PERMISSIONS = ["sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery",
                        "sysMtaConnectionStrategyCreate", "sysMtaConnectionStrategyUpdate",
                        "sysMtaConnectionStrategyDestroy"]
KEY_PERMISSIONS = {
    READONLY_TOKEN: ["authenticate", "sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery",
                     "sysMtaOutboundStrategyGet"],
    NOPERM_TOKEN: ["authenticate"],
    NOOUTBOUND_TOKEN: ["authenticate", *STRATEGY_PERMISSIONS, "sysMtaOutboundStrategyUpdate", "sysActionCreate",
                       "actionReloadSettings"],
}
DEFAULT_STRATEGY = {"description": "Default connection strategy", "ehloHostname": None, "sourceIps": {},
                    "connectTimeout": 300000, "dataTimeout": 600000, "ehloTimeout": 300000,
                    "greetingTimeout": 300000, "mailFromTimeout": 300000, "rcptToTimeout": 300000}
ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"
_ADMIN_USER = re.compile(r"admin(@example\.com)?", re.IGNORECASE)


def id_value(text):
    """An id's number (base32 in the alphabet ``abcdefghijklmnopqrstuvwxyz792013``)."""
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


class RealServerAsSimulator:
    """The parts of ``tests.support.sim.Simulator`` a test may use, on a real server."""

    dialect = "server"
    initial_dialect = "server"
    api_path = "/jmap/"

    def __init__(self, server):
        self.server = server
        self.url = server.url
        self.port = server.port
        self.admin_user = LOGIN
        # every API key belongs to the administrator's account
        self.account_ids = {ADMIN_TOKEN: "b", READONLY_TOKEN: "b", NOPERM_TOKEN: "b", NOOUTBOUND_TOKEN: "b"}
        self.tokens = {ADMIN_TOKEN: server.admin_token}
        for name, permissions in KEY_PERMISSIONS.items():
            self.tokens[name] = server.create("ApiKey", {
                "description": f"simulator suite: {name}",
                "permissions": {"@type": "Replace", "permissions": {permission: True for permission in permissions}}},
                server.admin_auth)["secret"]
        self.initial_connection = server.outbound()["connection"]

    # --- what a test of the simulator calls ---------------------------------------------------

    def authorization(self, token=ADMIN_TOKEN):
        """The ``Authorization`` header value for a simulator token, translated to the real key."""
        return bearer(self.tokens.get(token, token))

    def jmap(self, method_calls, token=ADMIN_TOKEN, using=None):
        body = {"using": USING if using is None else using, "methodCalls": method_calls}
        answer = http("POST", self.url + self.api_path, body, bearer(self.tokens.get(token, token)))
        return json.loads(answer.body)

    def http(self, method, path, body=None, headers=None, timeout=30.0):
        headers = dict(headers or {})
        for name in list(headers):
            if name.lower() == "authorization":
                headers[name] = self._credentials(headers[name])
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        import urllib.error  # pylint: disable=import-outside-toplevel
        import urllib.request  # pylint: disable=import-outside-toplevel

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.build_opener(NoRedirect).open(request, timeout=timeout) as response:
                return HttpAnswer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return HttpAnswer(error.code, error.headers, error.read())

    def _credentials(self, value):
        scheme, _space, credentials = value.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip() in self.tokens:
            return f"{scheme} {self.tokens[credentials.strip()]}"
        if scheme.lower() == "basic":
            try:
                user, _colon, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return value
            if password == ADMIN_PASSWORD:
                user = _ADMIN_USER.sub(lambda match: LOGIN if match.group(1) else ACCOUNT, user)
                password = self.server.admin_password
            return f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return value

    def reset(self, seed_default=True, objects=None, outbound=None, limits=None):
        if limits:
            pytest.skip("a real server's limits cannot be set per test")
        listing = self.server.all_strategies()
        doomed = [item["id"] for item in listing if item["name"] != "default" or not seed_default]
        for start in range(0, len(doomed), 500):
            self.server.call("x:MtaConnectionStrategy/set", {"destroy": doomed[start:start + 500]})
        current = next((item for item in listing if item["name"] == "default"), None)
        if seed_default and current is None:
            self.server.create("MtaConnectionStrategy", {"name": "default", **DEFAULT_STRATEGY})
        elif seed_default and any(current.get(key) != value for key, value in DEFAULT_STRATEGY.items()):
            self.server.call("x:MtaConnectionStrategy/set", {"update": {current["id"]: DEFAULT_STRATEGY}})
        for item in objects or ():
            self.server.create("MtaConnectionStrategy", item)
        # The outbound strategy: its defaults, with the connection as found (or as given). Given
        # an ``outbound``, it is written by an update, as the simulator's reset stores it (a /get
        # with ids null lists the singleton only once an update has written it).
        target = {**DEFAULT_OUTBOUND, "connection": self.initial_connection, **(outbound or {})}
        answer = self.server.call("x:MtaOutboundStrategy/set", {"update": {"singleton": target}})
        if "singleton" not in (answer.get("updated") or {}):
            raise AssertionError(f"the outbound strategy was refused: {answer}")
        if outbound is not None:
            listed = self.server.call("x:MtaOutboundStrategy/get", {"properties": ["id"]})["list"]
            if not listed:
                changed = {**target, "connection": {"match": {}, "else": "'reset'"}}
                for value in (changed, target):
                    self.server.call("x:MtaOutboundStrategy/set", {"update": {"singleton": value}})
        return {"ok": True, "dialect": "server"}

    def objects(self):
        """The stored strategies, ascending id, as /get shows them."""
        return sorted(self.server.all_strategies(), key=lambda item: id_value(item["id"]))

    def dump(self):
        """The stored strategies and the outbound strategy (without its id), like /_sim/objects
        without the reload count (a real server does not count them)."""
        outbound = {key: value for key, value in self.server.outbound().items() if key != "id"}
        return {"strategies": self.objects(), "outbound": outbound}

    def _no_control(self, *args, **kwargs):
        pytest.skip("the simulator's control surface (/_sim/) does not exist on a real server")

    stats = configure = fault = faults = log = refuse = _no_control

    @property
    def account_id(self):
        return "b"

    @property
    def domain(self):
        return DOMAIN
