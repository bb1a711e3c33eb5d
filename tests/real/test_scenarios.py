"""The contract's promises, through the collection's real entry points (playbooks with the modules
and the role), against the simulator and against a real Stalwart server (``backend``, see
``conftest.py``). Each outcome is read back from the server with raw JMAP and each request count
comes from the counting proxy in front of it, never from the module's own report alone.
"""

from __future__ import annotations

import threading

import pytest

from tests.integration.test_request_counts import expected_cost
from tests.real.conftest import PREFIX
from tests.real.proxy import CountingProxy
from tests.real.server import bearer, http
from tests.support.ansible import run_playbook, run_tasks

MODULE = "stalwart.mail.mta_connection_strategy"
INFO = "stalwart.mail.mta_connection_strategy_info"
ROLE = "stalwart.mail.mta_connection_strategies"
DEFAULTS = {"connectTimeout": 300000, "dataTimeout": 600000, "ehloTimeout": 300000, "greetingTimeout": 300000,
            "mailFromTimeout": 300000, "rcptToTimeout": 300000}


def named(name):
    return PREFIX + name


def task(backend, label, args, module=MODULE, auth="token", **keywords):
    return {"name": label, module: {**backend.connection(auth), **args}, "ignore_errors": True, **keywords}


def run(backend, tmp_path, tasks, **kwargs):
    backend.proxy.reset()
    return run_tasks(tmp_path, tasks, **kwargs)


def wire(backend, name):
    """One strategy as the server stores it, without its id."""
    item = dict(backend.strategies()[named(name)])
    item.pop("id")
    return item


# --- create, update, delete; a second run writes nothing --------------------------------------------


def test_create_update_delete_each_then_a_second_run_writes_nothing(backend, tmp_path):
    strategy = {"name": named("life"), "description": "first", "ehlo_hostname": "MX.Example.ORG",
                "connect_timeout": "3m", "source_ips": [{"ip": "192.0.2.10", "ehlo_hostname": "mx10.example.org"},
                                                        {"ip": "2001:DB8::A"}]}
    outcome = run(backend, tmp_path, [task(backend, "create", strategy), task(backend, "again", strategy)])
    assert outcome.status("create") == "changed" and outcome.status("again") == "ok", outcome.output()
    assert backend.proxy.counts()["writes"] == 1
    assert wire(backend, "life") == {
        "name": named("life"), "description": "first", "ehloHostname": "mx.example.org",
        "sourceIps": {"0": {"ehloHostname": "mx10.example.org", "sourceIp": "192.0.2.10"},
                      "1": {"ehloHostname": None, "sourceIp": "2001:db8::a"}},
        **DEFAULTS, "connectTimeout": 180000}

    update = {"name": named("life"), "description": "second", "data_timeout": "15m",
              "source_ips": [{"ip": "192.0.2.11"}]}
    outcome = run(backend, tmp_path, [task(backend, "update", update), task(backend, "again", update)])
    assert outcome.status("update") == "changed" and outcome.status("again") == "ok", outcome.output()
    assert outcome.result("update")["plan"]["update"] == {named("life"): ["description", "source_ips", "data_timeout"]}
    assert backend.proxy.counts()["writes"] == 1
    stored = wire(backend, "life")
    assert (stored["description"], stored["dataTimeout"], stored["connectTimeout"]) == ("second", 900000, 180000)
    assert stored["sourceIps"] == {"0": {"ehloHostname": None, "sourceIp": "192.0.2.11"}}

    gone = {"name": named("life"), "state": "absent"}
    outcome = run(backend, tmp_path, [task(backend, "delete", gone), task(backend, "again", gone)])
    assert outcome.status("delete") == "changed" and outcome.status("again") == "ok", outcome.output()
    assert backend.proxy.counts()["writes"] == 1
    assert named("life") not in backend.strategies()


# --- equivalent spellings are no change ----------------------------------------------------------------

CANONICAL = {"description": "pool", "ehlo_hostname": "straße.example.com", "connect_timeout": 300000,
             "data_timeout": "90s", "ehlo_timeout": "1h30m",
             "source_ips": [{"ip": "2001:db8::a", "ehlo_hostname": "ΟΔΟΣ.example.com"},
                            {"ip": "192.0.2.10", "ehlo_hostname": "mx.example.org"},
                            {"ip": "::ffff:192.0.2.9", "ehlo_hostname": "x.example.org"}]}
