"""/query, result and creation-id references, the outbound singleton, the reload action, ids."""

from __future__ import annotations

import re

import pytest

from tests.simulator.conftest import GET, QUERY, SET, call, create_id, result
from tests.support.sim import NOOUTBOUND_TOKEN, READONLY_TOKEN

OUTBOUND_GET, OUTBOUND_SET, ACTION_SET = "x:MtaOutboundStrategy/get", "x:MtaOutboundStrategy/set", "x:Action/set"
ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"


def seed(sim, *names):
    """Replace the stored strategies by these names, created in this order; returns name → id."""
    sim.reset(seed_default=False, objects=[{"name": name} for name in names])
    return {item["name"]: item["id"] for item in sim.objects()}


def id_value(text):
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


# --- /query -----------------------------------------------------------------------------------

def test_query_defaults_to_id_descending_without_total(any_sim):
    ids = seed(any_sim, "b", "a", "c")
    answer = result(any_sim, QUERY, {})
    assert answer == {"accountId": "b", "queryState": "n", "canCalculateChanges": True, "position": 0,
                      "ids": [ids["c"], ids["a"], ids["b"]]}


def test_query_name_filter_is_exact_and_case_sensitive(any_sim):
    ids = seed(any_sim, "bulk", "Bulk", "bulk-2")
    assert result(any_sim, QUERY, {"filter": {"name": "bulk"}})["ids"] == [ids["bulk"]]
    assert result(any_sim, QUERY, {"filter": {"name": "bul"}})["ids"] == []
    assert result(any_sim, QUERY, {"filter": None, "calculateTotal": True})["total"] == 3
    assert result(any_sim, QUERY, {"filter": {}, "calculateTotal": True})["total"] == 3


@pytest.mark.parametrize("condition,names", [
    ({"nameIsGreaterThan": "b"}, ["c", "d"]), ({"nameIsGreaterThanOrEqual": "b"}, ["b", "c", "d"]),
    ({"nameIsLessThan": "c"}, ["B", "a", "b"]), ({"nameIsLessThanOrEqual": "c"}, ["B", "a", "b", "c"]),
    ({"operator": "AND", "conditions": [{"nameIsGreaterThan": "a"}, {"nameIsLessThan": "d"}]}, ["b", "c"]),
    ({"nameIsGreaterThan": "a", "nameIsLessThan": "c"}, ["b"]),
])
def test_query_byte_comparisons_and_and(any_sim, condition, names):
    ids = seed(any_sim, "a", "b", "c", "d", "B")
    answer = result(any_sim, QUERY, {"filter": condition, "sort": [{"property": "name", "isAscending": True}]})
    assert answer["ids"] == [ids[name] for name in names]


@pytest.mark.parametrize("condition,description", [
    ({"operator": "OR", "conditions": [{"name": "a"}]}, "Only AND is supported in filters"),
    ({"operator": "NOT", "conditions": [{"name": "a"}]}, "Only AND is supported in filters"),
    ({"description": "x"}, "Filter on property description is not supported or invalid"),
    ({"name": 5}, "Filter on property name is not supported or invalid"),
    ({"text": "bulk"}, "text"),
])
def test_query_unsupported_filters(any_sim, condition, description):
    assert call(any_sim, QUERY, {"filter": condition})[1] == {"type": "unsupportedFilter",
                                                              "description": description}


def test_query_sort_by_id_and_name(any_sim):
    ids = seed(any_sim, "b", "a", "c")
    by_id = result(any_sim, QUERY, {"sort": [{"property": "id", "isAscending": True}]})["ids"]
    assert by_id == [ids["b"], ids["a"], ids["c"]]
    by_name = result(any_sim, QUERY, {"sort": [{"property": "name", "isAscending": False, "collation": "x"},
                                               {"property": "id"}]})["ids"]
    assert by_name == [ids["c"], ids["b"], ids["a"]]
    assert call(any_sim, QUERY, {"sort": [{"property": "description"}]})[1] == {
        "type": "unsupportedSort", "description": "Property description is not supported for sorting"}


