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

from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError, shorten
from ansible_collections.stalwart.mail.plugins.module_utils._tlds import PUBLIC_SUFFIX_TLDS, RESERVED_TLDS

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
        "Free-text description of the strategy: a string (a number is taken as its text; a list or a "
        "dictionary is refused).",
        "V(\"\") clears it.",
    ), clearable=True),
    Field("ehlo_hostname", "ehloHostname", "hostname", None, (
        "Host name (or IP literal) to announce in EHLO for connections made with this strategy: a string.",
        "Compared as the server stores it: white space removed, lower-cased, internationalised names as "
        "A-labels (UTS 46, so V(straße.example) is V(xn--strae-oqa.example), not V(strasse.example)).",
        "The top-level domain must be in the Public Suffix List (or be V(test), V(localhost), V(local), "
        "V(internal), V(lan), V(home), V(corp), V(intranet), V(private) or V(localdomain)), as the server "
        "requires.",
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
                                       "Checked and compared like O(ehlo_hostname); V(\"\") or no value: none.")),
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
            # raw, not str: Ansible's str would turn a list or a dict into its Python repr
            # ("['x', 'y']") and store that; _text refuses them, naming the strategy
            spec[field.name] = {"type": "raw"}
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
_MAX_DURATION = 2 ** 64 - 1  # the server's: a u64 of milliseconds


def normalise_duration(value):
    """A duration as integer milliseconds.

    ``int`` is milliseconds; a string is ``<n><unit>`` (``ms``, ``s``, ``m``, ``h``, ``d``) with
    compounds (``1h30m``), case and spaces ignored, or bare digits (milliseconds). Raises
    ``ValueError`` (the reason) for bools, floats, 0, negatives, fractions and unknown units.
    """
    if isinstance(value, bool):
        raise ValueError(f"{shorten(value)} is a boolean, not a duration")
    if isinstance(value, int):
        milliseconds = value
    elif isinstance(value, float):
        raise ValueError(f"{shorten(value)} is a fractional number; milliseconds must be a whole number")
    elif isinstance(value, str):
        text = re.sub(r"\s+", "", value).lower()
        if not text:
            raise ValueError("an empty string is not a duration")
        if text.startswith("-"):
            raise ValueError(f"{shorten(value)} is negative; a duration must be > 0")
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
                    raise ValueError(f"{shorten(value)} has a fraction; use a smaller unit (1500ms, not 1.5s)")
                raise ValueError(f"{shorten(value)} is not a duration (unknown unit or syntax)")
    else:
        raise ValueError(f"{shorten(value)} (a {type(value).__name__}) is not a duration")
    if milliseconds <= 0:
        raise ValueError(f"{shorten(value)} is not > 0")
    if milliseconds > _MAX_DURATION:
        raise ValueError(f"{shorten(value)} is more than the server takes ({_MAX_DURATION} ms)")
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

IP_ACCEPTED = "expected an IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10 (no prefix length, no spaces)"
HOSTNAME_ACCEPTED = ("expected a host name with at least one dot and a known top-level domain such as "
                     "mx.example.com (labels of letters, digits, '-' or '_', 1 to 63 characters, not starting or "
                     "ending with '-', no trailing dot; IDN allowed) or an IP literal")
_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")
# Unicode White_Space: what the server strips from a host name (Rust's char::is_whitespace)
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                        + "".join(chr(code) for code in range(0x2000, 0x200B)))


def canonical_ip(value):
    """The canonical text of an IP address, as the server (Rust ``IpAddr``) prints it; raises
    ``ValueError``. Like the server's parser, it takes the text exactly as given (no surrounding
    spaces, no IPv6 zone). IPv4-mapped IPv6 prints as ``::ffff:1.2.3.4`` (Python before 3.13
    prints ``::ffff:102:304``, Rust does not)."""
    if not isinstance(value, str):
        raise ValueError(f"{shorten(value)} is not a string")
    if "%" in value or "/" in value or value != value.strip():
        raise ValueError(f"{shorten(value)} is not a plain IP address")
    address = ipaddress.ip_address(value)
    if address.version == 6 and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


def _ip_literal(text):
    try:
        return canonical_ip(text)
    except ValueError:
        return None


def idna_encode(text):
    """``text`` (lower-case, not ASCII) as A-labels the way the server converts it: UTS 46,
    non-transitional (``straße`` stays ``xn--strae-oqa``, where IDNA 2003 would give ``strasse``,
    another domain; likewise final sigma, ZWJ and ZWNJ). The ``idna`` library (a dependency of
    ``requests``) is stricter than the server's Rust ``idna`` crate in a few places (IDNA 2008
    symbol rules, hyphens): such names are refused here, never stored differently. Raises
    ``ValueError``."""
    try:
        import idna
    except ImportError:  # pragma: no cover - requests depends on idna
        raise ValueError("internationalised names need the Python library idna (installed with requests)") from None
    try:
        return idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as error:
        raise ValueError(f"{shorten(text)} is not a valid internationalised name ({error})") from None