EQUIVALENT = [
    ("durations in other units", {"connect_timeout": "5m", "data_timeout": 90000, "ehlo_timeout": "90m"}),
    ("durations with spaces and case", {"connect_timeout": " 5 M ", "data_timeout": "90000ms",
                                        "ehlo_timeout": "5400S"}),
    ("durations as compounds", {"connect_timeout": "4m60s", "ehlo_timeout": "1h 1800s"}),
    ("host name in upper case, A-label and capital sharp s", {"ehlo_hostname": "XN--STRAE-OQA.Example.COM"}),
    ("host name with a capital sharp s", {"ehlo_hostname": "STRAẞE.EXAMPLE.COM"}),
    ("source IPs reordered, IPv6 written out", {"source_ips": [
        {"ip": "192.0.2.10", "ehlo_hostname": "MX.example.org"},
        {"ip": "::FFFF:C000:0209", "ehlo_hostname": "x.example.org"},
        {"ip": "2001:0DB8:0000:0000:0000:0000:0000:000A", "ehlo_hostname": "οδοσ.EXAMPLE.com"}]}),
    ("source IPs with the alias", {"source_ips": [
        {"source_ip": "2001:db8:0:0::a", "ehlo_hostname": "ΟΔΟΣ.example.com"},
        {"source_ip": "192.0.2.10", "ehlo_hostname": "mx.example.org"},
        {"source_ip": "::ffff:192.0.2.9", "ehlo_hostname": "x.example.org"}]}),
]


def test_equivalent_spellings_are_stored_once_and_never_change_anything(backend, tmp_path):
    first = run(backend, tmp_path, [task(backend, "create", {"name": named("same"), **CANONICAL})])
    assert first.status("create") == "changed", first.output()
    stored = wire(backend, "same")
    # the server's own form: UTS 46 A-labels (ß kept, a capital sigma lower-cased letter by letter,
    # so a final one is σ, not ς), canonical IPs, integer milliseconds
    assert stored["ehloHostname"] == "xn--strae-oqa.example.com"
    assert stored["sourceIps"]["0"] == {"ehloHostname": "xn--pxavbq.example.com", "sourceIp": "2001:db8::a"}
    assert stored["sourceIps"]["2"]["sourceIp"] == "::ffff:192.0.2.9"
    assert (stored["connectTimeout"], stored["dataTimeout"], stored["ehloTimeout"]) == (300000, 90000, 5400000)
    tasks = [task(backend, label, {"name": named("same"), **CANONICAL, **values}) for label, values in EQUIVALENT]
    outcome = run(backend, tmp_path, tasks)
    for label, _values in EQUIVALENT:
        assert outcome.status(label) == "ok", (label, outcome.result(label))
    assert backend.proxy.counts()["writes"] == 0
    assert wire(backend, "same") == stored


def test_empty_string_clears_and_a_left_out_option_stays(backend, tmp_path):
    full = {"name": named("clear"), "description": "d", "ehlo_hostname": "mx.example.org",
            "source_ips": [{"ip": "192.0.2.1"}], "greeting_timeout": "2m"}
    outcome = run(backend, tmp_path, [
        task(backend, "create", full),
        task(backend, "left out", {"name": named("clear")}),
        task(backend, "clear", {"name": named("clear"), "description": "", "ehlo_hostname": "", "source_ips": []}),
        task(backend, "clear again", {"name": named("clear"), "description": "", "ehlo_hostname": "",
                                      "source_ips": []}),
    ])
    assert [outcome.status(label) for label in ("create", "left out", "clear", "clear again")] == \
        ["changed", "ok", "changed", "ok"], outcome.output()
    stored = wire(backend, "clear")
    assert (stored["description"], stored["ehloHostname"], stored["sourceIps"]) == (None, None, {})
    assert stored["greetingTimeout"] == 120000


def test_a_host_name_dns_cannot_carry_that_the_server_stores_pastes_back_with_a_warning(backend, tmp_path):
    """The server stores EHLO names that DNS cannot carry. One made by other means (raw JMAP here)
    comes out of the info module as stored; pasted back it changes nothing, and the module warns,
    naming the strategy and the option."""
    name = named("foreign")
    answer = backend.call("x:MtaConnectionStrategy/set", {"create": {"f": {
        "name": name, "ehloHostname": "a.b-.com",
        "sourceIps": {"0": {"sourceIp": "192.0.2.7", "ehloHostname": "m!x.example.org"}}}}})
    assert "f" in answer.get("created", {}), answer
    outcome = run(backend, tmp_path, [
        {"name": "read", INFO: {**backend.connection(), "names": [name]}, "register": "read"},
        task(backend, "paste", {"strategies": "{{ read.strategies }}"}),
        task(backend, "write anew", {"name": named("fresh"), "ehlo_hostname": "-MX.example.org"}),
    ])
    pasted = outcome.result("paste")
    assert pasted.get("failed") is not True and pasted["changed"] is False, pasted
    assert pasted["warnings"] == [
        f"strategies[0] ('{name}'): strategies[0].ehlo_hostname: 'a.b-.com' has a label that starts or ends with '-', "
        "so DNS cannot carry it: receivers refuse or distrust such an EHLO name; written as given, since the server "
        "accepts it",
        f"strategies[0] ('{name}'): strategies[0].source_ips[0].ehlo_hostname: 'm!x.example.org' has a label with "
        "characters other than letters, digits, '-' and '_', so DNS cannot carry it: receivers refuse or distrust "
        "such an EHLO name; written as given, since the server accepts it"], pasted["warnings"]
    fresh = outcome.result("write anew")
    assert fresh["changed"] is True and len(fresh["warnings"]) == 1 and "'-mx.example.org'" in fresh["warnings"][0]
    assert wire(backend, "fresh")["ehloHostname"] == "-mx.example.org"
    assert backend.proxy.counts()["writes"] == 1


