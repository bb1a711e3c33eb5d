"""Top-level pytest configuration shared by every suite (unit, simulator, integration).

Ansible finds a collection only on a path ending in ``ansible_collections/<namespace>/<name>``,
and this checkout is the collection root itself. So a session-wide temporary directory holds
``ansible_collections/stalwart/mail`` as a symlink to the checkout:

- it is put on ``sys.path``, so unit tests can ``import ansible_collections.stalwart.mail...``;
- it is exported as ``ANSIBLE_COLLECTIONS_PATH``, so ``ansible-playbook`` started by the tests
  (``tests/support/ansible.py``) resolves ``stalwart.mail.*`` to this checkout.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMESPACE, NAME = "stalwart", "mail"


def _collections_root() -> Path:
    """Create ``<tmp>/ansible_collections/stalwart/mail -> REPO_ROOT`` once per process.

    Done at import time (not in a fixture) so that the path is on ``sys.path`` before pytest
    imports the test modules, which may import the collection at module level.
    """
    root = Path(tempfile.mkdtemp(prefix="stalwart-collections-"))
    namespace_dir = root / "ansible_collections" / NAMESPACE
    namespace_dir.mkdir(parents=True)
    (namespace_dir / NAME).symlink_to(REPO_ROOT, target_is_directory=True)
    return root


COLLECTIONS_ROOT = _collections_root()
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS_ROOT)
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))
if str(REPO_ROOT) not in sys.path:
    # ``tests.support.*`` importable even without the pytest.ini ``pythonpath``.
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def collections_root() -> Path:
    """The directory to use as ``ANSIBLE_COLLECTIONS_PATH`` (holds ``ansible_collections/``)."""
    return COLLECTIONS_ROOT


def pytest_unconfigure(config):
    # Only the symlink and its two parent directories: never follow it into the checkout.
    link = COLLECTIONS_ROOT / "ansible_collections" / NAMESPACE / NAME
    try:
        if link.is_symlink():
            link.unlink()
            (COLLECTIONS_ROOT / "ansible_collections" / NAMESPACE).rmdir()
            (COLLECTIONS_ROOT / "ansible_collections").rmdir()
            COLLECTIONS_ROOT.rmdir()
    except OSError:
        pass


# --- the real-server part (tests/real/) -----------------------------------------------------------

_REAL = {"deselected": 0, "passed": 0, "failed": 0, "skipped": 0, "why": None}


def pytest_collection_modifyitems(config, items):
    """Without a real Stalwart server, the tests marked ``real`` are deselected, not skipped one by
    one: the summary says so in one line (``pytest_terminal_summary``)."""
    from tests.real.conftest import real_target  # pylint: disable=import-outside-toplevel

    how, why = real_target()
    if how is not None:
        return
    _REAL["why"] = why
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("real") else kept).append(item)
    if dropped:
        _REAL["deselected"] = len(dropped)
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_setup(item):
    """Tag the reports of a test marked ``real``: the tag travels with them from pytest-xdist's
    workers to the process that prints the summary (markers do not)."""
    if item.get_closest_marker("real"):
        item.user_properties.append(("real_server", True))


def pytest_runtest_logreport(report):
    """Count the real-server tests by outcome; a failed or skipped setup counts as the test's."""
    if ("real_server", True) not in (report.user_properties or ()):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _REAL[report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    """One line on the real-server part: what ran against which server, or why nothing did."""
    from tests.real.conftest import real_target  # pylint: disable=import-outside-toplevel
    from tests.real.server import binary_version  # pylint: disable=import-outside-toplevel

    ran = _REAL["passed"] + _REAL["failed"]
    how, what = real_target()
    if how is None:
        terminalreporter.write_line(f"real Stalwart server: none ({what}); the real-server tests were not run")
    elif ran or _REAL["skipped"]:
        server = f"Stalwart {binary_version(what)} ({what})" if how == "binary" else f"the server at {what}"
        terminalreporter.write_line(f"real Stalwart server: {server}: {ran} real-server tests run "
                                    f"({_REAL['passed']} passed, {_REAL['failed']} failed, "
                                    f"{_REAL['skipped']} skipped)")
