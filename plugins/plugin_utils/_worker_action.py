# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a module's engine in the controller's worker process instead of a module process.

The collection's modules only talk HTTP to the server's API, from the controller
(``delegate_to: localhost``). Run as a module, every host's task packs the module (AnsiballZ),
starts a new Python and imports ``requests``: about 0.2 s of CPU per host, against a few
milliseconds of HTTP. Ansible forks a worker process for every task of every host anyway, and an
action plugin runs in it; so each module has an action plugin of its own name
(``plugins/action/<module>.py``: ``EngineAction`` with the module's ``ModuleSpec``) that runs the
same operation with the same ``_module.run`` in that worker, when that means the same thing as
running the module.

It runs the module instead, as the ``normal`` action would, when:

- the task is ``async``: Ansible polls a module process for it;
- the connection is not local (``delegate_to`` another host): "run it from there";
- the task uses ``become``: the module would run as another user, and read files as that user;
- ``requests`` does not import on the controller's Python (a warning names that Python): the
  module may still find it on the Python it runs with.

``WorkerModule`` gives the operation what ``AnsibleModule`` would, built the same way, so that
both paths give the same result for the same task (``tests/integration/test_worker_action.py``
compares them field by field). The traps, each handled here and tested:

- the task's ``environment:`` keyword is applied by the module's command line, which a worker
  never runs: here it is laid over ``os.environ`` for the length of the run, so that it reaches
  ``env_fallback``, the credentials' environment variables, ``path`` expansion and ``requests``
  (its proxy and CA variables) exactly as in a module process;
- the task's arguments go through the JSON a module would read (plain types, vaulted values
  decrypted), and the result through the JSON a module would write (tuples become lists,
  keys strings), with ansible-core's own encoders;
- ``ArgumentSpecValidator`` called by hand says what ``AnsibleModule`` prefixes with
  "Unsupported parameters for (<module>) module:", and its error list is an exception object,
  always truthy: the first error is looked up instead;
- the secrets the engine reads from files and the environment join the ``no_log`` values, which
  are masked in the whole result as ``AnsibleModule`` masks them (top-level booleans and
  ``None`` kept);
- what ansible-core does to a module's result differs by version (``invocation`` only with
  INJECT_INVOCATION from 2.21 on, ``_ansible_parsed``, a failure marked as the module's): the
  version's own code is used where it has it.

Everything but the worker plumbing stays in ``module_utils`` (the operations, ``_module.run``,
the messages), so the two paths cannot drift apart.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import re
import sys
import traceback

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.stalwart.mail.plugins.module_utils._client import HAS_REQUESTS
from ansible_collections.stalwart.mail.plugins.module_utils._module import run

try:  # ansible-core 2.19 and later: the encoders of the module protocol itself
    from ansible.module_utils.common.json import Direction, get_module_decoder, get_module_encoder
except ImportError:  # ansible-core 2.16 to 2.18: AnsibleJSONEncoder to the module, jsonify back
    Direction = get_module_decoder = get_module_encoder = None

# What the controller does to a module's output once it is decoded, where ansible-core has it in
# code of its own (private, so each is looked up and the version's own way used where present):
try:  # ansible-core 2.21 and later: the result becomes a UnifiedTaskResult and back
    from ansible._internal._task import UnifiedTaskResult
except ImportError:
    UnifiedTaskResult = None
if not hasattr(UnifiedTaskResult, "from_module_result_dict"):
    UnifiedTaskResult = None
try:  # ansible-core 2.19 and 2.20: a failed result is marked as the module's error ("Module failed")
    from ansible._internal._errors._captured import AnsibleModuleCapturedError
except ImportError:  # ansible-core 2.16 to 2.18 have no such mark
    AnsibleModuleCapturedError = None

display = Display()

# the serialization profile of a module that declares none (ansible-core 2.19 and later)
_PROFILE = "legacy"


