# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The object model of ``x:MtaConnectionStrategy``: its fields, declared once (``FIELDS``).

Everything else is derived from that table: the argument spec of one strategy (the module's
top-level options and the items of ``strategies``), the validation and normalisation of user
input (DESIGN.md §3), the comparison form, the wire encoding for both dialects (integer
milliseconds or Stalwart's human strings, stalwart-jmap-api.md "Two dialects"), the decoding of
what the server returns, the info/return form, the server defaults a create gets, and the
mapping of the server's property paths back to module options.

Pure: no HTTP, no Ansible. Bad input raises ``InputError`` naming the strategy, the option, what
was wrong and what is accepted.
"""

from __future__ import annotations

import collections
import ipaddress
import re

from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError

# --- the field table ---------------------------------------------------------------------------


class Field:
    """One property of the strategy: option name, wire name, kind, server default and doc."""

    def __init__(self, name, wire, kind, default, doc, clearable=False):
        self.name = name
        self.wire = wire
        self.kind = kind  # text | hostname | source_ips | duration
        self.default = default
        self.doc = doc
        self.clearable = clearable


DURATION_DOC_TAIL = (
    "An integer is milliseconds; a string is C(<n><unit>) with unit V(ms), V(s), V(m), V(h) or V(d), "
    "compounds allowed (V(1h30m)), case and spaces ignored. Must be greater than 0.",
    "V(5m), V(300s), V(300000ms) and V(300000) are the same value and never cause a change.",
)

FIELDS = (
    Field("description", "description", "text", None, (
        "Free-text description of the strategy.",
        "V(\"\") clears it.",
    ), clearable=True),
    Field("ehlo_hostname", "ehloHostname", "hostname", None, (
        "Host name (or IP literal) to announce in EHLO for connections made with this strategy.",
        "Compared lower-cased and IDNA-encoded, as the server stores it.",
        "V(\"\") clears it.",
    ), clearable=True),
    Field("source_ips", "sourceIps", "source_ips", (), (
        "Local IP addresses to send from, each with an optional EHLO host name.",
        "The server picks one address at random per delivery, so the order carries no meaning: "
        "a reordered list is not a change. When a change is needed the list is written whole, "
        "in the order given.",
        "V([]) clears the list.",
    ), clearable=True),
    Field("connect_timeout", "connectTimeout", "duration", 300000,
          ("Time to wait for the TCP connection to be established.",) + DURATION_DOC_TAIL),
    Field("data_timeout", "dataTimeout", "duration", 600000,
          ("Time to wait for the answer to the DATA command and the message transfer.",) + DURATION_DOC_TAIL),
    Field("ehlo_timeout", "ehloTimeout", "duration", 300000,
          ("Time to wait for the answer to the EHLO command.",) + DURATION_DOC_TAIL),
    Field("greeting_timeout", "greetingTimeout", "duration", 300000,
          ("Time to wait for the server's SMTP greeting.",) + DURATION_DOC_TAIL),
    Field("mail_from_timeout", "mailFromTimeout", "duration", 300000,
          ("Time to wait for the answer to the MAIL FROM command.",) + DURATION_DOC_TAIL),
    Field("rcpt_to_timeout", "rcptToTimeout", "duration", 300000,
          ("Time to wait for the answer to each RCPT TO command.",) + DURATION_DOC_TAIL),
)
FIELD_BY_NAME = {field.name: field for field in FIELDS}
FIELD_BY_WIRE = {field.wire: field for field in FIELDS}
OPTION_NAMES = tuple(field.name for field in FIELDS)
DURATION_OPTIONS = tuple(field.name for field in FIELDS if field.kind == "duration")

# The items of source_ips: option -> (wire name, doc)
SOURCE_IP_FIELDS = {
    "ip": ("sourceIp", ("The local IPv4 or IPv6 address. V(0.0.0.0) is refused.",)),
    "ehlo_hostname": ("ehloHostname", ("Host name to announce in EHLO when sending from this address.",
                                       "Compared lower-cased and IDNA-encoded; V(\"\") or no value: none.")),
}
SOURCE_IP_WIRE = {wire: option for option, (wire, _doc) in SOURCE_IP_FIELDS.items()}

ITEM_KEYS_DOC = {
    "name": ("Name of the strategy: the key that identifies it (the outbound strategy refers to it by name).",
             "The name cannot change on the server: renaming is a delete of the old name plus a create "
             "of the new one."),
    "state": ("V(present): the strategy exists with the given values; V(absent): it does not exist.",),
    "id": ("Accepted and ignored, so that the output of M(stalwart.mail.mta_connection_strategy_info) "
           "can be pasted as is; the name is the key.",),
}
STATES = ("present", "absent")

# --- argument spec ------------------------------------------------------------------------------


def source_ips_suboptions():
    """The argument spec of one ``source_ips`` entry."""
    return {
        "ip": {"type": "str", "required": True, "aliases": ["source_ip"]},
        "ehlo_hostname": {"type": "str"},
    }


def value_argument_spec():
    """The argument spec of the value options (DESIGN.md §3), from ``FIELDS``."""
    spec = {}
    for field in FIELDS:
        if field.kind == "duration":
            # raw: an integer (ms) or a string ("5m"); validated by normalise_duration
            spec[field.name] = {"type": "raw"}
        elif field.kind == "source_ips":
            # entries are validated by _normalise_source_ips, not by Ansible: its messages for bad
            # list items name neither the strategy nor the position (the docs still document the
            # suboptions, from source_ips_suboptions())
            spec[field.name] = {"type": "list", "elements": "dict"}
        else:
            spec[field.name] = {"type": "str"}
    return spec


def item_argument_spec():
    """The argument spec of one strategy: an item of ``strategies`` (``name`` required)."""
    spec = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": list(STATES), "default": "present"},
        "id": {"type": "str"},
    }
    spec.update(value_argument_spec())
    return spec


def single_argument_spec():
    """The top-level options of the strategy module for one strategy (``name`` not required
    there: ``strategies`` is the alternative)."""
    spec = item_argument_spec()
    spec["name"] = {"type": "str"}
    return spec


# --- durations ----------------------------------------------------------------------------------

UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
UNIT_MS = dict(UNITS)
_DURATION_TERM = re.compile(r"(\d+)(ms|s|m|h|d)")
DURATION_ACCEPTED = ("expected an integer number of milliseconds > 0, or a string <n><unit> with unit "
                     "ms, s, m, h or d (compounds like 1h30m allowed), for example 300000, '5m', '90s', '1500ms'")
_MAX_DURATION = 2 ** 63 - 1


def normalise_duration(value):
    """A duration as integer milliseconds.

    ``int`` is milliseconds; a string is ``<n><unit>`` (``ms``, ``s``, ``m``, ``h``, ``d``) with
    compounds (``1h30m``), case and spaces ignored, or bare digits (milliseconds). Raises
    ``ValueError`` (the reason) for bools, floats, 0, negatives, fractions and unknown units.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a duration")
    if isinstance(value, int):
        milliseconds = value
    elif isinstance(value, float):
        raise ValueError(f"{value!r} is a fractional number; milliseconds must be a whole number")
    elif isinstance(value, str):
        text = re.sub(r"\s+", "", value).lower()
        if not text:
            raise ValueError("an empty string is not a duration")
        if text.startswith("-"):
            raise ValueError(f"{value!r} is negative; a duration must be > 0")
        if text.isdigit():
            milliseconds = int(text)
        else:
            position = 0
            milliseconds = 0
            for match in _DURATION_TERM.finditer(text):
                if match.start() != position:
                    break
                milliseconds += int(match.group(1)) * UNIT_MS[match.group(2)]
                position = match.end()
            if position != len(text) or position == 0:
                if "." in text or "," in text:
                    raise ValueError(f"{value!r} has a fraction; use a smaller unit (1500ms, not 1.5s)")
                raise ValueError(f"{value!r} is not a duration (unknown unit or syntax)")
    else:
        raise ValueError(f"{value!r} (a {type(value).__name__}) is not a duration")
    if milliseconds <= 0:
        raise ValueError(f"{value!r} is not > 0")
    if milliseconds > _MAX_DURATION:
        raise ValueError(f"{value!r} is too large")
    return milliseconds


def duration_unit(value):
    """The unit of a single-unit duration string (``"300s"`` → ``"s"``), else None (ints and
    compounds): the diff shows a duration in the unit the user wrote it in."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"\s+", "", value).lower()
    match = re.fullmatch(r"\d+(ms|s|m|h|d)", text)
    return match.group(1) if match else None


def render_duration(milliseconds, unit=None):
    """Milliseconds as ``<n><unit>``: in ``unit`` when exact, else the largest exact unit
    (``300000`` → ``5m``, ``90000`` → ``90s``, ``1500`` → ``1500ms``). One unit only: this is
    also the wire form of the documented dialect, whose parser takes no compounds
    (stalwart-jmap-api.md §3.4)."""
    if unit in UNIT_MS and milliseconds % UNIT_MS[unit] == 0:
        return f"{milliseconds // UNIT_MS[unit]}{unit}"
    for name, size in UNITS:
        if milliseconds % size == 0:
            return f"{milliseconds // size}{name}"
    return f"{milliseconds}ms"  # pragma: no cover - size 1 always divides


# --- IPs and host names ---------------------------------------------------------------------------

IP_ACCEPTED = "expected an IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10 (no prefix length)"
HOSTNAME_ACCEPTED = ("expected a host name with at least one dot such as mx.example.com (labels of letters, "
                     "digits, '-' or '_', 1 to 63 characters, no trailing dot; IDN allowed) or an IP literal")
_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")


def canonical_ip(value):
    """The canonical text of an IP address, as the server (Rust ``IpAddr``) prints it; raises
    ``ValueError``. IPv4-mapped IPv6 prints as ``::ffff:1.2.3.4`` (Python before 3.13 prints
    ``::ffff:102:304``, Rust does not)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    text = value.strip()
    if "%" in text or "/" in text:
        raise ValueError(f"{value!r} is not a plain IP address")
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


def _ip_literal(text):
    try:
        return canonical_ip(text)
    except ValueError:
        return None


def normalise_hostname(value):
    """A host name as the server stores it: lower-case, IDNA (punycode) labels; an IP literal in
    canonical form. Raises ``ValueError`` with the reason. ``""`` is handled by the caller."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    text = value.strip()
    literal = _ip_literal(text)
    if literal is not None:
        return literal
    if re.search(r"\s", text):
        raise ValueError(f"{value!r} contains white space")
    text = text.lower()
    if "." not in text:
        raise ValueError(f"{value!r} has no dot")
    if text.endswith("."):
        raise ValueError(f"{value!r} ends with a dot")
    labels = []
    for label in text.split("."):
        if not label:
            raise ValueError(f"{value!r} has an empty label ('..' or a leading dot)")
        if not label.isascii():
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"{value!r} has a label that is not a valid internationalised name") from None
        if not _LABEL.match(label):
            if len(label) > 63:
                raise ValueError(f"{value!r} has a label longer than 63 characters")
            raise ValueError(f"{value!r} has invalid characters (allowed: letters, digits, '-', '_')")
        if label.startswith("-") or label.endswith("-"):
            raise ValueError(f"{value!r} has a label that starts or ends with '-'")
        labels.append(label)
    result = ".".join(labels)
    if len(result) > 253:
        raise ValueError(f"{value!r} is longer than 253 characters")
    return result


def _lenient_hostname(value):
    """A host name read from the server, normalised when possible (never fails)."""
    if value is None or value == "":
        return None
    try:
        return normalise_hostname(value)
    except ValueError:
        return str(value).lower()


# --- validation of user input ----------------------------------------------------------------------


NOT_A_STRATEGY = "expected a dict (one strategy), got"


class ItemContext:
    """Where an input value sits, for messages: ``strategy 'bulk'`` or ``strategies[3] ('bulk')``,
    and the option path (``source_ips[1].ip`` or ``strategies[3].source_ips[1].ip``)."""

    def __init__(self, position=None, name=None):
        self.position = position
        self.name = name

    def label(self):
        if self.position is None:
            return f"strategy {self.name!r}" if self.name else "the strategy"
        if self.name:
            return f"strategies[{self.position}] ({self.name!r})"
        return f"strategies[{self.position}] (item {self.position + 1})"

    def path(self, option):
        return option if self.position is None else f"strategies[{self.position}].{option}"

    def error(self, option, reason, accepted=None):
        text = f"{self.label()}: {self.path(option)}: {reason}"
        if accepted:
            text += f"; {accepted}"
        return InputError(text, strategy=self.name if self.name else self.label(), option=self.path(option))


def _text(value):
    """A scalar as Ansible's ``str`` type would take it, or None when not a scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _normalise_source_ips(raw, context):
    if not isinstance(raw, (list, tuple)):
        raise context.error("source_ips", f"expected a list of dicts with keys ip and ehlo_hostname, got {raw!r}")
    entries = []
    allowed = set(SOURCE_IP_FIELDS) | {"source_ip"}
    for index, entry in enumerate(raw):
        where = f"source_ips[{index}]"
        if not isinstance(entry, dict):
            raise context.error(where, f"expected a dict with keys ip and ehlo_hostname, got {entry!r}")
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise context.error(where, f"unsupported key(s) {', '.join(unknown)}",
                                "supported keys: ip (alias source_ip), ehlo_hostname")
        ip_value = entry.get("ip")
        alias_value = entry.get("source_ip")
        if ip_value is None:
            ip_value = alias_value
        elif alias_value is not None and alias_value != ip_value:
            raise context.error(f"{where}.ip", "ip and its alias source_ip are both set, to different values",
                                "set only one of them")
        if ip_value is None or ip_value == "":
            raise context.error(f"{where}.ip", "the address is missing (required)", IP_ACCEPTED)
        text = _text(ip_value)
        try:
            ip = canonical_ip(text if text is not None else ip_value)
        except ValueError:
            raise context.error(f"{where}.ip", f"{ip_value!r} is not an IP address", IP_ACCEPTED) from None
        if ip == "0.0.0.0":
            raise context.error(f"{where}.ip", "0.0.0.0 (the unspecified address) is refused by the server",
                                IP_ACCEPTED + " other than 0.0.0.0")
        ehlo = entry.get("ehlo_hostname")
        if ehlo is not None and ehlo != "":
            text = _text(ehlo)
            try:
                ehlo = normalise_hostname(text if text is not None else ehlo)
            except ValueError as reason:
                raise context.error(f"{where}.ehlo_hostname", f"not a valid host name: {reason}",
                                    HOSTNAME_ACCEPTED) from None
        else:
            ehlo = None
        entries.append({"ip": ip, "ehlo_hostname": ehlo})
    return entries


def normalise_value(option, raw, context):
    """One value option, normalised (the comparison form); raises InputError."""
    field = FIELD_BY_NAME[option]
    if field.kind == "duration":
        try:
            return normalise_duration(raw)
        except ValueError as reason:
            raise context.error(option, str(reason), DURATION_ACCEPTED) from None
    if field.kind == "source_ips":
        return _normalise_source_ips(raw, context)
    text = _text(raw)
    if text is None:
        raise context.error(option, f"expected a string, got {raw!r}")
    if text == "":
        return None  # "" clears (sent as null)
    if field.kind == "hostname":
        try:
            return normalise_hostname(text)
        except ValueError as reason:
            raise context.error(option, f"not a valid host name: {reason}", HOSTNAME_ACCEPTED) from None
    return text


def normalise_item(raw, position=None):
    """One strategy of user input → ``{"name", "state", "values", "units", "label"}``.

    ``values`` holds only the options given (None means "not given", so left as on the
    server), normalised; ``units`` the unit of each duration given as a single-unit string.
    ``position`` is the index in ``strategies`` (None for the module's top-level options).
    """
    context = ItemContext(position)
    if not isinstance(raw, dict):
        raise context.error("", f"{NOT_A_STRATEGY} {raw!r}")
    name = raw.get("name")
    name_text = _text(name)
    context.name = name_text or None
    if position is not None:
        allowed = set(item_argument_spec())
        unknown = sorted(str(key) for key in raw if key not in allowed)
        if unknown:
            raise context.error(", ".join(unknown), f"unsupported option(s) {', '.join(unknown)}",
                                "supported options of a strategy: " + ", ".join(item_argument_spec()))
    if not name_text:
        reason = (f"expected a non-empty string, got {name!r}" if name is not None and name_text is None
                  else "the name is missing or empty; a non-empty name is required")
        raise context.error("name", reason)
    state = raw.get("state")
    state = "present" if state is None else state
    if state not in STATES:
        raise context.error("state", f"{state!r} is not a valid state", "expected one of: present, absent")
    values = {}
    units = {}
    for option in OPTION_NAMES:
        value = raw.get(option)
        if value is None:
            continue
        values[option] = normalise_value(option, value, context)
        if option in DURATION_OPTIONS:
            unit = duration_unit(value)
            if unit:
                units[option] = unit
    return {"name": context.name, "state": state, "values": values, "units": units, "label": context.label()}


def desired_from_params(params):
    """The desired strategies from the strategy module's params (one or a batch); raises
    InputError before any request."""
    strategies = params.get("strategies")
    if strategies is not None and params.get("name") is not None:
        raise InputError("name and strategies are mutually exclusive: give one strategy with name, or a batch "
                         "with strategies", option="name")
    if params.get("purge") and strategies is None:
        raise InputError("purge: requires strategies (purge deletes what the strategies list does not name)",
                         option="purge")
    if strategies is not None:
        stray = [option for option in ("id",) + OPTION_NAMES if params.get(option) is not None]
        if stray:
            raise InputError(f"{', '.join(stray)}: the value options of one strategy go with name; with strategies, "
                             "give them in each item of the list", option=stray[0])
    if strategies is None:
        if params.get("name") is None:
            raise InputError("one of name or strategies is required", option="name")
        return [normalise_item(params)]
    if not isinstance(strategies, list):
        raise InputError(f"strategies: expected a list of strategies, got {strategies!r}", option="strategies")
    items = [normalise_item(raw, position) for position, raw in enumerate(strategies)]
    seen = {}
    for position, item in enumerate(items):
        if item["name"] in seen:
            raise InputError(
                f"strategies[{position}]: name {item['name']!r} is given more than once (also at "
                f"strategies[{seen[item['name']]}]); each name must appear once (names are unique)",
                strategy=item["name"], option=f"strategies[{position}].name")
        seen[item["name"]] = position
    return items


# --- comparison --------------------------------------------------------------------------------


def source_ips_multiset(entries):
    """``source_ips`` as a multiset of (ip, ehlo_hostname): order carries no meaning (the server
    picks an address at random per delivery, stalwart-jmap-api.md §6)."""
    return collections.Counter((entry["ip"], entry.get("ehlo_hostname")) for entry in entries or ())


def values_equal(option, current, desired):
    """Whether an option's current (normalised) value equals the desired one."""
    if FIELD_BY_NAME[option].kind == "source_ips":
        return source_ips_multiset(current) == source_ips_multiset(desired)
    return current == desired


def defaults(name):
    """The normalised object a create gets from the server for what it is not given (§3.7)."""
    obj = {"name": name}
    for field in FIELDS:
        obj[field.name] = list(field.default) if field.kind == "source_ips" else field.default
    obj["id"] = None
    return obj


# --- wire encoding --------------------------------------------------------------------------------


def to_wire(values, durations_as_strings=False):
    """Normalised option values → wire properties (only those given).

    Durations are integer ms (server dialect) or a one-unit human string (documented dialect);
    clears are ``null``; ``sourceIps`` is the list-as-object ``{"0": {...}}`` in the given order
    (stalwart-jmap-api.md §3.3).
    """
    wire = {}
    for option, value in values.items():
        field = FIELD_BY_NAME[option]
        if field.kind == "duration":
            wire[field.wire] = render_duration(value) if durations_as_strings else value
        elif field.kind == "source_ips":
            listing = {}
            for index, entry in enumerate(value or ()):
                item = {"sourceIp": entry["ip"]}
                if entry.get("ehlo_hostname"):
                    item["ehloHostname"] = entry["ehlo_hostname"]
                listing[str(index)] = item
            wire[field.wire] = listing
        else:
            wire[field.wire] = value
    return wire


def _decode_duration(value, default):
    if value is None:
        return default
    try:
        return normalise_duration(value)
    except ValueError:
        return value  # unexpected: kept as the server said it, so it compares unequal


def _decode_source_ips(value):
    if isinstance(value, dict):
        try:
            ordered = [value[key] for key in sorted(value, key=int)]
        except (TypeError, ValueError):
            ordered = list(value.values())
    elif isinstance(value, list):
        ordered = value
    else:
        ordered = []
    entries = []
    for item in ordered:
        if not isinstance(item, dict):
            continue
        ip = item.get("sourceIp")
        entries.append({"ip": _ip_literal(ip) or ip, "ehlo_hostname": _lenient_hostname(item.get("ehloHostname"))})
    return entries


def from_wire(obj):
    """A strategy as the server returns it → the normalised form (with ``id``). Accepts durations
    as integer ms or human strings, ``sourceIps`` as list-as-object or array, and nulls."""
    result = {"name": obj.get("name")}
    for field in FIELDS:
        value = obj.get(field.wire)
        if field.kind == "duration":
            result[field.name] = _decode_duration(value, field.default)
        elif field.kind == "source_ips":
            result[field.name] = _decode_source_ips(value)
        elif field.kind == "hostname":
            result[field.name] = _lenient_hostname(value)
        else:
            result[field.name] = value if value != "" else None
    result["id"] = obj.get("id")
    return result


def wire_uses_strings(objects):
    """True/False when a read object shows its durations as strings/numbers, None when there was
    no duration to look at (stalwart-jmap-api.md "Two dialects")."""
    for obj in objects:
        for field in FIELDS:
            if field.kind != "duration" or not isinstance(obj, dict):
                continue
            value = obj.get(field.wire)
            if isinstance(value, str):
                return True
            if isinstance(value, int) and not isinstance(value, bool):
                return False
    return None


# --- info / return form ------------------------------------------------------------------------------


def to_info(obj, units=None):
    """The normalised object in the info module's form (the module's input form plus ``id``):
    snake_case keys, durations in the largest exact unit (or in ``units[option]`` when exact),
    ``source_ips`` as a list in the server's order."""
    units = units or {}
    info = {"name": obj.get("name")}
    for field in FIELDS:
        value = obj.get(field.name)
        if field.kind == "duration":
            info[field.name] = render_duration(value, units.get(field.name)) if isinstance(value, int) else value
        elif field.kind == "source_ips":
            info[field.name] = [{"ip": entry["ip"], "ehlo_hostname": entry.get("ehlo_hostname")}
                                for entry in value or ()]
        else:
            info[field.name] = value
    info["id"] = obj.get("id")
    return info


# --- server paths back to options ---------------------------------------------------------------------


def option_for_wire_path(path):
    """A SetError property path → the module option (``connectTimeout`` → ``connect_timeout``,
    ``sourceIps/sourceIp`` → ``source_ips[].ip``, ``sourceIps/0/ehloHostname`` →
    ``source_ips[0].ehlo_hostname``); ``sourceIp`` alone (a validation error names only the
    property) → ``source_ips[].ip``. Unknown paths are returned unchanged."""
    if not isinstance(path, str):
        return str(path)
    if path in SOURCE_IP_WIRE and path not in FIELD_BY_WIRE:
        return f"source_ips[].{SOURCE_IP_WIRE[path]}"
    parts = path.split("/")
    field = FIELD_BY_WIRE.get(parts[0])
    if field is None:
        return "name" if parts[0] == "name" else path
    if len(parts) == 1:
        return field.name
    if field.kind == "source_ips":
        index = parts[1] if parts[1].isdigit() else ""
        rest = parts[2:] if parts[1].isdigit() else parts[1:]
        option = f"source_ips[{index}]"
        if rest:
            option += "." + SOURCE_IP_WIRE.get(rest[0], rest[0])
        return option
    return field.name


# --- documentation --------------------------------------------------------------------------------


def _option_doc(spec, description):
    doc = {"description": list(description)}
    for key in ("type", "elements", "required", "default", "choices", "aliases"):
        if key in spec:
            doc[key] = spec[key]
    return doc


def value_option_docs():
    """The documentation of the value options (the doc fragment ``stalwart.mail.strategy_options``
    must equal this; a unit test holds them together)."""
    docs = {}
    for option, spec in value_argument_spec().items():
        doc = _option_doc(spec, FIELD_BY_NAME[option].doc)
        if FIELD_BY_NAME[option].kind == "source_ips":
            doc["suboptions"] = {name: _option_doc(sub, SOURCE_IP_FIELDS[name][1])
                                 for name, sub in source_ips_suboptions().items()}
        docs[option] = doc
    return docs


def item_option_docs():
    """The documentation of the suboptions of ``strategies`` (one strategy)."""
    docs = {}
    for option, spec in item_argument_spec().items():
        if option in ITEM_KEYS_DOC:
            docs[option] = _option_doc(spec, ITEM_KEYS_DOC[option])
    docs.update(value_option_docs())
    return docs
