"""The action plugins run each module's engine in the controller's worker when the task's
connection is local, and the module otherwise (``plugins/plugin_utils/_worker_action.py``).

Parity: one playbook runs the same tasks on two hosts, each against a simulator of its own reset
to the same state: ``worker`` has a local connection (the worker path) and ``module`` the test
connection ``not_local`` (``tests/support/connection_plugins``: the local connection under
another name, which sends the action to the module, as a ``delegate_to`` another host would).
Their results are compared field by field (server-assigned ids aside), with good and bad input,
check mode, diff, warnings, ``no_log``, secrets from files, the environment and the vault, the
task's ``environment:``, and the Python types of the registered results. ``-vvv`` shows which
path each host took: a module process is an ``EXEC`` of the connection.

The traps of running in a worker, each with a test; and the fallbacks: ``async``, a connection
that is not local, ``become``, and a controller Python without ``requests``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.ansible import run_playbook
from tests.support.sim import ADMIN_TOKEN, Simulator

pytestmark = pytest.mark.xdist_group("worker_action")

SUPPORT = Path(__file__).resolve().parents[1] / "support"
PLUGIN_DIRS = {"ANSIBLE_CONNECTION_PLUGINS": str(SUPPORT / "connection_plugins"),
               "ANSIBLE_BECOME_PLUGINS": str(SUPPORT / "become_plugins"),
               "ANSIBLE_FILTER_PLUGINS": str(SUPPORT / "filter_plugins")}
MODULE = "stalwart.mail.mta_connection_strategy"
INFO = "stalwart.mail.mta_connection_strategy_info"
OUTBOUND = "stalwart.mail.mta_outbound_strategy"
OUTBOUND_INFO = "stalwart.mail.mta_outbound_strategy_info"
RELOAD = "stalwart.mail.reload_settings"
FILE_SECRET = "F1le-S3cret-Vb6nQ2-h8KsW3"
ENV_SECRET = "Env-S3cret-Tg4mX9-c1RzL5"
VAULT_SECRET = "Vau1t-S3cret-Pd3wE7-j5NyU6"
VAULT_PASSWORD = "parity-vault-password"
NO_PROXY_ENV = {"HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": "", "NO_PROXY": "*",
                "no_proxy": "*"}
CONNECTION = {"url": "{{ sim_url }}", "token": ADMIN_TOKEN}
BULK = {"name": "bulk", "description": "Bulk mail", "ehlo_hostname": "MX.Example.ORG", "connect_timeout": "3m",
        "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx-10.example.org"}, {"ip": "2001:DB8::A"}]}
BATCH = [BULK, {"name": "transactional", "data_timeout": 900000}, {"name": "default", "state": "absent"}]


def secret_simulator():
    """A simulator that also takes the test's secrets as admin tokens."""
    return Simulator(extra_args=[arg for secret in (FILE_SECRET, ENV_SECRET, VAULT_SECRET)
                                 for arg in ("--token", f"{secret}=all")])


