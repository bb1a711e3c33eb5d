"""Start and drive the Stalwart API simulator (``simulator/stalwart_sim.py``) from tests.

Standard library only, so that any suite (unit, integration, molecule helpers) can import it::

    with Simulator(dialect="docs") as sim:
        sim.reset(objects=[{"name": "bulk"}])
        body = sim.jmap([["x:MtaConnectionStrategy/get", {"ids": None}, "g"]])

Credentials are fixed in the simulator; see ``docs/simulator.md``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ADMIN_TOKEN = "admin-token"
READONLY_TOKEN = "readonly-token"
NOPERM_TOKEN = "noperm-token"
NOOUTBOUND_TOKEN = "nooutbound-token"
ADMIN_USER = "admin@example.com"
ADMIN_PASSWORD = "admin-password"
UTF8_USER, UTF8_PASSWORD = "utf8@example.com", "pässwörd-€-utf8"  # a Basic login whose password is not ASCII

REPO_ROOT = Path(__file__).resolve().parents[2]
SIMULATOR_SCRIPT = REPO_ROOT / "simulator" / "stalwart_sim.py"
USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
# The server's MtaOutboundStrategy as a fresh data store has it (MtaOutboundStrategy::default(),
# read back from the real server): four expressions, the connection one routing all mail to
# "default". The simulator starts from the same, and the tests compare with it.
DEFAULT_CONNECTION = {"match": {}, "else": "'default'"}
DEFAULT_OUTBOUND = {
    "connection": DEFAULT_CONNECTION,
    "route": {"match": {"0": {"if": "is_local_domain(rcpt_domain)", "then": "'local'"}}, "else": "'mx'"},
    "schedule": {"match": {"0": {"if": "is_local_domain(rcpt_domain)", "then": "'local'"},
                           "1": {"if": "source == 'dsn'", "then": "'dsn'"},
                           "2": {"if": "source == 'report'", "then": "'report'"}}, "else": "'remote'"},
    "tls": {"match": {"0": {"if": "retry_num > 0 && last_error == 'tls'", "then": "'invalid-tls'"}},
            "else": "'default'"},
}
STARTUP_TIMEOUT = 20.0


class HttpAnswer:
    """A raw HTTP answer: status, headers (an ``email.message.Message``), body bytes."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)


