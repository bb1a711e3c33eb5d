"""What a run reports after a failure, and what it leaves on the server (docs/reliability.md, "What
changed means after a failure"): a change the server confirmed or a write whose outcome is unknown
is never reported as no change; a refused part names each strategy and the server's reason next to
what was applied; a reload follows only an applied change, and a refused reload after an applied
change says so. Also the request-size limit, host names as the server encodes them, and the input
the module must refuse or accept before any request.

The module runs in this process (``tests/support/inproc.py``) against a simulator served from a
thread; every outcome is checked against what the simulator stored and counted.
"""

from __future__ import annotations

import pytest

from tests.support.inproc import ThreadedSimulator, run_module
from tests.support.sim import ADMIN_TOKEN, READONLY_TOKEN

MODULE = "mta_connection_strategy"
INFO = "mta_connection_strategy_info"
# may read and create, not update or destroy; may not reload
CREATE_ONLY = "create-only-token"
# may do everything to strategies, but not reload
NO_RELOAD = "no-reload-token"
TOKENS = {
    CREATE_ONLY: "authenticate,sysMtaConnectionStrategyGet,sysMtaConnectionStrategyQuery,sysMtaConnectionStrategyCreate",
    NO_RELOAD: "authenticate,sysMtaConnectionStrategyGet,sysMtaConnectionStrategyQuery,sysMtaConnectionStrategyCreate,"
               "sysMtaConnectionStrategyUpdate,sysMtaConnectionStrategyDestroy,sysMtaOutboundStrategyGet",
}
# may do everything to strategies and create actions, but not this one: the reload is refused in
# notCreated (forbidden), not at the method
NO_RELOAD_ACTION = "no-reload-action-token"
TOKENS[NO_RELOAD_ACTION] = TOKENS[NO_RELOAD] + ",sysActionCreate"
# may read strategies, but lacks authenticate: Stalwart refuses every request of such an API key
NO_API = "no-api-token"
TOKENS[NO_API] = "sysMtaConnectionStrategyGet,sysMtaConnectionStrategyQuery"
FAST = {"retries": 2, "timeout": 5}


@pytest.fixture(scope="module")
def server():
    with ThreadedSimulator(tokens=TOKENS) as simulator:
        yield simulator


@pytest.fixture
def sim(server):
    server.reset()
    return server


def run(sim, token=ADMIN_TOKEN, **args):
    return run_module(MODULE, {"url": sim.url, "token": token, **FAST, **args})


def names(sim):
    return sorted(item["name"] for item in sim.objects())


def sent(sim):
    stats = sim.stats()
    return {key: stats[key] for key in ("requests", "posts", "writes")}


# --- a lost answer, then an outage --------------------------------------------------------


def test_a_lost_write_then_an_outage_reports_changed_and_an_unknown_outcome(sim):
    sim.fault("drop_after", match="write")  # the five creates are committed, the answer is lost
    sim.fault("http503", count=100, skip=2)  # then, after the session and the first read, an outage
    result = run(sim, strategies=[{"name": f"lost-{index}"} for index in range(5)])
    assert result.get("failed") is True
    assert result["changed"] is True, "a write that may have been applied is never 'no change'"
    assert "outcome is unknown" in result["msg"] and "lost-0" in result["msg"], result["msg"]
    assert "nothing was changed" not in result["msg"], result["msg"]
    assert result["unconfirmed"] == [f"lost-{index}" for index in range(5)]
    assert result["plan"]["create"] == [f"lost-{index}" for index in range(5)]
    assert names(sim) == ["default"] + [f"lost-{index}" for index in range(5)]
    # the server is back: a re-run converges without a duplicate
    sim.fault  # noqa: B018 - the faults are still queued; clear them
    sim.http("DELETE", "/_sim/faults")
    again = run(sim, strategies=[{"name": f"lost-{index}"} for index in range(5)])
    assert again["changed"] is False and not again.get("failed"), again
    assert names(sim) == ["default"] + [f"lost-{index}" for index in range(5)]


