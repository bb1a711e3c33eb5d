# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the runner against a fake client: constant number of POSTs per batch size,
check mode without writes, lost-write recovery, concurrent creates, partial failures mapped back
to options, diff in the user's units, and the docs held equal to the field table."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
import yaml

from ansible_collections.stalwart.mail.plugins.module_utils import _objects, _operations, _service, _values
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._client import JmapClient
from ansible_collections.stalwart.mail.plugins.module_utils._connection import connection_argument_spec
from ansible_collections.stalwart.mail.plugins.module_utils._errors import PermissionDenied, WriteOutcomeUnknown

ROOT = Path(__file__).resolve().parents[4]


class FakeClient:
    """An in-memory server speaking just enough JMAP; counts POSTs and can lose a write's answer."""

    def __init__(self, objects=(), strings=False, session_found=True, limits=None, outbound=None,
                 outbound_forbidden=False, refuse_hosts=(), query_forbidden=False, outbound_listing=None,
                 query_max_results=5000):
        self.limits = dict({"max_objects_in_get": 500, "max_objects_in_set": 500, "max_calls_in_request": 16,
                            "max_size_request": 10_000_000}, **(limits or {}))
        self.session_found = session_found
        self.retries = 3
        self.strings = strings
        self.objects = {}
        self.ids = itertools.count(1)
        for obj in objects:
            self._store(dict(obj))
        self.outbound = outbound or {"match": {}, "else": "'default'"}
        self.outbound_forbidden = outbound_forbidden
        self.outbound_listing = outbound_listing  # the outbound /get list, when not the usual one
        self.query_forbidden = query_forbidden
        # the server's queryMaxResults (x:Jmap, not in the session): a /query page holds at most this many
        # (or a function of the page's position to this)
        self.query_max_results = query_max_results
        self.refuse_hosts = set(refuse_hosts)
        self.posts = []
        self.lose_writes = 0
        self.drop_unapplied = False
        self.lose_nth = set()  # the writes (1 for the first) whose answer is lost after they were applied
        self.drop_nth = set()  # and those lost before they were applied
        self.writes_seen = 0
        self.reloads = 0
        self.race = {}  # name -> object another run creates just before our write
        self.waits = []  # back_off(round) calls: the runner's pauses before a re-read
        self.wait_reasons = []  # and the reason each gave (warned to the user)

    def back_off(self, attempt, reason=None):
        self.waits.append(attempt)
        self.wait_reasons.append(reason)

    def _store(self, obj):
        obj.setdefault("id", f"id{next(self.ids):04}")
        full = {"description": None, "ehloHostname": None, "sourceIps": {}}
        for field in STRATEGY.fields:
            if field.kind is _values.DURATION:
                full[field.wire] = _values.render_duration(field.default) if self.strings else field.default
        full.update(obj)
        self.objects[full["id"]] = full
        return full["id"]

    def connect(self):
        pass

    # the real client's packing of calls into requests (maxCallsInRequest and maxSizeRequest)
    pack = JmapClient.pack
    request_body = JmapClient.request_body
    request_size = JmapClient.request_size

    def post_many(self, groups, write=False):
        responses = []
        for batch in self.pack(groups):
            responses.extend(self.post(batch, write=write))
        return responses

    def post(self, calls, write=False):
        assert len(calls) <= self.limits["max_calls_in_request"], "more calls than maxCallsInRequest"
        self.posts.append((write, [call[0] for call in calls]))
        if write:
            for name, obj in self.race.items():
                self._store(dict(obj, name=name))
            self.race = {}
        if write and self.lose_writes and self.drop_unapplied:
            self.lose_writes -= 1
            raise WriteOutcomeUnknown("lost before it was applied")
        if write and self.writes_seen + 1 in self.drop_nth:
            self.writes_seen += 1
            raise WriteOutcomeUnknown("lost before it was applied")
        responses, created = [], {}
        for name, args, call_id in calls:
            responses.append(self._call(name, args, call_id, responses, created))
        if write and self.lose_writes:
            self.lose_writes -= 1
            raise WriteOutcomeUnknown("lost")
        if write:
            self.writes_seen += 1
            if self.writes_seen in self.lose_nth:
                raise WriteOutcomeUnknown("lost")
        return responses

    def _call(self, name, args, call_id, responses, created):
        if "#ids" in args:
            reference = args["#ids"]["resultOf"]
            answer = next(r for r in responses if r[2] == reference)
            if answer[0] == "error":  # an errored call is named "error" (docs/stalwart-api.md)
                return ["error", {"type": "invalidResultReference"}, call_id]
            args = dict(args, ids=answer[1]["ids"])
        if name == STRATEGY.query and self.query_forbidden:
            return ["error", {"type": "forbidden", "description": "You are not authorized to perform this action"},
                    call_id]
        if name == STRATEGY.query:
            listing = sorted(self.objects.values(), key=lambda obj: obj["name"])
            wanted = (args.get("filter") or {}).get("name")
            if wanted is not None:
                listing = [obj for obj in listing if obj["name"] == wanted]
            start = args.get("position", 0)
            cap = self.query_max_results(start) if callable(self.query_max_results) else self.query_max_results
            page = listing[start:start + min(args.get("limit", 5000), cap)]
            return [name, {"ids": [obj["id"] for obj in page], "total": len(listing), "position": start}, call_id]
        if name == STRATEGY.get:
            ids = args.get("ids")
            if any(item.startswith("#") and item[1:] not in created for item in ids):
                return ["error", {"type": "invalidResultReference"}, call_id]
            ids = [created.get(item[1:], item) if item.startswith("#") else item for item in ids]
            return [name, {"list": [dict(self.objects[i]) for i in ids if i in self.objects], "notFound": []}, call_id]
        if name == OUTBOUND_STRATEGY.get:
            if self.outbound_forbidden:
                return ["error", {"type": "forbidden", "description": "You are not authorized to perform this action"},
                        call_id]
            if self.outbound_listing is not None:
                return [name, {"list": self.outbound_listing, "notFound": [] if self.outbound_listing else ["singleton"]},
                        call_id]
            return [name, {"list": [{"id": "singleton", "connection": self.outbound}]}, call_id]
        if name == _service.ACTION_SET:
            self.reloads += 1
            return [name, {"created": {"reload": {"id": "r"}}}, call_id]
        if name == STRATEGY.set:
            return [name, self._set(args, created), call_id]
        raise AssertionError(name)

    def _set(self, args, created):
        answer = {}
        for creation_id, body in (args.get("create") or {}).items():
            if any(obj["name"] == body["name"] for obj in self.objects.values()):
                answer.setdefault("notCreated", {})[creation_id] = {"type": "primaryKeyViolation",
                                                                    "properties": ["name"]}
            elif body.get("ehloHostname") in self.refuse_hosts:
                answer.setdefault("notCreated", {})[creation_id] = {
                    "type": "invalidPatch", "description": "Invalid hostname or IP address",
                    "properties": ["ehloHostname"]}
            else:
                created[creation_id] = self._store(dict(body))
                answer.setdefault("created", {})[creation_id] = {"id": created[creation_id]}
        for strategy_id, patch in (args.get("update") or {}).items():
            hosts = [item.get("ehloHostname") for item in (patch.get("sourceIps") or {}).values()]
            if any(host in self.refuse_hosts for host in hosts):
                answer.setdefault("notUpdated", {})[strategy_id] = {
                    "type": "invalidPatch", "description": "Invalid hostname or IP address",
                    "properties": ["sourceIps/ehloHostname"]}
                continue
            self.objects[strategy_id].update(patch)
            answer.setdefault("updated", {})[strategy_id] = None
        for strategy_id in args.get("destroy") or ():
            self.objects.pop(strategy_id)
            answer.setdefault("destroyed", []).append(strategy_id)
        return answer

    def by_name(self):
        return {obj["name"]: obj for obj in self.objects.values()}


