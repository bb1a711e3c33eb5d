"""``stalwart.mail.mta_connection_strategy`` end to end: the module's tasks run in the test process
(``module_tasks``) over real HTTP against the simulator, in both dialects unless noted; what needs
Ansible's own output (a secret in ``-vvv`` output) runs a real ``ansible-playbook``.

Every test checks the module's result AND what the simulator stored and counted, so a module that
reports the right thing but writes the wrong thing (or writes when it says it did not) fails.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import (
    human,
    info_form,
    messages,
    set_calls,
    stored,
    strip_none,
    task,
    wire_strategy,
    without,
)
from tests.support import inproc
from tests.support.sim import NOOUTBOUND_TOKEN, READONLY_TOKEN

EMPTY_PLAN = {"create": [], "update": {}, "delete": []}


def norm_plan(plan):
    """The plan with option lists sorted (their order is not part of the contract)."""
    assert set(plan) == {"create", "update", "delete"}, plan
    return {"create": sorted(plan["create"]), "delete": sorted(plan["delete"]),
            "update": {name: sorted(options) for name, options in plan["update"].items()}}


def ok(result):
    assert not result.get("failed"), result.get("msg", result)
    return result


# --- create, re-run, reload ------------------------------------------------------------------------

BULK_INPUT = {
    "name": "bulk",
    "description": "Bulk mail via dedicated IPs",
    "ehlo_hostname": "MX.Bücher.Example.ORG",
    "source_ips": [
        {"ip": "2001:DB8::A", "ehlo_hostname": "MX-A.Example.org"},
        {"ip": "192.0.2.10"},
    ],
    "connect_timeout": "3m",
    "data_timeout": 900000,
    "rcpt_to_timeout": "90s",
}


def test_create_stores_the_wire_values_then_a_rerun_changes_nothing_and_reload_happens_once(any_sim, module_tasks):
    sim = any_sim
    outcome = module_tasks([
        task("create", {**BULK_INPUT, "reload": True}, sim=sim),
        task("again", {**BULK_INPUT, "reload": True}, sim=sim),
    ])
    create, again = ok(outcome.result("create")), ok(outcome.result("again"))
    server = stored(sim)
    assert sorted(server) == ["bulk", "default"]
    bulk = server["bulk"]
    assert without(bulk, "id") == {
        "name": "bulk",
        "description": "Bulk mail via dedicated IPs",
        "ehloHostname": "mx.xn--bcher-kva.example.org",
        "sourceIps": {
            "0": {"ehloHostname": "mx-a.example.org", "sourceIp": "2001:db8::a"},
            "1": {"ehloHostname": None, "sourceIp": "192.0.2.10"},
        },
        "connectTimeout": 180000, "dataTimeout": 900000, "ehloTimeout": 300000,
        "greetingTimeout": 300000, "mailFromTimeout": 300000, "rcptToTimeout": 90000,
    }
    # the module's report
    assert create["changed"] is True
    assert norm_plan(create["plan"]) == {"create": ["bulk"], "update": {}, "delete": []}
    assert strip_none(create["strategy"]) == info_form(
        "bulk", id=bulk["id"], description="Bulk mail via dedicated IPs",
        ehlo_hostname="mx.xn--bcher-kva.example.org",
        source_ips=[{"ip": "2001:db8::a", "ehlo_hostname": "mx-a.example.org"}, {"ip": "192.0.2.10"}],
        connect_timeout="3m", data_timeout="15m", rcpt_to_timeout="90s")
    # the re-run: no change, the same object, nothing written, no second reload
    assert again["changed"] is False
    assert norm_plan(again["plan"]) == EMPTY_PLAN
    assert again["strategy"] == create["strategy"]
    stats = sim.stats()
    assert set_calls(stats) == 1, stats
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (1, 0, 0)
    assert stats["reloads"] == 1, stats


def test_equivalent_spellings_and_reordered_source_ips_change_nothing(any_sim, module_tasks):
    sim = any_sim
    sim.reset(objects=[wire_strategy(
        sim, "pool", ehloHostname="mx.example.org",
        sourceIps={"0": {"ehloHostname": "a.example.org", "sourceIp": "192.0.2.1"},
                   "1": {"ehloHostname": None, "sourceIp": "2001:db8::a"},
                   "2": {"ehloHostname": "c.example.org", "sourceIp": "192.0.2.3"}})])
    before = stored(sim)
    reordered = [{"ip": "192.0.2.3", "ehlo_hostname": "c.example.org"},
                 {"source_ip": "2001:DB8:0::A"},
                 {"ip": "192.0.2.1", "ehlo_hostname": "A.Example.Org"}]
    spellings = ["5m", "300s", "300000ms", 300000, "5 M", "4m60s"]
    outcome = module_tasks(
        [task(f"connect_timeout {value!r}", {"name": "pool", "connect_timeout": value}, sim=sim)
         for value in spellings]
        + [task("reordered", {"name": "pool", "source_ips": reordered, "ehlo_hostname": "MX.Example.ORG"},
                sim=sim),
           task("all durations in other units", {"name": "pool", "data_timeout": "600s", "ehlo_timeout": "300000ms",
                                                 "greeting_timeout": 300000, "mail_from_timeout": "5m",
                                                 "rcpt_to_timeout": "5M"}, sim=sim),
           task("batch of the same", {"strategies": [{"name": "pool", "connect_timeout": "300s",
                                                      "source_ips": list(reversed(reordered))},
                                                     {"name": "default", "data_timeout": "10m"}]}, sim=sim)])
    for entry in outcome.results:
        result = ok(entry["result"])
        assert result["changed"] is False, (entry["task"], result.get("plan"))
        assert norm_plan(result["plan"]) == EMPTY_PLAN, entry["task"]
    stats = sim.stats()
    assert set_calls(stats) == 0 and stats["writes"] == 0, stats
    assert stored(sim) == before


def test_changing_one_option_writes_only_that_property_empty_values_clear_and_source_ips_replace(any_sim, module_tasks):
    sim = any_sim
    sim.reset(objects=[
        wire_strategy(sim, "bulk", description="Bulk", ehloHostname="mx.example.org", connectTimeout=120000,
                      sourceIps={"0": {"ehloHostname": "a.example.org", "sourceIp": "192.0.2.1"}}),
        wire_strategy(sim, "clearme", description="To be cleared", ehloHostname="mx.example.net",
                      dataTimeout=1200000),
        wire_strategy(sim, "grow", sourceIps={"0": {"ehloHostname": None, "sourceIp": "192.0.2.1"}}),
        wire_strategy(sim, "empty", sourceIps={"0": {"ehloHostname": None, "sourceIp": "192.0.2.9"}}),
    ])
    before = stored(sim)
    outcome = module_tasks([
        task("one option", {"name": "bulk", "connect_timeout": "2m30s", "description": "Bulk"}, sim=sim),
        task("clear", {"name": "clearme", "description": "", "ehlo_hostname": ""}, sim=sim),
        task("grow", {"name": "grow", "source_ips": [{"ip": "192.0.2.2", "ehlo_hostname": "b.example.org"},
                                                     {"ip": "192.0.2.1"}]}, sim=sim),
        task("empty", {"name": "empty", "source_ips": []}, sim=sim),
    ])
    one, clear = ok(outcome.result("one option")), ok(outcome.result("clear"))
    grow, empty = ok(outcome.result("grow")), ok(outcome.result("empty"))
    after = stored(sim)
    # source_ips: written whole, in the order given; [] clears
    assert after["grow"] == {**before["grow"], "sourceIps": {
        "0": {"ehloHostname": "b.example.org", "sourceIp": "192.0.2.2"},
        "1": {"ehloHostname": None, "sourceIp": "192.0.2.1"}}}
    assert after["empty"] == {**before["empty"], "sourceIps": {}}
    assert norm_plan(grow["plan"])["update"] == {"grow": ["source_ips"]}
    assert norm_plan(empty["plan"])["update"] == {"empty": ["source_ips"]}
    assert strip_none(grow["strategy"]["source_ips"]) == [{"ip": "192.0.2.2", "ehlo_hostname": "b.example.org"},
                                                          {"ip": "192.0.2.1"}]
    assert empty["strategy"]["source_ips"] == []
    assert after["bulk"] == {**before["bulk"], "connectTimeout": 150000}
    assert after["clearme"] == {**before["clearme"], "description": None, "ehloHostname": None}
    assert after["default"] == before["default"]
    assert one["changed"] is True and clear["changed"] is True
    assert norm_plan(one["plan"]) == {"create": [], "update": {"bulk": ["connect_timeout"]}, "delete": []}
    assert norm_plan(clear["plan"]) == {"create": [], "update": {"clearme": ["description", "ehlo_hostname"]},
                                        "delete": []}
    assert strip_none(one["strategy"]) == info_form(
        "bulk", id=before["bulk"]["id"], description="Bulk", ehlo_hostname="mx.example.org",
        source_ips=[{"ip": "192.0.2.1", "ehlo_hostname": "a.example.org"}], connect_timeout="150s")
    assert strip_none(clear["strategy"]) == info_form("clearme", id=before["clearme"]["id"], data_timeout="20m")
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (0, 4, 0), stats
    assert stats["reloads"] == 0


# --- rename, delete ----------------------------------------------------------------------------------


def test_rename_is_a_delete_plus_create_and_delete_of_an_absent_strategy_is_no_change(any_sim, module_tasks):
    sim = any_sim
    sim.reset(objects=[wire_strategy(sim, "old-name", connectTimeout=60000, description="renamed"),
                       wire_strategy(sim, "doomed")])
    old_id = stored(sim)["old-name"]["id"]
    outcome = module_tasks([
        task("rename", {"strategies": [{"name": "new-name", "connect_timeout": "1m", "description": "renamed"},
                                       {"name": "old-name", "state": "absent"}]}, sim=sim),
        task("delete", {"name": "doomed", "state": "absent"}, sim=sim),
        task("delete again", {"name": "doomed", "state": "absent"}, sim=sim),
        task("delete never existed", {"name": "never-existed", "state": "absent"}, sim=sim),
    ])
    rename = ok(outcome.result("rename"))
    delete, again, never = (ok(outcome.result(label)) for label in ("delete", "delete again", "delete never existed"))
    after = stored(sim)
    assert sorted(after) == ["default", "new-name"]
    assert after["new-name"]["id"] != old_id
    assert (after["new-name"]["connectTimeout"], after["new-name"]["description"]) == (60000, "renamed")
    assert rename["changed"] is True
    assert norm_plan(rename["plan"]) == {"create": ["new-name"], "update": {}, "delete": ["old-name"]}
    assert delete["changed"] is True
    assert norm_plan(delete["plan"]) == {"create": [], "update": {}, "delete": ["doomed"]}
    for result in (again, never):
        assert result["changed"] is False
        assert norm_plan(result["plan"]) == EMPTY_PLAN
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (1, 0, 2), stats


# --- check mode and diff ------------------------------------------------------------------------------

CHECK_TASKS = [
    ("single create", {"name": "fresh", "connect_timeout": "3m", "ehlo_hostname": "Fresh.Example.ORG",
                       "source_ips": [{"ip": "198.51.100.7", "ehlo_hostname": "out7.example.org"}]}),
    ("single update", {"name": "seeded", "data_timeout": "20m", "description": "now described"}),
    ("single delete", {"name": "victim", "state": "absent"}),
    ("batch", {"strategies": [{"name": "batch-new", "greeting_timeout": "45s"},
                              {"name": "batch-old", "mail_from_timeout": "2m"},
                              {"name": "batch-gone", "state": "absent"}]}),
]


def _seed_for_check(sim):
    sim.reset(objects=[wire_strategy(sim, name, description="seeded " + name)
                       for name in ("seeded", "victim", "batch-old", "batch-gone")])


def _drop_ids(value):
    if isinstance(value, dict):
        return {key: _drop_ids(item) for key, item in value.items() if key != "id"}
    if isinstance(value, list):
        return [_drop_ids(item) for item in value]
    return value


@pytest.fixture(scope="module", params=("server", "docs"))
def check_then_real(request, tmp_path_factory):
    """CHECK_TASKS in check+diff mode, then for real with diff, against a fresh simulator state;
    with the simulator's stats and objects after each. Shared by the check-mode and diff tests."""
    sim = request.getfixturevalue("_sim_" + request.param)
    _seed_for_check(sim)
    before = stored(sim)
    tasks = [task(label, args, sim=sim) for label, args in CHECK_TASKS]
    check = inproc.run_tasks(tasks, check=True, diff=True)
    check_stats, after_check = sim.stats(), stored(sim)
    real = inproc.run_tasks(tasks, diff=True)
    return {"before": before, "check": check, "check_stats": check_stats, "after_check": after_check,
            "real": real, "after": stored(sim)}


