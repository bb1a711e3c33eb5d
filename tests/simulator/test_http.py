"""HTTP surface: discovery per dialect, authentication, request-level errors, limits, TLS, CLI."""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.simulator.conftest import GET, QUERY, SET, call, result
from tests.support.sim import (ADMIN_PASSWORD, ADMIN_TOKEN, NOOUTBOUND_TOKEN, NOPERM_TOKEN, READONLY_TOKEN,
                               SIMULATOR_SCRIPT, USING, Simulator, wait_until)

JSON = {"Content-Type": "application/json"}
ADMIN = {**JSON, "Authorization": f"Bearer {ADMIN_TOKEN}"}
GET_ALL = {"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"], "methodCalls": [[GET, {}, "g"]]}
# sessionState and the session's state: a u32 as the server writes it, format!("{:x}")
HEX_U32 = re.compile(r"0|[1-9a-f][0-9a-f]{0,7}")


# --- discovery -------------------------------------------------------------------------------

def test_anonymous_session_has_capabilities_but_no_accounts(sim):
    answer = sim.http("GET", "/jmap/session")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    session = answer.json()
    assert session["accounts"] == {} and session["primaryAccounts"] == {} and session["username"] == ""
    core = session["capabilities"]["urn:ietf:params:jmap:core"]
    assert (core["maxCallsInRequest"], core["maxObjectsInGet"], core["maxObjectsInSet"]) == (16, 500, 500)
    assert core["maxSizeRequest"] == 10_000_000 and core["maxConcurrentRequests"] == 4
    assert session["apiUrl"] == f"{sim.url}/jmap/"
    # urn:stalwart:jmap is only an account capability, never a session-level one ([Endpoints and dialects]).
    assert "urn:stalwart:jmap" not in session["capabilities"]