@pytest.mark.parametrize("value", ["mx.example.org.", "mx..example.org", "localhost", "mx.example.notatld",
                                   " 192.0.2.1", "a\u200db.example.org"])
def test_what_the_server_refuses_is_refused_before_any_request(backend, tmp_path, value):
    outcome = run(backend, tmp_path, [task(backend, "bad", {"name": named("bad"), "ehlo_hostname": value})])
    result = outcome.result("bad")
    assert result["failed"] is True and "ehlo_hostname" in result["msg"], result
    assert backend.proxy.counts()["requests"] == 0
    # and the server itself refuses the value, which is why the collection does
    answer = backend.call("x:MtaConnectionStrategy/set", {"create": {"x": {"name": named("raw"), "ehloHostname": value}}})
    assert "x" in answer.get("notCreated", {}), answer


# --- check mode predicts the real run ----------------------------------------------------------------------


def test_check_mode_writes_nothing_and_predicts_the_real_run_defaults_included(backend, tmp_path):
    run(backend, tmp_path, [task(backend, "seed", {"name": named("upd"), "description": "old"})])
    batch = {"strategies": [{"name": named("new"), "data_timeout": "20m", "ehlo_hostname": "Ünï.example.org"},
                            {"name": named("upd"), "description": "new", "source_ips": [{"ip": "192.0.2.5"}]}]}
    predicted = run(backend, tmp_path, [task(backend, "predict", batch)], check=True, diff=True)
    assert backend.proxy.counts()["writes"] == 0
    assert named("new") not in backend.strategies()
    done = run(backend, tmp_path, [task(backend, "apply", batch)], diff=True)
    guess, real = predicted.result("predict"), done.result("apply")
    assert guess["changed"] is real["changed"] is True
    assert guess["plan"] == real["plan"]
    assert [dict(item, id=None) for item in guess["strategies"]] == [dict(item, id=None) for item in real["strategies"]]
    assert guess["diff"]["before"] == real["diff"]["before"]
    stored = wire(backend, "new")
    assert stored == {"name": named("new"), "description": None, "ehloHostname": "xn--n-nga1b.example.org",
                      "sourceIps": {}, **DEFAULTS, "dataTimeout": 1200000}


def test_a_strategy_the_server_holds_with_a_long_description_takes_an_update(backend, tmp_path):
    """The server stores 200,000 bytes of an object compressed: a 250,000-letter description made
    through its API is held, and an update of a timeout is taken. The collection measures the
    object uncompressed, and once refused that update for a description the task never gave."""
    answer = backend.call("x:MtaConnectionStrategy/set", {"create": {"l": {"name": named("long"),
                                                                           "description": "d" * 250_000}}})
    if backend.kind == "sim":
        # the simulator measures uncompressed and refuses it (docs/simulator.md): nothing to update
        assert "exceeds maximum of 200000" in str(answer.get("notCreated")), answer
        return
    assert "l" in answer.get("created", {}), answer
    outcome = run(backend, tmp_path, [task(backend, "update", {"name": named("long"), "connect_timeout": "1m"})])
    assert outcome.status("update") == "changed", outcome.output()
    stored = wire(backend, "long")
    assert stored["connectTimeout"] == 60000 and len(stored["description"]) == 250_000


# --- purge and the outbound strategy ---------------------------------------------------------------------------


def test_purge_keeps_what_the_real_outbound_connection_routes_to(throwaway, tmp_path):
    backend = throwaway
    routed, other, kept = named("routed"), named("other"), named("kept")
    run(backend, tmp_path, [task(backend, "seed", {"strategies": [{"name": routed}, {"name": other}]})])
    backend.set_connection({"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": f"'{routed}'"}},
                            "else": "'default'"})
    outcome = run(backend, tmp_path, [task(backend, "purge", {"strategies": [{"name": kept}], "purge": True})])
    result = outcome.result("purge")
    assert result["changed"] is True, result
    assert result["plan"] == {"create": [kept], "update": {}, "delete": [other]}
    assert any(routed in warning and "connection expression" in warning for warning in result["warnings"])
    assert sorted(backend.strategies()) == sorted(["default", kept, routed])


