# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""JmapClient against a real HTTP server on 127.0.0.1 that answers from a script: discovery,
error mapping, the retry policy (with an injected ``sleep``), packing, and secrets."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _client
from ansible_collections.stalwart.mail.plugins.module_utils._client import (
    DEFAULT_LIMITS,
    JmapClient,
    check_method_response,
)
from ansible_collections.stalwart.mail.plugins.module_utils._errors import (
    AuthenticationError,
    EndpointNotFound,
    MethodError,
    PermissionDenied,
    ProtocolError,
    StalwartError,
    TransportError,
    WriteOutcomeUnknown,
)

TOKEN = "API_Zx8Tq3-unit-secret-kP2wR7"
USER = "admin@example.org"
PASSWORD = "Pa55-unit-secret-Jm4Lx9"
PROBLEM = "application/problem+json"
GET = [["x:MtaConnectionStrategy/get", {"ids": None}, "c1"]]
SET = [["x:MtaConnectionStrategy/set", {"create": {"n1": {"name": "bulk"}}}, "c1"]]


def session(api_url="/jmap/", **core):
    limits = {"maxCallsInRequest": 16, "maxObjectsInGet": 500, "maxObjectsInSet": 500}
    limits.update(core)
    body = {"capabilities": {"urn:ietf:params:jmap:core": limits}, "accounts": {}, "primaryAccounts": {},
            "username": "", "state": "1"}
    if api_url is not None:
        body["apiUrl"] = api_url
    return {"json": body}


def no_session():
    return {"status": 404, "json": {"type": "about:blank", "status": 404, "title": "Not Found"},
            "content_type": PROBLEM}


def ok(*responses):
    return {"json": {"methodResponses": [list(item) for item in responses], "sessionState": "1"}}


def get_ok():
    return ok(["x:MtaConnectionStrategy/get", {"accountId": "b", "list": [], "notFound": []}, "c1"])


def echo(request):
    """Answer every call with an empty response of its own name (for packing tests)."""
    calls = json.loads(request["body"])["methodCalls"]
    return ok(*[[name, {}, call_id] for name, _args, call_id in calls])


class Script:
    """The answers the server gives, in order; each request is recorded."""

    def __init__(self):
        self.answers = []
        self.requests = []
        self.lock = threading.Lock()

    def next_answer(self, request):
        with self.lock:
            self.requests.append(request)
            answer = self.answers.pop(0) if self.answers else {"status": 599, "body": b"script exhausted"}
        return answer(request) if callable(answer) else answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        request = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        answer = self.server.script.next_answer(request)
        if answer.get("delay"):
            time.sleep(answer["delay"])
        if answer.get("drop"):
            # close without a byte of answer: the client cannot know whether the request was applied
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status = answer.get("status", 200)
        if "json" in answer:
            payload = json.dumps(answer["json"]).encode()
            content_type = answer.get("content_type", "application/json; charset=utf-8")
        else:
            payload = answer.get("body", b"")
            content_type = answer.get("content_type", "text/plain")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in answer.get("headers", {}).items():
            self.send_header(key, value)
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # the client gave up first (the timeout tests' delayed answers): expected, not an error
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve


class Server:
    def __init__(self):
        self.script = Script()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.script = self.script
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def answer(self, *answers):
        self.script.answers.extend(answers)

    @property
    def requests(self):
        return self.script.requests

    def posts(self):
        return [request for request in self.requests if request["method"] == "POST"]


@pytest.fixture
def server():
    running = Server()
    running.thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def client_for(server, **kwargs):
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("sleep", Sleeps())
    return JmapClient(server.url, **kwargs)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- discovery ---------------------------------------------------------------------------------


def test_session_found_gives_its_api_url_and_limits(server):
    server.answer(session(api_url=server.url + "/jmap/", maxCallsInRequest=4, maxObjectsInGet=50,
                          maxObjectsInSet=20, maxSizeRequest=200000))
    client = client_for(server)
    client.connect()
    assert client.session_found is True
    assert client.endpoint == server.url + "/jmap/"
    assert client.limits == {"max_calls_in_request": 4, "max_objects_in_get": 50, "max_objects_in_set": 20,
                             "max_size_request": 200000}
    assert client.requests_sent == 1
    assert [(r["method"], r["path"]) for r in server.requests] == [("GET", "/jmap/session")]
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_no_session_resource_means_the_documented_dialect(server):
    server.answer(no_session())
    client = client_for(server)
    client.connect()
    assert client.session_found is False
    assert client.endpoint == server.url + "/api"
    assert client.limits == DEFAULT_LIMITS
    assert client.requests_sent == 1


@pytest.mark.parametrize("answer", [session(), no_session()], ids=["session", "no-session"])
def test_explicit_api_url_wins_but_limits_still_come_from_the_session(server, answer):
    server.answer(answer)
    client = client_for(server, api_url="http://127.0.0.1:1/custom/")
    client.connect()
    assert client.endpoint == "http://127.0.0.1:1/custom/"
    assert client.requests_sent == 1