def test_authenticated_session_names_the_account(sim):
    session = sim.http("GET", "/jmap/session", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert session["username"] == sim.admin_user
    # the real server: the account lists many more capabilities (mail, calendars, ...) and
    # primaryAccounts names it for each; the simulator models the Stalwart one
    own = sim.account_ids[ADMIN_TOKEN]
    assert session["primaryAccounts"]["urn:stalwart:jmap"] == own
    account = session["accounts"][own]
    assert (account["name"], account["isPersonal"], account["isReadOnly"]) == (sim.admin_user, True, False)
    assert account["accountCapabilities"]["urn:stalwart:jmap"] == {}
    assert HEX_U32.fullmatch(session["state"]), session["state"]


def test_session_state_is_hex_without_leading_zeros():
    """The server writes the state as ``format!("{:x}", u32)``: 1 to 8 digits, no leading zeros (a
    real server once answered ``38d10da``). The sixth extra token's account hashes below 2^28."""
    extra = tuple(arg for index in range(1, 7) for arg in ("--token", f"t{index}=readonly"))
    with Simulator(extra_args=extra) as running:
        session = running.http("GET", "/jmap/session", headers={"Authorization": "Bearer t6"}).json()
        assert (session["username"], session["state"]) == ("token6@example.com", "f5b1574")
        body = running.http("POST", "/jmap/", GET_ALL, {**JSON, "Authorization": "Bearer t6"}).json()
        assert body["sessionState"] == "f5b1574"


def test_session_with_bad_credentials_is_401(sim):
    assert sim.http("GET", "/jmap/session", headers={"Authorization": "Bearer nope"}).status == 401


def test_well_known_redirects_to_the_session(sim):
    answer = sim.http("GET", "/.well-known/jmap")
    assert answer.status == 307
    assert answer.headers["Location"] == "/jmap/session"
    assert answer.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/jmap", "/jmap/"])
def test_server_dialect_serves_jmap_at_both_paths(sim, path):
    answer = sim.http("POST", path, GET_ALL, ADMIN)
    assert answer.status == 200
    assert answer.json()["methodResponses"][0][0] == GET


def test_server_dialect_post_api_is_404_problem(sim):
    answer = sim.http("POST", "/api", GET_ALL, ADMIN)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["status"] == 404


@pytest.mark.parametrize("method,path", [("GET", "/jmap/session"), ("GET", "/.well-known/jmap"),
                                         ("POST", "/jmap"), ("POST", "/jmap/")])
def test_docs_dialect_has_no_session_and_no_jmap_path(docs_sim, method, path):
    answer = docs_sim.http(method, path, GET_ALL if method == "POST" else None, ADMIN)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_docs_dialect_serves_jmap_at_api(docs_sim):
    answer = docs_sim.http("POST", "/api", GET_ALL, ADMIN)
    assert answer.status == 200
    assert answer.json()["methodResponses"][0][1]["list"][0]["connectTimeout"] == "5m"


def test_unknown_path_is_404(any_sim):
    assert any_sim.http("GET", "/nothing/here").status == 404


@pytest.mark.parametrize("path", ["/jmap/", "/jmap/session", "/jmap/ws"])
def test_options_on_jmap_paths_is_204_without_credentials(any_sim, path):
    """[Endpoints and dialects]: ``OPTIONS /jmap/*`` is 204 in the server dialect; the docs dialect has no /jmap."""
    answer = any_sim.http("OPTIONS", path)
    if any_sim.dialect == "server":
        assert (answer.status, answer.body) == (204, b"")
    else:
        assert answer.status == 404
        assert answer.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/jmap", "/jmap/x", "/jmap/session", "/.well-known/jmap", "/api", "/api/x"])
def test_options_is_204_below_the_served_prefixes(sim, path):
    """The real server: OPTIONS is 204 for anything below /jmap, /.well-known and /api."""
    answer = sim.http("OPTIONS", path)
    assert (answer.status, answer.body) == (204, b"")


@pytest.mark.parametrize("method", ["OPTIONS", "GET", "POST"])
@pytest.mark.parametrize("path", ["/jmapx", "/apix", "/foo"])
def test_an_unknown_single_segment_redirects_to_its_folder(sim, method, path):
    """The real server: an unknown single path segment without a trailing slash is the web
    applications' redirect to ``<path>/``, whatever the method."""
    answer = sim.http(method, path)
    assert (answer.status, answer.headers["Location"], answer.body) == (302, f"{path}/", b"")


@pytest.mark.parametrize("method,path", [("OPTIONS", "/jmapx/"), ("OPTIONS", "/foo/bar"), ("GET", "/api"),
                                         ("GET", "/jmap/")])
def test_other_paths_are_404_problems(sim, method, path):
    answer = sim.http(method, path)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json() == {"type": "about:blank", "status": 404, "title": "Not Found",
                             "detail": "The requested resource does not exist on this server."}


# --- authentication --------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic " + base64.b64encode(
    b"admin@example.com:wrong").decode(), "Digest abc", "Basic !!notbase64"])
def test_bad_or_missing_credentials_give_401_with_both_challenges(any_sim, authorization):
    headers = dict(JSON)
    if authorization:
        headers["Authorization"] = authorization
    answer = any_sim.http("POST", any_sim.api_path, GET_ALL, headers)
    assert answer.status == 401
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers.get_all("WWW-Authenticate") == [
        'Bearer realm="Stalwart Server", resource_metadata="/.well-known/oauth-protected-resource"',
        'Basic realm="Stalwart Server"']
    assert answer.json() == {"type": "about:blank", "status": 401, "title": "Unauthorized",
                             "detail": "You have to authenticate first."}


@pytest.mark.parametrize("spelling", ["as is", "padded and shouted"])
def test_basic_auth_trims_and_lowercases_the_user(any_sim, spelling):
    user = any_sim.admin_user if spelling == "as is" else f"  {any_sim.admin_user.upper()} "
    token = base64.b64encode(f"{user}:{ADMIN_PASSWORD}".encode()).decode()
    answer = any_sim.http("POST", any_sim.api_path, GET_ALL, {**JSON, "Authorization": f"basic {token}"})
    assert answer.status == 200
    assert answer.json()["methodResponses"][0][1]["accountId"] == any_sim.account_ids[ADMIN_TOKEN]


