# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection options: the spec and the doc fragment agree, bad options are refused before any
request, credentials come from options, files and the environment in that order, secrets are
masked, plain HTTP warns."""

from __future__ import annotations

import base64
import os
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.stalwart.mail.plugins.doc_fragments.attributes import ModuleDocFragment as Attributes
from ansible_collections.stalwart.mail.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.stalwart.mail.plugins.module_utils import _connection
from ansible_collections.stalwart.mail.plugins.module_utils._client import JmapClient
from ansible_collections.stalwart.mail.plugins.module_utils._connection import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    CONNECTION_OPTIONS,
    clear_text_warning,
    client_from_module,
    connection_argument_spec,
    connection_settings,
    proxy_secrets,
    url_secrets,
    validate_connection_params,
)
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError

TOKEN = "API_conn-unit-secret-Vb6Hq1"
PASSWORD = "Pw-conn-unit-secret-Ty3Ns8"
URL = "https://mail.example.org"

DESIGN_TABLE = {
    # option: (type, env, default, required, no_log)
    "url": ("str", "STALWART_URL", None, True, False),
    "api_url": ("str", "STALWART_API_URL", None, False, False),
    "token": ("str", "STALWART_TOKEN", None, False, True),
    "token_file": ("path", "STALWART_TOKEN_FILE", None, False, False),
    "username": ("str", "STALWART_USER", None, False, False),
    "password": ("str", "STALWART_PASSWORD", None, False, True),
    "password_file": ("path", "STALWART_PASSWORD_FILE", None, False, False),
    "validate_certs": ("bool", "STALWART_VALIDATE_CERTS", True, False, False),
    "ca_path": ("path", "STALWART_CA_PATH", None, False, False),
    "timeout": ("float", None, 30, False, False),
    "retries": ("int", None, 3, False, False),
}


def params(**overrides):
    base = {name: entry.get("default") for name, entry in CONNECTION_OPTIONS.items()}
    base["url"] = URL
    base.update(overrides)
    return base


# --- one table: spec, docs, fragment --------------------------------------------------------


def test_options_are_exactly_those_of_design_section_2():
    spec = connection_argument_spec()
    assert set(spec) == set(DESIGN_TABLE)
    for name, (kind, env, default, required, no_log) in DESIGN_TABLE.items():
        assert spec[name]["type"] == kind, name
        assert spec[name].get("default") == default, name
        assert bool(spec[name].get("required")) is required, name
        assert bool(spec[name].get("no_log")) is no_log, name
        assert CONNECTION_OPTIONS[name].get("env") == env, name


def test_doc_fragment_agrees_with_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = connection_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("aliases", []) == option.get("aliases", []), name
        assert doc.get("elements") == option.get("elements"), name
        text = " ".join(doc["description"])
        env = CONNECTION_OPTIONS[name].get("env")
        if env:
            assert f"E({env})" in text, (name, "the description must name its environment variable")


def test_env_fallback_only_for_options_that_are_not_credentials():
    spec = connection_argument_spec()
    with_fallback = {name for name, option in spec.items() if "fallback" in option}
    assert with_fallback == {"url", "api_url", "validate_certs", "ca_path"}
    for name in with_fallback:
        assert spec[name]["fallback"][1] == [CONNECTION_OPTIONS[name]["env"]]


def test_attributes_fragment_declares_the_action_group():
    action = yaml.safe_load(Attributes.ACTIONGROUP_JMAP)["attributes"]["action_group"]
    assert action["membership"] == ["stalwart.mail.jmap"]
    assert action["support"] == "full"
    assert "group/stalwart.mail.jmap" in action["description"]
    common = yaml.safe_load(Attributes.DOCUMENTATION)["attributes"]
    assert set(common) == {"check_mode", "diff_mode", "idempotent"}


def validator():
    return ArgumentSpecValidator(connection_argument_spec(), mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE)


@pytest.mark.parametrize("given,conflict", [
    ({"token": TOKEN, "username": "admin"}, "token|username"),
    ({"token": TOKEN, "token_file": "/x"}, "token|token_file"),
    ({"password": PASSWORD, "password_file": "/x", "username": "a"}, "password|password_file"),
    ({"token_file": "/x", "password": PASSWORD}, "token_file|password"),
])
def test_ansible_refuses_explicit_conflicts(given, conflict):
    result = validator().validate({"url": URL, **given})
    assert any("mutually exclusive" in message and conflict in message for message in result.error_messages), \
        result.error_messages


def test_an_exported_token_does_not_conflict_with_a_task_username(monkeypatch):
    """Why the credentials have no env_fallback: it would run before mutually_exclusive."""
    monkeypatch.setenv("STALWART_TOKEN", TOKEN)
    result = validator().validate({"url": URL, "username": "admin", "password": PASSWORD})
    assert result.error_messages == []
    assert result.validated_parameters["token"] is None


def test_env_fallback_for_url_and_validate_certs(monkeypatch):
    monkeypatch.setenv("STALWART_URL", URL)
    monkeypatch.setenv("STALWART_VALIDATE_CERTS", "false")
    result = validator().validate({})
    assert result.error_messages == []
    assert result.validated_parameters["url"] == URL
    assert result.validated_parameters["validate_certs"] is False


# --- validation before any request ---------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    (tmp_path / "token").write_text(f"  {TOKEN}\n")
    (tmp_path / "password").write_text(f"{PASSWORD} \n")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "nonascii").write_text(f"{TOKEN}€\n", encoding="utf-8")
    (tmp_path / "dir").mkdir()
    (tmp_path / "ca.pem").write_text("not checked here")
    return {"@token": str(tmp_path / "token"), "@password": str(tmp_path / "password"),
            "@empty": str(tmp_path / "empty"), "@nonascii": str(tmp_path / "nonascii"), "@dir": str(tmp_path / "dir"), "@ca": str(tmp_path / "ca.pem"),
            "@missing": str(tmp_path / "missing")}


def resolve(given, files):
    return {key: files.get(value, value) if isinstance(value, str) else value for key, value in given.items()}


BAD = [
    # overrides, option the message names, what it must say
    ({"url": "127.0.0.1:8080"}, "url", r"http:// or https://"),
    ({"url": "ftp://mail.example.org"}, "url", r"http:// or https://"),
    ({"url": ""}, "url", r"http:// or https://"),
    ({"url": "https://"}, "url", r"http:// or https://"),
    ({"url": None}, "url", r"http:// or https://"),
    ({"api_url": "mail.example.org/jmap/"}, "api_url", r"http:// or https://"),
    # each reached requests, which failed at the first attempt, or sent the request elsewhere
    ({"url": "http://[::1"}, "url", r"http:// or https://"),
    ({"url": "https://mail.example.org:99999"}, "url", r"port .* from 1 to 65535"),
    ({"url": "https://mail.example.org:https"}, "url", r"port .* from 1 to 65535"),
    ({"url": "https://mail.example.org:0"}, "url", r"port .* from 1 to 65535"),
    ({"url": "https://mail example.org"}, "url", r"white space or a control character"),
    ({"url": "https://mail.example.org/\n"}, "url", r"white space or a control character"),
    ({"url": "https://mail.example.org?tenant=1"}, "url", r"query or a fragment"),
    ({"api_url": "https://mail.example.org/jmap/#x"}, "api_url", r"query or a fragment"),
    ({"token": TOKEN, "username": "admin", "password": PASSWORD}, "token", r"mutually exclusive"),
    ({"token": TOKEN, "token_file": "@token"}, "token", r"mutually exclusive"),
    ({"username": "admin"}, "password", r"missing"),
    ({"password": PASSWORD}, "username", r"missing"),
    ({"username": "admin", "password_file": "@missing"}, "password_file", r"not found"),
    ({"token_file": "@missing"}, "token_file", r"not found"),
    ({"token_file": "@dir"}, "token_file", r"directory"),
    ({"token_file": "@empty"}, "token_file", r"empty"),
    ({"username": "admin", "password_file": "@empty"}, "password_file", r"empty"),
    ({"timeout": 0}, "timeout", r"> 0"),
    ({"timeout": -1.5}, "timeout", r"> 0"),
    ({"retries": -1}, "retries", r">= 0"),
    ({"ca_path": "@missing"}, "ca_path", r"not found"),
    # a token an HTTP header cannot carry: refused here, where requests raised with the token in its message
    ({"token": TOKEN[:4] + " " + TOKEN[4:]}, "token", r"holds white space"),
    ({"token": TOKEN + "\u00f6"}, "token", r"holds the character U\+00F6, which an HTTP header cannot carry"),
    ({"token": "\t \n"}, "token", r"empty \(white space only\)"),
    ({"token_file": "@nonascii"}, "token_file", r"U\+20AC"),
    ({"username": "ad:min", "password": PASSWORD}, "username", r"':'"),
]


@pytest.mark.parametrize("given,option,words", BAD, ids=[f"{case[1]}-{index}" for index, case in enumerate(BAD)])
def test_bad_options_are_refused_naming_the_option(files, given, option, words):
    with pytest.raises(InputError) as caught:
        validate_connection_params(params(**resolve(given, files)), environ={})
    assert caught.value.msg.startswith(option) or option in caught.value.msg, caught.value.msg
    assert re.search(words, caught.value.msg), caught.value.msg
    assert caught.value.details["option"] == option
    for secret in (TOKEN, PASSWORD):
        assert secret not in caught.value.msg


@pytest.mark.parametrize("url", ["admin:hunter2@127.0.0.1:8080", "http:/admin:hunter2@127.0.0.1:8080",
                                 "http:admin:hunter2@mail.example.org"])
def test_credentials_in_a_url_without_its_scheme_are_not_echoed_and_are_masked(url):
    """A URL whose "scheme://" was mistyped was refused in a message quoting it whole, and its
    password was not among the values masked in the result's invocation."""
    with pytest.raises(InputError) as caught:
        validate_connection_params(params(url=url), environ={})
    assert "hunter2" not in caught.value.msg, caught.value.msg
    assert "hunter2" in url_secrets({"url": url})


