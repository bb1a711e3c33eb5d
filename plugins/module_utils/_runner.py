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

import json

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
    shorten,
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

KINDS = ("create", "update", "delete")
SECTIONS = {"create": "create", "update": "update", "delete": "destroy"}  # operation -> /set section


class Progress:
    """What the writes of one run did so far, kept across chunks, lost answers and re-reads, so
    that a failure at any point still reports what the server applied.

    ``applied`` holds the names per operation that the server confirmed (or that a re-read after
    a lost answer found done); ``unconfirmed`` the names of the request whose answer was lost,
    until a re-read settles them; ``lost`` the first ``WriteOutcomeUnknown``; ``failures`` the
    refusals by name; ``objects`` what was read back after creates and updates."""

    def __init__(self):
        self.applied = {kind: [] for kind in KINDS}
        self.unconfirmed = []
        self.lost = None
        self.failures = {}
        self.objects = {}
        self.taken = []  # creates refused with primaryKeyViolation (another run created it first)
        self.reloaded = False
        self.reload_failure = None

    @property
    def changed(self):
        """True once the server confirmed a change, or a write's outcome became unknown: a
        module cannot know that nothing happened then, and must not say so."""
        return bool(self.lost is not None or any(self.applied.values()))

    def confirm(self, kind, name):
        if name not in self.applied[kind]:
            self.applied[kind].append(name)

    def settle(self, before, after):
        """After a re-read that followed a lost answer: what ``before`` planned and ``after`` no
        longer needs was applied (by the lost request, or by a concurrent run); the rest is
        planned again, so nothing stays unconfirmed."""
        for kind in KINDS:
            remaining = set(after.create) if kind == "create" else set(after.update) if kind == "update" \
                else set(after.delete)
            for name in (before.create if kind == "create" else before.update if kind == "update" else before.delete):
                if name not in remaining and name not in self.failures:
                    self.confirm(kind, name)
        self.unconfirmed = []

    def applied_summary(self):
        """The ``applied`` return value: the plan's shape, with what the server confirmed."""
        return {kind: list(names) for kind, names in self.applied.items()}


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


def _call_refused(name, operation, error):
    """The failure of one strategy whose whole ``/set`` call was refused (a method-level error,
    such as ``forbidden``): the server's reason, and the permission it points at."""
    failure = {"strategy": name, "operation": operation, "error_type": error.details.get("error_type") or "error",
               "description": error.details.get("description") or error.msg, "properties": [],
               "validation_errors": []}
    if error.details.get("permission"):
        failure["permission"] = error.details["permission"]
    return failure


def _operations(the_plan, durations_as_strings):
    """(kind, name, body) in the server's processing order: creates, updates, destroys."""
    operations = [("create", name, the_plan.create_body(name, durations_as_strings)) for name in the_plan.create]
    operations += [("update", name, the_plan.update_patch(name, durations_as_strings)) for name in the_plan.update]
    operations += [("delete", name, None) for name in the_plan.delete]
    return operations


# Room kept in each request for what is not the strategies' own bodies: the envelope, the call
# names and ids, the /get that follows the /set (measured: under 200 bytes; kept generous).
_REQUEST_OVERHEAD = 512


