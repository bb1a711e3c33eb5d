# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Value kinds: how one option's value is checked, compared, written and shown.

An object type (``_objects``) declares its fields by kind. A kind turns what a user wrote into the
comparison form (``normalise``: ``5m`` and ``300000`` are both ``300000``), compares two values
(``equal``: a reordered source-IP list is no change), encodes them for either dialect of the API
(``to_wire``), decodes what the server returns (``from_wire``), shows them in the modules' input
form (``to_info``) and counts the bytes the server stores for them (``size``). Each rule follows
what the server does; docs/stalwart-api.md gives the server's side and its source files.

Pure: no HTTP, no Ansible. Bad input raises the ``InputError`` that ``context.error`` builds
(naming the object, the option, what was wrong and what is accepted).
"""

from __future__ import annotations

import collections
import ipaddress
import re

from ansible_collections.stalwart.mail.plugins.module_utils._errors import shorten
from ansible_collections.stalwart.mail.plugins.module_utils._tlds import PUBLIC_SUFFIX_TLDS, RESERVED_TLDS

# --- durations -----------------------------------------------------------------------------------

UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
UNIT_MS = dict(UNITS)
_DURATION_TERM = re.compile(r"([0-9]+)(ms|s|m|h|d)")  # ASCII digits only: \d would take "５" and "٣"
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
        if text.isascii() and text.isdigit():
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
    match = re.fullmatch(r"[0-9]+(ms|s|m|h|d)", text)
    return match.group(1) if match else None


def render_duration(milliseconds, unit=None):
    """Milliseconds as ``<n><unit>``: in ``unit`` when exact, else the largest exact unit
    (``300000`` → ``5m``, ``90000`` → ``90s``, ``1500`` → ``1500ms``). One unit only: this is
    also the wire form of the documented dialect, whose parser takes no compounds
    (docs/stalwart-api.md, "Endpoints and dialects")."""
    if unit in UNIT_MS and milliseconds % UNIT_MS[unit] == 0:
        return f"{milliseconds // UNIT_MS[unit]}{unit}"
    for name, size in UNITS:
        if milliseconds % size == 0:
            return f"{milliseconds // size}{name}"
    return f"{milliseconds}ms"  # pragma: no cover - size 1 always divides


# --- IPs and host names ---------------------------------------------------------------------------
IP_ACCEPTED = "expected an IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10 (no prefix length, no spaces)"
HOSTNAME_ACCEPTED = ("expected a host name with at least one dot and a known top-level domain such as "
                     "mx.example.com (no empty label, no trailing dot; IDN allowed) or an IP literal")
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


def ip_literal(text):
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

    The server also stores names that DNS cannot carry (``m!x.example.com``, ``-mx.example.com``,
    a label of 64 characters): so does the module, with a warning (``dns_problem``), so that
    what the info module returns pastes back. ``""`` is handled by the caller."""
    if not isinstance(value, str):
        raise ValueError(f"{shorten(value)} is not a string")
    literal = ip_literal(value)
    if literal is not None:
        return literal
    text = "".join(char for char in value if char not in WHITE_SPACE)
    if not text:
        raise ValueError(f"{shorten(value)} is only white space")
    previous = ""
    for char in text:
        if char == "." and not (previous.isalnum() or previous in ("-", "_")):
            raise ValueError(f"{shorten(value)} has a dot that does not follow a letter, digit, '-' or '_' (an empty "
                             "label, a leading dot, or a dot after a symbol or a combining mark)")
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
    top = text.rsplit(".", 1)[-1]
    if top not in PUBLIC_SUFFIX_TLDS and top not in RESERVED_TLDS:
        raise ValueError(f"{shorten(value)} has the top-level domain {shorten(top)}, which is neither in the Public "
                         f"Suffix List nor one of {', '.join(sorted(RESERVED_TLDS))}")
    return text


def dns_problem(name):
    """Why DNS cannot carry ``name`` (a host name as ``normalise_hostname`` returns it), or None:
    a label must be letters, digits, ``-`` and ``_``, 1 to 63 characters, without a leading or
    trailing ``-``, and the name at most 253 characters. An IP literal has none."""
    if not isinstance(name, str) or ip_literal(name) is not None:
        return None
    for label in name.split("."):
        if len(label) > 63:
            return "has a label longer than 63 characters"
        if not _LABEL.match(label):
            return "has a label with characters other than letters, digits, '-' and '_'"
        if label.startswith("-") or label.endswith("-"):
            return "has a label that starts or ends with '-'"
    if len(name) > 253:
        return "is longer than 253 characters"
    return None


