# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service: reads, plans, writes, converges and recovers, for any declared object type.

- ``read``: the objects of a keyed type (all, paged; or a few by key in one request), with
  ``riders``: other reads that travel in the same request (the outbound strategy's expression for
  purge protection, the singleton itself for the outbound module).
- ``write``: a plan as ``/set`` chunks, each followed in the same request by a ``/get`` of what it
  created and updated, packed by the session's limits; every answer recorded in a ``Progress`` as
  it comes, so that a failure at any point still says what the server applied.
- ``converge``: read, plan, write; after a lost answer, read again and write only what is
  missing (never resend blindly); turn a create that a concurrent run made first into an update;
  reload once when something changed. A failure after a change raises ``ChangesFailed``, which
  carries what was applied and what is unknown (docs/reliability.md).
- ``read_singleton`` / ``update_singleton``: the same for a singleton (one ``/set`` update and a
  ``/get`` of the result in one request).

Cost (docs/performance.md): one ``GET`` of the session, one read ``POST`` (plus one per further
few thousand objects), the writes in as few ``POST``s as the limits allow, and the reload in a
``POST`` of its own after them.
"""

from __future__ import annotations

import json
import re

from ansible_collections.stalwart.mail.plugins.module_utils import _planner
from ansible_collections.stalwart.mail.plugins.module_utils._client import check_method_response
from ansible_collections.stalwart.mail.plugins.module_utils._errors import (
    InputError,
    MethodError,
    PermissionDenied,
    ProtocolError,
    StalwartError,
    WriteOutcomeUnknown,
    at_most,
    more_than_shown,
    shorten,
)
from ansible_collections.stalwart.mail.plugins.module_utils._objects import ItemContext

ACTION_SET = "x:Action/set"
RELOAD_CALL = [ACTION_SET, {"create": {"reload": {"@type": "ReloadSettings"}}}, "reload"]
# how to reload by hand: where the module's reload was refused or could not be sent
RELOAD_HOW = ("reload when the server and the credentials allow it: run stalwart.mail.reload_settings (it needs the "
              "permissions sysActionCreate and actionReloadSettings), or reload from Stalwart's web admin")
# why it matters: what is stored waits for a reload, and the next run, finding it done, sends none
UNAPPLIED = ("Settings stored since the last reload (such as this play's changes) are not applied until one "
             "succeeds, and a run that finds nothing to change sends none: " + RELOAD_HOW)
RELOAD_PERMISSION = "actionReloadSettings"  # besides sysActionCreate, which the /set itself needs
SINGLETON_ID = "singleton"
KINDS = ("create", "update", "delete")
SECTIONS = {"create": "create", "update": "update", "delete": "destroy"}  # operation -> /set section


class BatchFailed(StalwartError):
    """Some objects were refused by the server; the others were applied. The details carry
    ``failed_strategies`` and the partial results, ``plan``, ``applied`` and ``changed``."""


class ChangesFailed(StalwartError):
    """The run failed after it had changed something (or after a write whose outcome is unknown):
    the details carry ``changed`` true, the ``plan``, ``applied`` and ``unconfirmed``."""


def _ids_reference(object_type, call_id):
    return {"resultOf": call_id, "name": object_type.query, "path": "/ids"}


def _limit(client, key, default):
    value = (getattr(client, "limits", None) or {}).get(key)
    return value if isinstance(value, int) and value > 0 else default


# --- reading ----------------------------------------------------------------------------------------


class Rider:
    """A read that travels in the first request of another read (``call``), its answer kept in
    ``response`` for whoever asked for it."""

    def __init__(self, call):
        self.call = list(call)
        self.response = None


class Snapshot:
    """What one read found: ``current`` (key → normalised object), the raw wire objects and the
    duration wire form they show."""

    def __init__(self, object_type):
        self.object_type = object_type
        self.current = {}
        self.wire = []
        self.durations_as_strings = False
        # the listing changed while it was read page by page (another writer): objects that sort
        # before a page may have pushed others past the last one, unseen
        self.shifted = False

    def add(self, objects):
        key = self.object_type.key
        for obj in objects or ():
            if isinstance(obj, dict) and obj.get(key) is not None:
                self.wire.append(obj)
                self.current[obj[key]] = decoded(self.object_type, obj)


def listed(args, method):
    """The ``list`` of a ``/get`` answer's arguments: objects, or ProtocolError (a server, or
    something in front of it, that answers in another form must fail in words, not in a crash)."""
    listing = args.get("list")
    if listing is None:
        return []
    if not isinstance(listing, list) or not all(isinstance(obj, dict) for obj in listing):
        raise ProtocolError(f"the server answered {method} with a list that is not a JSON array of objects: "
                            f"{shorten(listing)}", method=method)
    return listing


def decoded(object_type, obj):
    """``object_type.from_wire(obj)``, or ProtocolError naming the object when the server's form
    of it is not one this collection reads (a key that is not a string, a list given as a number)."""
    key = obj.get(object_type.key) if object_type.key else None
    where = f" {key!r}" if isinstance(key, str) else ""
    if object_type.key and not isinstance(key, str):
        raise ProtocolError(f"the server answered {object_type.get} with an object whose {object_type.key} is not a "
                            f"string: {shorten(key)}", method=object_type.get)
    try:
        return object_type.from_wire(obj)
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        raise ProtocolError(f"the server answered {object_type.get} with the object{where} in a form this collection "
                            f"does not read ({type(error).__name__}: {error})", method=object_type.get) from None


def read(client, object_type, names=None, riders=(), wanted=None):
    """Read the objects of ``object_type`` (all, or only ``names`` when few enough to ask for each
    by key in one request), the ``riders`` in the same first request. When the listing shifts
    while it is paged (``Snapshot.shifted``), the names of ``wanted`` (``names`` by default) that
    the pages missed are read by name."""
    client.connect()
    max_get = _limit(client, "max_objects_in_get", 500)
    max_calls = _limit(client, "max_calls_in_request", 16)
    snapshot = Snapshot(object_type)
    extra = [rider.call for rider in riders]
    query, get, key = object_type.query, object_type.get, object_type.key
    if names is not None and 2 * len(names) + len(extra) <= max_calls:
        calls = _by_name_calls(object_type, names)
        responses = client.post(calls + extra) if calls or extra else []
        by_id = {item[2]: item for item in responses}
        _add_by_name(snapshot, by_id, len(names))
    else:
        sort = [{"property": key, "isAscending": True}]
        calls = [[query, {"sort": sort, "position": 0, "limit": max_get, "calculateTotal": True}, "q0"],
                 [get, {"#ids": _ids_reference(object_type, "q0")}, "g0"]]
        # one request unless maxCallsInRequest is too low for the riders: then they go on their own
        responses = client.post_many([calls, extra])
        by_id = {item[2]: item for item in responses}
        first = check_method_response(by_id.get("q0"), query)
        snapshot.add(listed(check_method_response(by_id.get("g0"), get), get))
        total, ids = first.get("total") or 0, first.get("ids") or []
        if not isinstance(total, int) or isinstance(total, bool) or not isinstance(ids, list):
            raise ProtocolError(f"the server answered {query} with a total that is not a number or ids that are "
                                f"not a list: total {shorten(total)}, ids {shorten(ids)}", method=query)
        position = len(ids)
        # a page holds at most maxObjectsInGet, or fewer where the server caps a query lower
        # (Stalwart's queryMaxResults, which the session does not show): the pages after the first
        # are as long as the first, and a page that comes back shorter moves the next round's start
        step = min(max_get, position)
        if total > position and not step:
            raise ProtocolError(f"the server answered {query} with a total of {total} and no ids", method=query)
        while total > position and not snapshot.shifted:
            starts = range(position, total, step)
            groups = [[[query, {"sort": sort, "position": start, "limit": max_get, "calculateTotal": True}, f"q{page}"],
                       [get, {"#ids": _ids_reference(object_type, f"q{page}")}, f"g{page}"]]
                      for page, start in enumerate(starts, start=1)]
            held = {}
            for response in client.post_many(groups):
                if response[2].startswith("g"):
                    snapshot.add(listed(check_method_response(response, get), get))
                    continue
                page = check_method_response(response, query)
                if page.get("total") != total:
                    snapshot.shifted = True
                held[int(response[2][1:])] = len(page.get("ids") or [])
            if snapshot.shifted:
                break  # the pages no longer line up: what is wanted is read by name below
            position = total
            for page, start in enumerate(starts, start=1):
                if held.get(page, 0) < min(step, total - start):
                    if not held.get(page):
                        raise ProtocolError(f"the server answered {query} at position {start} with no ids, "
                                            f"though its total is {total}", method=query)
                    # a shorter page: read on from where it ended (the pages after it are read again)
                    position, step = start + held[page], held[page]
                    break
        if snapshot.shifted:
            # another writer changed the listing while it was paged: what is wanted and the pages
            # did not show may exist all the same
            wanted = names if wanted is None else wanted
            read_names(client, object_type, [name for name in wanted or () if name not in snapshot.current], snapshot)
        if names is not None:
            wanted = set(names)
            snapshot.current = {name: obj for name, obj in snapshot.current.items() if name in wanted}
    for rider in riders:
        rider.response = by_id.get(rider.call[2])
    # durations are written in the form the server shows them; with nothing read to show it,
    # integer milliseconds, which both dialects take (a session resource hidden by a proxy says
    # nothing about the form: the server refuses strings)
    snapshot.durations_as_strings = bool(object_type.wire_uses_strings(snapshot.wire))
    return snapshot


def _by_name_calls(object_type, names, first=0):
    """A ``/query`` by key and the ``/get`` of its ids for each name (call ids ``q<n>``, ``g<n>``)."""
    calls = []
    for index, name in enumerate(names, start=first):
        calls.append([object_type.query, {"filter": {object_type.key: name}}, f"q{index}"])
        calls.append([object_type.get, {"#ids": _ids_reference(object_type, f"q{index}")}, f"g{index}"])
    return calls


def _add_by_name(snapshot, by_id, count, first=0):
    for index in range(first, first + count):
        # the query first: a refused query (forbidden) makes its get an invalidResultReference
        check_method_response(by_id.get(f"q{index}"), snapshot.object_type.query)
        get = snapshot.object_type.get
        snapshot.add(listed(check_method_response(by_id.get(f"g{index}"), get), get))


def read_names(client, object_type, names, snapshot=None):
    """Each of ``names`` read by its key, however many: ⌊maxCallsInRequest / 2⌋ a request. Exact
    where a paged listing is not, while others write (it shifts under them). Adds to ``snapshot``."""
    client.connect()
    snapshot = snapshot if snapshot is not None else Snapshot(object_type)
    per_post = max(1, _limit(client, "max_calls_in_request", 16) // 2)
    names = list(names)
    groups = [_by_name_calls(object_type, names[start:start + per_post], first=start)
              for start in range(0, len(names), per_post)]
    responses = client.post_many(groups) if groups else []
    _add_by_name(snapshot, {item[2]: item for item in responses}, len(names))
    return snapshot


def singleton_get(object_type, properties=None, call_id="singleton"):
    """The call that reads a singleton (by its id: a get of all ids lists only a stored one)."""
    arguments = {"ids": [SINGLETON_ID]}
    if properties:
        arguments["properties"] = list(properties)
    return [object_type.get, arguments, call_id]


def singleton_from(object_type, response):
    """The normalised singleton from the answer to ``singleton_get``; its defaults when the
    server lists nothing."""
    listing = listed(check_method_response(response, object_type.get), object_type.get)
    return decoded(object_type, listing[0] if listing else {})


def _get_by_ids(client, object_type, ids):
    """The objects with these ids (one request per ``maxObjectsInGet``, packed)."""
    max_get = _limit(client, "max_objects_in_get", 500)
    groups = [[[object_type.get, {"ids": ids[start:start + max_get]}, f"f{start}"]]
              for start in range(0, len(ids), max_get)]
    objects = []
    for response in client.post_many(groups) if groups else ():
        objects.extend(listed(check_method_response(response, object_type.get), object_type.get))
    return objects


# --- writing ----------------------------------------------------------------------------------------


class Progress:
    """What the writes of one run did so far, kept across chunks, lost answers and re-reads, so
    that a failure at any point still reports what the server applied.

    ``applied`` holds the keys per operation that the server confirmed (or that a re-read after a
    lost answer found done); ``unconfirmed`` the keys of the request whose answer was lost, until
    a re-read settles them; ``lost`` the first ``WriteOutcomeUnknown``; ``failures`` the
    refusals by key; ``objects`` what was read back after creates and updates."""

    def __init__(self):
        self.applied = {kind: [] for kind in KINDS}
        self._confirmed = {kind: set() for kind in KINDS}
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

    @property
    def applied_count(self):
        return sum(len(names) for names in self.applied.values())

    def confirm(self, kind, name):
        # a set beside each list: thousands of names are confirmed one by one
        if name not in self._confirmed[kind]:
            self._confirmed[kind].add(name)
            self.applied[kind].append(name)

    def settle(self, before, after):
        """After a re-read that followed a lost answer: what ``before`` planned and ``after`` no
        longer needs was applied (by the lost request, or by a concurrent run); the rest is
        planned again, so nothing stays unconfirmed."""
        for kind, planned, remaining in (("create", before.create, after.create),
                                         ("update", before.update, after.update),
                                         ("delete", before.delete, after.delete)):
            for name in planned:
                if name not in remaining and name not in self.failures:
                    self.confirm(kind, name)
        self.unconfirmed = []

    def applied_summary(self):
        """The ``applied`` return value: the plan's shape, with what the server confirmed."""
        return {kind: list(names) for kind, names in self.applied.items()}