def test_purge_deletes_nothing_while_the_real_connection_computes_its_strategy_name(throwaway, tmp_path):
    """'local-' + rcpt_domain may name any strategy: purge deletes nothing, says why, and with
    force deletes (it once deleted the strategy mail was routed to, keeping only "local-")."""
    backend = throwaway
    local, other, kept = named("local-example.org"), named("other"), named("kept")
    run(backend, tmp_path, [task(backend, "seed", {"strategies": [{"name": local}, {"name": other}]})])
    prefix = local[:-len("example.org")]
    backend.set_connection({"match": {"0": {"if": "is_local_domain(rcpt_domain)", "then": f"'{prefix}' + rcpt_domain"}},
                            "else": "'default'"})
    outcome = run(backend, tmp_path, [task(backend, "purge", {"strategies": [{"name": kept}], "purge": True})])
    result = outcome.result("purge")
    assert result["plan"] == {"create": [kept], "update": {}, "delete": []}, result
    assert any("computes a strategy name" in warning and local in warning for warning in result["warnings"]), result
    assert sorted(backend.strategies()) == sorted(["default", kept, local, other])
    outcome = run(backend, tmp_path, [task(backend, "forced", {"strategies": [{"name": kept}], "purge": True,
                                                               "force": True})])
    assert outcome.result("forced")["plan"]["delete"] == sorted(["default", local, other]), outcome.output()
    assert sorted(backend.strategies()) == [kept]


def test_a_server_that_caps_each_query_page_lower_is_still_read_whole(throwaway, tmp_path):
    """Stalwart's queryMaxResults (x:Jmap, 5000 by default, not in the session) caps each /query
    page: set to 3 below the 500 of maxObjectsInGet, info lists every strategy and one purge run
    deletes every unlisted one (paging by 500 once skipped all but the first page of each 500)."""
    backend = throwaway
    names = [named(f"page-{index:02}") for index in range(10)]
    run(backend, tmp_path, [task(backend, "seed", {"strategies": [{"name": name} for name in names]})])
    with backend.jmap_limits(queryMaxResults=3):
        assert len(backend.jmap([["x:MtaConnectionStrategy/query", {"limit": 500}, "q"]])[0][1]["ids"]) == 3
        purge = {"strategies": [{"name": names[0]}], "purge": True}
        outcome = run(backend, tmp_path, [task(backend, "info", {}, module=INFO), task(backend, "purge", purge),
                                          task(backend, "again", purge)])
    listed = [item["name"] for item in outcome.result("info")["strategies"]]
    assert listed == sorted(["default", *names]), outcome.output()
    assert outcome.result("purge")["plan"]["delete"] == names[1:], outcome.output()
    assert outcome.status("again") == "ok", outcome.output()
    assert sorted(backend.strategies()) == sorted(["default", names[0]])


def test_the_servers_condition_number_is_named_as_the_module_rule(backend, tmp_path):
    """Stalwart numbers an expression's rules from 1 in its refusal; the message says which rules[]."""
    rules = [{"if": "rcpt_domain == 'a.example'", "then": "default"},
             {"if": "rcpt_domain == 'b.example'", "then_expr": "'unterminated"}]
    outcome = run(backend, tmp_path, [task(backend, "bad", {"tls": {"rules": rules, "else": "default"}},
                                           module="stalwart.mail.mta_outbound_strategy")])
    result = outcome.result("bad")
    assert outcome.status("bad") == "failed", outcome.output()
    assert "condition #2 is tls.rules[1]: its then or then_expr" in result["msg"], result["msg"]


def test_an_outbound_strategy_too_large_as_a_whole_is_refused_naming_its_size(throwaway, tmp_path):
    """The four expressions are one object of at most 200,000 stored bytes: 2,500 rules of random
    domains in route are taken, 2,500 more in connection are refused, and the message says that
    they count together."""
    import hashlib  # pylint: disable=import-outside-toplevel

    backend = throwaway
    rules = [{"if": f"rcpt_domain == '{hashlib.sha256(str(index).encode()).hexdigest()[:40]}.example'",
              "then": "default"} for index in range(2500)]
    outcome = run(backend, tmp_path, [
        task(backend, "route", {"route": {"rules": rules, "else": "mx"}}, module="stalwart.mail.mta_outbound_strategy"),
        task(backend, "connection", {"connection": {"rules": rules, "else": "default"}, "check_references": False},
             module="stalwart.mail.mta_outbound_strategy")])
    assert outcome.status("route") == "changed", outcome.output()
    assert outcome.status("connection") == "failed", outcome.output()
    assert "its four expressions count together" in outcome.result("connection")["msg"]