@pytest.mark.xdist_group("check_then_real")  # the module fixture runs once, on one worker
def test_check_mode_writes_nothing_and_predicts_what_the_real_run_returns(check_then_real):
    run = check_then_real
    stats = run["check_stats"]
    assert set_calls(stats) == 0 and stats["writes"] == 0, stats
    assert not any(name.endswith("/set") for name in stats["method_calls"]), stats["method_calls"]
    assert run["after_check"] == run["before"]
    check, real, before, after = run["check"], run["real"], run["before"], run["after"]
    assert sorted(after) == ["batch-new", "batch-old", "default", "fresh", "seeded"]
    for label, _args in CHECK_TASKS:
        predicted, done = ok(check.result(label)), ok(real.result(label))
        assert predicted["changed"] is True and done["changed"] is True, label
        assert norm_plan(predicted["plan"]) == norm_plan(done["plan"]), label
        key = "strategies" if label == "batch" else "strategy"
        assert strip_none(_drop_ids(predicted.get(key))) == strip_none(_drop_ids(done.get(key))), label
    # existing objects keep their id, also in the prediction
    assert check.result("single update")["strategy"]["id"] == before["seeded"]["id"]
    assert real.result("single create")["strategy"]["id"] == after["fresh"]["id"]
    # the prediction of a create holds the server defaults
    assert strip_none(_drop_ids(check.result("single create")["strategy"])) == _drop_ids(info_form(
        "fresh", connect_timeout="3m", ehlo_hostname="fresh.example.org",
        source_ips=[{"ip": "198.51.100.7", "ehlo_hostname": "out7.example.org"}]))
    assert norm_plan(check.result("batch")["plan"]) == {
        "create": ["batch-new"], "update": {"batch-old": ["mail_from_timeout"]}, "delete": ["batch-gone"]}
    assert after["fresh"]["connectTimeout"] == 180000 and after["batch-new"]["greetingTimeout"] == 45000
    assert after["seeded"] == {**before["seeded"], "dataTimeout": 1_200_000, "description": "now described"}