def _chunks(client, the_plan, operations):
    """The operations cut into ``/set`` chunks: at most ``maxObjectsInSet`` each (and no more
    than its follow-up ``/get`` calls can fetch within ``maxCallsInRequest``), and each small
    enough that its request stays within ``maxSizeRequest``. A single strategy too large for
    one request is refused before anything is written (``InputError``)."""
    max_set = _limit(client, "max_objects_in_set", 500)
    max_get = _limit(client, "max_objects_in_get", 500)
    max_calls = _limit(client, "max_calls_in_request", 16)
    max_size = _limit(client, "max_size_request", 10_000_000)
    count_limit = max(1, min(max_set, max_get * max(1, max_calls - 1)))
    budget = max_size - _REQUEST_OVERHEAD
    chunks, current, size = [], [], 0
    for index, (kind, name, body) in enumerate(operations):
        key = f"c{index}" if kind == "create" else the_plan.ids[name]
        # the entry in the /set plus the id in the /get that reads it back
        cost = len(json.dumps({key: body})) + len(json.dumps(key)) * 2 + 4
        if cost > budget:
            raise InputError(
                f"{_model.ItemContext(name=name).label()}: its {kind} is {cost} bytes, more than one request "
                f"may carry (the server's maxSizeRequest is {max_size} bytes); shorten its values",
                strategy=name)
        if current and (len(current) >= count_limit or size + cost > budget):
            chunks.append(current)
            current, size = [], 0
        current.append((index, kind, name, body, key))
        size += cost
    if current:
        chunks.append(current)
    return chunks


def write(client, the_plan, durations_as_strings, progress):
    """Apply ``the_plan``: ``/set`` chunks (``_chunks``), each with a ``/get`` of what it created
    and updated in the same request, packed into as few requests as the limits allow and sent in
    order. Each answer is recorded in ``progress`` as it comes, so that a failure later leaves an
    exact account. A lost answer raises ``WriteOutcomeUnknown`` (nothing is resent here), with
    the names of its request in ``progress.unconfirmed``."""
    max_get = _limit(client, "max_objects_in_get", 500)
    groups, chunk_of_call = [], {}
    for chunk_index, chunk in enumerate(_chunks(client, the_plan, _operations(the_plan, durations_as_strings))):
        arguments, fetch = {}, []
        for _index, kind, name, body, key in chunk:
            if kind == "create":
                arguments.setdefault("create", {})[key] = body
                fetch.append("#" + key)
            elif kind == "update":
                arguments.setdefault("update", {})[key] = body
                fetch.append(key)
            else:
                arguments.setdefault("destroy", []).append(key)
        call_id = f"s{chunk_index}"
        chunk_of_call[call_id] = chunk
        group = [[SET, arguments, call_id]]
        for get_index, get_start in enumerate(range(0, len(fetch), max_get)):
            group.append([GET, {"ids": fetch[get_start:get_start + max_get]}, f"g{chunk_index}.{get_index}"])
        groups.append(group)
    names_by_id = {strategy_id: name for name, strategy_id in the_plan.ids.items()}
    missing_ids, fetched = [], set()
    for batch in client.pack(groups):
        sent = [entry for call in batch if call[2] in chunk_of_call for entry in chunk_of_call[call[2]]]
        try:
            responses = client.post(batch, write=True)
        except WriteOutcomeUnknown:
            progress.unconfirmed.extend(name for _index, _kind, name, _body, _key in sent)
            raise
        for response in responses:
            if response[2] in chunk_of_call:
                _record_set(progress, chunk_of_call[response[2]], response, names_by_id, missing_ids)
        for response in responses:
            if response[2].startswith("g") and response[0] != "error":
                # an error here is a creation id whose create failed: the others are fetched by id
                for obj in check_method_response(response, GET).get("list") or ():
                    if isinstance(obj, dict) and obj.get("name") is not None:
                        progress.objects[obj["name"]] = _model.from_wire(obj)
                        fetched.add(obj.get("id"))
    still_missing = [strategy_id for strategy_id in missing_ids if strategy_id not in fetched]
    if still_missing:
        for obj in _get_by_ids(client, still_missing):
            progress.objects[obj["name"]] = _model.from_wire(obj)