def converge(client, items, **kwargs):
    desired = _objects.desired_from_params(STRATEGY, {"strategies": items})
    return _service.converge(client, STRATEGY, desired, protection=_operations.OutboundProtection(), **kwargs)


@pytest.mark.parametrize("count", [1, 10, 200, 1200])
def test_a_batch_costs_a_constant_number_of_posts(count):
    client = FakeClient([{"name": f"old-{index:04}"} for index in range(count)])
    items = ([{"name": f"old-{index:04}", "connect_timeout": "1m"} for index in range(count)]
             + [{"name": f"new-{index:04}"} for index in range(count)])
    outcome = converge(client, items, reload=True)
    assert outcome.changed and not outcome.failures
    assert client.reloads == 1
    reads = [post for post in client.posts[:-1] if not post[0]]
    writes = [post for post in client.posts if post[0]]
    assert len(reads) <= 2 and len(writes) <= 1 + (2 * count) // (500 * 8)
    # the reload is a POST of its own after the writes: sent only once they showed a change
    assert client.posts[-1] == (False, [_service.ACTION_SET])
    assert all(obj["connectTimeout"] == 60000 for obj in client.by_name().values() if obj["name"].startswith("old"))
    assert len(outcome.objects) == 2 * count
    assert outcome.objects[f"new-{count - 1:04}"]["id"] is not None


