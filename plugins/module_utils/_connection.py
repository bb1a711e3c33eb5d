# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The connection options of every module, declared once.

``CONNECTION_OPTIONS`` is the one table: ``connection_argument_spec()`` is built from it, and a
unit test holds the doc fragment ``stalwart.mail.connection`` to it. ``client_from_module()``
resolves the credentials (options, files, environment), validates everything before any request
and returns a ``JmapClient``.

Environment variables: the non-secret options use Ansible's ``env_fallback``. The credentials
(``token``, ``token_file``, ``username``, ``password``, ``password_file``) are resolved here
instead, because ``env_fallback`` applies before ``mutually_exclusive`` is checked: an exported
``STALWART_TOKEN`` would then make every task that passes ``username`` or ``token_file`` fail as
"mutually exclusive". Here an option given to the task always wins over the environment, and the
environment only fills in what the chosen method (token or Basic) still lacks.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from urllib.parse import unquote, urlsplit

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.stalwart.mail.plugins.module_utils._client import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    JmapClient,
    redact_url,
    url_userinfo,
)
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError
from ansible_collections.stalwart.mail.plugins.module_utils._values import SECONDS_ACCEPTED, is_wait_seconds

# option -> its argument spec entry, plus "env" (the variable stalwart-cli also reads) and
# "env_in_spec" (False: the environment is read by connection_settings(), see the module docstring).
CONNECTION_OPTIONS = {
    "url": {"type": "str", "required": True, "env": "STALWART_URL"},
    "api_url": {"type": "str", "env": "STALWART_API_URL"},
    "token": {"type": "str", "no_log": True, "env": "STALWART_TOKEN", "env_in_spec": False},
    # no_log False: a path, not a secret (said explicitly, or Ansible warns about the name)
    "token_file": {"type": "path", "no_log": False, "env": "STALWART_TOKEN_FILE", "env_in_spec": False},
    "username": {"type": "str", "env": "STALWART_USER", "env_in_spec": False},
    "password": {"type": "str", "no_log": True, "env": "STALWART_PASSWORD", "env_in_spec": False},
    "password_file": {"type": "path", "no_log": False, "env": "STALWART_PASSWORD_FILE", "env_in_spec": False},
    "validate_certs": {"type": "bool", "default": True, "env": "STALWART_VALIDATE_CERTS"},
    "ca_path": {"type": "path", "env": "STALWART_CA_PATH"},
    "timeout": {"type": "float", "default": 30.0},
    "retries": {"type": "int", "default": 3},
}
_TABLE_ONLY_KEYS = ("env", "env_in_spec")

TOKEN_OPTIONS = ("token", "token_file")
BASIC_OPTIONS = ("username", "password", "password_file")
AUTH_OPTIONS = TOKEN_OPTIONS + BASIC_OPTIONS

# Checked by Ansible on the options given to the task (the environment is not in params yet);
# connection_settings() checks the same rules again, environment included.
CONNECTION_MUTUALLY_EXCLUSIVE = [
    ["token", "username"],
    ["token", "password"],
    ["token", "password_file"],
    ["token_file", "username"],
    ["token_file", "password"],
    ["token_file", "password_file"],
    ["token", "token_file"],
    ["password", "password_file"],
]
# Nothing is required together at the Ansible level: ``username`` goes with ``password`` *or*
# ``password_file``, and either may come from the environment; connection_settings() checks it.

_SCHEMES = ("http://", "https://")
# a user alone in a URL (https://<token>@host) is masked from this length on (userinfo_secrets)
TOKEN_AS_USER = 8


def connection_argument_spec():
    """The argument spec of the connection options, for every module's spec."""
    spec = {}
    for name, entry in CONNECTION_OPTIONS.items():
        option = {key: value for key, value in entry.items() if key not in _TABLE_ONLY_KEYS}
        if entry.get("env") and entry.get("env_in_spec", True):
            option["fallback"] = (env_fallback, [entry["env"]])
        spec[name] = option
    return spec


