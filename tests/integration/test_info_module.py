"""``stalwart.mail.mta_connection_strategy_info`` end to end, in both dialects: all
strategies sorted by name even past the server's 500-object page, the ``names`` filter, read-only
(no write, works in check mode), and its output fed back into ``strategies:`` is no change."""

from __future__ import annotations

import random

from tests.integration.conftest import (
    INFO_MODULE,
    human,
    info_form,
    set_calls,
    stored,
    strip_none,
    task,
    wire_strategy,
)

COUNT = 600


def _population(sim):
    """COUNT strategies (wire form, created in shuffled order) and their expected info form by name."""
    rng = random.Random(20240521)
    names = [f"s-{index:03}" for index in range(COUNT)]
    rng.shuffle(names)
    wire, expected = [], {}
    for position, name in enumerate(names):
        number = int(name[2:])
        fields, form = {}, {}
        if number % 3 == 0:
            fields["description"] = form["description"] = f"strategy {number}"
        if number % 5 == 0:
            fields["ehloHostname"] = form["ehlo_hostname"] = f"mx{number}.example.org"
        if number % 7 == 0:
            fields["sourceIps"] = {"0": {"ehloHostname": f"o{number}.example.org", "sourceIp": f"10.0.{number // 256}.{number % 256}"},
                                   "1": {"ehloHostname": None, "sourceIp": f"2001:db8::{number + 1:x}"}}
            form["source_ips"] = [{"ip": f"10.0.{number // 256}.{number % 256}", "ehlo_hostname": f"o{number}.example.org"},
                                  {"ip": f"2001:db8::{number + 1:x}"}]
        if number % 4 == 0:
            fields["connectTimeout"] = 1000 * (number + 1)
            form["connect_timeout"] = human(1000 * (number + 1))
        if number % 11 == 0:
            fields["dataTimeout"] = 90_000
            form["data_timeout"] = "90s"
        wire.append(wire_strategy(sim, name, **fields))
        expected[name] = form
    return wire, expected


def test_info_lists_all_past_one_page_sorted_filters_by_name_and_feeds_back_unchanged(any_sim, module_tasks):
    sim = any_sim
    wire, expected = _population(sim)
    sim.reset(seed_default=False, objects=wire)
    ids = {name: item["id"] for name, item in stored(sim).items()}
    assert len(ids) == COUNT
    outcome = module_tasks([
        {**task("all", {}, sim=sim, module=INFO_MODULE), "register": "all_info"},
        task("some", {"names": ["s-599", "s-001", "s-300"]}, sim=sim, module=INFO_MODULE),
        task("one by alias", {"name": "s-042"}, sim=sim, module=INFO_MODULE),
        task("in check mode", {"names": ["s-007"]}, sim=sim, module=INFO_MODULE, check_mode=True),
        task("fed back", {"strategies": "{{ all_info.strategies }}"}, sim=sim),
    ])
    everything = outcome.result("all")
    assert not everything.get("failed"), everything.get("msg")
    assert everything["changed"] is False
    listed = everything["strategies"]
    assert [item["name"] for item in listed] == sorted(expected)
    for item in listed:
        assert strip_none(item) == info_form(item["name"], id=ids[item["name"]], **expected[item["name"]]), item
    some = outcome.result("some")
    assert [item["name"] for item in some["strategies"]] == ["s-001", "s-300", "s-599"]
    assert some["strategies"] == [item for item in listed if item["name"] in ("s-001", "s-300", "s-599")]
    assert [item["name"] for item in outcome.result("one by alias")["strategies"]] == ["s-042"]
    checked = outcome.result("in check mode")
    assert not checked.get("failed"), checked.get("msg")
    assert [item["name"] for item in checked["strategies"]] == ["s-007"]
    fed_back = outcome.result("fed back")
    assert not fed_back.get("failed"), fed_back.get("msg")
    assert fed_back["changed"] is False
    assert fed_back["plan"] == {"create": [], "update": {}, "delete": []}
    stats = sim.stats()
    assert set_calls(stats) == 0 and stats["writes"] == 0, stats
    assert len(sim.objects()) == COUNT


def test_info_of_a_small_server_and_an_unknown_name(any_sim, module_tasks):
    sim = any_sim
    sim.reset(objects=[wire_strategy(sim, "bulk", connectTimeout=180000,
                                     sourceIps={"0": {"ehloHostname": None, "sourceIp": "192.0.2.10"}})])
    ids = {name: item["id"] for name, item in stored(sim).items()}
    outcome = module_tasks([
        task("all", {}, sim=sim, module=INFO_MODULE),
        task("unknown", {"names": ["nope"]}, sim=sim, module=INFO_MODULE),
    ])
    assert [strip_none(item) for item in outcome.result("all")["strategies"]] == [
        info_form("bulk", id=ids["bulk"], connect_timeout="3m", source_ips=[{"ip": "192.0.2.10"}]),
        info_form("default", id=ids["default"], description="Default connection strategy"),
    ]
    unknown = outcome.result("unknown")
    assert not unknown.get("failed"), unknown.get("msg")
    assert unknown["strategies"] == []