@pytest.mark.parametrize("advertised,path", [
    ("/jmap/", "/jmap/"),
    ("jmap/", "/jmap/"),
    ("http://stalwart-internal:8080/jmap/", "/jmap/"),  # host behind a proxy: keep ours
    ("https://mail.example.org/other/", "/other/"),
    (None, "/jmap/"),  # no apiUrl: the server dialect's endpoint
])
def test_api_url_keeps_our_scheme_host_and_port(server, advertised, path):
    server.answer(session(api_url=advertised))
    client = client_for(server)
    client.connect()
    assert client.endpoint == server.url + path


def test_url_path_prefix_is_kept(server):
    server.answer(session(api_url="http://internal/jmap/"))
    client = JmapClient(server.url + "/mail/", token=TOKEN)
    client.connect()
    assert server.requests[0]["path"] == "/mail/jmap/session"
    assert client.endpoint == server.url + "/mail/jmap/"


def test_missing_or_bad_limits_take_the_defaults(server):
    answer = session()
    answer["json"]["capabilities"]["urn:ietf:params:jmap:core"] = {"maxCallsInRequest": 8, "maxObjectsInGet": 0,
                                                                   "maxObjectsInSet": "many"}
    server.answer(answer)
    client = client_for(server)
    client.connect()
    assert client.limits == {"max_calls_in_request": 8, "max_objects_in_get": 500, "max_objects_in_set": 500,
                             "max_size_request": 10_000_000}


def test_connect_twice_sends_one_request(server):
    server.answer(session())
    client = client_for(server)
    client.connect()
    client.connect()
    assert client.requests_sent == 1 and len(server.requests) == 1


def test_post_connects_first_and_sends_the_envelope(server):
    server.answer(session(), get_ok())
    client = client_for(server)
    responses = client.post(GET)
    assert responses == [["x:MtaConnectionStrategy/get", {"accountId": "b", "list": [], "notFound": []}, "c1"]]
    post = server.posts()[0]
    assert post["path"] == "/jmap/"
    assert json.loads(post["body"]) == {"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"],
                                        "methodCalls": GET}
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["headers"]["Accept"] == "application/json"
    assert post["headers"]["User-Agent"].startswith("stalwart.mail-ansible/")
    assert client.requests_sent == 2


def test_basic_auth(server):
    server.answer(no_session(), get_ok())
    client = client_for(server, token=None, username=USER, password=PASSWORD)
    client.post(GET)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert all(request["headers"]["Authorization"] == expected for request in server.requests)
    assert server.posts()[0]["path"] == "/api"


@pytest.mark.parametrize("password", ["pässwörd", "pass-€-word"])
def test_basic_auth_sends_utf8(server, password):
    """RFC 7617: Stalwart decodes Basic credentials as UTF-8. requests encodes text as Latin-1: the
    first password reached the server as other bytes (401), the second raised before sending."""
    server.answer(no_session(), get_ok())
    client_for(server, token=None, username="öps@example.org", password=password).post(GET)
    expected = "Basic " + base64.b64encode(f"öps@example.org:{password}".encode()).decode()
    assert [request["headers"]["Authorization"] for request in server.requests] == [expected, expected]