def _record_set(progress, chunk, response, names_by_id, missing_ids):
    """One ``/set`` answer into ``progress``. A method-level error refuses the whole call: each
    strategy of the chunk fails with the server's reason."""
    sections = {SECTIONS[kind] for _index, kind, _name, _body, _key in chunk}
    try:
        args = check_method_response(response, SET, sections)
    except (PermissionDenied, MethodError) as refused:
        for _index, kind, name, _body, _key in chunk:
            progress.failures[name] = _call_refused(name, kind, refused)
        return
    by_key = {key: (kind, name) for _index, kind, name, _body, key in chunk}
    for key, created in (args.get("created") or {}).items():
        name = by_key.get(key, (None, key))[1]
        progress.confirm("create", name)
        progress.failures.pop(name, None)
        if isinstance(created, dict) and created.get("id"):
            missing_ids.append(created["id"])
            names_by_id[created["id"]] = name
    for key, error in (args.get("notCreated") or {}).items():
        name = by_key.get(key, (None, key))[1]
        if isinstance(error, dict) and error.get("type") == "primaryKeyViolation":
            progress.taken.append(name)
        else:
            progress.failures[name] = _set_error(name, "create", error)
    for strategy_id in (args.get("updated") or {}):
        name = names_by_id.get(strategy_id, strategy_id)
        progress.confirm("update", name)
        progress.failures.pop(name, None)
        missing_ids.append(strategy_id)
    for strategy_id, error in (args.get("notUpdated") or {}).items():
        name = names_by_id.get(strategy_id, strategy_id)
        progress.failures[name] = _set_error(name, "update", error)
    for strategy_id in args.get("destroyed") or ():
        name = names_by_id.get(strategy_id, strategy_id)
        progress.confirm("delete", name)
        progress.failures.pop(name, None)
    for strategy_id, error in (args.get("notDestroyed") or {}).items():
        name = names_by_id.get(strategy_id, strategy_id)
        if isinstance(error, dict) and error.get("type") == "notFound":
            progress.confirm("delete", name)  # already gone (another run deleted it): converged
            continue
        progress.failures[name] = _set_error(name, "delete", error)


def _send_reload(client, progress):
    """One ``ReloadSettings``, after the writes, only when something changed. A reload is safe
    to repeat, so it is retried like a read. A refusal is recorded, not raised: the changes
    stand, and the result must say so."""
    try:
        response = client.post([list(RELOAD_CALL)], write=False)
        args = check_method_response(response[0], ACTION_SET)
    except (PermissionDenied, MethodError) as error:
        progress.reload_failure = {"error_type": error.details.get("error_type") or "error",
                                   "description": error.details.get("description") or error.msg,
                                   "permission": error.details.get("permission")}
        return
    refused = (args.get("notCreated") or {}).get("reload")
    if refused:
        refused = refused if isinstance(refused, dict) else {}
        progress.reload_failure = {"error_type": refused.get("type") or "error",
                                   "description": refused.get("description"), "permission": None,
                                   "validation_errors": refused.get("validationErrors") or []}
        return
    progress.reloaded = True


# --- converging ----------------------------------------------------------------------------------------


class Outcome:
    def __init__(self, the_plan, objects, progress=None, changed=None):
        self.plan = the_plan
        self.objects = objects
        self.progress = progress or Progress()
        self.changed = self.progress.changed if changed is None else changed

    @property
    def reloaded(self):
        return self.progress.reloaded

    @property
    def failures(self):
        return self.progress.failures


class ChangesFailed(StalwartError):
    """The run failed after it had changed something (or after a write whose outcome is unknown):
    the details carry ``changed`` true, the ``plan``, ``applied`` and ``unconfirmed``."""