def test_no_change_sends_no_write_and_no_reload():
    client = FakeClient([{"name": "bulk", "connectTimeout": 180000}])
    outcome = converge(client, [{"name": "bulk", "connect_timeout": "180s"}], reload=True)
    assert not outcome.changed and not outcome.reloaded
    assert [post[0] for post in client.posts] == [False]


def test_check_mode_writes_nothing_and_predicts_defaults():
    client = FakeClient([{"name": "bulk"}])
    outcome = converge(client, [{"name": "fresh", "connect_timeout": "3m"}, {"name": "bulk", "state": "absent"}],
                       check_mode=True, reload=True)
    assert outcome.changed
    assert all(not post[0] for post in client.posts) and len(client.posts) == 1
    assert STRATEGY.to_info(outcome.objects["fresh"])["data_timeout"] == "10m"
    assert sorted(client.by_name()) == ["bulk"]


@pytest.mark.parametrize("strings", [False, True])
def test_duration_wire_form_follows_the_server(strings):
    client = FakeClient([{"name": "bulk"}], strings=strings)
    converge(client, [{"name": "bulk", "connect_timeout": "90s"}, {"name": "fresh", "data_timeout": 1500}])
    stored = client.by_name()
    assert stored["bulk"]["connectTimeout"] == ("90s" if strings else 90000)
    assert stored["fresh"]["dataTimeout"] == ("1500ms" if strings else 1500)


@pytest.mark.parametrize("session_found", [True, False])
def test_without_objects_to_look_at_integer_milliseconds_whatever_the_session(session_found):
    # both dialects take integer milliseconds; a current server behind a proxy that hides the
    # session resource refuses "1m" (tests/real/test_scenarios.py holds it against both servers)
    client = FakeClient(session_found=session_found)
    converge(client, [{"name": "fresh", "connect_timeout": "1m"}])
    assert client.by_name()["fresh"]["connectTimeout"] == 60000


def test_lost_write_is_recovered_by_reading_again_not_by_resending():
    client = FakeClient([{"name": "upd"}, {"name": "gone"}])
    client.lose_writes = 1
    outcome = converge(client, [{"name": "new", "connect_timeout": "1m"}, {"name": "upd", "data_timeout": "20m"},
                                {"name": "gone", "state": "absent"}])
    assert outcome.changed and not outcome.failures
    assert sum(1 for post in client.posts if post[0]) == 1
    assert sorted(client.by_name()) == ["new", "upd"]
    assert outcome.plan.summary() == {"create": ["new"], "update": {"upd": ["data_timeout"]}, "delete": ["gone"]}
    assert outcome.objects["new"]["connect_timeout"] == 60000


def test_lost_chunk_then_only_the_rest_is_written():
    client = FakeClient(limits={"max_objects_in_set": 2, "max_calls_in_request": 2})
    client.lose_writes = 1
    outcome = converge(client, [{"name": f"chunk-{index}"} for index in range(6)])
    assert sorted(client.by_name()) == [f"chunk-{index}" for index in range(6)]
    assert outcome.changed and len(client.objects) == 6


def test_lost_writes_past_retries_fail():
    client = FakeClient()
    client.lose_writes = 10
    client.drop_unapplied = True
    client.retries = 3
    with pytest.raises(_service.ChangesFailed) as caught:
        converge(client, [{"name": f"n-{index}", "connect_timeout": index + 1} for index in range(3)])
    # the writes' outcome is unknown: never reported as unchanged
    assert caught.value.details["changed"] is True
    assert caught.value.details["unconfirmed"] == ["n-0", "n-1", "n-2"]
    assert "outcome is unknown" in caught.value.msg
    assert sum(1 for post in client.posts if post[0]) == 4  # the first write and one per round after a re-read
    assert client.waits == [1, 2, 3], "each re-read round waits like a retry"
    assert all(reason and reason.startswith("a write's answer was lost (") for reason in client.wait_reasons), \
        "and each says why (the client warns it)"
    assert client.objects == {}


def test_a_failure_message_names_twenty_strategies_and_the_result_all_of_them():
    """A server stopped for good during a 1200-strategy write made a message of tens of kilobytes,
    every name in it; the result's unconfirmed list is where they all belong."""
    client = FakeClient()
    client.lose_writes = 10
    client.drop_unapplied = True
    names = [f"n-{index:04}" for index in range(1200)]
    with pytest.raises(_service.ChangesFailed) as caught:
        converge(client, [{"name": name} for name in names])
    assert caught.value.details["unconfirmed"] == names
    message = caught.value.msg
    assert "'n-0019' and 1180 more; all of them in unconfirmed)" in message, message
    assert "n-0020" not in message and len(message) < 1500, len(message)


