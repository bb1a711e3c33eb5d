# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The planner: current state + desired strategies → a plan. Pure: no HTTP, no Ansible.

``current`` maps names to normalised objects (``_model.from_wire``, with ``id``); ``desired`` is
the list of ``_model.normalise_item`` results. The plan says what to create, update (which
options, and the patch with only the changed properties) and delete, which warnings to give,
and predicts the resulting objects (the server defaults for a create, DESIGN.md §4).
"""

from __future__ import annotations

import re

from ansible_collections.stalwart.mail.plugins.module_utils import _model
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError, shorten

# a string literal of Stalwart's expression language, in single or double quotes
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
# the outbound strategy's connection expression when none is stored (stalwart-jmap-api.md §2)
DEFAULT_CONNECTION = {"match": {}, "else": "'default'"}


class Plan:
    """What one run must do. ``create``/``delete`` are names in order; ``update`` maps a name to
    its changed options (field-table order); ``creates``/``patches`` hold the normalised values to
    write; ``ids`` the server ids of the strategies to update or delete."""

    def __init__(self):
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

    def summary(self):
        """The ``plan`` return value: ``{create: [names], update: {name: [options]}, delete: [names]}``."""
        return {"create": list(self.create), "update": {name: list(options) for name, options in self.update.items()},
                "delete": list(self.delete)}

    def create_body(self, name, durations_as_strings=False):
        """The wire body of a create: ``name`` plus the values given (the rest takes the server
        defaults)."""
        body = {"name": name}
        body.update(_model.to_wire(self.creates[name], durations_as_strings))
        return body

    def update_patch(self, name, durations_as_strings=False):
        """The wire patch of an update: only the changed top-level properties, never ``name``
        (immutable, stalwart-jmap-api.md §3.2); ``sourceIps`` whole."""
        return _model.to_wire(self.patches[name], durations_as_strings)


def protected_names(connection):
    """The strategy names the outbound strategy's ``connection`` expression can evaluate to: the
    string literals (single- or double-quoted) of its ``then``/``else`` values (``if`` conditions
    are not names). Accepts the expression object, a list of branches or a plain string."""
    names = set()
    if isinstance(connection, str):
        for literal in _QUOTED.finditer(connection):
            quote, text = ("'", literal.group(1)) if literal.group(1) is not None else ('"', literal.group(2))
            names.add(text.replace("\\" + quote, quote))
    elif isinstance(connection, dict):
        for key, value in connection.items():
            if key in ("then", "else"):
                names |= protected_names(value)
            elif key == "match":
                branches = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
                for branch in branches:
                    names |= protected_names(branch)
    elif isinstance(connection, list):
        for item in connection:
            names |= protected_names(item)
    return names


def _predict(current, values):
    obj = dict(current)
    for option, value in values.items():
        if option == "source_ips" and _model.values_equal(option, current.get(option), value):
            continue  # unchanged: the server keeps its order
        obj[option] = list(value) if isinstance(value, list) else value
    return obj


def plan(current, desired, purge=False, protected=None, force=False, unreadable_reason=None):
    """Compare ``current`` and ``desired`` and return a ``Plan``.

    An option left out stays as on the server; a reordered ``source_ips`` is no change; a name
    with ``state: absent`` is deleted when present. ``purge`` also deletes every strategy the
    list does not name, except those in ``protected`` (names the outbound strategy uses) unless
    ``force``; ``protected`` None means the outbound strategy could not be read, and then purge
    deletes nothing unless ``force`` (``unreadable_reason`` says why, in the warning).
    """
    result = Plan()
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
            continue
        values = item["values"]
        if existing is None:
            result.create.append(name)
            result.creates[name] = dict(values)
            result.predicted[name] = _predict(_model.defaults(name), values)
            _check_size(item, result.predicted[name])
            continue
        result.before[name] = existing
        changed = [option for option in _model.OPTION_NAMES
                   if option in values and not _model.values_equal(option, existing.get(option), values[option])]
        if changed:
            result.update[name] = changed
            result.patches[name] = {option: values[option] for option in changed}
            result.ids[name] = existing.get("id")
        result.predicted[name] = _predict(existing, {option: values[option] for option in changed})
        if changed:
            _check_size(item, result.predicted[name])
    if purge:
        _plan_purge(result, current, listed, protected, force, unreadable_reason)
    return result


def _check_size(item, predicted):
    """Refuse, before anything is written, a strategy that the server would refuse as too large
    (``_model.stored_size``), naming it and what counts."""
    size = _model.stored_size(predicted)
    if size > _model.MAX_OBJECT_SIZE:
        raise InputError(
            f"{item.get('label') or shorten(item['name'])}: it would take {size} bytes on the server, which stores at "
            f"most {_model.MAX_OBJECT_SIZE} bytes for one strategy (its name, description and host names count "
            "in UTF-8 bytes); shorten them", strategy=item["name"], option="description")


def _plan_purge(result, current, listed, protected, force, unreadable_reason):
    unlisted = sorted(name for name in current if name not in listed)
    if not unlisted:
        return
    if protected is None and not force:
        reason = f" ({unreadable_reason})" if unreadable_reason else ""
        result.warnings.append(
            f"purge deleted nothing: the outbound strategy could not be read{reason}, so it is unknown which "
            f"strategies its connection expression uses; not listed and kept: {', '.join(unlisted)}. Grant "
            "sysMtaOutboundStrategyGet, or set force: true to delete them anyway")
        return
    kept = [name for name in unlisted if protected and name in protected]
    if kept and not force:
        result.warnings.append(
            f"purge kept {', '.join(shorten(name) for name in kept)}: the outbound strategy's connection expression "
            "names them (deleting them would make deliveries fall back to built-in defaults); set force: true "
            "to delete them anyway")
    elif kept:
        result.warnings.append(
            f"purge with force deletes {', '.join(shorten(name) for name in kept)}, which the outbound strategy's "
            "connection expression names; deliveries routed there fall back to built-in defaults")
    elif protected is None:
        result.warnings.append(
            "purge with force: the outbound strategy could not be read"
            + (f" ({unreadable_reason})" if unreadable_reason else "")
            + "; strategies it may use are deleted too")
    for name in unlisted:
        if name in kept and not force:
            continue
        result.delete.append(name)
        result.ids[name] = current[name].get("id")
        result.before[name] = current[name]