# --- credentials ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [pytest.param("real", marks=pytest.mark.real)], indirect=True)
def test_a_key_past_its_concurrent_requests_meets_the_refusal_the_module_retries(throwaway, tmp_path):
    """The read-only key (no permission unlimitedRequests) from 10 clients at once: the server
    refuses some requests with the 400 that the client retries and the simulator gives
    (tests/simulator/test_http.py), and the info module run beside them still succeeds. Only on
    a real server: the simulator's refusal is held deterministically there, with delayed requests."""
    backend = throwaway
    creates = {f"n{index}": {"name": named(f"load-{index:03}")} for index in range(400)}
    backend.call("x:MtaConnectionStrategy/set", {"create": creates})
    reference = {"resultOf": "q", "path": "/ids", "name": "x:MtaConnectionStrategy/query"}
    body = {"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"],
            "methodCalls": [["x:MtaConnectionStrategy/query", {"limit": 500}, "q"],
                            ["x:MtaConnectionStrategy/get", {"#ids": reference}, "g"]]}
    answers = []

    def load():
        for _request in range(20):
            answers.append(http("POST", f"{backend.target_url}/jmap/", body, bearer(backend.readonly_token)))

    clients = [threading.Thread(target=load) for _client in range(10)]
    for client in clients:
        client.start()
    outcome = run(backend, tmp_path, [task(backend, "info", {"names": [named("load-000")]}, module=INFO,
                                           auth="readonly")])
    for client in clients:
        client.join()
    refused = [answer for answer in answers if answer.status != 200]
    assert refused, "no request was refused: the key may have unlimitedRequests"
    for answer in refused:
        assert (answer.status, answer.json()) == (400, {
            "type": "urn:ietf:params:jmap:error:limit", "status": 400,
            "detail": "The request exceeds the maximum number of concurrent requests.",
            "limit": "maxConcurrentRequests"})
    assert outcome.status("info") == "ok", outcome.output()
    print(f"{len(refused)} of {len(answers)} requests refused")


def test_basic_auth_and_an_api_key_both_work(backend, tmp_path):
    outcome = run(backend, tmp_path, [
        task(backend, "basic", {"name": named("auth"), "connect_timeout": "1m"}, auth="basic"),
        task(backend, "token", {"name": named("auth"), "connect_timeout": "2m"}, auth="token"),
        task(backend, "info over basic", {"names": [named("auth")]}, module=INFO, auth="basic"),
    ])
    assert outcome.status("basic") == outcome.status("token") == "changed", outcome.output()
    assert outcome.result("info over basic")["strategies"][0]["connect_timeout"] == "2m"
    assert wire(backend, "auth")["connectTimeout"] == 120000
    assert backend.basic_password not in outcome.stdout + outcome.stderr
    assert backend.admin_token not in outcome.stdout + outcome.stderr


def test_behind_a_proxy_that_hides_the_session_a_new_strategy_gets_its_timeouts(backend, tmp_path):
    """With no session resource (404) and nothing read that shows the server's duration form, the
    module writes integer milliseconds, which both dialects take: it once wrote "1m", which the
    server refuses ("Invalid path for Duration")."""
    with CountingProxy(backend.target_url, hide_session=True) as proxy:
        connection = {"url": proxy.url, "api_url": f"{proxy.url}/jmap/", "token": backend.admin_token}
        strategy = {"name": named("hidden"), "connect_timeout": "1m", "data_timeout": 1500}
        tasks = [{"name": label, MODULE: {**connection, **strategy}, "ignore_errors": True} for label in ("create", "again")]
        outcome = run(backend, tmp_path, tasks)
        assert [entry["status"] for entry in proxy.entries if entry["method"] == "GET"] == [404, 404]
    assert (outcome.status("create"), outcome.status("again")) == ("changed", "ok"), outcome.output()
    stored = wire(backend, "hidden")
    assert (stored["connectTimeout"], stored["dataTimeout"]) == (60000, 1500)


def test_a_read_only_key_reads_and_is_told_which_permission_a_write_needs(backend, tmp_path):
    run(backend, tmp_path, [task(backend, "seed", {"name": named("ro")})])
    outcome = run(backend, tmp_path, [
        task(backend, "read", {"names": [named("ro")]}, module=INFO, auth="readonly"),
        task(backend, "create", {"name": named("ro-new")}, auth="readonly"),
        task(backend, "update", {"name": named("ro"), "connect_timeout": "1m"}, auth="readonly"),
    ])
    assert [item["name"] for item in outcome.result("read")["strategies"]] == [named("ro")]
    for label, permission in (("create", "sysMtaConnectionStrategyCreate"), ("update", "sysMtaConnectionStrategyUpdate")):
        result = outcome.result(label)
        assert result["failed"] is True and result.get("changed", False) is False, result
        assert permission in result["msg"], result["msg"]
    assert named("ro-new") not in backend.strategies()
    assert wire(backend, "ro")["connectTimeout"] == 300000


# --- reload; the info module's output through the role ----------------------------------------------------------


def role_play(backend, strategies, **role_vars):
    play_vars = {"stalwart_url": backend.url, "stalwart_token": backend.admin_token, **role_vars}
    if strategies is not None:
        play_vars["stalwart_mta_connection_strategies"] = strategies
    return [{"name": "role", "hosts": "localhost", "gather_facts": False, "roles": [{"role": ROLE}],
             "vars": play_vars}]


def test_reload_and_the_roles_handler_are_accepted_by_the_server(backend, tmp_path):
    outcome = run(backend, tmp_path, [task(backend, "module", {"name": named("reload"), "reload": True})])
    assert outcome.result("module")["reloaded"] is True, outcome.result("module")
    backend.proxy.reset()
    role = run_playbook(tmp_path, role_play(backend, [{"name": named("reload"), "connect_timeout": "1m"}]))
    role.assert_ok()
    assert role.status(f"{ROLE} : Reload Stalwart settings") == "changed"
    assert backend.proxy.counts()["calls"].get("x:Action/set") == 1


