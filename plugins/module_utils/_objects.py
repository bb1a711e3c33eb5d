# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Stalwart objects the collection manages, each declared once.

A declaration (``ObjectType``) says what the engine needs to know of an object: its JMAP name, how
one is identified (a ``key`` property such as ``name``, or ``singleton``), its fields (option name,
wire name, value kind from ``_values``, the server's default) and a few facts of the server (the
largest object it stores). Everything else derives from it: the argument spec of the options,
the normalisation of user input, the wire encoding in both dialects, the decoding of what the
server returns, the modules' output form and the mapping of the server's property paths back to
options. Prose lives in the doc fragments, once; a unit test holds them to these declarations.

Pure: no HTTP, no Ansible. Adding a field is one ``Field`` line (and its doc line); adding a
name-keyed object type is one ``ObjectType`` (docs/architecture.md shows both).
"""

from __future__ import annotations

from ansible_collections.stalwart.mail.plugins.module_utils import _values
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError, shorten

STATES = ("present", "absent")


class Field:
    """One property: the option name, the wire name, the value kind and the server's default."""

    def __init__(self, name, wire, kind, default=None):
        self.name = name
        self.wire = wire
        self.kind = kind
        self.default = default


class ObjectType:
    """One kind of Stalwart object (``x:<name>`` in JMAP).

    ``key``: the property that names an object (the natural key; immutable on the server), or
    None for a ``singleton`` (one object, id ``singleton``). ``label``: how messages call one
    (``strategy``). ``max_size``: the largest object, in stored bytes, the server accepts (None:
    no check). ``permission``: the prefix of its permissions (``sys<name>Get`` ...).
    """

    def __init__(self, name, fields, key=None, label="object", max_size=None, collection_option=None):
        self.name = name
        self.fields = tuple(fields)
        self.key = key
        self.label = label
        self.max_size = max_size
        self.collection_option = collection_option  # the batch option of its module ("strategies")
        self.get, self.set, self.query = (f"x:{name}/get", f"x:{name}/set", f"x:{name}/query")
        self.permission = f"sys{name}"
        self.field_by_name = {field.name: field for field in self.fields}
        self.field_by_wire = {field.wire: field for field in self.fields}
        self.options = tuple(field.name for field in self.fields)

    # --- argument spec ----------------------------------------------------------------------

    def value_spec(self):
        """The argument spec of the value options."""
        return {field.name: field.kind.spec() for field in self.fields}

    def item_spec(self):
        """The argument spec of one object of a batch (``key`` required, ``state``, ``id``)."""
        spec = {self.key: {"type": "str", "required": True},
                "state": {"type": "str", "choices": list(STATES), "default": "present"},
                "id": {"type": "str"}}
        spec.update(self.value_spec())
        return spec

    # --- values -------------------------------------------------------------------------------

    def normalise_values(self, raw, context):
        """The value options given in ``raw`` (None: not given, left as on the server), normalised,
        and the unit each duration was written in (to show it back so)."""
        values, units = {}, {}
        for field in self.fields:
            value = raw.get(field.name)
            if value is None:
                continue
            values[field.name] = field.kind.normalise(value, context, field.name)
            unit = field.kind.unit(value)
            if unit:
                units[field.name] = unit
        return values, units

    def equal(self, option, current, desired):
        return self.field_by_name[option].kind.equal(current, desired)

    def defaults(self, key_value=None):
        """The normalised object the server makes of a create that gives nothing but the key."""
        obj = {self.key: key_value} if self.key else {}
        for field in self.fields:
            obj[field.name] = list(field.default) if isinstance(field.default, (list, tuple)) else field.default
        obj["id"] = None
        return obj

    def stored_size(self, obj):
        """The bytes the server stores for ``obj`` (its pickle, before compression: a version
        byte, the key, then each field; docs/stalwart-api.md, "Object size")."""
        size = 1 + (_values.text_size(obj[self.key]) if self.key else 0)
        return size + sum(field.kind.size(obj.get(field.name)) for field in self.fields)

    # --- wire -----------------------------------------------------------------------------------

    def to_wire(self, values, durations_as_strings=False):
        """Normalised values (only those given) → wire properties; ``durations_as_strings``: durations in the
        documented dialect's form."""
        return {self.field_by_name[option].wire: self.field_by_name[option].kind.to_wire(value, durations_as_strings)
                for option, value in values.items()}

    def from_wire(self, obj):
        """An object as the server returns it → the normalised form (with ``id``)."""
        result = {self.key: obj.get(self.key)} if self.key else {}
        for field in self.fields:
            result[field.name] = field.kind.from_wire(obj.get(field.wire), field.default)
        result["id"] = obj.get("id")
        return result

    def wire_uses_strings(self, objects):
        """True/False when a read object shows its durations as strings/numbers, None when there
        was none to look at (the documented dialect writes ``"5m"``, the server ``300000``)."""
        for obj in objects:
            for field in self.fields:
                if field.kind is not _values.DURATION or not isinstance(obj, dict):
                    continue
                value = obj.get(field.wire)
                if isinstance(value, str):
                    return True
                if isinstance(value, int) and not isinstance(value, bool):
                    return False
        return None

    def to_info(self, obj, units=None):
        """The normalised object in the modules' input form (snake_case, durations in their
        largest exact unit or the unit the user wrote, lists as lists) plus ``id``."""
        units = units or {}
        info = {self.key: obj.get(self.key)} if self.key else {}
        for field in self.fields:
            info[field.name] = field.kind.to_info(obj.get(field.name), units.get(field.name))
        if self.key:
            info["id"] = obj.get("id")
        return info

    def option_for_wire_path(self, path):
        """A SetError property path → the module option (``connectTimeout`` → ``connect_timeout``,
        ``sourceIps/0/ehloHostname`` → ``source_ips[0].ehlo_hostname``; ``sourceIp`` alone, as a
        validation error names it, → ``source_ips[].ip``). Unknown paths are returned as they are."""
        if not isinstance(path, str):
            return str(path)
        if path in _values.SOURCE_IP_WIRE and path not in self.field_by_wire:
            for field in self.fields:
                if field.kind is _values.SOURCE_IPS:
                    return f"{field.name}[].{_values.SOURCE_IP_WIRE[path]}"
        parts = path.split("/")
        field = self.field_by_wire.get(parts[0])
        if field is None:
            return parts[0] if parts[0] == self.key else path
        if len(parts) > 1 and field.kind is _values.SOURCE_IPS:
            return field.kind.option_for_path(field.name, parts[1:])
        return field.name