def test_query_paging(any_sim):
    ids = seed(any_sim, *"abcdef")
    ascending = {"sort": [{"property": "name"}]}
    page = result(any_sim, QUERY, {**ascending, "position": 1, "limit": 2, "calculateTotal": True})
    assert (page["ids"], page["position"], page["total"], page["limit"]) == ([ids["b"], ids["c"]], 1, 6, 2)
    page = result(any_sim, QUERY, {**ascending, "anchor": ids["c"], "anchorOffset": 1, "limit": 10})
    assert (page["ids"], page["position"]) == ([ids["d"], ids["e"], ids["f"]], 3)
    assert "limit" not in page  # 6 matches do not exceed a limit of 10
    page = result(any_sim, QUERY, {**ascending, "position": -2})
    assert (page["ids"], page["position"]) == ([ids["e"], ids["f"]], 4)
    assert call(any_sim, QUERY, {"anchor": "zzzz"})[1] == {"type": "anchorNotFound"}


def test_query_caps_results_at_5000(any_sim):
    any_sim.reset(seed_default=False)
    for start in range(0, 5001, 500):
        result(any_sim, SET, {"create": {f"n{index}": {"name": f"s{index:05}"}
                                         for index in range(start, min(start + 500, 5001))}})
    answer = result(any_sim, QUERY, {"calculateTotal": True})
    assert (len(answer["ids"]), answer["total"], answer["limit"]) == (5000, 5001, 5000)
    # A larger requested limit is capped too.
    answer = result(any_sim, QUERY, {"calculateTotal": True, "limit": 6000})
    assert (len(answer["ids"]), answer["limit"]) == (5000, 5000)


# --- references -------------------------------------------------------------------------------

def test_find_by_name_round_trip(any_sim):
    ids = seed(any_sim, "bulk", "other")
    body = any_sim.jmap([
        [QUERY, {"filter": {"name": "bulk"}}, "q"],
        [GET, {"#ids": {"resultOf": "q", "name": QUERY, "path": "/ids"}, "properties": ["name"]}, "g"]])
    assert body["methodResponses"][1] == [GET, {"accountId": "b", "list": [{"name": "bulk", "id": ids["bulk"]}],
                                                "notFound": []}, "g"]


def test_wildcard_pointer_properties_and_destroy_references(any_sim):
    # Strategies named like properties, so that "/list/*/name" is a valid property list.
    ids = seed(any_sim, "description", "name")
    body = any_sim.jmap([
        [GET, {"ids": None, "properties": ["name"]}, "g"],
        [GET, {"#ids": {"resultOf": "g", "name": GET, "path": "/list/*/id"},
               "#properties": {"resultOf": "g", "name": GET, "path": "/list/*/name"}}, "g2"],
        [QUERY, {"filter": {"name": "description"}}, "q"],
        [SET, {"#destroy": {"resultOf": "q", "name": QUERY, "path": "/ids"}}, "s"]])
    second = body["methodResponses"][1][1]["list"]
    assert second == [{"name": "description", "description": None, "id": ids["description"]},
                      {"name": "name", "description": None, "id": ids["name"]}]
    assert body["methodResponses"][3][1]["destroyed"] == [ids["description"]]


def test_ids_and_a_reference_to_ids_together_are_invalid_arguments(any_sim):
    body = any_sim.jmap([[QUERY, {}, "q"],
                         [GET, {"ids": [], "#ids": {"resultOf": "q", "name": QUERY, "path": "/ids"}}, "g"]])
    assert body["methodResponses"][1][1]["type"] == "invalidArguments"


@pytest.mark.parametrize("reference", [
    {"resultOf": "missing", "name": QUERY, "path": "/ids"},
    {"resultOf": "q", "name": GET, "path": "/ids"},
    {"resultOf": "q", "name": QUERY, "path": "/nothing"},
])
def test_unresolvable_references(any_sim, reference):
    body = any_sim.jmap([[QUERY, {}, "q"], [GET, {"#ids": reference}, "g"]])
    assert body["methodResponses"][1][0] == "error"
    assert body["methodResponses"][1][1]["type"] == "invalidResultReference"


def test_reference_to_an_errored_call_fails(any_sim):
    body = any_sim.jmap([[QUERY, {"filter": {"operator": "OR"}}, "q"],
                         [GET, {"#ids": {"resultOf": "q", "name": QUERY, "path": "/ids"}}, "g"]])
    assert [response[0] for response in body["methodResponses"]] == ["error", "error"]
    assert body["methodResponses"][1][1]["type"] == "invalidResultReference"


