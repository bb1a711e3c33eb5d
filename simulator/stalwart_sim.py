"""Stalwart JMAP management API simulator for ``x:MtaConnectionStrategy`` (standard library only).

It follows ``stalwart-jmap-api.md`` (the wire protocol notes of this project) in two dialects:

- ``server``: the current Stalwart server. ``GET /jmap/session``, ``POST /jmap/``, durations as
  integer milliseconds both ways.
- ``docs``: what the published reference page describes. No session resource, ``POST /api``,
  durations shown as strings such as ``"5m"``.

Run it with ``python simulator/stalwart_sim.py --port 0``; it prints one line
``stalwart-sim listening on http://127.0.0.1:PORT dialect=server`` and serves until SIGTERM/SIGINT.
Tests drive it through the ``/_sim/`` control surface (stats, reset, faults); see
``docs/simulator.md``. Section numbers (§) in comments refer to ``stalwart-jmap-api.md``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import unicodedata
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------------
# Constants of the protocol
# --------------------------------------------------------------------------------------------

OBJECT = "MtaConnectionStrategy"
GET, SET, QUERY = (f"x:{OBJECT}/get", f"x:{OBJECT}/set", f"x:{OBJECT}/query")
OUTBOUND_GET, OUTBOUND_SET = "x:MtaOutboundStrategy/get", "x:MtaOutboundStrategy/set"
ACTION_SET = "x:Action/set"
SINGLETON_ID = "singleton"

CORE = "urn:ietf:params:jmap:core"
STALWART = "urn:stalwart:jmap"
# Every entry of ``using`` must be one of these, otherwise the whole request is ``notRequest``
# (§1.5: capability parsing happens inside JSON deserialization).
KNOWN_CAPABILITIES = frozenset({
    CORE, STALWART,
    "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse", "urn:ietf:params:jmap:contacts",
    "urn:ietf:params:jmap:calendars", "urn:ietf:params:jmap:websocket",
    "urn:ietf:params:jmap:sieve", "urn:ietf:params:jmap:blob", "urn:ietf:params:jmap:quota",
    "urn:ietf:params:jmap:principals", "urn:ietf:params:jmap:principals:owner",
    "urn:ietf:params:jmap:filenode",
})

DEFAULT_LIMITS = {"maxObjectsInGet": 500, "maxObjectsInSet": 500, "maxCallsInRequest": 16,
                  "maxSizeRequest": 10_000_000}
QUERY_MAX_RESULTS = 5000
MAX_OBJECT_SIZE = 200_000

DURATION_PROPERTIES = ("connectTimeout", "dataTimeout", "ehloTimeout", "greetingTimeout",
                       "mailFromTimeout", "rcptToTimeout")
# /get output key order (§3.1): ``id`` comes last.
PROPERTY_ORDER = ("name", "description", "ehloHostname", "sourceIps") + DURATION_PROPERTIES
DEFAULT_DURATIONS = {"connectTimeout": 300_000, "dataTimeout": 600_000, "ehloTimeout": 300_000,
                     "greetingTimeout": 300_000, "mailFromTimeout": 300_000, "rcptToTimeout": 300_000}
ITEM_PROPERTIES = ("ehloHostname", "sourceIp")

# Property names the server's registry knows on *other* object types. Such a key on this object
# gives "Invalid property" with its own name as path, while a name unknown to the whole registry
# fails earlier as "Invalid key for object" with path "" on create (§4.2.1). [ASSUMPTION] The
# registry has hundreds of names; this is a representative subset.
OTHER_REGISTRY_PROPERTIES = frozenset({
    "enable", "enabled", "hostname", "port", "priority", "protocol", "address", "domain", "email",
    "secret", "url", "username", "password", "timeout", "tls", "implicitTls", "allowInvalidCerts",
    "connection", "route", "schedule", "value", "expression", "match", "else", "sourceIp",
    "members", "roles", "permissions", "quota", "type", "key", "algorithm", "selector",
})

METHOD_FORBIDDEN = "You are not authorized to perform this action"
# POST /_sim/refuse with a null error: what the server says of a host name it cannot take
DEFAULT_REFUSAL = {"type": "invalidPatch", "description": "Invalid hostname or IP address",
                   "properties": ["ehloHostname"]}
SERVER_UNAVAILABLE = ("This server is temporarily unavailable. Attempting this same operation "
                      "later may succeed.")
REQUEST_TOO_LARGE = "The number of ids requested by the client exceeds the maximum number the server is willing to process in a single method call."

ALL_PERMISSIONS = frozenset({
    "sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery",
    "sysMtaConnectionStrategyCreate", "sysMtaConnectionStrategyUpdate",
    "sysMtaConnectionStrategyDestroy", "sysMtaOutboundStrategyGet",
    "sysMtaOutboundStrategyUpdate", "sysActionCreate", "actionReloadSettings",
})
READONLY_PERMISSIONS = frozenset({"sysMtaConnectionStrategyGet", "sysMtaConnectionStrategyQuery",
                                  "sysMtaOutboundStrategyGet"})
# Named permission sets usable in ``--token NAME=<set>``.
PERMISSION_PRESETS = {
    "all": ALL_PERMISSIONS,
    "readonly": READONLY_PERMISSIONS,
    "none": frozenset(),
    "nooutbound": ALL_PERMISSIONS - {"sysMtaOutboundStrategyGet"},
}
DEFAULT_DOMAIN = "example.com"


# --------------------------------------------------------------------------------------------
# Ids (§1.9): u64 in a custom base32 alphabet, big-endian 5-bit digits, no leading zero digits
# --------------------------------------------------------------------------------------------

ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"
_DIGIT = {char: index for index, char in enumerate(ALPHABET)}
# The server's decoder accidentally accepts upper-case K..Z (§1.9); they decode like the
# lower-case letter. [ASSUMPTION] which value they map to is not documented.
_DIGIT.update({char.upper(): _DIGIT[char] for char in "klmnopqrstuvwxyz"})
SNOWFLAKE_EPOCH_MS = 1_632_268_800_000  # 2021-09-22T00:00:00Z


def encode_id(value: int) -> str:
    """Render a u64 in Stalwart's base32 alphabet: 0 → "a", 1 → "b", 32 → "ba"."""
    if value == 0:
        return "a"
    digits = []
    while value:
        digits.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(digits))


def decode_id(text) -> int | None:
    """Parse an id string; None when it is not a valid id (outside the alphabet, over u64).

    ``""`` parses as 0, like the server (§1.9)."""
    if not isinstance(text, str):
        return None
    value = 0
    for char in text:
        digit = _DIGIT.get(char)
        if digit is None:
            return None
        value = (value << 5) | digit
        if value >= 1 << 64:
            return None
    return value


class IdGenerator:
    """Time-ordered snowflake ids: ms since 2021-09-22 << 21 | node << 12 | sequence."""

    def __init__(self, node: int = 1):
        self.node = node
        self.last = 0

    def next(self) -> int:
        """A new id, strictly greater than every id issued before (also across a restart when
        ``last`` was restored from the state file)."""
        candidate = ((int(time.time() * 1000) - SNOWFLAKE_EPOCH_MS) << 21) | (self.node << 12)
        self.last = max(candidate, self.last + 1)
        return self.last


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

class SetError(Exception):
    """A SetError of §4.2.1; ``to_json`` keeps the server's field order."""

    FIELD_ORDER = ("type", "description", "properties", "existingId", "objectId", "linkedObjects",
                   "validationErrors")

    def __init__(self, kind, description=None, properties=None, **extra):
        super().__init__(description or kind)
        self.fields = {"type": kind, "description": description, "properties": properties, **extra}

    def to_json(self) -> dict:
        """The error object with absent fields omitted."""
        return {key: self.fields[key] for key in self.FIELD_ORDER if self.fields.get(key) is not None}


def invalid_patch(description, path) -> SetError:
    """``invalidPatch`` naming one property path."""
    return SetError("invalidPatch", description, [path])


class MethodError(Exception):
    """A method-level error: answered as ``["error", {...}, callId]``."""

    def __init__(self, kind, description=""):
        super().__init__(description or kind)
        self.kind = kind
        self.description = description

    def to_json(self) -> dict:
        """The error arguments; ``description`` is omitted when empty (§1.7)."""
        body = {"type": self.kind}
        if self.description:
            body["description"] = self.description
        return body


class RequestError(Exception):
    """A request-level RFC 7807 problem (§1.6)."""

    def __init__(self, status, kind, detail=None, title=None, limit=None, headers=()):
        super().__init__(detail or kind)
        self.status, self.headers = status, list(headers)
        self.body = {"type": kind, "status": status}
        if title is not None:
            self.body["title"] = title
        if detail is not None:
            self.body["detail"] = detail
        if limit is not None:
            self.body["limit"] = limit


def problem_not_found() -> RequestError:
    """404 for unknown paths (and ``POST /api`` in the server dialect, §1.1)."""
    return RequestError(404, "about:blank", "The requested resource does not exist on this server.",
                        title="Not Found")


# --------------------------------------------------------------------------------------------
# Value validation and normalisation (§3)
# --------------------------------------------------------------------------------------------

# Hostname TLD check: the server uses the psl crate (the Public Suffix List): a name's top-level
# domain must be a rule's last label, or one of the reserved TLDs. The list is data the collection
# also needs (plugins/module_utils/_tlds.py, from the psl crate of Stalwart 0.16.19); it is read
# from there when the simulator runs from a checkout. [APPROXIMATION] Run elsewhere, it falls
# back to every two-letter TLD and a few generic ones.
TLDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "plugins", "module_utils",
                         "_tlds.py")


