"""What one run costs in HTTP requests (docs/performance.md, "The formula").

Runs of the batch module (``strategies:``, in the test process) and of the role (real
``ansible-playbook``) against the simulator, for N = 1, 10, 600 and 1200 strategies, with the
simulator's limits at their defaults and lowered, so that the counts prove the limits are read from
the session and not assumed. Every
count comes from the simulator (``/_sim/stats``) and is asserted exactly: session requests, POSTs,
the largest POST, and the method calls by name.

The formula, with G = maxObjectsInGet, S = maxObjectsInSet, C = maxCallsInRequest, M = strategies
on the server before the run:

- 1 ``GET /jmap/session``;
- reads: 1 POST when the list names n strategies with 2n <= C and there is no purge (a
  query+get pair per name; none for an empty list); otherwise 1 POST (query + get, + the outbound strategy's get when
  purging) plus ceil(P / floor(C/2)) POSTs for the P = ceil(M/G) - 1 further pages;
- writes (only when something changes): the creates, updates and deletes in chunks of
  S operations (capped at G*(C-1), so that a chunk and its reads fit one POST), each chunk one
  ``/set`` followed by ceil(c/G) ``/get`` of the c strategies it created or updated, packed in
  order, whole chunks only, into POSTs of at most C calls (and of at most maxSizeRequest bytes:
  never reached by the small strategies counted here); then, with ``reload: true``, 1 POST holding
  the reload alone, sent only once the writes' answers showed that something changed.

The role runs the module with ``reload: false`` and sends the reload from its handler, once per
changed host at the end of the play: its runs cost the module's formula without the reload, plus,
when something changed, the handler's 1 ``GET /jmap/session`` and 1 POST of the reload
(``role_cost``).

``expected_cost`` is that formula, written out; ``CLOSED_FORM`` holds the POST counts it gives for
the cases below, so a change of the formula shows in a table a reader can check by hand.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.integration.conftest import STRATEGY_RUNS, stored, strip_none
from tests.support import inproc
from tests.support.ansible import run_playbook
from tests.support.sim import ADMIN_TOKEN

MODULE = "stalwart.mail.mta_connection_strategy"
INFO_MODULE = "stalwart.mail.mta_connection_strategy_info"
ROLE = "stalwart.mail.mta_connection_strategies"
QUERY = "x:MtaConnectionStrategy/query"
GET = "x:MtaConnectionStrategy/get"
SET = "x:MtaConnectionStrategy/set"
OUTBOUND_GET = "x:MtaOutboundStrategy/get"
RELOAD = "x:Action/set"

LIMITS = {
    # the server's defaults (docs/stalwart-api.md, "Limits")
    "default": {"maxObjectsInGet": 500, "maxObjectsInSet": 500, "maxCallsInRequest": 16},
    # low enough that 600 strategies take several pages, chunks and POSTs
    "lowered": {"maxObjectsInGet": 100, "maxObjectsInSet": 50, "maxCallsInRequest": 4},
}
SIZES = (1, 10, 600, 1200)

# POSTs of a converge from a server holding only "default" (read + writes + the reload) and of the
# no-op re-run (read), by the formula worked by hand:
#   default: the read of 1 or 1201 strategies is one POST for M <= 500 and two for M <= 4500
#            (a first page, then up to 8 query+get pairs); all writes fit one POST (at most 3
#            chunks: 3 /set + 3 /get = 6 calls <= 16); the reload is one POST after them.
#   lowered: converge writes ceil(N/50) chunks of 2 calls: ceil(2*ceil(N/50)/4) POSTs (600: 24
#            calls, 6 POSTs; 1200: 48 calls, 12 POSTs), then the reload's POST; the no-op read of
#            N+1 strategies is ceil((N+1)/100) pages, the first alone, then 2 per POST
#            (601: 7 pages, 1+3 POSTs; 1201: 13 pages, 1+6 POSTs).
CLOSED_FORM = {
    ("default", 1): (1 + 1 + 1, 1), ("default", 10): (1 + 1 + 1, 1),
    ("default", 600): (1 + 1 + 1, 2), ("default", 1200): (1 + 1 + 1, 2),
    ("lowered", 1): (1 + 1 + 1, 1), ("lowered", 10): (1 + 1 + 1, 1),
    ("lowered", 600): (1 + 6 + 1, 4), ("lowered", 1200): (1 + 12 + 1, 7),
}


def expected_cost(limits, *, on_server, listed, creates=0, updates=0, deletes=0, purge=False, reload=True,
                  outbound=True):
    """The formula: what one run costs, as ``/_sim/stats`` counts it.

    ``on_server``: strategies on the server before the run (M); ``listed``: strategies the list
    names (n); ``creates``/``updates``/``deletes``: the plan; ``outbound`` False: a purge given the
    names to keep (``purge_keep``), which reads no outbound strategy. Returns the expected ``requests``
    (nothing but the session GET and the POSTs), ``session_requests``, ``posts``,
    ``max_calls_in_one_post`` and ``method_calls``.
    """
    max_get, max_set, max_calls = (limits["maxObjectsInGet"], limits["maxObjectsInSet"],
                                   limits["maxCallsInRequest"])
    calls = Counter()
    post_sizes = []
    # the read
    if not purge and 2 * listed <= max_calls:
        if listed:  # an empty list without purge needs no read
            post_sizes.append(2 * listed)
        calls[QUERY] += listed
        calls[GET] += listed
    else:
        # the outbound get rides with the first page, unless C < 3: then it has a POST of its own
        reads_outbound = purge and outbound
        post_sizes.extend(([3] if max_calls >= 3 else [2, 1]) if reads_outbound else [2])
        calls[QUERY] += 1
        calls[GET] += 1
        calls[OUTBOUND_GET] += 1 if reads_outbound else 0
        pages = max(0, math.ceil(on_server / max_get) - 1)
        pairs_per_post = max_calls // 2
        for start in range(0, pages, pairs_per_post):
            post_sizes.append(2 * min(pairs_per_post, pages - start))
        calls[QUERY] += pages
        calls[GET] += pages
    # the writes: creates, updates, deletes in that order, in chunks
    operations = ["fetched"] * (creates + updates) + ["deleted"] * deletes
    groups = []
    chunk = min(max_set, max_get * (max_calls - 1))
    for start in range(0, len(operations), chunk):
        fetches = math.ceil(operations[start:start + chunk].count("fetched") / max_get)
        groups.append(1 + fetches)
        calls[SET] += 1
        calls[GET] += fetches
    current = 0
    for size in groups:
        if current + size > max_calls:
            post_sizes.append(current)
            current = 0
        current += size
    if current:
        post_sizes.append(current)
    if operations and reload:
        post_sizes.append(1)  # the reload, alone, once the writes showed a change
        calls[RELOAD] += 1
    return {"requests": 1 + len(post_sizes), "session_requests": 1, "posts": len(post_sizes),
            "max_calls_in_one_post": max(post_sizes, default=0),
            "method_calls": {name: count for name, count in calls.items() if count}}


def role_cost(limits, **plan):
    """What a run of the role costs: the module's run without the reload, then, after a change,
    the handler's session request and its one POST holding the reload."""
    cost = expected_cost(limits, reload=False, **plan)
    if plan.get("creates") or plan.get("updates") or plan.get("deletes"):
        calls = dict(cost["method_calls"])
        calls[RELOAD] = calls.get(RELOAD, 0) + 1
        cost = {"requests": cost["requests"] + 2, "session_requests": cost["session_requests"] + 1,
                "posts": cost["posts"] + 1, "max_calls_in_one_post": max(cost["max_calls_in_one_post"], 1),
                "method_calls": calls}
    return cost