def set_error(object_type, name, operation, error):
    """A SetError as a failure entry, the server's property paths turned into option names."""
    error = error if isinstance(error, dict) else {}
    properties = [object_type.option_for_wire_path(path) for path in error.get("properties") or ()]
    validation = []
    for entry in error.get("validationErrors") or ():
        if isinstance(entry, dict):
            entry = dict(entry)
            if "property" in entry:
                entry["option"] = object_type.option_for_wire_path(entry["property"])
            note = _validation_note(object_type, entry)
            if note:
                entry["note"] = note
            validation.append(entry)
    return {"strategy": name, "operation": operation, "error_type": error.get("type") or "unknown",
            "description": error.get("description"), "properties": properties, "validation_errors": validation}


_CONDITION = re.compile(r"Error parsing '(if|then|else)' expression in condition #([0-9]+)")
_OBJECT_SIZE = re.compile(r"Object size ([0-9]+) exceeds maximum of ([0-9]+)")


def _validation_note(object_type, entry):
    """What a validation error's text means in the module's terms, or None: the server numbers an
    expression's rules from 1 (``condition #3`` is ``rules[2]``); an object over its size limit is
    refused as ``Invalid id`` (the whole object counts, compressed)."""
    value = entry.get("value") if isinstance(entry.get("value"), str) else ""
    found = _CONDITION.search(value)
    if found and entry.get("option"):
        part, number = found.group(1), int(found.group(2))
        where = f"{entry['option']}.rules[{number - 1}]"
        return f"condition #{number} is {where}" + (".if" if part == "if" else f": its {part} or {part}_expr")
    found = _OBJECT_SIZE.search(value)
    if found:
        return (f"the whole {object_type.label} would take {found.group(1)} bytes on the server, stored compressed, "
                f"over its limit of {found.group(2)} bytes" + (
                    ": its four expressions count together; shorten the longest" if object_type.key is None else ""))
    return None


