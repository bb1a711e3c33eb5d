# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runner: reads the server, plans, applies the plan through the client, and builds the
module's results and diff. The one place where exceptions become ``fail_json``.

Cost (DESIGN.md §4, §6): one ``GET`` of the session, one read ``POST`` (plus one per further
4000 strategies or so: pages of ``maxObjectsInGet`` packed by ``maxCallsInRequest``), and the
writes: ``/set`` calls chunked by ``maxObjectsInSet``, each followed in the same request by a
``/get`` of what it created and updated, packed into as few ``POST``s as the server allows, the
reload riding in the last one. No re-read in the normal case.
"""

from __future__ import annotations

from ansible_collections.stalwart.mail.plugins.module_utils import _model, _planner
from ansible_collections.stalwart.mail.plugins.module_utils._client import check_method_response
from ansible_collections.stalwart.mail.plugins.module_utils._connection import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    client_from_module,
    connection_argument_spec,
    validate_connection_params,
)
from ansible_collections.stalwart.mail.plugins.module_utils._errors import (
    InputError,
    MethodError,
    PermissionDenied,
    StalwartError,
    WriteOutcomeUnknown,
)

QUERY = "x:MtaConnectionStrategy/query"
GET = "x:MtaConnectionStrategy/get"
SET = "x:MtaConnectionStrategy/set"
OUTBOUND_GET = "x:MtaOutboundStrategy/get"
OUTBOUND_PERMISSION = "sysMtaOutboundStrategyGet"
ACTION_SET = "x:Action/set"
RELOAD_CALL = [ACTION_SET, {"create": {"reload": {"@type": "ReloadSettings"}}}, "reload"]


class BatchFailed(StalwartError):
    """Some strategies were refused by the server; the others were applied. The details carry
    ``failed_strategies`` and the partial ``strategies``/``strategy``, ``plan`` and ``changed``."""


def _ids_reference(call_id):
    return {"resultOf": call_id, "name": QUERY, "path": "/ids"}


def _limit(client, key, default):
    value = (getattr(client, "limits", None) or {}).get(key)
    return value if isinstance(value, int) and value > 0 else default


# --- reading ----------------------------------------------------------------------------------------


class Snapshot:
    """What one read found: ``current`` (name → normalised object), the raw wire objects, the
    outbound strategy's protected names (None: unreadable, ``unreadable_reason`` says why) and the
    duration wire form."""

    def __init__(self):
        self.current = {}
        self.wire = []
        self.protected = set()
        self.unreadable_reason = None
        self.durations_as_strings = False

    def add(self, objects):
        for obj in objects or ():
            if isinstance(obj, dict) and obj.get("name") is not None:
                self.wire.append(obj)
                self.current[obj["name"]] = _model.from_wire(obj)


def _outbound(snapshot, response):
    try:
        args = check_method_response(response, OUTBOUND_GET)
    except PermissionDenied as denied:
        permission = denied.details.get("permission") or OUTBOUND_PERMISSION
        snapshot.protected = None
        snapshot.unreadable_reason = f"the credentials lack the permission {permission}"
        return
    except MethodError as error:
        snapshot.protected = None
        snapshot.unreadable_reason = f"the server answered {error.details.get('error_type')}"
        return
    listing = args.get("list") or []
    connection = listing[0].get("connection") if listing and isinstance(listing[0], dict) else None
    if connection is None:
        # nothing stored (no object, or no connection): the server uses its default expression,
        # which names 'default'; protecting nothing would let purge delete the strategy in use
        connection = _planner.DEFAULT_CONNECTION
    snapshot.protected = _planner.protected_names(connection)


def read(client, names=None, outbound=False):
    """Read the strategies (all, or only ``names`` when few enough to ask for each by name in one
    request) and, with ``outbound``, the outbound strategy's connection expression."""
    client.connect()
    max_get = _limit(client, "max_objects_in_get", 500)
    max_calls = _limit(client, "max_calls_in_request", 16)
    snapshot = Snapshot()
    extra = [[OUTBOUND_GET, {"ids": ["singleton"], "properties": ["connection"]}, "outbound"]] if outbound else []
    by_name = names is not None and 2 * len(names) + len(extra) <= max_calls
    if by_name:
        calls = []
        for index, name in enumerate(names):
            calls.append([QUERY, {"filter": {"name": name}}, f"q{index}"])
            calls.append([GET, {"#ids": _ids_reference(f"q{index}")}, f"g{index}"])
        responses = client.post(calls + extra) if calls or extra else []
        by_id = {item[2]: item for item in responses}
        for index in range(len(names)):
            # the query first: a refused query (forbidden) makes its get an invalidResultReference
            check_method_response(by_id.get(f"q{index}"), QUERY)
            snapshot.add(check_method_response(by_id.get(f"g{index}"), GET).get("list"))
    else:
        calls = [[QUERY, {"sort": [{"property": "name", "isAscending": True}], "position": 0, "limit": max_get,
                          "calculateTotal": True}, "q0"],
                 [GET, {"#ids": _ids_reference("q0")}, "g0"]]
        # one request unless maxCallsInRequest is below 3: then the outbound read goes on its own
        responses = client.post_many([calls, extra])
        by_id = {item[2]: item for item in responses}
        query = check_method_response(by_id.get("q0"), QUERY)
        snapshot.add(check_method_response(by_id.get("g0"), GET).get("list"))
        total = query.get("total") or 0
        fetched = len(query.get("ids") or ())
        if total > fetched:
            groups = []
            for page, position in enumerate(range(fetched, total, max_get), start=1):
                groups.append([[QUERY, {"sort": [{"property": "name", "isAscending": True}], "position": position,
                                        "limit": max_get, "calculateTotal": True}, f"q{page}"],
                               [GET, {"#ids": _ids_reference(f"q{page}")}, f"g{page}"]])
            for response in client.post_many(groups):
                if response[2].startswith("g"):
                    snapshot.add(check_method_response(response, GET).get("list"))
                else:
                    check_method_response(response, QUERY)
        if names is not None:
            wanted = set(names)
            snapshot.current = {name: obj for name, obj in snapshot.current.items() if name in wanted}
    if outbound:
        _outbound(snapshot, by_id.get("outbound"))
    uses_strings = _model.wire_uses_strings(snapshot.wire)
    snapshot.durations_as_strings = (not client.session_found) if uses_strings is None else uses_strings
    return snapshot


