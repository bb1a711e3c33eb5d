# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lookups' answers as the checks read them, from dnspython's answers: the test DNS server
(dnslib) cannot give some of them, such as NODATA, which it answers as NXDOMAIN."""

from __future__ import annotations

import types

import dns.resolver
import dns.rrset

from ansible_collections.stalwart.mail.plugins.module_utils import _dns


def lookups_answering(monkeypatch, rrset):
    assert _dns.load() is None
    monkeypatch.setattr(dns.resolver.Resolver, "resolve", lambda self, *args, **kwargs: types.SimpleNamespace(rrset=rrset))
    return _dns.Lookups({"nameservers": ["127.0.0.1"]})


def test_a_name_without_a_record_of_the_type_is_none_and_says_nodata(monkeypatch):
    """The message read "has no A record (no A record)"; an NXDOMAIN reads "(NXDOMAIN)"."""
    answer = lookups_answering(monkeypatch, None).ask(("mx.example.org", "A"))
    assert answer == _dns.Answer(_dns.NONE, detail="NODATA")


def test_an_ipv4_mapped_address_in_an_answer_is_written_as_the_source_ips_are(monkeypatch):
    rrset = dns.rrset.from_text("mx.example.org.", 60, "IN", "AAAA", "::ffff:c000:214", "2001:DB8::A")
    answer = lookups_answering(monkeypatch, rrset).ask(("mx.example.org", "AAAA"))
    assert answer.status == _dns.FOUND and sorted(answer.records) == ["2001:db8::a", "::ffff:192.0.2.20"]