@pytest.mark.parametrize("credentials, expected", [
    ({}, f"Bearer {TOKEN}"),
    ({"token": None, "username": USER, "password": PASSWORD},
     "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()),
    ({"token": None}, None),
], ids=["token", "basic", "none"])
def test_a_netrc_entry_for_the_host_is_not_read(server, tmp_path, monkeypatch, credentials, expected):
    """requests reads $NETRC (or ~/.netrc) for a request without auth of its own and lets its entry
    overwrite the Authorization header: the client sends what it was given, and nothing without
    credentials."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.answer(session(), get_ok())
    client_for(server, **credentials).post(GET)
    assert [request["headers"].get("Authorization") for request in server.requests] == [expected, expected]


# --- error mapping -----------------------------------------------------------------------------


def problem(status, problem_type, detail=None, **extra):
    body = {"type": problem_type, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return {"status": status, "json": body, "content_type": PROBLEM}


RAW_BODY = '{"using": ["urn:bogus"], "methodCalls": [["x:MtaConnectionStrategy/get", {}, "c1"]]}'

# answer to the POST, exception, words its message must hold, details it must carry
POST_ERRORS = [
    ("401", problem(401, "about:blank", "You have to authenticate first."), AuthenticationError,
     ["401", "token", "password"], {"status": 401}),
    ("403", problem(403, "about:blank", "Endpoint access denied"), PermissionDenied,
     ["403", "Endpoint access denied"], {"status": 403}),
    ("404", problem(404, "about:blank", "Not found"), EndpointNotFound, ["404", "/jmap/", "api_url"], {"status": 404}),
    ("notRequest", problem(400, "urn:ietf:params:jmap:error:notRequest", RAW_BODY), ProtocolError,
     ["notRequest", "400"], {"error_type": "notRequest", "status": 400}),
    ("notJSON", problem(400, "urn:ietf:params:jmap:error:notJSON",
                        "Failed to parse JSON: The Content-Type header must be application/json."),
     ProtocolError, ["notJSON", "Content-Type header"], {"error_type": "notJSON"}),
    ("limit", problem(400, "urn:ietf:params:jmap:error:limit",
                      "The request exceeds the maximum number of calls in a single request.",
                      limit="maxCallsInRequest"),
     ProtocolError, ["limit", "maxCallsInRequest"], {"error_type": "limit", "limit": "maxCallsInRequest"}),
    ("html-200", {"body": b"<html>login</html>", "content_type": "text/html"}, ProtocolError,
     ["not JSON", "text/html"], {"status": 200}),
    ("json-not-jmap", {"json": {"hello": "world"}}, ProtocolError, ["methodResponses"], {}),
    ("redirect", {"status": 302, "headers": {"Location": "https://elsewhere.example/jmap/"}}, EndpointNotFound,
     ["redirect", "302", "elsewhere.example"], {"status": 302}),
    ("500-read", {"status": 500, "body": b"boom"}, TransportError, ["500", "re-running is safe"], {"status": 500}),
    # a server failure with a problem body: not "the server refused the request (..., about:blank)"
    ("500-problem", problem(500, "about:blank", "Database unavailable"), TransportError,
     ["HTTP 500", "(Database unavailable)", "re-running is safe"], {"status": 500}),
    ("418", {"status": 418, "body": b"teapot"}, ProtocolError, ["418"], {"status": 418}),
]


@pytest.mark.parametrize("label,answer,exception,words,details", POST_ERRORS, ids=[case[0] for case in POST_ERRORS])
def test_post_error_mapping(server, label, answer, exception, words, details):
    server.answer(session(), answer)
    client = client_for(server)
    with pytest.raises(exception) as caught:
        client.post(GET)
    error = caught.value
    assert error.__class__ is exception, (label, error.__class__)
    for word in words:
        assert word in error.msg, (word, error.msg)
    for key, value in details.items():
        assert error.details.get(key) == value, (key, error.details)
    assert len(server.posts()) == 1, "not retried"
    assert TOKEN not in error.msg


@pytest.mark.parametrize("path, hinted", [
    ("", False), ("/stalwart", False), ("/jmap", True), ("/jmap/", True), ("/jmap/session", True), ("/api", True)])
def test_a_404_says_when_url_holds_the_api_path(server, path, hinted):
    """A url given as the JMAP endpoint (…/jmap) finds no session under it and no API: the message
    says that url is the server's URL; a reverse proxy's own prefix gets no such hint."""
    server.answer(no_session(), problem(404, "about:blank", "Not found"))
    with pytest.raises(EndpointNotFound) as caught:
        JmapClient(server.url + path, token=TOKEN, timeout=5, sleep=Sleeps()).post(GET)
    assert ("without the API's path" in caught.value.msg) is hinted, caught.value.msg


def test_not_request_does_not_echo_the_request_body(server):
    server.answer(session(), problem(400, "urn:ietf:params:jmap:error:notRequest", RAW_BODY))
    with pytest.raises(ProtocolError) as caught:
        client_for(server).post(GET)
    assert "urn:bogus" not in caught.value.msg
    assert "urn:bogus" not in json.dumps(caught.value.fail_kwargs())


def test_500_on_a_write_means_its_outcome_is_unknown(server):
    server.answer(session(), {"status": 500, "body": b"boom"})
    with pytest.raises(WriteOutcomeUnknown):
        client_for(server).post(SET, write=True)
    assert len(server.posts()) == 1


@pytest.mark.parametrize("answer,exception", [
    (problem(401, "about:blank", "You have to authenticate first."), AuthenticationError),
    (problem(403, "about:blank"), PermissionDenied),
    ({"body": b"<html/>", "content_type": "text/html"}, ProtocolError),
], ids=["401", "403", "html"])
def test_session_errors(server, answer, exception):
    server.answer(answer)
    with pytest.raises(exception):
        client_for(server).connect()
    assert len(server.requests) == 1


@pytest.mark.parametrize("validate_certs", [True, False])
def test_tls_to_a_plain_http_port_points_at_the_scheme_and_port(server, validate_certs):
    """Speaking TLS to a plain-HTTP server fails the handshake, not a certificate check: neither a CA
    bundle nor validate_certs: false helps (the test once asked for them: the message did), the
    scheme or the port does."""
    client = JmapClient(server.url.replace("http://", "https://"), token=TOKEN, retries=2, sleep=Sleeps(),
                        validate_certs=validate_certs)
    with pytest.raises(TransportError) as caught:
        client.connect()
    assert "TLS handshake" in caught.value.msg and "scheme and port" in caught.value.msg, caught.value.msg
    assert "ca_path" not in caught.value.msg and "validate_certs" not in caught.value.msg, caught.value.msg
    assert client.requests_sent == 1, "a TLS failure is not transient"


def test_a_dead_proxy_from_the_environment_is_named(server, monkeypatch):
    """HTTP_PROXY from the environment that nothing answers at: the message names the proxy and
    where it comes from, not the server (which was never reached)."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxyuser:proxysecret@127.0.0.1:9")
    client = JmapClient(server.url, token=TOKEN, retries=1, sleep=Sleeps())
    with pytest.raises(TransportError) as caught:
        client.connect()
    assert "through the proxy http://127.0.0.1:9" in caught.value.msg and "NO_PROXY" in caught.value.msg, caught.value.msg
    assert "proxysecret" not in caught.value.msg
    assert server.requests == []


