"""The action plugins' worker path and the modules give the same result for the same input, field
by field, in this process (``tests/support/inproc.py``): ``run_module`` runs a module's ``main``,
``run_in_worker`` what its action plugin runs in a worker (the arguments through a module's JSON,
``WorkerModule``, the same operation). Every bad input of ``test_bad_input.py`` and a table of
good ones (check mode, diff, warnings, server refusals, secrets read from files), each against
a simulator reset to the same state before each path, which must also store and count the same.

What only a playbook shows (the task's ``environment:``, ``no_log`` tasks, what Ansible does with
the result, the fallbacks) is in ``test_worker_action.py``.
"""

from __future__ import annotations

import pytest

from tests.integration.test_bad_input import CASES, case_files, case_task
from tests.support.inproc import ThreadedSimulator, run_in_worker, run_module
from tests.support.sim import ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, READONLY_TOKEN

STRATEGY = "mta_connection_strategy"
ACTION = "stalwart.mail." + STRATEGY
SECRET_FILE_TOKEN = "Fil3-T0ken-Lq8zR4-w2PcJ7"


@pytest.fixture(scope="module")
def server():
    with ThreadedSimulator(tokens={SECRET_FILE_TOKEN: "all"}) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    here = tmp_path_factory.mktemp("parity")
    (here / "secret-token").write_text(SECRET_FILE_TOKEN + "\n")
    (here / "password").write_text(ADMIN_PASSWORD + "\n")
    return {**case_files(here), "@SECRET_TOKEN_FILE@": str(here / "secret-token"),
            "@PASSWORD_FILE@": str(here / "password")}


def without_ids(value):
    """``value`` with every ``id`` the server assigned replaced: ids are made of the time."""
    if isinstance(value, dict):
        return {key: "<id>" if key == "id" and isinstance(item, str) else without_ids(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [without_ids(item) for item in value]
    return value


def stored(sim):
    return sorted((without_ids(item) for item in sim.objects()), key=lambda item: item["name"])


def counted(sim):
    stats = sim.stats()
    return {key: stats[key] for key in ("requests", "session_requests", "posts", "writes")}


def both_paths(sim, module, args, check=False, diff=False, setup=None):
    """The module's and the worker's result for the same input, each against the simulator as
    ``setup`` leaves it; what each stored and sent must be the same too."""
    outcomes = []
    for runner in (run_module, run_in_worker):
        sim.reset()
        if setup is not None:
            setup(sim)
        before = counted(sim)
        result = runner(module, args, check=check, diff=diff, module_name=f"stalwart.mail.{module}")
        after = counted(sim)
        outcomes.append((result, stored(sim), {key: after[key] - before[key] for key in after}))
    (module_result, module_stored, module_sent), (worker_result, worker_stored, worker_sent) = outcomes
    assert_same(without_ids(module_result), without_ids(worker_result))
    assert worker_stored == module_stored
    assert worker_sent == module_sent
    return worker_result


def assert_same(module_result, worker_result):
    """Field by field, naming the fields that differ."""
    differing = sorted(key for key in set(module_result) | set(worker_result)
                       if module_result.get(key, "<absent>") != worker_result.get(key, "<absent>"))
    assert not differing, "\n".join(f"{key}: module {module_result.get(key, '<absent>')!r}\n"
                                    f"{' ' * len(key)}  worker {worker_result.get(key, '<absent>')!r}"
                                    for key in differing)


# --- every bad input of test_bad_input.py ----------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_the_same_failure_on_both_paths(server, places, case):
    args = case_task(case, server, {**places, "@SIM_HOSTPORT@": f"127.0.0.1:{server.port}"})[f"stalwart.mail.{STRATEGY}"]
    result = both_paths(server, STRATEGY, args)
    assert result.get("failed") is True


@pytest.mark.parametrize("connection", [
    "default", {"rules": "warmup", "else": "default"}, {"rules": [None], "else": "default"},
    {"rules": [{"if": "rcpt_domain == 'gmail.com'", "then": ["warmup"]}], "else": "default"},
    {"rules": [{"if": True, "then": "warmup"}], "else": "default"}, {"rules": [], "else": False},
], ids=["a-string", "rules-a-string", "a-null-rule", "a-list-as-name", "a-boolean-condition", "a-boolean-name"])
def test_a_bad_expression_gives_the_same_failure_on_both_paths(server, connection):
    """The outbound module's expressions are checked by the module, not by typed sub-options:
    both paths give its message, and nothing is sent."""
    result = both_paths(server, "mta_outbound_strategy", {"url": server.url, "token": ADMIN_TOKEN,
                                                          "connection": connection})
    assert result.get("failed") is True and "connection" in result["msg"], result


# --- good input, check mode, diff, warnings, refusals, secrets ---------------------------------------


def seed(*names):
    return lambda sim: sim.reset(objects=[{"name": name} for name in names])


def routed_to(name):
    def setup(sim):
        sim.reset(objects=[{"name": name}, {"name": "stray"}],
                  outbound={"connection": {"match": {}, "else": f"'{name}'"}})
    return setup


BULK = {"name": "bulk", "description": "Bulk mail", "ehlo_hostname": "MX.Example.ORG", "connect_timeout": "3m",
        "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx-10.example.org"}, {"ip": "2001:DB8::A"}]}
