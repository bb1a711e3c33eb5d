"""Run real ``ansible-playbook`` from the tests and get each task's result back as JSON.

    outcome = run_tasks(tmp_path, [{"name": "apply", "stalwart.mail.mta_connection_strategy": {...}}],
                        check=True, diff=True)
    outcome.rc, outcome.stdout, outcome.stderr
    outcome.result("apply")      # the module's result dict (changed, diff, msg, strategy, plan, ...)
    outcome.status("apply")      # "ok" | "changed" | "failed" | "skipped" | "unreachable"
    outcome.results              # every recorded task result, in order

The playbook runs against ``localhost`` (``ansible_connection=local``, the interpreter is this
Python), with the ``ansible-playbook`` of the same venv as ``sys.executable``. Everything Ansible
reads or writes lives in a fresh directory under the given ``tmp_path``: playbook, inventory,
a generated ``ansible.cfg`` (so no user or system config applies), temp dirs, the results file.
No ``ANSIBLE_*`` or ``STALWART_*`` variable of the calling environment leaks into the run; pass
``env=`` to set some.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ansible.release import __version__ as _CORE_VERSION

# the ansible-core that runs the tests, as (major, minor, patch) (a pre-release as its release:
# 2.18.3rc1 is (2, 18, 3)); the role ends itself with meta end_role from 2.18.3 on, where meta
# end_role ends the role for every host that meets its condition, not for the batch's first host
# alone (roles/mta_connection_strategies/tasks/end_role.yml)
ANSIBLE_CORE = tuple(int(part) for part in re.match(r"(\d+)\.(\d+)\.(\d+)", _CORE_VERSION).groups())
ROLE_ENDS_ITSELF = ANSIBLE_CORE >= (2, 18, 3)
# with any_errors_fatal, a host's failure inside a block sends every other host into its rescue
# from 2.17.0 on (ansible/ansible#78680); 2.16 lets the others go on while that host is in its
# rescue, and ends the play there at a meta task (the role's flush_handlers, before the reload)
# or when the rescue fails
RESCUES_EVERY_HOST = ANSIBLE_CORE >= (2, 17)

from tests.support import proc

REPO_ROOT = Path(__file__).resolve().parents[2]
CALLBACK_DIR = Path(__file__).resolve().parent / "callback_plugins"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
RESULTS_ENV = "RECORD_RESULTS_FILE"


def collections_path() -> str:
    """A directory holding ``ansible_collections/stalwart/mail`` that resolves to this checkout.

    The top-level ``tests/conftest.py`` makes one and exports it; outside pytest one is made here.
    """
    for candidate in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        if candidate and (Path(candidate) / "ansible_collections/stalwart/mail").resolve() == REPO_ROOT:
            return candidate
    global _OWN_ROOT
    if _OWN_ROOT is None:
        root = Path(tempfile.mkdtemp(prefix="stalwart-collections-"))
        (root / "ansible_collections/stalwart").mkdir(parents=True)
        (root / "ansible_collections/stalwart/mail").symlink_to(REPO_ROOT, target_is_directory=True)
        _OWN_ROOT = str(root)
    return _OWN_ROOT


_OWN_ROOT: str | None = None


class PlaybookError(AssertionError):
    pass


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    results: list[dict[str, Any]]
    workdir: Path
    command: list[str] = field(default_factory=list)

    def entries(self, task: str, host: str | None = None) -> list[dict[str, Any]]:
        return [entry for entry in self.results
                if entry["task"] == task and (host is None or entry["host"] == host)]

    def entry(self, task: str, host: str | None = None) -> dict[str, Any]:
        """The last recorded result entry of the task named ``task`` (raises if it did not run)."""
        found = self.entries(task, host)
        if not found:
            ran = [entry["task"] for entry in self.results]
            raise PlaybookError(f"task {task!r} has no recorded result (recorded: {ran})\n{self.output()}")
        return found[-1]

    def result(self, task: str, host: str | None = None) -> dict[str, Any]:
        """The module's result dict of the task named ``task``."""
        return self.entry(task, host)["result"]

    def status(self, task: str, host: str | None = None) -> str:
        return self.entry(task, host)["status"]

    @property
    def by_task(self) -> dict[str, dict[str, Any]]:
        return {entry["task"]: entry["result"] for entry in self.results}

    def output(self) -> str:
        return f"--- rc={self.rc}\n--- stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"

    def assert_ok(self) -> "PlaybookResult":
        if self.rc != 0:
            raise PlaybookError(f"ansible-playbook failed\n{self.output()}")
        return self