def lenient_hostname(value):
    """A host name read from the server, normalised when possible (never fails)."""
    if value is None or value == "":
        return None
    try:
        return normalise_hostname(value)
    except ValueError:
        return str(value).lower()


# --- plain values ---------------------------------------------------------------------------------


# the longest wait an option may ask for (the HTTP timeout, the resolver's times): a day. Far
# larger values (1e10, inf) overflowed the platform's clock inside socket and thread waits and
# crashed the module instead of failing with a message.
MAX_WAIT_SECONDS = 86_400
SECONDS_ACCEPTED = f"expected a number of seconds > 0 and at most {MAX_WAIT_SECONDS} (a day)"


def is_wait_seconds(value):
    """True for a number of seconds an option may wait: > 0, at most ``MAX_WAIT_SECONDS``."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 < value <= MAX_WAIT_SECONDS)  # NaN fails both comparisons


# why a boolean came where a name was meant: every message that refuses one says it in these words
YAML_BOOLEAN = "YAML reads an unquoted yes, no, true, false, on or off as a boolean"


def as_text(value):
    """A scalar as Ansible's ``str`` type would take it (numbers as their text), else None: a
    list or a dict is not text, and booleans are refused (an unquoted ``yes`` in YAML)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def leb128_size(number):
    """Bytes of ``number`` as the server's variable-length integer (unsigned LEB128)."""
    size = 1
    while number >= 0x80:
        number >>= 7
        size += 1
    return size


def text_size(value):
    """Bytes the server stores for a string: its UTF-8 length, then its bytes."""
    length = len(value.encode("utf-8", "surrogatepass"))
    return leb128_size(length) + length


def optional_size(value):
    """Bytes for an optional string: a 0/1 byte, then the string."""
    return 1 if value is None else 1 + text_size(value)


# --- the kinds ------------------------------------------------------------------------------------


class Kind:
    """The behaviour every kind shares; a kind overrides what differs."""

    name = "kind"

    def spec(self):
        """The argument spec entry of an option of this kind."""
        return {"type": "raw"}

    def normalise(self, raw, context, option):
        raise NotImplementedError  # pragma: no cover

    def equal(self, current, desired):
        return current == desired

    def unit(self, raw):
        """The unit a duration was written in, to show it back in that unit; None here."""
        return None

    def to_wire(self, value, durations_as_strings=False):
        return value

    def from_wire(self, value, default):
        return default if value is None else value

    def to_info(self, value, unit=None):
        return value

    def size(self, value):
        return 0


def not_text(raw):
    """The reason a value that is no text is refused; for a boolean, why YAML made it one."""
    if isinstance(raw, bool):
        return f"expected a string, got the boolean {str(raw).lower()} ({YAML_BOOLEAN}): quote it"
    return f"expected a string, got {shorten(raw)}"


class Text(Kind):
    """A free-text string; ``""`` clears it (the server refuses ``""`` for a string: ``null``
    clears)."""

    name = "text"

    def normalise(self, raw, context, option):
        text = as_text(raw)
        if text is None:
            raise context.error(option, not_text(raw))
        return None if text == "" else text

    def from_wire(self, value, default):
        return None if value is None or value == "" else value

    def size(self, value):
        return optional_size(value)


class Hostname(Text):
    """A host name or IP literal, compared as the server stores it (``normalise_hostname``)."""

    name = "hostname"

    def normalise(self, raw, context, option):
        text = as_text(raw)
        if text is None:
            raise context.error(option, not_text(raw))
        if text == "":
            return None
        try:
            name = normalise_hostname(text)
        except ValueError as reason:
            raise context.error(option, f"not a valid host name: {reason}", HOSTNAME_ACCEPTED) from None
        problem = dns_problem(name)
        if problem:
            # the server stores it (and the info module returns it): written, with a warning
            context.warn(option, f"{shorten(name)} {problem}, so DNS cannot carry it: receivers refuse or distrust "
                                 "such an EHLO name; written as given, since the server accepts it")
        return name

    def from_wire(self, value, default):
        return lenient_hostname(value)


class Duration(Kind):
    """Milliseconds; ``5m``-style strings accepted (``normalise_duration``). The server's dialect
    writes integers, the documented one strings in one unit."""

    name = "duration"

    def normalise(self, raw, context, option):
        try:
            return normalise_duration(raw)
        except ValueError as reason:
            raise context.error(option, str(reason), DURATION_ACCEPTED) from None

    def unit(self, raw):
        return duration_unit(raw)

    def to_wire(self, value, durations_as_strings=False):
        return render_duration(value) if durations_as_strings else value

    def from_wire(self, value, default):
        if value is None:
            return default
        try:
            return normalise_duration(value)
        except ValueError:
            return value  # unexpected: kept as the server said it, so it compares unequal

    def to_info(self, value, unit=None):
        return render_duration(value, unit) if isinstance(value, int) else value

    def size(self, value):
        return leb128_size(value if isinstance(value, int) and value > 0 else 0)