def _diff_sides(result, name):
    """(before, after) of strategy ``name`` in a result's diff, whatever the layout: one
    ``{before, after}`` for the strategy, ``{before: {name: …}, after: {name: …}}``, or a list."""
    diffs = result["diff"] if isinstance(result["diff"], list) else [result["diff"]]
    for diff in diffs:
        before, after = diff.get("before"), diff.get("after")
        for side in (before, after):
            if isinstance(side, dict) and side.get("name") == name:
                return before or {}, after or {}
        keyed = [side for side in (before, after) if isinstance(side, dict) and name in side]
        if keyed:
            return ((before or {}).get(name) or {}), ((after or {}).get(name) or {})
        for side in (before, after):  # a list of strategies
            if isinstance(side, list):
                b = next((item for item in before or [] if item.get("name") == name), {})
                a = next((item for item in after or [] if item.get("name") == name), {})
                if a or b:
                    return b, a
    raise AssertionError(f"no diff for {name!r}: {result['diff']}")


@pytest.mark.xdist_group("check_then_real")  # the module fixture runs once, on one worker
@pytest.mark.parametrize("which", ["check", "real"])
def test_diff_shows_whole_objects_for_create_and_delete_and_user_units(check_then_real, which):
    outcome = check_then_real[which]
    before, after = _diff_sides(ok(outcome.result("single create")), "fresh")
    assert not strip_none(before)
    assert after["connect_timeout"] == "3m"
    assert after["ehlo_hostname"] == "fresh.example.org"
    assert {key: after[key] for key in ("data_timeout", "ehlo_timeout", "greeting_timeout", "mail_from_timeout",
                                        "rcpt_to_timeout")} == {
        "data_timeout": "10m", "ehlo_timeout": "5m", "greeting_timeout": "5m", "mail_from_timeout": "5m",
        "rcpt_to_timeout": "5m"}
    assert strip_none(after["source_ips"]) == [{"ip": "198.51.100.7", "ehlo_hostname": "out7.example.org"}]
    before, after = _diff_sides(ok(outcome.result("single update")), "seeded")
    assert (before["data_timeout"], after["data_timeout"]) == ("10m", "20m")
    assert (before["description"], after["description"]) == ("seeded seeded", "now described")
    before, after = _diff_sides(ok(outcome.result("single delete")), "victim")
    assert before["name"] == "victim" and before["description"] == "seeded victim"
    assert before["connect_timeout"] == "5m" and before["data_timeout"] == "10m"
    assert not strip_none(after)
    batch = ok(outcome.result("batch"))
    assert _diff_sides(batch, "batch-new")[1]["greeting_timeout"] == "45s"
    assert [side["mail_from_timeout"] for side in _diff_sides(batch, "batch-old")] == ["5m", "2m"]
    assert _diff_sides(batch, "batch-gone")[0]["description"] == "seeded batch-gone"