def _get_by_ids(client, ids):
    """The objects with these ids (one request per ``maxObjectsInGet``, packed)."""
    max_get = _limit(client, "max_objects_in_get", 500)
    groups = [[[GET, {"ids": ids[start:start + max_get]}, f"f{start}"]] for start in range(0, len(ids), max_get)]
    objects = []
    for response in client.post_many(groups) if groups else ():
        objects.extend(check_method_response(response, GET).get("list") or ())
    return objects


# --- writing ----------------------------------------------------------------------------------------


class WriteResult:
    def __init__(self):
        self.objects = {}
        self.failures = {}
        self.taken = []  # creates refused with primaryKeyViolation (another run created it first)
        self.applied = 0
        self.reloaded = False


def _set_error(name, operation, error):
    error = error if isinstance(error, dict) else {}
    properties = [_model.option_for_wire_path(path) for path in error.get("properties") or ()]
    validation = []
    for entry in error.get("validationErrors") or ():
        if isinstance(entry, dict):
            entry = dict(entry)
            if "property" in entry:
                entry["option"] = _model.option_for_wire_path(entry["property"])
            validation.append(entry)
    return {"strategy": name, "operation": operation, "error_type": error.get("type") or "unknown",
            "description": error.get("description"), "properties": properties, "validation_errors": validation}


def _operations(the_plan, durations_as_strings):
    """(kind, name, body) in the server's processing order: creates, updates, destroys."""
    operations = [("create", name, the_plan.create_body(name, durations_as_strings)) for name in the_plan.create]
    operations += [("update", name, the_plan.update_patch(name, durations_as_strings)) for name in the_plan.update]
    operations += [("destroy", name, None) for name in the_plan.delete]
    return operations