# The keys of one source_ips entry: option -> wire name
SOURCE_IP_KEYS = {"ip": "sourceIp", "ehlo_hostname": "ehloHostname"}
SOURCE_IP_WIRE = {wire: option for option, wire in SOURCE_IP_KEYS.items()}


class SourceIps(Kind):
    """A list of ``{ip, ehlo_hostname}``. The server picks one address at random per delivery,
    so lists compare as multisets; on the wire a list is an object keyed by position
    (``{"0": ..., "1": ...}``) and is always written whole."""

    name = "source_ips"

    def spec(self):
        # entries are checked here, not by Ansible: its messages for a bad list item name neither
        # the object nor the position
        return {"type": "list", "elements": "dict"}

    def suboptions(self):
        """The documented keys of one entry: the doc fragment and the role's argument spec must say
        the same (unit tests hold them to it)."""
        return {"ip": {"type": "str", "required": True, "aliases": ["source_ip"]}, "ehlo_hostname": {"type": "str"}}

    def normalise(self, raw, context, option):
        if not isinstance(raw, (list, tuple)):
            raise context.error(option, f"expected a list of dicts with keys ip and ehlo_hostname, got {shorten(raw)}")
        entries = []
        allowed = set(SOURCE_IP_KEYS) | {"source_ip"}
        for index, entry in enumerate(raw):
            where = f"{option}[{index}]"
            if not isinstance(entry, dict):
                raise context.error(where, f"expected a dict with keys ip and ehlo_hostname, got {shorten(entry)}")
            unknown = sorted(str(key) for key in entry if key not in allowed)
            if unknown:
                raise context.error(where, f"unsupported key(s) {', '.join(unknown)}",
                                    "supported keys: ip (alias source_ip), ehlo_hostname")
            ip_value, alias_value = entry.get("ip"), entry.get("source_ip")
            if ip_value is None:
                ip_value = alias_value
            elif alias_value is not None and alias_value != ip_value:
                raise context.error(f"{where}.ip", "ip and its alias source_ip are both set, to different values",
                                    "set only one of them")
            if ip_value is None or ip_value == "":
                raise context.error(f"{where}.ip", "the address is missing (required)", IP_ACCEPTED)
            text = as_text(ip_value)
            try:
                ip = canonical_ip(text if text is not None else ip_value)
            except ValueError:
                raise context.error(f"{where}.ip", f"{shorten(ip_value)} is not an IP address", IP_ACCEPTED) from None
            if ip == "0.0.0.0":
                raise context.error(f"{where}.ip", "0.0.0.0 (the unspecified address) is refused by the server",
                                    IP_ACCEPTED + " other than 0.0.0.0")
            ehlo = HOSTNAME.normalise(entry.get("ehlo_hostname") if entry.get("ehlo_hostname") is not None else "",
                                      context, f"{where}.ehlo_hostname")
            entries.append({"ip": ip, "ehlo_hostname": ehlo})
        return entries

    def equal(self, current, desired):
        return self.multiset(current) == self.multiset(desired)

    @staticmethod
    def multiset(entries):
        return collections.Counter((entry["ip"], entry.get("ehlo_hostname")) for entry in entries or ())

    def to_wire(self, value, durations_as_strings=False):
        listing = {}
        for index, entry in enumerate(value or ()):
            item = {"sourceIp": entry["ip"]}
            if entry.get("ehlo_hostname"):
                item["ehloHostname"] = entry["ehlo_hostname"]
            listing[str(index)] = item
        return listing

    def from_wire(self, value, default):
        entries = []
        for item in positions(value):
            if isinstance(item, dict):
                ip = item.get("sourceIp")
                entries.append({"ip": ip_literal(ip) or ip, "ehlo_hostname": lenient_hostname(item.get("ehloHostname"))})
        return entries

    def to_info(self, value, unit=None):
        return [{"ip": entry["ip"], "ehlo_hostname": entry.get("ehlo_hostname")} for entry in value or ()]

    def size(self, value):
        entries = value or ()
        return leb128_size(len(entries)) + sum(
            optional_size(entry.get("ehlo_hostname")) + 1 + (16 if ":" in entry["ip"] else 4) for entry in entries)

    @staticmethod
    def option_for_path(option, parts):
        """A SetError path below this list (``0/ehloHostname``, ``sourceIp``) → the option."""
        index = parts[0] if parts and parts[0].isdigit() else ""
        rest = parts[1:] if parts and parts[0].isdigit() else parts
        text = f"{option}[{index}]"
        if rest:
            text += "." + SOURCE_IP_WIRE.get(rest[0], rest[0])
        return text