def test_a_refusal_message_names_twenty_refused_strategies_and_the_result_all_of_them():
    """1200 strategies sharing one refused EHLO name made a message of 133,000 characters."""
    client = FakeClient(refuse_hosts={"mx.refused.example.com"})
    desired = _objects.desired_from_params(STRATEGY, {"strategies": [
        {"name": f"r-{index:04}", "ehlo_hostname": "mx.refused.example.com"} for index in range(30)]})
    outcome = _service.converge(client, STRATEGY, protection=_operations.OutboundProtection(), desired=desired)
    kwargs = _operations.strategies_failed(outcome, desired, single=False).fail_kwargs()
    assert len(kwargs["failed_strategies"]) == 30
    assert kwargs["msg"].count("Invalid hostname or IP address") == 20, kwargs["msg"]
    assert "; and 10 more, all of them in failed_strategies" in kwargs["msg"], kwargs["msg"]


def test_create_taken_by_a_concurrent_run_becomes_an_update():
    client = FakeClient()
    client.race = {"shared": {"name": "shared", "dataTimeout": 600000}}
    outcome = converge(client, [{"name": "shared", "data_timeout": "15m"}, {"name": "mine"}])
    assert not outcome.failures
    assert len([obj for obj in client.objects.values() if obj["name"] == "shared"]) == 1
    assert client.by_name()["shared"]["dataTimeout"] == 900000
    assert outcome.objects["shared"]["data_timeout"] == 900000


def test_an_update_after_a_concurrent_create_is_followed_by_a_reload():
    client = FakeClient()
    client.race = {"shared": {"name": "shared", "dataTimeout": 600000}}
    outcome = converge(client, [{"name": "shared", "data_timeout": "15m"}, {"name": "mine"}], reload=True)
    assert outcome.reloaded and not outcome.failures
    writes = [methods for is_write, methods in client.posts if is_write]
    assert len(writes) == 2, writes
    assert STRATEGY.set in writes[1], writes
    # one reload, after the update that followed the concurrent create
    assert client.posts[-1] == (False, [_service.ACTION_SET])
    assert client.reloads == 1


@pytest.mark.parametrize("also_mine", [False, True], ids=["alone", "beside-a-create"])
def test_a_lost_answer_to_the_update_after_a_concurrent_create_is_read_again_and_reloaded(also_mine):
    """Another run created the name first; the update that followed was applied, and its answer
    lost. That update was sent outside the lost-answer recovery: the run failed with changed false
    (the server held its change), read nothing again and sent no reload, and a re-run found it done
    and sent none either: the change was never applied."""
    client = FakeClient()
    client.race = {"shared": {"name": "shared", "description": "theirs"}}
    client.lose_nth = {2}
    items = [{"name": "shared", "description": "mine"}] + ([{"name": "mine"}] if also_mine else [])
    outcome = converge(client, items, reload=True)
    assert outcome.changed and outcome.reloaded and not outcome.failures
    assert client.by_name()["shared"]["description"] == "mine"
    assert outcome.progress.applied["update"] == ["shared"], outcome.progress.applied
    assert outcome.objects["shared"]["description"] == "mine"
    assert client.reloads == 1
    assert client.waits == [1], "the re-read after the lost answer waits like a retry"


def test_an_update_after_a_concurrent_create_whose_answers_stay_lost_fails_as_changed():
    client = FakeClient()
    client.race = {"shared": {"name": "shared", "description": "theirs"}}
    client.drop_nth = {2, 3, 4, 5}  # the update and each one after a re-read: never applied, answer lost
    with pytest.raises(_service.ChangesFailed) as caught:
        converge(client, [{"name": "shared", "description": "mine"}], reload=True)
    assert caught.value.details["changed"] is True
    assert "outcome is unknown" in caught.value.msg, caught.value.msg
    assert client.waits == [1, 2, 3] and client.writes_seen == 5
    assert client.by_name()["shared"]["description"] == "theirs"
    # a reload is safe to repeat, and the module cannot know that nothing changed
    assert client.reloads == 1 and "was reloaded" in caught.value.msg


def test_many_creates_another_run_made_first_are_read_again_in_a_constant_number_of_requests():
    """The names of the creates refused as taken were read ⌊maxCallsInRequest / 2⌋ per request: a
    run that lost the race for 2,000 names sent 253 requests where the formula says 3. Past what
    one request can ask by name, they are read from the paged listing."""
    client = FakeClient()
    names = [f"taken-{index:03}" for index in range(50)]
    client.race = {name: {"name": name, "description": "theirs"} for name in names}
    outcome = converge(client, [{"name": name, "description": "mine"} for name in names])
    assert not outcome.failures and outcome.changed
    assert all(obj["description"] == "mine" for obj in client.by_name().values())
    # the first read, the creates (all refused), one listing of 50, the updates
    assert [is_write for is_write, _methods in client.posts] == [False, True, False, True], client.posts