def normalise_hostname(value):
    """A host name as the server stores it (docs/stalwart-api.md, "Host names"), or ``ValueError``
    with the reason. Follows the server's own steps, so that what is accepted here is stored
    as predicted and what the server refuses is refused here first:

    - a value that parses as an IP address as it is is an IP literal (canonical form here);
    - otherwise white space anywhere is removed, a ``.`` must follow a letter, digit, ``-`` or
      ``_``, there must be a dot and no trailing dot; lower-cased letter by letter; a name that
      is not ASCII is converted to A-labels with UTS 46 (``idna_encode``);
    - the top-level domain must be a Public Suffix List TLD or a reserved one (``_tlds``).

    On top of the server's rules, a label must be letters, digits, ``-`` and ``_``, 1 to 63
    characters, without a leading or trailing ``-``, and the name at most 253 characters: the
    server would store names that DNS cannot carry. ``""`` is handled by the caller."""
    if not isinstance(value, str):
        raise ValueError(f"{shorten(value)} is not a string")
    literal = _ip_literal(value)
    if literal is not None:
        return literal
    text = "".join(char for char in value if char not in WHITE_SPACE)
    if not text:
        raise ValueError(f"{shorten(value)} is only white space")
    previous = ""
    for char in text:
        if char == "." and not (previous.isalnum() or previous in ("-", "_")):
            raise ValueError(f"{shorten(value)} has an empty label ('..', a leading dot, or a dot after a symbol)")
        previous = char
    if "." not in text:
        raise ValueError(f"{shorten(value)} has no dot")
    if text.endswith("."):
        raise ValueError(f"{shorten(value)} ends with a dot")
    # letter by letter, as the server (Rust's char::to_lowercase): str.lower() would apply the
    # final-sigma rule and turn the last Σ of a word into ς, another name than the server's σ
    text = "".join(char.lower() for char in text)
    if not text.isascii():
        text = idna_encode(text)
    labels = text.split(".")
    for label in labels:
        if not _LABEL.match(label):
            if len(label) > 63:
                raise ValueError(f"{shorten(value)} has a label longer than 63 characters")
            raise ValueError(f"{shorten(value)} has invalid characters (allowed: letters, digits, '-', '_')")
        if label.startswith("-") or label.endswith("-"):
            raise ValueError(f"{shorten(value)} has a label that starts or ends with '-'")
    if len(text) > 253:
        raise ValueError(f"{shorten(value)} is longer than 253 characters")
    if labels[-1] not in PUBLIC_SUFFIX_TLDS and labels[-1] not in RESERVED_TLDS:
        raise ValueError(f"{shorten(value)} has the top-level domain {shorten(labels[-1])}, which is neither in the Public "
                         f"Suffix List nor one of {', '.join(sorted(RESERVED_TLDS))}")
    return text


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
            return f"strategy {shorten(self.name)}" if self.name else "the strategy"
        if self.name:
            return f"strategies[{self.position}] ({shorten(self.name)})"
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
        raise context.error("source_ips", f"expected a list of dicts with keys ip and ehlo_hostname, got {shorten(raw)}")
    entries = []
    allowed = set(SOURCE_IP_FIELDS) | {"source_ip"}
    for index, entry in enumerate(raw):
        where = f"source_ips[{index}]"
        if not isinstance(entry, dict):
            raise context.error(where, f"expected a dict with keys ip and ehlo_hostname, got {shorten(entry)}")
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
            raise context.error(f"{where}.ip", f"{shorten(ip_value)} is not an IP address", IP_ACCEPTED) from None
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
        raise context.error(option, f"expected a string, got {shorten(raw)}")
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
        raise context.error("", f"{NOT_A_STRATEGY} {shorten(raw)}")
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
        reason = (f"expected a non-empty string, got {shorten(name)}" if name is not None and name_text is None
                  else "the name is missing or empty; a non-empty name is required")
        raise context.error("name", reason)
    state = raw.get("state")
    state = "present" if state is None else state
    if state not in STATES:
        raise context.error("state", f"{shorten(state)} is not a valid state", "expected one of: present, absent")
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
        raise InputError(f"strategies: expected a list of strategies, got {shorten(strategies)}", option="strategies")
    items = [normalise_item(raw, position) for position, raw in enumerate(strategies)]
    seen = {}
    for position, item in enumerate(items):
        if item["name"] in seen:
            raise InputError(
                f"strategies[{position}]: name {shorten(item['name'])} is given more than once (also at "
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


# --- the stored size -------------------------------------------------------------------------------

MAX_OBJECT_SIZE = 200_000


def _leb128_size(number):
    size = 1
    while number >= 0x80:
        number >>= 7
        size += 1
    return size


def _text_size(value):
    length = len(value.encode("utf-8", "surrogatepass"))
    return _leb128_size(length) + length


def _optional_size(value):
    return 1 if value is None else 1 + _text_size(value)


def stored_size(obj):
    """The size of a normalised strategy as the server stores it, which it refuses past
    ``MAX_OBJECT_SIZE`` bytes: its pickle (docs/stalwart-api.md, "Object size"), a version byte
    then each field: a string as its UTF-8 length (LEB128) and bytes, an optional value as a 0/1
    byte and the value, the source IPs as their count then each one's EHLO name and a family byte
    with 4 or 16 address bytes, each duration as LEB128 milliseconds.

    The server compresses a pickle of more than 8 KiB (LZ4) and measures what it stores, so it
    takes a long value that compresses well. The collection cannot predict compression and
    refuses any strategy over the limit uncompressed: what it sends is always stored."""
    size = 1 + _text_size(obj["name"]) + _optional_size(obj.get("description")) + _optional_size(obj.get("ehlo_hostname"))
    entries = obj.get("source_ips") or ()
    size += _leb128_size(len(entries))
    for entry in entries:
        size += _optional_size(entry.get("ehlo_hostname")) + 1 + (16 if ":" in entry["ip"] else 4)
    for field in FIELDS:
        if field.kind == "duration":
            value = obj.get(field.name)
            size += _leb128_size(value if isinstance(value, int) and value > 0 else 0)
    return size


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
