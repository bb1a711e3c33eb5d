# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""DNS lookups for the deliverability check, through dnspython: concurrent, bounded by a budget.

``Lookups(settings).run(questions)`` asks every question (``(name, type)``; a name is ASCII, in
A-labels, without the trailing dot; a PTR question is asked of an IP address) at once, in a small
pool of threads, and returns an ``Answer`` for each within the budget: what is still unanswered
when the budget runs out is ``unknown``, never an error. A timeout, a SERVFAIL or a refusal is
``unknown`` too: only NXDOMAIN and an answer without records of the type (NODATA) mean "no
record".

Names are built from ASCII text (``dns.name.from_text``), so dnspython's own IDNA codec, which
is IDNA 2003 unless the ``idna`` package is installed (``straße`` would become ``strasse``, another
name), never applies: the caller gives A-labels as the server stores them (UTS 46,
``_values.normalise_hostname``).

Knows nothing of Ansible. The caller calls ``load()`` first and fails with
``missing_required_lib`` when it returns the import error.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import threading
import time
import traceback

from ansible_collections.stalwart.mail.plugins.module_utils import _values

# dnspython, imported by ``load()`` when a check needs DNS: the import costs about 60 ms, which
# every other module of the collection (they share ``_operations``) would otherwise pay
dns = None


def load():
    """Import dnspython: None when it is there, else the traceback of the failed import (for
    ``missing_required_lib``)."""
    global dns
    if dns is None:
        try:
            import dns.exception
            import dns.name
            import dns.rcode
            import dns.resolver
        except ImportError:
            return traceback.format_exc()
    return None


# the resolver option's defaults, in seconds (``budget``: all lookups of one run together)
DEFAULTS = {"nameservers": None, "port": 53, "timeout": 2.0, "lifetime": 4.0, "tcp": False, "budget": 10.0}
MAX_THREADS = 16
# below this much time left, a lookup is not started: it could not finish
MIN_LIFETIME = 0.05

FOUND, NONE, UNKNOWN = "found", "none", "unknown"


class Answer:
    """The answer to one question: ``status`` (``found``, ``none``: NXDOMAIN or NODATA, ``unknown``:
    no usable answer), ``records`` (lower-case names without the trailing dot, or canonical IP
    addresses) and ``detail`` (what the resolver said, for messages)."""

    def __init__(self, status, records=(), detail=""):
        self.status = status
        self.records = tuple(records)
        self.detail = detail

    def __repr__(self):
        return f"Answer({self.status!r}, {self.records!r}, {self.detail!r})"

    def __eq__(self, other):
        return isinstance(other, Answer) and (self.status, self.records, self.detail) == (
            other.status, other.records, other.detail)


def reverse_name(ip):
    """The name a PTR question for ``ip`` is asked of (``20.2.0.192.in-addr.arpa``, the nibbles of
    ``ip6.arpa`` for IPv6), without the trailing dot."""
    address = ipaddress.ip_address(ip)
    return address.reverse_pointer