def positions(value):
    """The items of a list as the server sends it (an object keyed by position), in order; an
    array is taken too."""
    if isinstance(value, dict):
        try:
            return [value[key] for key in sorted(value, key=int)]
        except (TypeError, ValueError):
            return list(value.values())
    if isinstance(value, list):
        return value
    return []


# --- expressions (the outbound strategy) ----------------------------------------------------------

EXPRESSION_KEYS = ("rules", "else", "else_expr")  # the keys of an expression option
RULE_KEYS = ("if", "then", "then_expr")  # the keys of one of its rules
RULE_ACCEPTED = "each rule is {if: <condition>, then: <name>} or {if, then_expr}"
EXPRESSION_ACCEPTED = ("expected a dict with rules (a list of {if: <condition>, then: <name>} or {if, "
                       "then_expr: <expression>}) and else: <name> (or else_expr: <expression>)")
# what a backslash makes of the character after it in a string literal (the backslash is kept too)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def name_literal(name):
    """A name as a string literal of Stalwart's expression language, or None when it cannot be
    written as one: the server's parser keeps a backslash in the string it reads, so a name
    with both kinds of quote, or with a backslash, has no literal form (docs/stalwart-api.md,
    "Expressions")."""
    if "\\" in name:
        return None
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    return None


def string_literals(expression):
    """The string literals of an expression as Stalwart's tokenizer reads them
    (``crates/common/src/expr/tokenizer.rs``, ``parse_string``): ``(start, end, text)`` for each,
    in order. A string starts at a quote (``'`` or ``"``) and ends at the next one of the same kind
    that does not follow a backslash; a backslash is kept in the text, and the character after it
    never ends the string (``\\n``, ``\\r``, ``\\t`` become a line feed, a carriage return, a tab,
    after the kept backslash). An unterminated string ends the list (the server refuses it)."""
    literals = []
    text = expression if isinstance(expression, str) else ""
    start = 0
    while start < len(text):
        quote = text[start]
        if quote not in "'\"":
            start += 1
            continue
        read, last, end = [], "", None
        for position in range(start + 1, len(text)):
            char = text[position]
            if last != "\\":
                if char == quote:
                    end = position
                    break
                read.append(char)
            else:
                read.append(_ESCAPES.get(char, char))
            last = char
        if end is None:
            break
        literals.append((start, end + 1, "".join(read)))
        start = end + 1
    return literals


def literal_name(expression):
    """The name an expression that is only a string literal stands for (``'bulk'`` → ``bulk``),
    read as the server reads it; else None (a computed expression)."""
    text = expression.strip() if isinstance(expression, str) else ""
    literals = string_literals(text)
    if len(literals) == 1 and literals[0][:2] == (0, len(text)):
        return literals[0][2]
    return None


def _unquoted(value):
    """The hint for a boolean where text was expected (``YAML_BOOLEAN``), else nothing."""
    return f" ({YAML_BOOLEAN}: quote it)" if isinstance(value, bool) else ""


