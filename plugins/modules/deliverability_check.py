#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deliverability_check
short_description: Check the source IPs and EHLO names of Stalwart's connection strategies against DNS
version_added: 0.1.0
description:
  - Checks, for every source IP of every connection strategy, what the big receivers check when the
    server delivers from it, before the strategies are applied (it never changes anything, and runs
    the same in check mode).
  - The EHLO name the server announces from a source IP is the IP's C(ehlo_hostname), else the
    strategy's, else the server's own host name (O(default_ehlo)). The address receivers see is the
    IP's public address from O(public_ips) (1:1 NAT), else the IP itself. Each distinct pair is checked
    once; all lookups run at once, within O(resolver.budget).
  - "Checks (O(checks)), each with its severity: V(ehlo_forward): the EHLO name resolves (error);
    V(ehlo_contains_ip): its A or AAAA records hold the address (warning); V(ptr): the address has a PTR
    record (error); V(fcrdns): one of the first two PTR names resolves back to the address
    (forward-confirmed reverse DNS; error; with more than two PTR names, whose order DNS servers rotate, a
    warning when another order would fail); V(ehlo_matches_ptr): the EHLO name is one of the PTR names
    (warning); V(generic_ptr): the PTR name carries the digits of the address, as a provider's generated
    names do (info); V(implicit_family): a strategy has no source IP of a family the mail host reaches
    the Internet with, so the kernel picks that address (warning); V(bind): the mail host cannot bind the
    source IP, from the result of M(stalwart.mail.source_ip_probe) (error)."
  - A DNS timeout, a SERVFAIL or a lookup still unanswered when the budget runs out is reported with
    severity V(unknown), and never fails the task.
  - A private or reserved address that O(public_ips) does not map is reported once with severity
    V(info) and its address checks are skipped (receivers never see it), unless
    O(resolver.nameservers) is set.
  - Names are compared as the server stores them, in A-labels (UTS 46, so V(straße.example.org) is
    looked up as V(xn--strae-oqa.example.org)), lower-case and without the trailing dot.
  - Every finding comes with a message that names the strategy, the IP, the EHLO name and where it came
    from, says what was found and what was expected, and who can fix it (a PTR record belongs to the
    owner of the address, usually the hosting provider).
  - With O(mode=warn) the findings of severity error, warning and unknown are shown as warnings; with
    O(mode=fail) an error fails the task.
  - The role P(stalwart.mail.mta_connection_strategies#role) runs this check before it writes when
    C(stalwart_deliverability_check) is V(warn) or V(fail).
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.connection
  - stalwart.mail.attributes
  - stalwart.mail.attributes.INFO_MODULE
  - stalwart.mail.attributes.ACTIONGROUP_JMAP
  - stalwart.mail.attributes.ACTION
requirements:
  - dnspython (on the controller, or wherever the task runs). When the task would run in the
    controller's worker and dnspython does not import there, the module runs in a process of its
    own instead (its interpreter may have it), with a warning naming the controller's Python.
options:
  url:
    description:
      - Base URL of the Stalwart server, for example V(https://mail.example.com).
      - Only needed to read strategies from the server, that is when O(strategies) is not given, or when
        an item of O(strategies) leaves out C(source_ips), or leaves out C(ehlo_hostname) while one of its
        source IPs has no EHLO name of its own. Then the check costs one read.
      - If not set, the value of the E(STALWART_URL) environment variable is used.
    type: str
    required: false
  strategies:
    description:
      - The strategies to check, in the input form of M(stalwart.mail.mta_connection_strategy) (its
        O(stalwart.mail.mta_connection_strategy#module:strategies) items, or what
        M(stalwart.mail.mta_connection_strategy_info) returns). Items with C(state=absent) are ignored.
      - The values are checked as that module checks them, before any lookup or request.
      - An option an item leaves out is taken from the server's strategy of that name, as the server
        will keep it (one read, for all items together; see O(url)).
      - When not given, every strategy on the server is read and checked.
    type: list
    elements: dict
  checks:
    description:
      - The checks to run; all of them when not given.
      - V(bind) needs O(probe); V(implicit_family) needs O(probe) or O(host_addresses). A check that cannot
        run is listed in RV(skipped_checks).
      - With none of the DNS checks, no DNS query is sent and dnspython is not needed.
    type: list
    elements: str
    choices: [ehlo_forward, ehlo_contains_ip, ptr, fcrdns, ehlo_matches_ptr, implicit_family, generic_ptr, bind]
  public_ips:
    description:
      - For 1:1 NAT (cloud elastic or public IPs), a dict from a source IP (the private address the
        server binds) to the public address receivers see. The DNS checks use the public address.
      - Both sides must be IP addresses of the same family.
    type: dict
    default: {}
  default_ehlo:
    description:
      - The server's own host name, which it announces from a source IP when neither the IP nor its
        strategy has an EHLO name.
      - Without it, such pairs are reported with severity V(info) and their EHLO checks are skipped.
      - A fully qualified name's trailing dot (V(mx1.example.org.)) is dropped.
    type: str
  resolver:
    description:
      - How DNS is asked. By default, the resolvers of the host the task runs on (C(/etc/resolv.conf)).
    type: dict
    suboptions:
      nameservers:
        description:
          - IP addresses of the DNS servers to ask instead of the system's.
          - Setting it also checks private and reserved addresses that O(public_ips) does not map.
        type: list
        elements: str
      port:
        description: The port of the DNS servers.
        type: int
        default: 53
      timeout:
        description: Seconds to wait for one DNS server's answer to one query (at most V(86400)).
        type: float
        default: 2.0
      lifetime:
        description: Seconds one lookup may take in all, retries and servers included (at most V(86400)).
        type: float
        default: 4.0
      tcp:
        description: Ask over TCP instead of UDP.
        type: bool
        default: false
      budget:
        description:
          - Seconds all lookups of the task may take together. What is unanswered then is reported as
            V(unknown); the task never waits longer.
          - Each of O(resolver.timeout), O(resolver.lifetime) and O(resolver.budget) must be greater
            than 0 and at most V(86400) (a day).
        type: float
        default: 10.0
  mode:
    description:
      - V(warn) shows the findings of severity error, warning and unknown as warnings and succeeds.
      - V(fail) fails the task when a finding has severity error (warnings and unknowns are still shown
        as warnings).
    type: str
    choices: [warn, fail]
    default: warn
  probe:
    description:
      - The registered result of M(stalwart.mail.source_ip_probe) on the mail host. It gives the V(bind)
        findings and the host's addresses for V(implicit_family).
      - A source IP the probe did not try (one read from the server, for a strategy whose C(source_ips)
        the probe's list left out) is a V(bind) finding of severity V(unknown).
      - A skipped probe counts as none.
    type: dict
  host_addresses:
    description:
      - Addresses of the mail host (for example C(ansible_facts.all_ipv6_addresses) of the mail host), for
        V(implicit_family), in addition to those of O(probe).
      - Loopback, link-local and IPv6 unique-local addresses are ignored; a private IPv4 address counts (it
        reaches the Internet through NAT).
    type: list
    elements: str
    default: []
notes:
  - Runs where the task runs (usually the controller, C(delegate_to=localhost)); a resolver there may
    see another view of DNS than the Internet does (split horizon). Point O(resolver.nameservers) at a
    public resolver to see what receivers see. Private and reserved source IPs are then checked too (a
    DNS server of your own may know them; a public one does not), so map each to the public address it
    leaves through in O(public_ips), or their PTR checks fail.
  - The token needs C(sysMtaConnectionStrategyGet) and C(sysMtaConnectionStrategyQuery) when strategies
    are read from the server.
seealso:
  - module: stalwart.mail.source_ip_probe
  - module: stalwart.mail.mta_connection_strategy
"""

EXAMPLES = r"""
# The connection comes from module_defaults (group/stalwart.mail.jmap), as in the play shown in the
# EXAMPLES of stalwart.mail.mta_connection_strategy.

- name: Check every strategy on the server, with the server's host name for strategies without an EHLO name
  stalwart.mail.deliverability_check:
    default_ehlo: mx1.example.org
  register: deliverability

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ deliverability.messages }}"

- name: Check a new warm-up pool before applying it, and stop on an error
  stalwart.mail.deliverability_check:
    strategies:
      - name: warmup
        ehlo_hostname: warm.mx1.example.org
        source_ips:
          - ip: 192.0.2.20
            ehlo_hostname: warm1.mx1.example.org
          - ip: 10.0.0.21   # behind 1:1 NAT
            ehlo_hostname: warm2.mx1.example.org
    public_ips:
      10.0.0.21: 192.0.2.21
    checks: [ehlo_forward, ehlo_contains_ip, ptr, fcrdns, ehlo_matches_ptr]
    mode: fail
"""

RETURN = r"""
findings:
  description:
    - What the checks found, in the order of the strategies and their source IPs. A check that passed
      adds nothing.
  returned: always
  type: list
  elements: dict
  sample:
    - strategy: warmup
      source_ip: 10.0.0.21
      public_ip: 192.0.2.21
      ehlo: warm2.mx1.example.org
      ehlo_origin: source_ip
      check: fcrdns
      severity: error
      observed: "the PTR of 192.0.2.21 names ip-192-0-2-21.hoster.example, and ip-192-0-2-21.hoster.example has no A
        record (NXDOMAIN)"
      expected: one of the first 2 PTR names to resolve (A) back to 192.0.2.21 (forward-confirmed reverse DNS)
  contains:
    strategy:
      description: The strategy's name.
      type: str
    source_ip:
      description: The source IP the server binds; V(null) for V(implicit_family).
      type: str
    public_ip:
      description: The address receivers see (from O(public_ips), else the source IP); V(null) for V(implicit_family).
      type: str
    ehlo:
      description: The EHLO name the server announces from the source IP (A-labels), or V(null) when unknown.
      type: str
    ehlo_origin:
      description: Where the EHLO name comes from, V(source_ip), V(strategy) or V(default_ehlo); V(null) when unknown.
      type: str
    check:
      description: The check, one of the O(checks).
      type: str
    severity:
      description: V(error), V(warning), V(info), or V(unknown) (DNS gave no answer in time).
      type: str
    observed:
      description: What was found.
      type: str
    expected:
      description: What was expected.
      type: str
messages:
  description:
    - One sentence per finding, in the same order as RV(findings) - what was found, what was expected and
      who can fix it - as the warnings and the failure message show them.
  returned: always
  type: list
  elements: str
  sample:
    - "strategy 'warmup', source IP 10.0.0.21 (public 192.0.2.21, from public_ips), EHLO warm2.mx1.example.org
      (the source IP's ehlo_hostname): the PTR of 192.0.2.21 names ip-192-0-2-21.hoster.example, and ip-192-0-2-21.hoster.example has no A record (NXDOMAIN);
      expected one of the first 2 PTR names to resolve (A) back to 192.0.2.21 (forward-confirmed reverse DNS). Gmail
      rejects such mail (...)"
summary:
  description: The number of findings of each severity.
  returned: always
  type: dict
  sample: {error: 1, warning: 1, info: 1, unknown: 0}
pairs:
  description:
    - Every pair that was checked, with the PTR names of its public address and the addresses of its EHLO
      name (V(null) when not looked up or not found).
  returned: always
  type: list
  elements: dict
  sample:
    - strategy: warmup
      source_ip: 192.0.2.20
      public_ip: 192.0.2.20
      ehlo: warm1.mx1.example.org
      ehlo_origin: source_ip
      ptr: [warm1.mx1.example.org]
      ehlo_addresses: [192.0.2.20]
skipped_checks:
  description: The checks that were asked for but could not run, each with the reason.
  returned: always
  type: dict
  sample:
    bind: no probe result (run stalwart.mail.source_ip_probe on the mail host and pass it as probe)
mode:
  description: The O(mode) the check ran in.
  returned: always
  type: str
  sample: warn
retried_requests:
  description:
    - How many HTTP requests were sent again after a transient failure (connection refused, HTTP 429,
      502, 503, 504, HTTP 400 C(maxConcurrentRequests), C(serverUnavailable)). Each retry is also a
      warning that gives its reason.
  returned: always
  type: int
  sample: 0
"""

from ansible_collections.stalwart.mail.plugins.module_utils._module import run
from ansible_collections.stalwart.mail.plugins.module_utils._operations import DELIVERABILITY_MODULE


def main():
    run(DELIVERABILITY_MODULE)


if __name__ == "__main__":
    main()