@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
def test_ansible_playbook_shows_the_diff_with_the_default_callback(sim, ansible, check):
    _seed_for_check(sim)
    tasks = [task(label, args, sim=sim) for label, args in CHECK_TASKS]
    outcome = ansible(tasks, check=check, diff=True)
    assert outcome.rc == 0, outcome.output()
    assert _diff_sides(ok(outcome.result("batch")), "batch-new")[1]["greeting_timeout"] == "45s"
    # what the operator reads: the default stdout callback renders each task's diff
    for shown in ('"greeting_timeout": "45s"', '"connect_timeout": "3m"', '"description": "now described"'):
        assert shown in outcome.stdout, (shown, outcome.stdout)
    assert (sim.stats()["writes"] == 0) is check


# --- batch and purge ----------------------------------------------------------------------------------

GMAIL_OUTBOUND = {"connection": {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}},
                                 "else": "'default'"}}


def test_purge_keeps_strategies_the_outbound_expression_names_unless_forced(any_sim, module_tasks):
    sim = any_sim
    sim.reset(objects=[wire_strategy(sim, name) for name in ("bulk", "gmail", "stale-1", "stale-2")],
              outbound=GMAIL_OUTBOUND)
    ids = {name: item["id"] for name, item in stored(sim).items()}
    wanted = [{"name": "bulk", "connect_timeout": "2m"}, {"name": "fresh"}]
    outcome = module_tasks([
        task("purge", {"strategies": wanted, "purge": True}, sim=sim),
        task("purge again", {"strategies": wanted, "purge": True}, sim=sim),
        task("forced", {"strategies": wanted, "purge": True, "force": True}, sim=sim),
    ])
    purge, again, forced = (ok(outcome.result(label)) for label in ("purge", "purge again", "forced"))
    assert purge["changed"] is True
    assert norm_plan(purge["plan"]) == {"create": ["fresh"], "update": {"bulk": ["connect_timeout"]},
                                        "delete": ["stale-1", "stale-2"]}
    said = messages(purge)
    assert "gmail" in said and "default" in said, said
    assert again["changed"] is False and norm_plan(again["plan"]) == EMPTY_PLAN
    assert "gmail" in messages(again)
    assert forced["changed"] is True
    assert norm_plan(forced["plan"]) == {"create": [], "update": {}, "delete": ["default", "gmail"]}
    after = stored(sim)
    assert sorted(after) == ["bulk", "fresh"]
    assert after["bulk"]["id"] == ids["bulk"] and after["bulk"]["connectTimeout"] == 120000
    assert sorted(item["name"] for item in forced["strategies"]) == ["bulk", "fresh"]
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (1, 1, 4), stats


