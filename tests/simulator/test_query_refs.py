"""/query, result and creation-id references, the outbound singleton, the reload action, ids."""

from __future__ import annotations

import re
import time

import pytest

from tests.simulator.conftest import GET, QUERY, SET, call, create_id, result
from tests.support.sim import ADMIN_TOKEN, DEFAULT_CONNECTION, DEFAULT_OUTBOUND, NOOUTBOUND_TOKEN, READONLY_TOKEN, Simulator

OUTBOUND_GET, OUTBOUND_SET, ACTION_SET = "x:MtaOutboundStrategy/get", "x:MtaOutboundStrategy/set", "x:Action/set"
ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"
KEY_ORDER = ["name", "description", "ehloHostname", "sourceIps", "connectTimeout", "dataTimeout", "ehloTimeout",
             "greetingTimeout", "mailFromTimeout", "rcptToTimeout", "id"]


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
    assert answer == {"accountId": any_sim.account_ids[ADMIN_TOKEN], "queryState": "n", "canCalculateChanges": True,
                      "position": 0, "ids": [ids["c"], ids["a"], ids["b"]]}


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
    ({"operator": "OR", "conditions": []}, "Only AND is supported in filters"),
    ({"description": "x"}, "Filter on property description is not supported or invalid"),
    ({"name": 5}, "Filter on property name is not supported or invalid"),
    # the real server: a key that names a registry property (text) gets the same text as a known
    # property; only a key it does not know at all is said as it is
    ({"text": "bulk"}, "Filter on property text is not supported or invalid"),
    ({"zzzBogus": "bulk"}, "zzzBogus"),
    ({"nameIsFoo": "bulk"}, "nameIsFoo"),
])
def test_query_unsupported_filters(any_sim, condition, description):
    assert call(any_sim, QUERY, {"filter": condition})[1] == {"type": "unsupportedFilter",
                                                              "description": description}


def test_or_without_conditions_is_no_filter(any_sim):
    """The real server: an operator without conditions adds nothing to the filter."""
    ids = seed(any_sim, "b", "a")
    answer = result(any_sim, QUERY, {"filter": {"operator": "OR"}, "calculateTotal": True})
    assert (answer["ids"], answer["total"]) == ([ids["a"], ids["b"]], 2)


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
    # the real server: an unknown anchor is anchorNotFound when the paging is not pushed down
    # (here: position 0 given explicitly), with a description
    for arguments in ({"anchor": "zzzz", "position": 0}, {**ascending, "anchor": "zzzz"},
                      {"anchor": "zzzz", "calculateTotal": True}):
        assert call(any_sim, QUERY, arguments)[1] == {
            "type": "anchorNotFound",
            "description": "An anchor argument was supplied, but it cannot be found in the results of the query."}


def test_query_max_results_caps_every_page_and_is_echoed_as_limit(any_dialect):
    """Measured on Stalwart 0.16.19 with x:Jmap queryMaxResults 3 (9 strategies): a page asked for
    500 holds 3 and echoes limit 3, at any position; a smaller limit is kept. (A real server takes the
    setting only at start-up: tests/real/test_scenarios.py restarts one for it.)"""
    ids = seed(any_dialect, *"abcdefg")
    any_dialect.configure(queryMaxResults=3)
    ascending = {"sort": [{"property": "name"}], "calculateTotal": True}
    page = result(any_dialect, QUERY, {**ascending, "limit": 500})
    assert (page["ids"], page["total"], page["limit"]) == ([ids["a"], ids["b"], ids["c"]], 7, 3)
    page = result(any_dialect, QUERY, {**ascending, "position": 3, "limit": 500})
    assert (page["ids"], page["position"], page["limit"]) == ([ids["d"], ids["e"], ids["f"]], 3, 3)
    assert result(any_dialect, QUERY, {**ascending, "limit": 2})["limit"] == 2
    assert len(result(any_dialect, QUERY, {})["ids"]) == 3  # the pushed-down scan too
    any_dialect.reset(seed_default=False)
    assert any_dialect.configure()["queryMaxResults"] == 5000  # a reset restores the start-up limits