OUTBOUND_SET = "x:MtaOutboundStrategy/set"


def routing_cost(limits, *, on_server, listed, creates=0, deletes=0, routing_changes=True, routed=2):
    """What a run of the role with routing and purge costs: its three module runs in order (create
    and update; the connection expression: 1 session GET, 1 POST reading the outbound strategy and,
    by name, the ``routed`` strategies the new expression routes to (a /query and a /get each: another
    host may have deleted one since the first step), 1 POST with its /set and a /get when it changes;
    the purge, which keeps the new expression's names and, read in the same request as the
    strategies, what the server's expression names by then), then the handler's session GET and
    reload POST after a change."""
    first = expected_cost(limits, on_server=on_server, listed=listed, creates=creates, reload=False)
    purge = expected_cost(limits, on_server=on_server + creates, listed=listed, deletes=deletes, purge=True,
                          reload=False)
    calls = Counter(first["method_calls"]) + Counter(purge["method_calls"])
    calls[OUTBOUND_GET] += 1 + (1 if routing_changes else 0)
    calls[OUTBOUND_SET] += 1 if routing_changes else 0
    calls[QUERY] += routed
    calls[GET] += routed
    requests = first["requests"] + purge["requests"] + 2 + (1 if routing_changes else 0)
    posts = first["posts"] + purge["posts"] + 1 + (1 if routing_changes else 0)
    sessions = 3
    if creates or deletes or routing_changes:
        calls[RELOAD] += 1
        requests, posts, sessions = requests + 2, posts + 1, sessions + 1
    return {"requests": requests, "session_requests": sessions, "posts": posts,
            "max_calls_in_one_post": max(first["max_calls_in_one_post"], purge["max_calls_in_one_post"],
                                         2 * routed + 1),
            "method_calls": {name: count for name, count in calls.items() if count}}


