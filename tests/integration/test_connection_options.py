"""Connection options through real playbooks: ``module_defaults`` of the action group
``stalwart.mail.jmap``, the ``STALWART_URL``/``STALWART_TOKEN`` environment fallbacks, HTTP Basic
auth; each proven by what the simulator stored."""

from __future__ import annotations

from tests.integration.conftest import INFO_MODULE, MODULE, stored
from tests.support.ansible import play
from tests.support.sim import ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER


def test_module_defaults_group_and_basic_auth(any_sim, ansible):
    sim = any_sim
    group = {"group/stalwart.mail.jmap": {"url": sim.url, "token": ADMIN_TOKEN}}
    outcome = ansible(playbook=[
        play([{"name": "module via group", MODULE: {"name": "from-defaults", "connect_timeout": "1m"}},
              {"name": "info via group", INFO_MODULE: {"names": ["from-defaults"]}}], module_defaults=group),
        play([{"name": "basic auth", MODULE: {"url": sim.url, "username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                              "name": "from-basic", "data_timeout": "20m"}},
              {"name": "basic auth info", INFO_MODULE: {"url": sim.url, "username": ADMIN_USER,
                                                        "password": ADMIN_PASSWORD, "names": ["from-basic"]}}]),
    ])
    assert outcome.rc == 0, outcome.output()
    server = stored(sim)
    assert server["from-defaults"]["connectTimeout"] == 60000
    assert server["from-basic"]["dataTimeout"] == 1_200_000
    assert outcome.result("module via group")["changed"] is True
    assert [item["connect_timeout"] for item in outcome.result("info via group")["strategies"]] == ["1m"]
    assert outcome.result("basic auth")["changed"] is True
    assert [item["data_timeout"] for item in outcome.result("basic auth info")["strategies"]] == ["20m"]
    assert ADMIN_PASSWORD not in outcome.stdout + outcome.stderr


def test_environment_variables_url_and_token(sim, ansible):
    outcome = ansible([{"name": "from env", MODULE: {"name": "from-env", "rcpt_to_timeout": "2m"}},
                       {"name": "info from env", INFO_MODULE: {"names": ["from-env"]}}],
                      env={"STALWART_URL": sim.url, "STALWART_TOKEN": ADMIN_TOKEN})
    assert outcome.rc == 0, outcome.output()
    assert stored(sim)["from-env"]["rcptToTimeout"] == 120000
    assert outcome.result("from env")["changed"] is True
    assert [item["rcpt_to_timeout"] for item in outcome.result("info from env")["strategies"]] == ["2m"]
    assert ADMIN_TOKEN not in outcome.stdout + outcome.stderr


def test_a_netrc_entry_for_the_server_does_not_replace_the_token(sim, ansible, tmp_path):
    """requests reads ``~/.netrc`` (or ``$NETRC``) for a request that carries no auth of its own
    and lets it overwrite the Authorization header: an operator's netrc entry for the server's host
    would replace the token with other credentials, in the module and in the worker alike. The
    token must be what the server sees; here the netrc's credentials are wrong, so the server would
    answer 401."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password not-the-token\n")
    netrc.chmod(0o600)
    tasks = [{"name": "in the worker", MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "name": "beside-netrc",
                                                "connect_timeout": "3m"}},
             # async: the module in a process of its own, as the fallback runs it
             {"name": "as a module", MODULE: {"url": sim.url, "token": ADMIN_TOKEN, "name": "beside-netrc-2"},
              "async": 60, "poll": 1}]
    outcome = ansible(tasks, env={"NETRC": str(netrc)})
    assert outcome.rc == 0, outcome.output()
    assert stored(sim)["beside-netrc"]["connectTimeout"] == 180000
    assert "beside-netrc-2" in stored(sim)
    assert outcome.result("as a module").get("finished") == 1


def test_a_token_with_a_trailing_newline_works_and_one_a_header_cannot_carry_is_refused(sim, ansible):
    """A vaulted token often ends in a newline: it is dropped, as token_file is read. A token with
    white space or a non-ASCII character inside was sent to requests, which raised with the token
    in its message (the task's output); it is now refused before any request, naming the option
    and never showing the token. Both paths: in the worker, and as a module (async)."""
    broken = ADMIN_TOKEN[:3] + " " + ADMIN_TOKEN[3:]
    tasks = [{"name": "newline", MODULE: {"url": sim.url, "token": ADMIN_TOKEN + "\n", "name": "vaulted"}},
             {"name": "newline as a module", MODULE: {"url": sim.url, "token": ADMIN_TOKEN + "\n", "name": "vaulted-2"},
              "async": 60, "poll": 1}]
    outcome = ansible(tasks)
    assert outcome.rc == 0, outcome.output()
    assert {"vaulted", "vaulted-2"} <= set(stored(sim))
    sim.reset()
    for task in ({"name": "space", MODULE: {"url": sim.url, "token": broken, "name": "never"}},
                 {"name": "space", MODULE: {"url": sim.url, "token": broken, "name": "never"}, "async": 60, "poll": 1}):
        outcome = ansible([task])
        assert outcome.rc != 0
        assert "token: the token holds white space, which an HTTP header cannot carry" in outcome.result("space")["msg"]
        assert ADMIN_TOKEN[3:] not in outcome.stdout + outcome.stderr
        assert sim.stats()["requests"] == 0
