# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The four routing expressions of the outbound strategy: the one place their prose lives. The
# options are declared in plugins/module_utils/_objects.py (OUTBOUND_STRATEGY);
# tests/unit/plugins/module_utils/test__objects.py holds this text to them.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  connection:
    description:
      - Which connection strategy (M(stalwart.mail.mta_connection_strategy)) each delivery uses, by name.
      - A name that does not exist is refused before anything is written (see O(check_references)). The server
        would accept it, and deliveries routed there would leave with built-in defaults and no source IP.
      - Left out, the server's expression is left as it is.
    type: dict
    suboptions: &expression
      rules:
        description:
          - Rules tried in order; the first whose condition C(if) is true decides.
          - With V([]) or no rules, C(else) always decides.
        type: list
        elements: dict
        suboptions:
          if:
            description:
              - A condition in Stalwart's expression language, for example V(rcpt_domain == 'gmail.com') or
                V(is_local_domain(rcpt_domain\)).
            type: str
            required: true
          then:
            description:
              - The name to use when the condition is true, written to the server as the string literal
                V('<name>').
              - Exclusive with C(then_expr); one of them is required.
            type: str
          then_expr:
            description:
              - A raw expression instead of a name, for computed names.
            type: str
      else:
        description:
          - The name to use when no rule matches.
          - Exclusive with C(else_expr); one of them is required.
        type: str
      else_expr:
        description:
          - A raw expression instead of a name.
        type: str
  route:
    description:
      - Which route (C(MtaRoute)) each delivery takes, as for O(connection). The server's default routes local
        domains to V(local) and everything else to V(mx).
      - Names here are not checked against the server.
    type: dict
    suboptions: *expression
  schedule:
    description:
      - Which delivery schedule (C(MtaDeliverySchedule)) a message is queued with, as for O(connection).
      - Names here are not checked against the server.
    type: dict
    suboptions: *expression
  tls:
    description:
      - Which TLS strategy (C(MtaTlsStrategy)) a delivery uses, as for O(connection).
      - Names here are not checked against the server.
    type: dict
    suboptions: *expression
"""
