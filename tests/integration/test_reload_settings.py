"""stalwart.mail.reload_settings, the module the role's handler runs: one ReloadSettings per run,
nothing at all in check mode, a missing permission named, bad options refused before any request.
The module runs in the test process (``module_tasks``) against the simulator, in both dialects where
the dialect matters; the role's handler runs it through ansible-playbook in ``test_role.py``."""

from __future__ import annotations

import json

from tests.integration.conftest import task
from tests.support.sim import READONLY_TOKEN

MODULE = "stalwart.mail.reload_settings"


def test_reload_sends_one_reload_and_check_mode_sends_nothing(any_sim, module_tasks):
    outcome = module_tasks([task("reload", {}, sim=any_sim, module=MODULE)])
    assert outcome.status("reload") == "changed", outcome.output()
    assert outcome.result("reload")["reloaded"] is True
    stats = any_sim.stats()
    assert stats["reloads"] == 1 and stats["posts"] == 1, stats

    any_sim.reset()
    outcome = module_tasks([task("preview", {}, sim=any_sim, module=MODULE)], check=True)
    assert outcome.status("preview") == "changed", outcome.output()
    assert outcome.result("preview")["reloaded"] is False
    assert any_sim.stats()["requests"] == 0


def test_a_token_without_the_reload_permission_fails_naming_it(sim, module_tasks):
    outcome = module_tasks([task("reload", {"token": READONLY_TOKEN}, sim=sim, module=MODULE)])
    assert outcome.status("reload") == "failed", outcome.output()
    message = outcome.result("reload")["msg"]
    # both permissions, and what the refusal leaves behind (the role's handler runs this module: the
    # play's changes are stored, and the next run finds nothing to change and sends no reload)
    assert "sysActionCreate and actionReloadSettings" in message, message
    assert "not applied until one succeeds" in message and "run stalwart.mail.reload_settings" in message, message
    assert sim.stats()["reloads"] == 0


def test_bad_connection_options_fail_before_any_request_even_in_check_mode(sim, module_tasks):
    for check in (False, True):
        sim.reset()
        outcome = module_tasks([task("no scheme", {"url": "mail.example.com"}, sim=sim, module=MODULE),
                                task("both auths", {"username": "admin"}, sim=sim, module=MODULE)], check=check)
        for label, option in (("no scheme", "url"), ("both auths", "token")):
            assert outcome.status(label) == "failed", outcome.output()
            assert option in outcome.result(label)["msg"], outcome.result(label)["msg"]
        assert sim.stats()["requests"] == 0


def test_a_password_written_into_the_url_is_masked_even_in_check_mode(sim, module_tasks):
    """reload_settings checked its options before it made a client, which is where the password
    in url was added to the masked values: the refusal showed it in the arguments echoed back. A
    password with '/' was not even seen as one (a URL parser ends the host at the '/')."""
    host = sim.url.split("://", 1)[1]
    for check in (False, True):
        outcome = module_tasks([task(label, {"url": f"http://ops:{password}@{host}"}, sim=sim, module=MODULE)
                                for label, password in (("plain", "UrlPassw0rd"), ("slash", "Url/Passw0rd"))],
                               check=check)
        for label in ("plain", "slash"):
            result = outcome.result(label)
            assert result["failed"] is True and "holds credentials" in result["msg"], result
            assert "Passw0rd" not in json.dumps(result) and "Passw0rd" not in outcome.output(), result
            if "invocation" in result:  # ansible-core 2.21 adds it only with INJECT_INVOCATION
                assert result["invocation"]["module_args"]["url"].startswith("http://ops:********@"), result
    assert sim.stats()["requests"] == 0
