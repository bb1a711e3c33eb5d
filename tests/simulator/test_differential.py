"""The simulator and a real Stalwart server, asked the same things, answer the same.

Each case seeds both backends alike (the same strategies, created in the same order, and
optionally the outbound strategy), sends them the same request body (byte for byte), and compares
the answers exactly once each backend's object ids are replaced by the names of the objects they
belong to and ``sessionState`` is dropped; the stored strategies and the outbound strategy
afterwards are compared the same way. Two more things are named rather than compared: the
caller's own ``accountId`` is ``<own>`` (the simulator gives each token an account of its own; on
the real server every key is the administrator's) and an action's id, the server's clock in
seconds, is ``<now>``. A few cases are plain HTTP requests (routing), compared by status,
``Location``, ``Content-Type`` and body.

A case needs both backends, so every case is a ``real`` test: without a real server none runs
(the simulator's own behaviour is pinned by the other modules of this suite).

Placeholders in a case's calls: ``"$id:bulk"`` is the id of the strategy named ``bulk``,
``"$upper:bulk"`` the same id with its letters k..z in upper case (which the server's decoder
accepts, [Objects, ids and lists]).
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
from dataclasses import dataclass, field

import pytest

from tests.simulator.conftest import GET, QUERY, SET
from tests.support.sim import ADMIN_TOKEN, NOPERM_TOKEN, READONLY_TOKEN, USING

OUTBOUND_GET, OUTBOUND_SET = "x:MtaOutboundStrategy/get", "x:MtaOutboundStrategy/set"
ACTION_GET, ACTION_SET, ACTION_QUERY = "x:Action/get", "x:Action/set", "x:Action/query"
ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"
SIX = [{"name": name} for name in "abcdef"]
OUTBOUND = {"connection": {"match": {"0": {"if": "rcpt_domain == 'example.org'", "then": "'bulk'"}},
                           "else": "'default'"}}
# seeded random letters: LZ4 cannot shrink them, so the real server measures them uncompressed too
INCOMPRESSIBLE = "".join(random.Random(11).choices("abcdefghijklmnopqrstuvwxyz", k=200_001))


@dataclass
class Case:
    """One request against both backends, after the same seeding."""

    name: str
    calls: list
    objects: list = field(default_factory=list)
    seed_default: bool = True
    outbound: dict | None = None
    token: str = ADMIN_TOKEN
    using: list = field(default_factory=lambda: list(USING))
    extra: dict = field(default_factory=dict)  # more top-level request members (createdIds)
    raw: bytes | None = None  # a body sent as it is instead
    method: str = "POST"  # with ``path``: a plain HTTP request instead of a JMAP one
    path: str | None = None


def q(name, arguments, objects=SIX, **options):
    """A /query case over six strategies a..f (created in that order) and ``default``."""
    return Case(name, [[QUERY, arguments, "q"]], objects=objects, **options)


def one(name, method, arguments, objects=(), **options):
    return Case(name, [[method, arguments, "c"]], objects=list(objects), **options)


def create_error(name, body):
    return one(name, SET, {"create": {"n1": body}})


def update_error(name, patch, item=None):
    """An update of the seeded strategy ``x`` (with one source IP unless ``item`` says otherwise)."""
    seeded = {"name": "x", "sourceIps": {"0": item or {"sourceIp": "192.0.2.1"}}}
    return one(name, SET, {"update": {"$id:x": patch}}, objects=[seeded])


def outbound_update(name, patch):
    return one(name, OUTBOUND_SET, {"update": {"singleton": patch}}, outbound=OUTBOUND)


REFERENCE = {"resultOf": "q", "name": QUERY, "path": "/ids"}


def reference(path, result_of="q", name=QUERY):
    return {"resultOf": result_of, "name": name, "path": path}


CASES = [
    # --- /query: paging, the limit pushdown, sorting -----------------------------------------------
    q("query-default", {}),
    q("query-limit-pushdown", {"limit": 2}),
    q("query-limit-position-0", {"limit": 2, "position": 0}),
    q("query-position-pushdown", {"position": 2, "limit": 2}),
    q("query-position-pushdown-no-limit", {"position": 1}),
    q("query-position-past-the-end", {"position": 10}),
    q("query-position-past-the-end-total", {"position": 10, "calculateTotal": True}),
    q("query-negative-position", {"position": -2}),
    q("query-negative-position-limit", {"position": -2, "limit": 1}),
    q("query-limit-total", {"limit": 2, "calculateTotal": True}),
    q("query-limit-zero-pushdown", {"limit": 0}),
    q("query-limit-zero-paged", {"limit": 0, "position": 0}),
    q("query-limit-equal-total", {"limit": 7, "position": 0}),
    q("query-id-ascending", {"sort": [{"property": "id", "isAscending": True}], "limit": 2}),
    q("query-id-ascending-position", {"sort": [{"property": "id"}], "position": 1, "limit": 2}),
    q("query-id-descending-position", {"sort": [{"property": "id", "isAscending": False}], "position": 1,
                                       "limit": 2}),
    q("query-name-ascending", {"sort": [{"property": "name"}], "position": 1, "limit": 2, "calculateTotal": True}),
    q("query-name-descending", {"sort": [{"property": "name", "isAscending": False, "collation": "i;octet"},
                                         {"property": "id"}]}),
    q("query-anchor-pushdown", {"anchor": "$id:c"}),
    q("query-anchor-pushdown-limit", {"anchor": "$id:c", "limit": 2}),
    q("query-unknown-anchor-pushdown", {"anchor": "zzzz"}),
    q("query-unparseable-anchor-pushdown", {"anchor": "zz!"}),
    q("query-unknown-anchor-paged", {"anchor": "zzzz", "position": 0}),
    q("query-anchor-offset", {"anchor": "$id:c", "anchorOffset": 1}),
    q("query-anchor-negative-offset", {"anchor": "$id:c", "anchorOffset": -1, "limit": 2}),
    q("query-anchor-paged-limit", {"anchor": "$id:c", "position": 0, "limit": 2}),
    q("query-anchor-total", {"anchor": "$id:c", "calculateTotal": True}),
    q("query-name-anchor-unknown", {"sort": [{"property": "name"}], "anchor": "zzzz"}),
    q("query-filter-pushdown", {"filter": {"nameIsGreaterThan": "b"}, "limit": 2}),
    q("query-filter-pushdown-position", {"filter": {"nameIsGreaterThan": "b"}, "limit": 2, "position": 1}),
    q("query-two-filters-pushdown", {"filter": {"nameIsGreaterThan": "a", "nameIsLessThan": "f"}, "limit": 2,
                                     "position": 1}),
    q("query-two-filters-anchor", {"filter": {"operator": "AND", "conditions": [
        {"nameIsGreaterThanOrEqual": "b"}, {"nameIsLessThanOrEqual": "e"}]}, "anchor": "$id:c"}),
    q("query-filter-anchor-pushdown", {"filter": {"nameIsLessThan": "e"}, "anchor": "$id:b", "limit": 1}),
    q("query-filter-exact", {"filter": {"name": "c"}, "calculateTotal": True}),
    q("query-filter-no-match-paged", {"filter": {"name": "nothing"}, "anchor": "zzzz", "position": 0}),
    q("query-or-without-conditions", {"filter": {"operator": "OR"}, "calculateTotal": True}),
    q("query-or-with-no-conditions", {"filter": {"operator": "OR", "conditions": []}}),
    q("query-nested-not", {"filter": {"operator": "AND", "conditions": [{"operator": "NOT", "conditions": [
        {"name": "a"}]}]}}),
    q("query-filter-registry-property", {"filter": {"text": "x"}}),
    q("query-filter-unknown-key", {"filter": {"zzzBogus": "x"}}),
    q("query-filter-not-a-string", {"filter": {"name": 5}}),
    q("query-filter-unknown-operator-suffix", {"filter": {"nameIsFoo": "x"}}),
    q("query-filter-description-operator", {"filter": {"descriptionIsGreaterThan": "x"}}),
    q("query-sort-unsupported", {"sort": [{"property": "description"}]}),
    q("query-sort-unknown", {"sort": [{"property": "zzz"}]}),
    q("query-sort-without-property", {"sort": [{}]}),
    q("query-sort-unsupported-no-match", {"filter": {"name": "nothing"}, "sort": [{"property": "description"}]}),
    q("query-readonly-token", {"limit": 1, "position": 0}, token=READONLY_TOKEN),
    # --- /get: ids, properties, accounts ---------------------------------------------------------------
    one("get-ids-reencoded", GET, {"ids": ["", "K", "k", "zz!", "abc", "B", "#", "zzzzzzzzzzzzzzzz"]}),
    one("get-upper-case-id", GET, {"ids": ["$upper:x", "$id:x"], "properties": ["name"]}, objects=[{"name": "x"}]),
    one("get-properties-id-only", GET, {"properties": ["id"]}),
    one("get-properties-registry-name", GET, {"properties": ["text"]}),
    one("get-properties-unknown-only", GET, {"properties": ["bogus"]}),
    one("get-properties-empty", GET, {"properties": []}),
    one("get-properties-mixed", GET, {"properties": ["dataTimeout", "bogus", "name"]}),
    one("get-unknown-argument", GET, {"ids": None, "bogus": 1, "properties": ["name"]}),
    one("get-unresolved-creation-id", GET, {"ids": ["#n1"]}),
    one("get-account-other-admin", GET, {"accountId": "c", "properties": ["name"]}),
    one("get-account-unparseable", GET, {"accountId": "not!an!id", "properties": ["name"]}),
    one("get-account-upper-case", GET, {"accountId": "K", "ids": []}),
    one("get-account-other-readonly", GET, {"accountId": "d", "ids": []}, token=READONLY_TOKEN),
    one("get-noperm", GET, {}, token=NOPERM_TOKEN),
    one("get-too-many-ids", GET, {"ids": ["a"] * 501}),
    # --- /set: the SetErrors of [MtaConnectionStrategy] and [Errors and permissions] ----------------------------------------------------------------
    create_error("create-unknown-key", {"name": "n", "foo": 1}),
    create_error("create-other-registry-property", {"name": "n", "enable": True}),
    create_error("create-id", {"name": "n", "id": "abc"}),
    create_error("create-pointer-key", {"name": "n", "sourceIps/0": {"sourceIp": "192.0.2.1"}}),
    create_error("create-not-an-object", "n"),
    create_error("create-without-name", {"sourceIps": {"0": {}}}),
    create_error("create-empty-name", {"name": ""}),
    create_error("create-empty-description", {"name": "n", "description": ""}),
    create_error("create-empty-hostname", {"name": "n", "ehloHostname": ""}),
    create_error("create-bad-hostname", {"name": "n", "ehloHostname": "foo.invalidtld"}),
    create_error("create-duration-string", {"name": "n", "connectTimeout": "5m"}),
    create_error("create-duration-zero", {"name": "n", "dataTimeout": 0}),
    create_error("create-duration-float", {"name": "n", "dataTimeout": 300000.0}),
    create_error("create-duration-null", {"name": "n", "ehloTimeout": None}),
    create_error("create-source-ips-array", {"name": "n", "sourceIps": [{"sourceIp": "192.0.2.1"}]}),
    create_error("create-source-ips-bad-key", {"name": "n", "sourceIps": {"a": {"sourceIp": "192.0.2.1"}}}),
    create_error("create-source-ip-unparseable", {"name": "n", "sourceIps": {"3": {"sourceIp": "300.1.1.1"}}}),
    create_error("create-source-ip-number", {"name": "n", "sourceIps": {"3": {"sourceIp": 12}}}),
    create_error("create-item-unknown-key", {"name": "n", "sourceIps": {"0": {"sourceIp": "192.0.2.1", "x": 1}}}),
    create_error("create-item-registry-property", {"name": "n", "sourceIps": {"0": {"name": "y"}}}),
    create_error("create-item-not-an-object", {"name": "n", "sourceIps": {"0": "192.0.2.1"}}),
    create_error("create-item-hostname", {"name": "n", "sourceIps": {"0": {"sourceIp": "192.0.2.1",
                                                                           "ehloHostname": "a..b.com"}}}),
    create_error("create-oversized", {"name": "n", "description": INCOMPRESSIBLE}),
    one("create-normalised", SET, {"create": {"n1": {"name": "n", "ehloHostname": "MX.Example.ORG", "sourceIps": {
        "5": {"sourceIp": "2001:DB8::A"}, "+2": {"sourceIp": "::FFFF:0102:0304", "ehloHostname": "bücher.de"}},
        "@type": "ignored"}}}),
    one("create-duplicate-names", SET, {"create": {"a": {"name": "twin"}, "b": {"name": "twin"}}}),
    one("create-taken-name", SET, {"create": {"a": {"name": "x"}}}, objects=[{"name": "x"}]),
    update_error("update-name", {"name": "x"}),
    update_error("update-unknown-key", {"foo": 1}),
    update_error("update-id", {"id": "abc"}),
    update_error("update-non-numeric-item", {"sourceIps/x": {}}),
    update_error("update-missing-item-null", {"sourceIps/1": None}),
    update_error("update-item-unknown-field", {"sourceIps/0/bogus": 1}),
    update_error("update-item-unknown-key", {"sourceIps/0": {"bogus": 1}}),
    update_error("update-item-default-address", {"sourceIps/4": {"ehloHostname": "x.example.com"}}),
    update_error("update-below-a-string", {"description/x": "y"}),
    update_error("update-below-a-duration", {"connectTimeout/x": 5}),
    update_error("update-empty-key", {"": 1}),
    update_error("update-item-patches", {"sourceIps/0/ehloHostname": "ONE.example.org", "sourceIps/7": {
        "sourceIp": "2001:DB8::7"}, "@type": "x", "description": "d"}),
    update_error("update-item-removal", {"sourceIps/0": None, "ehloHostname": None}),
    one("update-and-destroy", SET, {"update": {"$id:x": {"description": "d"}}, "destroy": ["$id:x"]},
        objects=[{"name": "x"}]),
    one("update-destroy-ids", SET, {"update": {"zzzzzzzzzzzz": {"description": "d"}, "bad-id!": {}, "#n1": {},
                                               "": {}},
                                    "destroy": ["yyyyyyyyyyyy", "bad-id!", "#n1", "a", "$upper:x"]},
        objects=[{"name": "x"}]),
    one("set-too-large", SET, {"create": {f"n{index}": {"name": f"s{index}"} for index in range(300)},
                               "destroy": ["a"] * 201}),
    one("set-readonly", SET, {}, token=READONLY_TOKEN),
    one("set-order", SET, {"destroy": ["$id:gone"], "update": {"$id:keep": {"description": "k"}},
                           "create": {"new": {"name": "gone"}}}, objects=[{"name": "keep"}, {"name": "gone"}]),
    # --- references ----------------------------------------------------------------------------------
    Case("ref-query-get", [[QUERY, {"filter": {"name": "c"}}, "q"],
                           [GET, {"#ids": REFERENCE, "properties": ["name"]}, "g"]], objects=SIX),
    Case("ref-paths", [[QUERY, {"limit": 2, "position": 0}, "q"],
                       [GET, {"#ids": reference("ids/1"), "properties": ["name"]}, "g1"],
                       [GET, {"#ids": reference("/ids/foo"), "properties": ["name"]}, "g2"],
                       [GET, {"#ids": reference("/ids/0/x"), "properties": ["name"]}, "g3"],
                       [GET, {"#ids": reference(""), "properties": ["name"]}, "g4"],
                       [GET, {"#ids": reference("/nothing"), "properties": ["name"]}, "g5"]], objects=SIX),
    Case("ref-get-paths", [[GET, {"properties": ["name"]}, "g0"],
                           [GET, {"#ids": reference("/list/*/id", "g0", GET), "properties": ["name"]}, "g1"],
                           [GET, {"#ids": reference("/list/1/id", "g0", GET), "properties": ["name"]}, "g2"],
                           [GET, {"#ids": reference("/list/*/name", "g0", GET)}, "g3"],
                           [GET, {"#ids": reference("/notFound", "g0", GET)}, "g4"]], objects=SIX[:2]),
    Case("ref-properties", [[GET, {"properties": ["name"]}, "g0"],
                            [GET, {"ids": [], "#properties": reference("/list/*/name", "g0", GET)}, "g1"],
                            [GET, {"ids": ["$id:a"], "#properties": reference("/list/*/name", "g0", GET)}, "g2"],
                            [GET, {"ids": [], "#properties": reference("/list/*/id", "g0", GET)}, "g3"]],
         objects=SIX[:2]),
    Case("ref-ids-and-reference", [[QUERY, {"filter": {"name": "a"}}, "q"],
                                   [GET, {"ids": [], "#ids": REFERENCE, "properties": ["name"]}, "g1"],
                                   [GET, {"#ids": REFERENCE, "ids": [], "properties": ["name"]}, "g2"]],
         objects=SIX),
    Case("ref-missing-and-errored", [[QUERY, {"filter": {"operator": "OR", "conditions": []}}, "q"],
                                     [GET, {"#ids": REFERENCE}, "g1"],
                                     [GET, {"#ids": reference("/ids", "nope")}, "g2"],
                                     [GET, {"#ids": reference("/ids", "q", GET)}, "g3"]]),
    Case("ref-to-a-set", [[SET, {"create": {"n1": {"name": "made"}}}, "s"],
                          [GET, {"#ids": reference("/created/n1/id", "s", SET)}, "g"]]),
    Case("ref-creation-ids", [
        [SET, {"create": {"n1": {"name": "first"}, "n2": {"name": "second", "description": "#n1"}}}, "s"],
        [GET, {"ids": ["#n1", "#n2"], "properties": ["description"]}, "g"],
        [SET, {"update": {"#n1": {"description": "dropped"}}, "destroy": ["#n2"]}, "s2"]]),
    Case("ref-creates-in-order", [[SET, {"create": {"a": {"name": "a", "description": "#b"}, "b": {"name": "b"}}},
                                   "s"]]),
    Case("ref-destroy", [[QUERY, {"filter": {"nameIsGreaterThan": "d"}}, "q"],
                         [SET, {"#destroy": REFERENCE}, "s"]], objects=SIX),
    Case("created-ids-request", [[GET, {"ids": ["#old"]}, "g"], [SET, {"create": {"n1": {"name": "new"}}}, "s"]],
         extra={"createdIds": {"old": "abc", "x": "K"}}),
    Case("created-ids-invalid", [[GET, {"ids": ["#old"]}, "g"]], extra={"createdIds": {"old": "zz!"}}),
    # --- the outbound strategy -----------------------------------------------------------------------
    one("outbound-get-listed", OUTBOUND_GET, {}, outbound=OUTBOUND),
    one("outbound-get-ids", OUTBOUND_GET, {"ids": ["singleton", "other", "zz!", ""], "properties": ["connection",
                                                                                                    "bogus"]}),
    outbound_update("outbound-merge-else", {"connection": {"else": "'z'"}}),
    outbound_update("outbound-clear-match", {"connection": {"match": {}}}),
    outbound_update("outbound-pointer", {"connection/else": "'w'", "connection/match/0/if": "true"}),
    outbound_update("outbound-renumbered", {"connection": {"match": {"5": {"if": "true", "then": "'a'"},
                                                                     "2": {"if": "false", "then": "'b'"}}}}),
    outbound_update("outbound-not-an-object", {"connection": "x"}),
    outbound_update("outbound-null", {"connection": None}),
    outbound_update("outbound-match-array", {"connection": {"match": []}}),
    outbound_update("outbound-rule-unknown-key", {"connection": {"match": {"0": {"if": "true", "then": "'a'",
                                                                                 "x": 1}}}}),
    outbound_update("outbound-empty-if", {"connection": {"match": {"0": {"if": "", "then": "'a'"}}}}),
    outbound_update("outbound-empty-else", {"connection": {"else": ""}}),
    outbound_update("outbound-then-missing", {"connection": {"match": {"0": {"if": "true"}}}}),
    outbound_update("outbound-unterminated", {"connection": {"else": "'unterminated"}}),
    outbound_update("outbound-unknown-variable", {"connection": {"match": {"0": {"if": "bogus_var == 1",
                                                                                 "then": "'a'"}}}}),
    outbound_update("outbound-variable-of-another-context", {"route": {"else": "mx"}}),
    outbound_update("outbound-function-arguments", {"connection": {"else": "is_local_domain()"}}),
    outbound_update("outbound-parentheses", {"connection": {"else": "('a'"}, "tls": {"else": "'a')"}}),
    outbound_update("outbound-character", {"connection": {"else": "'a' # b"}}),
    outbound_update("outbound-accepted-as-given", {"connection": {
        "match": {"0": {"if": "rcpt_domain = 'a.com'", "then": "\"dq\""}}, "else": "  'it''s'  "},
        "schedule": {"else": "5m"}}),
    outbound_update("outbound-unknown-property", {"bogus": 1}),
    outbound_update("outbound-unknown-key", {"connection": {"bogus": 1}}),
    outbound_update("outbound-missing-rule-null", {"connection/match/9": None}),
    one("outbound-create-destroy-other", OUTBOUND_SET, {"create": {"c": {"connection": {"else": "'c'"}}},
                                                        "destroy": ["singleton", "other", "zz!"],
                                                        "update": {"other": {}}}, outbound=OUTBOUND),
    one("outbound-two-writes", OUTBOUND_SET, {"create": {"c": {"route": {"else": "'mx2'"}}},
                                              "update": {"singleton": {"connection/else": "'w'"}}}, outbound=OUTBOUND),
    one("outbound-readonly-update", OUTBOUND_SET, {"update": {"singleton": {}}}, token=READONLY_TOKEN),
    # --- methods, envelope, crashes ------------------------------------------------------------------
    Case("methods", [["Core/echo", {"a": 1, "accountId": "zz"}, "e"], ["x:Nope/get", {}, "n"],
                     ["x:MtaOutboundStrategy/query", {}, "o"], [ACTION_GET, {"ids": ["abc", "zz!"]}, "ag"],
                     [ACTION_QUERY, {}, "aq"], ["x:MtaConnectionStrategy/changes", {}, "ch"]]),
    Case("echo-without-core", [["Core/echo", {"a": 1}, "e"], [GET, {"ids": []}, "g"]], using=[]),
    Case("actions", [[ACTION_SET, {"create": {"r1": {"@type": "ReloadSettings"}, "r2": {"@type": "Unknown"},
                                              "r3": "x"}, "update": {"abc": {}}, "destroy": ["abc"]}, "a"]]),
    Case("crash", [[SET, {"create": {"c": {"name": "made"}}, "update": {"$id:x": "not an object"}}, "s"]],
         objects=[{"name": "x"}]),
    Case("crash-unknown-id", [[SET, {"update": {"zzzzzzzzzzzz": "not an object", "$id:x": None},
                                     "destroy": ["$id:x"]}, "s"]], objects=[{"name": "x"}]),
    Case("not-json", [], raw=b'{"using": [], "methodCalls": [['),
    # --- arguments the server cannot read: the call's invalidArguments, or the whole request -----------
    one("args-ids-string", GET, {"ids": "x"}),
    one("args-ids-object", GET, {"ids": {}}),
    one("args-ids-number-item", GET, {"properties": ["name"], "ids": ["a", 1]}),
    one("args-account-null", GET, {"ids": [], "accountId": None}),
    one("args-position-string-last", QUERY, {"limit": 2, "position": "1"}),
    one("args-position-string-first", QUERY, {"position": "1", "limit": 2}),
    one("args-limit-negative", QUERY, {"limit": -1}),
    one("args-position-too-large", QUERY, {"position": 4294967296}),
    one("args-calculate-total-string", QUERY, {"calculateTotal": "yes"}),
    one("args-filter-unknown-operator", QUERY, {"filter": {"operator": "XOR"}}),
    one("args-filter-mixed", QUERY, {"filter": {"name": "a", "operator": "AND", "conditions": []}}),
    one("args-filter-string", QUERY, {"filter": "x"}),
    one("args-sort-ascending-null", QUERY, {"sort": [{"property": "name", "isAscending": None}]}),
    one("args-sort-ascending-null-first", QUERY, {"sort": [{"property": "name", "isAscending": None}], "limit": 1}),
    one("args-create-array", SET, {"create": []}),
    one("args-create-string", SET, {"create": "x"}),
    one("args-destroy-number", SET, {"destroy": [1]}),
    Case("args-reference-without-path", [[QUERY, {}, "q"], [GET, {"#ids": {"resultOf": "q", "name": QUERY}}, "g"]]),
    Case("args-second-call", [[GET, {"ids": []}, "g"], [QUERY, {"anchor": 5}, "q"], ["Core/echo", {}, "e"]]),
    # --- more pointers and paging ------------------------------------------------------------------------
    update_error("update-pointer-forms", {"/sourceIps/0/ehloHostname": "a.example.com", "sourceIps/01/sourceIp":
                                          "192.0.2.9", "sourceIps/+2": {"sourceIp": "192.0.2.2"}}),
    update_error("update-pointer-wrapping-index", {"sourceIps/4294967296/ehloHostname": "b.example.com"}),
    update_error("update-pointer-wildcard", {"sourceIps/*": {}}),
    update_error("update-pointer-escapes", {"sourceIps~10": 1}),
    Case("update-key-reference", [[SET, {"create": {"n1": {"name": "made"}}}, "s"],
                                  [SET, {"update": {"$id:x": {"#n1": 1}}}, "s2"]], objects=[{"name": "x"}]),
    one("destroy-twice", SET, {"destroy": ["$id:x", "$id:x", "$upper:x"]}, objects=[{"name": "x"}]),
    q("query-name-anchor-offset", {"sort": [{"property": "name", "isAscending": False}], "anchor": "$id:c",
                                   "anchorOffset": -2, "limit": 3}),
    q("query-anchor-offset-zero", {"anchor": "$id:e", "anchorOffset": 0, "position": 3}),
    q("query-filter-and-name-sort", {"filter": {"nameIsLessThanOrEqual": "c"}, "sort": [{"property": "name",
                                                                                         "isAscending": False}],
                                     "position": 1}),
    q("query-big-limit", {"limit": 6000, "position": 0, "calculateTotal": True}),
    q("query-account-filter-admin", {"filter": {"accountId": "b"}}),
    q("query-account-filter-readonly", {"filter": {"accountId": "b", "name": "c"}}, token=READONLY_TOKEN),
    one("get-duplicate-ids", GET, {"ids": ["$id:x", "$upper:x", "zz!", "zz!", "b", "b"], "properties": ["name"]},
        objects=[{"name": "x"}]),
    # --- expressions: what the server's parser refuses ---------------------------------------------------
    *[outbound_update(f"expression-{index}", {"connection": {"else": text}}) for index, text in enumerate([
        "[1, 2]", "count([1, 'a'])", "rcpt_domain[0]", "matches('^a', rcpt)", "system('hostname')",
        "system('bogus')", "$global + $1", "1.2.3", "99999999999999999999", "!(true && false) || 1 >= 2",
        "-1 * (2 - 3)", "'a' 'b'", "count()", "count(1, 2)", "((1)", "\t'x'", "é", "if_then(true, 'a', 'b')",
        "key_get('x', 'y') != 'z'", "rcpt_domain.foo", "count", "[1", "1 + ", "matches 'x'",
        "contains(rcpt, 'a'}", "rcpt == \"a\\\"b\"", "relaxed", "5M", "1.5",
        # and the edges of the simulator's own checks (simulator/stalwart_sim.py, check_expression)
        "system('hostname', 1)", "rcpt_domain[]", "rcpt_domain[1, 2]", "(count)", "count 1", "]", "([1)]",
        "1..2", ".5", "rcpt =x", "matches( 'a' rcpt)", "matches(rcpt)", "matches('a')", "count (rcpt)",
        "count(rcpt) } junk", "'}' == rcpt", "1 - -2", "rcpt_domain != 'a' || (x", "\"abc\"[0]"])],
    # --- HTTP ----------------------------------------------------------------------------------------------
    Case("http-options-jmap", [], method="OPTIONS", path="/jmap/x"),
    Case("http-options-api", [], method="OPTIONS", path="/api/x"),
    Case("http-options-well-known", [], method="OPTIONS", path="/.well-known/jmap"),
    Case("http-redirect", [], method="OPTIONS", path="/jmapx"),
    Case("http-redirect-get", [], method="GET", path="/foo?x=1"),
    Case("http-redirect-root", [], method="GET", path="/"),
    Case("http-not-found", [], method="OPTIONS", path="/jmapx/"),
    Case("http-api-get", [], method="GET", path="/api"),
    Case("http-jmap-get", [], method="GET", path="/jmap/"),
    Case("http-well-known", [], method="GET", path="/.well-known/jmap/"),
]


# --- running a case ------------------------------------------------------------------------------------

def upper_k_to_z(text):
    return "".join(char.upper() if char in "klmnopqrstuvwxyz" else char for char in text)


def fill(value, ids):
    """The case's placeholders replaced by this backend's ids."""
    if isinstance(value, str) and value.startswith("$id:"):
        return ids[value[4:]]
    if isinstance(value, str) and value.startswith("$upper:"):
        return upper_k_to_z(ids[value[7:]])
    if isinstance(value, dict):
        return {fill(key, ids): fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


def request_body(case, ids) -> bytes:
    if case.raw is not None:
        return case.raw
    body = {"using": case.using, "methodCalls": fill(case.calls, ids), **case.extra}
    return json.dumps(body).encode()


def named(value, names, own=None):
    """``value`` with every id of a named object replaced by ``<name>``; ``sessionState`` dropped;
    an ``accountId`` that is the caller's own shown as ``<own>`` (the simulator gives each token an
    account of its own, on the real server every key is the administrator's: ``account_ids``)."""
    if isinstance(value, dict):
        return {named(key, names): "<own>" if key == "accountId" and item == own else named(item, names, own)
                for key, item in value.items() if key != "sessionState"}
    if isinstance(value, list):
        return [named(item, names, own) for item in value]
    if isinstance(value, str):
        if value in names:
            return names[value]
        for object_id, name in names.items():
            value = value.replace(object_id, name)
    return value