@pytest.mark.parametrize("proxy", ["http://proxyuser:proxysecret@127.0.0.1:99999",  # a port past 65535
                                   "socks5://proxyuser:proxysecret@127.0.0.1:1080"])  # no PySocks
def test_a_proxy_that_cannot_be_used_is_named_without_its_credentials_and_not_retried(server, monkeypatch, proxy):
    """requests could not use the proxy from the environment ("Failed to parse: http://user:pw@..."):
    the password showed in three retry warnings and the message, the server was blamed for a local
    setting, and the same error was retried with backoff."""
    from tests.support import inproc  # pylint: disable=import-outside-toplevel

    pytest.importorskip("requests")
    if proxy.startswith("socks"):
        try:
            import socks  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
            pytest.skip("PySocks is installed: requests can use a socks5 proxy")
        except ImportError:
            pass
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy)
    warnings = []
    client = JmapClient(server.url, token=TOKEN, retries=3, sleep=Sleeps(), warn=warnings.append)
    with pytest.raises(TransportError) as caught:
        client.connect()
    message = caught.value.msg
    assert "proxysecret" not in message and "proxyuser" not in message, message
    assert "through the proxy" in message and "NO_PROXY" in message, message
    assert warnings == [] and client.requests_sent == 1, (warnings, client.requests_sent)
    assert server.requests == []
    # and through the module, with every retry warning it may make
    result = inproc.run_module("mta_connection_strategy_info", {"url": server.url, "token": TOKEN})
    assert result["failed"] is True and "proxysecret" not in json.dumps(result), result