def write(client, the_plan, durations_as_strings, reload=False):
    """Apply ``the_plan``: ``/set`` chunks, each with a ``/get`` of its results in the same
    request, packed by ``maxCallsInRequest``; the reload last. Raises ``WriteOutcomeUnknown``
    when an answer was lost (nothing is resent here)."""
    max_set = _limit(client, "max_objects_in_set", 500)
    max_get = _limit(client, "max_objects_in_get", 500)
    max_calls = _limit(client, "max_calls_in_request", 16)
    chunk_size = max(1, min(max_set, max_get * max(1, max_calls - 1)))
    operations = _operations(the_plan, durations_as_strings)
    groups, creation_names = [], {}
    for chunk_index, start in enumerate(range(0, len(operations), chunk_size)):
        arguments, fetch = {}, []
        for offset, (kind, name, body) in enumerate(operations[start:start + chunk_size]):
            if kind == "create":
                creation_id = f"c{start + offset}"
                creation_names[creation_id] = name
                arguments.setdefault("create", {})[creation_id] = body
                fetch.append("#" + creation_id)
            elif kind == "update":
                arguments.setdefault("update", {})[the_plan.ids[name]] = body
                fetch.append(the_plan.ids[name])
            else:
                arguments.setdefault("destroy", []).append(the_plan.ids[name])
        group = [[SET, arguments, f"s{chunk_index}"]]
        for get_index, get_start in enumerate(range(0, len(fetch), max_get)):
            group.append([GET, {"ids": fetch[get_start:get_start + max_get]}, f"g{chunk_index}.{get_index}"])
        groups.append(group)
    if reload:
        groups.append([list(RELOAD_CALL)])
    responses = client.post_many(groups, write=True)
    return _read_write_responses(client, the_plan, responses, creation_names)


def _read_write_responses(client, the_plan, responses, creation_names):
    result = WriteResult()
    names_by_id = {strategy_id: name for name, strategy_id in the_plan.ids.items()}
    missing_ids = []
    fetched_ok = set()
    set_responses = [response for response in responses if response[2].startswith("s")]
    for response in set_responses:
        args = check_method_response(response, SET)
        for creation_id, created in (args.get("created") or {}).items():
            name = creation_names.get(creation_id)
            result.applied += 1
            if isinstance(created, dict) and created.get("id"):
                missing_ids.append(created["id"])
                names_by_id[created["id"]] = name
        for creation_id, error in (args.get("notCreated") or {}).items():
            name = creation_names.get(creation_id, creation_id)
            if isinstance(error, dict) and error.get("type") == "primaryKeyViolation":
                result.taken.append(name)
            else:
                result.failures[name] = _set_error(name, "create", error)
        for strategy_id in (args.get("updated") or {}):
            result.applied += 1
            missing_ids.append(strategy_id)
        for strategy_id, error in (args.get("notUpdated") or {}).items():
            name = names_by_id.get(strategy_id, strategy_id)
            result.failures[name] = _set_error(name, "update", error)
        result.applied += len(args.get("destroyed") or ())
        for strategy_id, error in (args.get("notDestroyed") or {}).items():
            if isinstance(error, dict) and error.get("type") == "notFound":
                continue  # already gone (another run deleted it): converged
            name = names_by_id.get(strategy_id, strategy_id)
            result.failures[name] = _set_error(name, "delete", error)
    for response in responses:
        call_id = response[2]
        if call_id.startswith("g"):
            if response[0] == "error":
                continue  # e.g. a creation id whose create failed: fetched below by id instead
            for obj in check_method_response(response, GET).get("list") or ():
                if isinstance(obj, dict) and obj.get("name") is not None:
                    result.objects[obj["name"]] = _model.from_wire(obj)
                    fetched_ok.add(obj.get("id"))
        elif call_id == "reload":
            try:
                args = check_method_response(response, ACTION_SET)
            except StalwartError as error:
                result.failures["(reload)"] = {"strategy": "(reload)", "operation": "reload",
                                               "error_type": error.details.get("error_type") or "error",
                                               "description": error.msg, "properties": [], "validation_errors": []}
                continue
            result.reloaded = True
            failed = (args.get("notCreated") or {}).get("reload")
            if failed:
                result.failures["(reload)"] = _set_error("(reload)", "reload", failed)
                result.reloaded = False
    still_missing = [strategy_id for strategy_id in missing_ids if strategy_id not in fetched_ok]
    if still_missing:
        for obj in _get_by_ids(client, still_missing):
            result.objects[obj["name"]] = _model.from_wire(obj)
    return result