def action_ids(body):
    """An action's id is the server's clock in seconds: shown as ``<now>`` when it is one."""
    for response in body.get("methodResponses", []) if isinstance(body, dict) else []:
        if response[0] == ACTION_SET:
            for created in (response[1].get("created") or {}).values():
                value = 0
                for char in created["id"]:
                    value = value * 32 + ALPHABET.index(char)
                if abs(value - time.time()) < 600:
                    created["id"] = "<now>"
    return body


def run(backend, case):
    """Seed, send, read back; everything with names instead of ids."""
    backend.reset(seed_default=case.seed_default, objects=case.objects, outbound=case.outbound)
    before = {item["name"]: item["id"] for item in backend.objects()}
    body = request_body(case, before)
    headers = {"Content-Type": "application/json", "Authorization": backend.authorization(case.token)}
    try:
        if case.path is not None:
            answer = backend.http(case.method, case.path, None, headers)
            outcome = {"status": answer.status, "location": answer.headers.get("Location"),
                       "type": answer.headers.get("Content-Type"),
                       "body": answer.json() if answer.body and answer.status != 200 else len(answer.body)}
        else:
            answer = backend.http("POST", backend.api_path, body, headers)
            outcome = {"status": answer.status, "body": action_ids(answer.json())}
    except (http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError) as error:
        outcome = {"closed": type(error).__name__ in ("RemoteDisconnected", "ConnectionResetError", "URLError")}
    after = backend.objects()
    outbound = backend.jmap([[OUTBOUND_GET, {"ids": ["singleton"]}, "o"]])["methodResponses"][0][1]["list"]
    names = {object_id: f"<{name}>" for name, object_id in before.items()}
    names.update({item["id"]: f"<{item['name']}>" for item in after})
    return named({"answer": outcome, "stored": after, "outbound": outbound}, names, backend.account_ids[case.token])


@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.real, id=f"real-{case.name}")
                                  for case in CASES])
def test_the_simulator_answers_like_the_real_server(case, _server_sim, _real_server):
    simulated = run(_server_sim, case)
    real = run(_real_server, case)
    assert simulated == real, (f"simulator:\n{json.dumps(simulated, indent=1)[:6000]}\n"
                               f"real server:\n{json.dumps(real, indent=1)[:6000]}")


def test_the_corpus_is_large_enough():
    """At least 60 requests, each case named once."""
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)