COST = {"module": expected_cost, "role": role_cost}


def measured(stats):
    """The counters the formula predicts, from ``sim.stats()``."""
    return {"requests": stats["requests"], "session_requests": stats["session_requests"], "posts": stats["posts"],
            "max_calls_in_one_post": stats["max_calls_in_one_post"], "method_calls": stats["method_calls"]}


def strategies(count):
    """``count`` distinct strategies in module input form (every kind of value once)."""
    return [{"name": f"s{index:04d}", "description": f"strategy {index}",
             "ehlo_hostname": f"mx{index}.example.org", "connect_timeout": "2m", "data_timeout": "15m",
             "source_ips": [{"ip": f"10.{index // 250}.{index % 250}.1", "ehlo_hostname": f"out{index}.example.org"}]}
            for index in range(count)]


def module_play(sim, items, **options):
    args = {"url": sim.url, "token": ADMIN_TOKEN, "strategies": items, "reload": True, **options}
    return {"name": "batch", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "apply", MODULE: args}]}


def role_play(sim, items, **variables):
    return {"name": "role", "hosts": "localhost", "gather_facts": False,
            "vars": {"stalwart_url": sim.url, "stalwart_token": ADMIN_TOKEN,
                     "stalwart_mta_connection_strategies": items, **variables},
            "roles": [{"role": ROLE}]}


PLAYS = {"module": module_play, "role": role_play}


def zero_counters(sim, limits):
    """Keep the stored strategies and the outbound strategy, zero every counter
    (``max_calls_in_one_post`` is a maximum, so only a reset clears it)."""
    dump = sim.dump()
    objects = [{key: value for key, value in item.items() if key != "id"} for item in dump["strategies"]]
    sim.reset(seed_default=False, objects=objects, limits=limits, outbound=dump["outbound"])


def run(tmp_path, sim, play):
    """Run one play on counters the caller zeroed; the module's result entry and what it cost. A
    play of module tasks runs in this process (``tests/support/inproc.py``: the module's own
    requests, nothing else talks to the server); a play with the role runs ``ansible-playbook``."""
    if "roles" in play:
        outcome = run_playbook(tmp_path, [play]).assert_ok()
    else:
        outcome = inproc.run_tasks(play["tasks"]).assert_ok()
    entries = [entry for entry in outcome.results
               if entry["action"] in (*STRATEGY_RUNS, INFO_MODULE) and entry["status"] != "skipped"]
    assert len(entries) == 1, [entry["task"] for entry in outcome.results]
    return entries[0], measured(sim.stats())


def test_formula_matches_the_closed_form():
    """The formula as code gives the POST counts worked out by hand (module docstring, table)."""
    for (limits, size), (converge_posts, noop_posts) in CLOSED_FORM.items():
        converge = expected_cost(LIMITS[limits], on_server=1, listed=size, creates=size)
        noop = expected_cost(LIMITS[limits], on_server=size + 1, listed=size)
        assert (converge["posts"], noop["posts"]) == (converge_posts, noop_posts), (limits, size)