def test_a_token_given_as_the_urls_user_is_masked():
    """https://<token>@host, a common way to pass a token: refused (credentials in the URL), but the
    token was not masked, so the invocation showed it; a short user name is no secret."""
    assert TOKEN in url_secrets({"url": f"https://{TOKEN}@mail.example.org"})
    assert url_secrets({"url": "https://admin@mail.example.org"}) == []


def test_the_credentials_of_the_environments_proxies_are_masked():
    environ = {"HTTPS_PROXY": "http://proxyuser:proxy%2Fsecret@proxy:3128", "all_proxy": "socks5://sock@proxy:1080",
               "http_proxy": "proxy:3128"}
    found = proxy_secrets(environ)
    assert "proxy%2Fsecret" in found and "proxy/secret" in found
    assert base64.b64encode(b"proxyuser:proxy/secret").decode() in found
    assert "proxyuser" not in found and "sock" not in found, found  # a user beside a password, or short
    assert proxy_secrets({}) == []


def test_url_userinfo_is_not_echoed():
    with pytest.raises(InputError) as caught:
        validate_connection_params(params(url="ftp://admin:hunter2@mail.example.org"), environ={})
    assert "hunter2" not in caught.value.msg and "mail.example.org" in caught.value.msg


@pytest.mark.parametrize("given,env,expected", [
    # (task options, environment, (token, username, password))
    ({"token": TOKEN}, {}, (TOKEN, None, None)),
    ({"token_file": "@token"}, {}, (TOKEN, None, None)),
    ({"token_file": "@token"}, {"STALWART_TOKEN": "from-env"}, (TOKEN, None, None)),
    ({}, {"STALWART_TOKEN": TOKEN}, (TOKEN, None, None)),
    ({}, {"STALWART_TOKEN_FILE": "@token"}, (TOKEN, None, None)),
    ({"username": "admin", "password": PASSWORD}, {"STALWART_TOKEN": "from-env"}, (None, "admin", PASSWORD)),
    ({"username": "admin"}, {"STALWART_PASSWORD": PASSWORD}, (None, "admin", PASSWORD)),
    ({"username": "admin", "password_file": "@password"}, {"STALWART_PASSWORD": "env"}, (None, "admin", PASSWORD + " ")),
    ({"password": PASSWORD}, {"STALWART_USER": "admin"}, (None, "admin", PASSWORD)),
    ({}, {"STALWART_USER": "admin", "STALWART_PASSWORD": PASSWORD}, (None, "admin", PASSWORD)),
    ({"token": TOKEN}, {"STALWART_USER": "admin", "STALWART_PASSWORD": PASSWORD}, (TOKEN, None, None)),
    ({"token": ""}, {"STALWART_TOKEN": TOKEN}, (TOKEN, None, None)),
    # surrounding white space dropped, as token_file is read (a vaulted value often ends in a newline)
    ({"token": TOKEN + "\n"}, {}, (TOKEN, None, None)),
    ({}, {"STALWART_TOKEN": f" {TOKEN}\r\n"}, (TOKEN, None, None)),
    ({}, {}, (None, None, None)),
])
def test_credentials_task_options_win_over_the_environment(files, given, env, expected):
    settings = connection_settings(params(**resolve(given, files)), environ=resolve(env, files))
    assert (settings["token"], settings["username"], settings["password"]) == expected
    # the token, the password, and the Basic credentials as they travel (base64 of user:password)
    token, username, password = expected
    basic = base64.b64encode(f"{username}:{password}".encode()).decode() if username else None
    assert settings["secrets"] == [secret for secret in (token, password, basic) if secret]


