#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mta_connection_strategy_info
short_description: Read the outbound SMTP connection strategies of a Stalwart mail server
version_added: 0.1.0
description:
  - Reads Stalwart C(MtaConnectionStrategy) objects through Stalwart's JMAP management API.
  - Returns them in the input form of M(stalwart.mail.mta_connection_strategy), so that the list pastes
    straight into inventory or into its O(stalwart.mail.mta_connection_strategy#module:strategies) option,
    and a run with it reports no change.
  - Reads all strategies, even past the server's page size (C(maxObjectsInGet)), in one request per
    few thousand strategies.
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.connection
  - stalwart.mail.attributes
  - stalwart.mail.attributes.INFO_MODULE
  - stalwart.mail.attributes.ACTIONGROUP_JMAP
  - stalwart.mail.attributes.ACTION
options:
  names:
    description:
      - Exact names (case-sensitive) of the strategies to return; names that do not exist are left out.
      - When not given, every strategy is returned.
    type: list
    elements: str
    aliases: [name]
seealso:
  - module: stalwart.mail.mta_connection_strategy
"""

EXAMPLES = r"""
# The connection comes from module_defaults (group/stalwart.mail.jmap), as in the play shown in the
# EXAMPLES of stalwart.mail.mta_connection_strategy.

- name: Read every strategy
  stalwart.mail.mta_connection_strategy_info:
  register: all_strategies

- name: Show their names
  ansible.builtin.debug:
    msg: "{{ all_strategies.strategies | map(attribute='name') | list }}"

- name: Read two strategies by name
  stalwart.mail.mta_connection_strategy_info:
    names:
      - default
      - bulk
  register: some

- name: Apply the strategies read above again; nothing changes
  stalwart.mail.mta_connection_strategy:
    strategies: "{{ all_strategies.strategies }}"
"""

RETURN = r"""
strategies:
  description:
    - The strategies, sorted by name, each in the input form of M(stalwart.mail.mta_connection_strategy)
      plus its C(id).
    - Durations are in the largest exact unit (V(5m), V(90s), V(1500ms)); O(names) not found are left out.
  returned: always
  type: list
  elements: dict
  sample:
    - name: default
      description: Default connection strategy
      ehlo_hostname:
      source_ips: []
      connect_timeout: 5m
      data_timeout: 10m
      ehlo_timeout: 5m
      greeting_timeout: 5m
      mail_from_timeout: 5m
      rcpt_to_timeout: 5m
      id: i2v9c6qaaaaa
  contains:
    name:
      description: Name of the strategy (the key).
      type: str
    description:
      description: Description, or V(null).
      type: str
    ehlo_hostname:
      description: EHLO host name (lower-case, IDNA-encoded), or V(null).
      type: str
    source_ips:
      description: The source addresses in the server's order, each with C(ip) and C(ehlo_hostname) (or V(null)).
      type: list
      elements: dict
    connect_timeout:
      description: Connect timeout, for example V(5m).
      type: str
    data_timeout:
      description: DATA timeout.
      type: str
    ehlo_timeout:
      description: EHLO timeout.
      type: str
    greeting_timeout:
      description: Greeting timeout.
      type: str
    mail_from_timeout:
      description: MAIL FROM timeout.
      type: str
    rcpt_to_timeout:
      description: RCPT TO timeout.
      type: str
    id:
      description: The server's id of the strategy.
      type: str
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
from ansible_collections.stalwart.mail.plugins.module_utils._operations import STRATEGY_INFO_MODULE


def main():
    run(STRATEGY_INFO_MODULE)


if __name__ == "__main__":
    main()
