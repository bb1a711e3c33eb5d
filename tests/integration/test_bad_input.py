"""Bad input fails before any request, and says which strategy, which option and
what is accepted.

All the cases run as module tasks in the test process (``tests/support/inproc.py``: the module's
own argument checks, as in a play) against one simulator; every task has ``ignore_errors``, and
each case is then its own test. The simulator's request counter is read after the run: bad input
must not cost a single HTTP request, not even the session read.

A hostname that looks fine to the client but that the server refuses (unknown top-level domain)
is the other half: it does reach the server, and the server's reason comes back mapped to the
strategy and the option the user wrote (``ehlo_hostname``, not ``ehloHostname``).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import MODULE
from tests.support import inproc
from tests.support.sim import ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, Simulator

# one worker runs the whole file: its module-scoped fixture (one run of every case) then runs once
pytestmark = pytest.mark.xdist_group("bad_input")

# What a message must say is accepted, by kind of option. Each is matched against the message with
# the option's name and the values the case gave replaced by OPTION and GIVEN (see ``shown``), so
# that no pattern can pass on the option name (``ehlo_hostname``, ``token_file``) or on the bad
# value or path (``/nonexistent/...``, ``.../empty-token``) alone; the patterns follow what the
# messages really say (plugins/module_utils/_values.py, _objects.py, _connection.py, and Ansible's own).
OPTION = "<<option>>"
GIVEN = "<<given>>"
ACCEPT_DURATION = r"\bmilliseconds?\b|\bunits? ms\b"
ACCEPT_IP = r"\bIPv4\b|\bIPv6\b"
ACCEPT_NOT_ZERO_IP = r"(IPv4|IPv6).*\bother than (0\.0\.0\.0|" + re.escape(GIVEN) + ")"
ACCEPT_HOSTNAME = r"\bexpected an? host ?name\b"
ACCEPT_STATE = r"\bpresent\b.*\babsent\b|\babsent\b.*\bpresent\b"
ACCEPT_BOOL = r"\bbool(eans?)?\b"
ACCEPT_URL = r"\bhttps?://|\bhttp\(s\)://|\bscheme\b"
ACCEPT_POSITIVE = r"> ?0\b|\bgreater than (0|zero)\b|\bpositive\b|\bat least 1\b"
ACCEPT_NON_NEGATIVE = r">= ?0\b|\bnon-negative\b|\bnot negative\b|\bat least 0\b|\b0 or more\b"
ACCEPT_EXCLUSIVE = r"\bexclusive\b|\bonly one of\b|\bnot both\b|\bcannot be used together\b"
ACCEPT_FILE = r"\bfile\b.*\bnot found\b|\bexpected an? ([\w-]+ )*file\b|\bnot readable\b|\bcannot be read\b|\bdoes not exist\b"
ACCEPT_NON_EMPTY_FILE = r"\bis empty\b|\bnon-empty\b|\bmust not be empty\b"
ACCEPT_UNIQUE = r"\bunique\b|\bmore than once\b|\bonly once\b|\bduplicate"
ACCEPT_SUPPORTED = r"\bsupported (parameters|keys|options)\b[^:]*:|\baccepted\b|\ballowed\b"
ACCEPT_REQUIRED = r"\brequired\b|\bneeds\b"
ACCEPT_NAME = r"\bnon-empty\b|\bmust not be empty\b"
ACCEPT_LIST = r"\bconvert to list\b|\bexpected an? list\b|\bmust be an? list\b"
ACCEPT_DICT = r"\bconvert to dict\b|\bexpected an? (dict|mapping)\b|\bmust be an? (dict|mapping)\b"
ACCEPT_STRATEGIES = r"\bstrategies\b"
ACCEPT_FLOAT = r"\bfloat\b|\bnumber\b"
ACCEPT_INT = r"\bint(eger)?\b"

# Which strategy the message must name. In a task of one strategy every message starts with
# ``strategy 'NAME': `` (a connection option of that task is about that strategy too); an item of
# a batch is named ``strategies[N] ('NAME'): `` / ``strategies[N] (item N+1): ``.
TASK = "task"  # the option belongs to a batch task, or the task is neither form: see below


def single_strategy(name):
    return "^strategy " + re.escape(repr(name)) + ": "


def batch_item(position, name=None):
    shown = f"'{re.escape(name)}'" if name is not None else f"item {position + 1}"
    return rf"^strategies\[{position}\] \({shown}\): "


# Connection options every case gets unless it overrides them (None removes one).
MISSING_FILE = "/nonexistent/stalwart-reliability/secret"


class Case:
    """One bad input: module arguments, and what the failure message must name."""

    def __init__(self, case_id, args, option, accepted, strategy, connection=None, options=None):
        self.id = case_id
        self.args = args
        self.option = option  # option name the message must contain (str, or a tuple: all of them)
        self.accepted = accepted  # regex: what is accepted
        # regex the message must match, or TASK: the bad option is not one strategy's, and the
        # message must not blame a strategy the task does not name
        self.strategy = strategy
        self.connection = connection or {}
        self.options = options  # alternative option names (any one of them is enough)

    @property
    def option_names(self):
        return self.options or (self.option if isinstance(self.option, tuple) else (self.option,))


def single(name, **options):
    return dict(name=name, **options)


def connection_case(case_id, name, option, accepted, connection):
    """A bad connection option in a task of one strategy (named ``name``): the message names it."""
    return Case(case_id, single(name), option, accepted, single_strategy(name), connection=connection)


CASES = [
    # --- connection options, in tasks of one strategy; URLs aim at the simulator, so that its
    # request counter would see any request they led to ------------------------------------------
    connection_case("url-without-scheme", "c1", "url", ACCEPT_URL, {"url": "@SIM_HOSTPORT@"}),
    connection_case("url-ftp-scheme", "c2", "url", ACCEPT_URL, {"url": "ftp://@SIM_HOSTPORT@"}),
    connection_case("url-empty", "c3", "url", ACCEPT_URL, {"url": ""}),
    connection_case("api-url-without-scheme", "c4", "api_url", ACCEPT_URL, {"api_url": "@SIM_HOSTPORT@/jmap/"}),
    # credentials in the URL: refused (they would override the token), and the password masked
    connection_case("url-with-credentials", "c4b", "url", r"\busername\b.*\bpassword\b",
                    {"url": "http://ops:UrlPassw0rd@@SIM_HOSTPORT@"}),
    # a '/' in the password: a URL parser ends the host there, and saw a bad port, not credentials
    connection_case("url-with-credentials-slash", "c4c", "url", r"\busername\b.*\bpassword\b",
                    {"url": "http://ops:Url/Passw0rd@@SIM_HOSTPORT@"}),
    connection_case("token-and-username", "c5", ("token", "username"), ACCEPT_EXCLUSIVE,
                    {"username": ADMIN_USER, "password": ADMIN_PASSWORD}),
    connection_case("token-and-token-file", "c6", ("token", "token_file"), ACCEPT_EXCLUSIVE,
                    {"token_file": "@TOKEN_FILE@"}),
    connection_case("username-without-password", "c7", "password", ACCEPT_REQUIRED,
                    {"token": None, "username": ADMIN_USER}),
    connection_case("password-without-username", "c8", "username", ACCEPT_REQUIRED,
                    {"token": None, "password": ADMIN_PASSWORD}),
    connection_case("token-file-missing", "c9", "token_file", ACCEPT_FILE, {"token": None, "token_file": MISSING_FILE}),
    connection_case("token-file-is-a-directory", "c10", "token_file", ACCEPT_FILE,
                    {"token": None, "token_file": "@DIRECTORY@"}),
    connection_case("token-file-empty", "c11", "token_file", ACCEPT_NON_EMPTY_FILE,
                    {"token": None, "token_file": "@EMPTY_FILE@"}),
    connection_case("password-file-missing", "c12", "password_file", ACCEPT_FILE,
                    {"token": None, "username": ADMIN_USER, "password_file": MISSING_FILE}),
    connection_case("timeout-zero", "c13", "timeout", ACCEPT_POSITIVE, {"timeout": 0}),
    connection_case("timeout-negative", "c14", "timeout", ACCEPT_POSITIVE, {"timeout": -5}),
    connection_case("timeout-not-a-number", "c15", "timeout", ACCEPT_FLOAT, {"timeout": "fast"}),
    # past a day: the socket's wait overflowed the platform's clock, a crash on the first request
    connection_case("timeout-infinite", "c15b", "timeout", r"\bat most 86400\b", {"timeout": "inf"}),
    connection_case("timeout-huge", "c15c", "timeout", r"\bat most 86400\b", {"timeout": 1e10}),
    connection_case("retries-negative", "c16", "retries", ACCEPT_NON_NEGATIVE, {"retries": -1}),
    connection_case("retries-not-an-int", "c17", "retries", ACCEPT_INT, {"retries": "many"}),
    # a million retries held a task against a server that never answers for good
    connection_case("retries-past-the-bound", "c17b", "retries", r"\bat most 100\b", {"retries": 1_000_000}),
    connection_case("validate-certs-not-a-bool", "c18", "validate_certs", ACCEPT_BOOL, {"validate_certs": "perhaps"}),
    connection_case("ca-path-missing", "c19", "ca_path", ACCEPT_FILE, {"ca_path": MISSING_FILE}),

    # --- one strategy ------------------------------------------------------------------------------
    Case("name-missing", {"connect_timeout": "5m"}, "name", ACCEPT_REQUIRED, TASK, options=("name", "strategies")),
    Case("name-empty", {"name": ""}, "name", ACCEPT_NAME, r"^(the strategy|strategy ''): "),
    Case("state-unknown", single("s-state", state="gone"), "state", ACCEPT_STATE, single_strategy("s-state")),
    Case("unknown-option", single("s-unknown", colour="red"), "colour", ACCEPT_SUPPORTED,
         single_strategy("s-unknown")),
    Case("ehlo-hostname-double-dot", single("s-host1", ehlo_hostname="mx..example.com"), "ehlo_hostname",
         ACCEPT_HOSTNAME, single_strategy("s-host1")),
    Case("ehlo-hostname-trailing-dot", single("s-host2", ehlo_hostname="mx.example.com."), "ehlo_hostname",
         ACCEPT_HOSTNAME, single_strategy("s-host2")),
    Case("ehlo-hostname-without-dot", single("s-host3", ehlo_hostname="mailserver"), "ehlo_hostname",
         ACCEPT_HOSTNAME, single_strategy("s-host3")),
    # (a 64-character label, which DNS cannot carry, is stored by the server: written with a warning,
    # tests/real/test_scenarios.py; what the server refuses stays here)
    Case("ehlo-hostname-unknown-tld", single("s-host4", ehlo_hostname="mx.example.notatld"),
         "ehlo_hostname", ACCEPT_HOSTNAME, single_strategy("s-host4")),
    Case("ehlo-hostname-joiner", single("s-host5", ehlo_hostname="a\u200db.example.com"),
         "ehlo_hostname", ACCEPT_HOSTNAME, single_strategy("s-host5")),
    Case("source-ip-malformed", single("s-ip1", source_ips=[{"ip": "999.1.1.1"}]), "source_ips", ACCEPT_IP,
         single_strategy("s-ip1")),
    Case("source-ip-any-address", single("s-ip2", source_ips=[{"ip": "0.0.0.0"}]), "source_ips",
         ACCEPT_NOT_ZERO_IP, single_strategy("s-ip2")),
    # Ansible's own type error, which says what is wrong but not what is accepted: the module adds it
    Case("source-ips-item-a-string", single("s-ip3", source_ips=["192.0.2.1"]), "source_ips",
         r"\{ip, ehlo_hostname\}.*ip: 192\.0\.2\.10", single_strategy("s-ip3")),
    Case("source-ip-cidr", single("s-ip3", source_ips=[{"ip": "192.0.2.0/24"}]), "source_ips", ACCEPT_IP,
         single_strategy("s-ip3")),
    Case("source-ip-missing", single("s-ip4", source_ips=[{"ehlo_hostname": "mx.example.com"}]), "ip",
         ACCEPT_IP, single_strategy("s-ip4")),
    Case("source-ips-item-not-a-dict", single("s-ip5", source_ips=[["192.0.2.1"]]), "source_ips", ACCEPT_DICT,
         single_strategy("s-ip5")),
    Case("source-ips-unknown-key", single("s-ip6", source_ips=[{"ip": "192.0.2.1", "hostname": "mx.example.com"}]),
         "hostname", ACCEPT_SUPPORTED, single_strategy("s-ip6")),
    Case("source-ips-bad-ehlo-hostname", single("s-ip7", source_ips=[{"ip": "192.0.2.1", "ehlo_hostname": "mx..bad"}]),
         "ehlo_hostname", ACCEPT_HOSTNAME, single_strategy("s-ip7")),
    Case("source-ips-not-a-list", single("s-ip8", source_ips={"ip": "192.0.2.1"}), "source_ips", ACCEPT_LIST,
         single_strategy("s-ip8")),
    Case("duration-zero", single("d-zero", connect_timeout=0), "connect_timeout", ACCEPT_DURATION,
         single_strategy("d-zero")),
    Case("duration-zero-with-unit", single("d-zero-s", data_timeout="0s"), "data_timeout", ACCEPT_DURATION,
         single_strategy("d-zero-s")),
    Case("duration-negative", single("d-neg", ehlo_timeout=-5), "ehlo_timeout", ACCEPT_DURATION,
         single_strategy("d-neg")),
    Case("duration-negative-with-unit", single("d-neg-m", greeting_timeout="-5m"), "greeting_timeout",
         ACCEPT_DURATION, single_strategy("d-neg-m")),
    Case("duration-fractional-unit", single("d-frac", mail_from_timeout="1.5s"), "mail_from_timeout",
         ACCEPT_DURATION, single_strategy("d-frac")),
    Case("duration-fractional-number", single("d-float", rcpt_to_timeout=1.5), "rcpt_to_timeout",
         ACCEPT_DURATION, single_strategy("d-float")),
    Case("duration-unknown-unit", single("d-unit", connect_timeout="5w"), "connect_timeout", ACCEPT_DURATION,
         single_strategy("d-unit")),
    Case("duration-unknown-unit-in-compound", single("d-comp", data_timeout="1h 30x"), "data_timeout",
         ACCEPT_DURATION, single_strategy("d-comp")),
    Case("duration-words", single("d-words", ehlo_timeout="ten minutes"), "ehlo_timeout", ACCEPT_DURATION,
         single_strategy("d-words")),
    Case("duration-empty-string", single("d-empty", greeting_timeout=""), "greeting_timeout", ACCEPT_DURATION,
         single_strategy("d-empty")),
    Case("duration-boolean", single("d-bool", mail_from_timeout=True), "mail_from_timeout", ACCEPT_DURATION,
         single_strategy("d-bool")),
    Case("duration-list", single("d-list", rcpt_to_timeout=[300000]), "rcpt_to_timeout", ACCEPT_DURATION,
         single_strategy("d-list")),
    Case("reload-not-a-bool", single("s-reload", reload="later"), "reload", ACCEPT_BOOL, single_strategy("s-reload")),

    # --- a batch -------------------------------------------------------------------------------------
    Case("name-and-strategies", {"name": "b1", "strategies": [{"name": "b2"}]}, ("name", "strategies"),
         ACCEPT_EXCLUSIVE, TASK),
    Case("purge-with-single-name", {"name": "b3", "purge": True}, "purge", ACCEPT_STRATEGIES, single_strategy("b3")),
    Case("purge-without-strategies", {"purge": True}, "strategies", ACCEPT_REQUIRED, TASK),
    Case("purge-not-a-bool", {"strategies": [{"name": "b-purge"}], "purge": "all"}, "purge", ACCEPT_BOOL, TASK),
    Case("force-not-a-bool", {"strategies": [{"name": "b-force"}], "force": "please"}, "force", ACCEPT_BOOL, TASK),
    Case("strategies-not-a-list", {"strategies": {"name": "b4"}}, "strategies", ACCEPT_LIST, TASK),
    # state: absent beside a batch was dropped without a word: the batch ran, and nothing was deleted
    Case("state-absent-with-a-batch", {"strategies": [{"name": "b-state"}], "state": "absent"}, "state",
         r"\bin each item of the list\b", TASK),
    # the options of a batch's purge mean nothing to one strategy: they were ignored
    Case("purge-keep-with-one-strategy", single("b-keep", purge_keep=["x"]), "purge_keep",
         r"\bonly with strategies and purge\b", single_strategy("b-keep")),
    Case("force-with-one-strategy", single("b-force1", force=True), "force",
         r"\bonly with strategies and purge\b", single_strategy("b-force1")),
    Case("strategies-item-not-a-dict", {"strategies": [["b5"]]}, "strategies", ACCEPT_DICT, batch_item(0)),
    Case("duplicate-names-in-batch", {"strategies": [{"name": "dup"}, {"name": "other"}, {"name": "dup"}]},
         "name", ACCEPT_UNIQUE, r"^strategies\[2\]\W.*'dup'"),
    Case("batch-item-without-name", {"strategies": [{"connect_timeout": "5m"}]}, "name", ACCEPT_NAME,
         batch_item(0)),
    Case("batch-item-empty-name", {"strategies": [{"name": "fine"}, {"name": ""}]}, "name", ACCEPT_NAME,
         batch_item(1)),
    Case("batch-item-unknown-key", {"strategies": [{"name": "b-unknown", "colour": "red"}]}, "colour",
         ACCEPT_SUPPORTED, batch_item(0, "b-unknown")),
    Case("batch-item-bad-state", {"strategies": [{"name": "b-state", "state": "deleted"}]}, "state",
         ACCEPT_STATE, batch_item(0, "b-state")),
    Case("batch-item-bad-duration", {"strategies": [{"name": "b-ok"}, {"name": "b-dur", "data_timeout": "10 minutes"}]},
         "data_timeout", ACCEPT_DURATION, batch_item(1, "b-dur")),
    Case("batch-item-any-address", {"strategies": [{"name": "b-ip", "source_ips": [{"source_ip": "0.0.0.0"}]}]},
         "source_ips", ACCEPT_NOT_ZERO_IP, batch_item(0, "b-ip")),
    Case("batch-item-bad-hostname", {"strategies": [{"name": "b-host", "ehlo_hostname": ".example.com"}]},
         "ehlo_hostname", ACCEPT_HOSTNAME, batch_item(0, "b-host")),
]

assert len(CASES) >= 40
assert len({case.id for case in CASES}) == len(CASES)
assert all(case.strategy for case in CASES)

# ---------------------------------------------------------------------------------------------------


def result_of(outcome, task_name):
    """The task's module result, with ``failed`` set from the recorded status (the callback keeps
    the status beside the result, not in it)."""
    return dict(outcome.result(task_name), failed=outcome.status(task_name) == "failed")


def resolve(value, places):
    """``value`` with the placeholders (@TOKEN_FILE@, @SIM_HOSTPORT@, ...) filled in."""
    if not isinstance(value, str):
        return value
    for placeholder, real in places.items():
        value = value.replace(placeholder, real)
    return value


def case_task(case, sim, places):
    """The playbook task of one case: connection options first, the case's overrides on top."""
    args = {"url": sim.url, "token": ADMIN_TOKEN, "retries": 0, "timeout": 5}
    for key, value in case.connection.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = resolve(value, places)
    args.update(case.args)
    return {"name": case.id, MODULE: args, "ignore_errors": True}