# --- the declarations --------------------------------------------------------------------------------

# x:MtaConnectionStrategy: how outbound SMTP connections are made (docs/stalwart-api.md,
# "MtaConnectionStrategy"); the server stores at most 200,000 bytes for one object.
CONNECTION_STRATEGY = ObjectType(
    "MtaConnectionStrategy", key="name", label="strategy", max_size=200_000, collection_option="strategies",
    fields=(
        Field("description", "description", _values.TEXT),
        Field("ehlo_hostname", "ehloHostname", _values.HOSTNAME),
        Field("source_ips", "sourceIps", _values.SOURCE_IPS, default=()),
        Field("connect_timeout", "connectTimeout", _values.DURATION, default=300_000),
        Field("data_timeout", "dataTimeout", _values.DURATION, default=600_000),
        Field("ehlo_timeout", "ehloTimeout", _values.DURATION, default=300_000),
        Field("greeting_timeout", "greetingTimeout", _values.DURATION, default=300_000),
        Field("mail_from_timeout", "mailFromTimeout", _values.DURATION, default=300_000),
        Field("rcpt_to_timeout", "rcptToTimeout", _values.DURATION, default=300_000),
    ),
)

# x:MtaOutboundStrategy: the singleton whose expressions route each delivery (docs/stalwart-api.md,
# "MtaOutboundStrategy"); the defaults are the server's, as it answers a get before any write.
OUTBOUND_STRATEGY = ObjectType("MtaOutboundStrategy", label="outbound strategy", fields=(
    Field("connection", "connection", _values.EXPRESSION, default={"rules": [], "else": "'default'"}),
    Field("route", "route", _values.EXPRESSION,
          default={"rules": [("is_local_domain(rcpt_domain)", "'local'")], "else": "'mx'"}),
    Field("schedule", "schedule", _values.EXPRESSION,
          default={"rules": [("is_local_domain(rcpt_domain)", "'local'"), ("source == 'dsn'", "'dsn'"),
                             ("source == 'report'", "'report'")], "else": "'remote'"}),
    Field("tls", "tls", _values.EXPRESSION,
          default={"rules": [("retry_num > 0 && last_error == 'tls'", "'invalid-tls'")], "else": "'default'"}),
))


# --- user input: where a value sits, and one object of a batch ----------------------------------------


