"""A throwaway Stalwart server for the real-server suite, started from a binary the tests are given.

The binary is ``STALWART_BIN`` or ``stalwart`` on ``PATH``; nothing here builds one. Each server
gets its own temporary directory (an SQLite data store), its own loopback port and nothing but one
HTTP listener on ``127.0.0.1``; it is stopped and its directory removed afterwards, also when a
test fails. docs/real-server-tests.md tells how to run the suite, and how to point it at an
existing server instead.

How a fresh data store becomes a usable test server (docs/real-server-tests.md, "A throwaway server"):

1. **Recovery boot, inside a network namespace of its own.** A data store without a listener would
   open Stalwart's default listeners (25, 465, 993, ... on every address) on its first normal
   boot, and recovery mode listens on ``[::]``. So the recovery boot runs under ``unshare -n``,
   where only loopback exists and nothing is reachable from outside, with
   ``STALWART_RECOVERY_ADMIN`` as its administrator; ``_recovery.py`` then creates the HTTP
   listener on ``127.0.0.1:<port>`` (no TLS, no ``SO_REUSEPORT``, so that a taken port fails
   instead of silently sharing), a console tracer, and turns off the start-up downloads (web
   admin bundle, ASN database, spam rules) and the rate limits, and stops the server.
2. **Normal boot** with the same data store, in this namespace: the one listener above, the
   ``default`` strategy seeded, ``STALWART_RECOVERY_ADMIN`` still an administrator (the tests'
   independent read-back uses it).
3. **Accounts.** A domain and an administrator account (``ops@example.org``, HTTP Basic), an API
   key of that account (Bearer) and a read-only API key (strategy get and query only).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
RECOVERY_ADMIN = "recovery-admin"
DOMAIN = "example.org"
ACCOUNT = "ops"
LOGIN = f"{ACCOUNT}@{DOMAIN}"
READONLY_PERMISSIONS = ["authenticate", "sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery"]
START_TIMEOUT = 60.0
RECOVERY_SCRIPT = Path(__file__).resolve().with_name("_recovery.py")


def find_binary():
    """The Stalwart binary the tests are given: ``STALWART_BIN``, else ``stalwart`` on PATH."""
    given = os.environ.get("STALWART_BIN")
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("stalwart")


def clean_environment():
    """The environment for a server process: without ``CONFIG_PATH`` (it overrides every argument,
    ``--version`` included) and without the recovery variables of an outer shell."""
    environment = dict(os.environ)
    for name in ("CONFIG_PATH", "STALWART_RECOVERY_MODE", "STALWART_RECOVERY_MODE_PORT"):
        environment.pop(name, None)
    return environment


def binary_version(binary):
    """``stalwart --version`` (``0.16.19``), or None."""
    try:
        done = subprocess.run([binary, "--version"], env=clean_environment(), capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().split()[-1] if done.returncode == 0 and done.stdout.strip() else None


def namespace_available():
    """Whether this process may run a command in a new network namespace (root, or user
    namespaces allowed): the recovery boot needs one."""
    if shutil.which("unshare") is None:
        return False
    for command in (["unshare", "-n", "true"], ["unshare", "-rn", "true"]):
        try:
            if subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0:
                return True
        except (OSError, subprocess.TimeoutExpired):
            continue
    return False


def _unshare_prefix():
    if subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10, check=False).returncode == 0:
        return ["unshare", "-n", "--"]
    return ["unshare", "-rn", "--"]


def free_port():
    """A loopback port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerError(RuntimeError):
    pass