def _send_reload(client):
    response = client.post([list(RELOAD_CALL)], write=True)
    args = check_method_response(response[0], ACTION_SET)
    return not (args.get("notCreated") or {}).get("reload")


# --- converging ----------------------------------------------------------------------------------------


class Outcome:
    def __init__(self, the_plan, objects, reloaded, failures, changed):
        self.plan = the_plan
        self.objects = objects
        self.reloaded = reloaded
        self.failures = failures
        self.changed = changed


def converge(client, desired, purge=False, force=False, reload=False, check_mode=False, warn=None):
    """Read, plan, and (unless ``check_mode``) write; recover from lost writes (re-read, re-plan,
    write what is still missing, at most ``retries`` rounds) and from creates that a concurrent
    run made first (re-read those names, update them if needed)."""
    warn = warn or (lambda message: None)
    names = None if purge else [item["name"] for item in desired]
    snapshot = read(client, names=names, outbound=purge)
    first_plan = _planner.plan(snapshot.current, desired, purge=purge, protected=snapshot.protected,
                               force=force, unreadable_reason=snapshot.unreadable_reason)
    for message in first_plan.warnings:
        warn(message)
    if check_mode or not first_plan.changed:
        return Outcome(first_plan, dict(first_plan.predicted), False, {}, first_plan.changed)

    objects = dict(snapshot.current)
    the_plan, rounds, reloaded, lost = first_plan, 0, False, False
    rounds_allowed = max(1, int(getattr(client, "retries", 3) or 0))
    while True:
        try:
            result = write(client, the_plan, snapshot.durations_as_strings, reload=reload)
            break
        except WriteOutcomeUnknown:
            rounds += 1
            lost = True
            if rounds > rounds_allowed:
                raise
            client.back_off(rounds)  # the same backoff as a retry: a failing server gets a breather
            snapshot = read(client, names=names, outbound=purge)
            objects = dict(snapshot.current)
            the_plan = _planner.plan(snapshot.current, desired, purge=purge, protected=snapshot.protected,
                                     force=force, unreadable_reason=snapshot.unreadable_reason)
            if not the_plan.changed:
                result = WriteResult()
                if reload:
                    # whether the lost request's reload ran is unknown; a reload is safe to repeat
                    result.reloaded = _send_reload(client)
                break
    reloaded = result.reloaded
    objects.update(result.objects)
    if result.taken:
        taken = set(result.taken)
        again = read(client, names=sorted(taken))
        retry_plan = _planner.plan(again.current, [item for item in desired if item["name"] in taken])
        objects.update(again.current)
        if retry_plan.changed:
            # the first write's reload ran before these updates: reload again after them, or the
            # server would keep running the concurrent run's values until the next reload
            retried = write(client, retry_plan, again.durations_as_strings, reload=reload)
            reloaded = reloaded or retried.reloaded
            result.applied += retried.applied
            objects.update(retried.objects)
            result.failures.update(retried.failures)
            for name in retried.taken:
                result.failures[name] = {"strategy": name, "operation": "create", "error_type": "primaryKeyViolation",
                                         "description": "created concurrently and then not found", "properties": ["name"],
                                         "validation_errors": []}
    for name in first_plan.delete:
        objects.pop(name, None)
    changed = lost or result.applied > 0
    return Outcome(first_plan, objects, reloaded, result.failures, changed)


# --- results -----------------------------------------------------------------------------------------------


def _failure_text(failure):
    text = f"{failure['strategy']}: {failure['operation']} refused by the server ({failure['error_type']})"
    if failure.get("description"):
        text += f": {failure['description']}"
    if failure.get("properties"):
        text += f" [option: {', '.join(failure['properties'])}]"
    for entry in failure.get("validation_errors") or ():
        text += f" [{entry.get('type')} {entry.get('option', entry.get('property'))}"
        text += f" = {entry['value']!r}]" if "value" in entry else "]"
    return text