def call_refused(name, operation, error):
    """The failure of one object whose whole ``/set`` call was refused (a method-level error,
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


# Room kept in each request for what is not the objects' own bodies: the envelope, the call
# names and ids, the /get that follows the /set (measured: under 200 bytes; kept generous).
_REQUEST_OVERHEAD = 512


def _chunks(client, the_plan, operations):
    """The operations cut into ``/set`` chunks: at most ``maxObjectsInSet`` each (and no more
    than its follow-up ``/get`` calls can fetch within ``maxCallsInRequest``), and each small
    enough that its request stays within ``maxSizeRequest``. A single object too large for one
    request is refused before anything is written (``InputError``)."""
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
                f"{ItemContext(the_plan.object_type, name=name).label()}: its {kind} is {cost} bytes, more than one "
                f"request may carry (the server's maxSizeRequest is {max_size} bytes); shorten its values",
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
    order. Each answer is recorded in ``progress`` as it comes. A lost answer raises
    ``WriteOutcomeUnknown`` (nothing is resent here), with the keys of its request in
    ``progress.unconfirmed``."""
    object_type = the_plan.object_type
    max_get = _limit(client, "max_objects_in_get", 500)
    groups, chunk_of_call = [], {}
    for chunk_index, chunk in enumerate(_chunks(client, the_plan, _operations(the_plan, durations_as_strings))):
        arguments, fetch = {}, []
        for _index, kind, _name, body, key in chunk:
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
        group = [[object_type.set, arguments, call_id]]
        for get_index, get_start in enumerate(range(0, len(fetch), max_get)):
            group.append([object_type.get, {"ids": fetch[get_start:get_start + max_get]},
                          f"g{chunk_index}.{get_index}"])
        groups.append(group)
    names_by_id = {object_id: name for name, object_id in the_plan.ids.items()}
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
                _record_set(object_type, progress, chunk_of_call[response[2]], response, names_by_id, missing_ids)
        for response in responses:
            if response[2].startswith("g") and response[0] != "error":
                # an error here is a creation id whose create failed: the others are fetched by id
                for obj in listed(check_method_response(response, object_type.get), object_type.get):
                    if obj.get(object_type.key) is not None:
                        progress.objects[obj[object_type.key]] = decoded(object_type, obj)
                        fetched.add(obj.get("id"))
    still_missing = [object_id for object_id in missing_ids if object_id not in fetched]
    if still_missing:
        for obj in _get_by_ids(client, object_type, still_missing):
            if obj.get(object_type.key) is not None:
                progress.objects[obj[object_type.key]] = decoded(object_type, obj)