def converge(client, desired, purge=False, force=False, reload=False, check_mode=False, warn=None):
    """Read, plan, and (unless ``check_mode``) write; recover from lost writes (re-read, re-plan,
    write what is still missing, at most ``retries`` rounds) and from creates that a concurrent
    run made first (re-read those names, update them if needed); reload once, after the writes,
    when something changed. An error after something changed raises ``ChangesFailed``, which
    says what was applied and what is unknown."""
    warn = warn or (lambda message: None)
    names = None if purge else [item["name"] for item in desired]
    snapshot = read(client, names=names, outbound=purge)
    first_plan = _planner.plan(snapshot.current, desired, purge=purge, protected=snapshot.protected,
                               force=force, unreadable_reason=snapshot.unreadable_reason)
    for message in first_plan.warnings:
        warn(message)
    if check_mode or not first_plan.changed:
        return Outcome(first_plan, dict(first_plan.predicted), changed=first_plan.changed)

    progress = Progress()
    objects = dict(snapshot.current)
    try:
        _apply(client, first_plan, snapshot, desired, progress, purge, force, names, objects)
        if reload and progress.changed:
            _send_reload(client, progress)
    except StalwartError as error:
        if not progress.changed:
            raise
        outcome = Outcome(first_plan, _final_objects(first_plan, objects, progress), progress)
        raise ChangesFailed(_changes_failed_text(error, progress), **_failure_details(outcome, error)) from None
    return Outcome(first_plan, _final_objects(first_plan, objects, progress), progress)


def _final_objects(first_plan, objects, progress):
    result = dict(objects)
    result.update(progress.objects)
    for name in progress.applied["delete"]:
        result.pop(name, None)
    return result


def _apply(client, first_plan, snapshot, desired, progress, purge, force, names, objects):
    the_plan, rounds = first_plan, 0
    rounds_allowed = max(1, int(getattr(client, "retries", 3) or 0))
    while True:
        try:
            write(client, the_plan, snapshot.durations_as_strings, progress)
            break
        except WriteOutcomeUnknown as lost:
            if progress.lost is None:
                progress.lost = lost
            rounds += 1
            if rounds > rounds_allowed:
                raise
            client.back_off(rounds)  # the same backoff as a retry: a failing server gets a breather
            snapshot = read(client, names=names, outbound=purge)
            objects.clear()
            objects.update(snapshot.current)
            next_plan = _planner.plan(snapshot.current, desired, purge=purge, protected=snapshot.protected,
                                      force=force, unreadable_reason=snapshot.unreadable_reason)
            progress.settle(the_plan, next_plan)
            the_plan = next_plan
            if not the_plan.changed:
                break
    if progress.taken:
        taken = set(progress.taken)
        progress.taken = []
        again = read(client, names=sorted(taken))
        objects.update(again.current)
        retry_plan = _planner.plan(again.current, [item for item in desired if item["name"] in taken])
        if retry_plan.changed:
            write(client, retry_plan, again.durations_as_strings, progress)
            for name in progress.taken:
                progress.failures[name] = {"strategy": name, "operation": "create",
                                           "error_type": "primaryKeyViolation",
                                           "description": "created concurrently and then not found",
                                           "properties": ["name"], "validation_errors": []}


def _names(names):
    return ", ".join(shorten(name) for name in names)


def _changes_failed_text(error, progress):
    """The message of a failure after something changed: what was applied, what is unknown, what
    happened, and that a re-run finishes the job (it reads first)."""
    parts = []
    if progress.lost is not None and progress.unconfirmed:
        parts.append(f"a write was sent and its outcome is unknown: the server may or may not have applied it "
                     f"({progress.lost.core}; strategies: {_names(progress.unconfirmed)})")
    elif progress.lost is not None:
        parts.append(f"a write's answer was lost ({progress.lost.core})")
    applied = [f"{kind} {_names(names)}" for kind, names in progress.applied.items() if names]
    if applied:
        parts.append("the server applied: " + "; ".join(applied))
    if error is not progress.lost:
        parts.append(f"then: {error.core}")
    return ("; ".join(parts) + ". Something may have changed on the server, so changed is true; re-run the task "
            "once the server answers again: it reads the current state first and writes only what is missing")