@pytest.mark.parametrize("env,words", [
    ({"STALWART_TOKEN": TOKEN, "STALWART_USER": "admin"}, "STALWART_TOKEN, STALWART_USER"),
    ({"STALWART_TOKEN": TOKEN, "STALWART_TOKEN_FILE": "/x"}, "STALWART_TOKEN, STALWART_TOKEN_FILE"),
])
def test_conflicting_environment_is_refused(env, words):
    with pytest.raises(InputError, match="mutually exclusive") as caught:
        connection_settings(params(), environ=env)
    assert words in caught.value.msg and TOKEN not in caught.value.msg


def test_env_token_problem_names_the_variable():
    with pytest.raises(InputError, match=r"^token \(from STALWART_TOKEN\): the token holds white space") as caught:
        connection_settings(params(), environ={"STALWART_TOKEN": f"{TOKEN} x"})
    assert TOKEN not in caught.value.msg


def test_env_token_file_problem_names_the_variable(files):
    with pytest.raises(InputError, match=r"token_file \(from STALWART_TOKEN_FILE\): file .* not found") as caught:
        connection_settings(params(), environ={"STALWART_TOKEN_FILE": files["@missing"]})
    # the structured field is the option, as for every other input error; the message tells the source
    assert caught.value.details["option"] == "token_file"