def _given(value):
    return value is not None and value != ""


def _check_url(option, value):
    text = value if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
    except ValueError:  # an IPv6 address whose '[' is not closed
        parts = None
    if not text.lower().startswith(_SCHEMES) or parts is None or not parts.hostname:
        raise InputError(f"{option}: expected an http:// or https:// URL such as https://mail.example.com, "
                         f"got {redact_url(str(value))!r}", option=option)
    if url_userinfo(text)[0] is not None:
        # requests would log in with them, over the token, and the option is no secret: Ansible
        # shows it (run() masks the password in the module's own result)
        raise InputError(f"{option}: {redact_url(text)!r} holds credentials (user:password@); give them in username "
                         f"and password (or password_file), or use a token", option=option)
    # each of these reached requests, which failed at the first attempt ("Failed to parse") or,
    # for a query or a fragment, sent the request to another path
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in text):
        raise InputError(f"{option}: {text!r} holds white space or a control character", option=option)
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0:
        raise InputError(f"{option}: the port of {text!r} must be a number from 1 to 65535", option=option)
    if "?" in text or "#" in text:
        raise InputError(f"{option}: {text!r} holds a query or a fragment ('?' or '#'); give the server's URL "
                         "alone, such as https://mail.example.com", option=option)


def userinfo_secrets(url):
    """What to mask of the credentials written into ``url``: the password of ``user:password@``
    (as written and decoded), or a user alone (``https://<token>@host``, a token given as the user)
    of at least TOKEN_AS_USER characters: masking is by substring, and a short user name such as
    ``admin`` is no secret, while masked it would blank that word in every message."""
    userinfo = url_userinfo(url)[0] if isinstance(url, str) else None
    if not userinfo:
        return []
    if ":" in userinfo:
        candidates = [userinfo.split(":", 1)[1]]
    else:
        candidates = [userinfo] if len(userinfo) >= TOKEN_AS_USER else []
    found = []
    for secret in candidates:
        found.extend(value for value in (secret, unquote(secret)) if value and value not in found)
    return found


def url_secrets(params):
    """The credentials written into ``url`` or ``api_url`` (``userinfo_secrets``), to be masked."""
    found = []
    for option in ("url", "api_url"):
        found.extend(secret for secret in userinfo_secrets(params.get(option)) if secret not in found)
    return found


def proxy_secrets(environ=None):
    """The credentials of the proxies the environment names (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, either case): ``requests`` sends them to the proxy, and an error text or a
    gateway's echo of ``Proxy-Authorization`` may carry them, so they are masked like the
    collection's own (the password, and the header's base64 form)."""
    environ = os.environ if environ is None else environ
    found = []
    for name in ("https_proxy", "http_proxy", "all_proxy"):
        for variable in (name, name.upper()):
            value = environ.get(variable)
            userinfo = url_userinfo(value)[0] if value else None
            if not userinfo:
                continue
            user, _colon, password = userinfo.partition(":")
            secrets = userinfo_secrets(value) + [basic_credentials(unquote(user), unquote(password))]
            found.extend(secret for secret in secrets if secret not in found)
    return found


def _read_secret_file(label, option, path, strip_all):
    """The secret in ``path``, without its trailing newline; InputError when unusable (``label``
    names the option in the message, and where its value came from)."""
    if os.path.isdir(path):
        raise InputError(f"{label}: {path} is a directory, expected a file holding the secret", option=option)
    try:
        with open(path, encoding="utf-8") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise InputError(f"{label}: file {path} not found", option=option) from None
    except PermissionError:
        raise InputError(f"{label}: cannot read file {path} (permission denied)", option=option) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise InputError(f"{label}: cannot read file {path} ({reason})", option=option) from None
    secret = content.strip() if strip_all else content.rstrip("\r\n")
    if not secret:
        raise InputError(f"{label}: file {path} is empty", option=option)
    return secret