class JmapAnswer:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, auth=None, timeout=30.0):
    """One HTTP request (no redirect following); returns ``JmapAnswer``."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(url, data=data, method=method, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return JmapAnswer(response.status, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return JmapAnswer(error.code, error.read())


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer(token):
    return f"Bearer {token}"


class RealServer:
    """One throwaway Stalwart server (see the module docstring). A context manager."""

    def __init__(self, binary, keep_logs_on_failure=True):
        self.binary = binary
        self.version = binary_version(binary)
        self.directory = Path(tempfile.mkdtemp(prefix="stalwart-real-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.directory / "config.json"
        self.config.write_text(json.dumps({"@type": "Sqlite", "path": str(self.directory / "data.sqlite3")}))
        # Hex digits only: the server compares STALWART_RECOVERY_ADMIN's password as a hash when it
        # starts with "$", "_" or "{...}" (verify_secret_hash: "_" is a BSDi DES crypt hash), so a
        # token_urlsafe password that started with "_" (1 in 64) could never log in, and the
        # recovery boot failed with 401 for as long as it retried.
        self.recovery_password = secrets.token_hex(18)
        # not ASCII: the collection must send Basic credentials as UTF-8, which the server decodes
        self.admin_password = "Tr0ub4dor&3-ä€-" + secrets.token_urlsafe(12)
        self.admin_token = None
        self.readonly_token = None
        self.process = None
        self.log_path = self.directory / "server.log"
        self.start_seconds = None
        self.keep_logs_on_failure = keep_logs_on_failure

    # --- credentials ------------------------------------------------------------------------

    @property
    def recovery_auth(self):
        return basic(RECOVERY_ADMIN, self.recovery_password)

    @property
    def admin_auth(self):
        return basic(LOGIN, self.admin_password)

    def environment(self):
        environment = clean_environment()
        environment.update({
            "STALWART_RECOVERY_ADMIN": f"{RECOVERY_ADMIN}:{self.recovery_password}",
            "STALWART_PUBLIC_URL": self.url,
            "STALWART_HOSTNAME": "mx.example.org",
        })
        return environment

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.prepare()
            self.start()
            self.create_accounts()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self.close()

    def prepare(self):
        """The recovery boot in a network namespace of its own (module docstring, step 1)."""
        if not namespace_available():
            raise ServerError("the recovery boot needs a network namespace (unshare -n, as root or with user "
                              "namespaces), so that no port of it is reachable from outside")
        environment = self.environment()
        environment.update({"STALWART_RECOVERY_MODE": "1", "STALWART_RECOVERY_MODE_PORT": str(self.port)})
        command = _unshare_prefix() + [sys.executable, str(RECOVERY_SCRIPT), self.binary, str(self.config),
                                       str(self.port), str(self.directory / "recovery.log")]
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise ServerError(f"the recovery boot failed ({done.returncode}): {done.stdout[-2000:]} "
                              f"{done.stderr[-2000:]}\n{self.log_tail('recovery.log')}")

    def start(self):
        """A normal boot (step 2): wait until the session resource answers."""
        if self.process is not None:
            raise ServerError("already running")
        started = time.monotonic()
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen([self.binary, "--config", str(self.config)], env=self.environment(),
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        self._log = log
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the server exited ({self.process.returncode}) during start-up:\n{self.log_tail()}")
            try:
                if http("GET", f"{self.url}/jmap/session", timeout=2).status == 200:
                    self.start_seconds = time.monotonic() - started
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise ServerError(f"the server did not answer within {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Stop the server with ``sig`` (SIGTERM: a clean shutdown; SIGKILL: a crash)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()
        self.process = None

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, name="server.log", size=4000):
        try:
            return (self.directory / name).read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # --- JMAP ---------------------------------------------------------------------------------

    def jmap(self, method_calls, auth=None):
        """One JMAP request as the recovery administrator (or ``auth``); the parsed answer."""
        answer = http("POST", f"{self.url}/jmap/", {"using": USING, "methodCalls": method_calls},
                      auth or self.recovery_auth)
        if answer.status != 200:
            raise ServerError(f"JMAP request answered {answer.status}: {answer.body[:500]!r}")
        return answer.json()

    def call(self, name, arguments, auth=None):
        """One method call; its arguments, or ServerError on a method error."""
        [[answered, result, _id]] = self.jmap([[name, arguments, "c"]], auth)["methodResponses"]
        if answered == "error":
            raise ServerError(f"{name}: {result}")
        return result

    def create(self, object_type, body, auth=None):
        """Create one object; its id, or ServerError with the SetError."""
        result = self.call(f"x:{object_type}/set", {"create": {"new": body}}, auth)
        if "new" not in (result.get("created") or {}):
            raise ServerError(f"creating {object_type} {body}: {result}")
        return result["created"]["new"]

    def create_accounts(self):
        """A domain, the administrator ``ops@example.org`` and its two API keys (step 3)."""
        domain = self.create("Domain", {"name": DOMAIN})["id"]
        self.create("Account", {"@type": "User", "name": ACCOUNT, "domainId": domain,
                                "credentials": {"0": {"@type": "Password", "secret": self.admin_password}},
                                "roles": {"@type": "Admin"}})
        self.admin_token = self.create("ApiKey", {"description": "stalwart.mail tests"}, self.admin_auth)["secret"]
        self.readonly_token = self.create("ApiKey", {
            "description": "stalwart.mail tests, read-only",
            "permissions": {"@type": "Replace", "permissions": {name: True for name in READONLY_PERMISSIONS}}},
            self.admin_auth)["secret"]

    # --- independent read-back ------------------------------------------------------------------

    def all_strategies(self):
        """Every connection strategy, raw, paged past the 500-object limit of one /get."""
        listing, position = [], 0
        while True:
            query = self.call("x:MtaConnectionStrategy/query", {"position": position, "limit": 500,
                                                                "calculateTotal": True})
            if query["ids"]:
                listing += self.call("x:MtaConnectionStrategy/get", {"ids": query["ids"]})["list"]
            position += len(query["ids"])
            if not query["ids"] or position >= query["total"]:
                return listing

    def strategies(self):
        """Every connection strategy as the server returns it, by name (raw wire form)."""
        listing = self.all_strategies()
        found = {}
        for item in listing:
            if item["name"] in found:
                raise AssertionError(f"duplicate name on the server: {item['name']!r}")
            found[item["name"]] = item
        return found

    def outbound(self):
        """The outbound strategy singleton as the server returns it."""
        return self.call("x:MtaOutboundStrategy/get", {"ids": ["singleton"]})["list"][0]