def test_the_info_modules_output_applied_through_the_role_changes_nothing(backend, tmp_path):
    run(backend, tmp_path, [task(backend, "seed", {"strategies": [
        {"name": named("export-a"), "description": "a", "ehlo_hostname": "Bücher.example.org", "data_timeout": 61000,
         "source_ips": [{"ip": "2001:DB8:0::1", "ehlo_hostname": "ς.example.org"}, {"ip": "192.0.2.7"}]},
        {"name": named("export-b"), "connect_timeout": "1h30m", "rcpt_to_timeout": "1500ms"},
    ]})])
    exported = run(backend, tmp_path, [task(backend, "export", {"names": [named("export-a"), named("export-b")]},
                                            module=INFO)]).result("export")["strategies"]
    backend.proxy.reset()
    outcome = run_playbook(tmp_path, role_play(backend, exported))
    outcome.assert_ok()
    assert outcome.result(f"{ROLE} : Apply the merged strategies in one module run")["changed"] is False
    assert backend.proxy.counts()["writes"] == 0


# --- 1200 strategies: past the 500-object limits, in the documented request counts ---------------------------------


def test_a_server_with_low_limits_is_written_within_them_in_the_documented_request_counts(throwaway, tmp_path):
    """Stalwart's x:Jmap limits lowered (4 calls a request, 7 objects a /get, 5 a /set): the
    session advertises them, the server refuses a request past one, and a converge, a no-op and a
    purge each cost what the formula of tests/integration/test_request_counts.py says."""
    backend = throwaway
    batch = [{"name": named(f"low-{index:02d}"), "data_timeout": "20m"} for index in range(30)]
    limits = {"maxObjectsInGet": 7, "maxObjectsInSet": 5, "maxCallsInRequest": 4}
    with backend.jmap_limits(maxMethodCalls=4, getMaxResults=7, setMaxObjects=5):
        converge = run(backend, tmp_path, [task(backend, "converge", {"strategies": batch, "reload": True})])
        converge_counts = backend.proxy.counts()
        noop = run(backend, tmp_path, [task(backend, "no-op", {"strategies": batch, "reload": True})])
        noop_counts = backend.proxy.counts()
        kept = batch[:12]
        purge = run(backend, tmp_path, [task(backend, "purge", {"strategies": kept, "purge": True, "reload": True})])
        purge_counts = backend.proxy.counts()
    assert converge.status("converge") == "changed", converge.output()
    assert noop.status("no-op") == "ok" and purge.status("purge") == "changed", (noop.output(), purge.output())
    for counts, cost in ((converge_counts, expected_cost(limits, on_server=1, listed=30, creates=30)),
                         (noop_counts, expected_cost(limits, on_server=31, listed=30)),
                         (purge_counts, expected_cost(limits, on_server=31, listed=12, deletes=18, purge=True))):
        assert (counts["requests"], counts["posts"]) == (cost["requests"], cost["posts"]), (counts, cost)
        assert max(len(names) for names in [entry["calls"] for entry in backend.proxy.entries] or [[]]) <= 4
    assert sorted(backend.strategies()) == sorted(["default", *(item["name"] for item in kept)])  # default: routed


def test_1200_strategies_converge_then_no_op_in_the_documented_request_counts(backend, tmp_path):
    others = len(backend.all_strategies())  # "default", and on an existing server whatever it holds
    batch = [{"name": named(f"many-{index:04d}"), "description": f"strategy {index}", "connect_timeout": "2m",
              "source_ips": [{"ip": f"192.0.2.{index % 250 + 1}", "ehlo_hostname": f"mx{index}.example.org"}]}
             for index in range(1200)]
    limits = {"maxObjectsInGet": 500, "maxObjectsInSet": 500, "maxCallsInRequest": 16}
    args = {"strategies": batch, "reload": True}
    converge = run(backend, tmp_path, [task(backend, "converge", args)])
    assert converge.status("converge") == "changed", converge.result("converge").get("msg")
    counts = backend.proxy.counts()
    cost = expected_cost(limits, on_server=others, listed=1200, creates=1200)
    assert (counts["requests"], counts["session"], counts["posts"]) == (
        cost["requests"], cost["session_requests"], cost["posts"])
    stored = backend.strategies()
    assert len([name for name in stored if name.startswith(named("many-"))]) == 1200
    assert stored[named("many-0777")]["sourceIps"]["0"]["ehloHostname"] == "mx777.example.org"
    noop = run(backend, tmp_path, [task(backend, "no-op", args)])
    assert noop.status("no-op") == "ok"
    counts = backend.proxy.counts()
    cost = expected_cost(limits, on_server=others + 1200, listed=1200)
    assert (counts["requests"], counts["posts"], counts["writes"]) == (cost["requests"], cost["posts"], 0)


# --- routing: the outbound strategy's connection expression ------------------------------------------------