def test_a_purge_warning_names_twenty_kept_strategies():
    """A purge that keeps what the expression routes to named every one: 50,000 characters for 5,000."""
    routed = [f"routed-{index:02}" for index in range(30)]
    client = FakeClient([{"name": name} for name in routed],
                        outbound={"match": {str(index): {"if": f"rcpt_domain == 'd{index}.example'", "then": f"'{name}'"}
                                            for index, name in enumerate(routed)}, "else": "'routed-00'"})
    warnings = []
    converge(client, [], purge=True, warn=warnings.append)
    (kept,) = [warning for warning in warnings if warning.startswith("purge kept")]
    assert "'routed-19' and 10 more:" in kept and "routed-20" not in kept, kept


def test_partial_failure_keeps_the_rest_and_maps_properties_to_options():
    client = FakeClient([{"name": "upd"}], refuse_hosts={"mx.refused.example.com", "mx20.refused.example.com"})
    desired = _objects.desired_from_params(STRATEGY, {"strategies": [
        {"name": "good-1", "connect_timeout": "1m"},
        {"name": "bad-host", "ehlo_hostname": "mx.refused.example.com"},
        {"name": "upd", "source_ips": [{"ip": "192.0.2.20", "ehlo_hostname": "mx20.refused.example.com"}]},
    ]})
    outcome = _service.converge(client, STRATEGY, protection=_operations.OutboundProtection(), desired=desired)
    assert sorted(outcome.failures) == ["bad-host", "upd"]
    assert outcome.failures["bad-host"]["properties"] == ["ehlo_hostname"]
    assert outcome.failures["upd"]["properties"] == ["source_ips[].ehlo_hostname"]
    assert sorted(client.by_name()) == ["good-1", "upd"]
    error = _operations.strategies_failed(outcome, desired, single=False)
    kwargs = error.fail_kwargs()
    assert "bad-host" in kwargs["msg"] and "upd" in kwargs["msg"] and "good-1" not in kwargs["msg"]
    assert "Invalid hostname or IP address" in kwargs["msg"] and "source_ips[].ehlo_hostname" in kwargs["msg"]
    assert [item["strategy"] for item in kwargs["failed_strategies"]] == ["bad-host", "upd"]
    assert kwargs["changed"] is True
    assert [item["name"] for item in kwargs["strategies"]] == ["good-1", "upd"]


def test_purge_reads_the_outbound_strategy_in_the_same_post_and_keeps_protected():
    client = FakeClient([{"name": name} for name in ("default", "gmail", "stale", "bulk")],
                        outbound={"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}},
                                  "else": "'default'"})
    warnings = []
    outcome = converge(client, [{"name": "bulk"}], purge=True, warn=warnings.append)
    assert outcome.plan.delete == ["stale"]
    assert OUTBOUND_STRATEGY.get in client.posts[0][1]
    assert "'gmail'" in warnings[0] and "'default'" in warnings[0]


def test_purge_without_the_outbound_permission_deletes_nothing_and_says_why():
    client = FakeClient([{"name": "stale"}, {"name": "bulk"}], outbound_forbidden=True)
    warnings = []
    outcome = converge(client, [{"name": "bulk"}], purge=True, warn=warnings.append)
    assert outcome.plan.delete == [] and not outcome.changed
    assert "sysMtaOutboundStrategyGet" in warnings[0]
    forced = converge(client, [{"name": "bulk"}], purge=True, force=True)
    assert forced.plan.delete == ["stale"] and sorted(client.by_name()) == ["bulk"]


def test_forbidden_write_fails_the_strategy_naming_the_permission():
    class ReadOnly(FakeClient):
        def _set(self, args, created):
            raise AssertionError("not reached")

        def _call(self, name, args, call_id, responses, created):
            if name == STRATEGY.set:
                return ["error", {"type": "forbidden", "description": "You are not authorized to create objects "
                                  "of this type"}, call_id]
            return super()._call(name, args, call_id, responses, created)

    outcome = converge(ReadOnly(), [{"name": "new"}])
    # the whole /set was refused: the strategy fails with the server's reason and the permission
    assert not outcome.changed
    assert outcome.failures["new"]["error_type"] == "forbidden"
    assert outcome.failures["new"]["permission"] == "sysMtaConnectionStrategyCreate"
    assert "sysMtaConnectionStrategyCreate" in _service.failure_text(outcome.failures["new"])