@pytest.mark.parametrize("variable, expected", [("STALWART_TOKEN_FILE", (TOKEN, None, None)),
                                                # (the file's trailing space is part of the password)
                                                ("STALWART_PASSWORD_FILE", (None, "admin", PASSWORD + " "))])
def test_env_secret_files_are_expanded_as_the_options_are(files, monkeypatch, variable, expected):
    """The options are of Ansible's path type, which expands ~ and $VAR; their variables were
    used as they were: '~/token' was 'not found'."""
    home = os.path.dirname(files["@token"])
    monkeypatch.setenv("HOME", home)
    monkeypatch.setenv("SECRETS_DIR", home)
    name = "token" if variable == "STALWART_TOKEN_FILE" else "password"
    for path in (f"~/{name}", f"$SECRETS_DIR/{name}"):
        environ = {variable: path, **({"STALWART_USER": "admin"} if name == "password" else {})}
        settings = connection_settings(params(), environ=environ)
        assert (settings["token"], settings["username"], settings["password"]) == expected, path


def test_settings_pass_through(files):
    settings = connection_settings(params(api_url="https://mail.example.org/jmap/", validate_certs=False,
                                          ca_path=files["@ca"], timeout=7, retries=0, token=TOKEN), environ={})
    assert settings == {"url": URL, "api_url": "https://mail.example.org/jmap/", "token": TOKEN, "username": None,
                        "password": None, "validate_certs": False, "ca_path": files["@ca"], "timeout": 7.0,
                        "retries": 0, "secrets": [TOKEN]}


# --- plain HTTP warning ----------------------------------------------------------------------------


@pytest.mark.parametrize("url,warns", [
    ("http://mail.example.org", True),
    ("http://[fe80::1]:1", True),
    ("http://192.0.2.1:8080", True),
    ("HTTP://mail.example.org", True),
    ("http://127.0.0.1:8080", False),
    ("http://127.3.4.5", False),
    ("http://[::1]:8080", False),
    ("http://localhost:8080", False),
    ("http://LOCALHOST", False),
    ("https://mail.example.org", False),
    (None, False),
])
def test_clear_text_warning(url, warns):
    message = clear_text_warning(url)
    assert bool(message) is warns
    if warns:
        assert "clear text" in message


def test_clear_text_warning_strips_userinfo():
    assert "hunter2" not in clear_text_warning("http://admin:hunter2@mail.example.org")


# --- client_from_module ----------------------------------------------------------------------------


class FakeModule:
    def __init__(self, module_params):
        self.params = module_params
        self.no_log_values = set()
        self.warnings = []
        self.failed = None

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


def test_client_from_module_masks_file_secrets_and_warns(files):
    module = FakeModule(params(url="http://mail.example.org", token_file=files["@token"]))
    client = client_from_module(module, environ={})
    assert isinstance(client, JmapClient)
    assert TOKEN in module.no_log_values
    assert len(module.warnings) == 1 and "clear text" in module.warnings[0]
    assert client.url == "http://mail.example.org" and TOKEN not in repr(client)


def test_client_from_module_masks_env_secrets_and_is_quiet_on_https():
    module = FakeModule(params(username="admin"))
    client = client_from_module(module, environ={"STALWART_PASSWORD": PASSWORD})
    assert PASSWORD in module.no_log_values
    assert module.warnings == []
    assert client.timeout == 30.0 and client.retries == 3


def test_client_from_module_warns_once_per_url():
    module = FakeModule(params(url="http://mail.example.org", api_url="http://mail.example.org"))
    client_from_module(module, environ={})
    assert len(module.warnings) == 1


def test_client_from_module_raises_input_error_before_anything():
    module = FakeModule(params(url="mail.example.org"))
    with pytest.raises(InputError):
        client_from_module(module, environ={})


def test_missing_requests_fails_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(_connection, "HAS_REQUESTS", False)
    monkeypatch.setattr(_connection, "REQUESTS_IMPORT_ERROR", "Traceback: No module named 'requests'")
    module = FakeModule(params(token=TOKEN))
    with pytest.raises(SystemExit):
        client_from_module(module, environ={})
    assert "requests" in module.failed["msg"]
    assert module.failed["exception"] == "Traceback: No module named 'requests'"