def _record_set(object_type, progress, chunk, response, names_by_id, missing_ids):
    """One ``/set`` answer into ``progress``. A method-level error refuses the whole call: each
    object of the chunk fails with the server's reason."""
    sections = {SECTIONS[kind] for _index, kind, _name, _body, _key in chunk}
    try:
        args = check_method_response(response, object_type.set, sections)
    except (PermissionDenied, MethodError) as refused:
        for _index, kind, name, _body, _key in chunk:
            progress.failures[name] = call_refused(name, kind, refused)
        return
    by_key = {key: name for _index, _kind, name, _body, key in chunk}
    for key, created in (args.get("created") or {}).items():
        name = by_key.get(key, key)
        progress.confirm("create", name)
        progress.failures.pop(name, None)
        if isinstance(created, dict) and created.get("id"):
            missing_ids.append(created["id"])
            names_by_id[created["id"]] = name
    for key, error in (args.get("notCreated") or {}).items():
        name = by_key.get(key, key)
        if isinstance(error, dict) and error.get("type") == "primaryKeyViolation":
            progress.taken.append(name)
        else:
            progress.failures[name] = set_error(object_type, name, "create", error)
    for object_id in (args.get("updated") or {}):
        name = names_by_id.get(object_id, object_id)
        progress.confirm("update", name)
        progress.failures.pop(name, None)
        missing_ids.append(object_id)
    for object_id, error in (args.get("notUpdated") or {}).items():
        name = names_by_id.get(object_id, object_id)
        progress.failures[name] = set_error(object_type, name, "update", error)
    for object_id in args.get("destroyed") or ():
        name = names_by_id.get(object_id, object_id)
        progress.confirm("delete", name)
        progress.failures.pop(name, None)
    for object_id, error in (args.get("notDestroyed") or {}).items():
        name = names_by_id.get(object_id, object_id)
        if isinstance(error, dict) and error.get("type") == "notFound":
            progress.confirm("delete", name)  # already gone (another run deleted it): converged
            continue
        progress.failures[name] = set_error(object_type, name, "delete", error)