def test_creation_id_references(any_sim):
    body = any_sim.jmap([
        [SET, {"create": {"n1": {"name": "first"}, "n2": {"name": "second", "description": "#n1"}}}, "s"],
        [GET, {"ids": ["#n1", "#n2"], "properties": ["description"]}, "g"],
        [SET, {"update": {"#n1": {"description": "dropped"}}, "destroy": ["#n2"]}, "s2"]])
    created = body["methodResponses"][0][1]["created"]
    got = body["methodResponses"][1][1]["list"]
    assert [item["id"] for item in got] == [created["n1"]["id"], created["n2"]["id"]]
    # "#n1" inside a value resolved to the id; in update keys and destroy entries it is dropped.
    assert got[1]["description"] == created["n1"]["id"]
    assert body["methodResponses"][2][1] == {"accountId": "b"}


def test_creates_that_reference_later_creates_run_after_them(any_sim):
    answer = result(any_sim, SET, {"create": {"a": {"name": "a", "description": "#b"}, "b": {"name": "b"}}})
    assert any_sim.objects()[-2]["name"] == "b"
    stored = {item["name"]: item for item in any_sim.objects()}
    assert stored["a"]["description"] == answer["created"]["b"]["id"]


def test_request_level_created_ids_resolve(any_sim):
    object_id = create_id(any_sim, {"name": "x"})
    body = any_sim.http("POST", any_sim.api_path, {
        "using": [], "createdIds": {"earlier": object_id},
        "methodCalls": [[GET, {"ids": ["#earlier"], "properties": ["name"]}, "g"]]},
        {"Content-Type": "application/json", "Authorization": "Bearer admin-token"}).json()
    assert body["methodResponses"][0][1]["list"] == [{"name": "x", "id": object_id}]
    assert body["createdIds"] == {"earlier": object_id}


# --- ids --------------------------------------------------------------------------------------

def test_ids_are_time_ordered_snowflakes_in_the_custom_alphabet(any_sim):
    ids = [create_id(any_sim, {"name": f"s{index}"}) for index in range(5)]
    assert all(re.fullmatch(f"[{ALPHABET}]{{12}}", text) for text in ids)
    values = [id_value(text) for text in ids]
    assert values == sorted(values) and len(set(values)) == 5
    # ms since 2021-09-22 in the top bits: within a day of now.
    import time
    milliseconds = (values[0] >> 21) + 1_632_268_800_000
    assert abs(milliseconds - time.time() * 1000) < 86_400_000


LOWER_K_TO_Z = "klmnopqrstuvwxyz"


def test_upper_case_k_to_z_in_ids_decode_like_lower_case(any_sim):
    """§1.9: the id decoder accidentally accepts upper-case K..Z (not A..J)."""
    names = seed(any_sim, *(f"s{index}" for index in range(40)))
    # Every id has an "a" (the zero bits below the node number); most have letters in k..z.
    object_id, other_id = [text for text in names.values() if set(text) & set(LOWER_K_TO_Z)][:2]
    assert set(object_id) & set("abcdefghij")
    shouted, shouted_other = ("".join(char.upper() if char in LOWER_K_TO_Z else char for char in text)
                              for text in (object_id, other_id))
    name = {value: key for key, value in names.items()}[object_id]
    answer = result(any_sim, GET, {"ids": [shouted, object_id.upper()], "properties": ["name"]})
    assert answer["list"] == [{"name": name, "id": object_id}]
    assert answer["notFound"] == [object_id.upper()]  # upper-case A..J make it invalid
    # In /set the upper-case id is the same object: updating it while destroying the lower-case
    # form is willDestroy; the invalid all-upper-case form is silently dropped.
    answer = result(any_sim, SET, {"update": {shouted: {"description": "d"}, object_id.upper(): {"description": "d"}},
                                   "destroy": [object_id]})
    assert answer == {"accountId": "b", "destroyed": [object_id],
                      "notUpdated": {shouted: {"type": "willDestroy", "description": "ID will be destroyed."}}}
    answer = result(any_sim, SET, {"update": {shouted_other: {"description": "changed"}}})
    assert list(answer) == ["accountId", "updated"] and len(answer["updated"]) == 1
    assert result(any_sim, GET, {"ids": [other_id]})["list"][0]["description"] == "changed"
    result(any_sim, SET, {"destroy": [shouted_other]})
    assert result(any_sim, GET, {"ids": [other_id]})["notFound"] == [other_id]