@pytest.mark.parametrize("check", [True, False])
def test_assume_present_counts_names_as_listed_for_purge_without_touching_them(sim, module_tasks, check):
    """The role's last step: only the items set absent, purge, and the list's other strategies as
    assume_present: those are neither purged (nor warned of) nor planned, in check mode and not."""
    sim.reset(objects=[wire_strategy(sim, name) for name in ("bulk", "gone", "stale")], outbound=GMAIL_OUTBOUND)
    outcome = module_tasks([task("deletes", {"strategies": [{"name": "gone", "state": "absent"}], "purge": True,
                                             "purge_keep": ["default"], "assume_present": ["bulk", "new-in-step-1"]},
                                 sim=sim)], check=check)
    result = ok(outcome.result("deletes"))
    assert norm_plan(result["plan"]) == {"create": [], "update": {}, "delete": ["gone", "stale"]}
    assert not [warning for warning in result.get("warnings") or [] if "bulk" in warning or "new-in" in warning]
    assert sorted(stored(sim)) == (["bulk", "default", "gone", "stale"] if check else ["bulk", "default"])


COMPUTED_OUTBOUND = {"connection": {
    "match": {"0": {"if": "is_local_domain(rcpt_domain)", "then": "'local-' + rcpt_domain"},
              "1": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}},
    "else": "rcpt_domain"}}