# The role costs the module's run plus its handler's two requests (role_cost): shown at 10 and 1200
# with the default limits and at 10 with lowered ones; the module carries both limits to 1200.
CASES = [pytest.param(interface, limits, size, id=f"{interface}-{limits}-{size}",
                      marks=[pytest.mark.slow] if size >= 600 else [])
         for interface, limits, sizes in (("module", "default", SIZES), ("module", "lowered", SIZES),
                                          ("role", "default", (10, 1200)), ("role", "lowered", (10,)))
         for size in sizes]


@pytest.mark.parametrize(("interface", "limits", "size"), CASES)
def test_converge_and_noop_cost(tmp_path, sim, interface, limits, size):
    """Converge N strategies from a server holding only ``default``, then run again: each run
    costs exactly what the formula says, and the no-op run writes nothing."""
    sim.reset(limits=LIMITS[limits])
    items = strategies(size)
    play = PLAYS[interface](sim, items)

    entry, spent = run(tmp_path / "converge", sim, play)
    assert entry["status"] == "changed", entry
    assert spent == COST[interface](LIMITS[limits], on_server=1, listed=size, creates=size)
    if interface == "module":
        assert spent["posts"] == CLOSED_FORM[(limits, size)][0]
    assert spent["max_calls_in_one_post"] <= LIMITS[limits]["maxCallsInRequest"]
    assert len(stored(sim)) == size + 1
    assert sim.stats()["reloads"] == 1

    zero_counters(sim, LIMITS[limits])
    entry, spent = run(tmp_path / "noop", sim, play)
    assert entry["status"] == "ok", entry
    assert spent == COST[interface](LIMITS[limits], on_server=size + 1, listed=size)
    assert spent["posts"] == CLOSED_FORM[(limits, size)][1]
    assert sim.stats()["writes"] == 0 and sim.stats()["reloads"] == 0


def test_both_dialects_cost_the_same(tmp_path, any_sim):
    """Without a session resource (the documented dialect: GET /jmap/session is a 404, still one
    session request) the module takes the defaults of docs/stalwart-api.md ("Limits"), which are the
    server dialect's session values: 600 strategies cost the same in both dialects."""
    items = strategies(600)
    entry, spent = run(tmp_path, any_sim, module_play(any_sim, items))
    assert entry["status"] == "changed", entry
    assert spent == expected_cost(LIMITS["default"], on_server=1, listed=600, creates=600)


def test_mixed_plan_and_purge_cost(tmp_path, sim):
    """Creates, updates and purge deletes share chunks (create, update, delete order), the reads
    carry the outbound strategy's get, and the counts still follow the formula."""
    limits = LIMITS["lowered"]
    sim.reset(limits=limits)
    run(tmp_path / "seed", sim, module_play(sim, strategies(130)))
    kept = strategies(130)[:60]
    for item in kept[:45]:
        item["connect_timeout"] = "3m"  # 45 updates
    desired = kept + [{"name": f"new{index}"} for index in range(25)]  # 25 creates; 70 deletes
    zero_counters(sim, limits)
    entry, spent = run(tmp_path / "mixed", sim, module_play(sim, desired, purge=True))
    assert entry["status"] == "changed", entry
    assert entry["result"]["plan"]["delete"] == [f"s{index:04d}" for index in range(60, 130)]
    assert spent == expected_cost(limits, on_server=131, listed=len(desired), creates=25, updates=45,
                                  deletes=70, purge=True)
    assert sorted(stored(sim)) == sorted(["default"] + [item["name"] for item in desired])


def test_the_smallest_usable_limits_are_respected(tmp_path, sim):
    """maxCallsInRequest 2 (a query and its get, or a /set and its get, and no more), with tiny
    pages and chunks: a purge converges, every POST within the limit, at the formula's cost."""
    limits = {"maxObjectsInGet": 3, "maxObjectsInSet": 2, "maxCallsInRequest": 2}
    sim.reset(limits=limits, objects=[{"name": f"old{index}"} for index in range(4)])
    desired = strategies(5)
    entry, spent = run(tmp_path / "purge", sim, module_play(sim, desired, purge=True))
    assert entry["status"] == "changed", entry
    assert spent == expected_cost(limits, on_server=5, listed=5, creates=5, deletes=4, purge=True)
    assert spent["max_calls_in_one_post"] == 2
    assert sorted(stored(sim)) == ["default"] + [item["name"] for item in desired]
    assert sim.stats()["reloads"] == 1