def test_query_pushdown_pages_an_ascending_scan(any_sim):
    """The real server ([Query and references]): sorted by id, without calculateTotal, with anchorOffset 0 and
    position absent or > 0, the offset and limit apply to an ascending id scan and the page is then
    sorted; position is 0 and limit is not echoed."""
    ids = seed(any_sim, *"abcdef")
    newest_first = [ids[name] for name in "fedcba"]

    def page(arguments):
        answer = result(any_sim, QUERY, arguments)
        assert answer["position"] == 0 and "limit" not in answer, answer
        return answer["ids"]

    assert page({}) == newest_first
    assert page({"limit": 2}) == [ids["b"], ids["a"]]  # the two OLDEST, newest first
    assert page({"position": 2, "limit": 2}) == [ids["d"], ids["c"]]  # skip a, b; take c, d
    assert page({"position": 1}) == newest_first[:-1]
    assert page({"position": 10}) == []
    assert page({"limit": 0}) == [ids["a"]]  # the scan stops after the first id
    assert page({"sort": [{"property": "id", "isAscending": True}], "position": 1, "limit": 2}) == [ids["b"], ids["c"]]
    # an anchor starts the scan after it (no anchorNotFound); an unknown one starts it after its value
    assert page({"anchor": ids["c"], "limit": 2}) == [ids["e"], ids["d"]]
    assert page({"anchor": "zzzz"}) == newest_first
    # a filter's matches are paged in name order, then sorted
    assert page({"filter": {"nameIsGreaterThan": "b"}, "limit": 2, "position": 1}) == [ids["e"], ids["d"]]
    # position 0 given, calculateTotal, or an anchorOffset: RFC 8620 paging over the sorted list
    answer = result(any_sim, QUERY, {"limit": 2, "position": 0})
    assert (answer["ids"], answer["limit"]) == (newest_first[:2], 2)
    answer = result(any_sim, QUERY, {"limit": 2, "calculateTotal": True})
    assert (answer["ids"], answer["total"]) == (newest_first[:2], 6)
    answer = result(any_sim, QUERY, {"anchor": ids["c"], "anchorOffset": 1})
    assert (answer["ids"], answer["position"]) == ([ids["b"], ids["a"]], 4)
    # a limit of 0 there returns everything and is echoed
    answer = result(any_sim, QUERY, {"limit": 0, "position": 0})
    assert (answer["ids"], answer["limit"]) == (newest_first, 0)


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
    assert body["methodResponses"][1] == [GET, {"accountId": any_sim.account_ids[ADMIN_TOKEN],
                                                "list": [{"name": "bulk", "id": ids["bulk"]}], "notFound": []}, "g"]


def test_wildcard_pointer_properties_and_destroy_references(any_sim):
    # Strategies named like properties: still, "/list/*/name" yields no property names.
    ids = seed(any_sim, "description", "name")
    body = any_sim.jmap([
        [GET, {"ids": None, "properties": ["name"]}, "g"],
        [GET, {"#ids": {"resultOf": "g", "name": GET, "path": "/list/*/id"},
               "#properties": {"resultOf": "g", "name": GET, "path": "/list/*/name"}}, "g2"],
        [QUERY, {"filter": {"name": "description"}}, "q"],
        [SET, {"#destroy": {"resultOf": "q", "name": QUERY, "path": "/ids"}}, "s"]])
    second = body["methodResponses"][1][1]["list"]
    # the real server: a reference collects only ids, so the property list is empty: all properties
    assert [list(item) for item in second] == [KEY_ORDER, KEY_ORDER]
    assert [item["id"] for item in second] == [ids["description"], ids["name"]]
    assert body["methodResponses"][3][1]["destroyed"] == [ids["description"]]


