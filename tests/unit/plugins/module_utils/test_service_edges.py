# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edges of the service that test__service.py left open (found by mutation testing): the
session limits at their boundaries and their defaults, the wire form of the paged listing, a
listing that shifts while it is paged, request-size accounting, refusals to delete, failures
after something changed, and the words of a refusal."""

from __future__ import annotations

import pytest

from ansible_collections.stalwart.mail.plugins.module_utils import _errors, _objects, _operations, _service
from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY as STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY as OUTBOUND
from tests.unit.plugins.module_utils.test__service import FakeClient


class Recording(FakeClient):
    """The fake server, keeping every request's calls as sent (method, arguments, call id)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []

    def post(self, calls, write=False):
        self.requests.append([list(call) for call in calls])
        return super().post(calls, write=write)

    def calls(self, method):
        return [call for request in self.requests for call in request if call[0] == method]


class Hidden(dict):
    """Session limits the client does not know (``get`` finds none of ``hidden``, all by default);
    the fake server still applies them."""

    def __init__(self, limits, hidden=None):
        super().__init__(limits)
        self.hidden = set(limits) if hidden is None else set(hidden)

    def get(self, key, default=None):
        return default if key in self.hidden else super().get(key, default)


def desired(*items):
    return _objects.desired_from_params(STRATEGY, {"strategies": list(items)})


def named(count, prefix="s"):
    return [{"name": f"{prefix}-{index:02}"} for index in range(count)]


# --- the session's limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("announced", [0, -1, "many", None])
def test_a_limit_the_session_gives_as_no_positive_number_is_taken_as_the_default(announced):
    client = Recording(named(3), limits={"max_objects_in_get": announced})
    assert sorted(_service.read(client, STRATEGY).current) == ["s-00", "s-01", "s-02"]
    assert client.calls(STRATEGY.query)[0][1]["limit"] == 500


def test_without_limits_in_the_session_reads_ask_for_pages_of_500_within_16_calls():
    client = Recording(named(3))
    client.limits = Hidden(client.limits)
    _service.read(client, STRATEGY)
    assert client.calls(STRATEGY.query)[0][1]["limit"] == 500
    # eight names and the outbound strategy are 17 calls by name: more than 16, so the listing is read
    client.requests.clear()
    rider = _service.Rider(_service.singleton_get(OUTBOUND, ["connection"], call_id="outbound"))
    _service.read(client, STRATEGY, names=[f"s-{index:02}" for index in range(8)], riders=[rider])
    assert [call[0] for call in client.requests[0]] == [STRATEGY.query, STRATEGY.get, OUTBOUND.get]


@pytest.mark.parametrize("names,riders,by_name", [(8, 0, True), (9, 0, False), (7, 2, True), (8, 1, False)])
def test_names_are_read_by_name_while_their_calls_and_the_riders_fit_one_request(names, riders, by_name):
    """Two calls a name (a query by name and its get) plus the riders, within maxCallsInRequest (16)."""
    client = Recording(named(20))
    extra = [_service.Rider(_service.singleton_get(OUTBOUND, ["connection"], call_id=f"outbound{index}"))
             for index in range(riders)]
    snapshot = _service.read(client, STRATEGY, names=[f"s-{index:02}" for index in range(names)], riders=extra)
    assert len(snapshot.current) == names
    first = client.requests[0]
    assert len(first) == (2 * names + riders if by_name else 2 + riders)
    assert all(rider.response is not None for rider in extra)


def test_the_listing_is_asked_sorted_by_name_with_its_total_on_every_page():
    """The total on every page is how a listing that shifts under another writer is noticed."""
    client = Recording(named(25), limits={"max_objects_in_get": 10})
    assert len(_service.read(client, STRATEGY).current) == 25
    queries = client.calls(STRATEGY.query)
    assert [query[1]["position"] for query in queries] == [0, 10, 20]
    assert all(query[1]["sort"] == [{"property": "name", "isAscending": True}] for query in queries)
    assert all(query[1]["calculateTotal"] is True for query in queries)


def test_read_names_asks_for_half_of_max_calls_in_request_names_a_request():
    client = Recording(named(20))
    snapshot = _service.Snapshot(STRATEGY)
    _service.read_names(client, STRATEGY, [f"s-{index:02}" for index in range(20)], snapshot)
    assert sorted(snapshot.current) == [f"s-{index:02}" for index in range(20)]
    assert [len(request) for request in client.requests] == [16, 16, 8]