def test_a_write_answered_503_until_the_retries_run_out_is_reported_as_that_write(sim):
    sim.fault("http503", count=100, skip=2)  # the session and the read pass; the write and all after get 503
    result = run(sim, name="outage", connect_timeout="1m")
    assert result.get("failed") is True
    assert result["changed"] is True
    msg = result["msg"]
    assert msg.startswith("a write was sent and its outcome is unknown: the server may or may not have applied "
                          "it (HTTP 503"), msg
    assert "after a write was sent" in msg and "then: HTTP 503" in msg, msg
    assert "nothing was changed" not in msg, msg
    assert names(sim) == ["default"]  # the 503 came before processing: nothing stored


def test_a_write_answered_503_while_reads_work_fails_about_the_write_after_the_rounds(sim):
    sim.fault("http503", count=100, match="write")
    result = run(sim, name="outage", connect_timeout="1m")
    assert result.get("failed") is True and result["changed"] is True
    assert "HTTP 503" in result["msg"] and "after a write was sent" in result["msg"], result["msg"]
    assert sim.stats()["writes"] == 0  # every write was refused by the fault, none resent blindly:
    writes = [entry for entry in sim.log() if entry["class"] == "write"]
    assert len(writes) == 1 + FAST["retries"], "the first write and one per re-read round"


# --- a later chunk refused as a whole -----------------------------------------------------------


def test_a_refused_later_chunk_keeps_the_earlier_ones_in_changed_plan_and_applied(sim):
    sim.reset(objects=[{"name": "existing"}], limits={"maxObjectsInSet": 2})
    result = run(sim, token=CREATE_ONLY, strategies=[
        {"name": "new-1"}, {"name": "new-2"}, {"name": "existing", "connect_timeout": "1m"}])
    assert result.get("failed") is True
    assert result["changed"] is True
    assert result["plan"] == {"create": ["new-1", "new-2"], "update": {"existing": ["connect_timeout"]},
                              "delete": []}
    assert result["applied"] == {"create": ["new-1", "new-2"], "update": [], "delete": []}
    [failure] = result["failed_strategies"]
    assert failure["strategy"] == "existing" and failure["operation"] == "update"
    assert failure["error_type"] == "forbidden"
    assert failure["permission"] == "sysMtaConnectionStrategyUpdate"
    assert "sysMtaConnectionStrategyUpdate" in result["msg"] and "existing" in result["msg"], result["msg"]
    assert "1 of 3 changes were refused" in result["msg"] and "2 applied" in result["msg"], result["msg"]
    assert {item["name"] for item in result["strategies"]} == {"new-1", "new-2", "existing"}
    assert names(sim) == ["default", "existing", "new-1", "new-2"]


def test_a_token_without_any_set_permission_is_told_the_permission_for_what_was_sent(sim):
    sim.reset(objects=[{"name": "existing"}])
    result = run(sim, token=READONLY_TOKEN, name="existing", data_timeout="20m")
    assert result.get("failed") is True and result.get("changed", False) is False
    msg = result["msg"]
    assert "sysMtaConnectionStrategyUpdate" in msg, msg
    assert "Create" not in msg and "Destroy" not in msg, msg
    assert result["failed_strategies"][0]["permission"] == "sysMtaConnectionStrategyUpdate"


# --- reload only after an applied change; a refused reload says what stands ----------------


def test_no_reload_when_every_change_is_refused(sim):
    sim.refuse(["refused-1", "refused-2"])
    result = run(sim, reload=True, strategies=[{"name": "refused-1"}, {"name": "refused-2"}])
    assert result.get("failed") is True and result.get("changed", False) is False
    assert result["reloaded"] is False
    assert sim.stats()["reloads"] == 0
    assert "nothing was applied" in result["msg"], result["msg"]