def strategy_results(outcome, desired, single, diff):
    """The module's result: ``changed``, ``plan``, ``reloaded``, ``strategy`` or ``strategies``
    and, in diff mode, ``diff`` (durations in the user's units)."""
    the_plan = outcome.plan
    present = [item["name"] for item in desired if item["state"] == "present"]
    results = {"changed": outcome.changed, "plan": the_plan.summary(), "reloaded": outcome.reloaded}
    if single:
        name = desired[0]["name"]
        obj = outcome.objects.get(name) if desired[0]["state"] == "present" else None
        results["strategy"] = _model.to_info(obj) if obj else {}
    else:
        results["strategies"] = [_model.to_info(outcome.objects[name]) for name in present if name in outcome.objects]
    if diff:
        results["diff"] = _diff(outcome, desired, single)
    return results


def _diff(outcome, desired, single):
    the_plan = outcome.plan

    def side(obj, name):
        return _model.to_info(obj, the_plan.units.get(name)) if obj else {}

    if single:
        name = desired[0]["name"]
        after = outcome.objects.get(name) if desired[0]["state"] == "present" else None
        return {"before": side(the_plan.before.get(name), name), "after": side(after, name)}
    before, after = {}, {}
    for name in list(the_plan.update) + list(the_plan.delete):
        before[name] = side(the_plan.before.get(name), name)
    for name in list(the_plan.create) + list(the_plan.update):
        after[name] = side(outcome.objects.get(name), name)
    return {"before": before, "after": after}


def _failed(outcome, desired, single):
    failures = list(outcome.failures.values())
    shown = "; ".join(_failure_text(failure) for failure in failures)
    count = len([failure for failure in failures if failure["operation"] != "reload"])
    if single:
        head = "the server refused the change"
    else:
        head = f"{count} of {len(outcome.plan.create) + len(outcome.plan.update) + len(outcome.plan.delete)} " \
               "changes were refused by the server (the others were applied; a re-run retries the rest)"
    results = strategy_results(outcome, desired, single, diff=False)
    return BatchFailed(f"{head}: {shown}", failed_strategies=failures, **results)


# --- module argument specs -----------------------------------------------------------------------------------


def strategy_module_kwargs():
    """The ``AnsibleModule`` keyword arguments of ``mta_connection_strategy``: the connection
    options plus one strategy's options (from the model) plus the batch options.

    ``strategies`` items are not given to Ansible as suboptions: the model validates them
    (``_model.normalise_item``), so that every message names the item (``strategies[3]`` and
    its name), which Ansible's own validation of list items does not."""
    spec = connection_argument_spec()
    spec.update(_model.single_argument_spec())
    spec["strategies"] = {"type": "list", "elements": "dict"}
    spec["purge"] = {"type": "bool", "default": False}
    spec["force"] = {"type": "bool", "default": False}
    spec["reload"] = {"type": "bool", "default": False}
    return {
        "argument_spec": spec,
        "required_one_of": [["name", "strategies"]],
        "mutually_exclusive": [["name", "strategies"]] + [list(pair) for pair in CONNECTION_MUTUALLY_EXCLUSIVE],
        "required_if": [["purge", True, ["strategies"]]],
        "supports_check_mode": True,
    }


def name_the_strategy(raw, message):
    """``message``, an input error of the strategy module found before any request, prefixed
    with the strategy it is about (DESIGN.md §4: which strategy, which option, what is accepted)
    when the message does not say so already: ``strategy 'bulk': ...`` in a task of one strategy
    (every option of that task is about it: a connection option too), ``strategies[2] (item 3):
    ...`` for an item of ``strategies`` that is not a dict. An error of a batch's own options
    (``purge``, a connection option) is about no single strategy and is returned as it is, as is
    one of a task that gives ``name`` and ``strategies`` both or neither. ``raw`` holds the
    parameters as the task gave them."""
    raw = raw if isinstance(raw, dict) else {}
    message = "" if message is None else str(message)
    if message.startswith(("strategy ", "strategies[")):
        return message
    strategies = raw.get("strategies")
    if strategies is not None:
        if isinstance(strategies, list):
            for position, item in enumerate(strategies):
                if not isinstance(item, dict):
                    return f"{_model.ItemContext(position).label()}: {_model.NOT_A_STRATEGY} {item!r}; {message}"
        return message
    name = raw.get("name")
    if isinstance(name, str) and name:
        return f"{_model.ItemContext(name=name).label()}: {message}"
    return message