def test_purge_with_a_computed_connection_expression_deletes_nothing_unless_forced(sim, module_tasks):
    """An expression that computes the name ('local-' + rcpt_domain, rcpt_domain) may route to any
    strategy: purge cannot tell which are in use, so, as when the expression cannot be read, it
    deletes nothing and says why; force deletes them. (It once kept only the string literals,
    and deleted 'local-example.org' and 'yahoo.com', which mail was routed to.)"""
    sim.reset(objects=[wire_strategy(sim, name) for name in ("bulk", "gmail", "local-example.org", "yahoo.com")],
              outbound=COMPUTED_OUTBOUND)
    wanted = [{"name": "bulk"}]
    outcome = module_tasks([task("purge", {"strategies": wanted, "purge": True}, sim=sim)], check=True)
    predicted = ok(outcome.result("purge"))
    outcome = module_tasks([task("purge", {"strategies": wanted, "purge": True}, sim=sim)])
    result = ok(outcome.result("purge"))
    for one in (predicted, result):
        assert one["changed"] is False and norm_plan(one["plan"]) == EMPTY_PLAN
        said = messages(one)
        assert "purge deleted nothing" in said and "computes a strategy name" in said, said
        assert "connection.rules[0].then_expr" in said and "local-example.org" in said, said
    assert sorted(stored(sim)) == ["bulk", "default", "gmail", "local-example.org", "yahoo.com"]
    forced = module_tasks([task("forced", {"strategies": wanted, "purge": True, "force": True}, sim=sim)])
    result = ok(forced.result("forced"))
    assert norm_plan(result["plan"])["delete"] == ["default", "gmail", "local-example.org", "yahoo.com"]
    assert "may use are deleted too" in messages(result)
    assert sorted(stored(sim)) == ["bulk"]


def test_purge_reads_the_names_of_the_connection_expression_as_the_server_does(sim, module_tasks):
    """Stalwart's tokenizer keeps a backslash in a string literal, and the character after it
    does not end the string: 'we\\'ird' routes to the strategy named we\\'ird, backslash
    included, which purge must keep (it once read it as we'ird and deleted the routed one)."""
    routed = "we\\'ird"
    sim.reset(objects=[wire_strategy(sim, name) for name in (routed, "we'ird", "stale")],
              outbound={"connection": {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'we\\'ird'"}},
                                       "else": "'default'"}})
    outcome = module_tasks([task("purge", {"strategies": [{"name": "bulk"}], "purge": True}, sim=sim)])
    result = ok(outcome.result("purge"))
    assert norm_plan(result["plan"]) == {"create": ["bulk"], "update": {}, "delete": ["stale", "we'ird"]}
    assert sorted(stored(sim)) == sorted(["bulk", "default", routed])


@pytest.mark.parametrize("check", [True, False])
def test_a_strategy_set_absent_that_mail_is_routed_to_is_deleted_with_a_warning(sim, module_tasks, check):
    """state: absent is the operator's own request, and the strategy goes; but deliveries routed to
    it would now leave with built-in defaults, so the run says so, in check mode too. One that no
    route names goes without a word; the outbound strategy is read in the same request."""
    sim.reset(objects=[wire_strategy(sim, name) for name in ("gmail", "unrouted")], outbound=GMAIL_OUTBOUND)
    outcome = module_tasks([task("single", {"name": "gmail", "state": "absent"}, sim=sim),
                            task("batch", {"strategies": [{"name": "unrouted", "state": "absent"}]}, sim=sim)],
                           check=check)
    single, batch = ok(outcome.result("single")), ok(outcome.result("batch"))
    assert single["changed"] is True and norm_plan(single["plan"])["delete"] == ["gmail"]
    assert any("'gmail' is deleted (state: absent), though the outbound strategy's connection expression routes to it"
               in warning for warning in single.get("warnings") or []), single
    assert not batch.get("warnings"), batch
    assert sorted(stored(sim)) == (["default", "gmail", "unrouted"] if check else ["default"])
    assert sim.stats()["posts"] == (2 if check else 4)  # each run: one read (with the outbound), one write


def test_purge_without_the_outbound_permission_deletes_nothing_and_says_why(sim, module_tasks):
    sim.reset(objects=[wire_strategy(sim, name) for name in ("bulk", "stale")], outbound=GMAIL_OUTBOUND)
    outcome = module_tasks([
        task("purge", {"token": NOOUTBOUND_TOKEN, "strategies": [{"name": "bulk"}], "purge": True}, sim=sim),
    ])
    result = outcome.result("purge")
    said = messages(result)
    assert "sysMtaOutboundStrategyGet" in said, said
    if not result.get("failed"):
        assert norm_plan(result["plan"])["delete"] == []
    assert sorted(stored(sim)) == ["bulk", "default", "stale"]
    assert sim.stats()["objects_destroyed"] == 0
    forced = module_tasks([task("forced", {"token": NOOUTBOUND_TOKEN, "strategies": [{"name": "bulk"}], "purge": True,
                                           "force": True}, sim=sim)])
    assert norm_plan(ok(forced.result("forced"))["plan"])["delete"] == ["default", "stale"]
    assert sorted(stored(sim)) == ["bulk"]