def test_a_reload_follows_a_partly_applied_batch(sim):
    sim.refuse(["refused"])
    result = run(sim, reload=True, strategies=[{"name": "refused"}, {"name": "fine"}])
    assert result.get("failed") is True and result["changed"] is True
    assert result["reloaded"] is True and sim.stats()["reloads"] == 1
    assert result["applied"]["create"] == ["fine"]


def test_a_refused_reload_after_an_applied_change_says_the_change_stands(sim):
    result = run(sim, token=NO_RELOAD, reload=True, name="applied", connect_timeout="2m")
    assert result.get("failed") is True
    assert result["changed"] is True and result["reloaded"] is False
    msg = result["msg"]
    assert msg.startswith("the changes were applied, but the server refused to reload its settings"), msg
    assert "refused the change" not in msg, msg
    assert "stalwart.mail.reload_settings" in msg and "sysActionCreate" in msg, msg
    assert names(sim) == ["applied", "default"]
    assert result["strategy"]["connect_timeout"] == "2m"


def test_a_reload_refused_for_want_of_actionreloadsettings_names_that_permission(sim):
    """With sysActionCreate the server refuses the reload itself (forbidden, in notCreated), and
    its description names no permission: both modules now name actionReloadSettings."""
    result = run(sim, token=NO_RELOAD_ACTION, reload=True, name="applied")
    assert result.get("failed") is True and result["changed"] is True and result["reloaded"] is False
    assert "(forbidden)" in result["msg"] and "need the permission actionReloadSettings" in result["msg"], result
    reload = run_module("reload_settings", {"url": sim.url, "token": NO_RELOAD_ACTION, **FAST})
    assert reload.get("failed") is True, reload
    assert reload["msg"].startswith("the server refused to reload its settings (forbidden): "), reload["msg"]
    assert "need the permission actionReloadSettings" in reload["msg"], reload["msg"]
    assert reload["permission"] == "actionReloadSettings" and reload["error_type"] == "forbidden", reload
    assert sim.stats()["reloads"] == 0


def test_a_reload_is_one_request_after_the_writes(sim):
    result = run(sim, reload=True, strategies=[{"name": f"r-{index}"} for index in range(3)])
    assert result["changed"] is True and result["reloaded"] is True
    log = [entry["class"] for entry in sim.log()]
    assert log == ["session", "read", "write", "write"], log  # the last write is the reload alone
    assert sim.stats()["reloads"] == 1


# --- maxSizeRequest --------------------------------------------------------------------------------