def _workdir(tmp_path: Path | str) -> Path:
    base = Path(tmp_path)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=base))


def _environment(workdir: Path, extra: dict[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "STALWART_"))}
    temp = workdir / "ansible-tmp"
    temp.mkdir()
    env.update(
        ANSIBLE_CONFIG=str(workdir / "ansible.cfg"),
        ANSIBLE_HOME=str(workdir / "ansible-home"),
        ANSIBLE_COLLECTIONS_PATH=collections_path(),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACK_DIR),
        ANSIBLE_CALLBACKS_ENABLED="record_results",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(temp / "local"),
        ANSIBLE_REMOTE_TEMP=str(temp / "remote"),
        ANSIBLE_HOST_KEY_CHECKING="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
        **{RESULTS_ENV: str(workdir / "results.json")},
    )
    env.pop("PYTHONPATH", None)
    if extra:
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
    return env


def run_playbook(
    tmp_path: Path | str,
    playbook: str | list[dict[str, Any]],
    *,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    env: dict[str, str | None] | None = None,
    extra_vars: dict[str, Any] | None = None,
    extra_args: tuple[str, ...] | list[str] = (),
    timeout: float = 600,
) -> PlaybookResult:
    """Run ``playbook`` (YAML text, or a list of plays) with ``ansible-playbook`` on localhost.

    ``env`` adds to (value ``None``: removes from) the clean environment of the run. A failing
    play is not an exception: look at ``rc`` and the per-task results.
    """
    workdir = _workdir(tmp_path)
    text = playbook if isinstance(playbook, str) else yaml.safe_dump(playbook, sort_keys=False)
    (workdir / "playbook.yml").write_text(text)
    (workdir / "inventory.ini").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=" + sys.executable + "\n")
    (workdir / "ansible.cfg").write_text("[defaults]\n")
    command = [sys.executable, str(ANSIBLE_PLAYBOOK), "-i", str(workdir / "inventory.ini")]
    if extra_vars:
        (workdir / "extra_vars.json").write_text(json.dumps(extra_vars))
        command += ["-e", "@" + str(workdir / "extra_vars.json")]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)
    command += list(extra_args)
    command.append(str(workdir / "playbook.yml"))
    try:
        done = proc.run(command, cwd=workdir, env=_environment(workdir, env), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PlaybookError(f"ansible-playbook did not finish in {timeout}s\n--- stdout:\n{exc.stdout}\n"
                            f"--- stderr:\n{exc.stderr}") from exc
    results_file = workdir / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    return PlaybookResult(done.returncode, done.stdout, done.stderr, results, workdir, command)


def play(tasks: list[dict[str, Any]], *, module_defaults: dict[str, Any] | None = None,
         vars: dict[str, Any] | None = None, name: str = "test") -> dict[str, Any]:
    """One play on localhost holding ``tasks``, without fact gathering."""
    result: dict[str, Any] = {"name": name, "hosts": "localhost", "gather_facts": False}
    if module_defaults:
        result["module_defaults"] = module_defaults
    if vars:
        result["vars"] = vars
    result["tasks"] = tasks
    return result


def run_tasks(tmp_path: Path | str, tasks: list[dict[str, Any]], *,
              module_defaults: dict[str, Any] | None = None, vars: dict[str, Any] | None = None,
              **kwargs: Any) -> PlaybookResult:
    """Run ``tasks`` as one play on localhost; keyword arguments as for :func:`run_playbook`."""
    return run_playbook(tmp_path, [play(tasks, module_defaults=module_defaults, vars=vars)], **kwargs)
