"""Bad input fails before any request (DESIGN.md §4), and says which strategy, which option and
what is accepted.

All the cases run as tasks of one playbook against one simulator (one ``ansible-playbook`` start
instead of fifty); every task has ``ignore_errors`` and is registered, and each case is then its
own test. The simulator's request counter is read after the playbook: bad input must not cost a
single HTTP request, not even the session read.

A hostname that looks fine to the client but that the server refuses (unknown top-level domain)
is the other half: it does reach the server, and the server's reason comes back mapped to the
strategy and the option the user wrote (``ehlo_hostname``, not ``ehloHostname``).
"""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import MODULE
from tests.support.ansible import run_tasks
from tests.support.sim import ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, Simulator

# What a message must say is accepted, by kind of option. Loose on wording, strict on substance.
ACCEPT_DURATION = r"\bms\b|millisecond"
ACCEPT_IP = r"IPv4|IPv6|IP address"
ACCEPT_HOSTNAME = r"host ?name"
ACCEPT_STATE = r"present.*absent|absent.*present"
ACCEPT_BOOL = r"bool|true|false|yes|no"
ACCEPT_URL = r"https?://|http\(s\)://|scheme"
ACCEPT_POSITIVE = r"> ?0|greater than (0|zero)|positive|at least 1"
ACCEPT_NON_NEGATIVE = r">= ?0|non-negative|not negative|negative|at least 0|0 or more"
ACCEPT_EXCLUSIVE = r"exclusive|only one|not both|either|cannot be used together|one of"
ACCEPT_FILE = r"read|exist|found|file|director"
ACCEPT_UNIQUE = r"unique|once|duplicate|more than one|twice"
ACCEPT_SUPPORTED = r"support|accept|allowed|valid|known|one of"
ACCEPT_NAME = r"non-empty|not be empty|empty|required"
ACCEPT_LIST = r"list"
ACCEPT_DICT = r"dict|mapping|object|\bip\b"
ACCEPT_STRATEGIES = r"strategies"
ACCEPT_NOT_ZERO_IP = r"0\.0\.0\.0"

# A batch item without a usable name is named by its position.
FIRST_ITEM = r"strategies\[0\]|item 1\b|entry 1\b|#1\b|position 1\b|index 0\b|first"
SECOND_ITEM = r"strategies\[1\]|item 2\b|entry 2\b|#2\b|position 2\b|index 1\b|second"

# Connection options every case gets unless it overrides them (None removes one).
MISSING_FILE = "/nonexistent/stalwart-reliability/secret"


class Case:
    """One bad input: module arguments, and what the failure message must name."""

    def __init__(self, case_id, args, option, accepted, strategy=None, connection=None, options=None):
        self.id = case_id
        self.args = args
        self.option = option  # option name the message must contain (str, or a tuple: all of them)
        self.accepted = accepted  # regex: what is accepted
        self.strategy = strategy  # regex or literal the message must contain, or None
        self.connection = connection or {}
        self.options = options  # alternative option names (any one of them is enough)


def single(name, **options):
    return dict(name=name, **options)