def warm_up():
    """Load, in the process that imports this module, what every task of the role makes a worker
    load, so that the workers forked from it inherit it loaded.

    The linear strategy imports a task's action plugin in ansible-playbook's main process before
    it forks a worker per host for that task, and a worker's caches die with it. Left to the
    workers, each one pays again: the first filter or test its templates use makes ansible-core
    load all of its own (about 80 ms here), the first lookup imports its plugin, the first template
    builds Jinja's lexer (its regular expressions), ``varnames`` compiles its pattern, the first
    module run imports the JSON profiles of its arguments and result, and ``requests`` imports
    ``netrc`` at its first request (each import about 1 ms in a fresh worker). Done here
    once, the workers forked afterwards find all of it in memory (docs/architecture.md, "The
    role's tasks"). Only public calls, and a failure changes nothing but the speed.
    """
    # pylint: disable=import-outside-toplevel
    try:
        from ansible.plugins.loader import filter_loader, lookup_loader, test_loader
        from ansible.template import Templar

        try:  # ansible-core 2.19 and later template only what is marked as a template
            from ansible.template import trust_as_template
        except ImportError:  # 2.16 to 2.18 template every string
            def trust_as_template(value):
                return value

        for name in WARM_FILTERS:
            filter_loader.get(name)
        for name in WARM_TESTS:
            test_loader.get(name)
        for name in WARM_LOOKUPS:
            lookup_loader.get(name, class_only=True)
        for pattern in WARM_PATTERNS:
            re.compile(pattern)  # re's cache, as the varnames lookup compiles them
        Templar(loader=None).template(trust_as_template("{{ 0 }}"))  # Jinja's lexer, cached per class
        if Direction is not None:  # the JSON profiles that as_module_reads and as_controller_reads use
            for direction in (Direction.CONTROLLER_TO_MODULE, Direction.MODULE_TO_CONTROLLER):
                get_module_encoder(_PROFILE, direction)
                get_module_decoder(_PROFILE, direction)
        import netrc  # noqa: F401  # requests imports it at the first request (its netrc lookup)
    except Exception:  # pylint: disable=broad-exception-caught
        pass  # a speed-up only: the workers load what they need as they would have


# The first name of each loader loads all of ansible-core's own; the collection's are named one by
# one; the patterns are those the role gives the varnames lookup (a test holds all three to the role).
WARM_FILTERS = ("ansible.builtin.bool", "stalwart.mail.merge_strategies", "stalwart.mail.merge_routes")
WARM_TESTS = ("ansible.builtin.skipped",)
WARM_LOOKUPS = ("ansible.builtin.varnames", "ansible.builtin.vars")
# the role's layers and routes, as it names them to the varnames lookup and as the action of its usual
# run (plugins/action/mta_connection_strategies_role.py) matches them
LAYER_PATTERN = "^stalwart_mta_connection_strategies(_.*)?$"
ROUTE_PATTERN = "^stalwart_mta_connection_routes(_.*)?$"
WARM_PATTERNS = (LAYER_PATTERN, ROUTE_PATTERN)
warm_up()


def as_module_reads(args):
    """The task's arguments as a module process would read them: through the JSON that the
    controller writes for a module (plain ``str``, ``list``, ``dict``; vaulted values decrypted;
    ansible-core's tagged or unsafe strings as plain strings)."""
    if Direction is None:  # imported here: ansible-core deprecates it where it has Direction
        from ansible.parsing.ajson import AnsibleJSONEncoder  # pylint: disable=import-outside-toplevel
        return json.loads(json.dumps(args, cls=AnsibleJSONEncoder, vault_to_text=True))
    return json.loads(json.dumps(args, cls=get_module_encoder(_PROFILE, Direction.CONTROLLER_TO_MODULE)),
                      cls=get_module_decoder(_PROFILE, Direction.CONTROLLER_TO_MODULE))


def as_controller_reads(result):
    """``result`` as the controller reads a module's output: through the module's JSON encoder and
    the controller's decoder (tuples become lists, dict keys strings), then marked as ansible-core
    marks a parsed module result (``_ansible_parsed``; a failure as the module's, so that 2.19 and
    later say "Module failed", not "Action failed")."""
    if Direction is None:  # imported here: ansible-core deprecates it where it has Direction
        from ansible.module_utils.common.text.converters import jsonify  # pylint: disable=import-outside-toplevel
        read = json.loads(jsonify(result))
        read["_ansible_parsed"] = True
        return read
    read = json.loads(json.dumps(result, cls=get_module_encoder(_PROFILE, Direction.MODULE_TO_CONTROLLER)),
                      cls=get_module_decoder(_PROFILE, Direction.MODULE_TO_CONTROLLER))
    if UnifiedTaskResult is not None:
        unified = UnifiedTaskResult.from_module_result_dict(read)
        unified.ansible_parsed = True
        unified.remove_internal_keys()
        return unified.as_result_dict(for_round_trip=True)
    if AnsibleModuleCapturedError is not None:
        AnsibleModuleCapturedError.normalize_result_exception(read)
    read["_ansible_parsed"] = True
    return read