def test_credentials_quoted_by_a_gateway_are_masked_before_the_text_is_cut(server, monkeypatch):
    """An error text is cut to 300 characters; the module's masking came after the cut, so a token
    that straddled the cut showed its first half. The proxy's credentials are masked too, in the
    form a gateway echoing Proxy-Authorization shows them."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY",
                 "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy_basic = base64.b64encode(b"proxyuser:proxysecret").decode()
    secrets = [TOKEN, proxy_basic]
    for status_code, kind in ((500, TransportError), (400, StalwartError)):
        for secret in secrets:
            text = "x" * (300 - len(secret) // 2) + secret  # the cut falls in the middle of the secret
            server.answer(session(), problem(status_code, "about:blank", text))
            client = JmapClient(server.url, token=TOKEN, retries=0, known_secrets=[proxy_basic])
            with pytest.raises(kind) as caught:
                client.post(GET)
            shown = caught.value.msg + json.dumps(caught.value.details.get("detail"))
            assert secret[: len(secret) // 2] not in shown, (status_code, shown)


MALFORMED = {
    "list-is-an-object": ({"total": 1, "ids": ["a"]}, {"list": {"0": {"id": "a", "name": "bulk"}}}),
    "name-is-a-list": ({"total": 1, "ids": ["a"]}, {"list": [{"id": "a", "name": ["bulk"]}]}),
    "item-is-a-string": ({"total": 1, "ids": ["a"]}, {"list": ["bulk"]}),
    "total-is-a-string": ({"total": "1", "ids": ["a"]}, {"list": [{"id": "a", "name": "bulk"}]}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("module", ["mta_connection_strategy_info", "mta_connection_strategy"])
def test_a_listing_in_another_form_fails_in_words_not_in_a_crash(server, case, module):
    """A /get whose list was an object, or whose item's name was a list, crashed the engine
    (KeyError: 0, TypeError: unhashable type), reported differently by the two paths."""
    from tests.support import inproc  # pylint: disable=import-outside-toplevel

    query, got = MALFORMED[case]

    def answer(request):  # each call of the request answered in its own name
        responses = []
        for name, _args, call_id in json.loads(request["body"])["methodCalls"]:
            if name.startswith("x:MtaConnectionStrategy/"):
                responses.append([name, query if name.endswith("/query") else got, call_id])
            else:
                responses.append([name, {"list": [], "notFound": []}, call_id])
        return ok(*responses)
    server.answer(session(), answer)
    args = {"url": server.url, "token": TOKEN}
    if module == "mta_connection_strategy":
        args.update(strategies=[{"name": "bulk"}], purge=True)
    result = inproc.run_module(module, args)
    assert result.get("failed") is True, result
    assert "x:MtaConnectionStrategy/" in result["msg"] and "exception" not in result, result
    assert "Traceback" not in result["msg"] and "MODULE FAILURE" not in result["msg"], result["msg"]


def test_giving_up_after_retries_reports_http_attempts_not_ansibles_attempts(server):
    """The result of a request given up after its retries carried "attempts", Ansible's own key for
    a task's until/retries: Ansible overwrote it there, and kept it through no_log's censoring."""
    from tests.support import inproc  # pylint: disable=import-outside-toplevel

    server.answer(*[status(503)] * 3)
    result = inproc.run_module("mta_connection_strategy_info", {"url": server.url, "token": TOKEN, "retries": 1})
    assert result["failed"] is True and "after 2 attempts" in result["msg"], result
    assert "attempts" not in result and result["http_attempts"] == 2, result


def test_a_proxy_asking_for_credentials_says_so(server):
    server.answer({"status": 407, "body": b"<html>Proxy Authentication Required</html>", "content_type": "text/html"})
    with pytest.raises(TransportError) as caught:
        client_for(server).connect()
    assert "HTTP 407" in caught.value.msg and "HTTPS_PROXY" in caught.value.msg, caught.value.msg


# --- retries -----------------------------------------------------------------------------------


def status(code, **headers):
    return {"status": code, "body": b"busy", "headers": headers}


def unavailable():
    return ok(["error", {"type": "serverUnavailable",
                         "description": "This server is temporarily unavailable."}, "c1"])


@pytest.mark.parametrize("code,write", [(429, False), (502, False), (503, False), (504, False), (429, True)],
                         ids=["429-read", "502-read", "503-read", "504-read", "429-write"])
def test_transient_status_is_retried_with_backoff(server, code, write):
    """Reads after any transient status; writes only after 429 (refused before processing)."""
    server.answer(session(), status(code), status(code), get_ok())
    sleeps, warned = Sleeps(), []
    client = client_for(server, sleep=sleeps, warn=warned.append)
    assert client.post(GET, write=write)[0][0] == "x:MtaConnectionStrategy/get"
    assert len(server.posts()) == 3
    assert sleeps == [0.5, 1.0]
    assert client.requests_sent == 4 and client.requests_retried == 2
    # each retry is a warning that says what is retried, when, and why
    assert len(warned) == 2, warned
    for number, (text, delay) in enumerate(zip(warned, ("0.5", "1")), 1):
        assert text.startswith(f"retrying POST {server.url}/jmap/ in {delay} s (retry {number} of 3): "), text
        assert f"HTTP {code}" in text, text


def too_many_concurrent():
    """Stalwart 0.16.19's answer to a key without the permission unlimitedRequests past its
    maxConcurrentRequests (4) requests in flight: refused before anything is processed."""
    return {"status": 400, "content_type": "application/problem+json",
            "headers": {"RateLimit-Policy": '"concurrent-requests";q=4;qu="concurrent-requests"',
                        "RateLimit": '"concurrent-requests";r=0'},
            "json": {"type": "urn:ietf:params:jmap:error:limit", "status": 400,
                     "detail": "The request exceeds the maximum number of concurrent requests.",
                     "limit": "maxConcurrentRequests"}}


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_too_many_concurrent_requests_is_retried_with_backoff_reads_and_writes(server, write):
    """Other runs with the same credentials (forks of a cluster on one API) hold the server's
    concurrent requests: the refusal comes before processing, so a write is resent too."""
    server.answer(session(), too_many_concurrent(), too_many_concurrent(), get_ok())
    sleeps, warned = Sleeps(), []
    client = client_for(server, sleep=sleeps, warn=warned.append)
    assert client.post(GET, write=write)[0][0] == "x:MtaConnectionStrategy/get"
    assert len(server.posts()) == 3 and sleeps == [0.5, 1.0] and client.requests_retried == 2
    assert warned[0] == (f"retrying POST {server.url}/jmap/ in 0.5 s (retry 1 of 3): HTTP 400 maxConcurrentRequests: "
                         "more requests in flight for these credentials than the server's limit (4)"), warned


def test_too_many_concurrent_requests_past_the_retries_names_the_limit_and_the_permission(server):
    server.answer(session(), *[too_many_concurrent() for _attempt in range(4)])
    with pytest.raises(TransportError) as caught:
        client_for(server, retries=3).post(SET, write=True)
    assert caught.value.msg == (
        f"HTTP 400 maxConcurrentRequests: more requests in flight for these credentials than the server's limit (4) "
        f"from {server.url}/jmap/ after 4 attempts; nothing was changed by this request, so re-running is safe; "
        "Stalwart counts the requests in flight per account: run fewer forks against hosts that share a server, or "
        "use an account with the permission unlimitedRequests")
    assert caught.value.details["http_attempts"] == 4


@pytest.mark.parametrize("answer", [status(500), status(502), status(503), status(504),
                                    problem(500, "about:blank", "Internal Server Error"),
                                    problem(503, "about:blank", "Service Unavailable")],
                         ids=["500", "502", "503", "504", "500-problem", "503-problem"])
def test_5xx_after_a_write_means_its_outcome_is_unknown_and_it_is_not_resent(server, answer):
    """A gateway's 502/504 may come after the server committed the write: resending it could
    apply it twice (or report no change for a change that was made)."""
    server.answer(session(), answer, get_ok())
    sleeps = Sleeps()
    with pytest.raises(WriteOutcomeUnknown) as caught:
        client_for(server, sleep=sleeps).post(SET, write=True)
    assert len(server.posts()) == 1 and sleeps == []
    assert f"HTTP {answer['status']}" in caught.value.msg and "was not sent again" in caught.value.msg


def test_retries_run_out_with_a_clear_message(server):
    server.answer(session(), *[status(503) for _attempt in range(10)])
    sleeps = Sleeps()
    client = client_for(server, retries=3, sleep=sleeps)
    with pytest.raises(TransportError) as caught:
        client.post(GET)
    assert caught.value.__class__ is TransportError
    assert "HTTP 503" in caught.value.msg and "after 4 attempts" in caught.value.msg
    assert server.url + "/jmap/" in caught.value.msg
    assert "re-running is safe" in caught.value.msg
    assert len(server.posts()) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_retries_zero_means_one_attempt(server):
    server.answer(session(), status(503), get_ok())
    client = client_for(server, retries=0)
    with pytest.raises(TransportError, match="after 1 attempt;"):
        client.post(GET)
    assert len(server.posts()) == 1


def test_session_read_is_retried(server):
    server.answer(status(503), status(502), session())
    client = client_for(server)
    client.connect()
    assert client.session_found is True and client.requests_sent == 3


@pytest.mark.parametrize("retry_after,expected", [("2", [2.0]), ("999", [30.0]), (None, [0.5]), ("soon", [0.5])])
def test_retry_after_is_honoured_and_capped(server, retry_after, expected):
    headers = {"Retry-After": retry_after} if retry_after else {}
    server.answer(session(), status(429, **headers), get_ok())
    sleeps = Sleeps()
    client_for(server, sleep=sleeps).post(GET)
    assert sleeps == expected


def test_retry_after_as_http_date(server):
    from email.utils import formatdate
    server.answer(session(), status(429, **{"Retry-After": formatdate(time.time() + 10, usegmt=True)}), get_ok())
    sleeps = Sleeps()
    client_for(server, sleep=sleeps).post(GET)
    assert len(sleeps) == 1 and 7 <= sleeps[0] <= 11


def test_dropped_connection_on_a_read_is_retried(server):
    server.answer(session(), {"drop": True}, get_ok())
    client = client_for(server)
    assert client.post(GET)[0][0] == "x:MtaConnectionStrategy/get"
    assert len(server.posts()) == 2


def test_dropped_connection_on_a_write_is_never_resent(server):
    server.answer(session(), {"drop": True}, get_ok())
    client = client_for(server)
    with pytest.raises(WriteOutcomeUnknown) as caught:
        client.post(SET, write=True)
    assert len(server.posts()) == 1
    assert "closed" in caught.value.msg and "not sent again" in caught.value.msg
    assert isinstance(caught.value, TransportError)


def test_dropped_connection_past_retries_says_so(server):
    server.answer(session(), *[{"drop": True} for _attempt in range(5)])
    with pytest.raises(TransportError) as caught:
        client_for(server, retries=2).post(GET)
    assert "closed" in caught.value.msg and "after 3 attempts" in caught.value.msg
    assert "re-running is safe" in caught.value.msg


def test_server_unavailable_on_a_read_is_retried(server):
    server.answer(session(), unavailable(), get_ok())
    client = client_for(server)
    assert client.post(GET)[0][0] == "x:MtaConnectionStrategy/get"
    assert len(server.posts()) == 2


def test_server_unavailable_past_retries(server):
    server.answer(session(), *[unavailable() for _attempt in range(3)])
    with pytest.raises(TransportError, match="serverUnavailable.*after 2 attempts.*re-running is safe"):
        client_for(server, retries=1).post(GET)


def test_server_unavailable_on_a_write_is_never_resent(server):
    server.answer(session(), ok(["x:MtaConnectionStrategy/set", {"created": {"n1": {"id": "a"}}}, "c0"],
                                ["error", {"type": "serverUnavailable"}, "c1"]), get_ok())
    with pytest.raises(WriteOutcomeUnknown) as caught:
        client_for(server).post(SET, write=True)
    assert caught.value.details["error_type"] == "serverUnavailable"
    assert len(server.posts()) == 1


def test_hung_server_hits_the_timeout_and_reads_are_retried(server):
    server.answer(session(), {"delay": 1.0, **get_ok()}, {"delay": 1.0, **get_ok()})
    client = client_for(server, timeout=0.2, retries=1)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.post(GET)
    assert "no answer within 0.2 s (timed out)" in caught.value.msg
    assert "after 2 attempts" in caught.value.msg
    assert time.monotonic() - started < 1.9  # two 0.2 s timeouts, not one 1 s delay twice
    assert len(server.posts()) == 2


def test_read_timeout_on_a_write_is_never_resent(server):
    server.answer(session(), {"delay": 1.0, **get_ok()}, get_ok())
    with pytest.raises(WriteOutcomeUnknown, match="timed out"):
        client_for(server, timeout=0.2).post(SET, write=True)
    assert len(server.posts()) == 1


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_connection_refused_is_retried_even_for_writes(write):
    port = free_port()
    sleeps = Sleeps()
    client = JmapClient(f"http://127.0.0.1:{port}", api_url=f"http://127.0.0.1:{port}/jmap/", token=TOKEN,
                        retries=2, sleep=sleeps)
    client._connected = True  # pylint: disable=protected-access  # skip discovery: this is about the POST
    client.endpoint = f"http://127.0.0.1:{port}/jmap/"
    with pytest.raises(TransportError) as caught:
        client.post(SET, write=write)
    assert caught.value.__class__ is TransportError, "refused before sending: nothing can have been applied"
    assert "refused" in caught.value.msg.lower() and str(port) in caught.value.msg
    assert "after 3 attempts" in caught.value.msg and "re-running is safe" in caught.value.msg
    assert client.requests_sent == 3 and sleeps == [0.5, 1.0]


# --- packing -----------------------------------------------------------------------------------


def calls(count, start=0):
    return [["x:MtaConnectionStrategy/get", {"ids": [f"i{index}"]}, f"c{index}"] for index in range(start, start + count)]


@pytest.mark.parametrize("sizes,limit,posts", [
    ([1] * 40, 16, [16, 16, 8]),
    ([3] * 14, 16, [15, 15, 12]),
    ([2, 15, 1], 16, [2, 16]),
    ([16], 16, [16]),
    ([1] * 4, 1, [1, 1, 1, 1]),
    ([], 16, []),
])
def test_post_many_packs_groups_without_splitting_them(server, sizes, limit, posts):
    server.answer(session(maxCallsInRequest=limit), *[echo for _post in posts])
    groups = []
    start = 0
    for size in sizes:
        groups.append(calls(size, start))
        start += size
    client = client_for(server)
    responses = client.post_many(groups)
    sent = [json.loads(request["body"])["methodCalls"] for request in server.posts()]
    assert [len(batch) for batch in sent] == posts
    # every group lies within one POST, in order
    flat_ids = [call[2] for batch in sent for call in batch]
    assert flat_ids == [f"c{index}" for index in range(start)]
    post_of = {call[2]: number for number, batch in enumerate(sent) for call in batch}
    for group in groups:
        assert len({post_of[call[2]] for call in group}) == 1
    assert [item[2] for item in responses] == flat_ids


def test_post_many_refuses_a_group_larger_than_the_limit(server):
    server.answer(session(maxCallsInRequest=4))
    with pytest.raises(ProtocolError, match="maxCallsInRequest"):
        client_for(server).post_many([calls(5)])
    assert server.posts() == []


# --- method responses ----------------------------------------------------------------------------


def test_check_method_response_returns_args():
    assert check_method_response(["x:MtaConnectionStrategy/get", {"list": []}, "c1"],
                                 "x:MtaConnectionStrategy/get") == {"list": []}


@pytest.mark.parametrize("response,expected,exception,details", [
    (["error", {"type": "forbidden", "description": "You are not authorized to create objects of this type"}, "c1"],
     "x:MtaConnectionStrategy/set", PermissionDenied,
     {"permission": "sysMtaConnectionStrategyCreate", "error_type": "forbidden"}),
    (["error", {"type": "forbidden", "description": "You are not authorized to perform this action"}, "c1"],
     "x:MtaOutboundStrategy/get", PermissionDenied, {"permission": "sysMtaOutboundStrategyGet"}),
    (["error", {"type": "unknownMethod", "description": "x:MtaConnectionStrategy/changes"}, "c1"],
     "x:MtaConnectionStrategy/changes", MethodError,
     {"error_type": "unknownMethod", "description": "x:MtaConnectionStrategy/changes"}),
    (["error", {"type": "requestTooLarge"}, "c1"], "x:MtaConnectionStrategy/get", MethodError,
     {"error_type": "requestTooLarge", "method": "x:MtaConnectionStrategy/get"}),
    (["x:MtaConnectionStrategy/query", {}, "c1"], "x:MtaConnectionStrategy/get", ProtocolError, {}),
    (["x:MtaConnectionStrategy/get", [], "c1"], "x:MtaConnectionStrategy/get", ProtocolError, {}),
    (["x:MtaConnectionStrategy/get", {}], "x:MtaConnectionStrategy/get", ProtocolError, {}),
])
def test_check_method_response_errors(response, expected, exception, details):
    with pytest.raises(exception) as caught:
        check_method_response(response, expected)
    assert caught.value.__class__ is exception
    for key, value in details.items():
        assert caught.value.details[key] == value
    if "permission" in details:
        assert details["permission"] in caught.value.msg


# --- secrets -----------------------------------------------------------------------------------

SECRET_FORMS = [TOKEN, PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]

FAILURES = [
    ("401", [problem(401, "about:blank", "You have to authenticate first.")]),
    ("403", [problem(403, "about:blank")]),
    ("404", [problem(404, "about:blank")]),
    ("notRequest", [problem(400, "urn:ietf:params:jmap:error:notRequest", RAW_BODY)]),
    ("503", [status(503)] * 2),
    ("drop", [{"drop": True}] * 2),
    ("timeout", [{"delay": 0.6, **get_ok()}] * 2),
    ("serverUnavailable", [unavailable()] * 2),
    ("forbidden", [ok(["error", {"type": "forbidden", "description": "You are not authorized"}, "c1"])]),
]


@pytest.mark.parametrize("auth", ["token", "basic"])
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("label,answers", FAILURES, ids=[case[0] for case in FAILURES])
def test_no_secret_in_any_error_or_repr(server, auth, write, label, answers):
    credentials = {"token": TOKEN} if auth == "token" else {"token": None, "username": USER, "password": PASSWORD}
    server.answer(session(), *answers)
    warnings_seen = []
    texts = []
    client = client_for(server, timeout=0.2, retries=1, warn=warnings_seen.append, **credentials)
    try:
        responses = client.post(SET if write else GET, write=write)
        check_method_response(responses[0], (SET if write else GET)[0][0])
    except StalwartError as error:
        texts += [error.msg, str(error), repr(error), json.dumps(error.fail_kwargs(), default=str), repr(error.args)]
    else:
        pytest.fail(f"{label}: no error")
    texts += [repr(client), str(client), *warnings_seen]
    for text in texts:
        for form in SECRET_FORMS:
            assert form not in text, (label, text)


def test_repr_names_the_auth_method_only():
    client = JmapClient("https://user:urlsecret@mail.example.org", token=TOKEN)
    text = repr(client)
    assert "bearer" in text and TOKEN not in text and "urlsecret" not in text


def test_redact_url():
    assert _client.redact_url("https://u:p@mail.example.org:8443/x") == "https://mail.example.org:8443/x"
    assert _client.redact_url("https://mail.example.org") == "https://mail.example.org"
    # a password with '/', '?' or '#': a URL parser ends the host there and sees no credentials
    for password in ("p/w", "p?w", "p#w"):
        assert _client.url_userinfo(f"https://u:{password}@mail.example.org:8443") == (
            f"u:{password}", "https://mail.example.org:8443")
    assert _client.url_userinfo("https://mail.example.org/x") == (None, "https://mail.example.org/x")


def test_a_401_without_any_credentials_says_none_were_given(server):
    """With no token and no login (none in the task, none in the environment) the 401 said the
    server 'refused the credentials' and to check them: there were none to check."""
    server.answer(session(), problem(401, "about:blank", "You have to authenticate first."))
    with pytest.raises(AuthenticationError) as caught:
        JmapClient(server.url, retries=0).post(GET)
    assert "none were given" in caught.value.msg and "STALWART_TOKEN" in caught.value.msg, caught.value.msg
    assert "refused the credentials" not in caught.value.msg
    assert caught.value.details["status"] == 401


def test_a_404_at_a_given_api_url_says_to_check_api_url(server):
    """The 404's advice was to 'check url, or set api_url', also when api_url was set (perhaps
    from STALWART_API_URL) and was the one that was wrong."""
    server.answer(session(), problem(404, "about:blank", "Not found"))
    with pytest.raises(EndpointNotFound) as caught:
        client_for(server, api_url=server.url + "/nope/").post(GET)
    assert "check api_url (or STALWART_API_URL)" in caught.value.msg and "/nope/" in caught.value.msg, caught.value.msg
    assert "check url" not in caught.value.msg


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_a_gateway_echoing_the_authorization_header_shows_no_credentials(server, auth):
    """A gateway's error page may echo the request's headers: the module masks the token, and the
    Basic credentials in the form they travel in (base64 of user:password) as well."""
    from tests.support import inproc  # pylint: disable=import-outside-toplevel

    def echo(request):
        return problem(500, "about:blank", f"upstream refused; headers were: Authorization: "
                                           f"{request['headers'].get('Authorization')}")
    server.answer(*[echo] * 3)
    credentials = {"token": TOKEN} if auth == "token" else {"username": USER, "password": PASSWORD}
    result = inproc.run_module("mta_connection_strategy", dict(url=server.url, name="x", retries=1, **credentials))
    assert result["failed"] is True and "upstream refused" in result["msg"], result
    text = json.dumps(result)
    for form in SECRET_FORMS:
        assert form not in text, text


def test_a_proxys_413_names_its_body_limit_and_the_size_sent(server):
    """A proxy's body limit (nginx: 1 MiB by default) below the server's maxSizeRequest refuses a
    large write with 413: the message says so, and that nothing was applied."""
    server.answer(session(), {"status": 413, "body": b"<html>413 Request Entity Too Large</html>",
                              "content_type": "text/html"})
    client = client_for(server)
    with pytest.raises(StalwartError) as caught:
        client.post(SET, write=True)
    message = caught.value.msg
    assert "HTTP 413" in message and "client_max_body_size" in message and "maxSizeRequest (10000000 bytes)" in message
    assert f"of {client.request_size(SET)} bytes" in message and "re-running is safe" in message, message


def test_a_token_of_white_space_is_refused_in_words_that_masking_leaves_readable():
    """token: " " is a no_log value to Ansible, and masking it turned every space of the message
    that refuses it into asterisks."""
    from tests.support.inproc import run_module  # pylint: disable=import-outside-toplevel

    result = run_module("reload_settings", {"url": "http://127.0.0.1:9", "token": " "})
    assert result["failed"] is True and "********" not in result["msg"], result["msg"]
    assert "token" in result["msg"] and "white space" in result["msg"], result["msg"]