def routing_state(backend):
    """(names of the strategies on the server, names the connection expression routes to)."""
    from ansible_collections.stalwart.mail.plugins.module_utils import _values  # pylint: disable=import-outside-toplevel

    connection = backend.outbound().get("connection")
    expression = _values.EXPRESSION.from_wire(connection, {"rules": [], "else": "'default'"})
    return set(backend.all_strategies()), _values.EXPRESSION.names(expression)


def test_the_role_never_routes_to_a_missing_strategy_and_purges_what_the_new_routing_drops(throwaway, tmp_path):
    backend = throwaway
    old, warmup, bulk = named("old-pool"), named("warmup"), named("bulk")
    run(backend, tmp_path, [task(backend, "seed", {"name": old})])
    backend.set_connection({"match": {"0": {"if": "rcpt_domain == 'yahoo.com'", "then": f"'{old}'"}},
                            "else": "'default'"})
    role_vars = {"stalwart_mta_connection_strategies": [{"name": warmup, "connect_timeout": "1m"},
                                                        {"name": bulk}],
                 "stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'", "strategy": warmup}],
                 "stalwart_mta_connection_route_default": bulk,
                 "stalwart_mta_connection_strategies_purge": True}
    seen = []

    def before_each_write(entry):
        if entry["class"] == "write":
            seen.append((entry["calls"], routing_state(backend)))

    # check mode: the whole plan, nothing written
    backend.proxy.reset()
    preview = run_playbook(tmp_path, role_play(backend, None, **role_vars), check=True, diff=True)
    preview.assert_ok()
    assert backend.proxy.counts()["writes"] == 0
    apply_task, route_task, purge_task = (f"{ROLE} : Apply the merged strategies in one module run",
                                          f"{ROLE} : Route mail to the strategies",
                                          f"{ROLE} : Delete what the list sets absent or purges, keeping what "
                                          "the new expression routes to")
    # each step predicts its own changes, each once: the last step counts the list's strategies as
    # listed (assume_present), so it does not predict their creates again though none was made
    assert preview.result(apply_task)["plan"] == {"create": [warmup, bulk], "update": {}, "delete": []}
    assert preview.result(route_task)["plan"] == {"update": ["connection"]}
    assert preview.result(purge_task)["plan"] == {"create": [], "update": {}, "delete": ["default", old]}
    assert sorted(preview.result(apply_task)["diff"]["after"]) == [bulk, warmup]
    assert sorted(preview.result(purge_task)["diff"]["before"]) == ["default", old]

    backend.proxy.on_request = before_each_write
    try:
        done = run_playbook(tmp_path, role_play(backend, None, **role_vars), diff=True)
    finally:
        backend.proxy.on_request = None
    done.assert_ok()
    # at every write, and after the last one, the expression names only strategies that exist
    final = routing_state(backend)
    for calls, (strategies, routed) in seen + [(["(end)"], final)]:
        assert routed <= strategies, (calls, sorted(routed - strategies))
    writes = [calls for calls, _state in seen]
    assert writes[0] == ["x:MtaConnectionStrategy/set", "x:MtaConnectionStrategy/get"]  # create warmup and bulk
    assert writes[1][0] == "x:MtaOutboundStrategy/set"  # then the expression
    assert writes[2][0] == "x:MtaConnectionStrategy/set"  # then the purge
    assert final[0] == {warmup, bulk} and final[1] == {warmup, bulk}
    assert done.result(route_task)["outbound_strategy"]["connection"] == {
        "rules": [{"if": "rcpt_domain == 'gmail.com'", "then": warmup}], "else": bulk}
    # what check mode predicted is what happened, step by step, and a second run changes nothing
    for label in (apply_task, route_task, purge_task):
        assert preview.result(label)["plan"] == done.result(label)["plan"], label
    again = run_playbook(tmp_path, role_play(backend, None, **role_vars))
    again.assert_ok()
    assert [again.status(label) for label in (apply_task, route_task, purge_task)] == ["ok", "ok", "ok"]


def test_a_strategy_set_absent_goes_only_after_the_new_routing_stops_naming_it(throwaway, tmp_path):
    """With routing, a strategy of the list with ``state: absent`` that the server's expression
    routes to is deleted by the purge step, after the new expression is written: deleting it with
    the creates would leave the old expression naming it in between."""
    backend = throwaway
    old, pool = named("retired"), named("pool")
    run(backend, tmp_path, [task(backend, "seed", {"name": old})])
    backend.set_connection({"match": {"0": {"if": "rcpt_domain == 'yahoo.com'", "then": f"'{old}'"}},
                            "else": "'default'"})
    role_vars = {"stalwart_mta_connection_strategies": [{"name": pool}, {"name": old, "state": "absent"}],
                 "stalwart_mta_connection_route_default": pool}
    seen = []

    def before_each_write(entry):
        if entry["class"] == "write":
            seen.append((entry["calls"], routing_state(backend)))

    backend.proxy.on_request = before_each_write
    try:
        done = run_playbook(tmp_path, role_play(backend, None, **role_vars))
    finally:
        backend.proxy.on_request = None
    done.assert_ok()
    for calls, (strategies, routed) in seen + [(["(end)"], routing_state(backend))]:
        assert routed <= strategies, (calls, sorted(routed - strategies))
    strategies, routed = routing_state(backend)
    assert old not in strategies and routed == {pool}
    deletes = [calls for calls, _state in seen if calls[0] == "x:MtaConnectionStrategy/set"]
    assert seen[0][0][0] == "x:MtaConnectionStrategy/set" and seen[1][0][0] == "x:MtaOutboundStrategy/set"
    assert len(deletes) == 2, seen  # the create, then (after the expression) the delete
    again = run_playbook(tmp_path, role_play(backend, None, **role_vars))
    again.assert_ok()
    assert "changed=0" in again.stdout, again.output()