def send_reload(client, progress):
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
    not_created = args.get("notCreated") or {}
    if "reload" in not_created:
        progress.reload_failure = reload_refusal(not_created["reload"])
        return
    progress.reloaded = True


def reload_refusal(refused):
    """What the server said when it refused a ``ReloadSettings`` in ``notCreated``: the error type
    and description; for ``forbidden``, the permission ``actionReloadSettings`` (the action's
    creation itself, ``sysActionCreate``, was allowed, or the whole method would have been
    refused); for ``validationFailed``, the object the reload stopped at (``objectId``) and the
    validation errors."""
    refused = refused if isinstance(refused, dict) else {}
    error_type = refused.get("type") or "error"
    object_id = refused.get("objectId") if isinstance(refused.get("objectId"), dict) else {}
    stopped_at = " ".join(str(object_id[key]) for key in ("object", "id") if object_id.get(key)) or None
    return {"error_type": error_type, "description": refused.get("description"),
            "permission": RELOAD_PERMISSION if error_type == "forbidden" else None,
            "object": stopped_at, "validation_errors": refused.get("validationErrors") or []}


def reload_refusal_text(refusal):
    """``(type): description; ...`` for a message about a refused reload."""
    text = f"({refusal['error_type']})"
    if refusal.get("description"):
        text += f": {refusal['description']}"
    if refusal.get("object"):
        text += f" (at the {refusal['object']} object)"
    if refusal.get("permission"):
        text += f"; the credentials need the permission {refusal['permission']}"
    return text