def test_basic_auth_appends_no_domain_to_a_bare_user(any_sim):
    """The real server: a bare user name (``ops`` for ``ops@example.org``) is refused."""
    user = any_sim.admin_user.split("@")[0]
    token = base64.b64encode(f"{user}:{ADMIN_PASSWORD}".encode()).decode()
    answer = any_sim.http("POST", any_sim.api_path, GET_ALL, {**JSON, "Authorization": f"Basic {token}"})
    assert answer.status == 401


def test_bearer_scheme_is_case_insensitive(sim):
    answer = sim.http("POST", "/jmap/", GET_ALL, {**JSON, "Authorization": f"BEARER {ADMIN_TOKEN}"})
    assert answer.status == 200


def test_extra_tokens_from_the_command_line():
    with Simulator(extra_args=("--token", "ci-token=authenticate,sysMtaConnectionStrategyGet",
                               "--token", "ro=readonly", "--token", "no-api=sysMtaConnectionStrategyGet")) as running:
        assert call(running, GET, {}, token="ci-token")[0] == GET
        assert call(running, QUERY, {}, token="ci-token")[1]["type"] == "forbidden"
        assert call(running, QUERY, {}, token="ro")[0] == QUERY
        assert running.http("POST", "/jmap/", GET_ALL, {**JSON, "Authorization": "Bearer other"}).status == 401
        # without authenticate, as on Stalwart 0.16.19: 403 for the session and for any request
        refused = {"type": "about:blank", "status": 403, "title": "Forbidden",
                   "detail": "You do not have enough permissions to access this resource."}
        for answer in (running.http("GET", "/jmap/session", None, {"Authorization": "Bearer no-api"}),
                       running.http("POST", "/jmap/", GET_ALL, {**JSON, "Authorization": "Bearer no-api"})):
            assert answer.status == 403 and answer.json() == refused, answer.body


# --- permissions -----------------------------------------------------------------------------

FORBIDDEN = {"type": "forbidden", "description": "You are not authorized to perform this action"}


@pytest.mark.parametrize("token,name,allowed", [
    (READONLY_TOKEN, GET, True), (READONLY_TOKEN, QUERY, True),
    (READONLY_TOKEN, "x:MtaOutboundStrategy/get", True), (READONLY_TOKEN, "x:Action/set", False),
    (NOPERM_TOKEN, GET, False), (NOPERM_TOKEN, QUERY, False), (NOPERM_TOKEN, "x:MtaOutboundStrategy/get", False),
    (NOOUTBOUND_TOKEN, "x:MtaOutboundStrategy/get", False), (NOOUTBOUND_TOKEN, GET, True),
    (NOOUTBOUND_TOKEN, QUERY, True),
])
def test_read_permissions_per_token(any_sim, token, name, allowed):
    response = call(any_sim, name, {}, token=token)
    if allowed:
        assert response[0] == name
    elif name == "x:Action/set":
        assert response == ["error", {"type": "forbidden", "description":
                                      "You are not authorized to create, update or destroy objects of this type"}, "c1"]
    else:
        assert response == ["error", FORBIDDEN, "c1"]


def test_set_without_any_write_permission_is_forbidden_even_when_empty(any_sim):
    for token in (READONLY_TOKEN, NOPERM_TOKEN):
        assert call(any_sim, SET, {}, token=token) == ["error", {
            "type": "forbidden",
            "description": "You are not authorized to create, update or destroy objects of this type"}, "c1"]