def test_a_property_reference_to_ids_is_invalid(any_sim):
    body = any_sim.jmap([[GET, {"properties": ["name"]}, "g"],
                         [GET, {"ids": [], "#properties": {"resultOf": "g", "name": GET, "path": "/list/*/id"}}, "g2"]])
    assert body["methodResponses"][1] == ["error", {
        "type": "invalidResultReference",
        "description": "Failed to evaluate { resultOf: g, name: x:MtaConnectionStrategy/get, path: list/*/id } "
                       "result reference: Invalid property."}, "g2"]


def test_ids_and_a_reference_to_ids_together_the_last_one_counts(any_sim):
    """The real server reads the arguments in order: of ``ids`` and ``#ids``, the later one wins."""
    ids = seed(any_sim, "a", "b")
    reference = {"resultOf": "q", "name": QUERY, "path": "/ids"}
    body = any_sim.jmap([[QUERY, {"filter": {"name": "a"}}, "q"],
                         [GET, {"ids": [], "#ids": reference, "properties": ["name"]}, "g1"],
                         [GET, {"#ids": reference, "ids": [], "properties": ["name"]}, "g2"]])
    assert body["methodResponses"][1][1]["list"] == [{"name": "a", "id": ids["a"]}]
    assert body["methodResponses"][2][1]["list"] == []


@pytest.mark.parametrize("reference", [
    {"resultOf": "missing", "name": QUERY, "path": "/ids"},
    {"resultOf": "q", "name": GET, "path": "/ids"},
    {"resultOf": "q", "name": QUERY, "path": "/nothing"},
    {"resultOf": "q", "name": QUERY, "path": ""},
])
def test_unresolvable_references(any_sim, reference):
    body = any_sim.jmap([[QUERY, {}, "q"], [GET, {"#ids": reference}, "g"]])
    assert body["methodResponses"][1] == ["error", {
        "type": "invalidResultReference",
        "description": f"Result reference to {reference['resultOf']}#{reference['name']} not found."}, "g"]


@pytest.mark.parametrize("path,names", [("/ids/1", ["b"]), ("ids", ["c", "b", "a"]), ("/ids/foo", []),
                                        ("/ids/0/anything", ["c"]), ("/ids/9", [])])
def test_reference_paths(any_sim, path, names):
    """The real server: a segment that matches nothing yields no ids rather than an error, and an
    id ends the path."""
    ids = seed(any_sim, "a", "b", "c")
    body = any_sim.jmap([[QUERY, {}, "q"], [GET, {"#ids": {"resultOf": "q", "name": QUERY, "path": path},
                                                  "properties": ["name"]}, "g"]])
    assert [item["id"] for item in body["methodResponses"][1][1]["list"]] == [ids[name] for name in names]


def test_reference_to_an_errored_call_fails(any_sim):
    body = any_sim.jmap([[QUERY, {"filter": {"operator": "OR", "conditions": []}}, "q"],
                         [GET, {"#ids": {"resultOf": "q", "name": QUERY, "path": "/ids"}}, "g"]])
    assert [response[0] for response in body["methodResponses"]] == ["error", "error"]
    assert body["methodResponses"][1][1] == {
        "type": "invalidResultReference",
        "description": "Result reference to q#x:MtaConnectionStrategy/query not found."}


def test_a_set_response_cannot_be_referenced(any_sim):
    body = any_sim.jmap([[SET, {"create": {"n1": {"name": "x"}}}, "s"],
                         [GET, {"#ids": {"resultOf": "s", "name": SET, "path": "/created/n1/id"}}, "g"]])
    assert body["methodResponses"][1][1] == {
        "type": "invalidResultReference",
        "description": "Result reference to s#x:MtaConnectionStrategy/set not found."}