def test_batch_converges_many_strategies_in_few_requests(any_sim, module_tasks):
    sim = any_sim
    sim.reset(objects=[wire_strategy(sim, f"keep-{index:02}", connectTimeout=60000) for index in range(30)])
    strategies = ([{"name": f"keep-{index:02}", "connect_timeout": "1m" if index % 2 else "2m"} for index in range(30)]
                  + [{"name": f"new-{index:02}", "source_ips": [{"ip": f"192.0.2.{index + 1}"}]}
                     for index in range(30)])
    outcome = module_tasks([task("batch", {"strategies": strategies}, sim=sim)])
    result = ok(outcome.result("batch"))
    plan = norm_plan(result["plan"])
    assert plan["create"] == [f"new-{index:02}" for index in range(30)]
    assert plan["update"] == {f"keep-{index:02}": ["connect_timeout"] for index in range(0, 30, 2)}
    assert plan["delete"] == []
    after = stored(sim)
    assert len(after) == 61
    assert after["keep-04"]["connectTimeout"] == 120000 and after["keep-05"]["connectTimeout"] == 60000
    assert after["new-07"]["sourceIps"] == {"0": {"ehloHostname": None, "sourceIp": "192.0.2.8"}}
    assert [item["name"] for item in result["strategies"]] == [item["name"] for item in strategies]
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"]) == (30, 15), stats
    assert stats["posts"] <= 6, stats


# --- permissions and authentication (server dialect) ------------------------------------------------


def test_read_only_token_fails_on_write_naming_the_permission_but_check_mode_and_info_work(sim, module_tasks):
    sim.reset(objects=[wire_strategy(sim, "existing")])
    ro = {"token": READONLY_TOKEN}
    outcome = module_tasks([
        task("create", {**ro, "name": "new", "connect_timeout": "1m"}, sim=sim),
        task("update", {**ro, "name": "existing", "connect_timeout": "1m"}, sim=sim),
        task("delete", {**ro, "name": "existing", "state": "absent"}, sim=sim),
        task("check create", {**ro, "name": "new", "connect_timeout": "1m"}, sim=sim, check_mode=True),
        task("info", {**ro}, sim=sim, module="stalwart.mail.mta_connection_strategy_info"),
    ])
    for label, permission in (("create", "sysMtaConnectionStrategyCreate"),
                              ("update", "sysMtaConnectionStrategyUpdate"),
                              ("delete", "sysMtaConnectionStrategyDestroy")):
        result = outcome.result(label)
        assert result.get("failed") is True, (label, result)
        assert permission in result["msg"], (label, result["msg"])
        assert result.get("changed") is not True
    check = ok(outcome.result("check create"))
    assert check["changed"] is True and norm_plan(check["plan"])["create"] == ["new"]
    info = ok(outcome.result("info"))
    assert [item["name"] for item in info["strategies"]] == ["default", "existing"]
    assert sorted(stored(sim)) == ["default", "existing"]
    stats = sim.stats()
    assert (stats["objects_created"], stats["objects_updated"], stats["objects_destroyed"]) == (0, 0, 0)


def test_wrong_token_fails_with_401_and_the_token_shows_nowhere(sim, ansible):
    wrong = "Wr0ngT0ken-q7ZpX2vLk9"
    outcome = ansible([
        task("module", {"token": wrong, "name": "x", "connect_timeout": "1m"}, sim=sim),
        task("info", {"token": wrong}, sim=sim, module="stalwart.mail.mta_connection_strategy_info"),
    ], verbosity=3, diff=True)
    for label in ("module", "info"):
        result = outcome.result(label)
        assert result.get("failed") is True, result
        assert "401" in result["msg"], result["msg"]
    assert wrong not in outcome.stdout
    assert wrong not in outcome.stderr
    assert wrong not in json.dumps(outcome.results)
    assert sorted(stored(sim)) == ["default"]


# --- bad input --------------------------------------------------------------------------------------