# --- a listing that shifts while it is paged -----------------------------------------------------------


class Shifting(FakeClient):
    """Another writer creates five strategies that sort first, just after the first page is read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shifted = False

    def post(self, calls, write=False):
        responses = super().post(calls, write=write)
        if not self.shifted:
            self.shifted = True
            for obj in named(5, prefix="a"):
                self._store(obj)
        return responses


def test_a_listing_that_shifts_is_noticed_and_the_wanted_names_the_pages_missed_are_read_by_name():
    client = Shifting(named(30), limits={"max_objects_in_get": 10})
    snapshot = _service.read(client, STRATEGY, wanted=["s-27", "missing"])
    assert snapshot.shifted is True
    # the pages after the shift held s-05..s-24; s-27 came by name
    assert "s-27" in snapshot.current and "s-28" not in snapshot.current


def test_purge_over_a_shifting_listing_says_it_may_have_missed_some():
    message = ("another writer changed the strategies while they were read, page by page: purge may have missed some "
               "that are not listed; a re-run deletes them")
    warnings = []
    _service.converge(Shifting(named(30), limits={"max_objects_in_get": 10}), STRATEGY, [], purge=True,
                      check_mode=True, warn=warnings.append)
    assert message in warnings
    warnings = []
    _service.converge(FakeClient(named(30), limits={"max_objects_in_get": 10}), STRATEGY, [], purge=True,
                      check_mode=True, warn=warnings.append)
    assert message not in warnings


# --- what the server answers to a /get ------------------------------------------------------------------


class Answering(FakeClient):
    """The strategies' /get answered with ``answer`` (its arguments)."""

    def __init__(self, answer):
        super().__init__(named(1))
        self.answer = answer

    def _call(self, name, args, call_id, responses, created):
        if name == STRATEGY.get:
            return [name, self.answer, call_id]
        return super()._call(name, args, call_id, responses, created)


def test_a_get_answered_without_a_list_or_with_nameless_objects_reads_nothing():
    assert _service.read(Answering({"notFound": ["id0001"]}), STRATEGY, names=["s-00"]).current == {}
    assert _service.read(Answering({"list": [{"id": "id0001"}]}), STRATEGY, names=["s-00"]).current == {}


@pytest.mark.parametrize("listing", [["s-00"], "s-00", [{"name": "s-00"}, 7]])
def test_a_get_answered_with_something_other_than_objects_fails_in_words(listing):
    with pytest.raises(_errors.ProtocolError, match="with a list that is not a JSON array of objects"):
        _service.read(Answering({"list": listing}), STRATEGY, names=["s-00"])


# --- writing: chunks within the limits --------------------------------------------------------------------


def test_a_set_holds_at_most_max_objects_in_set():
    client = Recording(limits={"max_objects_in_set": 2})
    outcome = _service.converge(client, STRATEGY, desired(*named(5)))
    assert sorted(outcome.objects) == [f"s-{index:02}" for index in range(5)]
    assert [len(call[1]["create"]) for call in client.calls(STRATEGY.set)] == [2, 2, 1]


def test_with_one_id_a_get_and_two_calls_a_request_each_set_holds_one_object():
    """A /set and the /get that reads it back must fit one request: maxCallsInRequest 2 and
    maxObjectsInGet 1 leave room for one object a /set."""
    client = Recording(limits={"max_calls_in_request": 2, "max_objects_in_get": 1})
    outcome = _service.converge(client, STRATEGY, desired(*named(3)))
    assert not outcome.failures and sorted(outcome.objects) == ["s-00", "s-01", "s-02"]
    assert [len(call[1]["create"]) for call in client.calls(STRATEGY.set)] == [1, 1, 1]


def test_without_max_calls_in_request_in_the_session_a_set_and_its_gets_fit_16_calls():
    """One id a /get: a /set of 15 objects and its 15 /gets are 16 calls, the default limit."""
    client = Recording(limits={"max_objects_in_get": 1})
    client.limits = Hidden(client.limits, hidden=["max_calls_in_request"])
    _service.converge(client, STRATEGY, desired(*named(20)))
    assert [len(call[1]["create"]) for call in client.calls(STRATEGY.set)] == [15, 5]


def test_without_max_objects_in_get_in_the_session_500_objects_are_read_back_in_one_get():
    client = Recording()
    client.limits = Hidden(client.limits, hidden=["max_objects_in_get"])
    outcome = _service.converge(client, STRATEGY, desired(*named(500)))
    assert len(outcome.objects) == 500
    assert [len(call[1]["ids"]) for call in client.calls(STRATEGY.get) if call[2].startswith("g0.")] == [500]


