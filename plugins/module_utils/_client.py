# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Transport: one HTTP session to Stalwart's JMAP management API.

Discovery of the endpoint and the limits (``connect``), one JMAP request (``post``), many calls
packed into as few requests as the server allows (``post_many``), the retry policy
(``RETRY_POLICY``; docs/reliability.md) and the mapping of HTTP answers to the exceptions of
``_errors``. Knows nothing about Ansible: no AnsibleModule here.

Secrets: the token and the password live only in the ``requests`` session's auth; no message,
exception, warning or ``repr`` built here contains them or a request header.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import traceback
import warnings
from urllib.parse import urljoin, urlsplit, urlunsplit

from ansible_collections.stalwart.mail.plugins.module_utils._errors import (
    AuthenticationError,
    EndpointNotFound,
    MethodError,
    PermissionDenied,
    ProtocolError,
    TransportError,
    WriteOutcomeUnknown,
    permission_for,
)

try:
    import requests
except ImportError:  # pragma: no cover - exercised through _connection.client_from_module
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None


class _BearerAuth:
    """requests' auth for a token: the ``Authorization: Bearer`` header. Its repr does not show
    the token."""

    def __init__(self, token):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self):
        return "_BearerAuth(token=<hidden>)"


def _no_auth(request):
    """requests' auth for no credentials: the request as it is (the server answers 401)."""
    return request


COLLECTION_VERSION = "0.1.0"
USER_AGENT = f"stalwart.mail-ansible/{COLLECTION_VERSION}"
USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
CORE_CAPABILITY = "urn:ietf:params:jmap:core"
DEFAULT_LIMITS = {"max_objects_in_get": 500, "max_objects_in_set": 500, "max_calls_in_request": 16,
                  "max_size_request": 10_000_000}
# session capability name -> our limit key (docs/stalwart-api.md, "Limits")
_LIMIT_NAMES = {
    "maxObjectsInGet": "max_objects_in_get",
    "maxObjectsInSet": "max_objects_in_set",
    "maxCallsInRequest": "max_calls_in_request",
    "maxSizeRequest": "max_size_request",
}