def load_tlds():
    """(public suffix TLDs, reserved TLDs) from the collection's data file, else a fallback."""
    namespace = {}
    try:
        with open(TLDS_FILE, encoding="utf-8") as handle:
            exec(compile(handle.read(), TLDS_FILE, "exec"), namespace)  # noqa: S102 - our own data file
        return namespace["PUBLIC_SUFFIX_TLDS"], namespace["RESERVED_TLDS"]
    except (OSError, KeyError, SyntaxError):
        fallback = frozenset("com net org edu gov mil int arpa info biz name pro app dev xyz email".split())
        return fallback, frozenset({"test", "localhost", "local", "internal", "lan", "home", "corp",
                                    "intranet", "private", "localdomain"})


PUBLIC_SUFFIX_TLDS, RESERVED_TLDS = load_tlds()
# Unicode White_Space: what the server strips from a host name (Rust's char::is_whitespace)
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                        + "".join(chr(code) for code in range(0x2000, 0x200B)))
VIRAMA = 9  # the canonical combining class of a virama


def parse_ip(text):
    """An ``ipaddress`` object for a string Rust's ``IpAddr::from_str`` accepts, else None.

    Python accepts IPv6 scope ids (``fe80::1%eth0``); Rust does not, so they are refused."""
    if not isinstance(text, str) or "%" in text or text != text.strip() or not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def canonical_ip(address) -> str:
    """The address as Rust's ``Display`` prints it: like Python's compressed form, except that a
    v4-mapped IPv6 keeps the dotted quad (``::ffff:1.2.3.4``, Python says ``::ffff:102:304``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


# UTS 46 maps these to nothing (Default_Ignorable_Code_Point, as NFKC_Casefold drops them)
DEFAULT_IGNORABLE = frozenset(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x180B, 0x1810)) + [0x200B] + list(range(0x2060, 0x2070)) + list(range(0xFE00, 0xFE10))
    + list(range(0x1BCA0, 0x1BCA4)) + list(range(0x1D173, 0x1D17B)))
# UTS 46 deviations: kept as they are in non-transitional processing (the server's)
DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def uts46_map(label):
    """One lower-cased label as UTS 46's mapping step leaves it, approximately: default-ignorable
    characters dropped, everything else NFKC-casefolded except the four deviations, then NFC.

    [APPROXIMATION] The standard library has no UTS 46 table; NFKC_Casefold is its basis and
    matches it for ordinary names (full-width letters, ligatures, Roman numerals, U+200B), not
    for the characters UTS 46 disallows outright (those are refused later by the TLD check or
    by nothing: the real server is the reference, tests/real/test_agreement.py compares)."""
    mapped = []
    for char in label:
        if ord(char) in DEFAULT_IGNORABLE:
            continue
        mapped.append(char if char in DEVIATIONS else unicodedata.normalize("NFKC", char).casefold())
    return unicodedata.normalize("NFC", "".join(mapped))


def to_a_label(label):
    """One lower-cased label that is not ASCII → its A-label, the way the server's UTS 46
    (non-transitional) conversion does for ordinary names: ``uts46_map``, then Punycode;
    ``ß``, final sigma and the joiners are kept (IDNA 2003 would map them away). None when
    refused.

    [APPROXIMATION] Of the joiner rules (CheckJoiners) only "after a virama" is applied; a ZWNJ
    that the joining-type rule allows (Persian, Arabic) is accepted without checking it."""
    label = uts46_map(label)
    if label.isascii():
        return label
    for index, char in enumerate(label):
        if char in "\u200c\u200d":
            after_virama = index > 0 and unicodedata.combining(label[index - 1]) == VIRAMA
            if char == "\u200d" and not after_virama:
                return None
    try:
        return "xn--" + label.encode("punycode").decode("ascii")
    except UnicodeError:
        return None


def normalise_hostname(value):
    """§3.5: an IP literal is kept unchanged; otherwise white space removed, lower-cased, IDN
    labels to A-labels, dot rules and a known TLD. Returns the stored form or None if invalid."""
    if not isinstance(value, str) or not value:
        return None
    if parse_ip(value) is not None:
        return value
    text = "".join(char for char in value if char not in WHITE_SPACE)
    if "." not in text or text.endswith("."):
        return None
    previous = ""
    for char in text:
        # A '.' must follow an alphanumeric, '-' or '_' (no leading dot, no "..").
        if char == "." and not (previous.isalnum() or previous in ("-", "_")):
            return None
        previous = char
    # letter by letter, as Rust's char::to_lowercase (str.lower() applies the final-sigma rule)
    text = "".join(char.lower() for char in text)
    labels = []
    for label in text.split("."):
        if not label.isascii():
            label = to_a_label(label)
            if label is None:
                return None
        labels.append(label)
    # The server checks nothing else of an ASCII name: only the dot rules above and the TLD
    # (crates/utils/src/lib.rs, sanitize_domain and is_valid_domain).
    tld = labels[-1]
    if tld in RESERVED_TLDS or tld in PUBLIC_SUFFIX_TLDS:
        return ".".join(labels)
    return None


_UNITS_MS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
_DURATION_TEXT = re.compile(r"(\d+)(d|h|m|s|ms)?")


def parse_duration_text(text):
    """Stalwart's ``Duration::from_str`` (§3.4): digits plus one unit d|h|m|s|ms or none (= ms),
    case-insensitive, whitespace ignored, no fractions, no compounds. None when invalid."""
    compact = "".join(text.split()).lower()
    match = _DURATION_TEXT.fullmatch(compact)
    if not match:
        return None
    return int(match.group(1)) * dict(_UNITS_MS)[match.group(2) or "ms"]


def human_duration(ms: int) -> str:
    """Milliseconds in the largest exact unit: 300000 → "5m", 90000 → "90s", 250 → "250ms".

    [ASSUMPTION] The docs dialect's exact string rendering is a guess: the reference page only
    shows "5m" and "10m"; no space between number and unit."""
    for unit, size in _UNITS_MS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def is_int(value) -> bool:
    """A JSON integer (``bool`` is not one, although Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# The object model: stored form, wire form per dialect, patching (§3, §4.2)
# --------------------------------------------------------------------------------------------

def default_strategy() -> dict:
    """A strategy with every default of §3.1 (``name`` unset)."""
    return {"name": None, "description": None, "ehloHostname": None, "sourceIps": {},
            **DEFAULT_DURATIONS}


def default_item() -> dict:
    """A ``MtaConnectionIpHost`` with its defaults: ``sourceIp`` 0.0.0.0 fails validation later."""
    return {"ehloHostname": None, "sourceIp": "0.0.0.0"}


def renumbered(source_ips) -> dict:
    """Storage keeps only the values, so positions come back contiguous from 0 (§3.3)."""
    return {str(index): dict(source_ips[key]) for index, key in enumerate(sorted(source_ips, key=int))}


def unescape_segment(segment: str) -> str:
    """JSON pointer ``~1`` → ``/`` and ``~0`` → ``~``."""
    return segment.replace("~1", "/").replace("~0", "~")


class Patcher:
    """Applies a create or update body to a stored strategy, as the server's JSON-pointer patch
    engine does (§3.3–§3.6), raising ``SetError`` with the server's messages and paths."""

    def __init__(self, dialect: str):
        self.dialect = dialect

    # -- whole object ------------------------------------------------------------------------

    def create(self, body) -> dict:
        """A new stored object from a create body (defaults plus the given properties)."""
        if not isinstance(body, dict):
            raise SetError("invalidPatch", "Invalid value type for object", [""])
        target = default_strategy()
        for key, value in body.items():
            if key == "@type":  # ignored for this single-variant object (§3.6)
                continue
            if key == "id":
                raise invalid_patch("Invalid property", "id")
            if key in PROPERTY_ORDER:
                self.set_property(target, key, value, is_create=True)
            elif key in OTHER_REGISTRY_PROPERTIES:
                raise invalid_patch("Invalid property", key)
            else:
                # Unknown to the whole registry: the key does not parse, path is the root (§4.2.1).
                # Pointer keys are not allowed on create either.
                raise invalid_patch("Invalid key for object", "")
        return target

    def update(self, stored: dict, patch) -> dict:
        """A patched copy of ``stored``; keys are property names or JSON pointers."""
        if not isinstance(patch, dict):
            # [ASSUMPTION] §8.2: the server unwrap()s here; the fake refuses the update instead.
            raise SetError("invalidPatch", "Invalid value type for object", [""])
        target = copy.deepcopy(stored)
        for key, value in patch.items():
            if key == "@type":
                continue
            segments = [unescape_segment(part) for part in key.split("/")]
            head = segments[0]
            if head == "id":
                raise invalid_patch("Invalid property", key)
            if head not in PROPERTY_ORDER:
                raise invalid_patch("Invalid property", key)
            if head == "name":
                # assert_read_only passes only on create, even for an unchanged value (§3.2).
                raise invalid_patch("Cannot modify read-only property", "name")
            if len(segments) == 1:
                self.set_property(target, head, value, is_create=False)
            elif head == "sourceIps":
                self.patch_source_ips(target, segments[1:], value, key)
            elif head in DURATION_PROPERTIES:
                raise invalid_patch("Invalid path for Duration", key)
            else:
                # [ASSUMPTION] a pointer below a scalar string property.
                raise invalid_patch("Invalid JSON Pointer path", key)
        return target

    # -- properties --------------------------------------------------------------------------

    def set_property(self, target, name, value, is_create):
        """Replace one top-level property, validating like the server."""
        if name == "name":
            if not is_create:
                raise invalid_patch("Cannot modify read-only property", "name")
            if not isinstance(value, str) or value == "":
                raise invalid_patch("Invalid value for property.", name)
            target[name] = value
        elif name == "description":
            if value is not None and (not isinstance(value, str) or value == ""):
                raise invalid_patch("Invalid value for property.", name)
            target[name] = value
        elif name == "ehloHostname":
            target[name] = self.hostname(value, name)
        elif name == "sourceIps":
            target[name] = self.source_ip_list(value, name)
        else:
            target[name] = self.duration(value, name)

    def hostname(self, value, path):
        """A nullable hostname field: None, an IP literal or a normalised hostname."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_patch("Invalid value for property.", path)
        normalised = normalise_hostname(value)
        if normalised is None:
            raise invalid_patch("Invalid hostname or IP address", path)
        return normalised

    def duration(self, value, path):
        """§3.4: integer ms > 0; the docs dialect also takes the human string form."""
        if is_int(value):
            if 0 < value < 1 << 64:
                return value
            raise invalid_patch("Invalid duration value", path)
        if isinstance(value, float):
            raise invalid_patch("Invalid duration value", path)
        if isinstance(value, str) and self.dialect == "docs":
            # [ASSUMPTION] the docs dialect parses strings with Duration::from_str; a string
            # that does not parse (or is 0) is an "Invalid duration value".
            parsed = parse_duration_text(value)
            if parsed is None or parsed <= 0 or parsed >= 1 << 64:
                raise invalid_patch("Invalid duration value", path)
            return parsed
        raise invalid_patch("Invalid path for Duration", path)

    def source_ip_list(self, value, path):
        """Whole-list replacement: a JSON object keyed by u32 positions (§3.3). Errors inside an
        item name ``sourceIps/<field>``: the server drops the index from the path (§4.2.1)."""
        if not isinstance(value, dict):
            raise invalid_patch("Invalid value for object property", path)
        items = {}
        for key, item in value.items():
            if not re.fullmatch(r"\d+", key) or int(key) >= 1 << 32:
                raise invalid_patch("Invalid key for object property", path)
            items[int(key)] = self.item(default_item(), item, path)
        return {str(index): items[index] for index in sorted(items)}

    def item(self, base, value, path):
        """Merge ``value`` (an object) into a source IP item; errors name ``path/<field>``."""
        if not isinstance(value, dict):
            raise invalid_patch("Invalid value type for object", path)
        item = dict(base)
        for key, field in value.items():
            if key == "@type":
                continue
            self.item_field(item, key, field, f"{path}/{key}")
        return item

    def item_field(self, item, key, value, path):
        """Set one field of a source IP item."""
        if key == "ehloHostname":
            item[key] = self.hostname(value, path)
        elif key == "sourceIp":
            if not isinstance(value, str):
                raise invalid_patch("Invalid path for IpAddr, expected a string value", path)
            address = parse_ip(value)
            if address is None:
                raise invalid_patch("Failed to parse IpAddr from string", path)
            item[key] = canonical_ip(address)
        elif key in PROPERTY_ORDER or key in OTHER_REGISTRY_PROPERTIES:
            raise invalid_patch("Invalid property", path)
        else:
            # [ASSUMPTION] an unknown nested key fails to parse like an unknown top-level key.
            raise invalid_patch("Invalid key for object", path.rsplit("/", 1)[0])

    def patch_source_ips(self, target, rest, value, key):
        """Item pointer patches: ``sourceIps/3``, ``sourceIps/3/sourceIp``, ``sourceIps/3: null``."""
        index_text = rest[0]
        if not re.fullmatch(r"\d+", index_text) or int(index_text) >= 1 << 32:
            raise invalid_patch("Invalid key for object property", key)
        # Positions in memory are the stored ones ("0".."n-1") until the next write renumbers.
        items = {int(position): item for position, item in target["sourceIps"].items()}
        index = int(index_text)
        if len(rest) == 1:
            if value is None:
                if index not in items:
                    raise invalid_patch("Invalid value for object property", key)
                del items[index]
            else:
                items[index] = self.item(items.get(index, default_item()), value, key)
        elif len(rest) == 2:
            item = dict(items.get(index, default_item()))
            self.item_field(item, rest[1], value, key)
            items[index] = item
        else:
            raise invalid_patch("Invalid JSON Pointer path", key)
        target["sourceIps"] = {str(position): items[position] for position in sorted(items)}


def leb128_size(number: int) -> int:
    """Bytes of ``number`` as an unsigned LEB128 varint (the server's integer pickling)."""
    size = 1
    while number >= 0x80:
        number >>= 7
        size += 1
    return size


def pickled_size(stored: dict) -> int:
    """The size the server checks against ``MAX_OBJECT_SIZE``: its pickle of the strategy, a
    version byte, then each field (crates/registry/src/pickle.rs, types/ipaddr.rs): a string is
    its UTF-8 length as LEB128 then its bytes, an optional a 0/1 byte then the value, a list its
    length then its items, an IP address a family byte then 4 or 16 bytes, a duration its
    milliseconds as LEB128. The real run: a random 199,980-character description under a
    7-character name is 200,013 bytes.

    [APPROXIMATION] Past 8 KiB the server LZ4-compresses the pickle and measures the result
    when it is smaller, so it takes a long value that compresses well ("d" * 250000); the simulator
    measures the pickle uncompressed, as if nothing compressed."""
    def text(value):
        encoded = value.encode("utf-8", "surrogatepass")
        return leb128_size(len(encoded)) + len(encoded)

    def optional(value):
        return 1 if value is None else 1 + text(value)

    size = 1 + text(stored["name"] or "") + optional(stored["description"]) + optional(stored["ehloHostname"])
    items = list(stored["sourceIps"].values())
    size += leb128_size(len(items))
    for item in items:
        address = parse_ip(item["sourceIp"])
        size += optional(item["ehloHostname"]) + 1 + (16 if address is not None and address.version == 6 else 4)
    for prop in DURATION_PROPERTIES:
        value = stored[prop]
        size += leb128_size(value if is_int(value) and value >= 0 else 0)
    return size


def validate_strategy(stored: dict):
    """Write-time validation (§4.2.1): required ``name``, no ``0.0.0.0`` source IP, size."""
    errors = []
    if not stored.get("name"):
        errors.append({"type": "Required", "property": "name"})
    for item in stored["sourceIps"].values():
        if item["sourceIp"] == "0.0.0.0":
            errors.append({"type": "Invalid", "property": "sourceIp", "value": "0.0.0.0"})
    if errors:
        raise SetError("validationFailed", validationErrors=errors)
    size = pickled_size(stored)
    if size > MAX_OBJECT_SIZE:
        raise SetError("validationFailed", validationErrors=[{
            "type": "Invalid", "property": "id",
            "value": f"Object size {size} exceeds maximum of {MAX_OBJECT_SIZE}"}])


def wire_strategy(stored: dict, object_id: str, dialect: str, properties=None) -> dict:
    """The /get form (§3.1): fixed key order, explicit nulls, ``id`` last, durations per dialect."""
    wire = {}
    for name in PROPERTY_ORDER:
        if properties is not None and name not in properties:
            continue
        value = stored[name]
        if name == "sourceIps":
            value = renumbered(value)
        elif name in DURATION_PROPERTIES and dialect == "docs":
            value = human_duration(value)
        wire[name] = value
    wire["id"] = object_id
    return wire


def default_outbound() -> dict:
    """The ``MtaOutboundStrategy`` singleton's default ``connection`` expression (§2)."""
    return {"connection": {"match": {}, "else": "'default'"}}


def validate_expression(value, path):
    """Syntax-only check of an ``Expression`` (§2): ``{"match": {"0": {"if","then"}}, "else"}``.
    Returns the stored form (match renumbered)."""
    if not isinstance(value, dict):
        raise invalid_patch("Invalid value for object property", path)
    result = {"match": {}, "else": None}
    for key, field in value.items():
        if key == "match":
            if not isinstance(field, dict):
                raise invalid_patch("Invalid value for object property", f"{path}/match")
            entries = {}
            for position, entry in field.items():
                if not re.fullmatch(r"\d+", position):
                    raise invalid_patch("Invalid key for object property", f"{path}/match")
                if (not isinstance(entry, dict) or set(entry) != {"if", "then"}
                        or not all(isinstance(entry[part], str) and entry[part] for part in entry)):
                    raise invalid_patch("Invalid value for object property", f"{path}/match")
                entries[int(position)] = {"if": entry["if"], "then": entry["then"]}
            result["match"] = {str(index): entries[key] for index, key in enumerate(sorted(entries))}
        elif key == "else":
            if not isinstance(field, str) or not field:
                raise invalid_patch("Invalid value for property.", f"{path}/else")
            result["else"] = field
        else:
            raise invalid_patch("Invalid property", f"{path}/{key}")
    if result["else"] is None:
        raise SetError("validationFailed", validationErrors=[{"type": "Required", "property": "else"}])
    return result


# --------------------------------------------------------------------------------------------
# References (§4.4)
# --------------------------------------------------------------------------------------------

def evaluate_pointer(value, parts):
    """RFC 8620 §3.7 JSON pointer with ``*``: on an array, map the rest over the items and
    flatten one level. Raises KeyError when the path does not resolve."""
    if not parts:
        return value
    head, rest = unescape_segment(parts[0]), parts[1:]
    if isinstance(value, list):
        if head == "*":
            results = []
            for item in value:
                found = evaluate_pointer(item, rest)
                if isinstance(found, list):
                    results.extend(found)
                else:
                    results.append(found)
            return results
        if re.fullmatch(r"\d+", head) and int(head) < len(value):
            return evaluate_pointer(value[int(head)], rest)
        raise KeyError(head)
    if isinstance(value, dict) and head in value:
        return evaluate_pointer(value[head], rest)
    raise KeyError(head)


def resolve_creation_refs(value, created_ids, depth=0):
    """Replace ``"#n1"`` string values and object keys (depth ≤ 5) by the created id.
    [ASSUMPTION] an unknown ``#name`` is left as it is."""
    if depth > 5:
        return value
    if isinstance(value, str):
        if value.startswith("#") and value[1:] in created_ids:
            return created_ids[value[1:]]
        return value
    if isinstance(value, dict):
        return {resolve_creation_refs(key, created_ids, depth + 1) if key.startswith("#") else key:
                resolve_creation_refs(item, created_ids, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_creation_refs(item, created_ids, depth + 1) for item in value]
    return value


def creation_refs_in(value, depth=0):
    """Every ``#name`` string (value or key) inside a create body, for ordering the creates."""
    found = set()
    if depth > 5:
        return found
    if isinstance(value, str) and value.startswith("#"):
        found.add(value[1:])
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("#"):
                found.add(key[1:])
            found |= creation_refs_in(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            found |= creation_refs_in(item, depth + 1)
    return found


# --------------------------------------------------------------------------------------------
# Accounts and authentication (§1.3)
# --------------------------------------------------------------------------------------------

class Account:
    """A principal: its login name, JMAP account id and permissions."""

    def __init__(self, name, number, permissions):
        self.name, self.number, self.permissions = name, number, frozenset(permissions)

    @property
    def id(self) -> str:
        """The account id as a base32 string ("b" for account 1)."""
        return encode_id(self.number)

    @property
    def state(self) -> str:
        """``sessionState``: a hex u32 (§1.5)."""
        return format(zlib.crc32(self.name.encode()), "08x")


def parse_permissions(text: str) -> frozenset:
    """``perm1,perm2``, or a preset name (all, readonly, none, nooutbound), or a mix."""
    permissions = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        permissions |= PERMISSION_PRESETS.get(part, {part})
    return frozenset(permissions)


# --------------------------------------------------------------------------------------------
# The simulated server state and JMAP processing
# --------------------------------------------------------------------------------------------

def empty_stats() -> dict:
    """Counters of the control surface (``GET /_sim/stats``)."""
    return {"requests": 0, "session_requests": 0, "posts": 0, "method_calls": {}, "set_calls": 0,
            "writes": 0, "objects_created": 0, "objects_updated": 0, "objects_destroyed": 0,
            "reloads": 0, "bytes_in": 0, "bytes_out": 0, "max_calls_in_one_post": 0, "set_errors": {}}


class Simulator:
    """All state of one simulated server; JMAP requests are processed under ``lock``, one at a
    time, like the server's per-request sequential processing."""

    def __init__(self, dialect="server", limits=None, seed=True, state_file=None, tokens=None):
        self.lock = threading.RLock()
        self.initial_dialect = dialect
        self.initial_limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.dialect = dialect
        self.limits = dict(self.initial_limits)
        self.state_file = state_file
        self.ids = IdGenerator()
        self.strategies: dict[int, dict] = {}
        self.outbound = default_outbound()
        self.reloads = 0
        self.stats = empty_stats()
        self.faults: list[dict] = []
        self.refusals: dict[str, dict | None] = {}  # name -> SetError (None: DEFAULT_REFUSAL)
        # GET /_sim/log: when each request arrived (seconds since start-up, monotonic), so tests
        # can see a client's waits without timing a whole process
        self.started = time.monotonic()
        self.log: list[dict] = []
        self.tokens = {
            "admin-token": Account("admin@example.com", 1, ALL_PERMISSIONS),
            "readonly-token": Account("readonly@example.com", 2, READONLY_PERMISSIONS),
            "noperm-token": Account("noperm@example.com", 3, ()),
            "nooutbound-token": Account("nooutbound@example.com", 4, PERMISSION_PRESETS["nooutbound"]),
        }
        for index, (token, permissions) in enumerate((tokens or {}).items()):
            self.tokens[token] = Account(f"token{index + 1}@example.com", 10 + index, permissions)
        self.users = {"admin@example.com": ("admin-password", self.tokens["admin-token"])}
        if state_file and os.path.exists(state_file):
            self.load()
        if seed and not self.strategies:
            # §2: created at start-up when no strategy exists, so also on a restart after every
            # strategy was deleted
            self.seed_default()
            self.save()

    # -- persistence -------------------------------------------------------------------------

    def load(self):
        """Restore objects, outbound strategy, reload count and the id clock from the state file."""
        with open(self.state_file, encoding="utf-8") as handle:
            saved = json.load(handle)
        self.strategies = {decode_id(item["id"]): {key: item[key] for key in PROPERTY_ORDER}
                           for item in saved.get("strategies", [])}
        self.outbound = saved.get("outbound") or default_outbound()
        self.reloads = saved.get("reloads", 0)
        self.ids.last = max([saved.get("last_id", 0), *self.strategies])

    def save(self):
        """Write the state file atomically (temporary file, then rename) if one is configured."""
        if not self.state_file:
            return
        snapshot = {"strategies": [{**self.strategies[key], "id": encode_id(key)}
                                   for key in sorted(self.strategies)],
                    "outbound": self.outbound, "reloads": self.reloads, "last_id": self.ids.last}
        temporary = f"{self.state_file}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(snapshot, handle, indent=1)
        os.replace(temporary, self.state_file)

    # -- control surface ---------------------------------------------------------------------

    def seed_default(self):
        """The auto-created ``default`` strategy (§2)."""
        stored = default_strategy()
        stored.update(name="default", description="Default connection strategy")
        self.strategies[self.ids.next()] = stored

    def reset(self, body: dict):
        """``POST /_sim/reset``: clear objects, stats and faults; restore the start-up limits and
        dialect; then apply the body (seed, objects, outbound, limits)."""
        if not isinstance(body, dict):
            raise ValueError("the reset body must be a JSON object")
        self.dialect = self.initial_dialect
        self.limits = dict(self.initial_limits)
        self.limits.update(self.checked_limits(body.get("limits") or {}))
        self.strategies, self.outbound, self.reloads = {}, default_outbound(), 0
        self.stats, self.faults, self.log = empty_stats(), [], []
        self.refusals = {}
        if body.get("seed_default", True):
            self.seed_default()
        patcher = Patcher(self.dialect)
        for index, item in enumerate(body.get("objects") or []):
            try:
                stored = patcher.create(item)
                validate_strategy(stored)
                self.check_unique(stored["name"])
            except SetError as error:
                raise ValueError(f"objects[{index}] refused: {json.dumps(error.to_json())}") from None
            self.strategies[self.ids.next()] = stored
        if body.get("outbound") is not None:
            try:
                self.outbound = {"connection": validate_expression(body["outbound"].get("connection"),
                                                                   "connection")}
            except (SetError, AttributeError) as error:
                raise ValueError(f"outbound refused: {error}") from None
        self.save()

    @staticmethod
    def checked_limits(limits: dict) -> dict:
        """Only the known limits (``DEFAULT_LIMITS``), as positive integers."""
        checked = {}
        for key, value in limits.items():
            if key not in DEFAULT_LIMITS or not is_int(value) or value < 1:
                raise ValueError(f"bad limit {key}={value!r}")
            checked[key] = value
        return checked

    def configure(self, body: dict) -> dict:
        """``POST /_sim/config``: change limits and the dialect live."""
        if not isinstance(body, dict):
            raise ValueError("the config body must be a JSON object")
        dialect = body.get("dialect", self.dialect)
        if dialect not in ("server", "docs"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.limits.update(self.checked_limits({k: v for k, v in body.items() if k != "dialect"}))
        self.dialect = dialect
        return self.config()

    def config(self) -> dict:
        """Current limits and dialect."""
        return {**self.limits, "dialect": self.dialect}

    def objects(self) -> dict:
        """``GET /_sim/objects``: everything stored, in /get form, ascending id."""
        return {"strategies": [wire_strategy(self.strategies[key], encode_id(key), self.dialect)
                               for key in sorted(self.strategies)],
                "outbound": copy.deepcopy(self.outbound), "reloads": self.reloads}

    def check_refused(self, name):
        """A test knob, not server behaviour: ``POST /_sim/refuse`` names strategies whose creates
        and updates are refused with a given SetError, for the refusals a client cannot foresee
        (a server whose rules differ from the client's: an older Public Suffix List, say)."""
        if name in self.refusals:
            error = self.refusals[name] or DEFAULT_REFUSAL
            raise SetError(error.get("type", "invalidPatch"), error.get("description"), error.get("properties"),
                           **{key: value for key, value in error.items()
                              if key not in ("type", "description", "properties")})

    def check_unique(self, name, ignore=None):
        """``primaryKeyViolation`` naming the existing object (§4.2.1; not ``existingId``)."""
        for key, stored in self.strategies.items():
            if key != ignore and stored["name"] == name:
                raise SetError("primaryKeyViolation", properties=["name"],
                               objectId={"object": OBJECT, "id": encode_id(key)})

    # -- session -----------------------------------------------------------------------------

    def session(self, base: str, account: Account | None) -> dict:
        """The session resource (§1.4); anonymous when ``account`` is None."""
        core = {"maxSizeUpload": 50_000_000, "maxConcurrentUpload": 4,
                "maxSizeRequest": self.limits["maxSizeRequest"], "maxConcurrentRequests": 4,
                "maxCallsInRequest": self.limits["maxCallsInRequest"],
                "maxObjectsInGet": self.limits["maxObjectsInGet"],
                "maxObjectsInSet": self.limits["maxObjectsInSet"],
                "collationAlgorithms": ["i;ascii-numeric", "i;ascii-casemap", "i;unicode-casemap"]}
        ws_base = "wss" + base[len("https"):] if base.startswith("https") else "ws" + base[len("http"):]
        accounts, primary = {}, {}
        if account is not None:
            accounts[account.id] = {"name": account.name, "isPersonal": True, "isReadOnly": False,
                                    "accountCapabilities": {STALWART: {}}}
            primary[STALWART] = account.id
        return {
            "capabilities": {CORE: core, "urn:ietf:params:jmap:mail": {},
                             "urn:ietf:params:jmap:websocket": {"url": f"{ws_base}/jmap/ws",
                                                                "supportsPush": True}},
            "accounts": accounts, "primaryAccounts": primary,
            "username": account.name if account else "",
            "apiUrl": f"{base}/jmap/",
            "downloadUrl": f"{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}",
            "uploadUrl": f"{base}/jmap/upload/{{accountId}}/",
            "eventSourceUrl": f"{base}/jmap/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}",
            "state": account.state if account else "00000000",
        }

    # -- JMAP request ------------------------------------------------------------------------

    def parse_request(self, raw: bytes) -> dict:
        """Parse and check the Request object (§1.5, §1.6); raises ``RequestError``."""
        def not_request():
            return RequestError(400, "urn:ietf:params:jmap:error:notRequest",
                                raw.decode("utf-8", "replace"))
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise not_request() from None
        if not isinstance(request, dict):
            raise not_request()
        using, calls = request.get("using"), request.get("methodCalls")
        if not isinstance(using, list) or not all(isinstance(uri, str) for uri in using):
            raise not_request()
        if any(uri not in KNOWN_CAPABILITIES for uri in using):
            raise not_request()
        if not isinstance(calls, list) or not all(
                isinstance(call, list) and len(call) == 3 and isinstance(call[0], str)
                and isinstance(call[1], dict) and isinstance(call[2], str) for call in calls):
            raise not_request()
        created = request.get("createdIds")
        if "createdIds" in request and not (isinstance(created, dict) and all(
                isinstance(value, str) for value in created.values())):
            raise not_request()
        if len(calls) > self.limits["maxCallsInRequest"]:
            raise RequestError(400, "urn:ietf:params:jmap:error:limit",
                               "The request exceeds the maximum number of calls in a single request.",
                               limit="maxCallsInRequest")
        return request

    def process(self, request: dict, account: Account) -> tuple[dict, bool]:
        """Run every method call in order; returns the Response object and whether anything was
        committed (for the state file)."""
        created_ids = dict(request.get("createdIds") or {})
        responses = []
        committed = False
        self.stats["max_calls_in_one_post"] = max(self.stats["max_calls_in_one_post"],
                                                  len(request["methodCalls"]))
        for name, arguments, call_id in request["methodCalls"]:
            counts = self.stats["method_calls"]
            counts[name] = counts.get(name, 0) + 1
            try:
                arguments = self.resolve_result_references(arguments, responses)
                result, wrote = self.call(name, arguments, account, created_ids)
                committed = committed or wrote
                responses.append([name, result, call_id])
            except MethodError as error:
                responses.append(["error", error.to_json(), call_id])
        response = {"methodResponses": responses}
        if "createdIds" in request:
            response["createdIds"] = created_ids
        response["sessionState"] = account.state
        return response, committed

    @staticmethod
    def resolve_result_references(arguments: dict, responses: list) -> dict:
        """``#ids``/``#properties``/``#destroy`` result references (§4.4)."""
        resolved = dict(arguments)
        for key in ("ids", "properties", "destroy"):
            reference = arguments.get("#" + key)
            if "#" + key not in arguments:
                continue
            del resolved["#" + key]
            if key in arguments:
                raise MethodError("invalidArguments", f"Duplicate argument {key} and #{key}.")
            if not (isinstance(reference, dict) and isinstance(reference.get("resultOf"), str)
                    and isinstance(reference.get("name"), str)
                    and isinstance(reference.get("path"), str)):
                raise MethodError("invalidArguments", f"Invalid result reference for #{key}.")
            for response_name, result, call_id in responses:
                if call_id == reference["resultOf"] and response_name == reference["name"]:
                    break
            else:
                raise MethodError("invalidResultReference",
                                  f"Method response {reference['resultOf']!r} not found.")
            path = reference["path"]
            try:
                if path and not path.startswith("/"):
                    raise KeyError(path)
                value = evaluate_pointer(result, path.split("/")[1:] if path else [])
            except KeyError:
                raise MethodError("invalidResultReference",
                                  f"Failed to evaluate {path} result reference.") from None
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise MethodError("invalidResultReference",
                                  f"Failed to evaluate {path} result reference.")
            resolved[key] = value
        return resolved

    def call(self, name, arguments, account, created_ids):
        """Dispatch one method call; returns (result, committed)."""
        account_id = arguments.get("accountId")
        if account_id is not None and decode_id(account_id) is not None and account_id != account.id:
            raise MethodError("forbidden", f"You are not an owner of account {account_id}")
        if name == GET:
            return self.strategy_get(arguments, account, created_ids), False
        if name == SET:
            return self.strategy_set(arguments, account, created_ids)
        if name == QUERY:
            return self.strategy_query(arguments, account), False
        if name == OUTBOUND_GET:
            return self.outbound_get(arguments, account), False
        if name == OUTBOUND_SET:
            return self.outbound_set(arguments, account)
        if name == ACTION_SET:
            return self.action_set(arguments, account, created_ids)
        raise MethodError("unknownMethod", name)

    @staticmethod
    def require(account, permission):
        """Method-level ``forbidden`` when ``permission`` is missing (§1.7)."""
        if permission not in account.permissions:
            raise MethodError("forbidden", METHOD_FORBIDDEN)

    @staticmethod
    def properties_argument(arguments, known):
        """The ``properties`` filter: None means all. Quirk (§4.1): [] or only unknown names
        also return all properties."""
        properties = arguments.get("properties")
        if properties is None:
            return None
        if not isinstance(properties, list) or not all(isinstance(item, str) for item in properties):
            raise MethodError("invalidArguments", "Invalid value for argument 'properties'.")
        # [ASSUMPTION] "id" counts as a known name, so ["id"] returns only ids (as in RFC 8620).
        wanted = {item for item in properties if item in known or item == "id"}
        return wanted or None

    def ids_argument(self, arguments, created_ids):
        """The ``ids`` of a /get: None, or a list of strings, ``#n1`` resolved (§4.4)."""
        ids = arguments.get("ids")
        if ids is None:
            return None
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise MethodError("invalidArguments", "Invalid value for argument 'ids'.")
        if len(ids) > self.limits["maxObjectsInGet"]:
            raise MethodError("requestTooLarge", REQUEST_TOO_LARGE)
        resolved = []
        for item in ids:
            if item.startswith("#"):
                if item[1:] not in created_ids:
                    # [ASSUMPTION] an unknown creation id in /get ids fails the method call.
                    raise MethodError("invalidResultReference", f"Id reference {item[1:]!r} not found.")
                item = created_ids[item[1:]]
            resolved.append(item)
        return resolved

    # -- x:MtaConnectionStrategy/get ---------------------------------------------------------

    def strategy_get(self, arguments, account, created_ids):
        """§4.1."""
        self.require(account, "sysMtaConnectionStrategyGet")
        ids = self.ids_argument(arguments, created_ids)
        properties = self.properties_argument(arguments, PROPERTY_ORDER)
        found, not_found = [], []
        if ids is None:
            # All objects, ascending id, silently capped.
            keys = sorted(self.strategies)[: self.limits["maxObjectsInGet"]]
            found = [(key, encode_id(key)) for key in keys]
        else:
            for text in ids:
                key = decode_id(text)
                if key is not None and key in self.strategies:
                    found.append((key, text))
                else:
                    not_found.append(text)
        listing = [wire_strategy(self.strategies[key], encode_id(key), self.dialect, properties)
                   for key, _text in found]
        return {"accountId": account.id, "list": listing, "notFound": not_found}

    # -- x:MtaConnectionStrategy/set ---------------------------------------------------------

    def set_sections(self, arguments, created_ids):
        """Parse create/update/destroy; invalid (unparseable) ids in update keys and destroy
        entries are silently dropped (§1.9), ``#n1`` there included (§4.4)."""
        create = arguments.get("create") or {}
        update = arguments.get("update") or {}
        destroy = arguments.get("destroy") or []
        if not isinstance(create, dict):
            raise MethodError("invalidArguments", "Invalid value for argument 'create'.")
        if not isinstance(update, dict):
            raise MethodError("invalidArguments", "Invalid value for argument 'update'.")
        if not isinstance(destroy, list) or not all(isinstance(item, str) for item in destroy):
            raise MethodError("invalidArguments", "Invalid value for argument 'destroy'.")
        update = {key: resolve_creation_refs(value, created_ids)
                  for key, value in update.items() if decode_id(key) is not None}
        destroy_ids = [item for item in destroy if decode_id(item) is not None]
        return create, update, destroy, destroy_ids

    def check_set_permissions(self, account, create, update, destroy, prefix):
        """§4.2.2: none of create/update/destroy → forbidden even for an empty /set; otherwise a
        missing permission for a non-empty section."""
        granted = {verb: f"{prefix}{verb.capitalize()}" in account.permissions
                   for verb in ("create", "update", "destroy")}
        if not any(granted.values()):
            raise MethodError("forbidden",
                              "You are not authorized to create, update or destroy objects of this type")
        for verb, section in (("create", create), ("update", update), ("destroy", destroy)):
            if section and not granted[verb]:
                raise MethodError("forbidden", f"You are not authorized to {verb} objects of this type")

    def check_set_size(self, create, update, destroy):
        """``requestTooLarge`` over maxObjectsInSet (create+update+destroy)."""
        if len(create) + len(update) + len(destroy) > self.limits["maxObjectsInSet"]:
            raise MethodError("requestTooLarge", REQUEST_TOO_LARGE)

    def strategy_set(self, arguments, account, created_ids):
        """§4.2: creates, then updates, then destroys; empty maps omitted; no states."""
        create, update, destroy, destroy_ids = self.set_sections(arguments, created_ids)
        self.check_set_permissions(account, create, arguments.get("update") or {}, destroy,
                                   "sysMtaConnectionStrategy")
        self.check_set_size(create, arguments.get("update") or {}, destroy)
        self.stats["set_calls"] += 1
        if create or arguments.get("update") or destroy:
            self.stats["writes"] += 1
        result = {"accountId": account.id}
        created, not_created, updated, not_updated = {}, {}, {}, {}
        destroyed, not_destroyed = [], {}
        patcher = Patcher(self.dialect)
        committed = False
        for client_id in self.create_order(create):
            try:
                body = resolve_creation_refs(create[client_id], created_ids)
                stored = patcher.create(body)
                validate_strategy(stored)
                self.check_unique(stored["name"])
                self.check_refused(stored["name"])
            except SetError as error:
                not_created[client_id] = error.to_json()
                continue
            key = self.ids.next()
            stored["sourceIps"] = renumbered(stored["sourceIps"])
            self.strategies[key] = stored
            created[client_id] = {"id": encode_id(key)}
            created_ids[client_id] = encode_id(key)
            self.stats["objects_created"] += 1
            committed = True
        destroy_keys = {decode_id(item) for item in destroy_ids}
        for text, patch in update.items():
            key = decode_id(text)
            if key in destroy_keys:
                not_updated[text] = SetError("willDestroy", "ID will be destroyed.").to_json()
                continue
            if key not in self.strategies:
                not_updated[text] = SetError("notFound").to_json()
                continue
            try:
                stored = patcher.update(self.strategies[key], patch)
                validate_strategy(stored)
                self.check_refused(stored["name"])
            except SetError as error:
                not_updated[text] = error.to_json()
                continue
            stored["sourceIps"] = renumbered(stored["sourceIps"])
            if stored != self.strategies[key]:
                # Nothing is written when nothing changed; the answer is the same (§4.2).
                self.strategies[key] = stored
                self.stats["objects_updated"] += 1
                committed = True
            updated[text] = None
        for text in destroy_ids:
            key = decode_id(text)
            if key in self.strategies:
                del self.strategies[key]
                destroyed.append(text)
                self.stats["objects_destroyed"] += 1
                committed = True
            else:
                not_destroyed[text] = SetError("notFound").to_json()
        self.answer_set(result, created=created, updated=updated, destroyed=destroyed, notCreated=not_created,
                        notUpdated=not_updated, notDestroyed=not_destroyed)
        return result, committed

    def answer_set(self, result, **sections):
        """Put the sections of a ``/set`` response into ``result``, omitting the empty ones
        (§4.2), and count its SetErrors by type in the stats (``set_errors``)."""
        counts = self.stats["set_errors"]
        for label, section in sections.items():
            if label.startswith("not"):
                for error in section.values():
                    kind = error.get("type", "?") if isinstance(error, dict) else "?"
                    counts[kind] = counts.get(kind, 0) + 1
            if section:
                result[label] = section

    @staticmethod
    def create_order(create: dict) -> list:
        """Request order, except that a create referencing another create of the same call
        (``#n1`` in a value) comes after it (§4.2: topological sort)."""
        order, visiting = [], set()

        def visit(client_id):
            if client_id in order or client_id in visiting:
                return
            visiting.add(client_id)
            for dependency in sorted(creation_refs_in(create[client_id])):
                if dependency in create:
                    visit(dependency)
            order.append(client_id)

        for client_id in create:
            visit(client_id)
        return order

    # -- x:MtaConnectionStrategy/query -------------------------------------------------------

    def strategy_query(self, arguments, account):
        """§4.3 with plain RFC 8620 paging (the pushdown quirk is not reproduced)."""
        self.require(account, "sysMtaConnectionStrategyQuery")
        predicate = self.filter_predicate(arguments.get("filter"))
        sort = arguments.get("sort")
        keys = [key for key in self.strategies if predicate(self.strategies[key]["name"])]
        if sort:
            if not isinstance(sort, list) or not isinstance(sort[0], dict):
                raise MethodError("invalidArguments", "Invalid value for argument 'sort'.")
            comparator = sort[0]
            prop = comparator.get("property")
            if prop not in ("id", "name"):
                raise MethodError("unsupportedSort", f"Property {prop} is not supported for sorting")
            ascending = comparator.get("isAscending", True) is not False
            if prop == "id":
                keys.sort(reverse=not ascending)
            else:
                keys.sort(key=lambda key: (self.strategies[key]["name"].encode(), key),
                          reverse=not ascending)
        else:
            keys.sort(reverse=True)  # default: id descending, newest first
        ids = [encode_id(key) for key in keys]
        total = len(ids)
        position = arguments.get("position") or 0
        anchor = arguments.get("anchor")
        anchor_offset = arguments.get("anchorOffset") or 0
        limit = arguments.get("limit")
        for label, value in (("position", position), ("anchorOffset", anchor_offset)):
            if not is_int(value):
                raise MethodError("invalidArguments", f"Invalid value for argument '{label}'.")
        if limit is not None and (not is_int(limit) or limit < 0):
            raise MethodError("invalidArguments", "Invalid value for argument 'limit'.")
        if anchor is not None:
            if not isinstance(anchor, str) or anchor not in ids:
                raise MethodError("anchorNotFound")
            start = max(0, ids.index(anchor) + anchor_offset)
        elif position < 0:
            start = max(0, total + position)
        else:
            start = position
        effective = QUERY_MAX_RESULTS if limit is None else min(limit, QUERY_MAX_RESULTS)
        result = {"accountId": account.id, "queryState": "n", "canCalculateChanges": True,
                  "position": start,
                  "ids": ids[start:start + effective]}
        if arguments.get("calculateTotal") is True:
            result["total"] = total
        if total > effective:
            result["limit"] = effective
        return result

    def filter_predicate(self, condition):
        """A function name → bool for a /query filter: AND only, exact name, byte comparisons."""
        if condition is None or condition == {}:
            return lambda name: True
        if not isinstance(condition, dict):
            raise MethodError("invalidArguments", "Invalid value for argument 'filter'.")
        if "operator" in condition:
            if condition["operator"] != "AND":
                raise MethodError("unsupportedFilter", "Only AND is supported in filters")
            parts = [self.filter_predicate(item) for item in condition.get("conditions") or []]
            return lambda name: all(part(name) for part in parts)
        tests = []
        comparisons = {"name": lambda a, b: a == b,
                       "nameIsGreaterThan": lambda a, b: a > b,
                       "nameIsGreaterThanOrEqual": lambda a, b: a >= b,
                       "nameIsLessThan": lambda a, b: a < b,
                       "nameIsLessThanOrEqual": lambda a, b: a <= b}
        for key, value in condition.items():
            if key in comparisons:
                if not isinstance(value, str):
                    raise MethodError("unsupportedFilter",
                                      f"Filter on property {key} is not supported or invalid")
                compare, wanted = comparisons[key], value.encode()
                tests.append(lambda name, compare=compare, wanted=wanted: compare(name.encode(), wanted))
            elif key in PROPERTY_ORDER or key == "id" or key in OTHER_REGISTRY_PROPERTIES:
                raise MethodError("unsupportedFilter",
                                  f"Filter on property {key} is not supported or invalid")
            else:
                raise MethodError("unsupportedFilter", key)
        return lambda name: all(test(name) for test in tests)

    # -- x:MtaOutboundStrategy ---------------------------------------------------------------

    def outbound_get(self, arguments, account):
        """The singleton (§2): id ``singleton``, property ``connection``."""
        self.require(account, "sysMtaOutboundStrategyGet")
        ids = arguments.get("ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise MethodError("invalidArguments", "Invalid value for argument 'ids'.")
        if ids is not None and len(ids) > self.limits["maxObjectsInGet"]:
            raise MethodError("requestTooLarge", REQUEST_TOO_LARGE)
        properties = self.properties_argument(arguments, ("connection",))
        wire = {"connection": copy.deepcopy(self.outbound["connection"]), "id": SINGLETON_ID}
        if properties is not None:
            wire = {key: value for key, value in wire.items() if key in properties or key == "id"}
        listing, not_found = [], []
        for text in ([SINGLETON_ID] if ids is None else ids):
            (listing.append(wire) if text == SINGLETON_ID else not_found.append(text))
        return {"accountId": account.id, "list": listing, "notFound": not_found}

    def outbound_set(self, arguments, account):
        """Only an update of ``connection`` on ``singleton``; create/destroy are refused per item.
        [ASSUMPTION] the exact refusal for singleton create/destroy was not traced."""
        create = arguments.get("create") or {}
        update = arguments.get("update") or {}
        destroy = arguments.get("destroy") or []
        if not isinstance(create, dict) or not isinstance(update, dict) or not isinstance(destroy, list):
            raise MethodError("invalidArguments", "Invalid value for argument 'create'.")
        self.check_set_permissions(account, create, update, destroy, "sysMtaOutboundStrategy")
        self.check_set_size(create, update, destroy)
        self.stats["set_calls"] += 1
        if create or update or destroy:
            self.stats["writes"] += 1
        result = {"accountId": account.id}
        not_created = {client_id: SetError("forbidden", "Cannot create singleton objects").to_json()
                       for client_id in create}
        updated, not_updated, committed = {}, {}, False
        for text, patch in update.items():
            if decode_id(text) is None:
                continue
            if text != SINGLETON_ID:
                not_updated[text] = SetError("notFound").to_json()
                continue
            try:
                if not isinstance(patch, dict):
                    raise SetError("invalidPatch", "Invalid value type for object", [""])
                new = copy.deepcopy(self.outbound)
                for key, value in patch.items():
                    if key != "connection":
                        raise invalid_patch("Invalid property", key)
                    new["connection"] = validate_expression(value, key)
            except SetError as error:
                not_updated[text] = error.to_json()
                continue
            if new != self.outbound:
                self.outbound = new
                committed = True
            updated[text] = None
        not_destroyed = {text: SetError("forbidden", "Cannot destroy singleton objects").to_json()
                         for text in destroy if isinstance(text, str) and decode_id(text) is not None}
        self.answer_set(result, updated=updated, notCreated=not_created, notUpdated=not_updated,
                        notDestroyed=not_destroyed)
        return result, committed

    # -- x:Action ----------------------------------------------------------------------------

    def action_set(self, arguments, account, created_ids):
        """Only ``create {"@type": "ReloadSettings"}`` (§2), counted in ``reloads``."""
        create = arguments.get("create") or {}
        update = arguments.get("update") or {}
        destroy = arguments.get("destroy") or []
        if not isinstance(create, dict) or not isinstance(update, dict) or not isinstance(destroy, list):
            raise MethodError("invalidArguments", "Invalid value for argument 'create'.")
        # Actions are create-only: sysActionCreate is the only permission that grants a /set.
        if "sysActionCreate" not in account.permissions:
            raise MethodError("forbidden",
                              "You are not authorized to create, update or destroy objects of this type")
        if update:
            raise MethodError("forbidden", "You are not authorized to update objects of this type")
        if destroy:
            raise MethodError("forbidden", "You are not authorized to destroy objects of this type")
        self.check_set_size(create, update, destroy)
        self.stats["set_calls"] += 1
        if create:
            self.stats["writes"] += 1
        result = {"accountId": account.id}
        created, not_created, committed = {}, {}, False
        for client_id, body in create.items():
            if not isinstance(body, dict) or body.get("@type") != "ReloadSettings":
                not_created[client_id] = invalid_patch("Invalid value for property.", "@type").to_json()
                continue
            if "actionReloadSettings" not in account.permissions:
                not_created[client_id] = SetError("forbidden", METHOD_FORBIDDEN).to_json()
                continue
            self.reloads += 1
            self.stats["reloads"] += 1
            action_id = encode_id(self.ids.next())
            created[client_id] = {"id": action_id}
            created_ids[client_id] = action_id
            committed = True
        self.answer_set(result, created=created, notCreated=not_created)
        return result, committed


def is_write_request(request) -> bool:
    """A JMAP request containing a /set with a non-empty create, update or destroy (or a
    ``#destroy`` reference), or an Action create: the ``write`` class of faults."""
    if not isinstance(request, dict) or not isinstance(request.get("methodCalls"), list):
        return False
    for call in request["methodCalls"]:
        if not (isinstance(call, list) and len(call) == 3 and isinstance(call[0], str)
                and isinstance(call[1], dict)):
            continue
        if call[0].endswith("/set") and (call[1].get("create") or call[1].get("update")
                                         or call[1].get("destroy") or call[1].get("#destroy")):
            return True
    return False


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

HTTP_FAULT_KINDS = ("http500", "http502", "http503", "http504", "http429", "http403")
FAULT_KINDS = HTTP_FAULT_KINDS + ("drop_before", "drop_after", "delay", "server_unavailable")
# a 5xx may also come after the request was processed and committed (a proxy's 504 while the
# server finished the write): {"kind": "http504", "after": true}
AFTER_FAULT_KINDS = tuple(kind for kind in HTTP_FAULT_KINDS if kind.startswith("http5"))
FAULT_MATCHES = ("any", "read", "write", "session")
LOG_LIMIT = 100_000  # entries of /_sim/log kept until the next reset
HTTP_TITLES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout", 429: "Too Many Requests", 403: "Forbidden"}


def unauthorized() -> RequestError:
    """401 with both challenges and the problem body (§1.3)."""
    return RequestError(401, "about:blank", "You have to authenticate first.", title="Unauthorized",
                        headers=[("WWW-Authenticate", 'Bearer realm="Stalwart Server", '
                                  'resource_metadata="/.well-known/oauth-protected-resource"'),
                                 ("WWW-Authenticate", 'Basic realm="Stalwart Server"')])


class Handler(BaseHTTPRequestHandler):
    """One HTTP connection. Keep-alive (HTTP/1.1) so clients can reuse connections."""

    protocol_version = "HTTP/1.1"
    server_version = "Stalwart"
    timeout = 60  # idle keep-alive connections are closed after a minute

    def version_string(self):
        return self.server_version

    @property
    def sim(self) -> Simulator:
        return self.server.simulator

    def setup(self):
        """TLS handshake here, in the connection's own thread, so that a slow or plain-text
        client cannot block the accept loop."""
        context = self.server.tls_context
        if context is not None:
            self.request.settimeout(10)
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
            # A client that fails the handshake or goes away is not the server's problem.
            self.close_connection = True

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ----------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked transfer encoding; raises ValueError
        on a malformed length."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, body, content_type="application/json; charset=utf-8", headers=(),
             count=True):
        """Send a complete response with Content-Length; ``body`` is bytes or JSON-able."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if count:
            with self.sim.lock:
                self.sim.stats["bytes_out"] += len(body)

    def send_problem(self, error: RequestError, count=True):
        self.send(error.status, error.body, "application/problem+json", error.headers, count)

    def base_url(self) -> str:
        """``scheme://host:port`` as the client addressed us (for the session's URLs)."""
        scheme = "https" if self.server.tls_context is not None else "http"
        host = self.headers.get("Host") or f"{self.server.display_host}:{self.server.server_port}"
        return f"{scheme}://{host}"

    def authenticate(self) -> Account | None:
        """The account for the Authorization header; None when absent; 401 when bad (§1.3)."""
        header = self.headers.get("Authorization")
        if header is None:
            return None
        scheme, _space, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials in self.sim.tokens:
            return self.sim.tokens[credentials]
        if scheme.lower() == "basic":
            try:
                user, _colon, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise unauthorized() from None
            user = user.strip().lower()
            if user and "@" not in user:
                user = f"{user}@{DEFAULT_DOMAIN}"  # v0.16 logins are email addresses
            known = self.sim.users.get(user)
            if known is not None and known[0] == password:
                return known[1]
        raise unauthorized()

    # -- routing -----------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def dispatch(self, method):
        path = urlsplit(self.path).path
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.send_problem(RequestError(400, "about:blank", "Malformed request body length.",
                                                  title="Bad Request"), count=False)
        if path.startswith("/_sim/") or path == "/_sim":
            return self.control(method, path, body)
        sim = self.sim
        dialect = sim.dialect
        jmap_paths = ("/jmap", "/jmap/") if dialect == "server" else ("/api",)
        is_session = method == "GET" and path in ("/jmap/session", "/.well-known/jmap")
        is_jmap_post = method == "POST" and path in jmap_paths
        request = None
        if is_jmap_post:
            try:
                request = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                request = None
        with sim.lock:
            sim.stats["requests"] += 1
            sim.stats["bytes_in"] += len(body)
            if is_session:
                sim.stats["session_requests"] += 1
            if is_jmap_post:
                sim.stats["posts"] += 1
            kind = "session" if is_session else (
                ("write" if is_write_request(request) else "read") if is_jmap_post else "other")
            fault = self.take_fault(kind, is_jmap_post and isinstance(request, dict))
            if len(sim.log) < LOG_LIMIT:
                sim.log.append({"at": round(time.monotonic() - sim.started, 4), "method": method, "path": path,
                                "class": kind, "fault": fault["kind"] if fault else None})
        if fault is not None:
            if fault["kind"] == "drop_before":
                self.close_connection = True
                return
            if fault["kind"] in HTTP_FAULT_KINDS and not fault.get("after"):
                return self.send_fault(fault)
            if fault["kind"] == "delay":
                time.sleep(float(fault.get("seconds", 1.0)))
            if fault["kind"] == "server_unavailable":
                calls = request.get("methodCalls") if isinstance(request, dict) else []
                answer = {"methodResponses": [
                    ["error", {"type": "serverUnavailable", "description": SERVER_UNAVAILABLE},
                     call[2] if isinstance(call, list) and len(call) == 3 else ""]
                    for call in (calls if isinstance(calls, list) else [])],
                    "sessionState": "00000000"}
                return self.send(200, answer)
        drop_after = fault is not None and fault["kind"] == "drop_after"
        error_after = fault is not None and fault["kind"] in HTTP_FAULT_KINDS and fault.get("after")
        try:
            status, payload, content_type, headers = self.route(method, path, body, dialect)
        except RequestError as error:
            status, payload, content_type, headers = (error.status, error.body,
                                                      "application/problem+json", error.headers)
        if drop_after:
            # The lost write: processed and committed, but the answer never leaves.
            self.close_connection = True
            return
        if error_after:
            # Processed and committed, then answered with an error (a gateway that gave up).
            return self.send_fault(fault)
        self.send(status, payload, content_type, headers)

    def take_fault(self, kind, is_jmap_request):
        """Pop the first queued fault matching this request class (caller holds the lock)."""
        for fault in self.sim.faults:
            if fault["match"] == "any" or fault["match"] == kind:
                if fault["kind"] == "server_unavailable" and not is_jmap_request:
                    continue  # only a JMAP call can be answered with method errors
                if fault.get("skip"):
                    fault["skip"] -= 1  # this many matching requests pass before the fault starts
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.sim.faults.remove(fault)
                return fault
        return None

    def send_fault(self, fault):
        status = int(fault["kind"][4:])
        body = {"type": "about:blank", "status": status, "title": HTTP_TITLES[status]}
        headers = []
        if status == 403:
            # §1.6: "Blocked IP or endpoint access denied"
            body["detail"] = "Access to this endpoint is denied."
        if status == 429:
            body["detail"] = "You have exceeded the request rate limit."
            headers = [("Retry-After", str(fault.get("retry_after", 1))),
                       ("RateLimit-Policy", '"requests";q=100;w=60'),
                       ("RateLimit", f'"requests";r=0;t={fault.get("retry_after", 1)}')]
        self.send_problem(RequestError(status, body["type"], body.get("detail"), body["title"],
                                       headers=headers))

    def route(self, method, path, body, dialect):
        """The non-control endpoints; returns (status, body, content type, headers)."""
        sim = self.sim
        if dialect == "server" and method in ("GET", "HEAD") and path == "/.well-known/jmap":
            return 307, b"", "text/plain", [("Location", "/jmap/session"), ("Cache-Control", "no-cache")]
        if dialect == "server" and method in ("GET", "HEAD") and path == "/jmap/session":
            account = self.authenticate()
            with sim.lock:
                return 200, sim.session(self.base_url(), account), "application/json; charset=utf-8", []
        if dialect == "server" and method == "OPTIONS" and (path == "/jmap" or path.startswith("/jmap/")):
            return 204, b"", "text/plain", []
        jmap_paths = ("/jmap", "/jmap/") if dialect == "server" else ("/api",)
        if method == "POST" and path in jmap_paths:
            return self.jmap(body)
        raise problem_not_found()

    def jmap(self, body):
        """One JMAP API request: auth, content type, size, parse, process (§1.5, §1.6)."""
        account = self.authenticate()
        if account is None:
            raise unauthorized()
        content_type = self.headers.get("Content-Type")
        if content_type is not None and content_type.split(";")[0].strip().lower() != "application/json":
            raise RequestError(400, "urn:ietf:params:jmap:error:notJSON",
                               "Failed to parse JSON: The Content-Type header must be application/json.")
        if len(body) > self.sim.limits["maxSizeRequest"]:
            raise RequestError(400, "urn:ietf:params:jmap:error:limit",
                               "The request exceeds the maximum allowed size.", limit="maxSizeRequest")
        sim = self.sim
        with sim.lock:
            request = sim.parse_request(body)
            response, committed = sim.process(request, account)
            if committed:
                sim.save()
        return 200, response, "application/json; charset=utf-8", []

    # -- control surface (/_sim/) ------------------------------------------------------------

    def control(self, method, path, body):
        """Test hooks; no auth, not counted in the stats."""
        sim = self.sim
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send(400, {"error": "body is not JSON"}, count=False)
        try:
            with sim.lock:
                if method == "GET" and path == "/_sim/stats":
                    answer = copy.deepcopy(sim.stats)
                elif method == "POST" and path == "/_sim/reset":
                    sim.reset(payload)
                    answer = {"ok": True, **sim.config()}
                elif method == "GET" and path == "/_sim/log":
                    answer = {"requests": list(sim.log)}
                elif method == "GET" and path == "/_sim/objects":
                    answer = sim.objects()
                elif method == "POST" and path == "/_sim/config":
                    answer = sim.configure(payload)
                elif method == "GET" and path == "/_sim/config":
                    answer = sim.config()
                elif method == "POST" and path == "/_sim/faults":
                    for fault in self.checked_faults(payload):
                        sim.faults.append(fault)
                    answer = {"faults": copy.deepcopy(sim.faults)}
                elif method == "POST" and path == "/_sim/refuse":
                    refusals = payload.get("names") if isinstance(payload, dict) else None
                    if not isinstance(refusals, dict) or not all(
                            value is None or isinstance(value, dict) for value in refusals.values()):
                        raise ValueError('expected {"names": {"<strategy name>": <SetError object or null>}}')
                    sim.refusals = dict(refusals)
                    answer = {"names": copy.deepcopy(sim.refusals)}
                elif method == "DELETE" and path == "/_sim/faults":
                    sim.faults = []
                    answer = {"faults": []}
                elif method == "GET" and path == "/_sim/faults":
                    answer = {"faults": copy.deepcopy(sim.faults)}
                else:
                    return self.send(404, {"error": f"no control endpoint {method} {path}"}, count=False)
        except ValueError as error:
            return self.send(400, {"error": str(error)}, count=False)
        return self.send(200, answer, count=False)

    @staticmethod
    def checked_faults(payload) -> list:
        """Validate ``{"faults": [...]}`` entries and fill in defaults."""
        faults = payload.get("faults") if isinstance(payload, dict) else None
        if not isinstance(faults, list):
            raise ValueError('expected {"faults": [...]}')
        checked = []
        for fault in faults:
            if not isinstance(fault, dict) or fault.get("kind") not in FAULT_KINDS:
                raise ValueError(f"bad fault {fault!r}; kinds: {', '.join(FAULT_KINDS)}")
            entry = {"kind": fault["kind"], "count": fault.get("count", 1),
                     "match": fault.get("match", "any")}
            if entry["match"] not in FAULT_MATCHES or not is_int(entry["count"]) or entry["count"] < 1:
                raise ValueError(f"bad fault {fault!r}")
            for key in ("retry_after", "seconds"):
                if key in fault:
                    entry[key] = fault[key]
            if "skip" in fault:
                if not is_int(fault["skip"]) or fault["skip"] < 0:
                    raise ValueError(f"bad fault {fault!r}: skip is a number of requests >= 0")
                entry["skip"] = fault["skip"]
            if fault.get("after"):
                if fault["kind"] not in AFTER_FAULT_KINDS:
                    raise ValueError(f"bad fault {fault!r}: 'after' applies to {', '.join(AFTER_FAULT_KINDS)}")
                entry["after"] = True
            checked.append(entry)
        return checked


class Server(ThreadingHTTPServer):
    """Threaded server: each connection in its own daemon thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    verbose = False

    def handle_error(self, request, client_address):
        """Quiet by default: a failed TLS handshake or a vanished client is routine in tests
        (faults, timeouts); the traceback is printed only with --verbose."""
        if self.verbose:
            super().handle_error(request, client_address)


def make_server(host, port, simulator, tls_context=None, verbose=False) -> Server:
    """Bind (IPv4 or IPv6 loopback) and attach the simulator."""
    server_class = Server
    if ":" in host:
        server_class = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    server = server_class((host, port), Handler)
    server.simulator = simulator
    server.tls_context = tls_context
    server.verbose = verbose
    server.display_host = f"[{host}]" if ":" in host else host
    return server


def is_loopback(host: str) -> bool:
    """Only loopback addresses may be bound: this fake must never be reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv=None):
    """The command line (see the module docstring and docs/simulator.md)."""
    parser = argparse.ArgumentParser(description="Stalwart JMAP API simulator (MtaConnectionStrategy)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dialect", choices=("server", "docs"), default="server")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--state-file")
    parser.add_argument("--max-objects-in-get", type=int, default=500)
    parser.add_argument("--max-objects-in-set", type=int, default=500)
    parser.add_argument("--max-calls-in-request", type=int, default=16)
    parser.add_argument("--max-size-request", type=int, default=10_000_000)
    parser.add_argument("--no-seed", action="store_true", help="start without the default strategy")
    parser.add_argument("--token", action="append", default=[], metavar="NAME=PERMS",
                        help="extra Bearer token; PERMS comma-separated, or all/readonly/none/nooutbound")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to bind {args.host}: only loopback addresses are allowed")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    for value in (args.max_objects_in_get, args.max_objects_in_set, args.max_calls_in_request,
                  args.max_size_request):
        if value < 1:
            parser.error("limits must be positive")
    return args


def main(argv=None) -> int:
    """Start the simulator, print the listening line, serve until SIGTERM/SIGINT."""
    args = parse_args(argv)
    tokens = {}
    for spec in args.token:
        name, separator, permissions = spec.partition("=")
        if not name or not separator:
            print(f"bad --token {name or '?'}=...: expected NAME=perm1,perm2", file=sys.stderr)
            return 2
        tokens[name] = parse_permissions(permissions)
    limits = {"maxObjectsInGet": args.max_objects_in_get, "maxObjectsInSet": args.max_objects_in_set,
              "maxCallsInRequest": args.max_calls_in_request, "maxSizeRequest": args.max_size_request}
    try:
        simulator = Simulator(args.dialect, limits, seed=not args.no_seed, state_file=args.state_file,
                              tokens=tokens)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"cannot use the state file {args.state_file}: {error}", file=sys.stderr)
        return 2
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    server = make_server(args.host, args.port, simulator, context, args.verbose)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheme = "https" if context else "http"
    print(f"stalwart-sim listening on {scheme}://{server.display_host}:{server.server_port} "
          f"dialect={args.dialect}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
