# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The deliverability check: which (source IP, EHLO name) pairs the server will use, what DNS
must say about each, and the findings, each with a message that says what was found, what was
expected and who can fix it.

The server's behaviour this follows (docs/deliverability.md gives the sources):

- per delivery it picks one source IP of the strategy at random, of the remote address's family;
  with none of that family it connects unbound and the kernel picks the address (``implicit_family``);
- it binds that address before connecting, and a bind that fails fails the delivery (``bind``,
  from ``stalwart.mail.source_ip_probe`` run on the mail host);
- it announces the IP's ``ehlo_hostname``, else the strategy's, else its own host name
  (``default_ehlo``);
- receivers look up the PTR of the address they see (the public one behind 1:1 NAT:
  ``public_ips``) and require one of its first two names to resolve back to it (forward-confirmed
  reverse DNS, as Stalwart's own iprev check does), and score an EHLO name that does not resolve,
  does not contain the address, or differs from the PTR name.

Pure: the DNS answers come from a ``lookup(questions) -> {question: Answer}`` callable
(``_dns.Lookups.run``), so that the tables of the unit tests need no DNS server. Bad input raises
``InputError`` before any lookup or request.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.stalwart.mail.plugins.module_utils import _values
from ansible_collections.stalwart.mail.plugins.module_utils._dns import FOUND, UNKNOWN, reverse_name
from ansible_collections.stalwart.mail.plugins.module_utils._errors import InputError, shorten

CHECKS = ("ehlo_forward", "ehlo_contains_ip", "ptr", "fcrdns", "ehlo_matches_ptr", "implicit_family",
          "generic_ptr", "bind")
SEVERITY = {"ehlo_forward": "error", "ehlo_contains_ip": "warning", "ptr": "error", "fcrdns": "error",
            "ehlo_matches_ptr": "warning", "implicit_family": "warning", "generic_ptr": "info", "bind": "error"}
SEVERITIES = ("error", "warning", "info", "unknown")
PTR_CHECKS = frozenset(("ptr", "fcrdns", "ehlo_matches_ptr", "generic_ptr"))
EHLO_CHECKS = frozenset(("ehlo_forward", "ehlo_contains_ip", "ehlo_matches_ptr"))
DNS_CHECKS = PTR_CHECKS | {"ehlo_forward", "ehlo_contains_ip"}
MODES = ("warn", "fail")
ORIGINS = {"source_ip": "the source IP's ehlo_hostname", "strategy": "the strategy's ehlo_hostname",
           "default_ehlo": "default_ehlo, the server's host name"}
FAMILY_RECORD = {4: "A", 6: "AAAA"}
FAMILY_NAME = {4: "IPv4", 6: "IPv6"}
# Stalwart's iprev (and receivers that follow RFC 8601) try only the first two PTR names
PTR_NAMES_TRIED = 2
# the PTR names whose A/AAAA are looked up: with more than two, which two come first is up to the
# DNS server (records of one name have no order, and servers rotate them), so the others are
# looked up too, to say whether another order fails (at most this many: a PTR set is small)
PTR_NAMES_LOOKED_UP = 8

PTR_OWNER = "The PTR record belongs to the owner of {ip}, usually the hosting provider"
UNKNOWN_ADVICE = ("Nothing is known to be wrong yet, and this never fails the check: make sure the resolver answers "
                  "(resolver.nameservers, resolver.timeout) or give the lookups more time (resolver.budget).")
IP_ACCEPTED = _values.IP_ACCEPTED


# --- input ---------------------------------------------------------------------------------------------


def _ip(value, option):
    text = _values.as_text(value)
    try:
        return _values.canonical_ip(text if text is not None else value)
    except ValueError:
        raise InputError(f"{option}: {shorten(value)} is not an IP address; {IP_ACCEPTED}", option=option) from None


def normalise_public_ips(raw):
    """``public_ips`` (private → public, for 1:1 NAT) with both sides in canonical form."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"public_ips: expected a dict from a source IP to the public IP receivers see, such as "
                         f"{{'10.0.0.5': '192.0.2.5'}}, got {shorten(raw)}", option="public_ips")
    mapping = {}
    for private, public in raw.items():
        source = _ip(private, "public_ips")
        seen = _ip(public, f"public_ips[{source}]")
        if ipaddress.ip_address(source).version != ipaddress.ip_address(seen).version:
            raise InputError(f"public_ips[{source}]: {seen} is of another address family than {source}; 1:1 NAT maps "
                             "an address to one of the same family", option=f"public_ips[{source}]")
        mapping[source] = seen
    return mapping


def normalise_default_ehlo(raw):
    """The server's host name as the check compares names: without the trailing dot of a fully
    qualified name (``mx1.example.org.``), which the server's own setting may carry; a strategy's
    ``ehlo_hostname`` is the server's to refuse with one."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and raw.strip().endswith(".") and not raw.strip().endswith(".."):
        raw = raw.strip()[:-1]
    try:
        return _values.normalise_hostname(raw)
    except ValueError as reason:
        raise InputError(f"default_ehlo: not a valid host name: {reason}; {_values.HOSTNAME_ACCEPTED}",
                         option="default_ehlo") from None


def normalise_checks(raw):
    if raw is None:
        return list(CHECKS)
    unknown = [str(check) for check in raw if check not in CHECKS]
    if unknown:
        raise InputError(f"checks: unknown check(s) {', '.join(unknown)}; accepted: {', '.join(CHECKS)}", option="checks")
    return [check for check in CHECKS if check in raw]


def normalise_resolver(raw):
    """The ``resolver`` option with its values checked (``None`` entries take ``_dns.DEFAULTS``)."""
    raw = dict(raw or {})
    settings = {}
    nameservers = raw.get("nameservers")
    if nameservers:
        settings["nameservers"] = [_ip(server, "resolver.nameservers") for server in nameservers]
    port = raw.get("port")
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InputError(f"resolver.port: expected a port number from 1 to 65535, got {shorten(port)}",
                             option="resolver.port")
        settings["port"] = port
    for key in ("timeout", "lifetime", "budget"):
        value = raw.get(key)
        if value is None:
            continue
        if not _values.is_wait_seconds(value):
            raise InputError(f"resolver.{key}: {_values.SECONDS_ACCEPTED}, got {shorten(value)}",
                             option=f"resolver.{key}")
        settings[key] = float(value)
    if raw.get("tcp") is not None:
        settings["tcp"] = bool(raw["tcp"])
    return settings


def normalise_host_addresses(raw):
    return [_ip(address, "host_addresses") for address in raw or ()]


class Probe:
    """What ``stalwart.mail.source_ip_probe`` found on the mail host: ``bind`` (IP → its entry)
    and ``global_addresses``."""

    def __init__(self, bind=None, global_addresses=(), hostname=None):
        self.bind = bind or {}
        self.global_addresses = list(global_addresses)
        self.hostname = hostname


def normalise_probe(raw):
    """The ``probe`` option (the registered result of ``source_ip_probe``), or None. A skipped
    probe (the role skips it when no strategy has a source IP) counts as none."""
    if raw is None or (isinstance(raw, dict) and (raw.get("skipped") or not raw)):
        return None
    accepted = "expected the registered result of stalwart.mail.source_ip_probe (a dict with ips and global_addresses)"
    if isinstance(raw, dict) and (raw.get("unreachable") or raw.get("failed")):
        # the probe's task did not run on the mail host (ignore_unreachable or ignore_errors let it through)
        said = raw.get("msg")
        raise InputError(f"probe: the bind probe (stalwart.mail.source_ip_probe) did not run on the mail host: "
                         f"{'unreachable' if raw.get('unreachable') else 'failed'}"
                         f"{f' ({shorten(said)})' if said else ''}; fix the connection to it, or leave the bind test "
                         "out (the role: stalwart_deliverability_probe_bind: false)", option="probe")
    if not isinstance(raw, dict) or not isinstance(raw.get("ips"), list):
        raise InputError(f"probe: {accepted}, got {shorten(raw)}", option="probe")
    bind = {}
    for index, entry in enumerate(raw["ips"]):
        if not isinstance(entry, dict) or "bindable" not in entry:
            raise InputError(f"probe.ips[{index}]: {accepted}, got {shorten(entry)}", option="probe")
        bind[_ip(entry.get("ip"), f"probe.ips[{index}].ip")] = entry
    addresses = [_ip(address, "probe.global_addresses") for address in raw.get("global_addresses") or ()]
    return Probe(bind, addresses, raw.get("hostname"))


class Settings:
    """Every option of the check but the strategies, normalised."""

    def __init__(self, checks=None, public_ips=None, default_ehlo=None, resolver=None, mode="warn", probe=None,
                 host_addresses=None):
        self.checks = normalise_checks(checks)
        self.public_ips = normalise_public_ips(public_ips)
        self.default_ehlo = normalise_default_ehlo(default_ehlo)
        self.resolver = normalise_resolver(resolver)
        if mode not in MODES:
            raise InputError(f"mode: {shorten(mode)} is not a mode; accepted: {', '.join(MODES)}", option="mode")
        self.mode = mode
        self.probe = normalise_probe(probe)
        self.host_addresses = normalise_host_addresses(host_addresses)

    @classmethod
    def from_params(cls, params):
        return cls(checks=params.get("checks"), public_ips=params.get("public_ips"),
                   default_ehlo=params.get("default_ehlo"), resolver=params.get("resolver"),
                   mode=params.get("mode") or "warn", probe=params.get("probe"),
                   host_addresses=params.get("host_addresses"))

    def wants(self, *checks):
        return any(check in self.checks for check in checks)

    def needs_dns(self):
        return self.wants(*DNS_CHECKS)


# --- the strategies as the server will hold them -------------------------------------------------------


def strategy_view(name, ehlo_hostname, source_ips):
    """What the check reads of a strategy: its name, EHLO name and source IPs (normalised)."""
    return {"name": name, "ehlo_hostname": ehlo_hostname,
            "source_ips": [{"ip": entry["ip"], "ehlo_hostname": entry.get("ehlo_hostname")} for entry in source_ips or ()]}


def from_server(current):
    """The strategies read from the server (``_service.read``'s ``current``), sorted by name."""
    return [strategy_view(name, obj.get("ehlo_hostname"), obj.get("source_ips")) for name, obj in sorted(current.items())]


def names_to_read(desired, settings):
    """The present strategies of ``desired`` (``_objects.normalise_item`` results) that leave out
    an option deciding a pair: ``source_ips``, or ``ehlo_hostname`` while a source IP has no EHLO
    name of its own. What such an item leaves out stays as the server holds it, so it is read."""
    names = []
    for item in desired:
        if item["state"] != "present":
            continue
        values = item["values"]
        if "source_ips" not in values:
            if settings.wants(*CHECKS):
                names.append(item["name"])
        elif "ehlo_hostname" not in values and settings.wants(*EHLO_CHECKS) and any(
                not entry.get("ehlo_hostname") for entry in values["source_ips"]):
            names.append(item["name"])
    return names


def from_desired(desired, current):
    """The present strategies of ``desired`` as they will be once applied: what an item gives,
    else what the server holds (``current``, name → normalised object), else nothing."""
    strategies = []
    for item in desired:
        if item["state"] != "present":
            continue
        values, stored = item["values"], current.get(item["name"]) or {}
        ehlo = values["ehlo_hostname"] if "ehlo_hostname" in values else stored.get("ehlo_hostname")
        source_ips = values["source_ips"] if "source_ips" in values else stored.get("source_ips")
        strategies.append(strategy_view(item["name"], ehlo, source_ips))
    return strategies


# --- pairs -------------------------------------------------------------------------------------------


class Pair:
    """One source IP of one strategy, with the EHLO name announced from it and the address the
    receivers see."""

    def __init__(self, strategy, source_ip, public_ip, ehlo, ehlo_origin):
        self.strategy = strategy
        self.source_ip = source_ip
        self.public_ip = public_ip
        self.ehlo = ehlo
        self.ehlo_origin = ehlo_origin
        self.family = ipaddress.ip_address(public_ip).version if public_ip else None
        self.ehlo_literal = bool(ehlo) and _values.ip_literal(ehlo) is not None
        self.skip_ip_dns = False  # a private address that no mapping makes public

    def fields(self):
        return {"strategy": self.strategy, "source_ip": self.source_ip, "public_ip": self.public_ip,
                "ehlo": self.ehlo, "ehlo_origin": self.ehlo_origin}


def effective_ehlo(entry_ehlo, strategy_ehlo, default_ehlo):
    """The EHLO name the server announces from a source IP, and where it comes from."""
    if entry_ehlo:
        return entry_ehlo, "source_ip"
    if strategy_ehlo:
        return strategy_ehlo, "strategy"
    if default_ehlo:
        return default_ehlo, "default_ehlo"
    return None, None


def pairs_of(strategies, settings):
    """Every (strategy, source IP, EHLO name) once, in the order given."""
    pairs, seen = [], set()
    for strategy in strategies:
        for entry in strategy["source_ips"]:
            ehlo, origin = effective_ehlo(entry.get("ehlo_hostname"), strategy["ehlo_hostname"], settings.default_ehlo)
            key = (strategy["name"], entry["ip"], ehlo)
            if key in seen:
                continue
            seen.add(key)
            public = settings.public_ips.get(entry["ip"], entry["ip"])
            pair = Pair(strategy["name"], entry["ip"], public, ehlo, origin)
            # receivers never see a private address; only a DNS server of the user's own knows it
            pair.skip_ip_dns = (entry["ip"] not in settings.public_ips and not settings.resolver.get("nameservers")
                                and not ipaddress.ip_address(public).is_global)
            pairs.append(pair)
    return pairs


def _ehlo_name(pair):
    return pair.ehlo if pair.ehlo and not pair.ehlo_literal else None


def first_questions(pairs, settings):
    """The questions that need no other answer first: each IP's PTR, each EHLO name's A/AAAA."""
    questions = []
    for pair in pairs:
        if not pair.skip_ip_dns and settings.wants(*PTR_CHECKS):
            questions.append((pair.public_ip, "PTR"))
        name = _ehlo_name(pair)
        if name is None:
            continue
        if settings.wants("ehlo_forward"):
            questions += [(name, "A"), (name, "AAAA")]
        elif settings.wants("ehlo_contains_ip") and not pair.skip_ip_dns:
            questions.append((name, FAMILY_RECORD[pair.family]))
    return list(dict.fromkeys(questions))


def ptr_names(answer):
    return list(answer.records[:PTR_NAMES_LOOKED_UP]) if answer is not None and answer.status == FOUND else []


def second_questions(pairs, settings, answers):
    """The forward lookups of the PTR names (forward-confirmed reverse DNS)."""
    questions = []
    if not settings.wants("fcrdns"):
        return questions
    for pair in pairs:
        if pair.skip_ip_dns:
            continue
        for name in ptr_names(answers.get((pair.public_ip, "PTR"))):
            questions.append((name, FAMILY_RECORD[pair.family]))
    return list(dict.fromkeys(questions))


def looks_generic(name, ip):
    """Whether a PTR name carries the digits of the address, as a provider's generated names do
    (``192-0-2-21.static.example.net``, ``21.2.0.192.dsl.example.net``, ``c0000215.example.net``,
    ``2001-db8--21.ip6.example.net``)."""
    address = ipaddress.ip_address(ip)
    name = name.lower()
    if address.version == 4:
        octets = [int(part) for part in str(address).split(".")]
        runs = [int(run) for run in re.findall(r"\d+", name)]
        for order in (octets, octets[::-1]):
            if any(runs[index:index + 4] == order for index in range(len(runs) - 3)):
                return True
        return re.search(rf"(?<![0-9a-f]){int(address):08x}(?![0-9a-f])", name) is not None
    # from the address's bytes: Python 3.13 writes an IPv4-mapped address's last 32 bits as a.b.c.d
    exploded = address.packed.hex()
    compact = re.sub(r"[^0-9a-f]", "", name)
    if exploded in compact or exploded[::-1] in compact:
        return True
    if address.compressed.replace(":", "-") in name:
        return True
    hextets = [int.from_bytes(address.packed[index:index + 2], "big") for index in range(0, 16, 2)]
    runs = [int(run, 16) for run in re.findall(r"[0-9a-f]+", name) if len(run) <= 4]
    return any(runs[index:index + 8] == hextets for index in range(len(runs) - 7))


# --- findings ------------------------------------------------------------------------------------------


class Report:
    """The findings in order, each with its message."""

    def __init__(self):
        self.findings = []
        self.messages = []

    def add(self, fields, check, severity, observed, expected, advice):
        finding = dict(fields, check=check, severity=severity, observed=observed, expected=expected)
        self.findings.append(finding)
        self.messages.append(f"{where(finding)}: {observed}; expected {expected}. {advice}")

    def summary(self):
        counts = {severity: 0 for severity in SEVERITIES}
        for finding in self.findings:
            counts[finding["severity"]] += 1
        return counts


def where(finding):
    """``strategy 'bulk', source IP 10.0.0.5 (public 192.0.2.5), EHLO mx.example.org (the source
    IP's ehlo_hostname)``: the subject of a finding's message."""
    text = f"strategy {shorten(finding['strategy'])}"
    if finding.get("source_ip"):
        text += f", source IP {finding['source_ip']}"
        if finding.get("public_ip") and finding["public_ip"] != finding["source_ip"]:
            text += f" (public {finding['public_ip']}, from public_ips)"
    if finding.get("ehlo"):
        text += f", EHLO {finding['ehlo']} ({ORIGINS[finding['ehlo_origin']]})"
    return text


def ehlo_setting(pair):
    """Where the user changes the EHLO name of a pair."""
    if pair.ehlo_origin == "source_ip":
        return f"the ehlo_hostname of {pair.source_ip} in strategy {shorten(pair.strategy)}"
    if pair.ehlo_origin == "strategy":
        return f"the ehlo_hostname of strategy {shorten(pair.strategy)}"
    return f"default_ehlo (the server's host name), or an ehlo_hostname in strategy {shorten(pair.strategy)}"


def _answer_text(name, kind, answer):
    if answer is None:
        return f"{kind} of {name}: not asked"
    if answer.status == FOUND:
        return f"{kind} of {name}: {', '.join(answer.records)}"
    return f"{kind} of {name}: {answer.detail or 'none'}"


def _unknown(report, pair, check, what, answers):
    details = "; ".join(f"{_answer_text(name, kind, answer)}" for (name, kind), answer in answers)
    report.add(pair.fields(), check, "unknown", f"{what} gave no answer ({details})",
               "an answer from the resolver", UNKNOWN_ADVICE)


def check_ehlo(report, pair, settings, answers):
    """``ehlo_forward`` and ``ehlo_contains_ip`` of one pair."""
    fields = pair.fields()
    if pair.ehlo is None:
        if settings.wants(*EHLO_CHECKS):
            first = next(check for check in ("ehlo_forward", "ehlo_contains_ip", "ehlo_matches_ptr")
                         if settings.wants(check))
            report.add(fields, first, "info",
                       "no EHLO name is known for this address: the server announces its own host name",
                       "default_ehlo (the server's host name), or an ehlo_hostname on the strategy or the source IP",
                       "Give default_ehlo to have the EHLO name checked.")
        return
    if pair.ehlo_literal:
        if settings.wants("ehlo_forward"):
            report.add(fields, "ehlo_forward", "warning", f"the EHLO name is the IP address {pair.ehlo}, not a host name",
                       f"a host name that resolves to {pair.public_ip}",
                       f"Receivers score a bare IP address in EHLO as spam. Set {ehlo_setting(pair)} to a host name.")
        if settings.wants("ehlo_contains_ip") and not pair.skip_ip_dns and pair.ehlo != pair.public_ip:
            report.add(fields, "ehlo_contains_ip", "warning", f"the EHLO name is the address {pair.ehlo}",
                       f"the address receivers see, {pair.public_ip}", f"Set {ehlo_setting(pair)} to a host name that "
                       f"resolves to {pair.public_ip}.")
        return
    name = pair.ehlo
    forward_ok = True
    if settings.wants("ehlo_forward"):
        found = [(question, answers.get(question)) for question in ((name, "A"), (name, "AAAA"))]
        if any(answer is not None and answer.status == FOUND for _question, answer in found):
            forward_ok = True
        elif any(answer is None or answer.status == UNKNOWN for _question, answer in found):
            forward_ok = False
            _unknown(report, pair, "ehlo_forward", f"the lookup of the EHLO name {name}", found)
        else:
            forward_ok = False
            report.add(fields, "ehlo_forward", "error",
                       f"{name} does not resolve ({'; '.join(_answer_text(n, k, a) for (n, k), a in found)})",
                       f"an A or AAAA record for {name}: RFC 5321 requires an EHLO name that resolves",
                       f"Receivers that enforce it (Postfix's reject_unknown_helo_hostname) refuse the mail, others "
                       f"score it. The owner of the DNS zone of {name} can add the record, or you can announce another "
                       f"name: {ehlo_setting(pair)}.")
    if not settings.wants("ehlo_contains_ip") or pair.skip_ip_dns or not forward_ok:
        return
    kind = FAMILY_RECORD[pair.family]
    answer = answers.get((name, kind))
    if answer is None or answer.status == UNKNOWN:
        _unknown(report, pair, "ehlo_contains_ip", f"the {kind} lookup of {name}", [((name, kind), answer)])
    elif pair.public_ip not in answer.records:
        observed = (f"the {kind} records of {name} are {', '.join(answer.records)}" if answer.status == FOUND
                    else f"{name} has no {kind} record ({answer.detail})")
        report.add(fields, "ehlo_contains_ip", "warning", observed, f"{pair.public_ip} among the {kind} records of {name}",
                   f"Receivers that compare the EHLO name with the connecting address score the mismatch. The owner of "
                   f"the DNS zone of {name} can add {pair.public_ip} to its {kind} records, or you can announce a name "
                   f"that resolves to it: {ehlo_setting(pair)}.")


def check_ptr(report, pair, settings, answers):
    """``ptr``, ``fcrdns``, ``ehlo_matches_ptr`` and ``generic_ptr`` of one pair."""
    fields, ip = pair.fields(), pair.public_ip
    owner = PTR_OWNER.format(ip=ip)
    if pair.skip_ip_dns:
        # reported under the first of the skipped checks that was asked for (the finding's check
        # is always one of the checks given)
        first = next((check for check in ("ptr", "fcrdns", "ehlo_matches_ptr", "generic_ptr", "ehlo_contains_ip")
                      if settings.wants(check)), None)
        if first:
            report.add(fields, first, "info",
                       f"{ip} is a private or reserved address and public_ips maps it to no public address, so its DNS "
                       "checks were skipped",
                       "the public address receivers see, in public_ips (the role: stalwart_deliverability_public_ips; "
                       "for 1:1 NAT), or resolver.nameservers pointing at a DNS server that knows this address",
                       "Whoever runs the network knows the public address this one leaves through.")
        return
    if not settings.wants(*PTR_CHECKS):
        return
    answer = answers.get((ip, "PTR"))
    reverse = reverse_name(ip)
    wanted = pair.ehlo if pair.ehlo and not pair.ehlo_literal else "the mail server's host name"
    if answer is None or answer.status == UNKNOWN:
        if settings.wants("ptr"):
            _unknown(report, pair, "ptr", f"the PTR lookup of {ip}", [((reverse, "PTR"), answer)])
            return
        # each check that needed the answer is unknown; generic_ptr only when alone, as one finding
        # per pair is enough
        reported = False
        for check in ("fcrdns", "ehlo_matches_ptr"):
            if settings.wants(check):
                _unknown(report, pair, check, f"the PTR lookup of {ip}", [((reverse, "PTR"), answer)])
                reported = True
        if not reported and settings.wants("generic_ptr"):
            _unknown(report, pair, "generic_ptr", f"the PTR lookup of {ip}", [((reverse, "PTR"), answer)])
        return
    names = list(answer.records) if answer.status == FOUND else []
    if not names:
        missing = f"{ip} has no PTR record ({answer.detail} for {reverse})"
        refusal = ("Gmail rejects IPv6 mail from an address without one (550-5.7.1), and so does Microsoft "
                   "(450 4.7.25)" if pair.family == 6 else "Gmail rejects mail from an address without one (550-5.7.25)")
        consequence = f"{refusal}. {owner}: ask them to set it to {wanted}."
        if settings.wants("ptr"):
            report.add(fields, "ptr", "error", missing, f"a PTR record naming {wanted}, which resolves back to {ip}",
                       consequence)
            return
        if settings.wants("fcrdns"):
            report.add(fields, "fcrdns", "error", missing, f"a PTR name that resolves back to {ip}", consequence)
        if settings.wants("ehlo_matches_ptr") and pair.ehlo and pair.ehlo_literal:
            # an address in EHLO is no name a PTR could hold
            report.add(fields, "ehlo_matches_ptr", "warning", missing, f"a PTR record naming the EHLO name of {ip}",
                       f"Set {ehlo_setting(pair)} to a host name instead of the address {pair.ehlo}; {owner}: ask "
                       f"them to set the PTR to that name.")
        elif settings.wants("ehlo_matches_ptr") and pair.ehlo:
            report.add(fields, "ehlo_matches_ptr", "warning", missing, f"a PTR record naming {pair.ehlo}",
                       f"{owner}: ask them to set it to {pair.ehlo}.")
        return
    if settings.wants("fcrdns"):
        _check_fcrdns(report, pair, names, answers, wanted, owner)
    if settings.wants("ehlo_matches_ptr") and pair.ehlo and pair.ehlo_literal:
        # an address in EHLO is no name a PTR could hold: announce a PTR name instead
        # never advise announcing a provider's generic name, which generic_ptr advises against
        confirmed = [name for name in confirmed_names(pair, names, answers) if not looks_generic(name, ip)]
        report.add(fields, "ehlo_matches_ptr", "warning",
                   f"the EHLO name is the address {pair.ehlo}; the PTR of {ip} names {', '.join(names)}",
                   f"an EHLO name among the PTR names of {ip}",
                   f"Receivers score it (Stalwart's HELO_IPREV_MISMATCH). Set {ehlo_setting(pair)} to "
                   + (f"{confirmed[0]}." if confirmed else f"a host name, and ask the owner of {ip} (usually the "
                      f"hosting provider) to set its PTR to that name."))
    elif settings.wants("ehlo_matches_ptr") and pair.ehlo and pair.ehlo not in names:
        # never advise announcing a provider's generic name, which generic_ptr advises against
        confirmed = [name for name in confirmed_names(pair, names, answers) if not looks_generic(name, ip)]
        announce = f"Set {ehlo_setting(pair)} to {confirmed[0]}, or ask" if confirmed else "Ask"
        report.add(fields, "ehlo_matches_ptr", "warning", f"the PTR of {ip} names {', '.join(names)}, not {pair.ehlo}",
                   f"the EHLO name {pair.ehlo} among the PTR names of {ip}",
                   f"Not a reason to reject on its own, but receivers score it (Stalwart's HELO_IPREV_MISMATCH). "
                   f"{announce} the owner of {ip} (usually the hosting provider) to set its PTR to {pair.ehlo}.")
    if settings.wants("generic_ptr"):
        for name in names:
            if looks_generic(name, ip):
                report.add(fields, "generic_ptr", "info", f"the PTR name {name} carries the digits of {ip}",
                           f"a PTR name of your own that identifies the mail server, such as {wanted}",
                           f"Receivers treat generic names as dynamic or unmanaged address space (Yahoo asks for a "
                           f"non-generic one). {owner}: ask them to set it to {wanted}.")
                break


def confirmed_names(pair, names, answers):
    """The PTR names (of the first two) that resolve back to the pair's public address."""
    return [name for name in names[:PTR_NAMES_TRIED] if _resolves_back(pair, name, answers)]


def _resolves_back(pair, name, answers):
    """Whether ``name``'s A/AAAA hold the pair's public address: True, False, or None (unknown)."""
    answer = answers.get((name, FAMILY_RECORD[pair.family]))
    if answer is None or answer.status == UNKNOWN:
        return None
    return answer.status == FOUND and pair.public_ip in answer.records


def _check_fcrdns(report, pair, names, answers, wanted, owner):
    ip, kind = pair.public_ip, FAMILY_RECORD[pair.family]
    tried = names[:PTR_NAMES_TRIED]
    found = [((name, kind), answers.get((name, kind))) for name in tried]
    # with more than two PTR names the DNS server decides which two come first (and rotates them):
    # the verdict is on the two it gave first, and the others say whether another order fails
    verdicts = {name: _resolves_back(pair, name, answers) for name in names[:PTR_NAMES_LOOKED_UP]}
    back = [name for name, verdict in verdicts.items() if verdict]
    not_back = [name for name, verdict in verdicts.items() if verdict is False]
    listed = (f"the PTR of {ip} names {', '.join(names)}" if len(names) <= PTR_NAMES_TRIED else
              f"the PTR of {ip} names {len(names)} names, in this answer {', '.join(names)}")
    rotated = (f"Receivers try only the first {PTR_NAMES_TRIED} PTR names, in the order the DNS server gives them, "
               "and servers rotate that order")
    if any(verdicts.get(name) for name in tried):
        if len(names) > PTR_NAMES_TRIED and len(not_back) >= PTR_NAMES_TRIED:
            report.add(pair.fields(), "fcrdns", "warning",
                       f"{listed}; {', '.join(not_back)} do not resolve ({kind}) back to {ip}",
                       f"one PTR name per address, or PTR names that all resolve ({kind}) back to {ip}",
                       f"{rotated}: a connection fails the check (Gmail: 550-5.7.25) whenever two of "
                       f"{', '.join(not_back)} come first. {owner}: ask them to keep only "
                       f"{wanted if wanted in back else back[0]}.")
        return
    if any(answer is None or answer.status == UNKNOWN for _question, answer in found):
        _unknown(report, pair, "fcrdns", f"the {kind} lookup of the PTR name(s) {', '.join(tried)}", found)
        return
    observed = (f"{listed}, and "
                + "; ".join(f"{name} has {kind} {', '.join(answer.records)}" if answer.status == FOUND
                            else f"{name} has no {kind} record ({answer.detail})" for (name, _kind), answer in found))
    later = [name for name in back if name not in tried]
    if later:
        observed += (f"; {', '.join(later)} resolve{'s' if len(later) == 1 else ''} back, but come"
                     f"{'s' if len(later) == 1 else ''} after the first {PTR_NAMES_TRIED}")
    refusal = ("Gmail rejects such IPv6 mail (550-5.7.1: it does not meet the IPv6 sending guidelines regarding PTR "
               "records)" if pair.family == 6 else
               "Gmail rejects such mail (550-5.7.25: the forward DNS entry does not point to the sending IP)")
    if later:
        # a name that resolves back is there, behind two that do not: fewer names, not another one
        fix = (f"{rotated}, so some connections may pass. {owner}: ask them to keep only "
               f"{wanted if wanted in later else later[0]} in the PTR of {ip}.")
    elif wanted in tried:
        # the PTR already names the EHLO name: only that name's records can be wrong
        fix = f"The PTR already names {wanted}: the owner of the DNS zone of {wanted} can add {ip} to its {kind} records."
    else:
        fix = (f"{owner}: ask them to point it to {wanted} (a name whose {kind} record holds {ip}); or the owner of "
               f"the DNS zone of {tried[0]} can add {ip} to its {kind} records.")
    report.add(pair.fields(), "fcrdns", "error", observed,
               f"one of the first {PTR_NAMES_TRIED} PTR names to resolve ({kind}) back to {ip} "
               "(forward-confirmed reverse DNS)",
               f"{refusal}, as do receivers with a strict reverse DNS check. {fix}")


def check_bind(report, pair, settings):
    probe = settings.probe
    entry = probe.bind.get(pair.source_ip) if probe is not None else None
    if probe is not None and entry is None and pair.source_ip is not None:
        # an address the probe never tried (read from the server, where the list the probe got
        # leaves a strategy's source_ips out): unknown, not quietly bindable
        report.add(pair.fields(), "bind", "unknown",
                   f"the bind probe did not try {pair.source_ip} (it is not among the addresses the probe was given)",
                   f"a probe result that covers {pair.source_ip}",
                   "Give stalwart.mail.source_ip_probe the same strategies as this check, with their source_ips (an "
                   "address read from the server, for a strategy whose source_ips the list leaves out, is not probed).")
        return
    if entry is None or entry.get("bindable"):
        return
    host = probe.hostname or "the mail host"
    number = entry.get("errno")
    reason = entry.get("error") or "the bind failed"
    report.add(pair.fields(), "bind", "error",
               f"{host} cannot bind {pair.source_ip} ({reason}{f', errno {number}' if number is not None else ''})",
               f"{pair.source_ip} on an interface of the mail host, in the network namespace the server runs in",
               "Every delivery through this address fails. The mail host's administrator can add the address to an "
               "interface (inside the server's container or namespace when it runs in one); behind 1:1 NAT, list the "
               "private address in source_ips and map it to the public one in public_ips (the role: "
               "stalwart_deliverability_public_ips).")


def reaches_internet(address):
    """Whether a host address can be the source of a delivery to the Internet: not loopback,
    link-local, multicast, unspecified or IPv6 unique-local. A private IPv4 address counts: it
    leaves through NAT."""
    address = ipaddress.ip_address(address)
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
        return False
    return not (address.version == 6 and (address in ipaddress.ip_network("fc00::/7")
                                          or address in ipaddress.ip_network("fec0::/10")))


def host_addresses(settings):
    """The mail host's addresses that reach the Internet, from the probe and ``host_addresses``."""
    found = list(settings.probe.global_addresses) if settings.probe is not None else []
    found += settings.host_addresses
    return [address for address in dict.fromkeys(found) if reaches_internet(address)]


def check_families(report, strategies, settings):
    """``implicit_family``: per strategy, each family the host reaches the Internet with and the
    strategy has no source IP of."""
    addresses = host_addresses(settings)
    for strategy in strategies:
        families = {ipaddress.ip_address(entry["ip"]).version for entry in strategy["source_ips"]}
        ehlo, origin = effective_ehlo(None, strategy["ehlo_hostname"], settings.default_ehlo)
        for version in (4, 6):
            of_family = [address for address in addresses if ipaddress.ip_address(address).version == version]
            if version in families or not of_family:
                continue
            family = FAMILY_NAME[version]
            sources = ", ".join(entry["ip"] for entry in strategy["source_ips"]) or "none"
            fields = {"strategy": strategy["name"], "source_ip": None, "public_ip": None, "ehlo": ehlo,
                      "ehlo_origin": origin}
            extra = (" (a temporary privacy address, which the kernel prefers where use_tempaddr is 2, never has "
                     "one; Gmail and Microsoft reject IPv6 mail without it)" if version == 6 else "")
            report.add(fields, "implicit_family", "warning",
                       f"no source {family} address (source IPs: {sources}), while the mail host has the {family} "
                       f"address(es) {', '.join(of_family)}",
                       f"a source {family} address in the strategy, with forward-confirmed reverse DNS",
                       f"A delivery over {family} then leaves unbound and the kernel picks the address, whose PTR "
                       f"nothing checks{extra}. Add a source {family} address to strategy {shorten(strategy['name'])}, "
                       f"or make sure each {family} address of the host has a PTR that resolves back to it.")


def evaluate(strategies, settings, lookup):
    """Run the checks on ``strategies`` (``strategy_view`` form): two rounds of lookups through
    ``lookup`` (the PTRs and EHLO names, then the PTR names), then the findings. Returns
    ``(report, pairs, answers)``."""
    pairs = pairs_of(strategies, settings)
    answers = {}
    if settings.needs_dns():
        answers.update(lookup(first_questions(pairs, settings)))
        answers.update(lookup([question for question in second_questions(pairs, settings, answers)
                               if question not in answers]))
    report = Report()
    for pair in pairs:
        if settings.wants("bind"):
            check_bind(report, pair, settings)
        if settings.needs_dns():
            check_ehlo(report, pair, settings, answers)
            check_ptr(report, pair, settings, answers)
    if settings.wants("implicit_family"):
        check_families(report, strategies, settings)
    return report, pairs, answers


def checked_pairs(pairs, answers):
    """The pairs as the module returns them, with what DNS said of each."""
    listed = []
    for pair in pairs:
        entry = pair.fields()
        ptr = answers.get((pair.public_ip, "PTR"))
        entry["ptr"] = list(ptr.records) if ptr is not None and ptr.status == FOUND else None
        name = _ehlo_name(pair)
        addresses = None
        if name is not None:
            found = [answers.get((name, kind)) for kind in ("A", "AAAA")]
            if any(answer is not None for answer in found):
                # None when the name has no address, as for ptr (RETURN: null when not found)
                addresses = [record for answer in found if answer is not None and answer.status == FOUND
                             for record in answer.records] or None
        entry["ehlo_addresses"] = addresses
        listed.append(entry)
    return listed


def skipped_checks(settings):
    """The selected checks that cannot run, and why."""
    skipped = {}
    if settings.wants("bind") and settings.probe is None:
        skipped["bind"] = "no probe result (run stalwart.mail.source_ip_probe on the mail host and pass it as probe)"
    if settings.wants("implicit_family") and not host_addresses(settings):
        skipped["implicit_family"] = ("the mail host's addresses are unknown (pass the result of "
                                      "stalwart.mail.source_ip_probe as probe, or host_addresses)")
    return skipped