def strings_in(value):
    """Every string value inside ``value`` (values of dicts, items of lists; not the keys)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def word(text):
    """A regex for ``text`` as a whole token (not inside a longer identifier or word)."""
    return r"(?<![\w])" + re.escape(text) + r"(?![\w])"


def shown(msg, case, module_args):
    """``msg`` with the case's option names replaced by OPTION and the values the task gave
    (3 characters or more) by GIVEN: what is left is what the message says by itself."""
    for option in case.option_names:
        msg = re.sub(word(option), OPTION, msg)
    given = {text for text in strings_in(module_args) if len(text) >= 3} - set(case.option_names)
    for text in sorted(given, key=len, reverse=True):
        msg = re.sub(word(text), GIVEN, msg)
    return msg


def blamed(msg):
    """The strategies a message pins itself on: names (``strategy 'x'``), positions (``strategies[2]``)."""
    return set(re.findall(r"\bstrategy '([^']*)'", msg)), set(re.findall(r"\bstrategies\[(\d+)\]", msg))


def case_files(here):
    """The files the cases name (an empty token file, a directory, a token file) made in ``here``:
    their placeholders and paths."""
    (here / "empty-token").write_text("")
    (here / "a-directory").mkdir()
    (here / "token").write_text(ADMIN_TOKEN + "\n")
    return {"@EMPTY_FILE@": str(here / "empty-token"), "@DIRECTORY@": str(here / "a-directory"),
            "@TOKEN_FILE@": str(here / "token")}


@pytest.fixture(scope="module")
def bad_input_run(tmp_path_factory):
    """All the cases in one run, against one simulator; then the simulator's counters."""
    files = case_files(tmp_path_factory.mktemp("bad-input"))
    with Simulator() as sim:
        places = {**files, "@SIM_HOSTPORT@": f"127.0.0.1:{sim.port}"}
        sim.reset()
        before = sim.stats()
        tasks = [case_task(case, sim, places) for case in CASES]
        # run_tasks passes no STALWART_* variable: no credential from the environment rescues a case
        outcome = inproc.run_tasks(tasks)
        after = sim.stats()
        stored = sim.objects()
    module_args = {task["name"]: task[MODULE] for task in tasks}
    return outcome, before, after, stored, module_args


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_fails_naming_strategy_option_and_what_is_accepted(bad_input_run, case):
    outcome, module_args = bad_input_run[0], bad_input_run[4][case.id]
    result = result_of(outcome, case.id)
    assert result.get("failed") is True, f"{case.id} was accepted: {result}"
    msg = result.get("msg", "")
    if case.options:
        assert any(re.search(word(option), msg) for option in case.options), (case.options, msg)
    else:
        for option in case.option_names:
            assert re.search(word(option), msg), f"option {option!r} not named in: {msg}"
    bare = shown(msg, case, module_args)
    assert re.search(case.accepted, bare, re.IGNORECASE), \
        f"no word of what is accepted ({case.accepted}) in: {msg}\n(without option names and given values: {bare})"
    if case.strategy is TASK:
        # not one strategy's option: the message may name the task's one strategy, never another
        names, positions = blamed(msg)
        single_name = module_args.get("name") if "strategies" not in module_args else None
        allowed = {single_name} if isinstance(single_name, str) else set()
        assert names <= allowed and not positions, f"blames a strategy ({names or positions}) in: {msg}"
    else:
        assert re.search(case.strategy, msg), f"strategy {case.strategy!r} not named in: {msg}"
    assert result.get("changed") is not True


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_what_is_accepted_cannot_be_matched_by_the_option_or_the_value_alone(bad_input_run, case):
    """The check above must not pass on a message that only repeats the option and the value."""
    module_args = bad_input_run[4][case.id]
    own = {key: value for key, value in module_args.items() if key in case.args or key in case.connection}
    echo = f"strategy 'x': {', '.join(case.option_names)}: {' '.join(strings_in(own))} {json.dumps(own)}"
    assert not re.search(case.accepted, echo, re.IGNORECASE), echo
    assert not re.search(case.accepted, shown(echo, case, module_args), re.IGNORECASE), echo


