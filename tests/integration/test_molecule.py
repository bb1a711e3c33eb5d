"""The molecule scenario of the role (``extensions/molecule/default``), run from pytest with the
``molecule`` of this venv: destroy, syntax, create (two simulators), converge, idempotence,
side_effect (check-mode preview, purge through the role), verify (the simulators' stored objects),
destroy."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import proc
from tests.support.ansible import collections_path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MOLECULE = BIN / "molecule"
SCENARIO = REPO_ROOT / "extensions" / "molecule" / "default"


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
    # molecule prints the whole sequence before it starts: count the steps it reports as done
    sequence = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["scenario"]["test_sequence"]
    executed = re.findall(r"\[default > (\w+)\] Executed: Successful", done.stdout + done.stderr)
    assert executed == sequence, f"molecule ran {executed}, not {sequence}\n{output}"
    # and the checks of side_effect.yml and verify.yml really ran, on both hosts
    ran = task_output(done.stdout)
    for playbook in ("side_effect.yml", "verify.yml"):
        for name, conditional in assert_tasks(SCENARIO / playbook):
            assert name in ran, f"{playbook}: {name!r} did not run\n{output}"
            passed = [host for host in ("mx1", "mx2") if f"ok: [{host}]" in ran[name]]
            assert passed if conditional else passed == ["mx1", "mx2"], f"{playbook}: {name!r}\n{output}"


def assert_tasks(playbook: Path):
    """(name, has a ``when``) of each ``ansible.builtin.assert`` task of the playbook."""
    for play in yaml.safe_load(playbook.read_text()):
        for section in ("pre_tasks", "tasks", "post_tasks"):
            for task in play.get(section) or []:
                if "ansible.builtin.assert" in task:
                    yield task["name"], "when" in task


def task_output(stdout: str) -> dict:
    """The output of each task of the run, by task name (the last run of a name)."""
    found = {}
    for block in re.split(r"^TASK \[", stdout, flags=re.M)[1:]:
        header = block.splitlines()[0]
        found[header[:header.rindex("]")]] = block
    return found
