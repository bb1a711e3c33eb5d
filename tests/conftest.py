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