def test_diff_in_the_users_units_and_whole_objects():
    client = FakeClient([{"name": "seeded", "description": "old"}, {"name": "victim"}])
    items = [{"name": "fresh", "connect_timeout": "180s"}, {"name": "seeded", "data_timeout": "1200s"},
             {"name": "victim", "state": "absent"}]
    desired = _objects.desired_from_params(STRATEGY, {"strategies": items})
    outcome = _service.converge(client, STRATEGY, protection=_operations.OutboundProtection(), desired=desired)
    results = _operations.strategy_results(outcome, desired, single=False, diff=True)
    diff = results["diff"]
    assert sorted(diff["before"]) == ["seeded", "victim"] and sorted(diff["after"]) == ["fresh", "seeded"]
    assert diff["after"]["fresh"]["connect_timeout"] == "180s" and diff["after"]["fresh"]["data_timeout"] == "10m"
    assert (diff["before"]["seeded"]["data_timeout"], diff["after"]["seeded"]["data_timeout"]) == ("600s", "1200s")
    assert diff["before"]["victim"]["name"] == "victim"
    assert [item["name"] for item in results["strategies"]] == ["fresh", "seeded"]
    assert results["strategies"][0]["connect_timeout"] == "3m"


def test_single_strategy_results_and_diff():
    client = FakeClient([{"name": "victim"}])
    desired = _objects.desired_from_params(STRATEGY, {"name": "victim", "state": "absent"})
    outcome = _service.converge(client, STRATEGY, protection=_operations.OutboundProtection(), desired=desired)
    results = _operations.strategy_results(outcome, desired, single=True, diff=True)
    assert results["strategy"] == {} and results["diff"]["after"] == {}
    assert results["diff"]["before"]["name"] == "victim"
    assert results["plan"] == {"create": [], "update": {}, "delete": ["victim"]}


def test_read_pages_past_max_objects_in_get_in_one_more_post():
    client = FakeClient([{"name": f"s-{index:04}"} for index in range(1200)], limits={"max_objects_in_get": 100})
    snapshot = _service.read(client, STRATEGY)
    # 11 more pages of query+get = 22 calls: two more POSTs of at most 16 calls
    assert len(snapshot.current) == 1200 and len(client.posts) == 3