def _check_token(label, option, token):
    """The token as it is sent: without surrounding white space (a vaulted value often ends in a
    newline), as ``token_file`` is read. InputError, before any request, for a token that an HTTP
    header cannot carry; the message shows the character, never the token."""
    token = token.strip()
    if not token:
        raise InputError(f"{label}: the token is empty (white space only)", option=option)
    bad = next((char for char in token if not "!" <= char <= "~"), None)
    if bad is not None:
        shown = "white space" if bad.isspace() else f"the character U+{ord(bad):04X}"
        raise InputError(f"{label}: the token holds {shown}, which an HTTP header cannot carry; a Stalwart API "
                         "key is ASCII letters, digits and punctuation, without spaces", option=option)
    return token


def _label(name, sources):
    """How to name an auth option in a message: ``token_file`` or ``token_file (STALWART_TOKEN_FILE)``."""
    if sources.get(name) == "env":
        return f"{name} (from {CONNECTION_OPTIONS[name]['env']})"
    return name


def _pick_auth(params, environ):
    """The auth options to use, and where each came from ("option" or "env")."""
    explicit = {name: params.get(name) for name in AUTH_OPTIONS if _given(params.get(name))}
    from_env = {name: environ.get(CONNECTION_OPTIONS[name]["env"]) for name in AUTH_OPTIONS
                if _given(environ.get(CONNECTION_OPTIONS[name]["env"]))}
    for name in from_env:
        if CONNECTION_OPTIONS[name]["type"] == "path":  # as Ansible's path type does for the option
            from_env[name] = os.path.expanduser(os.path.expandvars(from_env[name]))
    for group in CONNECTION_MUTUALLY_EXCLUSIVE:
        if all(name in explicit for name in group):
            raise InputError(f"parameters are mutually exclusive: {'|'.join(group)} (use only one of them)",
                             option=group[0])
    uses_token = any(name in explicit for name in TOKEN_OPTIONS)
    uses_basic = any(name in explicit for name in BASIC_OPTIONS)
    if not uses_token and not uses_basic:
        uses_token = any(name in from_env for name in TOKEN_OPTIONS)
        uses_basic = any(name in from_env for name in BASIC_OPTIONS)
        if uses_token and uses_basic:
            variables = sorted(CONNECTION_OPTIONS[name]["env"] for name in from_env)
            raise InputError("the environment sets both a token and HTTP Basic credentials "
                             f"({', '.join(variables)}); they are mutually exclusive: unset one, or pass "
                             "token or username to the task", option="token")
    chosen = {}
    sources = {}
    slots = [TOKEN_OPTIONS] if uses_token else ([("username",), ("password", "password_file")] if uses_basic else [])
    for slot in slots:
        origin = "option" if any(name in explicit for name in slot) else "env"
        values = explicit if origin == "option" else from_env
        present = [name for name in slot if name in values]
        if len(present) > 1:  # only the environment can get here: explicit pairs were refused above
            variables = ", ".join(CONNECTION_OPTIONS[name]["env"] for name in present)
            raise InputError(f"{variables} are mutually exclusive (only one of them may be set)", option=present[0])
        for name in present:
            chosen[name] = values[name]
            sources[name] = origin
    return chosen, sources


# retries back off exponentially: past this many, a server that never answers would hold the
# task for hours (a million retries held it for good)
MAX_RETRIES = 100


