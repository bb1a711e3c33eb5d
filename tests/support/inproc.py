"""Run the collection's modules in the test process, against a simulator served from a thread.

A real ``ansible-playbook`` costs about 5 s per run; most module behaviour (what it sends, what it
returns, how it fails) does not need one. This is the approach of ansible-core's own unit tests and
community.general: the module's ``main()`` runs with its arguments patched in, its ``exit_json`` /
``fail_json`` output is read back from stdout.

    with ThreadedSimulator() as sim:
        result = run_module("mta_connection_strategy", {"url": sim.url, "token": ADMIN_TOKEN, "name": "bulk"})
        result["changed"], result.get("failed"), result["plan"]

``ThreadedSimulator`` is ``tests.support.sim.Simulator`` (same control surface: ``reset``,
``fault``, ``stats``, ``objects``...) with the server in a daemon thread of this process instead of
a child process. Playbooks remain for what only Ansible shows (roles, argument specs at the
controller, callbacks, ``no_log`` at ``-vvvv``, action groups, the installed tarball).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import threading
from pathlib import Path

from tests.support.sim import REPO_ROOT, SIMULATOR_SCRIPT, Simulator

_SIMULATOR_MODULE = None


def simulator_module():
    """``simulator/stalwart_sim.py`` imported as a module (once)."""
    global _SIMULATOR_MODULE
    if _SIMULATOR_MODULE is None:
        spec = importlib.util.spec_from_file_location("stalwart_sim", SIMULATOR_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["stalwart_sim"] = module
        spec.loader.exec_module(module)
        _SIMULATOR_MODULE = module
    return _SIMULATOR_MODULE


class ThreadedSimulator(Simulator):
    """The simulator served from a daemon thread of this process (no child process)."""

    def __init__(self, dialect="server", tokens=None, limits=None):
        super().__init__(dialect=dialect)
        self._tokens = tokens or {}
        self._limits = limits
        self._server = None
        self._thread = None

    def start(self) -> "ThreadedSimulator":
        sim = simulator_module()
        permissions = {name: sim.parse_permissions(value) for name, value in self._tokens.items()}
        state = sim.Simulator(self.dialect, self._limits, tokens=permissions)
        self._server = sim.make_server("127.0.0.1", 0, state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="stalwart-sim")
        self._thread.start()
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
        self._server = None
        self._thread = None

    def stderr(self) -> str:
        return ""


def _patch_args(args):
    """A context manager exposing ``args`` to the next ``AnsibleModule``, on every ansible-core the
    suite runs (2.19 and later have ``patch_module_args``; 2.16 reads ``basic._ANSIBLE_ARGS``)."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:
        from unittest import mock

        from ansible.module_utils import basic
        return mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    return patch_module_args(args)


def _as_module():
    """Module code asks whether it runs on the controller (ansible-core 2.19 and later): importing
    any controller code in this process (a filter plugin's test, say) says yes, and then a
    module's warnings go to the display instead of its result. During a run it is a module."""
    try:
        from ansible.module_utils import _internal
    except ImportError:
        return contextlib.nullcontext()
    if not hasattr(_internal, "is_controller"):
        return contextlib.nullcontext()
    from unittest import mock
    return mock.patch.object(_internal, "is_controller", False)


def _clear_global_messages():
    """ansible-core collects warnings and deprecations in module-level lists (before 2.19) or
    dicts (2.19 and later) that outlive a module run in the same process."""
    try:
        from ansible.module_utils.common import warnings
    except ImportError:  # pragma: no cover
        return
    for name in ("_global_warnings", "_global_deprecations"):
        value = getattr(warnings, name, None)
        if isinstance(value, (list, dict)):
            value.clear()


def run_module(name, args, check=False, diff=False, module_name=None):
    """Run ``stalwart.mail.<name>``'s ``main()`` with ``args`` and return its result dict (with
    ``failed: True`` when it failed). ``check``/``diff`` set check mode and diff mode;
    ``module_name`` is the name Ansible would give the module (the task's action)."""
    module = importlib.import_module(f"ansible_collections.stalwart.mail.plugins.modules.{name}")
    arguments = dict(args)
    arguments["_ansible_check_mode"] = check
    arguments["_ansible_diff"] = diff
    if module_name is not None:
        arguments["_ansible_module_name"] = module_name
    _clear_global_messages()
    out = io.StringIO()
    with _patch_args(arguments), _as_module(), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    start = text.find("{")
    if start < 0:
        raise AssertionError(f"module {name} printed no result: {text!r}")
    result = json.loads(text[start:])
    if "warnings" in result:
        # ansible-core 2.19 and later send warnings as objects, which the controller turns back
        # into the strings a playbook shows; older versions send the strings
        result["warnings"] = [item.get("event", {}).get("msg", item) if isinstance(item, dict) else item
                              for item in result["warnings"]]
    return result