@pytest.mark.parametrize("query_max_results", [3, 99, 100])
def test_read_pages_by_what_each_page_held_when_the_server_caps_a_query_below_max_objects_in_get(query_max_results):
    # the real server's queryMaxResults (x:Jmap, default 5000) is not in the session: a server set
    # below maxObjectsInGet answers shorter pages, and each next page starts where the last ended
    client = FakeClient([{"name": f"s-{index:04}"} for index in range(250)], limits={"max_objects_in_get": 100},
                        query_max_results=query_max_results)
    snapshot = _service.read(client, STRATEGY)
    assert sorted(snapshot.current) == [f"s-{index:04}" for index in range(250)]
    pages = -(-250 // min(100, query_max_results))
    assert len(client.posts) == 1 + -(-(pages - 1) * 2 // 16)  # the first page, then the rest packed


def test_read_reads_on_from_where_a_shorter_page_ended_and_refuses_an_empty_one():
    objects = [{"name": f"s-{index:04}"} for index in range(50)]
    client = FakeClient(objects, limits={"max_objects_in_get": 10}, query_max_results=lambda start: 4 if start == 20 else 10)
    assert len(_service.read(client, STRATEGY).current) == 50
    client = FakeClient(objects, limits={"max_objects_in_get": 10}, query_max_results=lambda start: 0 if start == 20 else 10)
    with pytest.raises(_service.ProtocolError, match="at position 20 with no ids, though its total is 50"):
        _service.read(client, STRATEGY)
    client = FakeClient(objects, query_max_results=0)
    with pytest.raises(_service.ProtocolError, match="with a total of 50 and no ids"):
        _service.read(client, STRATEGY)


def test_read_by_names_filters_on_the_server():
    client = FakeClient([{"name": name} for name in ("a", "b", "c")])
    snapshot = _service.read(client, STRATEGY, names=["c", "a", "zz"])
    assert sorted(snapshot.current) == ["a", "c"] and len(client.posts) == 1


# --- docs ↔ field table --------------------------------------------------------------------------


def _documentation(relative, attribute="DOCUMENTATION", in_class=False):
    tree = ast.parse((ROOT / relative).read_text())
    nodes = tree.body
    if in_class:
        nodes = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    for node in nodes:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == attribute for target in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(relative)


def _spec_shape(spec):
    """What the docs must agree with in an argument spec entry (not its prose)."""
    return {key: spec[key] for key in ("type", "elements", "required", "default", "choices", "aliases") if key in spec}


def _doc_shape(doc):
    return {key: doc[key] for key in ("type", "elements", "required", "default", "choices", "aliases") if key in doc}


def test_the_doc_fragment_documents_every_declared_option_as_declared():
    """Prose lives in the fragment only; names and types come from the declaration."""
    fragment = _documentation("plugins/doc_fragments/strategy_options.py", in_class=True)["options"]
    spec = STRATEGY.value_spec()
    assert list(fragment) == list(spec)
    for name, entry in spec.items():
        assert _doc_shape(fragment[name]) == _spec_shape(entry), name
        assert fragment[name]["description"], name
    subs = fragment["source_ips"]["suboptions"]
    assert {name: _doc_shape(doc) for name, doc in subs.items()} == _values.SOURCE_IPS.suboptions()


def test_the_strategies_items_are_documented_as_declared_and_refer_to_the_options():
    doc = _documentation("plugins/modules/mta_connection_strategy.py")["options"]["strategies"]["suboptions"]
    spec = STRATEGY.item_spec()
    assert list(doc) == list(spec)
    for name, entry in spec.items():
        assert _doc_shape(doc[name]) == _spec_shape(entry), name
    for name in STRATEGY.options:
        # the prose is the option's own, written once in the fragment
        assert doc[name]["description"] == f"As O({name}), for this strategy.", name


def test_module_options_match_the_argument_spec():
    doc = _documentation("plugins/modules/mta_connection_strategy.py")
    spec = _operations.STRATEGY_MODULE.argument_spec()
    fragment = _documentation("plugins/doc_fragments/strategy_options.py", in_class=True)["options"]
    documented = set(doc["options"]) | set(fragment)
    own = {name for name in spec if name not in connection_argument_spec()}
    assert own == documented
    for name in ("state", "purge", "force", "reload"):
        assert doc["options"][name].get("default") == spec[name].get("default")
    info = _documentation("plugins/modules/mta_connection_strategy_info.py")
    assert info["options"]["names"] == dict(info["options"]["names"], type="list", elements="str", aliases=["name"])


def test_the_outbound_fragment_documents_the_four_expressions_as_declared():
    fragment = _documentation("plugins/doc_fragments/outbound_options.py", in_class=True)["options"]
    assert list(fragment) == list(OUTBOUND_STRATEGY.options)
    spec = _operations.OUTBOUND_MODULE.argument_spec()
    for name in OUTBOUND_STRATEGY.options:
        # the spec is a plain dict: its keys are checked by Expression.normalise, which names the
        # option and the rule (ansible-core's typed sub-options turned a list given as a name into
        # its Python text), so the documented keys are held to the keys it accepts
        assert fragment[name]["type"] == spec[name]["type"] == "dict" and "options" not in spec[name]
        assert tuple(fragment[name]["suboptions"]) == _values.EXPRESSION_KEYS
        rules = fragment[name]["suboptions"]["rules"]
        assert (rules["type"], rules["elements"]) == ("list", "dict")
        assert tuple(rules["suboptions"]) == _values.RULE_KEYS
    module = _documentation("plugins/modules/mta_outbound_strategy.py")["options"]
    own = {name for name in spec if name not in connection_argument_spec()}
    assert own == set(module) | set(fragment)
    for name in module:
        assert _doc_shape(module[name]) == _spec_shape(spec[name]), name


# --- Ansible's own argument-spec failures name the strategy ------------------------------------------

CONNECTION = {"url": "https://mail.example.com", "token": "t"}
ANSIBLE_MESSAGE = "value of state must be one of: present, absent, got: gone"


@pytest.mark.parametrize("raw,prefix", [
    ({**CONNECTION, "name": "bulk", "state": "gone"}, "strategy 'bulk': "),
    ({**CONNECTION, "name": "bulk", "colour": "red"}, "strategy 'bulk': "),
    ({**CONNECTION, "name": "bulk", "source_ips": {"ip": "192.0.2.1"}}, "strategy 'bulk': "),
    ({**CONNECTION, "name": "bulk", "source_ips": [["192.0.2.1"]]}, "strategy 'bulk': "),
    # a task of one strategy: its connection and other options are about that strategy too
    ({**CONNECTION, "name": "bulk", "retries": "many"}, "strategy 'bulk': "),
    ({**CONNECTION, "name": "bulk", "purge": True}, "strategy 'bulk': "),
    ({**CONNECTION, "strategies": [{"name": "a"}, "b"]}, "strategies[1] (item 2): expected a dict (one strategy), got 'b'; "),
    # a batch's own options, or a task that is neither form: as Ansible said it
    ({**CONNECTION, "strategies": [{"name": "a"}], "purge": "perhaps"}, ""),
    ({**CONNECTION, "strategies": {"name": "a"}}, ""),
    ({**CONNECTION, "name": "a", "strategies": [{"name": "b"}]}, ""),
    ({**CONNECTION, "name": "", "state": "gone"}, ""),
    (None, ""),
])
def test_argument_spec_failures_name_the_strategy(raw, prefix):
    assert _operations.name_the_strategy(raw, ANSIBLE_MESSAGE) == prefix + ANSIBLE_MESSAGE


# --- reading: refusals and limits ------------------------------------------------------------------


@pytest.mark.parametrize("names", [["bulk"], None], ids=["by-name", "all"])
def test_a_refused_query_names_its_permission(names):
    """By name, the get that references a refused query fails with invalidResultReference; the
    message must be about the query and its missing permission, not about the reference."""
    client = FakeClient(query_forbidden=True)
    with pytest.raises(PermissionDenied) as caught:
        _service.read(client, STRATEGY, names=names)
    assert "sysMtaConnectionStrategyQuery" in caught.value.msg
    assert "invalidResultReference" not in caught.value.msg


@pytest.mark.parametrize("max_calls", [2, 3, 16])
def test_purge_reads_within_max_calls_in_request(max_calls):
    client = FakeClient(objects=[{"name": "default"}, {"name": "old"}], limits={"max_calls_in_request": max_calls})
    desired = [_objects.normalise_item(STRATEGY, {"name": "default"})]
    outcome = _service.converge(client, STRATEGY, protection=_operations.OutboundProtection(), desired=desired,
                                purge=True)
    assert outcome.plan.delete == ["old"]
    reads = [calls for write, calls in client.posts if not write]
    assert len(reads) == (2 if max_calls < 3 else 1)  # the outbound read goes alone only when it must


@pytest.mark.parametrize("listing", [[], [{"id": "singleton"}], [{"id": "singleton", "connection": None}]],
                         ids=["no-object", "no-connection", "null-connection"])
def test_without_a_stored_connection_expression_purge_keeps_default(listing):
    """The server then uses its default expression (else 'default'): purge must not delete it."""
    warnings = []
    client = FakeClient(objects=[{"name": "default"}, {"name": "old"}], outbound_listing=listing)
    outcome = _service.converge(client, STRATEGY, protection=_operations.OutboundProtection(), desired=[], purge=True, warn=warnings.append)
    assert outcome.plan.delete == ["old"]
    assert sorted(obj["name"] for obj in client.objects.values()) == ["default"]
    assert any("default" in warning for warning in warnings), warnings


def test_a_message_that_names_its_strategy_is_not_prefixed_again():
    message = "strategy 'bulk': connect_timeout: 0 is not > 0"
    assert _operations.name_the_strategy({"name": "bulk"}, message) == message


def test_a_refused_reload_names_the_object_it_stopped_at_and_the_permission_it_lacks():
    """Stalwart 0.16 refuses a reload in notCreated: validationFailed with objectId for a setting
    that cannot be applied (a Pyzor host that does not resolve, here), forbidden without
    actionReloadSettings; the message kept neither the object nor the permission."""
    refusal = _service.reload_refusal({"type": "validationFailed", "description": "Invalid address: failed to lookup",
                                       "objectId": {"object": "SpamPyzor", "id": "singleton"}})
    assert refusal["object"] == "SpamPyzor singleton" and refusal["permission"] is None
    assert _service.reload_refusal_text(refusal) == (
        "(validationFailed): Invalid address: failed to lookup (at the SpamPyzor singleton object)")
    forbidden = _service.reload_refusal({"type": "forbidden",
                                         "description": "Insufficient permissions to perform action of type ReloadSettings"})
    assert _service.reload_refusal_text(forbidden).endswith("; the credentials need the permission actionReloadSettings")
    assert _service.reload_refusal("nonsense") == {"error_type": "error", "description": None, "permission": None,
                                                   "object": None, "validation_errors": []}


def test_a_size_refusal_says_the_whole_object_counts():
    """Stalwart refuses an object past 200,000 stored bytes as 'Invalid id': the message says it is
    the whole object (for the outbound strategy, its four expressions together)."""
    from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY  # noqa: E501 pylint: disable=import-outside-toplevel

    failure = _service.set_error(OUTBOUND_STRATEGY, "outbound strategy", "update", {
        "type": "validationFailed",
        "validationErrors": [{"type": "Invalid", "property": "id", "value": "Object size 224587 exceeds maximum of 200000"}]})
    assert _service.failure_text(failure).endswith(
        "(the whole outbound strategy would take 224587 bytes on the server, stored compressed, over its limit of "
        "200000 bytes: its four expressions count together; shorten the longest)")