BAD_INPUT = [
    # id, module args, words the message must hold (strategy name, option)
    ("bad ip", {"name": "bad-ip", "source_ips": [{"ip": "192.0.2.300"}]}, ["bad-ip", "192.0.2.300"]),
    ("unspecified ip", {"name": "zero-ip", "source_ips": [{"ip": "0.0.0.0"}]}, ["zero-ip", "0.0.0.0"]),
    ("zero duration", {"name": "zero-duration", "connect_timeout": 0}, ["zero-duration", "connect_timeout"]),
    ("unknown unit", {"name": "bad-unit", "data_timeout": "5x"}, ["bad-unit", "data_timeout", "5x"]),
    ("empty name", {"name": ""}, ["name"]),
    ("empty name in batch", {"strategies": [{"name": "fine"}, {"name": ""}]}, ["name"]),
    ("duplicate names", {"strategies": [{"name": "dup"}, {"name": "other"}, {"name": "dup"}]}, ["dup"]),
    ("purge without strategies", {"name": "single", "purge": True}, ["purge", "strategies"]),
    ("bad ip in batch", {"strategies": [{"name": "fine"},
                                        {"name": "batch-bad-ip", "source_ips": [{"ip": "not-an-ip"}]}]},
     ["batch-bad-ip", "not-an-ip"]),
]


@pytest.fixture(scope="module")
def bad_input_outcome(_sim_server, tmp_path_factory):
    sim = _sim_server
    sim.reset()
    outcome = inproc.run_tasks([task(case_id, args, sim=sim) for case_id, args, _words in BAD_INPUT])
    return outcome, sim.stats(), stored(sim)


@pytest.mark.xdist_group("strategy_bad_input")  # the module fixture runs once, on one worker
@pytest.mark.parametrize("case_id,args,words", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_fails_naming_the_strategy_and_option(bad_input_outcome, case_id, args, words):
    result = bad_input_outcome[0].result(case_id)
    assert result.get("failed") is True, result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert result.get("changed") is not True


@pytest.mark.xdist_group("strategy_bad_input")  # the module fixture runs once, on one worker
def test_bad_input_fails_before_any_request(bad_input_outcome):
    stats, server = bad_input_outcome[1:]
    assert stats["requests"] == 0, stats
    assert sorted(server) == ["default"]


def test_duration_spellings_are_parsed_as_documented(any_sim, module_tasks):
    """Every accepted spelling lands as the same milliseconds on the wire, in the dialect's form."""
    sim = any_sim
    cases = {"ms": ("1500ms", 1500), "compound": ("1h30m", 5_400_000), "days": ("2d", 172_800_000),
             "int": (45000, 45000), "spaces": (" 2 M ", 120_000), "upper": ("90S", 90_000)}
    outcome = module_tasks([task("batch", {"strategies": [{"name": f"d-{key}", "connect_timeout": value}
                                                          for key, (value, _ms) in cases.items()]}, sim=sim)])
    result = ok(outcome.result("batch"))
    server = stored(sim)
    assert {key: server[f"d-{key}"]["connectTimeout"] for key in cases} == {key: ms for key, (_value, ms) in cases.items()}
    returned = {item["name"]: item["connect_timeout"] for item in result["strategies"]}
    assert returned == {f"d-{key}": human(ms) for key, (_value, ms) in cases.items()}


@pytest.mark.parametrize("case", ["no-outbound-permission", "computed-expression"])
def test_purge_keep_decides_when_the_servers_expression_cannot_be_checked(sim, module_tasks, case):
    """purge_keep also keeps what the server's expression routes to by the time purge reads it (another
    host may have written it). Where that expression cannot be read, or computes a name, purge
    deleted nothing, force or not, though check mode (which does not read it) predicted the
    deletes: purge_keep now decides, as in check mode, with a warning."""
    outbound = GMAIL_OUTBOUND if case == "no-outbound-permission" else {
        "connection": {"match": {"0": {"if": "true", "then": "'a-' + rcpt_domain"}}, "else": "'default'"}}
    sim.reset(objects=[wire_strategy(sim, name) for name in ("a", "b")], outbound=outbound)
    token = {"token": NOOUTBOUND_TOKEN} if case == "no-outbound-permission" else {}
    args = dict(token, strategies=[{"name": "a"}], purge=True, purge_keep=["a", "default"])
    predicted = ok(module_tasks([task("purge", args, sim=sim)], check=True).result("purge"))
    result = ok(module_tasks([task("purge", args, sim=sim)]).result("purge"))
    assert norm_plan(predicted["plan"])["delete"] == norm_plan(result["plan"])["delete"] == ["b"], (predicted, result)
    assert any("could not check what the server's connection expression routes to" in warning
               for warning in result.get("warnings") or []), result
    assert sorted(stored(sim)) == ["a", "default"]