def run_in_worker(name, args, check=False, diff=False, module_name=None):
    """What the action plugin of ``stalwart.mail.<name>`` does with ``args`` in a worker (the
    arguments through a module's JSON, ``WorkerModule``, the operation), in this process: the
    result as ``run_module`` returns the module's, for comparing the two paths. The task's
    ``environment:`` and Ansible's own handling of the result are left to the playbook tests."""
    from ansible_collections.stalwart.mail.plugins.plugin_utils import _worker_action

    spec = importlib.import_module(f"ansible_collections.stalwart.mail.plugins.action.{name}").ActionModule.SPEC
    result = _worker_action.engine_result(spec, module_name or name, _worker_action.as_module_reads(args),
                                          check_mode=check, diff=diff,
                                          inject_invocation=_worker_action.inject_invocation({}))
    return json.loads(json.dumps(result))


# --- tasks, as a play of module tasks would run them ------------------------------------------------

NAMESPACE = "stalwart.mail."
GROUP = "group/stalwart.mail.jmap"


def _render(value, variables):
    """``{{ ... }}`` in a task's arguments, against the registered results (native types, as
    Ansible gives a whole-expression template its value's type)."""
    if isinstance(value, dict):
        return {key: _render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, variables) for item in value]
    if isinstance(value, str) and "{{" in value:
        from jinja2.nativetypes import NativeEnvironment
        return NativeEnvironment().from_string(value).render(**variables)
    return value


def _environment(env):
    """The process environment of one run: no STALWART_* from the caller's, plus ``env`` (a value
    of None removes a variable), as the playbook runner gives ``ansible-playbook``."""
    from unittest import mock
    values = {key: value for key, value in os.environ.items() if not key.startswith("STALWART_")}
    for key, value in (env or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = str(value)
    return mock.patch.dict(os.environ, values, clear=True)


def run_tasks(tasks, *, check=False, diff=False, env=None, module_defaults=None, vars=None):
    """Run a list of this collection's module tasks in this process, as one play of them would run
    on localhost, and return a ``PlaybookResult`` with one entry per task (the same entries
    ``tests/support/ansible.py`` records from a real play).

    Understood task keys: ``name``, one ``stalwart.mail.<module>`` key with its arguments,
    ``check_mode``, ``diff``, ``ignore_errors``, ``register``, ``environment``, ``no_log`` (passed
    to the module as Ansible does). ``module_defaults`` may name a module or the action group. A
    ``{{ }}`` argument is rendered against ``vars`` and the registered results. What only Ansible
    itself does (roles, handlers, callbacks, ``-vvvv`` output, the installed tarball) needs a real
    playbook: ``tests.support.ansible``."""
    from tests.support.ansible import PlaybookResult
    variables = dict(vars or {})
    results, rc = [], 0
    for task in tasks:
        modules = [key for key in task if key.startswith(NAMESPACE)]
        unknown = set(task) - set(modules) - {"name", "check_mode", "diff", "ignore_errors", "register",
                                              "environment", "no_log"}
        if len(modules) != 1 or unknown:
            raise AssertionError(f"not a task of one stalwart.mail module: {task}")
        fqcn = modules[0]
        args = {}
        for key in (GROUP, fqcn):
            args.update((module_defaults or {}).get(key) or {})
        args.update(_render(task[fqcn] or {}, variables))
        if task.get("no_log"):
            args["_ansible_no_log"] = True
        with _environment({**(env or {}), **(task.get("environment") or {})}):
            result = run_module(fqcn[len(NAMESPACE):], args, check=task.get("check_mode", check),
                                diff=task.get("diff", diff))
        failed = bool(result.get("failed"))
        status = "failed" if failed else ("changed" if result.get("changed") else "ok")
        result["failed"] = failed
        results.append({"play": "test", "task": task.get("name", fqcn), "action": fqcn, "host": "localhost",
                        "status": status, "ignore_errors": bool(task.get("ignore_errors")), "result": result})
        if task.get("register"):
            variables[task["register"]] = result
        if failed and not task.get("ignore_errors"):
            rc = 2
            break
    return PlaybookResult(rc, "", "", results, Path(REPO_ROOT))


__all__ = ["ThreadedSimulator", "run_in_worker", "run_module", "run_tasks", "simulator_module", "REPO_ROOT"]