def test_requests_stay_within_max_size_request(sim):
    # 1200 creates of ~140 bytes each: about 170 KB, which the object and call limits alone would
    # pack into one request; the size limit is set below that, so the writes must be cut by size
    limit = 100_000
    sim.reset(limits={"maxSizeRequest": limit})
    batch = [{"name": f"big-{index:04}", "description": "d" * 100} for index in range(1200)]
    result = run(sim, strategies=batch)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and len(result["strategies"]) == 1200
    stats = sim.stats()
    assert stats["objects_created"] == 1200
    # every request fitted (the simulator refuses larger ones with the server's limit error), and
    # the creates took as few requests as their size allows (one more at most, for the cut)
    assert stats["bytes_in"] > limit
    writes = [entry for entry in sim.log() if entry["class"] == "write"]
    assert 2 <= len(writes) <= -(-stats["bytes_in"] // limit) + 1, (len(writes), stats["bytes_in"])
    assert run(sim, strategies=batch)["changed"] is False


def test_a_strategy_too_large_for_one_request_is_refused_before_any_write(sim):
    sim.reset(limits={"maxSizeRequest": 5_000})
    result = run(sim, name="huge", description="d" * 6_000)
    assert result.get("failed") is True and result.get("changed", False) is False
    assert "'huge'" in result["msg"] and "maxSizeRequest" in result["msg"], result["msg"]
    assert sim.stats()["writes"] == 0


# --- host names as the server encodes them (UTS 46) -------------------------------------------------------

IDN = [
    ("straße.example.com", "xn--strae-oqa.example.com"),  # IDNA 2003 would say strasse.example.com
    ("ς.example.com", "xn--3xa.example.com"),  # final sigma; IDNA 2003: σ
    ("क्\u200dष.example.com", "xn--11b2ezcw70k.example.com"),  # ZWJ after a virama; IDNA 2003 drops it
    ("نامه\u200cای.example.com", "xn--mgba3gch31f060k.example.com"),  # ZWNJ; IDNA 2003 drops it
]


@pytest.mark.parametrize("given,stored", IDN, ids=["sharp-s", "final-sigma", "zwj", "zwnj"])
def test_idn_host_names_are_stored_as_the_server_encodes_them(sim, given, stored):
    result = run(sim, name="idn", ehlo_hostname=given, source_ips=[{"ip": "192.0.2.1", "ehlo_hostname": given}])
    assert not result.get("failed"), result.get("msg")
    [item] = [item for item in sim.objects() if item["name"] == "idn"]
    assert item["ehloHostname"] == stored
    assert item["sourceIps"]["0"]["ehloHostname"] == stored
    assert run(sim, name="idn", ehlo_hostname=given,
               source_ips=[{"ip": "192.0.2.1", "ehlo_hostname": given}])["changed"] is False


# --- a list or dict is not a description --------------------------------------------------------------------


@pytest.mark.parametrize("value", [["x", "y"], {"a": 1}], ids=["list", "dict"])
@pytest.mark.parametrize("option", ["description", "ehlo_hostname"])
def test_a_list_or_dict_value_is_refused_before_any_request_in_both_forms(sim, option, value):
    single = run(sim, name="typed", **{option: value})
    batch = run(sim, strategies=[{"name": "typed", option: value}])
    for result in (single, batch):
        assert result.get("failed") is True, result
        assert "typed" in result["msg"] and option in result["msg"], result["msg"]
        assert "expected a string" in result["msg"], result["msg"]
    assert sent(sim) == {"requests": 0, "posts": 0, "writes": 0}


# --- a long value is cut in messages --------------------------------------------------------------------


def test_a_quarter_megabyte_name_does_not_make_a_quarter_megabyte_message(sim):
    long_name = "n" * 250_000
    result = run(sim, name=long_name, ehlo_hostname="bad host!")
    assert result.get("failed") is True
    assert len(result["msg"]) < 2_000, len(result["msg"])
    assert "250000 characters" in result["msg"], result["msg"][:400]


# --- an empty names list, and options ignored with state: absent -----------------------------------------


def test_info_with_an_empty_names_list_returns_nothing_and_sends_nothing(sim):
    result = run_module(INFO, {"url": sim.url, "token": ADMIN_TOKEN, "names": []})
    assert result["strategies"] == [] and not result.get("failed")
    assert sent(sim)["requests"] == 0
    everything = run_module(INFO, {"url": sim.url, "token": ADMIN_TOKEN})
    assert [item["name"] for item in everything["strategies"]] == ["default"]


def test_value_options_with_state_absent_draw_a_warning(sim):
    sim.reset(objects=[{"name": "gone"}])
    result = run(sim, name="gone", state="absent", connect_timeout="1m")
    assert result["changed"] is True
    assert any("state is absent" in warning and "connect_timeout" in warning
               for warning in result.get("warnings", [])), result.get("warnings")
    batch = run(sim, strategies=[{"name": "other", "state": "absent", "description": "x"}])
    assert any("strategies[0]" in warning and "description" in warning for warning in batch.get("warnings", []))


# --- retries are visible ---------------------------------------------------------------------------------


def test_each_retry_is_a_warning_with_its_reason_and_the_result_counts_them(sim):
    sim.fault("http503", count=2, match="read")  # the first read and its first retry
    result = run(sim, name="patient", connect_timeout="1m")
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["retried_requests"] == 2
    retried = [text for text in result.get("warnings", []) if text.startswith("retrying POST ")]
    assert len(retried) == 2 and all("HTTP 503" in text for text in retried), result.get("warnings")
    assert "(retry 1 of 2)" in retried[0] and "(retry 2 of 2)" in retried[1]


def test_a_lost_write_says_why_the_module_reads_again(sim):
    sim.fault("drop_after", match="write")  # committed, answer lost: read again, nothing resent
    result = run(sim, name="lost-once", connect_timeout="1m")
    assert not result.get("failed") and result["changed"] is True, result.get("msg")
    assert any(text.startswith("a write's answer was lost (") and "reading the server's state again" in text
               for text in result.get("warnings", [])), result.get("warnings")
    assert result["retried_requests"] == 0  # the re-read is a new request, not a retry


def test_a_run_without_trouble_retries_nothing_and_warns_nothing(sim):
    result = run(sim, name="calm")
    assert result["changed"] is True and result["retried_requests"] == 0 and not result.get("warnings")


def test_a_key_without_authenticate_is_told_that_permission_and_nothing_is_read(sim):
    """Stalwart answers 403 at the session resource (and the JMAP endpoint) for an API key that
    lacks 'authenticate', whatever else it may do; the message names that permission."""
    before = sent(sim)
    result = run_module("mta_connection_strategy_info", {"url": sim.url, "token": NO_API, **FAST})
    assert result.get("failed") is True
    assert "HTTP 403" in result["msg"] and "needs the permission authenticate" in result["msg"], result["msg"]
    assert NO_API not in result["msg"]
    assert sent(sim)["posts"] == before["posts"]


# --- the outbound strategy after a lost answer; retries: 0 --------------------------------------


def run_outbound(sim, **args):
    return run_module("mta_outbound_strategy", {"url": sim.url, "token": ADMIN_TOKEN, **FAST, **args})


def test_an_outbound_update_whose_answer_was_lost_is_changed_even_when_the_server_then_fails(sim):
    """The update lands, its answer is lost, then the reads fail: the module cannot confirm it,
    and must not report 'nothing changed' (the role's rescue then reloads what may have landed)."""
    sim.fault("drop_after", match="write")
    sim.fault("http503", count=20, match="read", skip=1)  # the read before the write goes through
    result = run_outbound(sim, connection={"rules": [], "else": "default"}, tls={"rules": [], "else": "default"},
                          reload=True)
    assert result.get("failed") is True
    assert result["changed"] is True and result["unconfirmed"] == ["outbound strategy"], result
    assert "outcome is unknown" in result["msg"] and "nothing was changed" not in result["msg"], result["msg"]
    assert result["plan"] == {"update": ["tls"]}
    assert sim.dump()["outbound"]["tls"] == {"match": {}, "else": "'default'"}, "the update did land"
    assert sim.stats()["reloads"] == 0


def test_an_outbound_update_that_keeps_timing_out_is_changed_true(sim):
    sim.fault("http504", count=10, match="write")
    result = run_outbound(sim, tls={"rules": [], "else": "default"})
    assert result.get("failed") is True and result["changed"] is True, result
    assert "may or may not have applied it" in result["msg"], result["msg"]
    # the first, then one per round of read-and-write
    assert [entry["class"] for entry in sim.log()].count("write") == FAST["retries"] + 1


def test_an_outbound_update_refused_by_the_server_is_changed_false(sim):
    result = run_outbound(sim, connection={"rules": [{"if": "(", "then": "default"}], "else": "default"})
    assert result.get("failed") is True and result["changed"] is False, result


def test_with_retries_zero_a_lost_write_is_not_read_or_sent_again(sim):
    """retries: 0 means no retry: a write whose answer was lost fails at once, changed true and
    unconfirmed, with no second read and no second write."""
    sim.fault("http503", match="write")
    result = run(sim, name="once", retries=0)
    assert result.get("failed") is True and result["changed"] is True, result
    assert result["unconfirmed"] == ["once"]
    assert [entry["class"] for entry in sim.log()] == ["session", "read", "write"]