def test_creation_id_references(any_sim):
    body = any_sim.jmap([
        [SET, {"create": {"n1": {"name": "first"}, "n2": {"name": "second", "description": "#n1"}}}, "s"],
        [GET, {"ids": ["#n1", "#n2"], "properties": ["description"]}, "g"],
        [SET, {"update": {"#n1": {"description": "dropped"}}, "destroy": ["#n2"]}, "s2"],
        [GET, {"ids": ["#n3"]}, "g2"]])
    created = body["methodResponses"][0][1]["created"]
    got = body["methodResponses"][1][1]["list"]
    assert [item["id"] for item in got] == [created["n1"]["id"], created["n2"]["id"]]
    # the real server: "#n1" is resolved only in /get ids; inside a value it is stored as it is;
    # in update keys and destroy entries it is dropped
    assert got[1]["description"] == "#n1"
    assert body["methodResponses"][2][1] == {"accountId": any_sim.account_ids[ADMIN_TOKEN]}
    assert body["methodResponses"][3] == ["error", {
        "type": "invalidResultReference", "description": 'Id reference "n3" does not exist or is invalid.'}, "g2"]


def test_creates_run_in_request_order(any_sim):
    """The real server: no reordering of creates that name each other (no value holds an id)."""
    answer = result(any_sim, SET, {"create": {"a": {"name": "a", "description": "#b"}, "b": {"name": "b"}}})
    assert [item["name"] for item in any_sim.objects()][-2:] == ["a", "b"]
    assert id_value(answer["created"]["a"]["id"]) < id_value(answer["created"]["b"]["id"])
    stored = {item["name"]: item for item in any_sim.objects()}
    assert stored["a"]["description"] == "#b"


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
    """[Objects, ids and lists]: the id decoder accidentally accepts upper-case K..Z (not A..J)."""
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
    # form is willDestroy (the real server: reported under the id as it writes it, lower case); the
    # invalid all-upper-case form is silently dropped.
    answer = result(any_sim, SET, {"update": {shouted: {"description": "d"}, object_id.upper(): {"description": "d"}},
                                   "destroy": [object_id]})
    assert answer == {"accountId": any_sim.account_ids[ADMIN_TOKEN], "destroyed": [object_id],
                      "notUpdated": {object_id: {"type": "willDestroy", "description": "ID will be destroyed."}}}
    answer = result(any_sim, SET, {"update": {shouted_other: {"description": "changed"}}})
    assert answer == {"accountId": any_sim.account_ids[ADMIN_TOKEN], "updated": {other_id: None}}
    assert result(any_sim, GET, {"ids": [other_id]})["list"][0]["description"] == "changed"
    assert result(any_sim, SET, {"destroy": [shouted_other]})["destroyed"] == [other_id]
    assert result(any_sim, GET, {"ids": [other_id]})["notFound"] == [other_id]


def test_empty_id_parses_as_id_zero(any_sim):
    """[Objects, ids and lists]: "" is id 0 (like "a"), a valid id: /set reports it (as "a", the real server writes ids
    back re-encoded) instead of dropping it."""
    answer = result(any_sim, SET, {"update": {"": {"description": "d"}, "not!an!id": {"description": "d"}},
                                   "destroy": ["", "not!an!id"]})
    assert answer == {"accountId": any_sim.account_ids[ADMIN_TOKEN],
                      "notUpdated": {"a": {"type": "willDestroy", "description": "ID will be destroyed."}},
                      "notDestroyed": {"a": {"type": "notFound"}}}
    # "" and "a" are the same id.
    answer = result(any_sim, SET, {"update": {"": {"description": "d"}}, "destroy": ["a"]})
    assert answer["notUpdated"] == {"a": {"type": "willDestroy", "description": "ID will be destroyed."}}
    assert result(any_sim, SET, {"update": {"": {"description": "d"}}})["notUpdated"] == {"a": {"type": "notFound"}}
    assert result(any_sim, GET, {"ids": ["", "a"]})["notFound"] == ["a", "a"]


def test_ids_longer_than_a_u64_keep_its_low_bits(any_sim):
    """The real server shifts each character into a u64 and keeps the low 64 bits."""
    assert result(any_sim, GET, {"ids": ["zzzzzzzzzzzzzzzz"]})["notFound"] == ["jzzzzzzzzzzzz"]