CASES = [
    # --- connection options (not about a strategy) ---------------------------------------------
    Case("url-without-scheme", single("c1"), "url", ACCEPT_URL, connection={"url": "127.0.0.1:8080"}),
    Case("url-ftp-scheme", single("c2"), "url", ACCEPT_URL, connection={"url": "ftp://127.0.0.1:8080"}),
    Case("url-empty", single("c3"), "url", ACCEPT_URL, connection={"url": ""}),
    Case("api-url-without-scheme", single("c4"), "api_url", ACCEPT_URL,
         connection={"api_url": "127.0.0.1:8080/jmap/"}),
    Case("token-and-username", single("c5"), ("token", "username"), ACCEPT_EXCLUSIVE,
         connection={"username": ADMIN_USER, "password": ADMIN_PASSWORD}),
    Case("token-and-token-file", single("c6"), ("token", "token_file"), ACCEPT_EXCLUSIVE,
         connection={"token_file": "@TOKEN_FILE@"}),
    Case("username-without-password", single("c7"), "password", ACCEPT_SUPPORTED + r"|required|missing",
         connection={"token": None, "username": ADMIN_USER}),
    Case("password-without-username", single("c8"), "username", ACCEPT_SUPPORTED + r"|required|missing",
         connection={"token": None, "password": ADMIN_PASSWORD}),
    Case("token-file-missing", single("c9"), "token_file", ACCEPT_FILE,
         connection={"token": None, "token_file": MISSING_FILE}),
    Case("token-file-is-a-directory", single("c10"), "token_file", ACCEPT_FILE,
         connection={"token": None, "token_file": "@DIRECTORY@"}),
    Case("token-file-empty", single("c11"), "token_file", r"empty",
         connection={"token": None, "token_file": "@EMPTY_FILE@"}),
    Case("password-file-missing", single("c12"), "password_file", ACCEPT_FILE,
         connection={"token": None, "username": ADMIN_USER, "password_file": MISSING_FILE}),
    Case("timeout-zero", single("c13"), "timeout", ACCEPT_POSITIVE, connection={"timeout": 0}),
    Case("timeout-negative", single("c14"), "timeout", ACCEPT_POSITIVE, connection={"timeout": -5}),
    Case("timeout-not-a-number", single("c15"), "timeout", r"float|number", connection={"timeout": "fast"}),
    Case("retries-negative", single("c16"), "retries", ACCEPT_NON_NEGATIVE, connection={"retries": -1}),
    Case("retries-not-an-int", single("c17"), "retries", r"\bint", connection={"retries": "many"}),
    Case("validate-certs-not-a-bool", single("c18"), "validate_certs", ACCEPT_BOOL,
         connection={"validate_certs": "perhaps"}),
    Case("ca-path-missing", single("c19"), "ca_path", ACCEPT_FILE, connection={"ca_path": MISSING_FILE}),

    # --- one strategy ------------------------------------------------------------------------------
    Case("name-missing", {"connect_timeout": "5m"}, "name", ACCEPT_STRATEGIES + r"|required",
         options=("name", "strategies")),
    Case("name-empty", {"name": ""}, "name", ACCEPT_NAME),
    Case("state-unknown", single("s-state", state="gone"), "state", ACCEPT_STATE),
    Case("unknown-option", single("s-unknown", colour="red"), "colour", ACCEPT_SUPPORTED),
    Case("ehlo-hostname-double-dot", single("s-host1", ehlo_hostname="mx..example.com"), "ehlo_hostname",
         ACCEPT_HOSTNAME, strategy="s-host1"),
    Case("ehlo-hostname-trailing-dot", single("s-host2", ehlo_hostname="mx.example.com."), "ehlo_hostname",
         ACCEPT_HOSTNAME, strategy="s-host2"),
    Case("ehlo-hostname-without-dot", single("s-host3", ehlo_hostname="mailserver"), "ehlo_hostname",
         ACCEPT_HOSTNAME, strategy="s-host3"),
    Case("ehlo-hostname-label-too-long", single("s-host4", ehlo_hostname="a" * 64 + ".example.com"),
         "ehlo_hostname", ACCEPT_HOSTNAME, strategy="s-host4"),
    Case("source-ip-malformed", single("s-ip1", source_ips=[{"ip": "999.1.1.1"}]), "source_ips", ACCEPT_IP,
         strategy="s-ip1"),
    Case("source-ip-any-address", single("s-ip2", source_ips=[{"ip": "0.0.0.0"}]), "source_ips",
         ACCEPT_NOT_ZERO_IP, strategy="s-ip2"),
    Case("source-ip-cidr", single("s-ip3", source_ips=[{"ip": "192.0.2.0/24"}]), "source_ips", ACCEPT_IP,
         strategy="s-ip3"),
    Case("source-ip-missing", single("s-ip4", source_ips=[{"ehlo_hostname": "mx.example.com"}]), "ip",
         r"required|missing"),
    Case("source-ips-item-not-a-dict", single("s-ip5", source_ips=[["192.0.2.1"]]), "source_ips", ACCEPT_DICT),
    Case("source-ips-unknown-key", single("s-ip6", source_ips=[{"ip": "192.0.2.1", "hostname": "mx.example.com"}]),
         "hostname", ACCEPT_SUPPORTED),
    Case("source-ips-bad-ehlo-hostname", single("s-ip7", source_ips=[{"ip": "192.0.2.1", "ehlo_hostname": "mx..bad"}]),
         "ehlo_hostname", ACCEPT_HOSTNAME, strategy="s-ip7"),
    Case("source-ips-not-a-list", single("s-ip8", source_ips={"ip": "192.0.2.1"}), "source_ips", ACCEPT_LIST),
    Case("duration-zero", single("d-zero", connect_timeout=0), "connect_timeout", ACCEPT_DURATION,
         strategy="d-zero"),
    Case("duration-zero-with-unit", single("d-zero-s", data_timeout="0s"), "data_timeout", ACCEPT_DURATION,
         strategy="d-zero-s"),
    Case("duration-negative", single("d-neg", ehlo_timeout=-5), "ehlo_timeout", ACCEPT_DURATION, strategy="d-neg"),
    Case("duration-negative-with-unit", single("d-neg-m", greeting_timeout="-5m"), "greeting_timeout",
         ACCEPT_DURATION, strategy="d-neg-m"),
    Case("duration-fractional-unit", single("d-frac", mail_from_timeout="1.5s"), "mail_from_timeout",
         ACCEPT_DURATION, strategy="d-frac"),
    Case("duration-fractional-number", single("d-float", rcpt_to_timeout=1.5), "rcpt_to_timeout",
         ACCEPT_DURATION, strategy="d-float"),
    Case("duration-unknown-unit", single("d-unit", connect_timeout="5w"), "connect_timeout", ACCEPT_DURATION,
         strategy="d-unit"),
    Case("duration-unknown-unit-in-compound", single("d-comp", data_timeout="1h 30x"), "data_timeout",
         ACCEPT_DURATION, strategy="d-comp"),
    Case("duration-words", single("d-words", ehlo_timeout="ten minutes"), "ehlo_timeout", ACCEPT_DURATION,
         strategy="d-words"),
    Case("duration-empty-string", single("d-empty", greeting_timeout=""), "greeting_timeout", ACCEPT_DURATION,
         strategy="d-empty"),
    Case("duration-boolean", single("d-bool", mail_from_timeout=True), "mail_from_timeout", ACCEPT_DURATION,
         strategy="d-bool"),
    Case("duration-list", single("d-list", rcpt_to_timeout=[300000]), "rcpt_to_timeout", ACCEPT_DURATION,
         strategy="d-list"),
    Case("reload-not-a-bool", single("s-reload", reload="later"), "reload", ACCEPT_BOOL),

    # --- a batch -------------------------------------------------------------------------------------
    Case("name-and-strategies", {"name": "b1", "strategies": [{"name": "b2"}]}, ("name", "strategies"),
         ACCEPT_EXCLUSIVE),
    Case("purge-with-single-name", {"name": "b3", "purge": True}, "purge", ACCEPT_STRATEGIES),
    Case("purge-without-strategies", {"purge": True}, "strategies", ACCEPT_STRATEGIES + r"|required"),
    Case("purge-not-a-bool", {"strategies": [{"name": "b-purge"}], "purge": "all"}, "purge", ACCEPT_BOOL),
    Case("force-not-a-bool", {"strategies": [{"name": "b-force"}], "force": "please"}, "force", ACCEPT_BOOL),
    Case("strategies-not-a-list", {"strategies": {"name": "b4"}}, "strategies", ACCEPT_LIST),
    Case("strategies-item-not-a-dict", {"strategies": [["b5"]]}, "strategies", ACCEPT_DICT),
    Case("duplicate-names-in-batch", {"strategies": [{"name": "dup"}, {"name": "other"}, {"name": "dup"}]},
         "name", ACCEPT_UNIQUE, strategy="dup"),
    Case("batch-item-without-name", {"strategies": [{"connect_timeout": "5m"}]}, "name", ACCEPT_NAME,
         strategy=FIRST_ITEM),
    Case("batch-item-empty-name", {"strategies": [{"name": "fine"}, {"name": ""}]}, "name", ACCEPT_NAME,
         strategy=SECOND_ITEM),
    Case("batch-item-unknown-key", {"strategies": [{"name": "b-unknown", "colour": "red"}]}, "colour",
         ACCEPT_SUPPORTED, strategy="b-unknown"),
    Case("batch-item-bad-state", {"strategies": [{"name": "b-state", "state": "deleted"}]}, "state",
         ACCEPT_STATE, strategy="b-state"),
    Case("batch-item-bad-duration", {"strategies": [{"name": "b-ok"}, {"name": "b-dur", "data_timeout": "10 minutes"}]},
         "data_timeout", ACCEPT_DURATION, strategy="b-dur"),
    Case("batch-item-any-address", {"strategies": [{"name": "b-ip", "source_ips": [{"source_ip": "0.0.0.0"}]}]},
         "source_ips", ACCEPT_NOT_ZERO_IP, strategy="b-ip"),
    Case("batch-item-bad-hostname", {"strategies": [{"name": "b-host", "ehlo_hostname": ".example.com"}]},
         "ehlo_hostname", ACCEPT_HOSTNAME, strategy="b-host"),
]