class Simulator:
    """One simulator process; a context manager that starts and stops it."""

    admin_user = ADMIN_USER  # the HTTP Basic user of the admin token's account
    # the account id each built-in token works in (docs/simulator.md, "Credentials")
    account_ids = {ADMIN_TOKEN: "b", READONLY_TOKEN: "c", NOPERM_TOKEN: "d", NOOUTBOUND_TOKEN: "e"}

    def __init__(self, dialect="server", tls_cert=None, tls_key=None, extra_args=(), state_file=None):
        self.dialect = dialect
        self.initial_dialect = dialect
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.extra_args = tuple(extra_args)
        self.state_file = state_file
        self.process = None
        self.url = None
        self.port = None
        self._stderr = None
        # The simulator's certificate is usually self-signed: the helper does not verify it.
        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE

    # -- lifecycle ---------------------------------------------------------------------------

    def command(self) -> list:
        """The command line that ``start`` runs."""
        command = [sys.executable, str(SIMULATOR_SCRIPT), "--port", "0", "--dialect", self.dialect]
        if self.tls_cert:
            command += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        if self.state_file:
            command += ["--state-file", str(self.state_file)]
        return command + list(self.extra_args)

    def start(self) -> "Simulator":
        """Spawn the simulator and wait for its ``listening on`` line; sets ``url`` and ``port``."""
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self._stderr,
                                        stdin=subprocess.DEVNULL)
        ready = select.select([self.process.stdout], [], [], STARTUP_TIMEOUT)[0]
        line = self.process.stdout.readline().decode() if ready else ""
        if "listening on " not in line:
            detail = self.stderr()  # read before stop() closes the capture
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r} {detail}")
        self.url = line.split("listening on ", 1)[1].split()[0]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stderr(self) -> str:
        """What the simulator wrote to stderr so far (last 2000 characters)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def stop(self):
        """Terminate the process (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.process = None

    def __enter__(self) -> "Simulator":
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # -- HTTP --------------------------------------------------------------------------------

    def http(self, method, path, body=None, headers=None, timeout=30.0) -> HttpAnswer:
        """One raw HTTP request (no redirect following); ``body`` bytes, str or JSON-able."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=dict(headers or {}))
        opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=self._context))
        try:
            with opener.open(request, timeout=timeout) as response:
                return HttpAnswer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return HttpAnswer(error.code, error.headers, error.read())

    def _control(self, method, path, body=None):
        answer = self.http(method, path, body, {"Content-Type": "application/json"})
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.body[:500]!r}")
        return answer.json()

    @property
    def api_path(self) -> str:
        """This dialect's JMAP endpoint path."""
        return "/jmap/" if self.dialect == "server" else "/api"

    # -- control surface ---------------------------------------------------------------------

    def stats(self) -> dict:
        """``GET /_sim/stats``."""
        return self._control("GET", "/_sim/stats")

    def log(self) -> list:
        """``GET /_sim/log``: the counted requests in arrival order, with their arrival times."""
        return self._control("GET", "/_sim/log")["requests"]

    def reset(self, seed_default=True, objects=None, outbound=None, limits=None):
        """``POST /_sim/reset``: objects, stats and faults cleared, start-up limits and dialect
        restored, then the given objects (wire form, validated like a create) stored."""
        body = {"seed_default": seed_default}
        if objects is not None:
            body["objects"] = list(objects)
        if outbound is not None:
            body["outbound"] = outbound
        if limits is not None:
            body["limits"] = limits
        answer = self._control("POST", "/_sim/reset", body)
        self.dialect = answer.get("dialect", self.initial_dialect)
        return answer

    def dump(self) -> dict:
        """``GET /_sim/objects``: strategies (as /get shows them), outbound, reloads."""
        return self._control("GET", "/_sim/objects")

    def objects(self) -> list:
        """The stored strategies, ascending id, in this dialect's /get form."""
        return self.dump()["strategies"]

    def configure(self, **limits) -> dict:
        """``POST /_sim/config``: maxObjectsInGet, maxObjectsInSet, maxCallsInRequest, dialect."""
        answer = self._control("POST", "/_sim/config", limits)
        self.dialect = answer["dialect"]
        return answer

    def fault(self, kind, count=1, match="any", **params) -> dict:
        """Queue a fault (http500, http502, http503, http504, http429, http403, drop_before,
        drop_after, delay, server_unavailable) for the next ``count`` matching requests
        (any/read/write/session); ``after=True`` makes a 5xx come after the request was committed;
        ``skip=N`` lets the first N matching requests through before the fault starts;
        ``body_contains="text"`` limits it to requests whose body holds that text (a strategy's
        name, say: faults for several tasks can then be queued at once)."""
        return self._control("POST", "/_sim/faults",
                             {"faults": [{"kind": kind, "count": count, "match": match, **params}]})

    def refuse(self, names) -> dict:
        """``POST /_sim/refuse``: creates and updates of these strategy names are refused with the
        given SetError (a dict), or with ``Invalid hostname or IP address`` on ``ehloHostname``
        (None); the refusals a client cannot foresee. Replaces the previous set; reset clears it."""
        if not isinstance(names, dict):
            names = {name: None for name in names}
        return self._control("POST", "/_sim/refuse", {"names": names})

    def faults(self) -> list:
        """The pending faults."""
        return self._control("GET", "/_sim/faults")["faults"]

    # -- JMAP --------------------------------------------------------------------------------

    @staticmethod
    def authorization(token=ADMIN_TOKEN) -> str:
        """The ``Authorization`` header value for ``token`` (for raw HTTP requests)."""
        return f"Bearer {token}"

    def jmap(self, method_calls, token=ADMIN_TOKEN, using=None) -> dict:
        """One POST to this dialect's JMAP endpoint; the parsed body (also for problem answers)."""
        body = {"using": USING if using is None else using, "methodCalls": method_calls}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return self.http("POST", self.api_path, body, headers).json()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Show redirects to the caller instead of following them."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def wait_until(predicate, timeout=5.0, interval=0.05):
    """Poll ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


if os.name == "nt":  # pragma: no cover - select() on pipes needs POSIX
    raise ImportError("tests.support.sim needs a POSIX system")