class ItemContext:
    """Where an input value sits, for messages: ``strategy 'bulk'`` or ``strategies[3] ('bulk')``,
    and the option path (``source_ips[1].ip`` or ``strategies[3].source_ips[1].ip``)."""

    def __init__(self, object_type, position=None, name=None):
        self.object_type = object_type
        self.position = position
        self.name = name
        # what the module warns about a value it accepts (a host name DNS cannot carry)
        self.warnings = []

    def label(self):
        label, batch = self.object_type.label, self.object_type.collection_option
        if self.position is None:
            return f"{label} {shorten(self.name)}" if self.name else f"the {label}"
        if self.name:
            return f"{batch}[{self.position}] ({shorten(self.name)})"
        return f"{batch}[{self.position}] (item {self.position + 1})"

    def path(self, option):
        """The option's path; without an option, the item itself (``strategies[3]``), or none in
        a task of one object."""
        if self.position is None:
            return option or None
        item = f"{self.object_type.collection_option}[{self.position}]"
        return f"{item}.{option}" if option else item

    def error(self, option, reason, accepted=None):
        text = f"{self.label()}: {self.path(option)}: {reason}" if option else f"{self.label()}: {reason}"
        if accepted:
            text += f"; {accepted}"
        return InputError(text, strategy=self.name if self.name else self.label(), option=self.path(option))

    def warn(self, option, reason):
        self.warnings.append(f"{self.label()}: {self.path(option)}: {reason}")


def not_an_item(object_type):
    return f"expected a dict (one {object_type.label}), got"


def normalise_item(object_type, raw, position=None):
    """One object of user input → ``{"name", "state", "values", "units", "label", "warnings"}``
    (``name`` is the key's value; ``warnings``, what the module warns about values it accepts).
    ``values`` holds only the options given, normalised. ``position`` is the index in the batch
    (None for a module's own options)."""
    context = ItemContext(object_type, position)
    if not isinstance(raw, dict):
        raise context.error("", f"{not_an_item(object_type)} {shorten(raw)}")
    key = object_type.key
    name = raw.get(key)
    name_text = _values.as_text(name)
    context.name = name_text or None
    if position is not None:
        allowed = set(object_type.item_spec())
        unknown = sorted(str(option) for option in raw if option not in allowed)
        if unknown:
            raise context.error(", ".join(unknown), f"unsupported option(s) {', '.join(unknown)}",
                                f"supported options of a {object_type.label}: " + ", ".join(object_type.item_spec()))
    if not name_text:
        if isinstance(name, bool):
            reason = f"expected a string, got the boolean {str(name).lower()} ({_values.YAML_BOOLEAN}): quote it"
        elif name is not None and name_text is None:
            reason = f"expected a non-empty string, got {shorten(name)}"
        else:
            reason = f"the {key} is missing or empty; a non-empty {key} is required"
        raise context.error(key, reason)
    state = raw.get("state")
    state = "present" if state is None else state
    if state not in STATES:
        raise context.error("state", f"{shorten(state)} is not a valid state", "expected one of: present, absent")
    values, units = object_type.normalise_values(raw, context)
    return {"name": context.name, "state": state, "values": values, "units": units, "label": context.label(),
            "warnings": context.warnings}


def desired_from_params(object_type, params):
    """The desired objects from a keyed module's params (one, or a batch in its collection
    option); raises InputError before any request."""
    batch_option, key = object_type.collection_option, object_type.key
    items = params.get(batch_option)
    if items is not None and params.get(key) is not None:
        raise InputError(f"{key} and {batch_option} are mutually exclusive: give one {object_type.label} with {key}, "
                         f"or a batch with {batch_option}", option=key)
    if params.get("purge") and items is None:
        raise InputError(f"purge: requires {batch_option} (purge deletes what the {batch_option} list does not name)",
                         option="purge")
    if items is not None:
        stray = [option for option in ("id",) + object_type.options if params.get(option) is not None]
        # state has a default (present): only absent shows that it was given, and it would be lost
        stray += ["state"] if params.get("state") == "absent" else []
        if stray:
            raise InputError(f"{', '.join(stray)}: the value options of one {object_type.label} go with {key}; with "
                             f"{batch_option}, give them in each item of the list", option=stray[0])
    else:
        # the options of a batch's purge mean nothing to one object: refused, not ignored
        batch_only = [option for option in ("force", "purge_keep", "assume_present")
                      if params.get(option) not in (None, False, [])]
        if batch_only:
            raise InputError(f"{', '.join(batch_only)}: only with {batch_option} and purge (they say what purge keeps "
                             f"or deletes); one {object_type.label} given with {key} takes no such option",
                             option=batch_only[0])
    if items is None:
        if params.get(key) is None:
            raise InputError(f"one of {key} or {batch_option} is required", option=key)
        return [normalise_item(object_type, params)]
    if not isinstance(items, list):
        raise InputError(f"{batch_option}: expected a list, got {shorten(items)}", option=batch_option)
    desired = [normalise_item(object_type, raw, position) for position, raw in enumerate(items)]
    seen = {}
    for position, item in enumerate(desired):
        if item["name"] in seen:
            raise InputError(
                f"{batch_option}[{position}]: {key} {shorten(item['name'])} is given more than once (also at "
                f"{batch_option}[{seen[item['name']]}]); each {key} must appear once ({key}s are unique)",
                strategy=item["name"], option=f"{batch_option}[{position}].{key}")
        seen[item["name"]] = position
    return desired