def vaulted(text):
    """``text`` encrypted with the test's vault password, as ``!vault`` YAML."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    encrypted = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))]).encrypt(text).decode()
    return "!vault |\n" + "".join(f"  {line}\n" for line in encrypted.splitlines())


# The parity playbook: (label, module, arguments, task keywords); every task registers its result
# and ignores errors. The connection is the host's own simulator.
PARITY = [
    ("create one, diff", MODULE, {**CONNECTION, **BULK}, {"diff": True}),
    ("batch, check and diff", MODULE, {**CONNECTION, "strategies": BATCH}, {"check_mode": True, "diff": True}),
    ("batch, diff", MODULE, {**CONNECTION, "strategies": BATCH}, {"diff": True}),
    ("batch again: no change", MODULE, {**CONNECTION, "strategies": BATCH}, {}),
    ("an unsupported parameter", MODULE, {**CONNECTION, "name": "x", "bogus": 1}, {}),
    ("a bad item", MODULE, {**CONNECTION, "strategies": [{"name": "a"}, {"name": "b", "connect_timeout": "5w"}]},
     {}),
    ("an unsupported key in an item", MODULE, {**CONNECTION, "strategies": [{"name": "a", "colour": "red"}]}, {}),
    ("name and strategies", MODULE, {**CONNECTION, "name": "a", "strategies": []}, {}),
    ("retries not an integer", MODULE, {**CONNECTION, "name": "a", "retries": "many"}, {}),
    ("state absent with values warns", MODULE, {**CONNECTION, "name": "transactional", "state": "absent",
                                                "description": "x"}, {}),
    ("info with names and its alias", INFO, {**CONNECTION, "names": ["bulk"], "name": ["x"]}, {}),
    ("the task's environment feeds the fallbacks", MODULE, {"name": "from-env"},
     {"environment": {"STALWART_URL": "{{ sim_url }}", "STALWART_TOKEN": ADMIN_TOKEN}}),
    ("without it there is no url", MODULE, {"name": "from-env"}, {}),
    ("the task's environment expands a path", MODULE,
     {"url": "{{ sim_url }}", "token_file": "$TOKEN_DIR/admin-token", "name": "from-token-file"},
     {"environment": {"TOKEN_DIR": "{{ token_dir }}"}}),
    ("a secret from a file is masked", MODULE,
     {"url": "{{ sim_url }}", "token_file": "{{ token_dir }}/file-secret", "name": "masked-file",
      "description": FILE_SECRET}, {"diff": True}),
    ("a secret from the environment is masked", MODULE,
     {"url": "{{ sim_url }}", "name": "masked-env", "description": ENV_SECRET},
     {"environment": {"STALWART_TOKEN": ENV_SECRET}, "diff": True}),
    # a secret known only once the file is read, inside a warning made before: ansible-core 2.19
    # and later keep a module's warning as an object that the result's masking did not reach
    ("a warning holding a secret is masked", MODULE,
     {"url": "{{ sim_url }}", "token_file": "{{ token_dir }}/file-secret", "name": FILE_SECRET, "state": "absent",
      "description": "x"}, {}),
    ("a vaulted token", MODULE, {"url": "{{ sim_url }}", "token": "{{ vaulted_token }}", "name": "vaulted",
                                 "description": "{{ vaulted_token }}"}, {"diff": True}),
    ("a no_log task", MODULE, {**CONNECTION, "name": "quiet"}, {"no_log": True}),
    ("outbound, diff", OUTBOUND, {**CONNECTION, "connection": {"rules": [{"if": "rcpt_domain == 'gmail.com'",
                                                                          "then": "bulk"}], "else": "default"}},
     {"diff": True}),
    ("outbound to a strategy that does not exist", OUTBOUND, {**CONNECTION, "connection": {"else": "missing"}}, {}),
    ("outbound info", OUTBOUND_INFO, CONNECTION, {}),
    ("info", INFO, CONNECTION, {}),
    ("reload in check mode", RELOAD, CONNECTION, {"check_mode": True}),
    ("reload", RELOAD, CONNECTION, {}),
    ("plain http to a host that is not loopback", MODULE,
     {"url": "http://[fe80::1]:1", "token": ADMIN_TOKEN, "name": "x", "retries": 0}, {"environment": NO_PROXY_ENV}),
]
REGISTERED = [f"result_{index}" for index in range(len(PARITY))]


def parity_playbook(vars_file):
    tasks = []
    for (label, module, args, keywords), register in zip(PARITY, REGISTERED):
        tasks.append({"name": label, module: args, "register": register, "ignore_errors": True, **keywords})
    tasks.append({"name": "types", "ansible.builtin.debug": {
        "msg": "{{ [" + ", ".join(REGISTERED) + "] | type_tree }}"}})
    play = {"name": "parity", "hosts": "worker,module", "gather_facts": False,
            "vars_files": [str(vars_file)], "tasks": tasks}
    return yaml.safe_dump([play], sort_keys=False)


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    """The parity playbook on both hosts; (outcome, what each simulator stored)."""
    here = tmp_path_factory.mktemp("parity")
    tokens = here / "tokens"
    tokens.mkdir()
    (tokens / "admin-token").write_text(ADMIN_TOKEN + "\n")
    (tokens / "file-secret").write_text(FILE_SECRET + "\n")
    with secret_simulator() as worker_sim, secret_simulator() as module_sim:
        worker_sim.reset()
        module_sim.reset()
        inventory = here / "hosts.yml"
        host = {"ansible_python_interpreter": sys.executable, "token_dir": str(tokens)}
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {
            "worker": {**host, "ansible_connection": "local", "sim_url": worker_sim.url},
            "module": {**host, "ansible_connection": "not_local", "sim_url": module_sim.url}}}}))
        run_dir = here / "run"
        run_dir.mkdir()
        (here / "password").write_text(VAULT_PASSWORD + "\n")
        (here / "vault-vars.yml").write_text(f"vaulted_token: {vaulted(VAULT_SECRET)}")
        outcome = run_playbook(run_dir, parity_playbook(here / "vault-vars.yml"), verbosity=3, env=PLUGIN_DIRS,
                               extra_args=["-i", str(inventory), "--vault-password-file", str(here / "password")])
        stored = {"worker": normalised(worker_sim.objects()), "module": normalised(module_sim.objects())}
        urls = {"worker": worker_sim.url, "module": module_sim.url}
    return outcome, stored, urls


def normalised(value, url=None):
    """``value`` with the ids the server assigned replaced (they are made of the time), and the
    host's own simulator URL (in ``invocation``) too."""
    if url is not None:
        value = json.loads(json.dumps(value).replace(url, "<the host's simulator>"))
    if isinstance(value, dict):
        return {key: "<id>" if key == "id" and isinstance(item, str) else normalised(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def differences(worker, module):
    keys = sorted(set(worker) | set(module))
    return [f"{key}:\n  worker {worker.get(key, '<absent>')!r}\n  module {module.get(key, '<absent>')!r}"
            for key in keys if worker.get(key, "<absent>") != module.get(key, "<absent>")]


@pytest.mark.parametrize("label", [entry[0] for entry in PARITY])
def test_both_paths_give_the_same_result_field_by_field(parity, label):
    outcome, _stored, urls = parity
    worker = normalised(outcome.result(label, "worker"), urls["worker"])
    module = normalised(outcome.result(label, "module"), urls["module"])
    assert not differences(worker, module), "\n".join(differences(worker, module))
    assert outcome.status(label, "worker") == outcome.status(label, "module")


def test_both_paths_leave_the_same_objects_on_their_servers(parity):
    stored = parity[1]
    assert stored["worker"] == stored["module"]
    names = {item["name"] for item in stored["worker"]}
    assert names == {"bulk", "from-env", "from-token-file", "masked-file", "masked-env", "vaulted", "quiet"}


def test_a_failure_is_shown_as_the_modules_on_both_paths(parity):
    """ansible-core 2.19 and later tell a module's failure ("Module failed") from an action's
    ("Action failed"); the worker path's failures are the module's."""
    output = parity[0].stdout
    assert "Action failed" not in output
    if "Task failed:" in output:  # ansible-core 2.19 and later (which show a repeated error once)
        assert "Task failed: Module failed: strategy 'x': Unsupported parameters" in output


def test_registered_results_have_the_same_python_types_on_both_paths(parity):
    outcome = parity[0]
    assert outcome.result("types", "worker")["msg"] == outcome.result("types", "module")["msg"]


def test_each_host_took_its_path(parity):
    """The worker host never started a process (no EXEC); the module host did, for every task."""
    output = parity[0].stdout
    assert "<worker> EXEC" not in output
    assert len(re.findall(r"<module> EXEC .*AnsiballZ_", output)) >= len(PARITY)
    assert "running the module in a process of its own: the connection is not_local, not local" in output


# --- the traps, on the worker path --------------------------------------------------------------------


def worker_result(parity, label):
    return parity[0].result(label, "worker")


def test_the_task_environment_reaches_the_env_fallbacks(parity):
    assert worker_result(parity, "the task's environment feeds the fallbacks")["changed"] is True
    # the next task of the same host has no environment: no url, as for the module
    missing = worker_result(parity, "without it there is no url")
    assert missing["failed"] is True and "url" in missing["msg"]
    assert worker_result(parity, "the task's environment expands a path")["changed"] is True


def test_unsupported_parameters_are_said_as_the_module_says_them(parity):
    msg = worker_result(parity, "an unsupported parameter")["msg"]
    assert msg.startswith("strategy 'x': Unsupported parameters for (stalwart.mail.mta_connection_strategy) "
                          "module: bogus. Supported parameters include: ")
    item = worker_result(parity, "an unsupported key in an item")["msg"]
    assert item.startswith("strategies[0] ('a'): ") and "unsupported option(s) colour" in item, item


def test_valid_arguments_pass_although_the_validators_error_list_is_always_truthy(parity):
    """``ArgumentSpecValidator(...).validate(...).errors`` is an exception object: truthy even
    empty; read as a list of errors, every task would fail."""
    for label in ("create one, diff", "batch, diff", "info", "outbound info", "reload"):
        assert worker_result(parity, label)["failed"] is False, label


def task_output(stdout, label):
    """The part of a playbook's output that belongs to the task named ``label``."""
    start = stdout.index(f"TASK [{label}]")
    end = stdout.find("TASK [", start + 1)
    return stdout[start:end if end >= 0 else len(stdout)]


def test_secrets_the_engine_reads_are_masked_in_the_result(parity):
    """Each secret is also the description the task writes: the task must not show it back.
    (A later task that reads all strategies with another token shows it: that is stored data.)"""
    outcome = parity[0]
    for label, secret in (("a secret from a file is masked", FILE_SECRET),
                          ("a secret from the environment is masked", ENV_SECRET),
                          ("a vaulted token", VAULT_SECRET)):
        result = worker_result(parity, label)
        assert result["changed"] is True, result
        assert result["strategy"]["description"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", result
        assert secret not in json.dumps(result)
        # (at -vvv, the module path's command line shows the task's environment: Ansible's own)
        shown = [line for line in task_output(outcome.stdout, label).splitlines() if "<module> EXEC" not in line]
        assert secret not in "\n".join(shown)
        assert secret not in outcome.stderr
    for host in ("worker", "module"):
        warned = parity[0].result("a warning holding a secret is masked", host)
        assert "strategy '********': state is absent" in " ".join(map(str, warned["warnings"])), (host, warned)
    shown = [line for line in task_output(outcome.stdout, "a warning holding a secret is masked").splitlines()
             if "<module> EXEC" not in line]
    assert FILE_SECRET not in "\n".join(shown) and FILE_SECRET not in outcome.stderr


def test_invocation_warnings_and_no_log_as_the_module_gives_them(parity):
    created = worker_result(parity, "create one, diff")
    if "invocation" in parity[0].result("create one, diff", "module"):
        assert created["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert created["invocation"]["module_args"]["timeout"] == 30.0
    else:  # ansible-core 2.21 and later, unless INJECT_INVOCATION is set
        assert "invocation" not in created
    assert created["diff"]["before"] == {} and created["diff"]["after"]["connect_timeout"] == "3m"
    warned = worker_result(parity, "info with names and its alias")
    assert "Both option names and its alias name are set." in " ".join(map(str, warned["warnings"]))
    clear = worker_result(parity, "plain http to a host that is not loopback")
    assert clear["failed"] is True and "clear text" in " ".join(map(str, clear["warnings"]))
    quiet = worker_result(parity, "a no_log task")
    assert "censored" in quiet and "invocation" not in quiet


# --- the fallbacks ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fallback_sim():
    with Simulator() as simulator:
        yield simulator


def run_fallbacks(tmp_path, sim, tasks, env=None):
    """``tasks`` on localhost (a local connection), at -vvv; the host ``elsewhere`` has the
    connection ``not_local``."""
    play = {"name": "fallbacks", "hosts": "localhost", "gather_facts": False,
            "module_defaults": {"group/stalwart.mail.jmap": {"url": sim.url, "token": ADMIN_TOKEN}}, "tasks": tasks}
    inventory = tmp_path / "elsewhere.ini"
    inventory.write_text(f"elsewhere ansible_connection=not_local ansible_python_interpreter={sys.executable}\n")
    return run_playbook(tmp_path, [play], verbosity=3, env={**PLUGIN_DIRS, **(env or {})},
                        extra_args=["-i", str(inventory)])


def test_invocation_is_given_when_ansible_core_is_asked_for_it(fallback_sim, tmp_path):
    """ansible-core 2.21 and later add ``invocation`` to a module's result only with
    INJECT_INVOCATION (earlier ones always do): the worker path reads the same setting."""
    fallback_sim.reset()
    outcome = run_fallbacks(tmp_path, fallback_sim, [{"name": "asked", MODULE: {"name": "asked"}}],
                            env={"ANSIBLE_INJECT_INVOCATION": "true"})
    assert outcome.rc == 0, outcome.output()
    arguments = outcome.result("asked")["invocation"]["module_args"]
    assert arguments["name"] == "asked" and arguments["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "process of its own" not in outcome.stdout


def test_async_runs_the_module(fallback_sim, tmp_path):
    fallback_sim.reset()
    outcome = run_fallbacks(tmp_path, fallback_sim, [
        {"name": "async", MODULE: {"name": "async"}, "async": 60, "poll": 1}])
    assert outcome.rc == 0, outcome.output()
    result = outcome.result("async")
    assert result["changed"] is True and result.get("finished") == 1 and "ansible_job_id" in result
    assert "running the module in a process of its own: the task is async" in outcome.stdout
    assert "async" in [item["name"] for item in fallback_sim.objects()]


def test_a_connection_that_is_not_local_runs_the_module_there(fallback_sim, tmp_path):
    fallback_sim.reset()
    outcome = run_fallbacks(tmp_path, fallback_sim, [
        {"name": "delegated", MODULE: {"name": "delegated"}, "delegate_to": "elsewhere"}])
    assert outcome.rc == 0, outcome.output()
    assert outcome.result("delegated")["changed"] is True
    assert "running the module in a process of its own: the connection is not_local, not local" in outcome.stdout
    assert re.search(r"<elsewhere> EXEC .*AnsiballZ_mta_connection_strategy", outcome.stdout)


def test_become_runs_the_module_as_the_become_user(fallback_sim, tmp_path):
    fallback_sim.reset()
    outcome = run_fallbacks(tmp_path, fallback_sim, [
        {"name": "become", MODULE: {"name": "become"}, "become": True, "become_method": "pass_through"}])
    assert outcome.rc == 0, outcome.output()
    assert outcome.result("become")["changed"] is True
    assert "running the module in a process of its own: the task uses become" in outcome.stdout


def test_the_local_connection_runs_no_module_process(fallback_sim, tmp_path):
    fallback_sim.reset()
    outcome = run_fallbacks(tmp_path, fallback_sim, [{"name": "local", MODULE: {"name": "local"}}])
    assert outcome.rc == 0, outcome.output()
    assert outcome.result("local")["changed"] is True
    assert "EXEC" not in outcome.stdout and "process of its own" not in outcome.stdout


def hide_from_the_controller(tmp_path, package):
    """A directory for PYTHONPATH in which ``package`` raises ImportError, so that
    ``ansible-playbook`` cannot import it; and a Python for the module (a wrapper that drops
    PYTHONPATH), which finds the real one."""
    shim = tmp_path / f"no-{package}"
    (shim / package).mkdir(parents=True)
    (shim / package / "__init__.py").write_text(f"raise ImportError('{package} is hidden from the controller')\n")
    wrapper = tmp_path / f"python-with-{package}"
    wrapper.write_text(f"#!/bin/sh\nunset PYTHONPATH\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    return shim, wrapper


def test_without_requests_on_the_controller_the_module_runs_and_a_warning_names_the_python(fallback_sim, tmp_path):
    """``ansible-playbook`` runs with a ``requests`` that does not import (a package on
    PYTHONPATH that raises ImportError); the module's interpreter is a wrapper that drops
    PYTHONPATH, so the module itself finds the real one."""
    fallback_sim.reset()
    shim, wrapper = hide_from_the_controller(tmp_path, "requests")
    outcome = run_fallbacks(tmp_path, fallback_sim, [
        {"name": "no requests", MODULE: {"name": "no-requests"}, "vars": {"ansible_python_interpreter": str(wrapper)}}],
        env={"PYTHONPATH": str(shim)})
    assert outcome.rc == 0, outcome.output()
    result = outcome.result("no requests")
    assert result["changed"] is True
    warnings = " ".join(map(str, result.get("warnings") or []))
    assert "requests does not import on the controller's Python" in warnings and sys.executable in warnings
    assert "no-requests" in [item["name"] for item in fallback_sim.objects()]
    assert os.path.basename(str(wrapper)) in outcome.stdout  # the module ran, with the wrapper


def test_without_dnspython_on_the_controller_the_check_runs_as_a_module_and_a_warning_names_the_python(tmp_path):
    """As for requests: deliverability_check failed in the worker, telling the user to look at
    ansible_python_interpreter, which the worker never uses; the module, run by an interpreter
    that has dnspython, succeeds."""
    shim, wrapper = hide_from_the_controller(tmp_path, "dns")
    check = {"strategies": [{"name": "warmup", "ehlo_hostname": "mx.example.org", "source_ips": [{"ip": "192.0.2.1"}]}],
             "mode": "warn", "checks": ["ptr"],
             # nothing answers there: the finding is unknown, quickly
             "resolver": {"nameservers": ["127.0.0.1"], "port": 9, "timeout": 0.2, "lifetime": 0.3, "budget": 1}}
    play = {"name": "no dnspython", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "check", "stalwart.mail.deliverability_check": check,
         "vars": {"ansible_python_interpreter": str(wrapper)}}]}
    outcome = run_playbook(tmp_path, [play], verbosity=3, env={"PYTHONPATH": str(shim)})
    assert outcome.rc == 0, outcome.output()
    result = outcome.result("check")
    assert [finding["check"] for finding in result["findings"]] == ["ptr"], result
    warnings = " ".join(map(str, result.get("warnings") or []))
    assert "dnspython does not import on the controller's Python" in warnings and sys.executable in warnings
    assert os.path.basename(str(wrapper)) in outcome.stdout  # the module ran, with the wrapper