assert len(CASES) >= 40
assert len({case.id for case in CASES}) == len(CASES)

# ---------------------------------------------------------------------------------------------------


def result_of(outcome, task_name):
    """The task's module result, with ``failed`` set from the recorded status (the callback keeps
    the status beside the result, not in it)."""
    return dict(outcome.result(task_name), failed=outcome.status(task_name) == "failed")


def case_task(case, sim, files):
    """The playbook task of one case: connection options first, the case's overrides on top."""
    args = {"url": sim.url, "token": ADMIN_TOKEN, "retries": 0, "timeout": 5}
    for key, value in case.connection.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = files.get(value, value) if isinstance(value, str) else value
    args.update(case.args)
    return {"name": case.id, MODULE: args, "ignore_errors": True}


@pytest.fixture(scope="module")
def bad_input_run(tmp_path_factory):
    """All the cases in one playbook, against one simulator; then the simulator's counters."""
    here = tmp_path_factory.mktemp("bad-input")
    (here / "empty-token").write_text("")
    (here / "a-directory").mkdir()
    (here / "token").write_text(ADMIN_TOKEN + "\n")
    files = {"@EMPTY_FILE@": str(here / "empty-token"), "@DIRECTORY@": str(here / "a-directory"),
             "@TOKEN_FILE@": str(here / "token")}
    with Simulator() as sim:
        sim.reset()
        before = sim.stats()
        # run_tasks passes no STALWART_* variable: no credential from the environment rescues a case
        outcome = run_tasks(here, [case_task(case, sim, files) for case in CASES])
        after = sim.stats()
        stored = sim.objects()
    return outcome, before, after, stored


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_fails_naming_strategy_option_and_what_is_accepted(bad_input_run, case):
    outcome = bad_input_run[0]
    result = result_of(outcome, case.id)
    assert result.get("failed") is True, f"{case.id} was accepted: {result}"
    msg = result.get("msg", "")
    options = case.option if isinstance(case.option, tuple) else (case.option,)
    if case.options:
        assert any(option in msg for option in case.options), (case.options, msg)
    else:
        for option in options:
            assert option in msg, f"option {option!r} not named in: {msg}"
    assert re.search(case.accepted, msg, re.IGNORECASE), f"no word of what is accepted ({case.accepted}) in: {msg}"
    if case.strategy:
        assert re.search(case.strategy, msg), f"strategy {case.strategy!r} not named in: {msg}"
    assert result.get("changed") is not True


