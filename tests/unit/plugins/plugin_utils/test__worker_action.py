# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The worker path's pieces, each trap on its own: the JSON a module reads and writes, the
task's environment laid over ``os.environ`` and taken off again, ``WorkerModule``'s validation
(the validator's always-truthy error list, the "Unsupported parameters" prefix, naming the
strategy), ``no_log`` masking, and every action plugin naming its module's spec."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.stalwart.mail.plugins.module_utils import _operations
from ansible_collections.stalwart.mail.plugins.plugin_utils import _worker_action
from ansible_collections.stalwart.mail.plugins.plugin_utils._worker_action import (
    ModuleExit,
    WorkerModule,
    as_controller_reads,
    as_module_reads,
    environment,
)

ROOT = pathlib.Path(__file__).resolve().parents[4]
# source_ip_probe runs on the mail host itself (it binds the host's addresses): no action plugin
ON_THE_MANAGED_HOST = ("source_ip_probe",)
# documentation only: its action (the role's usual run) runs another module, which it names
ROLE_ACTIONS = {"mta_connection_strategies_role": "stalwart.mail.mta_connection_strategy"}
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py")
                 if path.stem not in ON_THE_MANAGED_HOST and path.stem not in ROLE_ACTIONS)
GOOD = {"url": "https://mail.example.com", "token": "t0ken-Xy7", "name": "bulk"}


def worker(args, spec=_operations.STRATEGY_MODULE, name="stalwart.mail.mta_connection_strategy"):
    """A WorkerModule for ``args``, or the result it ended with."""
    try:
        return WorkerModule(spec, name, as_module_reads(args))
    except ModuleExit as done:
        return done.result


# --- every module has its action, naming its spec ------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_each_module_has_an_action_plugin_over_the_same_spec(name):
    action = importlib.import_module(f"ansible_collections.stalwart.mail.plugins.action.{name}").ActionModule
    assert issubclass(action, _worker_action.EngineAction)
    specs = {spec: key for key, spec in vars(_operations).items() if isinstance(spec, _operations.ModuleSpec)}
    assert action.SPEC in specs
    source = (ROOT / "plugins" / "modules" / f"{name}.py").read_text()
    assert f"run({specs[action.SPEC]})" in source