@contextlib.contextmanager
def environment(overlay):
    """``os.environ`` with ``overlay`` laid over it, restored afterwards: what a module process
    started with the task's ``environment:`` would see (values as the shell would pass them,
    ``str``). The worker runs one task of one host and nothing else while it is set."""
    saved = {name: os.environ.get(name) for name in overlay}
    try:
        for name, value in overlay.items():
            os.environ[str(name)] = str(value)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(str(name), None)
            else:
                os.environ[str(name)] = value


def controller_python():
    """The controller's Python, as a message names it."""
    return f"{sys.executable} (Python {platform.python_version()})"


class ModuleExit(Exception):
    """``exit_json`` or ``fail_json`` of a ``WorkerModule``: carries the finished result."""

    def __init__(self, result):
        super().__init__("module exit")
        self.result = result


class WorkerModule:
    """What the operations use of ``AnsibleModule`` (``params``, ``check_mode``, ``_diff``,
    ``no_log_values``, ``warn``, ``fail_json``, ``exit_json``), made the way ``AnsibleModule``
    (and the collection's ``StalwartModule``) make it, for a run inside the worker.

    ``args`` are the task's arguments as a module would read them (``as_module_reads``); ``name``
    is the module's name as the task gives it (``AnsibleModule`` learns it from
    ``_ansible_module_name``, which is the task's action); ``inject_invocation`` whether the result
    gets ``invocation`` (``inject_invocation()``). Invalid arguments end the run at once
    (``ModuleExit``), with ``AnsibleModule``'s message, named by the spec's ``name_errors`` as
    ``StalwartModule`` names it.
    """

    def __init__(self, spec, name, args, check_mode=False, diff=False, no_log=False, inject_invocation=True):
        self._name = name
        self._inject_invocation = inject_invocation
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self.no_log = bool(no_log)
        self.no_log_values = set()
        self._warnings = []
        self._deprecations = []
        self.params = copy.deepcopy(args)
        kwargs = spec.kwargs()
        constraints = {key: value for key, value in kwargs.items()
                       if key not in ("argument_spec", "supports_check_mode")}
        validation = ArgumentSpecValidator(kwargs["argument_spec"], **constraints).validate(self.params)
        self.params.update(validation.validated_parameters)
        # pylint: disable=protected-access
        self.no_log_values.update(validation._no_log_values)
        # what ModuleArgumentSpecValidator adds to the plain validator, in its words
        for alias in validation._warnings:
            self.warn(f"Both option {alias['option']} and its alias {alias['alias']} are set.")
        for deprecation in validation._deprecations:
            self._deprecations.append({key: deprecation[key] for key in ("msg", "version", "date", "collection_name")
                                       if deprecation.get(key) is not None})
        # pylint: enable=protected-access
        # ``validation.errors`` is an exception object holding a list: always truthy, so look at
        # its first error, as AnsibleModule does
        try:
            first = validation.errors[0]
        except IndexError:
            first = None
        if first is not None:
            msg = validation.errors.msg
            if isinstance(first, UnsupportedError):
                msg = f"Unsupported parameters for ({self._name}) module: {msg}"
            if spec.name_errors is not None:
                msg = spec.name_errors(args, msg)
            self.fail_json(msg=msg)

    def warn(self, warning):
        """Add a warning to the result (a string, as ``AnsibleModule.warn`` takes it)."""
        if not isinstance(warning, str):
            raise TypeError(f"warn requires a string not a {type(warning)}")
        self._warnings.append(warning)

    def exit_json(self, **kwargs):
        """End the run with ``kwargs`` as the result."""
        self._finish(kwargs)

    def fail_json(self, msg, exception=None, **kwargs):  # pylint: disable=unused-argument
        """End the run as failed. ``exception`` (a traceback) is dropped: a module's result
        carries one only when the controller asks for tracebacks."""
        kwargs.update(failed=True, msg=str(msg))
        self._finish(kwargs)

    def _finish(self, result):
        if not self._inject_invocation:
            result.pop("invocation", None)
        elif "invocation" not in result:
            result["invocation"] = {"module_args": self.params}
        if self._warnings:
            result["warnings"] = list(self._warnings)
        if self._deprecations:
            result["deprecations"] = list(self._deprecations)
        # as AnsibleModule: a no_log value equal to "True" must not turn changed into a mask
        preserved = {key: value for key, value in result.items() if value is None or isinstance(value, bool)}
        result = remove_values(result, self.no_log_values)
        result.update(preserved)
        raise ModuleExit(result)