# --- converging ----------------------------------------------------------------------------------------


class Outcome:
    """The end of a run: the first plan, the objects after it, and the ``Progress`` of its writes."""

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


class NoProtection:
    """The purge protection of an object type that nothing refers to: nothing to read, nothing
    kept. A hook (``riders``, ``protected``) that ``converge`` asks when purging or deleting."""

    def riders(self):
        return []

    def protected(self):
        """(names purge must keep, or None when unknown; why it is unknown: a ``_planner.Unknown``)."""
        return set(), None

    # True when the names to keep were given (purge_keep), not read: force does not delete them
    given = False
    # of the names kept, those that something else refers to beside what was given (another
    # writer's), which the plan keeps with a warning of their own
    foreign = frozenset()
    # warnings of the protection itself, for the plan (set by ``protected``)
    notes = ()


def converge(client, object_type, desired, purge=False, force=False, reload=False, check_mode=False, warn=None,
             protection=None, assumed=()):
    """Read, plan, and (unless ``check_mode``) write; recover from lost writes (re-read, re-plan,
    write what is still missing, at most ``retries`` rounds per write: the writes, then the updates
    of creates that a concurrent run made first, may each have as many) and from creates that a
    concurrent run made first (re-read those, update them if needed); reload once, after the writes, when
    something changed. ``protection`` says what purge must keep; purge counts the ``assumed`` names
    as listed. An error after something
    changed raises ``ChangesFailed``, which says what was applied and what is unknown."""
    warn = warn or (lambda message: None)
    protection = protection or NoProtection()
    names = None if purge else [item["name"] for item in desired]
    # what refers to the objects matters to purge, and to a delete asked for by state: absent
    # (which goes ahead, with a warning)
    referrers = purge or any(item["state"] == "absent" for item in desired)

    def read_and_plan():
        snapshot = read(client, object_type, names=names, riders=protection.riders() if referrers else (),
                        wanted=[item["name"] for item in desired])
        protected, unknown = protection.protected() if referrers else (set(), None)
        the_plan = _planner.plan(object_type, snapshot.current, desired, purge=purge, protected=protected,
                                 force=force, unknown=unknown, keep_given=protection.given, assumed=assumed,
                                 foreign=protection.foreign)
        if purge:
            the_plan.warnings.extend(protection.notes)
        if snapshot.shifted and purge:
            the_plan.warnings.append(
                "another writer changed the strategies while they were read, page by page: purge may have missed some "
                "that are not listed; a re-run deletes them")
        return snapshot, the_plan

    snapshot, first_plan = read_and_plan()
    for message in first_plan.warnings:
        warn(message)
    if check_mode or not first_plan.changed:
        return Outcome(first_plan, dict(first_plan.predicted), changed=first_plan.changed)

    progress = Progress()
    objects = dict(snapshot.current)
    failure = None
    try:
        _apply(client, first_plan, snapshot, desired, progress, objects, read_and_plan)
    except StalwartError as error:
        if not progress.changed:
            raise
        failure = error
    if reload and progress.changed:
        # also after writes that stopped part-way: what the server confirmed must reach the running
        # server, as the next run finds it done and sends no reload (a reload is safe to repeat; one
        # the server refuses is recorded, not raised)
        try:
            send_reload(client, progress)
        except StalwartError as error:
            failure = failure or error
    outcome = Outcome(first_plan, _final_objects(objects, progress), progress)
    if failure is not None:
        text = changes_failed_text(failure, progress)
        if reload:
            text += f" {_reloaded_words(progress)}"
        raise ChangesFailed(text, **failure_details(outcome, failure)) from None
    return outcome