@pytest.mark.slow
def test_1200_created_read_back_and_purged_past_the_limits(tmp_path, sim):
    """1200 strategies with lowered limits: created with none missed, read back whole by the info
    module (13 pages of 100), purged to the protected ``default``; never a request over a limit
    (a requestTooLarge or a limit problem would fail the run or cost calls the formula lacks)."""
    limits = LIMITS["lowered"]
    sim.reset(limits=limits)
    items = strategies(1200)

    entry, spent = run(tmp_path / "create", sim, module_play(sim, items))
    assert entry["status"] == "changed", entry
    assert spent == expected_cost(limits, on_server=1, listed=1200, creates=1200)
    assert len(entry["result"]["strategies"]) == 1200
    on_server = stored(sim)
    assert sorted(on_server) == ["default"] + [item["name"] for item in items]
    assert on_server["s1199"]["sourceIps"] == {"0": {"sourceIp": "10.4.199.1", "ehloHostname": "out1199.example.org"}}
    assert on_server["s0600"]["connectTimeout"] == 120000 and on_server["s0600"]["dataTimeout"] == 900000

    zero_counters(sim, limits)
    info = {"name": "read", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "read", INFO_MODULE: {"url": sim.url, "token": ADMIN_TOKEN}}]}
    entry, spent = run(tmp_path / "read", sim, info)
    read_back = entry["result"]["strategies"]
    assert [item["name"] for item in read_back] == ["default"] + [item["name"] for item in items]
    assert strip_none({key: value for key, value in read_back[1200].items() if key != "id"}) == {
        "name": "s1199", "description": "strategy 1199", "ehlo_hostname": "mx1199.example.org",
        "source_ips": [{"ip": "10.4.199.1", "ehlo_hostname": "out1199.example.org"}],
        "connect_timeout": "2m", "data_timeout": "15m", "ehlo_timeout": "5m", "greeting_timeout": "5m",
        "mail_from_timeout": "5m", "rcpt_to_timeout": "5m"}
    assert spent == {"requests": 8, "session_requests": 1, "posts": 7, "max_calls_in_one_post": 4,
                     "method_calls": {QUERY: 13, GET: 13}}

    zero_counters(sim, limits)
    entry, spent = run(tmp_path / "purge", sim, module_play(sim, [], purge=True))
    assert entry["status"] == "changed", entry
    assert len(entry["result"]["plan"]["delete"]) == 1200
    assert spent == expected_cost(limits, on_server=1201, listed=0, deletes=1200, purge=True)
    assert spent["posts"] == 7 + 7  # 13 pages (1 + 6 POSTs); 24 destroy chunks + the reload (7 POSTs)
    assert [item["name"] for item in sim.objects()] == ["default"]
    assert sim.stats()["objects_destroyed"] == 1200 and sim.stats()["reloads"] == 1


ROUTES = {"stalwart_mta_connection_routes": [{"if": "rcpt_domain == 'gmail.com'", "strategy": "s0000"}],
          "stalwart_mta_connection_route_default": "s0001",
          "stalwart_mta_connection_strategies_purge": True}


@pytest.mark.parametrize("size", [10, pytest.param(600, marks=pytest.mark.slow)])
def test_the_role_with_routing_costs_a_constant_number_of_requests(tmp_path, sim, size):
    """Strategies, the connection expression and purge in three module runs, whatever N: the
    counts are routing_cost's, on a converge (with one stale strategy purged) and on the no-op."""
    sim.reset(objects=[{"name": "stale"}])
    play = role_play(sim, strategies(size), **ROUTES)
    outcome = run_playbook(tmp_path / "converge", [play]).assert_ok()
    assert outcome.status(f"{ROLE} : Route mail to the strategies") == "changed"
    spent = measured(sim.stats())
    # "default" and "stale" are purged: the new expression routes to s0000 and s0001 only
    assert spent == routing_cost(LIMITS["default"], on_server=2, listed=size, creates=size, deletes=2)
    assert sorted(stored(sim)) == [item["name"] for item in strategies(size)]

    zero_counters(sim, LIMITS["default"])
    run_playbook(tmp_path / "noop", [play]).assert_ok()
    assert measured(sim.stats()) == routing_cost(LIMITS["default"], on_server=size, listed=size, routing_changes=False)
    assert sim.stats()["writes"] == 0
