"""The molecule scenario of the role (``extensions/molecule/default``), run from pytest with the
``molecule`` of this venv: destroy, syntax, create (two simulators), converge, idempotence,
side_effect (check-mode preview, purge through the role), verify (the simulators' stored objects),
destroy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support import proc
from tests.support.ansible import collections_path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MOLECULE = BIN / "molecule"


@pytest.mark.slow
def test_molecule_default_scenario(tmp_path):
    # tests/requirements*.txt install molecule: its absence is a broken venv, not a reason to skip
    assert MOLECULE.exists(), f"molecule is not installed in this venv ({BIN})"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "MOLECULE_", "STALWART_")) and key != "VIRTUAL_ENV"}
    env.update(
        # molecule calls ansible-config, ansible-playbook, ansible-inventory by name
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=collections_path(),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        # molecule's cache and ephemeral directory (simulator pid, log, URL files) under tmp_path
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    # in a session of its own: a timeout kills the simulators create.yml started, not only molecule
    done = proc.run([str(MOLECULE), "test", "-s", "default"], cwd=REPO_ROOT, env=env, timeout=300)
    output = f"--- rc={done.returncode}\n--- stdout:\n{done.stdout}\n--- stderr:\n{done.stderr}"
    assert done.returncode == 0, output
    for step in ("converge", "idempotence", "side_effect", "verify"):
        assert step in done.stdout + done.stderr, f"molecule did not run {step}\n{output}"