class EngineAction(ActionBase):
    """The action plugin of one module: ``SPEC`` is the module's ``ModuleSpec``."""

    SPEC = None
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no longer has any effect
        return self.run_engine(result, task_vars or {}, self._task.action, self._task.args)

    def run_engine(self, result, task_vars, module_name, module_args):
        """The module ``module_name`` with ``module_args`` (templated, ``module_defaults`` applied),
        in this worker or in a process of its own; its result laid over ``result``."""
        reason, warning = self.module_process_reason(module_name)
        if reason is None:
            result.update(self.run_in_worker(task_vars, module_name, module_args))
            return result
        display.vvv(f"{module_name}: running the module in a process of its own: {reason}",
                    host=self._play_context.remote_addr)
        result.update(self.run_module(task_vars, module_name, module_args))
        if warning:
            result["warnings"] = list(result.get("warnings") or []) + [warning]
        return result

    def module_process_reason(self, module_name=None):
        """Why this task must run the module in a process of its own (None: it need not), and
        the warning to give with it (None: none). ``module_name``: the module's name as the task
        gives it (the task's action unless said)."""
        module_name = module_name or self._task.action
        if self._task.async_val:
            return "the task is async", None
        transport = getattr(self._connection, "transport", None)
        if transport != "local":
            return f"the connection is {transport}, not local", None
        if getattr(self._connection, "become", None) is not None:
            return "the task uses become, so the module runs as the become user", None
        for library in self.missing_libraries():
            reason = f"the Python library {library} does not import on the controller's Python, {controller_python()}"
            return reason, (f"{module_name}: {reason}; the module ran in a process of its own instead (about "
                            f"0.2 s more per host). Install {library} for the Python that runs ansible-playbook.")
        return None, None

    def missing_libraries(self):
        """The Python libraries the engine needs that do not import on the controller: the module's
        interpreter may have them, so the module runs instead of failing in the worker."""
        return [] if HAS_REQUESTS else ["requests"]

    def run_module(self, task_vars, module_name=None, module_args=None):
        """The module in a process of its own, as the ``normal`` action runs it (the task's action
        with the task's arguments unless said)."""
        wrap_async = bool(self._task.async_val) and not getattr(self._connection, "has_native_async", False)
        outcome = self._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars,
                                       wrap_async=wrap_async)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)  # pylint: disable=protected-access
        return outcome

    def run_in_worker(self, task_vars, module_name=None, module_args=None):
        """The module's engine in this process, its result as the module's would arrive (the
        task's action with the task's arguments unless said)."""
        overlay = {}
        self._compute_environment_string(overlay)  # the task's environment:, templated
        args = as_module_reads(self._task.args if module_args is None else module_args)
        with environment(overlay):
            result = engine_result(self.SPEC, module_name or self._task.action, args, check_mode=self._task.check_mode,
                                   diff=self._task.diff, no_log=self._task.no_log,
                                   inject_invocation=inject_invocation(task_vars))
        return as_controller_reads(result)


def inject_invocation(task_vars):
    """Whether a module's result carries ``invocation``: always before ansible-core 2.21, then as
    its setting INJECT_INVOCATION says (off unless set), which the controller passes to modules."""
    if C.config.get_configuration_definition("INJECT_INVOCATION") is None:
        return True
    return bool(C.config.get_config_value("INJECT_INVOCATION", variables=task_vars))


def engine_result(spec, name, args, check_mode=False, diff=False, no_log=False, inject_invocation=True):
    """``spec``'s operation run in this process with ``args`` (as ``as_module_reads`` gives
    them): the result as the module would print it, before the controller reads it."""
    module = None
    try:
        module = WorkerModule(spec, name, args, check_mode=check_mode, diff=diff, no_log=no_log,
                              inject_invocation=inject_invocation)
        run(spec, module)
        raise AssertionError("the operation ended without exit_json or fail_json")
    except ModuleExit as done:
        return done.result
    except Exception as error:  # noqa: BLE001 - a bug: reported like a module's crash
        return crash_result(error, module)


def crash_result(error, module):
    """The result of an unexpected exception (a bug): failed, what it was, the traceback, with
    the no_log values masked; before the arguments were read none are known, so then only the
    exception's type is told."""
    if module is None:
        return {"failed": True, "msg": f"MODULE FAILURE: {type(error).__name__} while reading the arguments"}
    return remove_values({"failed": True, "msg": f"MODULE FAILURE: {type(error).__name__}: {error}",
                          "exception": traceback.format_exc()}, module.no_log_values)