class Expression(Kind):
    """One of the outbound strategy's routing expressions: ordered rules ``if`` → ``then`` and an
    ``else``. In the modules' form a ``then``/``else`` is a name (written to the server as the
    string literal ``'<name>'``) or, as ``then_expr``/``else_expr``, a raw expression. Compared as
    the server stores it, trimmed, rule by rule in order. On the wire: ``{"match": {"0": {"if",
    "then"}, ...}, "else": ...}``; the server patches an object value into what it holds, so both
    ``match`` and ``else`` are always written."""

    name = "expression"

    def spec(self):
        return {"type": "dict"}

    def normalise(self, raw, context, option):
        if not isinstance(raw, dict):
            raise context.error(option, f"expected a dict, got {shorten(raw)}", EXPRESSION_ACCEPTED)
        unknown = sorted(str(key) for key in raw if key not in EXPRESSION_KEYS)
        if unknown:
            raise context.error(option, f"unsupported key(s) {', '.join(unknown)}",
                                "supported keys: " + ", ".join(EXPRESSION_KEYS))
        rules = raw.get("rules")
        rules = [] if rules is None else rules
        if not isinstance(rules, list):
            raise context.error(f"{option}.rules", f"expected a list of rules, got {shorten(rules)}",
                                RULE_ACCEPTED)
        normalised = []
        for index, rule in enumerate(rules):
            where = f"{option}.rules[{index}]"
            if not isinstance(rule, dict):
                raise context.error(where, f"expected a dict, got {shorten(rule)}",
                                    RULE_ACCEPTED)
            unknown = sorted(str(key) for key in rule if key not in RULE_KEYS)
            if unknown:
                raise context.error(where, f"unsupported key(s) {', '.join(unknown)}",
                                    "supported keys: " + ", ".join(RULE_KEYS))
            if rule.get("if") is None:
                raise context.error(f"{where}.if", "missing: each rule needs a condition",
                                    RULE_ACCEPTED)
            condition = self._expression(rule.get("if"), context, f"{where}.if")
            normalised.append((condition, self._target(rule, "then", context, where)))
        return {"rules": normalised, "else": self._target(raw, "else", context, option)}

    def _expression(self, raw, context, where):
        text = as_text(raw)
        if text is None and raw is not None:
            raise context.error(where, f"expected an expression (a string), got {shorten(raw)}{_unquoted(raw)}")
        if text is None or not text.strip():
            raise context.error(where, f"expected a non-empty expression, got {shorten(raw)}")
        return text.strip()

    def _target(self, raw, key, context, where):
        name, expression = raw.get(key), raw.get(f"{key}_expr")
        if (name is None) == (expression is None):
            raise context.error(f"{where}.{key}", f"give exactly one of {key} (a name) and {key}_expr (an expression)")
        if expression is not None:
            return self._expression(expression, context, f"{where}.{key}_expr")
        text = as_text(name)
        if text is None:
            raise context.error(f"{where}.{key}", f"expected a name (a string), got {shorten(name)}{_unquoted(name)}")
        if not text:
            raise context.error(f"{where}.{key}", f"expected a non-empty name, got {shorten(name)}")
        literal = name_literal(text)
        if literal is None:
            raise context.error(f"{where}.{key}", f"the name {shorten(text)} cannot be written as a string "
                                "literal of Stalwart's expressions (it holds a backslash, or both kinds of quote)",
                                f"use {key}_expr with an expression of your own")
        return literal

    def to_wire(self, value, durations_as_strings=False):
        return {"match": {str(index): {"if": condition, "then": then} for index, (condition, then)
                          in enumerate(value["rules"])}, "else": value["else"]}

    def from_wire(self, value, default):
        if not isinstance(value, dict):
            return default
        rules = []
        for item in positions(value.get("match")):
            if isinstance(item, dict):
                rules.append((str(item.get("if") or "").strip(), str(item.get("then") or "").strip()))
        otherwise = value.get("else")
        return {"rules": rules, "else": str(otherwise).strip() if otherwise is not None else default["else"]}

    def to_info(self, value, unit=None):
        def target(key, expression):
            # a name only where this module would write that very literal for it: a name in the
            # other quotes ("bulk" where it writes 'bulk') or an empty one ('') is shown as the
            # expression it is, so that the output pastes back with no change
            name = literal_name(expression)
            if name and name_literal(name) == expression:
                return {key: name}
            return {f"{key}_expr": expression}

        info = {"rules": [dict({"if": condition}, **target("then", then)) for condition, then in value["rules"]]}
        info.update(target("else", value["else"]))
        return info

    @staticmethod
    def targets(value):
        """Its ``then``s and its ``else``, each with where it is in the module's input form:
        ``[("rules[0].then", "'bulk'"), ..., ("else", "'default'")]``."""
        return [(f"rules[{index}].then", then) for index, (_condition, then) in enumerate(value["rules"])] + [
            ("else", value["else"])]

    @staticmethod
    def computed(value):
        """Its ``then``s and ``else`` that compute a name (anything but one string literal), with
        where they are (``rules[1].then_expr``): such an expression may evaluate to any name."""
        return [(f"{where}_expr", expression) for where, expression in Expression.targets(value)
                if literal_name(expression) is None]

    @staticmethod
    def names(value):
        """The strategy names the expression can evaluate to: those of its literal ``then``s and
        ``else``; None when one of them computes its name (``computed``), as any name may then come out."""
        if Expression.computed(value):
            return None
        return {literal_name(expression) for _where, expression in Expression.targets(value)}

    @staticmethod
    def literal_names(value):
        """The names its literal ``then``/``else`` route to (what must exist as strategies)."""
        names = []
        for _where, expression in Expression.targets(value):
            name = literal_name(expression)
            if name is not None and name not in names:
                names.append(name)
        return names


TEXT = Text()
HOSTNAME = Hostname()
DURATION = Duration()
SOURCE_IPS = SourceIps()
EXPRESSION = Expression()