# --- outbound singleton -----------------------------------------------------------------------

BULK = {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'bulk'"}


def outbound_error(sim, patch):
    """The notUpdated entry of a refused update of the singleton."""
    answer = result(sim, OUTBOUND_SET, {"update": {"singleton": patch}})
    assert "updated" not in answer, answer
    return answer["notUpdated"]["singleton"]


def connection_now(sim):
    return result(sim, OUTBOUND_GET, {"ids": ["singleton"], "properties": ["connection"]})["list"][0]["connection"]


def test_outbound_get(any_sim):
    # asked for by id, the singleton is always there (the real server: with four expressions)
    answer = result(any_sim, OUTBOUND_GET, {"ids": ["singleton", "other", "zz!", ""]})
    assert answer == {"accountId": any_sim.account_ids[ADMIN_TOKEN], "list": [{**DEFAULT_OUTBOUND, "id": "singleton"}],
                      "notFound": ["zz!", "other", "a"]}
    answer = result(any_sim, OUTBOUND_GET, {"ids": ["singleton"], "properties": ["connection", "bogus"]},
                    token=READONLY_TOKEN)
    assert answer["list"] == [{"connection": DEFAULT_CONNECTION, "id": "singleton"}]
    assert call(any_sim, OUTBOUND_GET, {}, token=NOOUTBOUND_TOKEN)[1]["type"] == "forbidden"
    # ids null lists it once an update has written it (as the reset with an outbound does)
    any_sim.reset(outbound={"connection": BULK})
    assert result(any_sim, OUTBOUND_GET, {"properties": ["connection"]})["list"] == [
        {"connection": BULK, "id": "singleton"}]


def test_outbound_get_of_all_lists_nothing_on_a_fresh_server():
    """The real server, on a fresh data store (measured): ``ids`` null lists no singleton until an
    update has written it, even after a create; ``ids: ["singleton"]`` shows the defaults. A fresh
    simulator here, since a real server in the suite has long been written."""
    with Simulator() as fresh:
        assert result(fresh, OUTBOUND_GET, {}) == {"accountId": fresh.account_ids[ADMIN_TOKEN], "list": [],
                                                   "notFound": []}
        assert result(fresh, OUTBOUND_SET, {"create": {"x": {"connection": {"else": "'q'"}}}})["created"] == {
            "x": {"id": "singleton"}}
        assert result(fresh, OUTBOUND_GET, {})["list"] == []
        assert connection_now(fresh) == {"match": {}, "else": "'q'"}
        result(fresh, OUTBOUND_SET, {"update": {"singleton": {"connection": DEFAULT_CONNECTION}}})
        assert result(fresh, OUTBOUND_GET, {"properties": ["connection"]})["list"] == [
            {"connection": DEFAULT_CONNECTION, "id": "singleton"}]


def test_outbound_set_patches_the_connection_expression(any_sim):
    connection = {"match": {"3": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'bulk'"}
    assert result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": connection}}}) == {
        "accountId": any_sim.account_ids[ADMIN_TOKEN], "updated": {"singleton": None}}
    assert connection_now(any_sim) == BULK  # renumbered from 0
    assert any_sim.dump()["outbound"] == {**DEFAULT_OUTBOUND, "connection": BULK}
    # the real server: an object value is merged into the stored one
    result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": {"else": "'z'"}}}})
    assert connection_now(any_sim) == {"match": BULK["match"], "else": "'z'"}
    result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": {"match": {}}}}})
    assert connection_now(any_sim) == {"match": {}, "else": "'z'"}
    result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection/else": "'w'"}}})
    assert connection_now(any_sim) == {"match": {}, "else": "'w'"}
    # stored as given: not trimmed, and whatever the expression parser accepts
    for expression in ("  'padded'  ", "rcpt_domain", "'it''s'", '"double"'):
        result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": {"else": expression}}}})
        assert connection_now(any_sim)["else"] == expression
    rule = {"0": {"if": "rcpt_domain = 'a.com'", "then": "'a'"}}
    result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": {"match": rule}}}})
    assert connection_now(any_sim)["match"] == rule


def test_outbound_set_create_destroy_and_other_ids(any_sim):
    # the real server: the administrator may "create" the singleton (its defaults, patched)
    assert result(any_sim, OUTBOUND_SET, {"create": {"n": {"connection": {"else": "'c'"}}}}) == {
        "accountId": any_sim.account_ids[ADMIN_TOKEN], "created": {"n": {"id": "singleton"}}}
    assert connection_now(any_sim) == {"match": {}, "else": "'c'"}
    refusal = {"type": "singleton", "description": "Singletons cannot be created or destroyed."}
    assert result(any_sim, OUTBOUND_SET, {"destroy": ["singleton", "other", "zz!"]}) == {
        "accountId": any_sim.account_ids[ADMIN_TOKEN], "notDestroyed": {"singleton": refusal, "other": refusal}}
    assert result(any_sim, OUTBOUND_SET, {"update": {"other": {}, "zz!": {}}}) == {
        "accountId": any_sim.account_ids[ADMIN_TOKEN], "notUpdated": {"other": {"type": "notFound"}}}
    assert call(any_sim, OUTBOUND_SET, {"update": {"singleton": {}}}, token=READONLY_TOKEN)[1]["type"] == "forbidden"
    # the singleton is read once per call: a second write in one call fails the method, the first stays
    answer = call(any_sim, OUTBOUND_SET, {"create": {"n": {"route": {"else": "'mx2'"}}},
                                          "update": {"singleton": {"connection/else": "'w'"}}})
    assert answer[1] == {"type": "serverUnavailable", "description":
                         "This server is temporarily unavailable. Attempting this same operation later may succeed."}
    stored = result(any_sim, OUTBOUND_GET, {"ids": ["singleton"]})["list"][0]
    assert (stored["connection"], stored["route"]["else"]) == (DEFAULT_CONNECTION, "'mx2'")


def invalid(description, path):
    return {"type": "invalidPatch", "description": description, "properties": [path]}


def compile_error(message):
    return {"type": "validationFailed", "properties": ["connection"],
            "validationErrors": [{"type": "Invalid", "property": "connection", "value": message}]}


@pytest.mark.parametrize("patch,error", [
    ({"connection": "x"}, invalid("Invalid value type for object", "connection")),
    ({"connection": None}, invalid("Invalid value type for object", "connection")),
    ({"connection": {"match": []}}, invalid("Invalid value for object property", "connection/match")),
    ({"connection": {"match": {"0": {"if": "true", "then": "'a'", "x": 1}}}},
     invalid("Invalid key for object", "connection/match")),
    ({"connection": {"match": {"x": {}}}}, invalid("Invalid key for object property", "connection/match")),
    ({"connection": {"match": {"0": {"if": "", "then": "'a'"}}}}, invalid("Invalid value for property.",
                                                                          "connection/match/if")),
    ({"connection": {"else": ""}}, invalid("Invalid value for property.", "connection/else")),
    ({"connection": {"else": None}}, invalid("Invalid value for property.", "connection/else")),
    ({"connection": {"bogus": 1}}, invalid("Invalid key for object", "connection")),
    ({"connection/bogus": 1}, invalid("Invalid property", "connection/bogus")),
    ({"connection/match/9": None}, invalid("Invalid value for object property", "connection/match/9")),
    ({"bogus": 1}, invalid("Invalid property", "bogus")),
    ({"route": "x"}, invalid("Invalid value type for object", "route")),
    ({"connection": {"match": {"0": {"if": "true"}}}}, compile_error("All 'if' and 'then' blocks must be non-empty")),
    ({"connection": {"else": "'unterminated"}}, compile_error("Error parsing 'else' expression: Unterminated string")),
    ({"connection": {"match": {"0": {"if": "bogus_var == 1", "then": "'a'"}}}},
     compile_error("Error parsing 'if' expression in condition #1: Invalid variable or constant \"bogus_var\"")),
    ({"connection": {"else": "is_local_domain()"}}, compile_error(
        "Error parsing 'else' expression: Expression function \"is_local_domain\" expected 1 arguments, got 0")),
    ({"connection": {"else": "('a'"}}, compile_error("Error parsing 'else' expression: Unmatched open parenthesis")),
    ({"connection": {"else": "'a' # b"}}, compile_error("Error parsing 'else' expression: Invalid character '#'")),
])
def test_outbound_set_errors(any_sim, patch, error):
    assert outbound_error(any_sim, patch) == error
    assert result(any_sim, OUTBOUND_GET, {"ids": ["singleton"]})["list"][0] == {**DEFAULT_OUTBOUND, "id": "singleton"}


def test_an_expression_may_use_only_its_own_variables(any_sim):
    """route and schedule are evaluated per recipient: no ``mx`` (the connection has it)."""
    assert outbound_error(any_sim, {"route": {"else": "mx"}}) == {
        "type": "validationFailed", "properties": ["route"], "validationErrors": [{
            "type": "Invalid", "property": "route",
            "value": "Error parsing 'else' expression: Variable \"mx\" not allowed in this context"}]}
    assert result(any_sim, OUTBOUND_SET, {"update": {"singleton": {"connection": {"else": "mx"}}}})["updated"] == {
        "singleton": None}


def test_reset_with_an_outbound_strategy(any_sim):
    connection = {"match": {"0": {"if": "true", "then": "'bulk'"}}, "else": "'default'"}
    any_sim.reset(outbound={"connection": connection})
    assert result(any_sim, OUTBOUND_GET, {})["list"][0]["connection"] == connection


# --- reload action ----------------------------------------------------------------------------

def test_reload_action(any_sim):
    answer = result(any_sim, ACTION_SET, {"create": {"r1": {"@type": "ReloadSettings"}}})
    # the real server: an action's id is its clock in seconds
    assert abs(id_value(answer["created"]["r1"]["id"]) - time.time()) < 600
    missing_type = {"type": "invalidPatch", "description": "Missing or invalid '@type' property in object",
                    "properties": [""]}
    bad = result(any_sim, ACTION_SET, {"create": {"r2": {"@type": "Unknown"}, "r3": "x"},
                                       "update": {"abc": {}, "abd": {}}, "destroy": ["abc"]})
    assert bad == {"accountId": any_sim.account_ids[ADMIN_TOKEN],
                   "notCreated": {"r2": missing_type, "r3": missing_type},
                   "notUpdated": {"bc": {"type": "willDestroy", "description": "ID will be destroyed."},
                                  "bd": {"type": "forbidden", "description": "Actions cannot be updated"}},
                   "notDestroyed": {"bc": {"type": "forbidden", "description": "Actions cannot be destroyed"}}}
    assert call(any_sim, ACTION_SET, {"create": {"r": {"@type": "ReloadSettings"}}}, token=READONLY_TOKEN)[1] == {
        "type": "forbidden", "description": "You are not authorized to create, update or destroy objects of this type"}
    # the real server: actions can be read (there are none) but not queried
    assert result(any_sim, "x:Action/get", {"ids": ["abc", "zz!"]}) == {
        "accountId": any_sim.account_ids[ADMIN_TOKEN], "list": [], "notFound": ["zz!", "bc"]}
    assert call(any_sim, "x:Action/query", {})[1] == {"type": "invalidArguments",
                                                      "description": "Actions cannot be queried"}


def test_reloads_are_counted(any_dialect):
    result(any_dialect, ACTION_SET, {"create": {"r1": {"@type": "ReloadSettings"}}})
    result(any_dialect, ACTION_SET, {"create": {"r2": {"@type": "Unknown"}}})
    assert any_dialect.dump()["reloads"] == 1
    stats = any_dialect.stats()
    assert (stats["reloads"], stats["writes"], stats["set_calls"]) == (1, 2, 2)
