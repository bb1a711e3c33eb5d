# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The planner: what the server holds + what is desired → a plan. Pure: no HTTP, no Ansible.

For a keyed object type (``plan``): ``current`` maps keys to normalised objects
(``ObjectType.from_wire``, with ``id``), ``desired`` is a list of ``_objects.normalise_item``
results; the plan says what to create, update (which options, and the patch with only the
changed ones) and delete, the warnings to give, and predicts the resulting objects with the
server's defaults for a create. For a singleton (``plan_singleton``): which options change.
"""

from __future__ import annotations

from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError, at_most, shorten


class Plan:
    """What one run must do. ``create``/``delete`` are keys in order; ``update`` maps a key to its
    changed options (declaration order); ``creates``/``patches`` hold the normalised values to
    write; ``ids`` the server ids of the objects to update or delete; ``predicted`` the objects
    after the run; ``before`` those before it, for the diff."""

    def __init__(self, object_type):
        self.object_type = object_type
        self.create = []
        self.update = {}
        self.delete = []
        self.creates = {}
        self.patches = {}
        self.ids = {}
        self.warnings = []
        self.before = {}
        self.predicted = {}
        self.units = {}

    @property
    def changed(self):
        return bool(self.create or self.update or self.delete)

    @property
    def count(self):
        return len(self.create) + len(self.update) + len(self.delete)

    def summary(self):
        """The ``plan`` return value: ``{create: [keys], update: {key: [options]}, delete: [keys]}``."""
        return {"create": list(self.create), "update": {name: list(options) for name, options in self.update.items()},
                "delete": list(self.delete)}

    def create_body(self, name, durations_as_strings=False):
        """The wire body of a create: the key plus the values given (the rest takes the server's
        defaults)."""
        body = {self.object_type.key: name}
        body.update(self.object_type.to_wire(self.creates[name], durations_as_strings))
        return body

    def update_patch(self, name, durations_as_strings=False):
        """The wire patch of an update: only the changed properties, never the key (immutable on
        the server: an update that names it fails even with the same value)."""
        return self.object_type.to_wire(self.patches[name], durations_as_strings)


def _predict(current, values, object_type):
    obj = dict(current)
    for option, value in values.items():
        if object_type.equal(option, current.get(option), value) and isinstance(value, list):
            continue  # an unchanged list keeps the server's order
        obj[option] = list(value) if isinstance(value, list) else value
    return obj


def _check_size(object_type, item, predicted, existing=None):
    """Refuse, before anything is written, an object the server would refuse as too large. The
    server measures its compressed form, this the uncompressed one: an object the server already
    holds (``existing``) may measure more here, as a long description that compresses well does,
    and an update that does not make it larger is left to the server."""
    if object_type.max_size is None:
        return
    size = object_type.stored_size(predicted)
    if size > object_type.max_size and (existing is None or size > object_type.stored_size(existing)):
        raise InputError(
            f"{item.get('label') or shorten(item['name'])}: it would take {size} bytes on the server before compression, "
            f"and the server stores at most {object_type.max_size} bytes for one {object_type.label} (its "
            f"{object_type.key}, description and host names count in UTF-8 bytes; the server measures them compressed, "
            "so text that repeats itself may fit, which cannot be known before sending); shorten them",
            strategy=item["name"], option="description")


class Unknown:
    """Why purge cannot know which objects something on the server refers to (``protected`` is
    None): ``cause`` completes "purge deleted nothing: ...", ``remedy`` says what to do."""

    def __init__(self, cause, remedy):
        self.cause = cause
        self.remedy = remedy


def unreadable(reason=None):
    """The ``Unknown`` of an outbound strategy that could not be read (``reason``: why)."""
    return Unknown("the outbound strategy could not be read" + (f" ({reason})" if reason else "")
                   + ", so it is unknown which strategies its connection expression uses",
                   "Grant sysMtaOutboundStrategyGet, or set force: true to delete them anyway")


def computed(where, expression):
    """The ``Unknown`` of a connection expression that computes a name (``where`` in it)."""
    return Unknown(f"the outbound strategy's connection expression computes a strategy name (connection.{where}: "
                   f"{shorten(expression)}), so it may route to any strategy",
                   "List the strategies it routes to and set force: true to delete the others")


def plan(object_type, current, desired, purge=False, protected=None, force=False, unknown=None,
         keep_given=False, assumed=(), foreign=()):
    """Compare ``current`` and ``desired`` and return a ``Plan``.

    An option left out stays as on the server; equal values (in the kind's sense: a reordered
    source-IP list) are no change; a key with ``state: absent`` is deleted when present. ``purge``
    also deletes every object the list does not name, except those in ``protected`` (names
    something on the server still refers to) unless ``force``; a key set absent that
    ``protected`` names is deleted all the same, with a warning; ``protected`` None means the
    referrer could not be read or may refer to anything, and then purge deletes nothing unless
    ``force`` (``unknown``, an ``Unknown``, says why, in the warning). ``keep_given``: ``protected`` is the
    caller's own list of names to keep (``purge_keep``), which ``force`` does not override.
    ``assumed``: names purge counts as listed, which the plan leaves alone (``assume_present``:
    what an earlier task of the same run creates or updates). ``foreign``: with ``keep_given``, the
    names of ``protected`` that the server's expression names and ``purge_keep`` does not (another
    writer's), kept with a warning of their own; with ``keep_given``, an unknown ``protected``
    (None) deletes nothing, force or not.
    """
    result = Plan(object_type)
    listed = set()
    for item in desired:
        name = item["name"]
        listed.add(name)
        existing = current.get(name)
        result.units[name] = dict(item.get("units") or {})
        if item["state"] == "absent":
            if existing is not None:
                result.delete.append(name)
                result.ids[name] = existing.get("id")
                result.before[name] = existing
                if protected and name in protected and not keep_given:
                    result.warnings.append(
                        f"{item.get('label') or shorten(name)} is deleted (state: absent), though the outbound "
                        "strategy's connection expression routes to it: deliveries routed there fall back to built-in "
                        "defaults, with no source IP, until the expression stops naming it "
                        "(stalwart.mail.mta_outbound_strategy)")
            continue
        values = item["values"]
        if existing is None:
            result.create.append(name)
            result.creates[name] = dict(values)
            result.predicted[name] = _predict(object_type.defaults(name), values, object_type)
            _check_size(object_type, item, result.predicted[name])
            continue
        result.before[name] = existing
        changed = [option for option in object_type.options
                   if option in values and not object_type.equal(option, existing.get(option), values[option])]
        if changed:
            result.update[name] = changed
            result.patches[name] = {option: values[option] for option in changed}
            result.ids[name] = existing.get("id")
        result.predicted[name] = _predict(existing, {option: values[option] for option in changed}, object_type)
        if changed:
            _check_size(object_type, item, result.predicted[name], existing)
    if purge:
        _plan_purge(result, current, listed | set(assumed), protected, force, unknown or unreadable(), keep_given,
                    set(foreign))
    return result


def _plan_purge(result, current, listed, protected, force, unknown, keep_given, foreign):
    unlisted = sorted(name for name in current if name not in listed)
    if not unlisted:
        return
    if protected is None and (not force or keep_given):
        result.warnings.append(
            f"purge deleted nothing: {unknown.cause}; not listed and kept: {at_most(unlisted)}. {unknown.remedy}")
        return
    kept = [name for name in unlisted if protected and name in protected]
    if keep_given and any(name in foreign for name in kept):
        theirs = [name for name in kept if name in foreign]
        kept = [name for name in kept if name not in foreign]
        result.warnings.append(
            f"purge kept {at_most(map(shorten, theirs))}: the server's connection expression routes "
            f"to {'them' if len(theirs) > 1 else 'it'}, and it is not the one this run wrote (another host or run "
            "wrote it since, with other routes): the hosts or runs that share this server disagree")
        theirs = set(theirs)
        unlisted = [name for name in unlisted if name not in theirs]
    them = "them" if len(kept) > 1 else "it"
    listed_names = at_most(map(shorten, kept))
    kept = set(kept)  # looked up once per unlisted strategy below: thousands of each at scale
    if kept and keep_given:
        # purge_keep: the names of the connection expression that the role writes, which must
        # never name a strategy that does not exist; force is for what the server's expression names
        result.warnings.append(
            f"purge kept {listed_names}: purge_keep names {them} (the role passes the names that the connection "
            "expression it writes routes to)" + ("; force does not delete what purge_keep names" if force else ""))
    elif kept and not force:
        result.warnings.append(
            f"purge kept {listed_names}: the outbound strategy's connection expression names {them} (deleting "
            f"{them} would make deliveries fall back to built-in defaults); set force: true to delete {them} anyway")
    elif kept:
        result.warnings.append(
            f"purge with force deletes {listed_names}, which the outbound strategy's connection expression names; "
            "deliveries routed there fall back to built-in defaults")
    elif protected is None:
        result.warnings.append(f"purge with force: {unknown.cause}; the strategies it may use are deleted too")
    for name in unlisted:
        if name in kept and (keep_given or not force):
            continue
        result.delete.append(name)
        result.ids[name] = current[name].get("id")
        result.before[name] = current[name]


class SingletonPlan:
    """What one run does to a singleton: the options that change, their normalised values, the
    object before and after."""

    def __init__(self, object_type, current, values):
        self.object_type = object_type
        self.before = current
        self.update = [option for option in object_type.options
                       if option in values and not object_type.equal(option, current.get(option), values[option])]
        self.patch = {option: values[option] for option in self.update}
        self.predicted = dict(current, **self.patch)

    @property
    def changed(self):
        return bool(self.update)

    def summary(self):
        return {"update": list(self.update)}

    def wire_patch(self, durations_as_strings=False):
        return self.object_type.to_wire(self.patch, durations_as_strings)


def plan_singleton(object_type, current, values):
    """The plan of a singleton: the given options that differ from ``current``."""
    return SingletonPlan(object_type, current, values)