def _failure_details(outcome, error=None):
    details = {}
    if error is not None:
        details.update({key: value for key, value in error.details.items()
                        if key in ("status", "url", "error_type", "permission", "limit")})
    details["changed"] = outcome.changed
    details["plan"] = outcome.plan.summary()
    details["applied"] = outcome.progress.applied_summary()
    if outcome.progress.unconfirmed:
        details["unconfirmed"] = list(outcome.progress.unconfirmed)
    if outcome.progress.failures:
        details["failed_strategies"] = list(outcome.progress.failures.values())
    return details


# --- results -----------------------------------------------------------------------------------------------


def _failure_text(failure):
    text = f"{shorten(failure['strategy'])}: {failure['operation']} refused by the server ({failure['error_type']})"
    if failure.get("description"):
        text += f": {failure['description']}"
    if failure.get("permission"):
        plural = "s" if " and " in failure["permission"] else ""
        text += f"; the credentials need the permission{plural} {failure['permission']}"
    if failure.get("properties"):
        text += f" [option: {', '.join(failure['properties'])}]"
    for entry in failure.get("validation_errors") or ():
        text += f" [{entry.get('type')} {entry.get('option', entry.get('property'))}"
        text += f" = {shorten(entry['value'])}]" if "value" in entry else "]"
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


RELOAD_HOW = ("reload when the credentials allow it: run stalwart.mail.reload_settings (it needs the permissions "
              "sysActionCreate and actionReloadSettings), or reload from Stalwart's web admin")


def _failed(outcome, desired, single):
    """The failure of a run in which the server refused something: what it refused and why,
    what was applied, and a reload that was refused after applied changes."""
    progress = outcome.progress
    failures = list(progress.failures.values())
    parts = []
    if failures:
        total = len(outcome.plan.create) + len(outcome.plan.update) + len(outcome.plan.delete)
        applied = sum(len(names) for names in progress.applied.values())
        if single:
            head = "the server refused the change"
        else:
            head = f"{len(failures)} of {total} changes were refused by the server"
            head += (f" ({applied} applied; a re-run retries the rest)" if applied
                     else " (nothing was applied; a re-run tries again)")
        parts.append(f"{head}: " + "; ".join(_failure_text(failure) for failure in failures))
    if progress.reload_failure:
        refused = progress.reload_failure
        text = f"({refused['error_type']})"
        if refused.get("description"):
            text += f": {refused['description']}"
        if refused.get("permission"):
            text += f"; the credentials need the permission {refused['permission']}"
        what = "the other changes were applied" if failures else "the changes were applied"
        parts.append(f"{what}, but the server refused to reload its settings {text}. The stored changes take "
                     f"effect at the next reload: {RELOAD_HOW}")
    results = strategy_results(outcome, desired, single, diff=False)
    results.update(_failure_details(outcome))
    return BatchFailed("; ".join(parts), **results)


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
                    return f"{_model.ItemContext(position).label()}: {_model.NOT_A_STRATEGY} {shorten(item)}; {message}"
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
        for item in desired:
            if item["state"] == "absent" and item["values"]:
                given = ", ".join(sorted(item["values"]))
                module.warn(f"{item['label']}: state is absent, so the value options given with it are ignored "
                            f"({given}); remove them, or set state: present")
        outcome = converge(client, desired, purge=bool(params.get("purge")), force=bool(params.get("force")),
                           reload=bool(params.get("reload")), check_mode=module.check_mode, warn=module.warn)
        if outcome.failures or outcome.progress.reload_failure:
            raise _failed(outcome, desired, single)
        results = strategy_results(outcome, desired, single, diff=module._diff)
    except StalwartError as caught:
        error = caught
    if error is not None:
        _fail(module, error)
    module.exit_json(**results)


def run_info_module(module, client_factory=None):
    """The whole of ``mta_connection_strategy_info``: read (never write), sorted by name. No
    ``names`` means every strategy; an empty list asks for none (nothing is read)."""
    error = None
    try:
        names = module.params.get("names")
        names = None if names is None else list(dict.fromkeys(str(name) for name in names))
        client = _client(module, client_factory)
        if names == []:
            strategies = []
        else:
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