def _reloaded_words(progress):
    """Whether what the writes did was reloaded, in words that say what it was: confirmed by the
    server, or possibly applied by a write whose answer was lost (a reload follows both)."""
    confirmed = any(progress.applied.values())
    what = ("What the server confirmed, and what it may have applied," if confirmed and progress.unconfirmed else
            "What the server may have applied" if progress.unconfirmed else "What the server confirmed")
    return f"{what} was reloaded." if progress.reloaded else f"{what} was not reloaded. {UNAPPLIED}"


def _final_objects(objects, progress):
    result = dict(objects)
    result.update(progress.objects)
    for name in progress.applied["delete"]:
        result.pop(name, None)
    return result


def recovery_rounds(client):
    """How many rounds of "read again, write what is missing" may follow lost answers: the
    client's ``retries`` (none with ``retries: 0``)."""
    return int(getattr(client, "retries", 3) or 0)


def _apply(client, first_plan, snapshot, desired, progress, objects, read_and_plan):
    object_type = first_plan.object_type
    _write_recovering(client, first_plan, snapshot, progress, objects, read_and_plan, whole=True)
    if progress.taken:
        # creates another run made first: read those again and update them where they differ, with
        # the same recovery should that update's answer be lost
        taken = set(progress.taken)
        progress.taken = []
        wanted = [item for item in desired if item["name"] in taken]

        def read_taken_and_plan():
            # by name while few, else the paged listing: a constant number of requests however many
            # names another run created first
            again = read(client, object_type, names=sorted(taken))
            again.durations_as_strings = snapshot.durations_as_strings
            return again, _planner.plan(object_type, again.current, wanted)

        again, retry_plan = read_taken_and_plan()
        objects.update(again.current)
        if retry_plan.changed:
            _write_recovering(client, retry_plan, again, progress, objects, read_taken_and_plan, whole=False)
            for name in progress.taken:
                progress.failures[name] = {"strategy": name, "operation": "create",
                                           "error_type": "primaryKeyViolation",
                                           "description": "created concurrently and then not found",
                                           "properties": [object_type.key], "validation_errors": []}


def _write_recovering(client, the_plan, snapshot, progress, objects, read_and_plan, whole):
    """Write ``the_plan``; when a write's answer is lost, read again (``read_and_plan``), count
    what the re-read finds done as applied, and write what is still missing: at most ``retries``
    rounds. ``whole``: the re-read is the whole listing (``objects`` is replaced), not a part of it."""
    rounds, rounds_allowed = 0, recovery_rounds(client)
    while True:
        try:
            write(client, the_plan, snapshot.durations_as_strings, progress)
            return
        except WriteOutcomeUnknown as lost:
            if progress.lost is None:
                progress.lost = lost
            rounds += 1
            if rounds > rounds_allowed:
                raise
            # the same backoff as a retry: a failing server gets a breather
            client.back_off(rounds, reason=f"a write's answer was lost ({lost.core})")
            snapshot, next_plan = read_and_plan()
            if whole:
                objects.clear()
            objects.update(snapshot.current)
            progress.settle(the_plan, next_plan)
            the_plan = next_plan
            if not the_plan.changed:
                return