@pytest.mark.parametrize("name", sorted(ROLE_ACTIONS))
def test_a_role_action_runs_the_module_it_names_over_that_modules_spec(name):
    """The role's own action has a module file of documentation only (no code to run), and runs
    the module it names with that module's spec, in the worker or as that module."""
    role_action = importlib.import_module(f"ansible_collections.stalwart.mail.plugins.action.{name}")
    module_name = ROLE_ACTIONS[name]
    assert role_action.MODULE == module_name
    assert issubclass(role_action.ActionModule, _worker_action.EngineAction)
    short = module_name.rsplit(".", 1)[-1]
    assert role_action.ActionModule.SPEC is importlib.import_module(
        f"ansible_collections.stalwart.mail.plugins.action.{short}").ActionModule.SPEC
    tree = ast.parse((ROOT / "plugins" / "modules" / f"{name}.py").read_text())
    statements = [node for node in tree.body
                  if not isinstance(node, ast.Assign) and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    assert statements == []  # DOCUMENTATION, EXAMPLES, RETURN: as ansible-test takes a module of docs only


@pytest.mark.parametrize("name", ON_THE_MANAGED_HOST)
def test_a_module_for_the_managed_host_has_no_action_plugin(name):
    """An action plugin would run it in the controller's worker, binding the controller's
    addresses instead of the mail host's."""
    assert (ROOT / "plugins" / "modules" / f"{name}.py").exists()
    assert not (ROOT / "plugins" / "action" / f"{name}.py").exists()


def test_no_spec_declares_a_deprecation_the_worker_would_have_to_report():
    """WorkerModule passes the validator's deprecations on as plain dicts; none is declared, so
    neither path has one to report (a module reports them in a form of its own)."""
    for spec in (value for value in vars(_operations).values() if isinstance(value, _operations.ModuleSpec)):
        text = repr(spec.argument_spec())
        assert "deprecated_aliases" not in text and "removed_in_version" not in text and "removed_at_date" not in text


# --- the JSON of a module ---------------------------------------------------------------------------------


def test_results_get_the_types_a_modules_json_gives_them():
    read = as_controller_reads({"changed": True, "pair": (1, 2), "numbers": {1: "one"}, "names": {"a"},
                                "nested": [{"t": ("x",)}], "timeout": 30.0})
    assert read["pair"] == [1, 2] and read["pair"].__class__ is list
    assert read["numbers"] == {"1": "one"}
    assert read["names"] == ["a"]
    assert read["nested"] == [{"t": ["x"]}]
    assert read["timeout"].__class__ is float and read["changed"] is True
    assert read.get("_ansible_parsed", True) is True  # (ansible-core 2.21 keeps it out of the dict)


def test_a_failed_result_keeps_its_message():
    read = as_controller_reads({"failed": True, "msg": "strategy 'x': bad"})
    assert read["failed"] is True and read["msg"] == "strategy 'x': bad"


def test_arguments_get_the_types_a_module_reads():
    read = as_module_reads({"strategies": ({"name": "a", "source_ips": ({"ip": "192.0.2.1"},)},), "timeout": 5})
    assert read == {"strategies": [{"name": "a", "source_ips": [{"ip": "192.0.2.1"}]}], "timeout": 5}
    assert read["strategies"].__class__ is list


def test_arguments_of_ansibles_own_string_types_become_plain_strings():
    try:
        from ansible.utils.unsafe_proxy import AnsibleUnsafeText
    except ImportError:  # pragma: no cover
        pytest.skip("no AnsibleUnsafeText")
    read = as_module_reads({"name": AnsibleUnsafeText("bulk")})
    assert read["name"].__class__ is str and read["name"] == "bulk"


# --- the task's environment ----------------------------------------------------------------------------


def test_the_environment_is_laid_over_and_taken_off_again(monkeypatch):
    monkeypatch.setenv("STALWART_URL", "https://before.example.com")
    monkeypatch.delenv("STALWART_TOKEN", raising=False)
    with environment({"STALWART_URL": "https://task.example.com", "STALWART_TOKEN": "t", "RETRIES": 3}):
        assert os.environ["STALWART_URL"] == "https://task.example.com"
        assert os.environ["STALWART_TOKEN"] == "t" and os.environ["RETRIES"] == "3"
    assert os.environ["STALWART_URL"] == "https://before.example.com"
    assert "STALWART_TOKEN" not in os.environ and "RETRIES" not in os.environ


def test_the_environment_is_taken_off_after_an_error_too(monkeypatch):
    monkeypatch.delenv("STALWART_URL", raising=False)
    with pytest.raises(RuntimeError), environment({"STALWART_URL": "https://task.example.com"}):
        raise RuntimeError
    assert "STALWART_URL" not in os.environ


def test_env_fallback_sees_the_task_environment_only_while_it_is_laid_over(monkeypatch):
    monkeypatch.delenv("STALWART_URL", raising=False)
    args = {"token": "t", "name": "bulk"}
    with environment({"STALWART_URL": "https://task.example.com"}):
        module = worker(args)
    assert isinstance(module, WorkerModule) and module.params["url"] == "https://task.example.com"
    failed = worker(args)
    assert failed["failed"] is True and "url" in failed["msg"]


# --- validation as AnsibleModule validates ---------------------------------------------------------------


def test_the_validators_error_list_is_truthy_even_empty_and_valid_input_passes():
    spec = _operations.STRATEGY_MODULE.kwargs()
    validation = ArgumentSpecValidator(spec["argument_spec"], mutually_exclusive=spec["mutually_exclusive"]).validate(
        dict(GOOD))
    assert validation.error_messages == [] and bool(validation.errors) is True  # the trap
    module = worker(GOOD)
    assert isinstance(module, WorkerModule)
    assert module.params["state"] == "present" and module.params["timeout"] == 30.0


def test_unsupported_parameters_get_the_modules_prefix_and_the_strategy():
    result = worker({**GOOD, "bogus": 1})
    assert result["msg"].startswith("strategy 'bulk': Unsupported parameters for "
                                    "(stalwart.mail.mta_connection_strategy) module: bogus. Supported parameters "
                                    "include: ")
    assert result["failed"] is True
    assert result["invocation"]["module_args"]["bogus"] == 1
    assert result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_other_validation_errors_are_named_too():
    assert worker({**GOOD, "retries": "many"})["msg"].startswith("strategy 'bulk': argument 'retries' is of type")
    assert "mutually exclusive" in worker({**GOOD, "strategies": []})["msg"]


def test_an_alias_given_with_its_option_draws_the_modules_warning():
    module = worker({"url": "https://mail.example.com", "names": ["a"], "name": ["b"]},
                    spec=_operations.STRATEGY_INFO_MODULE)
    assert module._warnings == ["Both option names and its alias name are set."]  # pylint: disable=protected-access


def test_check_mode_and_diff_come_from_the_task():
    module = WorkerModule(_operations.STRATEGY_MODULE, "x", as_module_reads(GOOD), check_mode=True, diff=True)
    assert module.check_mode is True and module._diff is True  # pylint: disable=protected-access


# --- the result: warnings, invocation, masking ----------------------------------------------------------


def finished(module, **result):
    with pytest.raises(ModuleExit) as done:
        module.exit_json(**result)
    return done.value.result


def test_secrets_added_by_the_engine_are_masked_everywhere_in_the_result():
    module = worker(GOOD)
    module.no_log_values.add("Fr0m-A-File")
    module.warn("a warning that quotes Fr0m-A-File")
    result = finished(module, changed=True, strategy={"description": "Fr0m-A-File"}, note="x Fr0m-A-File y")
    assert result["strategy"]["description"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "Fr0m-A-File" not in repr(result)
    assert result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_top_level_booleans_and_none_survive_a_no_log_value_that_spells_them():
    module = worker({**GOOD, "token": "True"})
    result = finished(module, changed=True, reloaded=None, strategy={"flag": "True"})
    assert result["changed"] is True and result["reloaded"] is None
    assert result["strategy"]["flag"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_fail_json_is_failed_with_the_message_and_warnings():
    module = worker(GOOD)
    module.warn("careful")
    with pytest.raises(ModuleExit) as done:
        module.fail_json(msg="went wrong", strategy="bulk", exception="Traceback ...")
    assert done.value.result["failed"] is True and done.value.result["msg"] == "went wrong"
    assert done.value.result["warnings"] == ["careful"] and "exception" not in done.value.result


def test_warn_takes_strings_only():
    with pytest.raises(TypeError):
        worker(GOOD).warn(["not", "a", "string"])


def test_a_crash_in_the_engine_is_reported_like_a_modules_crash_with_secrets_masked():
    class Broken:
        name_errors = None

        @staticmethod
        def kwargs():
            return _operations.STRATEGY_MODULE.kwargs()

        @staticmethod
        def operation(module, client_factory=None):
            raise ValueError(f"boom near {module.params['token']}")

    result = _worker_action.engine_result(Broken, "x", as_module_reads(GOOD))
    assert result["failed"] is True and result["msg"].startswith("MODULE FAILURE: ValueError: boom near")
    assert GOOD["token"] not in repr(result)


# --- warm_up: the role's Jinja plugins loaded in the process that forks the workers -------------------

ROLE_TASKS = ROOT / "roles" / "mta_connection_strategies"


def test_warm_up_names_plugins_that_exist_and_leaves_them_loaded_for_forked_workers():
    """In a fresh interpreter, as ansible-playbook's main process: importing an action plugin loads
    every named filter, test and lookup (a misspelt name would make the warm-up do nothing, since
    it must never fail), and a process forked afterwards finds loaded what a module run asks for:
    ansible-core's filters and tests, the JSON profiles of the arguments and the result, and what
    requests imports at its first request (netrc). Asking for them imports no module."""
    script = textwrap.dedent("""
        import json, os, sys
        from ansible.plugins.loader import filter_loader, init_plugin_loader, lookup_loader, test_loader
        init_plugin_loader(os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep))
        import ansible_collections.stalwart.mail.plugins.action.mta_connection_strategy
        from ansible_collections.stalwart.mail.plugins.plugin_utils import _worker_action as w
        read, write = os.pipe()
        if os.fork() == 0:  # a worker: the builtin filters and tests it asks for are there already
            before = set(sys.modules)
            filter_loader.get("ansible.builtin.to_json")
            test_loader.get("ansible.builtin.match")
            w.as_controller_reads(w.as_module_reads({"name": "a", "strategies": [{"name": "b"}]}))
            import requests.utils
            requests.utils.get_netrc_auth("http://127.0.0.1/")
            os.write(write, json.dumps(sorted(set(sys.modules) - before)).encode())
            os._exit(0)
        os.close(write)
        found = {"filters": [n for n in w.WARM_FILTERS if filter_loader.get(n) is None],
                 "tests": [n for n in w.WARM_TESTS if test_loader.get(n) is None],
                 "lookups": [n for n in w.WARM_LOOKUPS if lookup_loader.get(n, class_only=True) is None]}
        found["child_imported"] = json.loads(os.read(read, 100000).decode())
        print(json.dumps(found))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert (found["filters"], found["tests"], found["lookups"]) == ([], [], []), found
    assert found["child_imported"] == [], found


def test_warm_up_names_every_collection_filter_lookup_and_varnames_pattern_the_role_uses():
    """The role's templates may use a filter of the collection or a lookup only if warm_up loads it
    (ansible-core's own filters and tests are loaded whole by the first of each), and warm_up
    compiles exactly the patterns the role gives the varnames lookup."""
    text = "\n".join(path.read_text() for path in sorted(ROLE_TASKS.glob("*/*.yml")))
    filters = set(re.findall(r"\|\s*(stalwart\.mail\.\w+)", text))
    lookups = set(re.findall(r"(?:query|lookup)\('(ansible\.builtin\.\w+)'", text))
    patterns = set(re.findall(r"query\('ansible\.builtin\.varnames', '([^']+)'\)", text))
    assert filters and lookups and patterns  # the expressions still find what the role uses
    assert filters <= set(_worker_action.WARM_FILTERS), filters - set(_worker_action.WARM_FILTERS)
    assert lookups <= set(_worker_action.WARM_LOOKUPS), lookups - set(_worker_action.WARM_LOOKUPS)
    assert patterns == set(_worker_action.WARM_PATTERNS), patterns ^ set(_worker_action.WARM_PATTERNS)