# maxSizeRequest 1000 leaves 488 bytes for the objects (512 kept for the envelope); a create of
# strategy 'a' with a description of n letters costs n + 52 bytes (its entry and its id twice)


def test_an_object_larger_than_a_request_is_refused_before_anything_is_written_naming_its_size():
    client = Recording(limits={"max_size_request": 1000})
    with pytest.raises(_errors.InputError) as raised:
        _service.converge(client, STRATEGY, desired({"name": "a", "description": "x" * 500}))
    assert raised.value.msg == ("strategy 'a': its create is 552 bytes, more than one request may carry (the server's "
                                "maxSizeRequest is 1000 bytes); shorten its values")
    assert client.calls(STRATEGY.set) == []


def test_an_object_of_exactly_the_room_in_a_request_is_written():
    client = Recording(limits={"max_size_request": 1000})
    _service.converge(client, STRATEGY, desired({"name": "a", "description": "x" * 436}))
    assert "a" in client.by_name()
    with pytest.raises(_errors.InputError, match="its create is 489 bytes"):
        _service.converge(Recording(limits={"max_size_request": 1000}), STRATEGY,
                          desired({"name": "a", "description": "x" * 437}))


def test_a_chunk_is_filled_to_exactly_the_room_in_a_request():
    """'a' fills a request alone (488 bytes); 'b' (252) and 'c' (236) fill the next one exactly."""
    client = Recording(limits={"max_size_request": 1000})
    _service.converge(client, STRATEGY, desired({"name": "a", "description": "x" * 436},
                                                {"name": "b", "description": "x" * 200},
                                                {"name": "c", "description": "x" * 184}))
    assert [sorted(body["name"] for body in call[1]["create"].values()) for call in client.calls(STRATEGY.set)] == [
        ["a"], ["b", "c"]]


# --- writing: what the server answers -------------------------------------------------------------------


class RefusingDeletes(FakeClient):
    """Deletes answered in notDestroyed: 'gone' as notFound, 'locked' forbidden, 'odd' with no error object."""

    def _set(self, args, created):
        answer = super()._set({key: value for key, value in args.items() if key != "destroy"}, created)
        for strategy_id in args.get("destroy") or ():
            name = self.objects[strategy_id]["name"]
            error = {"gone": {"type": "notFound"}, "locked": {"type": "forbidden", "description": "held"}}.get(name)
            answer.setdefault("notDestroyed", {})[strategy_id] = error
        return answer


def test_a_delete_is_done_when_the_object_is_already_gone_and_refused_otherwise():
    client = RefusingDeletes([{"name": "gone"}, {"name": "locked"}, {"name": "odd"}])
    outcome = _service.converge(client, STRATEGY, desired(*[{"name": name, "state": "absent"}
                                                            for name in ("gone", "locked", "odd")]))
    assert outcome.progress.applied["delete"] == ["gone"]
    assert sorted(outcome.failures) == ["locked", "odd"]
    assert _service.failure_text(outcome.failures["locked"]) == "'locked': delete refused by the server (forbidden): held"
    assert _service.failure_text(outcome.failures["odd"]) == "'odd': delete refused by the server (unknown)"


def test_purge_without_a_protection_deletes_every_unlisted_object_without_a_warning():
    """``converge`` of a type nothing refers to (no ``protection``): nothing to read, nothing kept."""
    warnings = []
    client = FakeClient(named(3))
    outcome = _service.converge(client, STRATEGY, desired({"name": "s-01"}), purge=True, warn=warnings.append)
    assert outcome.plan.delete == ["s-00", "s-02"] and sorted(client.by_name()) == ["s-01"]
    assert warnings == []


class ReloadUnanswered(FakeClient):
    def _call(self, name, args, call_id, responses, created):
        if name == _service.ACTION_SET:
            raise _errors.TransportError("the server did not answer: connection reset", status=503,
                                         url="https://mail.example.com/jmap", method=_service.ACTION_SET)
        return super()._call(name, args, call_id, responses, created)


