#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mta_outbound_strategy_info
short_description: Read how a Stalwart mail server routes outbound mail
version_added: 0.1.0
description:
  - Reads the routing expressions of Stalwart's outbound strategy (C(MtaOutboundStrategy)), which decide the
    connection strategy, route, delivery schedule and TLS strategy of each delivery.
  - Returns them in the input form of M(stalwart.mail.mta_outbound_strategy), so that they paste back with no
    change.
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.connection
  - stalwart.mail.attributes
  - stalwart.mail.attributes.INFO_MODULE
  - stalwart.mail.attributes.ACTIONGROUP_JMAP
  - stalwart.mail.attributes.ACTION
seealso:
  - module: stalwart.mail.mta_outbound_strategy
"""

EXAMPLES = r"""
# The connection comes from module_defaults (group/stalwart.mail.jmap).
- name: Read the routing
  stalwart.mail.mta_outbound_strategy_info:
  delegate_to: localhost
  register: routing

- name: Show the connection expression, rule by rule (which strategy each condition picks) and its else
  ansible.builtin.debug:
    msg: "{{ routing.outbound_strategy.connection }}"
"""

RETURN = r"""
outbound_strategy:
  description:
    - The four expressions (C(connection), C(route), C(schedule), C(tls)), each with C(rules) and C(else) (or
      C(else_expr)); a name written as the literal M(stalwart.mail.mta_outbound_strategy) writes for it
      (V('bulk'), V("it's")) is shown as C(then)/C(else), anything else as C(then_expr)/C(else_expr), an empty
      name or a name in the other quotes (V("bulk")) included, so that the output pastes back with no change. On
      a server that never stored them, the server's defaults.
  returned: success
  type: dict
  sample:
    connection:
      rules: []
      else: default
    route:
      rules:
        - if: is_local_domain(rcpt_domain)
          then: local
      else: mx
    schedule:
      rules:
        - if: is_local_domain(rcpt_domain)
          then: local
        - if: source == 'dsn'
          then: dsn
        - if: source == 'report'
          then: report
      else: remote
    tls:
      rules:
        - if: retry_num > 0 && last_error == 'tls'
          then: invalid-tls
      else: default
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
from ansible_collections.stalwart.mail.plugins.module_utils._operations import OUTBOUND_INFO_MODULE


def main():
    run(OUTBOUND_INFO_MODULE)


if __name__ == "__main__":
    main()