def test_set_forbidden_names_the_missing_section():
    with Simulator(extra_args=("--token", "creator=authenticate,sysMtaConnectionStrategyCreate,"
                                          "sysMtaConnectionStrategyGet")) as running:
        assert call(running, SET, {"destroy": ["abc"]}, token="creator")[1] == {
            "type": "forbidden", "description": "You are not authorized to destroy objects of this type"}
        assert call(running, SET, {"update": {"abc": {}}}, token="creator")[1] == {
            "type": "forbidden", "description": "You are not authorized to update objects of this type"}
        assert "created" in call(running, SET, {"create": {"a": {"name": "x"}}}, token="creator")[1]
        # An empty /set is fine as soon as one of the three permissions is granted.
        # Extra tokens get accounts 10, 11, ... ("k" in base32).
        assert call(running, SET, {}, token="creator")[1] == {"accountId": "k"}


def test_nooutbound_token_can_write_strategies(any_sim):
    answer = result(any_sim, SET, {"create": {"a": {"name": "x"}}}, token=NOOUTBOUND_TOKEN)
    assert "created" in answer


# --- request-level errors --------------------------------------------------------------------

def test_malformed_json_is_not_request_with_the_body_echoed(any_sim):
    answer = any_sim.http("POST", any_sim.api_path, "{not json", ADMIN)
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json() == {"type": "urn:ietf:params:jmap:error:notRequest", "status": 400,
                             "detail": "{not json"}


@pytest.mark.parametrize("body", [
    [], {"methodCalls": []}, {"using": []}, {"using": "core", "methodCalls": []},
    {"using": ["urn:example:unknown"], "methodCalls": []},
    {"using": [], "methodCalls": [["x:MtaConnectionStrategy/get", [], "c"]]},
    {"using": [], "methodCalls": [["x:MtaConnectionStrategy/get", {}]]},
])
def test_bad_request_objects_are_not_request(any_sim, body):
    answer = any_sim.http("POST", any_sim.api_path, body, ADMIN)
    assert answer.status == 400
    assert answer.json()["type"] == "urn:ietf:params:jmap:error:notRequest"


