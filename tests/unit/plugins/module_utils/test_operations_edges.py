# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' operations run in-process against the fake server (found by mutation testing:
only the integration tests ran them): what each module returns, warns and refuses, in check mode
and not, for mta_connection_strategy, its info module, mta_outbound_strategy, its info module,
reload_settings and deliverability_check; and the words of their argument errors."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.stalwart.mail.plugins.module_utils import _errors, _operations, _service
from ansible_collections.stalwart.mail.plugins.module_utils._objects import OUTBOUND_STRATEGY as OUTBOUND
from tests.unit.plugins.module_utils.test__service import FakeClient

CONNECTION = {"url": "https://mail.example.com", "token": "t"}


class FakeModule:
    """What an operation uses of an AnsibleModule: the params as Ansible validates them (defaults
    filled in), check and diff mode, and the warnings."""

    def __init__(self, spec, params, check_mode=False, diff=False):
        result = ArgumentSpecValidator(spec.argument_spec()).validate(dict(params))
        assert not result.error_messages, result.error_messages
        self.params = result.validated_parameters
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)


class Server(FakeClient):
    """The fake server, with the outbound strategy writable (the four expressions) and the reload
    refused when ``reload_refusal`` is set; ``outbound_refusal`` refuses the outbound update."""

    def __init__(self, *args, outbound_refusal=None, reload_refusal=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.expressions = {}
        self.outbound_refusal = outbound_refusal
        self.reload_refusal = reload_refusal
        self.factory_calls = 0

    def __call__(self, module):
        """The client factory of the operations."""
        self.factory_calls += 1
        return self

    def writes(self, method):
        return [calls for write, calls in self.posts if write and method in calls]

    def _call(self, name, args, call_id, responses, created):
        if name == OUTBOUND.get and not self.outbound_forbidden and self.outbound_listing is None:
            return [name, {"list": [dict({"id": "singleton", "connection": self.outbound}, **self.expressions)]}, call_id]
        if name == OUTBOUND.set:
            if self.outbound_refusal:
                return [name, {"notUpdated": {"singleton": self.outbound_refusal}}, call_id]
            patch = dict(args["update"]["singleton"])
            self.outbound = patch.pop("connection", self.outbound)
            self.expressions.update(patch)
            return [name, {"updated": {"singleton": None}}, call_id]
        if name == _service.ACTION_SET and self.reload_refusal:
            return [name, {"notCreated": {"reload": self.reload_refusal}}, call_id]
        return super()._call(name, args, call_id, responses, created)


ROUTES_TO_GMAIL = {"match": {"0": {"if": "rcpt_domain == 'gmail.com'", "then": "'gmail'"}}, "else": "'default'"}


# --- mta_connection_strategy -----------------------------------------------------------------------------


def strategies(server, params, check_mode=False, diff=False):
    module = FakeModule(_operations.STRATEGY_MODULE, dict(CONNECTION, **params), check_mode=check_mode, diff=diff)
    return _operations.apply_strategies(module, client_factory=server), module


def test_one_strategy_is_created_and_returned_in_the_modules_form():
    server = Server()
    results, _module = strategies(server, {"name": "bulk", "connect_timeout": "2m"}, diff=True)
    assert results["changed"] is True and results["plan"] == {"create": ["bulk"], "update": {}, "delete": []}
    assert results["strategy"]["name"] == "bulk" and results["strategy"]["connect_timeout"] == "2m"
    assert results["diff"]["before"] == {} and results["diff"]["after"]["connect_timeout"] == "2m"


def test_an_input_error_of_a_task_of_one_strategy_names_it():
    def refusing_factory(module):
        raise _errors.InputError("url: not a URL", option="url")

    module = FakeModule(_operations.STRATEGY_MODULE, dict(CONNECTION, name="bulk"))
    with pytest.raises(_errors.InputError) as raised:
        _operations.apply_strategies(module, client_factory=refusing_factory)
    assert raised.value.msg == "strategy 'bulk': url: not a URL"
    assert raised.value.details == {"option": "url", "strategy": "bulk"}


def test_value_options_given_with_state_absent_are_warned_about_and_ignored():
    server = Server([{"name": "old"}, {"name": "kept"}])
    results, module = strategies(server, {"strategies": [{"name": "old", "state": "absent", "description": "x",
                                                          "connect_timeout": "1m"},
                                                         {"name": "kept", "description": "y"}]})
    assert results["plan"] == {"create": [], "update": {"kept": ["description"]}, "delete": ["old"]}
    assert module.warnings == ["strategies[0] ('old'): state is absent, so the value options given with it are "
                               "ignored (connect_timeout, description); remove them, or set state: present"]


def test_purge_leaves_the_names_of_assume_present_alone():
    server = Server([{"name": "default"}, {"name": "later"}, {"name": "stale"}])
    results, _module = strategies(server, {"strategies": [{"name": "default"}], "purge": True,
                                           "assume_present": ["later"]})
    assert results["plan"]["delete"] == ["stale"] and sorted(server.by_name()) == ["default", "later"]


def test_purge_in_check_mode_reads_what_the_expression_routes_to_unless_purge_keep_says_it():
    server = Server([{"name": "default"}, {"name": "gmail"}, {"name": "stale"}], outbound=ROUTES_TO_GMAIL)
    results, _module = strategies(server, {"strategies": [], "purge": True}, check_mode=True)
    assert results["plan"]["delete"] == ["stale"]
    assert OUTBOUND.get in server.posts[0][1]
    # with purge_keep (the role's expression, not written yet in check mode) the server's is not read
    server.posts.clear()
    results, _module = strategies(server, {"strategies": [], "purge": True, "purge_keep": ["gmail"]}, check_mode=True)
    assert results["plan"]["delete"] == ["default", "stale"]
    assert all(OUTBOUND.get not in calls for _write, calls in server.posts)


def test_purge_keep_in_a_real_run_also_keeps_what_the_servers_expression_routes_to():
    server = Server([{"name": "default"}, {"name": "gmail"}, {"name": "mine"}, {"name": "stale"}],
                    outbound=ROUTES_TO_GMAIL)
    results, module = strategies(server, {"strategies": [], "purge": True, "purge_keep": ["mine"]})
    assert results["plan"]["delete"] == ["stale"]
    assert any(warning.startswith("purge kept 'default', 'gmail': the server's connection expression routes to them")
               for warning in module.warnings), module.warnings


def test_purge_keep_with_an_unreadable_expression_keeps_what_purge_keep_names_and_says_so():
    server = Server([{"name": "mine"}, {"name": "stale"}], outbound_forbidden=True)
    results, module = strategies(server, {"strategies": [], "purge": True, "purge_keep": ["mine"]})
    assert results["plan"]["delete"] == ["stale"]
    assert ("purge kept what purge_keep names, but could not check what the server's connection expression routes "
            "to by now (the outbound strategy could not be read (the credentials lack the permission "
            "sysMtaOutboundStrategyGet), so it is unknown which strategies its connection expression uses), should "
            "another host or run have written it") in module.warnings


def test_purge_under_a_computed_expression_names_its_first_computed_target():
    server = Server([{"name": "default"}, {"name": "stale"}], outbound={
        "match": {"0": {"if": "true", "then": "'local-' + rcpt_domain"}}, "else": "rcpt_domain"})
    results, module = strategies(server, {"strategies": [{"name": "default"}], "purge": True})
    assert results["plan"]["delete"] == []
    assert module.warnings[0].startswith(
        "purge deleted nothing: the outbound strategy's connection expression computes a strategy name "
        "(connection.rules[0].then_expr: \"'local-' + rcpt_domain\")"), module.warnings


def test_a_partly_refused_batch_says_how_many_changes_were_refused_and_applied():
    server = Server([{"name": "upd"}, {"name": "gone"}], refuse_hosts={"mx.refused.example.com"})
    with pytest.raises(_service.BatchFailed) as raised:
        strategies(server, {"strategies": [{"name": "bad", "ehlo_hostname": "mx.refused.example.com"},
                                           {"name": "upd", "description": "new"},
                                           {"name": "gone", "state": "absent"}]}, diff=True)
    assert raised.value.msg.startswith("1 of 3 changes were refused by the server (2 applied; a re-run retries the "
                                       "rest): 'bad': create refused by the server (invalidPatch)"), raised.value.msg
    assert "diff" not in raised.value.details


def test_a_refused_reload_after_the_changes_says_they_were_applied():
    server = Server(reload_refusal={"type": "forbidden", "description": "no"})
    with pytest.raises(_service.BatchFailed) as raised:
        strategies(server, {"name": "bulk", "reload": True})
    assert raised.value.msg == (
        "the changes were applied, but the server refused to reload its settings (forbidden): no; the credentials "
        f"need the permission actionReloadSettings. The stored changes take effect at the next reload: "
        f"{_service.RELOAD_HOW}")


# --- mta_connection_strategy_info --------------------------------------------------------------------------


def read_strategies(server, params):
    module = FakeModule(_operations.STRATEGY_INFO_MODULE, dict(CONNECTION, **params))
    return _operations.read_strategies(module, client_factory=server), module


def test_the_info_module_reads_nothing_for_an_empty_list_of_names():
    server = Server([{"name": "bulk"}])
    assert read_strategies(server, {"names": []})[0] == {"changed": False, "strategies": []}
    assert server.posts == []


def test_the_info_module_returns_the_strategies_sorted_by_name():
    server = Server([{"name": "b"}, {"name": "a", "connectTimeout": 60000}])
    results, module = read_strategies(server, {})
    assert results["changed"] is False
    assert [(item["name"], item["connect_timeout"]) for item in results["strategies"]] == [("a", "1m"), ("b", "5m")]
    assert module.warnings == []


def test_the_info_module_warns_when_the_listing_shifted_while_it_was_paged():
    class Shifting(Server):
        def post(self, calls, write=False):
            responses = super().post(calls, write=write)
            if len(self.posts) == 1:
                for index in range(5):
                    self._store({"name": f"a-{index}"})
            return responses

    server = Shifting([{"name": f"s-{index:02}"} for index in range(30)], limits={"max_objects_in_get": 10})
    _results, module = read_strategies(server, {})
    assert module.warnings == ["another writer changed the strategies while they were read, page by page: the list "
                               "may miss some of them; run the task again for a complete one"]


# --- mta_outbound_strategy ---------------------------------------------------------------------------------


def outbound(server, params, check_mode=False, diff=False):
    module = FakeModule(_operations.OUTBOUND_MODULE, dict(CONNECTION, **params), check_mode=check_mode, diff=diff)
    return _operations.apply_outbound(module, client_factory=server)


NEW_CONNECTION = {"rules": [{"if": "rcpt_domain == 'outlook.com'", "then": "bulk"}], "else": "default"}
NEW_ROUTE = {"rules": [], "else": "relay"}


def test_the_changed_expressions_are_written_in_one_update_and_returned():
    server = Server([{"name": "bulk"}, {"name": "default"}])
    results = outbound(server, {"connection": NEW_CONNECTION, "route": NEW_ROUTE}, diff=True)
    assert results["changed"] is True and results["plan"] == {"update": ["connection", "route"]}
    assert results["outbound_strategy"]["connection"] == NEW_CONNECTION
    assert results["outbound_strategy"]["route"] == NEW_ROUTE
    assert results["diff"]["before"] == {"connection": {"rules": [], "else": "default"},
                                         "route": {"rules": [{"if": "is_local_domain(rcpt_domain)", "then": "local"}],
                                                   "else": "mx"}}
    assert results["diff"]["after"] == {"connection": NEW_CONNECTION, "route": NEW_ROUTE}
    assert len(server.writes(OUTBOUND.set)) == 1
    assert server.outbound == {"match": {"0": {"if": "rcpt_domain == 'outlook.com'", "then": "'bulk'"}},
                               "else": "'default'"}


def test_check_mode_returns_the_expressions_as_they_would_be_and_writes_nothing():
    server = Server([{"name": "bulk"}, {"name": "default"}])
    results = outbound(server, {"connection": NEW_CONNECTION}, check_mode=True)
    assert results["changed"] is True and results["outbound_strategy"]["connection"] == NEW_CONNECTION
    assert server.writes(OUTBOUND.set) == []


def test_expressions_as_the_server_holds_them_are_no_change():
    server = Server([{"name": "default"}])
    results = outbound(server, {"connection": {"rules": [], "else": "default"}})
    assert results["changed"] is False and results["plan"] == {"update": []}
    assert server.writes(OUTBOUND.set) == []


@pytest.mark.parametrize("connection,words", [
    ({"rules": [], "else": "missing"}, "connection routes to 1 connection strategy that does not exist: 'missing'; "
                                       "deliveries routed there would leave with built-in defaults and no source IP. "
                                       "Create it first (stalwart.mail.mta_connection_strategy), list it in "
                                       "assume_present"),
    ({"rules": [{"if": "true", "then": "m1"}], "else": "m2"},
     "connection routes to 2 connection strategies that do not exist: 'm1', 'm2'; deliveries routed there would leave "
     "with built-in defaults and no source IP. Create them first (stalwart.mail.mta_connection_strategy), list them in "
     "assume_present"),
])
def test_a_connection_to_a_strategy_that_does_not_exist_is_refused(connection, words):
    server = Server([{"name": "default"}])
    with pytest.raises(_errors.InputError) as raised:
        outbound(server, {"connection": connection})
    assert raised.value.msg.startswith(f"the outbound strategy: {words}"), raised.value.msg
    assert server.writes(OUTBOUND.set) == []
    # unless the check is turned off
    assert outbound(server, {"connection": connection, "check_references": False})["changed"] is True


def test_check_mode_takes_assume_present_for_strategies_an_earlier_task_creates():
    server = Server([{"name": "default"}])
    results = outbound(server, {"connection": {"rules": [], "else": "later"}, "assume_present": ["later"]},
                       check_mode=True)
    assert results["changed"] is True


@pytest.mark.parametrize("gone,words", [
    (["later"], "connection routes to 'later', which assume_present names (a task before this one created it), but "
                "which does not exist any more: another writer deleted it since"),
    (["later", "other"], "connection routes to 'later', 'other', which assume_present names (a task before this one "
                         "created them), but which do not exist any more: another writer deleted them since"),
])
def test_a_real_run_refuses_a_route_to_an_assumed_strategy_that_is_gone(gone, words):
    server = Server([{"name": "default"}])
    connection = {"rules": [{"if": "true", "then": name} for name in gone], "else": "default"}
    with pytest.raises(_errors.InputError) as raised:
        outbound(server, {"connection": connection, "assume_present": gone})
    assert raised.value.msg.startswith(f"the outbound strategy: {words}"), raised.value.msg


def test_a_route_to_a_strategy_that_assume_absent_names_is_refused_before_any_request():
    server = Server([{"name": "bulk"}, {"name": "default"}])
    with pytest.raises(_errors.InputError) as raised:
        outbound(server, {"connection": {"rules": [{"if": "true", "then": "bulk"}], "else": "default"},
                          "assume_absent": ["bulk"]})
    assert raised.value.msg == (
        "the outbound strategy: connection routes to 'bulk', which assume_absent names (the role: state: absent in "
        "its list), so the strategy would be deleted right after; route elsewhere, or keep it")
    assert server.posts == []


def test_a_refused_update_fails_with_the_servers_reason_and_nothing_changed():
    server = Server([{"name": "default"}], outbound_refusal={"type": "invalidProperties", "description": "bad"})
    with pytest.raises(_service.BatchFailed) as raised:
        outbound(server, {"route": NEW_ROUTE})
    assert raised.value.msg == ("the server refused the change of the outbound strategy: 'outbound strategy': update "
                                "refused by the server (invalidProperties): bad")
    assert raised.value.details["changed"] is False


def test_a_lost_answer_is_settled_by_reading_again_not_by_writing_again():
    server = Server([{"name": "default"}])
    server.lose_writes = 1  # applied, its answer lost
    results = outbound(server, {"route": NEW_ROUTE})
    assert results["changed"] is True and results["outbound_strategy"]["route"] == NEW_ROUTE
    assert len(server.writes(OUTBOUND.set)) == 1 and server.waits == [1]


def test_answers_lost_past_the_retries_fail_as_changed_and_unconfirmed():
    server = Server([{"name": "default"}])
    server.retries = 1
    server.lose_writes, server.drop_unapplied = 5, True
    with pytest.raises(_service.ChangesFailed) as raised:
        outbound(server, {"route": NEW_ROUTE})
    assert len(server.writes(OUTBOUND.set)) == 2 and server.waits == [1]
    # the write sent again was lost the same way: said so, not the same cause twice
    assert raised.value.msg.startswith(
        "the outbound strategy: a write was sent and its outcome is unknown: the server may or may not have applied "
        "it (lost before it was applied; expressions: 'route'); then a later request failed the same way. "
        "Something may have changed"), raised.value.msg
    assert raised.value.details["changed"] is True
    assert raised.value.details["unconfirmed"] == ["outbound strategy"]


def test_a_refused_reload_after_the_expressions_were_written_says_they_were_applied():
    server = Server([{"name": "default"}], reload_refusal={"type": "forbidden", "description": "no"})
    with pytest.raises(_service.BatchFailed) as raised:
        outbound(server, {"route": NEW_ROUTE, "reload": True})
    assert raised.value.msg.startswith("the changes were applied, but the server refused to reload its settings "
                                       "(forbidden): no;"), raised.value.msg
    assert raised.value.details["changed"] is True and raised.value.details["reloaded"] is False


def test_the_outbound_info_module_returns_the_four_expressions():
    server = Server(outbound=ROUTES_TO_GMAIL)
    module = FakeModule(_operations.OUTBOUND_INFO_MODULE, CONNECTION)
    results = _operations.read_outbound(module, client_factory=server)
    assert results["changed"] is False
    assert results["outbound_strategy"]["connection"] == {"rules": [{"if": "rcpt_domain == 'gmail.com'",
                                                                     "then": "gmail"}], "else": "default"}
    assert results["outbound_strategy"]["route"]["else"] == "mx"


# --- reload_settings --------------------------------------------------------------------------------------


def reload_settings(server, check_mode=False):
    module = FakeModule(_operations.RELOAD_MODULE, CONNECTION, check_mode=check_mode)
    return _operations.reload_settings(module, client_factory=server)


def test_reload_sends_one_reload_that_may_be_retried_like_a_read():
    server = Server()
    assert reload_settings(server) == {"changed": True, "reloaded": True}
    assert server.posts == [(False, [_service.ACTION_SET])]


def test_reload_in_check_mode_sends_nothing():
    server = Server()
    assert reload_settings(server, check_mode=True) == {"changed": True, "reloaded": False}
    assert server.posts == [] and server.factory_calls == 0


@pytest.mark.parametrize("refusal,error,words", [
    ({"type": "forbidden", "description": "no"}, _errors.PermissionDenied,
     "(forbidden): no; the credentials need the permission actionReloadSettings"),
    ({"type": "validationFailed", "description": "bad", "objectId": {"object": "SpamPyzor", "id": "singleton"}},
     _errors.MethodError, "(validationFailed): bad (at the SpamPyzor singleton object)"),
])
def test_a_refused_reload_fails_saying_why(refusal, error, words):
    with pytest.raises(error) as raised:
        reload_settings(Server(reload_refusal=refusal))
    assert raised.type is error
    assert raised.value.msg == f"the server refused to reload its settings {words}. {_service.UNAPPLIED}"


# --- deliverability_check ---------------------------------------------------------------------------------


def deliverability(server, params):
    module = FakeModule(_operations.DELIVERABILITY_MODULE, dict({"checks": ["bind"]}, **params))
    return _operations.check_deliverability(module, client_factory=server), module


def pairs(results):
    return [(pair["strategy"], pair["source_ip"], pair["ehlo"]) for pair in results["pairs"]]


def test_deliverability_takes_no_url_when_the_strategies_are_given_whole():
    server = Server()
    results, module = deliverability(server, dict(CONNECTION, strategies=[
        {"name": "a", "ehlo_hostname": "mx.example.com", "source_ips": [{"ip": "192.0.2.1"}]}]))
    assert pairs(results) == [("a", "192.0.2.1", "mx.example.com")]
    assert server.factory_calls == 0 and module.warnings == []


def test_deliverability_reads_what_the_given_strategies_leave_out_from_the_server():
    server = Server([{"name": "a", "ehloHostname": "mx.example.com", "sourceIps": {"0": {"sourceIp": "192.0.2.1"}}}])
    results, _module = deliverability(server, dict(CONNECTION, strategies=[{"name": "a"}]))
    assert pairs(results) == [("a", "192.0.2.1", "mx.example.com")]


def test_deliverability_without_a_url_checks_what_is_left_out_as_not_set():
    server = Server()
    results, module = deliverability(server, {"strategies": [{"name": "a"}]})
    assert pairs(results) == [] and server.factory_calls == 0
    assert module.warnings == ["strategy 'a': source_ips or ehlo_hostname left out, and no url to read them from the "
                               "server: checked as not set"]


def test_deliverability_without_strategies_reads_them_all_from_the_url():
    server = Server([{"name": "a", "ehloHostname": "mx.example.com", "sourceIps": {"0": {"sourceIp": "192.0.2.1"}}}])
    results, _module = deliverability(server, CONNECTION)
    assert pairs(results) == [("a", "192.0.2.1", "mx.example.com")]
    with pytest.raises(_errors.InputError, match="url: needed to read the strategies from the server"):
        deliverability(server, {})


def test_deliverability_check_does_not_require_url():
    assert _operations.DELIVERABILITY_MODULE.argument_spec()["url"]["required"] is False
    assert _operations.STRATEGY_MODULE.argument_spec()["url"].get("required") is True


# --- the words of argument errors -----------------------------------------------------------------------------


# Ansible's own words for a source_ips item that is not a dict, as the installed ansible-core
# says them (2.16 writes the type as "<class 'str'>", 2.19 as "str")
SOURCE_IPS_TYPE = ArgumentSpecValidator({"source_ips": {"type": "list", "elements": "dict"}}).validate(
    {"source_ips": ["x"]}).error_messages[0]


def test_what_source_ips_accepts_is_added_to_ansibles_words_once():
    once = _operations.with_accepted(SOURCE_IPS_TYPE)
    assert once == f"{SOURCE_IPS_TYPE}; {_operations.SOURCE_IPS_ACCEPTED}"
    assert _operations.with_accepted(once) == once
    assert _operations.with_accepted("value of state must be one of: present, absent") == (
        "value of state must be one of: present, absent")


@pytest.mark.parametrize("items,message,option", [
    (["bulk"], "strategies[0] (item 1): expected a dict (one strategy), got 'bulk'", "strategies[0]"),
    ([{"description": "x"}], "strategies[0] (item 1): strategies[0].name: the name is missing or empty; a non-empty "
                             "name is required", "strategies[0].name"),
    # Ansible's validator names no option the details could carry: the item is named
    ([{"name": 2024, "state": "gone"}], "strategies[0] (item 1): value of state must be one of: present, absent, "
                                        "got: gone", "strategies[0]"),
    ([{"name": "a", "state": "gone", "source_ips": "x"}], f"strategies[0] ('a'): {SOURCE_IPS_TYPE}; "
                                                          f"{_operations.SOURCE_IPS_ACCEPTED}", "strategies[0]"),
    ([{"name": "a"}, {"name": "b", "colour": "red"}], "strategies[1] ('b'): strategies[1].colour: unsupported option(s) "
                                                      "colour; supported options of a strategy: name, state, id, description, "
                                                      "ehlo_hostname, source_ips, connect_timeout, data_timeout, ehlo_timeout, "
                                                      "greeting_timeout, mail_from_timeout, rcpt_to_timeout",
     "strategies[1].colour"),
])
def test_a_malformed_item_of_a_batch_is_refused_naming_it(items, message, option):
    with pytest.raises(_errors.InputError) as raised:
        _operations.desired_strategies({"strategies": items})
    assert raised.value.msg == message
    assert raised.value.details["option"] == option
    assert _operations.desired_strategies({"strategies": [{"name": "ok"}]})[0]["name"] == "ok"


def test_an_expression_given_as_text_is_told_what_an_expression_is():
    message = ("argument 'connection' is of type str and we were unable to convert to dict: dictionary requested, "
               "could not parse JSON or key=value")
    assert _operations.name_the_expression({}, message) == f"{message}; connection: {_operations._values.EXPRESSION_ACCEPTED}"
    assert _operations.name_the_expression({}, "something else") == "something else"
    assert _operations.name_the_expression({}, None) == ""


def test_a_dictionary_option_of_deliverability_given_as_text_is_named():
    message = "argument 'resolver' is of type str: dictionary requested, could not parse JSON or key=value"
    assert _operations.name_the_deliverability_input({"resolver": "8.8.8.8"}, message) == (
        "resolver: expected a dictionary {nameservers, port, timeout, lifetime, tcp, budget}, got '8.8.8.8'")


def test_an_item_of_deliverabilitys_strategies_that_is_not_a_dictionary_is_named():
    message = "Elements value for option 'strategies' is of type str and we were unable to convert to dict"
    raw = {"strategies": [{"name": "a"}, "b"]}
    assert _operations.name_the_deliverability_input(raw, message) == (
        f"strategies[1] (item 2): expected a dictionary, {_operations.DELIVERABILITY_ITEM}; got 'b'")
    assert _operations.name_the_deliverability_input({"strategies": [{"name": "a"}]}, message) == (
        f"{message}; strategies: a list, each item {_operations.DELIVERABILITY_ITEM}")
    assert _operations.name_the_deliverability_input(raw, "value of mode must be one of: warn, fail") == (
        "value of mode must be one of: warn, fail")