# The retry policy, in one place (docs/reliability.md). A read is resent after any transient failure. A
# write is resent only when the server cannot have processed it: the connection was refused, or
# the answer was 429 (the rate limit refuses before processing). After a 5xx, a timeout or a lost
# connection, a write's outcome is unknown (a gateway's 502/504 may come after the server
# committed it): WriteOutcomeUnknown, and the runner reads again before writing what is missing.
RETRY_POLICY = {
    "backoff_first": 0.5,  # seconds before the 1st retry; doubles each time (0.5, 1, 2, ...)
    "backoff_max": 8.0,
    "retry_after_max": 30.0,  # a Retry-After longer than this is capped
    "statuses": (429, 502, 503, 504),
}
_STATUS_WORDS = {
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
RERUN_SAFE = "nothing was changed by this request, so re-running is safe"
REREAD = ("the server may or may not have applied it; it was not sent again. Read the current state "
          "before writing again (re-running the task is safe: it reads first)")
AUTH_HINT = "check token / token_file / STALWART_TOKEN or username / password / password_file"
NO_AUTH_HINT = ("set token or token_file (or STALWART_TOKEN / STALWART_TOKEN_FILE), or username and password "
                "(or STALWART_USER and STALWART_PASSWORD)")
# the permission an API key needs to use the API at all (Stalwart answers 403 without it)
API_PERMISSION = "authenticate"
TLS_HINT = ("set ca_path (or STALWART_CA_PATH) to the CA bundle that signed the server's certificate, "
            "or validate_certs: false (only for a lab)")
# a certificate that a trusted CA signed for another name: no CA bundle helps
TLS_NAME_HINT = ("use in url the host name the certificate was issued for (it is checked whatever ca_path says), "
                 "or validate_certs: false (only for a lab)")
# not about certificates at all: most often https:// to a port that speaks plain HTTP
TLS_PORT_HINT = "check that url's scheme and port are those of the server's HTTPS listener (http:// for plain HTTP)"
PROXY_HINT = ("the proxy comes from the environment (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY, in the task's environment "
              "or the controller's): fix it, or list the server in NO_PROXY to reach it directly")
PROBLEM_PREFIX = "urn:ietf:params:jmap:error:"
MASK = "********"  # what Ansible shows for a no_log value
# the userinfo of a URL quoted in a library's error text ("Failed to parse: http://user:pw@proxy:x")
_USERINFO_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")


def url_userinfo(url):
    """The ``user:password`` written before the host of ``url``, and ``url`` without it:
    ``(None, url)`` when there is none. A password may hold ``/``, ``?`` or ``#``, where a URL
    parser ends the host part early and so finds no credentials (and a bad port instead): a
    ``user:...@`` after the scheme counts too."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    scheme, separator, rest = url.partition("://")
    if not separator:
        # no "scheme://": "user:password@host" (a scheme forgotten) or "http:/user:password@host"
        # (a slash forgotten), which the option's check refuses, showing the value: all before
        # the host counts, past an "http:" or "https:" and its slashes
        head, at, host = url.rpartition("@")
        if not at:
            return None, url
        prefix = re.match(r"(?i)https?:/*", head)
        prefix = prefix.group(0) if prefix else ""
        return (head[len(prefix):] or None), f"{prefix}{host}"
    if "@" in netloc:
        userinfo, _at, host = netloc.rpartition("@")
        return userinfo, f"{scheme}://{host}{rest[len(netloc):]}"
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        return userinfo, f"{scheme}://{host}"
    return None, url


def redact_url(url):
    """``url`` without any ``user:password@`` part, for messages."""
    return url_userinfo(url)[1]


def _class_names(error):
    return {klass.__name__ for klass in type(error).__mro__}


def _chain(error):
    """``error`` and the errors wrapped in it (requests wraps urllib3 wraps socket errors)."""
    seen = []
    while isinstance(error, BaseException) and error not in seen and len(seen) < 8:
        seen.append(error)
        nested = getattr(error, "reason", None)
        if not isinstance(nested, BaseException):
            nested = None
        if nested is None and getattr(error, "args", None):
            nested = next((arg for arg in error.args if isinstance(arg, BaseException)), None)
        error = nested if nested is not None else (error.__cause__ or error.__context__)
    return seen


def _tls_failure_text(error, shown):
    """The message of a failed TLS handshake, with the way out that fits its cause."""
    reason = _reason_text(error)
    text = f"{reason} {error}".lower()
    if "certificate" not in text:
        return f"TLS handshake with {shown} failed: {reason}; {TLS_PORT_HINT}"
    if "mismatch" in text or "not valid for" in text or "doesn't match" in text:
        return f"TLS certificate verification failed for {shown}: {reason}; {TLS_NAME_HINT}"
    return f"TLS certificate verification failed for {shown}: {reason}; {TLS_HINT}"


def _reason_text(error):
    """A short description of a low-level connection error, without object reprs."""
    for inner in reversed(_chain(error)):
        text = str(inner)
        text = re.sub(r"<[^>]*object at 0x[0-9a-f]+>:?\s*", "", text).strip()
        if text and not text.startswith("("):
            # a URL's credentials (a proxy's, from the environment) stay out of messages
            return _USERINFO_IN_TEXT.sub(rf"\1{MASK}@", text)
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
    return type(error).__name__


def _connection_error_kind(error):
    """For a requests ConnectionError: ("before", reason) when the request cannot have reached the
    server (refused, DNS, connect timeout), ("timeout", reason) for a read timeout, else
    ("after", reason): the request may have been sent and processed."""
    names = set()
    for inner in _chain(error):
        names |= _class_names(inner)
    reason = _reason_text(error)
    if "ReadTimeoutError" in names:
        return "timeout", reason
    if names & {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError", "ConnectionRefusedError"}:
        return "before", reason
    return "after", reason


def _retry_after_seconds(value):
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _plural(count, word):
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class _Transient(Exception):
    """Internal: an attempt failed in a way that may be retried."""

    def __init__(self, reason, delay=None, preposition="from", advice=None):
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.preposition = preposition
        self.advice = advice  # what to do about it, said once the retries ran out


class JmapClient:
    """A session with one Stalwart server's JMAP API.

    ``connect()`` discovers the endpoint and the limits (one HTTP request); ``post()`` sends one
    JMAP request; ``post_many()`` sends groups of calls in as few requests as the server allows.
    """

    def __init__(self, url, api_url=None, token=None, username=None, password=None,
                 validate_certs=True, ca_path=None, timeout=30.0, retries=3, warn=None, sleep=time.sleep,
                 known_secrets=()):
        self.url = url.rstrip("/")
        self.api_url = api_url
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._warn = warn or (lambda message: None)
        self._sleep = sleep
        self._token = token
        self._username = username
        self._password = password
        # what the server's or a gateway's words must not show when quoted, masked before they are
        # cut short (cut first, a secret's first half would escape the masking of the result)
        self._secrets = sorted({secret for secret in (token, password, *known_secrets) if secret}, key=len,
                               reverse=True)
        self.session_found = None
        self.endpoint = None
        self.limits = dict(DEFAULT_LIMITS)
        self.requests_sent = 0
        self.requests_retried = 0  # requests sent again after a transient failure
        self._connected = False
        self._http = None

    def __repr__(self):
        auth = "bearer" if self._token else ("basic" if self._username is not None else "none")
        return (f"JmapClient(url={redact_url(self.url)!r}, endpoint={self.endpoint and redact_url(self.endpoint)!r}, "
                f"auth={auth!r}, requests_sent={self.requests_sent})")

    # --- HTTP --------------------------------------------------------------------------------

    def _session(self):
        if self._http is None:
            if not HAS_REQUESTS:
                raise TransportError("the Python library requests is required but is not installed")
            http = requests.Session()
            http.headers.update({
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            })
            # The session's auth is always set, so that requests never reads ~/.netrc (or $NETRC):
            # for a request without auth of its own it would, and an entry for the server's host
            # would overwrite the Authorization header, the token replaced by other credentials.
            if self._token:
                http.auth = _BearerAuth(self._token)
            elif self._username is not None:
                # as UTF-8 bytes, which Stalwart decodes (RFC 7617): requests encodes text as
                # Latin-1, so that "ä" was refused and "€" raised before anything was sent
                http.auth = (self._username.encode("utf-8"), (self._password or "").encode("utf-8"))
            else:
                http.auth = _no_auth
            self._http = http
        return self._http

    def _masked(self, text):
        """``text`` with the credentials the client knows of replaced by asterisks."""
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _verify(self):
        # per request, not on the Session: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
        # a Session's verify, which would undo validate_certs: false and ca_path
        if not self.validate_certs:
            return False
        return self.ca_path or True

    def _backoff(self, attempt):
        delay = RETRY_POLICY["backoff_first"] * (2 ** (attempt - 1))
        return min(delay, RETRY_POLICY["backoff_max"])

    def back_off(self, attempt, reason=None):
        """Wait as before the ``attempt``-th retry (the service's re-read after a lost write),
        saying why when ``reason`` is given."""
        delay = self._backoff(attempt)
        if reason:
            self._warn(f"{reason}; reading the server's state again in {delay:g} s before writing what is "
                       f"missing (round {attempt} of {max(1, self.retries)})")
        self._sleep(delay)

    def _exchange(self, http_method, url, body=None, write=False, check=None):
        """Send one HTTP request, with the retry policy; return the ``requests`` response.

        ``check(response)`` may raise ``_Transient`` to retry a well-formed answer (a method-level
        ``serverUnavailable``). Everything that is not retried raises a StalwartError.
        """
        shown = redact_url(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._attempt(http_method, url, shown, body, write)
                if check is not None:
                    check(response)
                return response
            except _Transient as transient:
                if attempt > self.retries:
                    core = f"{transient.reason} {transient.preposition} {shown} after {_plural(attempt, 'attempt')}"
                    advice = f"; {transient.advice}" if transient.advice else ""
                    raise TransportError(f"{core}; {RERUN_SAFE}{advice}", core=core, url=shown,
                                         http_attempts=attempt) from None
                delay = transient.delay if transient.delay is not None else self._backoff(attempt)
                self.requests_retried += 1
                self._warn(f"retrying {http_method} {shown} in {delay:g} s (retry {attempt} of {self.retries}): "
                           f"{transient.reason}")
                self._sleep(delay)

    def _attempt(self, http_method, url, shown, body, write):
        http = self._session()
        self.requests_sent += 1
        try:
            with warnings.catch_warnings():
                if not self.validate_certs:
                    # validate_certs: false was asked for; urllib3 would warn on every request
                    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
                # stream=False (the default): the body is read here, inside the try
                response = http.request(http_method, url, data=body, timeout=self.timeout, allow_redirects=False,
                                        verify=self._verify())
        except requests.exceptions.SSLError as error:
            raise TransportError(_tls_failure_text(error, shown), url=shown) from None
        except requests.exceptions.ProxyError as error:
            # the proxy could not be reached, or refused the tunnel: nothing reached the server
            raise _Transient(f"could not connect through the proxy {self._proxy_for(url)} "
                             f"({_reason_text(error)}; {PROXY_HINT})", preposition="to") from None
        except requests.exceptions.ConnectTimeout:
            raise _Transient(f"could not connect within {self.timeout:g} s (timed out)", preposition="to") from None
        except requests.exceptions.ReadTimeout:
            raise self._lost(write, shown, f"no answer within {self.timeout:g} s (timed out)") from None
        except requests.exceptions.ConnectionError as error:
            kind, reason = _connection_error_kind(error)
            if kind == "before":
                raise _Transient(f"could not connect ({reason})", preposition="to") from None
            if kind == "timeout":
                raise self._lost(write, shown, f"no answer within {self.timeout:g} s (timed out)") from None
            raise self._lost(write, shown, f"the connection was closed or reset without an answer ({reason})") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema) as error:
            # url was checked before any request: what requests cannot use is the proxy the
            # environment names (a bad port, a scheme it has no support for, such as socks5
            # without PySocks), and nothing was sent; retrying would not change it
            raise TransportError(f"could not send the request to {shown} through the proxy "
                                 f"{self._proxy_for(url)}: {self._masked(_reason_text(error))}; {PROXY_HINT}",
                                 url=shown) from None
        except requests.exceptions.RequestException as error:
            raise self._lost(write, shown, f"the exchange failed ({self._masked(_reason_text(error))})") from None
        except OSError as error:
            raise TransportError(f"could not send the request to {shown}: {error}", url=shown) from None
        return self._classify_status(response, http_method, shown, write)

    def _proxy_for(self, url):
        """The proxy (without its credentials) that ``requests`` takes from the environment for ``url``."""
        try:
            proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
        except Exception:  # pylint: disable=broad-exception-caught
            proxy = None
        return redact_url(proxy) if proxy else "(from the environment)"

    @staticmethod
    def _lost(write, shown, reason):
        """The exception for a request that may have reached the server and whose answer is lost:
        a read is retried; a write is not (resending could apply it twice)."""
        if write:
            core = f"{reason} after a write was sent to {shown}"
            return WriteOutcomeUnknown(f"{core}: {REREAD}", core=core, url=shown)
        return _Transient(reason)

    def _classify_status(self, response, http_method, shown, write):
        status = response.status_code
        if 200 <= status < 300:
            return response
        if write and status >= 500:
            core = f"HTTP {status} from {shown} after a write was sent"
            raise WriteOutcomeUnknown(f"{core}: {REREAD}", core=core, status=status, url=shown)
        if status in RETRY_POLICY["statuses"]:
            delay = None
            if status == 429:
                asked = _retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None:
                    delay = min(asked, RETRY_POLICY["retry_after_max"])
            raise _Transient(f"HTTP {status} {_STATUS_WORDS[status]}", delay=delay)
        if status == 404 and http_method == "GET":
            # only the session resource is read with GET: 404 means the documented dialect
            return response
        if status == 401:
            if not self._token and self._username is None:
                raise AuthenticationError(f"the server asks for credentials (HTTP 401) at {shown} and none were given: "
                                          f"{NO_AUTH_HINT}", status=401, url=shown)
            raise AuthenticationError(f"the server refused the credentials (HTTP 401) at {shown}; {AUTH_HINT}",
                                      status=401, url=shown)
        problem = _problem(response)
        if status == 400 and problem.get("limit") == "maxConcurrentRequests":
            # Stalwart refuses a request past the account's requests in flight before processing
            # it (a key without the permission unlimitedRequests): other runs with the same
            # credentials hold them, and a retry, of a write too, finds one free
            raise _Transient(_concurrency_reason(response), advice=CONCURRENCY_ADVICE)
        if status == 403:
            detail = problem.get("detail") or problem.get("title") or "Forbidden"
            # a method the credentials may not call is refused inside a 200 answer, naming its
            # permission; a 403 for the whole request is Stalwart's answer to an API key without
            # the permission to use the API at all, and to a blocked client address
            raise PermissionDenied(f"the server refused access (HTTP 403) to {shown}: {detail}; an API key needs the "
                                   f"permission {API_PERMISSION} to use the API at all (else the server blocks this "
                                   f"client's address, or a proxy denies the path)", status=403, url=shown,
                                   error_type="forbidden", permission=API_PERMISSION)
        if status == 404 and http_method == "POST":
            if self.api_url:
                # the endpoint was given: it is the one to check (whether from the task or from
                # STALWART_API_URL: the message cannot tell, so it names both)
                raise EndpointNotFound(
                    f"no Stalwart JMAP API at {shown} (HTTP 404); check api_url (or STALWART_API_URL): it is the JMAP "
                    "endpoint, for example https://mail.example.com/jmap/, or leave it out to use the one the "
                    "server's session names", status=404, url=shown)
            hint = ""
            if re.search(r"/(jmap(/session)?|api)/?$", urlsplit(self.url).path):
                hint = " (url is the server's URL, without the API's path: https://mail.example.com, not …/jmap)"
            raise EndpointNotFound(
                f"no Stalwart JMAP API at {shown} (HTTP 404); check url{hint}, or set api_url to the JMAP endpoint "
                "(for example https://mail.example.com/jmap/)", status=404, url=shown)
        if status == 413:
            sent = getattr(getattr(response, "request", None), "body", None)
            size = f" of {len(sent)} bytes" if sent else ""
            raise ProtocolError(
                f"{shown} refused the request{size} as too large (HTTP 413), though Stalwart takes up to its "
                f"maxSizeRequest ({self.limits['max_size_request']} bytes): a proxy in front of it has a lower limit "
                f"(nginx: client_max_body_size); raise it; {RERUN_SAFE}", status=413, url=shown)
        if status == 407:
            raise TransportError(
                f"a proxy on the way to {shown} asks for credentials (HTTP 407 Proxy Authentication Required); "
                f"give them in the proxy's URL (HTTPS_PROXY=http://user:password@proxy:3128); {PROXY_HINT}",
                status=407, url=shown)
        if 300 <= status < 400:
            location = redact_url(response.headers.get("Location", "") or "?")
            raise EndpointNotFound(
                f"{shown} answered with a redirect (HTTP {status}) to {location}; redirects are not followed "
                "(credentials must not go elsewhere): set url (or api_url) to the final address",
                status=status, url=shown)
        if status >= 500:
            # a failure of the server, not a refusal of the request: with a problem body, its words
            said = problem.get("detail") or problem.get("title") if problem else None
            said = f" ({self._masked(said)[:300]})" if said else ""
            raise TransportError(f"HTTP {status} from {shown}{said}; {RERUN_SAFE}",
                                 core=f"HTTP {status} from {shown}{said}", status=status, url=shown)
        if problem:
            raise _problem_error(problem, status, shown, self._masked)
        raise ProtocolError(f"unexpected HTTP {status} from {shown}", status=status, url=shown)

    # --- discovery ---------------------------------------------------------------------------

    def connect(self):
        """Discover the JMAP endpoint and the limits: one ``GET {url}/jmap/session``.

        200: the server dialect; the endpoint is ``api_url`` or the session's ``apiUrl`` and the
        limits come from the core capability. 404: the documented dialect (no session resource,
        docs/stalwart-api.md, "Endpoints and dialects"); the endpoint is ``api_url`` or ``{url}/api`` with the
        default limits. ``/.well-known/jmap`` is not used: its redirect costs a second request.
        Calling it again does nothing.
        """
        if self._connected:
            return
        session_url = f"{self.url}/jmap/session"
        response = self._exchange("GET", session_url)
        if response.status_code == 404:
            self.session_found = False
            self.endpoint = self.api_url or f"{self.url}/api"
            self.limits = dict(DEFAULT_LIMITS)
        else:
            session = _json_body(response, redact_url(session_url))
            if not isinstance(session, dict):
                raise ProtocolError(f"the session resource at {redact_url(session_url)} is not a JSON object")
            self.session_found = True
            self.endpoint = self.api_url or self._resolve_api_url(session.get("apiUrl"))
            self.limits = _read_limits(session)
        self._connected = True

    def _resolve_api_url(self, advertised):
        """The endpoint to post to, from the session's ``apiUrl``.

        Only the path of ``apiUrl`` is taken; scheme, host and port stay those of ``url``. A server
        behind a reverse proxy advertises the name and scheme it knows itself by (an internal
        ``http://stalwart:8080/jmap/``), which the controller may not reach, and following an
        advertised ``http://`` would send the credentials in clear. stalwart-cli does the same
        (stalwart-cli posts to the ``apiUrl`` path too). A path prefix of ``url`` (a
        proxy mounting the server under ``/mail``) is kept when the advertised path lacks it.
        """
        base = urlsplit(self.url)
        if not isinstance(advertised, str) or not advertised.strip():
            # a session without apiUrl: the server dialect's endpoint (docs/stalwart-api.md)
            return f"{self.url}/jmap/"
        resolved = urlsplit(urljoin(self.url + "/", advertised.strip()))
        path = resolved.path or "/"
        prefix = base.path.rstrip("/")
        if prefix and not path.startswith(prefix + "/"):
            path = prefix + path
        return urlunsplit((base.scheme, base.netloc, path, resolved.query, ""))

    # --- JMAP --------------------------------------------------------------------------------

    def post(self, method_calls, write=False):
        """Send one JMAP request holding ``method_calls`` (``[name, args, call_id]`` each) and
        return its ``methodResponses``.

        Request-level problems raise. Method-level errors are returned for the caller to check with
        ``check_method_response``, except ``serverUnavailable``: the server failed internally, so a
        read is retried; for a write the server may have applied the calls before the failing one,
        so ``WriteOutcomeUnknown`` is raised at once and nothing is resent.
        """
        self.connect()
        endpoint = self.endpoint
        shown = redact_url(endpoint)
        body = self.request_body(method_calls)
        holder = {}

        def check(response):
            try:
                responses = _method_responses(response, shown)
            except ProtocolError as unreadable:
                if not write:
                    raise
                # a 200 whose body is not a JMAP answer (a gateway's page): the write may have been applied
                core = f"the answer to a write could not be read: {unreadable.core}"
                raise WriteOutcomeUnknown(f"{core}: {REREAD}", core=core, url=shown) from None
            unavailable = [item for item in responses
                           if item[0] == "error" and isinstance(item[1], dict) and item[1].get("type") == "serverUnavailable"]
            if unavailable:
                if write:
                    core = f"the server answered serverUnavailable to a write sent to {shown}"
                    raise WriteOutcomeUnknown(f"{core}: {REREAD}", core=core, url=shown,
                                              error_type="serverUnavailable")
                raise _Transient("JMAP serverUnavailable (the server is temporarily unavailable)")
            holder["responses"] = responses

        self._exchange("POST", endpoint, body=body, write=write, check=check)
        return holder["responses"]

    def request_body(self, method_calls):
        """The JSON body of one JMAP request holding ``method_calls`` (ASCII: its length in
        characters is its size in bytes, which ``maxSizeRequest`` limits)."""
        return json.dumps({"using": USING, "methodCalls": [list(call) for call in method_calls]})

    def request_size(self, method_calls):
        """The size in bytes of the request that would carry ``method_calls``."""
        return len(self.request_body(method_calls))

    def pack(self, groups):
        """Groups of calls → the requests to send them in: as few as ``maxCallsInRequest`` and
        ``maxSizeRequest`` allow, groups in order, a group never split (its calls may reference
        each other). A group that alone exceeds a limit raises ``ProtocolError``."""
        self.connect()
        max_calls = max(1, int(self.limits.get("max_calls_in_request") or DEFAULT_LIMITS["max_calls_in_request"]))
        max_size = max(1, int(self.limits.get("max_size_request") or DEFAULT_LIMITS["max_size_request"]))
        envelope = self.request_size([])
        batches, current, current_size = [], [], envelope
        for group in groups:
            group = [list(call) for call in group]
            if not group:
                continue
            # each call's share of the body: its JSON plus the ", " that separates it (2 bytes
            # too many for the first call of a request: the estimate errs on the safe side)
            size = sum(len(json.dumps(call)) + 2 for call in group)
            if len(group) > max_calls:
                raise ProtocolError(
                    f"{len(group)} calls that reference each other exceed the server's maxCallsInRequest ({max_calls})",
                    limit="maxCallsInRequest")
            if envelope + size > max_size:
                raise ProtocolError(
                    f"a request of {envelope + size} bytes would exceed the server's maxSizeRequest ({max_size})",
                    limit="maxSizeRequest")
            if current and (len(current) + len(group) > max_calls or current_size + size > max_size):
                batches.append(current)
                current, current_size = [], envelope
            current.extend(group)
            current_size += size
        if current:
            batches.append(current)
        return batches

    def post_many(self, method_calls, write=False):
        """Send groups of calls in as few JMAP requests as the limits allow (``pack``).

        ``method_calls`` is a list of groups (each a list of calls). Calls of one group may
        reference each other (``#ids``) and are never split across requests; groups keep their
        order. Returns all method responses, concatenated in order.
        """
        responses = []
        for batch in self.pack(method_calls):
            responses.extend(self.post(batch, write=write))
        return responses


def check_method_response(response, expected_name, sections=None):
    """The arguments of one method response, or the error it carries.

    ``["error", {...}, id]`` raises ``PermissionDenied`` (``forbidden``, with the permission
    derived from ``expected_name`` and, for a ``/set``, the ``sections`` it held) or
    ``MethodError``; a response of another name raises ``ProtocolError``.
    """
    if not isinstance(response, (list, tuple)) or len(response) != 3:
        raise ProtocolError(f"malformed method response to {expected_name}", method=expected_name)
    name, args, call_id = response
    if name == "error":
        args = args if isinstance(args, dict) else {}
        error_type = args.get("type") or "unknown"
        description = args.get("description")
        said = f": {description}" if description else ""
        if error_type == "forbidden":
            permission = permission_for(expected_name, description, sections)
            plural = "s" if permission and " and " in permission else ""
            needs = f"; the credentials need the permission{plural} {permission}" if permission else ""
            raise PermissionDenied(f"the server refused {expected_name} (forbidden){said}{needs}",
                                   error_type=error_type, description=description, method=expected_name,
                                   permission=permission, call_id=call_id)
        raise MethodError(f"the server answered {expected_name} with the error {error_type}{said}",
                          error_type=error_type, description=description, method=expected_name, call_id=call_id)
    if name != expected_name:
        raise ProtocolError(f"expected a response to {expected_name}, got {name!r}", method=expected_name)
    if not isinstance(args, dict):
        raise ProtocolError(f"the response to {expected_name} has no arguments object", method=expected_name)
    return args


# --- answers -------------------------------------------------------------------------------------


CONCURRENCY_ADVICE = ("Stalwart counts the requests in flight per account: run fewer forks against hosts that share "
                      "a server, or use an account with the permission unlimitedRequests")


def _concurrency_reason(response):
    """The words for Stalwart's 400 ``maxConcurrentRequests``, with the limit its ``RateLimit-Policy``
    header gives (``"concurrent-requests";q=4;...``)."""
    quota = re.search(r";\s*q=(\d+)", response.headers.get("RateLimit-Policy", ""))
    limit = f" ({quota.group(1)})" if quota else ""
    return f"HTTP 400 maxConcurrentRequests: more requests in flight for these credentials than the server's limit{limit}"


def _problem(response):
    """The RFC 7807 body of an error answer, or {}."""
    content_type = response.headers.get("Content-Type", "").lower()
    if "json" not in content_type:
        return {}
    try:
        problem = response.json()
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) and ("type" in problem or "status" in problem) else {}


def _problem_error(problem, status, shown, masked=str):
    """A ProtocolError from an RFC 7807 problem (docs/stalwart-api.md, "Limits" and "Errors");
    ``masked`` hides the client's credentials in the detail before it is cut short."""
    problem_type = str(problem.get("type") or "about:blank")
    short_type = problem_type[len(PROBLEM_PREFIX):] if problem_type.startswith(PROBLEM_PREFIX) else problem_type
    detail = problem.get("detail")
    limit = problem.get("limit")
    if short_type == "notRequest":
        # Stalwart puts the raw request body in "detail": long, and not worth repeating.
        detail = "the server did not accept the body as a JMAP Request object"
    elif isinstance(detail, str):
        detail = masked(detail)
        detail = detail[:300] + "..." if len(detail) > 300 else detail
    parts = [f"the server refused the request to {shown} (HTTP {status}, {short_type})"]
    if limit:
        parts.append(f"limit {limit}")
    if detail:
        parts.append(str(detail))
    return ProtocolError(": ".join(parts), error_type=short_type, problem_type=problem_type,
                         status=problem.get("status", status), detail=detail, limit=limit, url=shown)


def _json_body(response, shown):
    try:
        return json.loads(response.content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type", "no content type")
        core = f"{shown} answered HTTP {response.status_code} with a body that is not JSON ({content_type})"
        raise ProtocolError(f"{core}; is url the Stalwart server?", core=core, status=response.status_code,
                            url=shown) from None


def _method_responses(response, shown):
    answer = _json_body(response, shown)
    responses = answer.get("methodResponses") if isinstance(answer, dict) else None
    if not isinstance(responses, list) or not all(
            isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) for item in responses):
        raise ProtocolError(f"{shown} answered with JSON that is not a JMAP response (no valid methodResponses)",
                            url=shown)
    return responses


def _read_limits(session):
    limits = dict(DEFAULT_LIMITS)
    capabilities = session.get("capabilities")
    core = capabilities.get(CORE_CAPABILITY) if isinstance(capabilities, dict) else None
    if isinstance(core, dict):
        for wire_name, key in _LIMIT_NAMES.items():
            value = core.get(wire_name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                limits[key] = value
    return limits