def test_a_reload_that_fails_after_the_writes_fails_the_run_saying_what_was_applied():
    with pytest.raises(_service.ChangesFailed) as raised:
        _service.converge(ReloadUnanswered(), STRATEGY, desired({"name": "new"}), reload=True)
    assert raised.value.msg == (
        "the server applied: create 'new'; then: the server did not answer: connection reset. Something may have "
        "changed on the server, so changed is true; re-run the task once the server answers again: it reads the "
        f"current state first and writes only what is missing. What the server confirmed was not reloaded. "
        f"{_service.UNAPPLIED}")
    details = raised.value.details
    assert details["status"] == 503 and details["url"] == "https://mail.example.com/jmap" and "method" not in details
    assert details["changed"] is True and details["reloaded"] is False
    assert details["plan"] == {"create": ["new"], "update": {}, "delete": []}
    assert details["applied"] == {"create": ["new"], "update": [], "delete": []}


def test_a_reload_that_fails_after_a_settled_lost_answer_says_the_answer_was_lost():
    client = ReloadUnanswered()
    client.lose_writes = 1  # applied, its answer lost: the re-read finds it done
    with pytest.raises(_service.ChangesFailed) as raised:
        _service.converge(client, STRATEGY, desired({"name": "new"}), reload=True)
    assert raised.value.msg.startswith("a write's answer was lost (lost); the server applied: create 'new'; then: "
                                       "the server did not answer"), raised.value.msg


def test_a_write_never_applied_whose_answers_stay_lost_is_not_reported_as_applied():
    client = FakeClient()
    client.retries = 1
    client.lose_writes, client.drop_unapplied = 2, True
    with pytest.raises(_service.ChangesFailed) as raised:
        _service.converge(client, STRATEGY, desired({"name": "new"}))
    assert raised.value.details["applied"] == {"create": [], "update": [], "delete": []}
    assert "the server applied" not in raised.value.msg
    assert "its outcome is unknown" in raised.value.msg and "strategies: 'new'" in raised.value.msg


class DeletedWhileLost(FakeClient):
    """The first write's answer is lost, and meanwhile another writer deletes strategy 'a'."""

    def post(self, calls, write=False):
        if write and not self.writes_seen:
            self.writes_seen += 1
            self.objects = {key: obj for key, obj in self.objects.items() if obj["name"] != "a"}
            raise _errors.WriteOutcomeUnknown("lost")
        return super().post(calls, write=write)


def test_a_strategy_deleted_by_another_writer_during_a_lost_write_is_not_reported_as_it_was():
    """The re-read after the lost answer is what the server holds: 'a' is gone, its re-create is
    refused, and the result must not show 'a' as it was before the run."""
    client = DeletedWhileLost([{"name": "a", "ehloHostname": "mx.old.example.com"}], refuse_hosts={"mx.bad.example.com"})
    items = desired({"name": "a", "ehlo_hostname": "mx.bad.example.com"})
    outcome = _service.converge(client, STRATEGY, items)
    assert list(outcome.failures) == ["a"] and outcome.failures["a"]["operation"] == "create"
    assert "a" not in outcome.objects
    assert _operations.strategies_failed(outcome, items, single=False).details["strategies"] == []


# --- the words of a refusal -------------------------------------------------------------------------------


def test_a_refusal_without_a_type_is_unknown_and_one_with_a_type_says_it():
    assert _service.failure_text(_service.set_error(STRATEGY, "a", "create", {"description": "boom"})) == (
        "'a': create refused by the server (unknown): boom")
    assert _service.failure_text(_service.set_error(STRATEGY, "a", "create", {"type": "invalidProperties"})) == (
        "'a': create refused by the server (invalidProperties)")


@pytest.mark.parametrize("value,note", [
    ("Error parsing 'then' expression in condition #3: unknown token", "condition #3 is connection.rules[2]: its then "
                                                                       "or then_expr"),
    ("Error parsing 'if' expression in condition #1: unknown token", "condition #1 is connection.rules[0].if"),
])
def test_the_servers_condition_numbers_are_shown_as_the_modules_rules(value, note):
    """The server numbers an expression's rules from 1 ('condition #3'); the module's rules[2]."""
    failure = _service.set_error(OUTBOUND, "outbound strategy", "update", {
        "type": "invalidProperties", "validationErrors": [{"type": "invalidValue", "property": "connection",
                                                           "value": value}]})
    assert _service.failure_text(failure).endswith(f"[invalidValue connection = {value!r}] ({note})")


def test_a_validation_error_without_a_value_names_only_its_option():
    failure = _service.set_error(STRATEGY, "a", "update", {
        "type": "invalidProperties", "validationErrors": [{"type": "required", "property": "sourceIps/0/sourceIp"}]})
    assert _service.failure_text(failure) == ("'a': update refused by the server (invalidProperties) "
                                              "[required source_ips[0].ip]")