@pytest.mark.parametrize("label", ["url-with-credentials", "url-with-credentials-slash"])
def test_a_password_written_into_the_url_is_masked_in_the_result(bad_input_run, label):
    result = result_of(bad_input_run[0], label)
    assert "Passw0rd" not in json.dumps(result), result
    # the arguments echoed back (ansible-core 2.21 adds them only with INJECT_INVOCATION)
    if "invocation" in result:
        assert result["invocation"]["module_args"]["url"].startswith("http://ops:********@"), result["invocation"]


def test_bad_input_sends_no_request(bad_input_run):
    before, after, stored = bad_input_run[1:4]
    sent = {key: after[key] - before[key] for key in ("requests", "session_requests", "posts", "writes")}
    assert sent == {"requests": 0, "session_requests": 0, "posts": 0, "writes": 0}
    assert [item["name"] for item in stored] == ["default"]


# --- a hostname only the server can refuse ---------------------------------------------------------


def test_hostname_the_server_refuses_fails_with_its_reason_mapped_to_strategy_and_option(sim):
    sim.reset()
    # a server whose host name rules differ from the collection's (an older Public Suffix List)
    sim.refuse({"tld-single": None, "tld-per-ip": {"type": "invalidPatch",
                                                   "description": "Invalid hostname or IP address",
                                                   "properties": ["sourceIps/ehloHostname"]}})
    outcome = inproc.run_tasks([
        {"name": "single", MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "name": "tld-single",
                                    "ehlo_hostname": "mx.example.zip"}, "ignore_errors": True},
        {"name": "per-ip", MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "strategies": [
            {"name": "tld-fine"},
            {"name": "tld-per-ip", "source_ips": [{"ip": "192.0.2.30", "ehlo_hostname": "mx30.example.zip"}]},
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
