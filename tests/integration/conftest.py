"""Fixtures of the integration suite: Stalwart API simulators and the playbook runner.

- ``sim``: a simulator in the ``server`` dialect (the current Stalwart server), reset before the test
  (seeded ``default`` strategy, counters at zero).
- ``any_sim``: the same, parametrized over both dialects (``server`` and ``docs``); the test runs
  once against each.
- ``ansible``: ``ansible(tasks, **options)`` runs the tasks as one play with real
  ``ansible-playbook`` (see ``tests/support/ansible.py``), files in the test's ``tmp_path``.

The simulator processes are module-scoped (one per dialect and test module) for speed; every test
gets them reset.
"""

from __future__ import annotations

import pytest

from tests.support.ansible import run_playbook, run_tasks
from tests.support.sim import Simulator

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