def connection_settings(params, environ=None):
    """The keyword arguments of ``JmapClient`` from the module's params and the environment.

    Reads ``token_file`` / ``password_file``. Raises ``InputError`` (before any request) naming
    the option and what is accepted. The returned dict also holds ``secrets``: the token and
    password values, for the caller to mask (they are not JmapClient arguments).
    """
    environ = os.environ if environ is None else environ
    _check_url("url", params.get("url"))
    if _given(params.get("api_url")):
        _check_url("api_url", params.get("api_url"))
    timeout = params.get("timeout")
    timeout = CONNECTION_OPTIONS["timeout"]["default"] if timeout is None else timeout
    if not is_wait_seconds(timeout):
        raise InputError(f"timeout: {SECONDS_ACCEPTED}, got {timeout!r}", option="timeout")
    retries = params.get("retries")
    retries = CONNECTION_OPTIONS["retries"]["default"] if retries is None else retries
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        raise InputError(f"retries: expected an integer >= 0 and at most {MAX_RETRIES} (0: no retry), got {retries!r}",
                         option="retries")
    validate_certs = params.get("validate_certs")
    validate_certs = True if validate_certs is None else bool(validate_certs)
    ca_path = params.get("ca_path") or None
    if ca_path is not None and not os.path.exists(ca_path):
        raise InputError(f"ca_path: file {ca_path} not found (expected a CA bundle file or a directory of CA "
                         "certificates)", option="ca_path")

    chosen, sources = _pick_auth(params, environ)
    token = chosen.get("token")
    if "token_file" in chosen:
        token = _read_secret_file(_label("token_file", sources), "token_file", chosen["token_file"], strip_all=True)
    password = chosen.get("password")
    if "password_file" in chosen:
        password = _read_secret_file(_label("password_file", sources), "password_file", chosen["password_file"],
                                     strip_all=False)
    if token is not None:
        option = "token_file" if "token_file" in chosen else "token"
        token = _check_token(_label(option, sources), option, token)
    username = chosen.get("username")
    if username is not None and ":" in username:
        raise InputError(f"{_label('username', sources)}: HTTP Basic authentication cannot carry a user name "
                         "with ':' (it separates the user name from the password)", option="username")
    if username is not None and password is None:
        raise InputError("password: HTTP Basic authentication needs a password for username; it is missing: "
                         "set password or password_file (or STALWART_PASSWORD / STALWART_PASSWORD_FILE)",
                         option="password")
    if password is not None and username is None:
        raise InputError("username: HTTP Basic authentication needs a username for the password; it is missing: "
                         "set username (or STALWART_USER)", option="username")
    return {
        "url": params["url"],
        "api_url": params.get("api_url") or None,
        "token": token,
        "username": username,
        "password": password,
        "validate_certs": validate_certs,
        "ca_path": ca_path,
        "timeout": float(timeout),
        "retries": retries,
        # and the Basic credentials as they travel (a gateway's error page may echo the header)
        "secrets": [secret for secret in (token, password, basic_credentials(username, password)) if secret],
    }


def basic_credentials(username, password):
    """What ``Authorization: Basic`` carries for ``username`` and ``password`` (the client sends
    them UTF-8 encoded), or None without a username."""
    if username is None:
        return None
    return base64.b64encode(f"{username}:{password or ''}".encode("utf-8")).decode("ascii")


def validate_connection_params(params, environ=None):
    """Raise ``InputError`` if the connection options cannot work; no request is made."""
    connection_settings(params, environ)


def is_loopback(host):
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def clear_text_warning(url):
    """The warning for credentials sent over plain HTTP to a host that is not loopback, or None."""
    if not isinstance(url, str) or not url.lower().startswith("http://"):
        return None
    if is_loopback(urlsplit(url).hostname):
        return None
    return (f"{redact_url(url)} uses http://: the credentials are sent in clear text (not encrypted) over the "
            "network; use https://")


def client_from_module(module, environ=None):
    """A ``JmapClient`` for the module's connection options.

    Fails the module when ``requests`` is missing; raises ``InputError`` for bad options (the
    runner turns it into ``fail_json``). Secrets read from files or the environment are added to
    ``module.no_log_values`` so that Ansible masks them too. Warns about plain HTTP to a host that
    is not loopback.
    """
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    for secret in url_secrets(module.params):
        module.no_log_values.add(secret)
    settings = connection_settings(module.params, environ)
    secrets = settings.pop("secrets") + proxy_secrets(environ)
    for secret in secrets:
        module.no_log_values.add(secret)
    warned = set()
    for url in (settings["url"], settings["api_url"]):
        message = clear_text_warning(url)
        if message and message not in warned:
            warned.add(message)
            module.warn(message)
    return JmapClient(warn=module.warn, known_secrets=secrets, **settings)