class Lookups:
    """Runs questions against the resolver that ``settings`` (the ``resolver`` option, normalised)
    describe, within ``settings["budget"]`` seconds from creation."""

    def __init__(self, settings, clock=time.monotonic):
        self.settings = dict(DEFAULTS, **{key: value for key, value in settings.items() if value is not None})
        self.clock = clock
        self.deadline = clock() + float(self.settings["budget"])
        self.asked = 0
        self._local = threading.local()
        self._setup_error = None

    def remaining(self):
        return self.deadline - self.clock()

    def _resolver(self):
        """One resolver per thread: dnspython's resolver is configured once and then only read,
        but a thread of its own costs nothing and leaves no doubt."""
        resolver = getattr(self._local, "resolver", None)
        if resolver is None:
            nameservers = self.settings["nameservers"]
            if nameservers:
                resolver = dns.resolver.Resolver(configure=False)
                resolver.nameservers = list(nameservers)
            else:
                resolver = dns.resolver.Resolver()  # the system's (/etc/resolv.conf)
            resolver.port = int(self.settings["port"])
            resolver.timeout = float(self.settings["timeout"])
            resolver.lifetime = float(self.settings["lifetime"])
            resolver.cache = None
            self._local.resolver = resolver
        return resolver

    def ask(self, question):
        """One question → ``Answer``; never raises."""
        name, kind = question
        lifetime = min(float(self.settings["lifetime"]), self.remaining())
        if lifetime < MIN_LIFETIME:
            return Answer(UNKNOWN, detail="no answer within the budget "
                                          f"(resolver.budget {self.settings['budget']:g} s)")
        try:
            resolver = self._resolver()
        except dns.exception.DNSException as error:  # no /etc/resolv.conf, say
            return Answer(UNKNOWN, detail=f"no resolver configuration ({error}); set resolver.nameservers")
        try:
            qname = dns.name.from_text(reverse_name(name) if kind == "PTR" else name)
        except dns.exception.DNSException as error:
            # a label over 63 octets or a name over 255: the server stores such an EHLO name, but
            # no DNS record can have it, so it resolves nowhere
            return Answer(NONE, detail=f"not a name DNS can carry: {error}")
        try:
            answer = resolver.resolve(qname, kind, tcp=bool(self.settings["tcp"]), lifetime=lifetime,
                                      raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(NONE, detail="NXDOMAIN")
        except dns.exception.Timeout:
            return Answer(UNKNOWN, detail=f"timeout after {lifetime:.1f} s")
        except dns.resolver.NoNameservers as error:
            return Answer(UNKNOWN, detail=_no_nameservers(error))
        except dns.exception.DNSException as error:
            return Answer(UNKNOWN, detail=f"{type(error).__name__}: {error}")
        except (OSError, ValueError) as error:
            return Answer(UNKNOWN, detail=f"{type(error).__name__}: {error}")
        if answer.rrset is None:
            # the name exists without a record of the type: the messages say "has no A record (NODATA)"
            return Answer(NONE, detail="NODATA")
        return Answer(FOUND, _records(answer.rrset, kind))

    def run(self, questions):
        """Every question in ``questions`` asked at once; ``{question: Answer}``. Returns when all
        are answered or the budget is spent, whichever comes first; threads still waiting for an
        answer then end on their own (their lifetime never outlasts the budget)."""
        questions = list(dict.fromkeys(questions))
        answers = {}
        if not questions:
            return answers
        self.asked += len(questions)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(questions)),
                                                     thread_name_prefix="deliverability-dns")
        try:
            futures = {pool.submit(self.ask, question): question for question in questions}
            done, _pending = concurrent.futures.wait(futures, timeout=max(0.0, self.remaining()))
            for future in done:
                try:
                    answers[futures[future]] = future.result()
                except Exception as error:  # noqa: BLE001 - a bug in ask(): one unknown answer, not a crash
                    answers[futures[future]] = Answer(UNKNOWN, detail=f"{type(error).__name__}: {error}")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for question in questions:
            answers.setdefault(question, Answer(UNKNOWN, detail="no answer within the budget "
                                                                f"(resolver.budget {self.settings['budget']:g} s)"))
        return answers


def _records(rrset, kind):
    if kind == "PTR":
        return [rdata.target.to_text(omit_final_dot=True).lower() for rdata in rrset]
    # as the source IPs are written (an IPv4-mapped address as ::ffff:a.b.c.d), so that they compare
    return [_values.canonical_ip(rdata.address) for rdata in rrset]


def _no_nameservers(error):
    """``NoNameservers`` (every server failed) → what they said: ``SERVFAIL``, ``REFUSED``..."""
    said = []
    for item in (getattr(error, "kwargs", None) or {}).get("errors") or ():
        # (server, tcp, port, error or rcode, response) in dnspython 2.x
        failure = item[3] if len(item) > 3 else None
        response = item[4] if len(item) > 4 else None
        if response is not None:
            text = dns.rcode.to_text(response.rcode())
        else:
            text = str(failure)
        if text not in said:
            said.append(text)
    return "the nameservers answered " + ", ".join(said) if said else str(error)