def test_empty_id_parses_as_id_zero(any_sim):
    """§1.9: "" is id 0 (like "a"), a valid id: /set reports it instead of dropping it."""
    answer = result(any_sim, SET, {"update": {"": {"description": "d"}, "not!an!id": {"description": "d"}},
                                   "destroy": ["", "not!an!id"]})
    assert answer == {"accountId": "b",
                      "notUpdated": {"": {"type": "willDestroy", "description": "ID will be destroyed."}},
                      "notDestroyed": {"": {"type": "notFound"}}}
    # "" and "a" are the same id.
    answer = result(any_sim, SET, {"update": {"": {"description": "d"}}, "destroy": ["a"]})
    assert answer["notUpdated"] == {"": {"type": "willDestroy", "description": "ID will be destroyed."}}
    assert result(any_sim, SET, {"update": {"": {"description": "d"}}})["notUpdated"] == {"": {"type": "notFound"}}
    assert result(any_sim, GET, {"ids": ["", "a"]})["notFound"] == ["", "a"]


# --- outbound singleton -----------------------------------------------------------------------

DEFAULT_CONNECTION = {"match": {}, "else": "'default'"}


def test_outbound_get(any_sim):
    assert result(any_sim, OUTBOUND_GET, {}) == {"accountId": "b", "list": [
        {"connection": DEFAULT_CONNECTION, "id": "singleton"}], "notFound": []}
    answer = result(any_sim, OUTBOUND_GET, {"ids": ["singleton", "other"]}, token=READONLY_TOKEN)
    assert (len(answer["list"]), answer["notFound"]) == (1, ["other"])
    assert call(any_sim, OUTBOUND_GET, {}, token=NOOUTBOUND_TOKEN)[1]["type"] == "forbidden"


def test_outbound_set_updates_the_connection_expression(any_sim):
    connection = {"match": {"3": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'bulk'"}
    assert result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": connection}}}) == {
        "accountId": "b", "updated": {"singleton": None}}
    stored = result(any_sim, OUTBOUND_GET, {})["list"][0]["connection"]
    assert stored == {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'bulk'"}
    assert any_sim.dump()["outbound"] == {"connection": stored}
    bad = result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"route": "x"}, "other": {}}})
    assert bad["notUpdated"] == {"singleton": {"type": "invalidPatch", "description": "Invalid property",
                                               "properties": ["route"]},
                                 "other": {"type": "notFound"}}
    assert call(any_sim, OUTBOUND_SET, {"update": {"singleton": {}}}, token=READONLY_TOKEN)[1]["type"] == "forbidden"
    assert call(any_sim, OUTBOUND_SET, {"create": {"n": {}}})[1] == {
        "type": "forbidden", "description": "You are not authorized to create objects of this type"}
    bad_expression = result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": {"match": {}}}}})
    assert bad_expression["notUpdated"]["singleton"] == {
        "type": "validationFailed", "validationErrors": [{"type": "Required", "property": "else"}]}
    assert any_sim.http("POST", "/_sim/reset", {"outbound": {"connection": []}}).status == 400


def test_reset_with_an_outbound_strategy(any_sim):
    connection = {"match": {"0": {"if": "true", "then": "'bulk'"}}, "else": "'default'"}
    any_sim.reset(outbound={"connection": connection})
    assert result(any_sim, OUTBOUND_GET, {})["list"][0]["connection"] == connection


# --- reload action ----------------------------------------------------------------------------

def test_reload_action(any_sim):
    answer = result(any_sim, ACTION_SET, {"create": {"r1": {"@type": "ReloadSettings"}}})
    assert list(answer["created"]["r1"]) == ["id"]
    bad = result(any_sim, ACTION_SET, {"create": {"r2": {"@type": "Unknown"}}})
    assert bad["notCreated"]["r2"]["type"] == "invalidPatch"
    assert any_sim.dump()["reloads"] == 1
    stats = any_sim.stats()
    assert (stats["reloads"], stats["writes"], stats["set_calls"]) == (1, 2, 2)
    assert call(any_sim, ACTION_SET, {"create": {"r": {"@type": "ReloadSettings"}}}, token=READONLY_TOKEN)[1] == {
        "type": "forbidden", "description": "You are not authorized to create, update or destroy objects of this type"}
    assert call(any_sim, "x:Action/get", {})[1]["type"] == "unknownMethod"