def info_module_kwargs():
    """The ``AnsibleModule`` keyword arguments of ``mta_connection_strategy_info``."""
    spec = connection_argument_spec()
    spec["names"] = {"type": "list", "elements": "str", "aliases": ["name"]}
    return {
        "argument_spec": spec,
        "mutually_exclusive": [list(pair) for pair in CONNECTION_MUTUALLY_EXCLUSIVE],
        "supports_check_mode": True,
    }


def reload_module_kwargs():
    """The ``AnsibleModule`` keyword arguments of ``reload_settings``: the connection only."""
    return {
        "argument_spec": connection_argument_spec(),
        "mutually_exclusive": [list(pair) for pair in CONNECTION_MUTUALLY_EXCLUSIVE],
        "supports_check_mode": True,
    }


# --- module entry points -----------------------------------------------------------------------------------


def run_strategy_module(module, client_factory=None):
    """The whole of ``mta_connection_strategy``: validate (before any request), converge, exit."""
    error = None
    try:
        params = module.params
        single = params.get("strategies") is None
        try:
            desired = _model.desired_from_params(params)
            client = _client(module, client_factory)
        except InputError as bad:
            details = dict(bad.details)
            if single and params.get("name"):
                details.setdefault("strategy", params["name"])
            raise InputError(name_the_strategy(params, bad.msg), **details) from None
        outcome = converge(client, desired, purge=bool(params.get("purge")), force=bool(params.get("force")),
                           reload=bool(params.get("reload")), check_mode=module.check_mode, warn=module.warn)
        if outcome.failures:
            raise _failed(outcome, desired, single)
        results = strategy_results(outcome, desired, single, diff=module._diff)
    except StalwartError as caught:
        error = caught
    if error is not None:
        _fail(module, error)
    module.exit_json(**results)


def run_info_module(module, client_factory=None):
    """The whole of ``mta_connection_strategy_info``: read (never write), sorted by name."""
    error = None
    try:
        names = module.params.get("names")
        names = list(dict.fromkeys(str(name) for name in names)) if names else None
        client = _client(module, client_factory)
        snapshot = read(client, names=names)
        strategies = [_model.to_info(snapshot.current[name]) for name in sorted(snapshot.current)]
    except StalwartError as caught:
        error = caught
    if error is not None:
        _fail(module, error)
    module.exit_json(changed=False, strategies=strategies)


def run_reload_module(module, client_factory=None):
    """The whole of ``reload_settings``: one ``ReloadSettings`` (none in check mode)."""
    error = None
    try:
        validate_connection_params(module.params)
        if module.check_mode:
            module.exit_json(changed=True, reloaded=False)
        client = _client(module, client_factory)
        # write=False: a reload is safe to repeat, so it is retried like a read, even after a lost answer
        response = client.post([list(RELOAD_CALL)], write=False)
        args = check_method_response(response[0], ACTION_SET)
        refused = (args.get("notCreated") or {}).get("reload")
        if refused:
            raise StalwartError("the server refused to reload its settings: "
                                f"{refused.get('type', 'error')}: {refused.get('description') or ''}".rstrip(": "))
    except StalwartError as caught:
        error = caught
    if error is not None:
        _fail(module, error)
    module.exit_json(changed=True, reloaded=True)


def _fail(module, error):
    """``fail_json`` with the error's message and structured fields. No traceback: the message
    is the whole story (and ansible-core 2.19 would otherwise attach the active exception)."""
    module.fail_json(**error.fail_kwargs())


def _client(module, client_factory):
    if client_factory is not None:
        return client_factory(module)
    return client_from_module(module)
