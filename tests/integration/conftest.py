"""Fixtures of the integration suite: Stalwart API simulators and the playbook runner.

- ``sim``: a simulator in the ``server`` dialect (the current Stalwart server), reset before the test
  (seeded ``default`` strategy, counters at zero).
- ``any_sim``: the same, parametrized over both dialects (``server`` and ``docs``); the test runs
  once against each.
- ``module_tasks``: ``module_tasks(tasks, check=..., diff=..., env=..., module_defaults=...)``
  runs a list of this collection's module tasks in the test process, as a play of them would run
  (``tests/support/inproc.py``): for what the modules do, which is most of this suite.
- ``ansible``: ``ansible(tasks, **options)`` runs the tasks as one play with real
  ``ansible-playbook`` (see ``tests/support/ansible.py``), files in the test's ``tmp_path``: for
  what only Ansible shows (roles and handlers, action groups, the ``environment`` keyword, output
  at ``-vvvv``, the installed tarball).

The simulator processes are module-scoped (one per dialect and test module) for speed; every test
gets them reset.
"""

from __future__ import annotations

import re

import pytest

from tests.support import inproc
from tests.support.ansible import run_playbook, run_tasks
from tests.support.sim import ADMIN_TOKEN, Simulator

DIALECTS = ("server", "docs")


def _running(dialect):
    with Simulator(dialect=dialect) as simulator:
        if getattr(simulator, "dialect", None) != dialect:
            simulator.dialect = dialect  # the tests read ``sim.dialect``
        yield simulator


@pytest.fixture(scope="module")
def _sim_server():
    yield from _running("server")


@pytest.fixture(scope="module")
def _sim_docs():
    yield from _running("docs")


@pytest.fixture
def sim(_sim_server):
    """The server-dialect simulator, reset (seeded ``default`` strategy, zero counters)."""
    _sim_server.reset()
    return _sim_server


@pytest.fixture(params=DIALECTS)
def any_sim(request):
    """A simulator of each dialect in turn, reset; ``any_sim.dialect`` says which."""
    simulator = request.getfixturevalue("_sim_" + request.param)
    simulator.reset()
    return simulator


@pytest.fixture
def ansible(tmp_path):
    """``ansible(tasks, check=..., diff=..., env=..., module_defaults=..., ...)`` → PlaybookResult;
    a list of plays or YAML text may be given as ``playbook=`` instead of tasks."""

    def run(tasks=None, *, playbook=None, **kwargs):
        if playbook is not None:
            return run_playbook(tmp_path, playbook, **kwargs)
        return run_tasks(tmp_path, tasks, **kwargs)

    return run


@pytest.fixture
def module_tasks():
    """``module_tasks(tasks, check=..., diff=..., env=..., module_defaults=..., vars=...)`` →
    PlaybookResult, the tasks run in this process (``tests/support/inproc.py``)."""
    return inproc.run_tasks


# --- helpers shared by the test modules (``from tests.integration.conftest import ...``) ---------

MODULE = "stalwart.mail.mta_connection_strategy"
# the role's usual run: the module run by an action that reads the host's variables itself
ROLE_ACTION = "stalwart.mail.mta_connection_strategies_role"
# the actions whose result is a run of MODULE
STRATEGY_RUNS = (MODULE, ROLE_ACTION)
INFO_MODULE = "stalwart.mail.mta_connection_strategy_info"
DURATIONS = ("connect_timeout", "data_timeout", "ehlo_timeout", "greeting_timeout", "mail_from_timeout",
             "rcpt_to_timeout")
WIRE_DURATIONS = ("connectTimeout", "dataTimeout", "ehloTimeout", "greetingTimeout", "mailFromTimeout",
                  "rcptToTimeout")
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def human(ms: int) -> str:
    """Milliseconds in the largest exact unit: 300000 → "5m", 90000 → "90s", 1500 → "1500ms"."""
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise AssertionError(ms)


def to_ms(value) -> int:
    """A duration as the server or the module shows it (int ms, "5m", "1h30m", "250ms") in ms."""
    if isinstance(value, bool):
        raise AssertionError(f"not a duration: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).replace(" ", "").lower()
    assert re.fullmatch(r"(\d+(ms|s|m|h|d)?)+", text), f"not a duration: {value!r}"
    sizes = dict(_UNITS)
    return sum(int(number) * sizes[unit or "ms"] for number, unit in re.findall(r"(\d+)(ms|s|m|h|d)?", text))


def connection(sim, **extra):
    return {"url": sim.url, "token": ADMIN_TOKEN, **extra}


def task(label, args, *, sim=None, module=MODULE, **keywords):
    """One task (errors ignored so that the following tasks still run), connection from ``sim``."""
    module_args = {**(connection(sim) if sim is not None else {}), **args}
    return {"name": label, module: module_args, "ignore_errors": True, **keywords}


def wire_strategy(sim, name, **fields):
    """A stored strategy in ``sim``'s wire form (durations as given in ms; strings in the docs dialect)."""
    item = {"name": name, "description": None, "ehloHostname": None, "sourceIps": {},
            "connectTimeout": 300000, "dataTimeout": 600000, "ehloTimeout": 300000,
            "greetingTimeout": 300000, "mailFromTimeout": 300000, "rcptToTimeout": 300000}
    item.update(fields)
    if sim.dialect == "docs":
        for key in WIRE_DURATIONS:
            item[key] = human(item[key])
    return item


def stored(sim) -> dict:
    """The simulator's strategies by name, durations in ms, after checking each duration has the
    dialect's wire type (int in ``server``, string in ``docs``)."""
    found = {}
    for item in sim.objects():
        item = dict(item)
        for key in WIRE_DURATIONS:
            value = item[key]
            expected = int if sim.dialect == "server" else str
            assert isinstance(value, expected) and not isinstance(value, bool), \
                f"{item['name']}.{key} stored as {value!r} in the {sim.dialect} dialect"
            item[key] = to_ms(value)
        assert item["name"] not in found, f"duplicate name on the server: {item['name']}"
        found[item["name"]] = item
    return found


def without(mapping, *keys):
    return {key: value for key, value in mapping.items() if key not in keys}


def strip_none(value):
    """Drop None-valued keys (an unset description may be shown as null or left out)."""
    if isinstance(value, dict):
        return {key: strip_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_none(item) for item in value]
    return value


def info_form(name, *, id=None, description=None, ehlo_hostname=None, source_ips=(), **durations):
    """The module's/info module's form of a strategy (defaults for what is not given), None-stripped."""
    item = {"name": name, "description": description, "ehlo_hostname": ehlo_hostname,
            "source_ips": [dict(entry) for entry in source_ips],
            "connect_timeout": "5m", "data_timeout": "10m", "ehlo_timeout": "5m", "greeting_timeout": "5m",
            "mail_from_timeout": "5m", "rcpt_to_timeout": "5m", "id": id}
    item.update(durations)
    return strip_none(item)


def delta(before, after):
    return {key: after[key] - before[key] for key in after
            if isinstance(after.get(key), int) and isinstance(before.get(key), int)}


def set_calls(stats) -> int:
    """/set method calls on connection strategies (from ``method_calls``)."""
    return sum(count for name, count in stats.get("method_calls", {}).items() if name.endswith("/set")
               and "MtaConnectionStrategy" in name)


def messages(result) -> str:
    """Everything the module said: msg and warnings."""
    return " ".join([str(result.get("msg", ""))] + [str(item) for item in result.get("warnings") or []])