def test_a_route_to_a_strategy_the_list_sets_absent_fails_before_anything_is_written(throwaway, tmp_path):
    """A route to a strategy the same list sets absent contradicts the inventory alone: it fails where
    the routes are checked, naming the route, with nothing written (it once failed only at the
    routing step, after the strategies step had written and notified the reload)."""
    backend = throwaway
    old, pool = named("retired"), named("pool")
    run(backend, tmp_path, [task(backend, "seed", {"name": old})])
    before = backend.outbound()
    backend.proxy.reset()
    outcome = run_playbook(tmp_path, role_play(backend, None, **{
        "stalwart_mta_connection_strategies": [{"name": pool}, {"name": old, "state": "absent"}],
        "stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'yahoo.com'", "strategy": old}],
        "stalwart_mta_connection_route_default": pool}))
    assert outcome.rc != 0, outcome.output()
    message = outcome.result(f"{ROLE} : Fail as the module did")["msg"]
    assert f"stalwart_mta_connection_routes[0] routes to '{old}', which the strategies list sets absent" in message, \
        message
    assert backend.proxy.counts()["writes"] == 0
    assert old in backend.strategies() and pool not in backend.strategies() and backend.outbound() == before


def test_with_force_the_role_still_keeps_what_its_new_routing_routes_to(throwaway, tmp_path):
    """Force deletes what the server's own expression names. With routing, the expression the role
    writes replaces it before purge runs, and what the new one routes to is kept even with force
    (a route to a strategy that the list does not name): the role never leaves the expression
    naming a strategy that does not exist. What only the old expression named goes."""
    backend = throwaway
    outside, old, pool = named("outside"), named("old-pool"), named("pool")
    run(backend, tmp_path, [task(backend, "seed", {"strategies": [{"name": outside}, {"name": old}]})])
    backend.set_connection({"match": {"0": {"if": "rcpt_domain == 'yahoo.com'", "then": f"'{old}'"}},
                            "else": "'default'"})
    role_vars = {"stalwart_mta_connection_strategies": [{"name": pool}],
                 "stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'", "strategy": outside}],
                 "stalwart_mta_connection_route_default": pool,
                 "stalwart_mta_connection_strategies_purge": True,
                 "stalwart_mta_connection_strategies_force": True}
    purge_task = f"{ROLE} : Delete what the list sets absent or purges, keeping what the new expression routes to"

    kept = [f"purge kept '{outside}': purge_keep names it (the role passes the names that the connection expression "
            "it writes routes to); force does not delete what purge_keep names"]
    # check mode: the last step predicts the deletes, with the same warning
    preview = run_playbook(tmp_path, role_play(backend, None, **role_vars), check=True, diff=True)
    preview.assert_ok()
    assert preview.result(f"{ROLE} : Apply the merged strategies in one module run")["plan"] == {
        "create": [pool], "update": {}, "delete": []}
    predicted = preview.result(purge_task)
    assert predicted["plan"] == {"create": [], "update": {}, "delete": ["default", old]}
    assert [warning for warning in predicted.get("warnings") or [] if outside in warning] == kept

    done = run_playbook(tmp_path, role_play(backend, None, **role_vars))
    done.assert_ok()
    result = done.result(purge_task)
    assert result["plan"]["delete"] == ["default", old]
    assert [warning for warning in result.get("warnings") or [] if outside in warning] == kept, result.get("warnings")
    strategies, routed = routing_state(backend)
    assert routed == {outside, pool} and strategies == {outside, pool}


def test_a_route_to_a_strategy_that_does_not_exist_fails_before_anything_is_written(backend, tmp_path):
    backend.proxy.reset()
    before = backend.outbound()
    outcome = run(backend, tmp_path, [task(backend, "route", {"connection": {
        "rules": [{"if": "rcpt_domain == 'gmail.com'", "then": named("nowhere")}], "else": "default"}},
        module="stalwart.mail.mta_outbound_strategy")])
    result = outcome.result("route")
    assert result["failed"] is True and result["missing"] == [named("nowhere")], result
    assert backend.proxy.counts()["writes"] == 0
    assert backend.outbound() == before