def _names(names):
    return at_most(map(shorten, names))


def changes_failed_text(error, progress, what="strategies"):
    """The message of a failure after something changed: what was applied, what is unknown
    (``what``: the objects ``progress.unconfirmed`` names), what happened, and that a re-run
    finishes the job (it reads first)."""
    parts = []
    if progress.lost is not None and progress.unconfirmed:
        parts.append(f"a write was sent and its outcome is unknown: the server may or may not have applied it "
                     f"({progress.lost.core}; {what}: {_names(progress.unconfirmed)}"
                     + ("; all of them in unconfirmed" if more_than_shown(progress.unconfirmed) else "") + ")")
    elif progress.lost is not None:
        parts.append(f"a write's answer was lost ({progress.lost.core})")
    applied = [f"{kind} {_names(names)}" for kind, names in progress.applied.items() if names]
    if applied:
        parts.append("the server applied: " + "; ".join(applied)
                     + (" (all of them in applied)" if any(map(more_than_shown, progress.applied.values())) else ""))
    if progress.lost is not None and error is not progress.lost and error.core == progress.lost.core:
        parts.append("then a later request failed the same way")  # the write sent again, usually
    elif error is not progress.lost:
        parts.append(f"then: {error.core}")
    return ("; ".join(parts) + ". Something may have changed on the server, so changed is true; re-run the task "
            "once the server answers again: it reads the current state first and writes only what is missing.")


def failure_details(outcome, error=None):
    """The structured fields of a failure after planned changes."""
    details = {}
    if error is not None:
        details.update({key: value for key, value in error.details.items()
                        if key in ("status", "url", "error_type", "permission", "limit")})
    details["changed"] = outcome.changed
    details["reloaded"] = outcome.reloaded
    details["plan"] = outcome.plan.summary()
    details["applied"] = outcome.progress.applied_summary()
    if outcome.progress.unconfirmed:
        details["unconfirmed"] = list(outcome.progress.unconfirmed)
    if outcome.progress.failures:
        details["failed_strategies"] = list(outcome.progress.failures.values())
    return details


# --- a singleton ---------------------------------------------------------------------------------------


def update_singleton(client, the_plan, durations_as_strings=False):
    """Write a singleton's changed options: one ``/set`` update and a ``/get`` of the stored result
    in the same request. Returns the normalised singleton as stored. A refusal raises
    ``BatchFailed`` with the server's reason mapped to the options; a lost answer raises
    ``WriteOutcomeUnknown`` (the caller reads again: an update is safe to send again only after
    it has seen what the server holds)."""
    object_type = the_plan.object_type
    calls = [[object_type.set, {"update": {SINGLETON_ID: the_plan.wire_patch(durations_as_strings)}}, "s"],
             singleton_get(object_type, call_id="g")]
    responses = {item[2]: item for item in client.post(calls, write=True)}
    args = check_method_response(responses.get("s"), object_type.set, {"update"})
    refused = (args.get("notUpdated") or {}).get(SINGLETON_ID)
    if refused is not None or SINGLETON_ID not in (args.get("updated") or {}):
        failure = set_error(object_type, object_type.label, "update", refused)
        raise BatchFailed(f"the server refused the change of the {object_type.label}: " + failure_text(failure),
                          failed_strategies=[failure], changed=False)
    return singleton_from(object_type, responses.get("g"))


def failure_text(failure):
    """One refusal in words: what, the server's error type and description, the permission it
    points at, the options it names, the validation errors."""
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
        if entry.get("note"):
            text += f" ({entry['note']})"
    return text