def test_bad_input_sends_no_request(bad_input_run):
    before, after, stored = bad_input_run[1:]
    sent = {key: after[key] - before[key] for key in ("requests", "session_requests", "posts", "writes")}
    assert sent == {"requests": 0, "session_requests": 0, "posts": 0, "writes": 0}
    assert [item["name"] for item in stored] == ["default"]


# --- a hostname only the server can refuse ---------------------------------------------------------

UNKNOWN_TLD_HOST = "mx.example.notatld"


def test_hostname_the_server_refuses_fails_with_its_reason_mapped_to_strategy_and_option(sim, tmp_path):
    sim.reset()
    outcome = run_tasks(tmp_path, [
        {"name": "single", MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "name": "tld-single",
                                    "ehlo_hostname": UNKNOWN_TLD_HOST}, "ignore_errors": True},
        {"name": "per-ip", MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "strategies": [
            {"name": "tld-fine"},
            {"name": "tld-per-ip", "source_ips": [{"ip": "192.0.2.30", "ehlo_hostname": "mx30." + UNKNOWN_TLD_HOST}]},
        ]}, "ignore_errors": True},
    ])
    single_result = result_of(outcome, "single")
    assert single_result.get("failed") is True
    msg = single_result["msg"]
    assert "tld-single" in msg and "ehlo_hostname" in msg, msg
    assert "Invalid hostname or IP address" in msg, msg  # the server's own reason

    per_ip = result_of(outcome, "per-ip")
    assert per_ip.get("failed") is True
    msg = per_ip["msg"]
    assert "tld-per-ip" in msg and "source_ips" in msg and "ehlo_hostname" in msg, msg
    assert "Invalid hostname or IP address" in msg, msg
    assert sorted(item["name"] for item in sim.objects()) == ["default", "tld-fine"]