def test_wrong_content_type_is_not_json(any_sim):
    answer = any_sim.http("POST", any_sim.api_path, GET_ALL,
                          {"Content-Type": "text/plain", "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status == 400
    assert answer.json() == {"type": "urn:ietf:params:jmap:error:notJSON", "status": 400,
                             "detail": "Failed to parse JSON: The Content-Type header must be application/json."}


def test_content_type_may_be_absent_or_carry_parameters(any_sim):
    # http.client, not urllib: urllib adds a form Content-Type to any body without one.
    for extra in ({}, {"Content-Type": "Application/JSON; charset=utf-8"}):
        connection = http.client.HTTPConnection("127.0.0.1", any_sim.port, timeout=10)
        try:
            connection.request("POST", any_sim.api_path, body=json.dumps(GET_ALL),
                               headers={"Authorization": any_sim.authorization(), **extra})
            response = connection.getresponse()
            assert response.status == 200, response.read()
            assert json.loads(response.read())["methodResponses"][0][0] == GET
        finally:
            connection.close()


def test_chunked_bodies_and_bad_lengths(any_sim):
    payload = json.dumps(GET_ALL).encode()
    connection = http.client.HTTPConnection("127.0.0.1", any_sim.port, timeout=10)
    try:
        connection.request("POST", any_sim.api_path, body=iter([payload[:10], payload[10:]]),
                           headers={**JSON, "Authorization": any_sim.authorization(), "Transfer-Encoding": "chunked"},
                           encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["methodResponses"][0][0] == GET
    finally:
        connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", any_sim.port, timeout=10)
    try:
        connection.putrequest("POST", any_sim.api_path)
        connection.putheader("Content-Length", "nope")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 400
        response.read()
    finally:
        connection.close()


def test_unknown_using_is_not_request_but_missing_stalwart_is_fine(any_sim):
    answer = any_sim.http("POST", any_sim.api_path, {**GET_ALL, "using": []}, ADMIN)
    assert answer.status == 200
    bad = any_sim.http("POST", any_sim.api_path, {**GET_ALL, "using": ["urn:stalwart:jmap", "urn:x"]}, ADMIN)
    assert bad.status == 400 and bad.json()["type"] == "urn:ietf:params:jmap:error:notRequest"


def assert_calls_limit(sim, limit):
    """``limit`` + 1 calls give the [Requests and answers] limit problem; ``limit`` calls are answered."""
    body = {"using": [], "methodCalls": [[GET, {}, f"c{index}"] for index in range(limit + 1)]}
    answer = sim.http("POST", sim.api_path, body, ADMIN)
    assert answer.status == 400
    assert answer.json() == {"type": "urn:ietf:params:jmap:error:limit", "status": 400,
                             "detail": "The request exceeds the maximum number of calls in a single request.",
                             "limit": "maxCallsInRequest"}
    body["methodCalls"].pop()
    assert sim.http("POST", sim.api_path, body, ADMIN).status == 200


def test_more_than_16_calls_is_a_limit_error(any_sim):
    assert_calls_limit(any_sim, 16)


def test_an_account_past_its_concurrent_requests_is_refused_before_anything_is_done(server_sim):
    """Stalwart 0.16.19, a read-only key, 10 clients: HTTP 400 with this body past
    maxConcurrentRequests (4) in flight; an account with unlimitedRequests (the administrator)
    is never refused; the refusal writes nothing; the session resource counts too."""
    sim = server_sim
    sim.fault("delay", count=4, seconds=1.5)
    readonly = {"Content-Type": "application/json", "Authorization": f"Bearer {READONLY_TOKEN}"}
    held = [threading.Thread(target=sim.http, args=("POST", "/jmap/", GET_ALL, readonly)) for _request in range(4)]
    for thread in held:
        thread.start()
    deadline = time.monotonic() + 5
    while sim.faults() and time.monotonic() < deadline:
        time.sleep(0.02)  # each delayed request took its fault once authenticated and holds its slot
    time.sleep(0.1)
    refused = sim.http("POST", "/jmap/", GET_ALL, readonly)
    session = sim.http("GET", "/jmap/session", headers={"Authorization": f"Bearer {READONLY_TOKEN}"})
    written = sim.http("POST", "/jmap/", {"using": [], "methodCalls": [[SET, {"create": {"n": {"name": "x"}}}, "c"]]},
                       ADMIN)
    for thread in held:
        thread.join()
    assert refused.status == 400 and session.status == 400, (refused.body, session.body)
    assert refused.json() == {"type": "urn:ietf:params:jmap:error:limit", "status": 400,
                              "detail": "The request exceeds the maximum number of concurrent requests.",
                              "limit": "maxConcurrentRequests"}
    assert refused.headers["RateLimit-Policy"] == '"concurrent-requests";q=4;qu="concurrent-requests"'
    assert written.status == 200 and "n" in written.json()["methodResponses"][0][1]["created"]
    assert sim.http("POST", "/jmap/", GET_ALL, readonly).status == 200  # the slots are free again


def test_lowered_limits_are_advertised(server_sim):
    sim = server_sim
    sim.configure(maxCallsInRequest=2, maxObjectsInGet=3, maxObjectsInSet=4)
    core = sim.http("GET", "/jmap/session").json()["capabilities"]["urn:ietf:params:jmap:core"]
    assert (core["maxCallsInRequest"], core["maxObjectsInGet"], core["maxObjectsInSet"]) == (2, 3, 4)
    sim.reset()  # back to the start-up limits
    core = sim.http("GET", "/jmap/session").json()["capabilities"]["urn:ietf:params:jmap:core"]
    assert core["maxCallsInRequest"] == 16


def test_lowered_limits_are_enforced(any_dialect):
    any_sim = any_dialect
    any_sim.configure(maxCallsInRequest=2, maxObjectsInGet=3, maxObjectsInSet=4)
    assert_calls_limit(any_sim, 2)
    assert call(any_sim, GET, {"ids": ["a", "b", "c", "d"]})[1]["type"] == "requestTooLarge"
    assert result(any_sim, GET, {"ids": ["a", "b", "c"]})["notFound"] == ["a", "b", "c"]
    # The /set limit counts create + update + destroy together.
    too_many = {"create": {"n1": {"name": "x"}}, "update": {"b": {}}, "destroy": ["c", "d", "e"]}
    assert call(any_sim, SET, too_many)[1]["type"] == "requestTooLarge"
    assert [item["name"] for item in any_sim.objects()] == ["default"]
    assert call(any_sim, SET, {"destroy": ["a", "b", "c", "d", "e"]})[1]["type"] == "requestTooLarge"
    answer = result(any_sim, SET, {"create": {"n1": {"name": "x"}}, "update": {"b": {}}, "destroy": ["c", "d"]})
    assert list(answer["created"]) == ["n1"]
    any_sim.reset()  # back to the start-up limits
    assert call(any_sim, GET, {"ids": ["a", "b", "c", "d"]})[0] == GET


def test_body_over_max_size_request_is_a_limit_problem(any_sim):
    """[Requests and answers]: a body larger than maxSizeRequest (10 000 000, [Endpoints and dialects]) is a 400 ``limit`` problem."""
    max_size = 10_000_000
    if any_sim.dialect == "server":
        core = any_sim.http("GET", "/jmap/session").json()["capabilities"]["urn:ietf:params:jmap:core"]
        assert core["maxSizeRequest"] == max_size
    payload = json.dumps(GET_ALL).encode()
    padded = payload + b" " * (max_size - len(payload))  # JSON allows trailing white space
    answer = any_sim.http("POST", any_sim.api_path, padded, ADMIN)
    assert answer.status == 200 and answer.json()["methodResponses"][0][0] == GET
    answer = any_sim.http("POST", any_sim.api_path, padded + b" ", ADMIN)
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    # the real server's wording
    assert answer.json() == {"type": "urn:ietf:params:jmap:error:limit", "status": 400,
                             "detail": "The request is larger than the server is willing to process.",
                             "limit": "maxSizeRequest"}


def test_a_body_over_the_limit_is_not_processed(any_dialect):
    payload = json.dumps(GET_ALL).encode()
    any_dialect.configure(maxSizeRequest=len(payload))
    assert any_dialect.http("POST", any_dialect.api_path, payload, ADMIN).status == 200
    assert any_dialect.http("POST", any_dialect.api_path, payload + b" ", ADMIN).status == 400
    assert any_dialect.stats()["method_calls"] == {GET: 1}


def test_limits_from_the_command_line():
    with Simulator(extra_args=("--max-objects-in-get", "7", "--max-objects-in-set", "8",
                               "--max-calls-in-request", "9")) as running:
        core = running.http("GET", "/jmap/session").json()["capabilities"]["urn:ietf:params:jmap:core"]
        assert (core["maxObjectsInGet"], core["maxObjectsInSet"], core["maxCallsInRequest"]) == (7, 8, 9)
        running.reset(limits={"maxObjectsInGet": 2})
        core = running.http("GET", "/jmap/session").json()["capabilities"]["urn:ietf:params:jmap:core"]
        assert (core["maxObjectsInGet"], core["maxObjectsInSet"]) == (2, 8)


def test_envelope_session_state_and_created_ids(any_sim):
    plain = any_sim.http("POST", any_sim.api_path, GET_ALL, ADMIN).json()
    assert list(plain) == ["methodResponses", "sessionState"]
    assert HEX_U32.fullmatch(plain["sessionState"]), plain["sessionState"]
    with_ids = any_sim.http("POST", any_sim.api_path, {
        "using": [], "createdIds": {"old": "abc"},
        "methodCalls": [[SET, {"create": {"n1": {"name": "x"}}}, "s"]]}, ADMIN).json()
    new_id = with_ids["methodResponses"][0][1]["created"]["n1"]["id"]
    # the real server: createdIds come back after sessionState, as ids ("abc" is 34, written "bc")
    assert list(with_ids) == ["methodResponses", "sessionState", "createdIds"]
    assert with_ids["createdIds"] == {"old": "bc", "n1": new_id}
    # an empty or null createdIds is not written back
    for created in ({}, None):
        body = any_sim.http("POST", any_sim.api_path, {"using": [], "createdIds": created,
                                                       "methodCalls": [[GET, {"ids": []}, "g"]]}, ADMIN).json()
        assert list(body) == ["methodResponses", "sessionState"]


def test_a_created_id_that_is_not_an_id_makes_the_request_not_a_request(any_sim):
    raw = json.dumps({"using": [], "createdIds": {"old": "zz!"}, "methodCalls": [[GET, {}, "g"]]})
    answer = any_sim.http("POST", any_sim.api_path, raw, ADMIN)
    assert answer.status == 400
    assert answer.json() == {"type": "urn:ietf:params:jmap:error:notRequest", "status": 400, "detail": raw}


def test_echo_unknown_methods_and_unknown_arguments(any_sim):
    # the real server: Core/echo answers its arguments
    body = any_sim.jmap([["Core/echo", {"a": 1, "accountId": "zz"}, "e1"], ["Core/echo", {}, "e2"]])
    assert body["methodResponses"] == [["Core/echo", {"a": 1, "accountId": "zz"}, "e1"], ["Core/echo", {}, "e2"]]
    for name in ("x:MtaConnectionStrategy/changes", "x:MtaConnectionStrategy/queryChanges",
                 "x:mtaconnectionstrategy/get", "MtaConnectionStrategy/get", "x:MtaOutboundStrategy/query",
                 "Core/get", "Email/echo"):
        assert call(any_sim, name, {}) == ["error", {"type": "unknownMethod", "description": name}, "c1"]
    assert call(any_sim, GET, {"ids": None, "somethingElse": 1})[0] == GET
    # without urn:ietf:params:jmap:core in "using", Core/echo is unknown (x: methods need nothing)
    body = any_sim.jmap([["Core/echo", {"a": 1}, "e"], [GET, {"ids": []}, "g"]], using=[])
    assert body["methodResponses"][0] == ["error", {
        "type": "unknownMethod", "description": "Method Core/echo requires capability urn:ietf:params:jmap:core "
        "which is not present in the \"using\" property."}, "e"]
    assert body["methodResponses"][1][0] == GET


def test_account_id_is_optional_and_checked(any_sim):
    own = any_sim.account_ids[ADMIN_TOKEN]
    assert result(any_sim, GET, {"accountId": own})["accountId"] == own
    # the real server: an unparseable accountId is the caller's own, a parseable one is written back
    # re-encoded
    assert result(any_sim, GET, {"accountId": "not!an!id"})["accountId"] == own
    assert result(any_sim, GET, {"accountId": "K", "ids": []})["accountId"] == "k"
    # the real server: the administrator may name any account (it has the impersonate permission)
    answer = result(any_sim, GET, {"accountId": "c", "properties": ["name"]})
    assert answer["accountId"] == "c" and [item["name"] for item in answer["list"]] == ["default"]
    # a key without that permission may name only its own account
    readonly = any_sim.account_ids[READONLY_TOKEN]
    assert result(any_sim, GET, {}, token=READONLY_TOKEN)["accountId"] == readonly
    assert result(any_sim, GET, {"accountId": readonly, "ids": []}, token=READONLY_TOKEN)["accountId"] == readonly
    assert call(any_sim, GET, {"accountId": "d"}, token=READONLY_TOKEN)[1] == {
        "type": "forbidden", "description": "You are not an owner of account d"}
    # the permission is checked before the account
    assert call(any_sim, GET, {"accountId": "d"}, token=NOPERM_TOKEN)[1] == FORBIDDEN


def test_an_account_id_that_is_not_a_string_is_not_read(any_sim):
    """The real server: a null accountId as the last argument is the call's invalidArguments (with
    where its reader stopped), followed by another argument it makes the request not a request."""
    raw = json.dumps({"using": USING, "methodCalls": [[GET, {"ids": [], "accountId": None}, "g"]]})
    column = raw.index("null") + len("null")
    answer = any_sim.http("POST", any_sim.api_path, raw, ADMIN).json()
    assert answer["methodResponses"] == [["error", {
        "type": "invalidArguments",
        "description": f"invalid type: null, expected a borrowed string at line 1 column {column}"}, "g"]]
    raw = json.dumps({"using": USING, "methodCalls": [[GET, {"accountId": None, "ids": []}, "g"]]})
    answer = any_sim.http("POST", any_sim.api_path, raw, ADMIN)
    assert (answer.status, answer.json()["type"]) == (400, "urn:ietf:params:jmap:error:notRequest")


def test_calls_run_in_order_and_errors_do_not_stop_the_request(any_sim):
    body = any_sim.jmap([[SET, {"create": {"a": {"name": "first"}}}, "1"], ["x:Nope/get", {}, "2"],
                         [QUERY, {"filter": {"name": "first"}}, "3"]])
    names = [response[0] for response in body["methodResponses"]]
    assert names == [SET, "error", QUERY]
    assert body["methodResponses"][2][1]["ids"] == [body["methodResponses"][0][1]["created"]["a"]["id"]]


# --- TLS, CLI ---------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed to make a certificate")
def test_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    with Simulator(tls_cert=cert, tls_key=key) as running:
        assert running.url.startswith("https://127.0.0.1:")
        session = running.http("GET", "/jmap/session").json()
        assert session["apiUrl"] == f"{running.url}/jmap/"
        assert call(running, GET, {})[1]["list"][0]["name"] == "default"
        # Verification against the certificate itself works too (a real client with ca_path).
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(running.url + "/jmap/session", context=context, timeout=10) as response:
            assert response.status == 200
        # A plain-HTTP client gets no answer, and the server keeps serving.
        with pytest.raises(Exception):
            urllib.request.urlopen(running.url.replace("https", "http") + "/jmap/session", timeout=5)
        assert running.stats()["session_requests"] == 2
        # Quiet: neither the requests nor the failed handshake are logged.
        assert running.stderr() == ""


def test_refuses_a_non_loopback_host():
    completed = subprocess.run([sys.executable, str(SIMULATOR_SCRIPT), "--host", "0.0.0.0", "--port", "0"],
                               capture_output=True, text=True, timeout=20, check=False)
    assert completed.returncode == 2
    assert "only loopback" in completed.stderr
    assert completed.stdout == ""


def test_prints_exactly_one_line_and_stops_on_sigterm():
    running = Simulator(dialect="docs").start()
    try:
        assert running.url.startswith("http://127.0.0.1:") and running.dialect == "docs"
        call(running, GET, {})
        process = running.process
        process.terminate()
        assert process.wait(5) == 0
        assert process.stdout.read() == b""  # nothing after the listening line
    finally:
        running.stop()


def test_verbose_logs_requests():
    with Simulator(extra_args=("--verbose",)) as running:
        running.http("GET", "/jmap/session")
        assert "GET /jmap/session" in wait_until(running.stderr)


def test_every_connection_has_tcp_nodelay_as_the_servers_do(monkeypatch):
    """The server sets TCP_NODELAY on every connection (its listener option socketNoDelay, true by
    default). Without it, an answer's body, written after its headers, waited for the client's
    delayed ACK: up to 40 ms per answer, which made the simulator eight times slower per module run
    than the real server and every timing measured against it wrong."""
    import socket  # pylint: disable=import-outside-toplevel

    from tests.support.inproc import ThreadedSimulator, simulator_module  # pylint: disable=import-outside-toplevel

    module = simulator_module()
    seen = []
    setup = module.Handler.setup

    def recording_setup(handler):
        setup(handler)
        seen.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(module.Handler, "setup", recording_setup)
    with ThreadedSimulator() as running:
        statuses = []
        for attempt in ("first", "second"):  # two connections (urllib does not keep one alive)
            with urllib.request.urlopen(f"{running.url}/jmap/session?{attempt}", timeout=10) as answer:
                statuses.append(answer.status)
    assert statuses == [200, 200]
    assert len(seen) == 2 and all(seen), seen