BATCH = [BULK, {"name": "transactional", "data_timeout": 900000}, {"name": "default", "state": "absent"}]

GOOD = {
    "create one, diff": (STRATEGY, BULK, False, True, None),
    "create one, check and diff": (STRATEGY, BULK, True, True, None),
    "create one, no diff": (STRATEGY, BULK, False, False, None),
    "batch with a delete, diff": (STRATEGY, {"strategies": BATCH}, False, True, None),
    "batch in check mode": (STRATEGY, {"strategies": BATCH}, True, True, None),
    "no change": (STRATEGY, {"name": "default"}, False, True, None),
    "update in the user's units": (STRATEGY, {"name": "bulk", "connect_timeout": "90s"}, False, True, seed("bulk")),
    "absent with values warns": (STRATEGY, {"name": "bulk", "state": "absent", "description": "x"}, False, True,
                                 seed("bulk")),
    "a host name DNS cannot carry warns": (STRATEGY, {"name": "odd", "ehlo_hostname": "-mx.example.org",
                                                      "source_ips": [{"ip": "192.0.2.1", "ehlo_hostname": "m!x.example.org"}]},
                                           False, True, None),
    "purge keeps what the routing names, with a warning": (
        STRATEGY, {"strategies": [{"name": "default"}], "purge": True}, False, True, routed_to("warmup")),
    "purge with force": (STRATEGY, {"strategies": [{"name": "default"}], "purge": True, "force": True}, False, True,
                         routed_to("warmup")),
    "reload after a change": (STRATEGY, {"name": "bulk", "reload": True}, False, False, None),
    "a token that may only read": (STRATEGY, {"name": "bulk", "token": READONLY_TOKEN}, False, False, None),
    "a server refusal": (STRATEGY, {"strategies": [{"name": "fine"}, {"name": "refused"}]}, False, False,
                         lambda sim: sim.refuse({"refused": None})),
    "HTTP Basic with a password file": (STRATEGY, {"name": "basic", "token": None, "username": ADMIN_USER,
                                                   "password_file": "@PASSWORD_FILE@"}, False, False, None),
    "a secret from a file is masked wherever it shows": (
        STRATEGY, {"name": "masked", "token": None, "token_file": "@SECRET_TOKEN_FILE@",
                   "description": SECRET_FILE_TOKEN}, False, True, None),
    "info, all": ("mta_connection_strategy_info", {}, False, False, seed("bulk")),
    "info, names and the alias name both": ("mta_connection_strategy_info", {"names": ["bulk"], "name": ["x"]},
                                            False, False, seed("bulk")),
    "outbound, diff": ("mta_outbound_strategy", {"connection": {"rules": [{"if": "is_local_domain('', rcpt_domain)",
                                                                           "then": "default"}], "else": "default"}},
                       False, True, None),
    "outbound routing to a strategy that does not exist": (
        "mta_outbound_strategy", {"connection": {"else": "missing"}}, False, False, None),
    "outbound info": ("mta_outbound_strategy_info", {}, False, False, None),
    "reload": ("reload_settings", {}, False, False, None),
    "reload in check mode": ("reload_settings", {}, True, False, None),
    "unreachable server": (STRATEGY, {"name": "x", "url": "http://127.0.0.1:9", "retries": 0}, False, False, None),
}


def resolve(value, places):
    if isinstance(value, str):
        return places.get(value, value)
    if isinstance(value, dict):
        return {key: resolve(item, places) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, places) for item in value]
    return value


@pytest.mark.parametrize("label", list(GOOD))
def test_the_same_result_on_both_paths(server, places, label):
    module, extra, check, diff, setup = GOOD[label]
    args = {"url": server.url, "token": ADMIN_TOKEN, "retries": 1, "timeout": 5}
    args.update(resolve(extra, places))
    args = {key: value for key, value in args.items() if value is not None}
    result = both_paths(server, module, args, check=check, diff=diff, setup=setup)
    if label.startswith("a secret from a file"):
        assert SECRET_FILE_TOKEN not in repr(result)
        assert result["strategy"]["description"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    if label.startswith("info, names and"):
        assert "Both option names and its alias name are set." in result["warnings"]
