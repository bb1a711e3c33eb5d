#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mta_outbound_strategy
short_description: Route outbound mail to connection strategies on a Stalwart mail server
version_added: 0.1.0
description:
  - Sets the routing expressions of Stalwart's outbound strategy (C(MtaOutboundStrategy)), the object that
    decides, per delivery, which connection strategy, route, delivery schedule and TLS strategy apply.
  - A connection strategy (M(stalwart.mail.mta_connection_strategy)) does nothing until O(connection) routes mail
    to it. The server checks only an expression's syntax; this module also refuses a O(connection) that names a
    strategy that does not exist, before anything is written.
  - Each expression is a list of rules (C(if) a condition, C(then) a name) and an C(else). A name is written as
    the string literal V('<name>'); C(then_expr) and C(else_expr) take a raw expression instead.
  - Expressions compare without their surrounding white space (the server stores them as sent, and
    evaluates them alike), rule by rule in order; an expression left out is not touched.
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.connection
  - stalwart.mail.outbound_options
  - stalwart.mail.attributes
  - stalwart.mail.attributes.ACTIONGROUP_JMAP
  - stalwart.mail.attributes.ACTION
attributes:
  check_mode:
    support: full
    details:
      - Sends no write; the references of O(connection) are checked all the same.
      - The syntax of an expression is checked by the server when it is written, so check mode cannot report a
        syntax error; the real run fails with the server's message, naming the option and the rule.
      - So is the size of the outbound strategy, its four expressions together, which the server stores compressed
        and refuses past 200,000 bytes (thousands of rules); the message then gives the size.
  diff_mode:
    support: full
    details:
      - Shows each changed expression whole, before and after, in the module's own form.
  idempotent:
    support: full
options:
  check_references:
    description:
      - Refuse a O(connection) that routes (through a literal C(then) or C(else)) to a connection strategy that does
        not exist on the server, naming each one; nothing is written then.
      - V(false) skips the check, for names created later by other means. An expression given with C(then_expr) or
        C(else_expr) is checked only when it is a plain string literal (V('bulk')), as a name is; a computed one
        is not.
    type: bool
    default: true
  assume_present:
    description:
      - Names to count as existing for O(check_references) in check mode, such as the strategies that a task
        before this one creates (in check mode that task does not create them). The role
        P(stalwart.mail.mta_connection_strategies#role) passes its strategy list here.
      - In a real run they are read like any other name the expression routes to (in the same request), so that
        the expression is not written when one of them is missing at the time it is read (another writer deleted
        it since the task before this one created it, such as a host of the same cluster that purges).
    type: list
    elements: str
    default: []
  assume_absent:
    description:
      - Names to count as gone for O(check_references), such as the strategies that a task after this one deletes;
        a O(connection) that routes to one fails before any request. The role
        P(stalwart.mail.mta_connection_strategies#role) passes the items of its list set absent, which it deletes
        only after the new expression is written.
    type: list
    elements: str
    default: []
  reload:
    description:
      - After a change, ask the server to apply the new configuration (C(ReloadSettings)), in a request of its own.
        Stalwart does not reload a changed expression by itself.
      - Needs the permissions C(sysActionCreate) and C(actionReloadSettings).
    type: bool
    default: false
notes:
  - "Cost: one session read, one read request (the outbound strategy and the strategies O(connection) names), and,
    when something changes, one write request (the update and a read of the result)."
  - The server patches an expression into what it holds; this module always writes an expression's rules and its
    C(else) together, so that what is stored is what was given.
  - A name that holds a single quote is written in double quotes; a name with both kinds of quote or a backslash
    cannot be a literal (the server's parser keeps the backslash), so use C(then_expr) or C(else_expr) for it.
seealso:
  - module: stalwart.mail.mta_outbound_strategy_info
  - module: stalwart.mail.mta_connection_strategy
  - name: MtaOutboundStrategy reference
    description: The object in Stalwart's documentation.
    link: https://stalw.art/docs/ref/object/mta-outbound-strategy
"""

EXAMPLES = r"""
# The connection comes from module_defaults (group/stalwart.mail.jmap).
- name: A warm-up pool of two addresses
  stalwart.mail.mta_connection_strategy:
    name: warmup
    source_ips:
      - ip: 192.0.2.10
        ehlo_hostname: warm1.example.org
      - ip: 192.0.2.11
        ehlo_hostname: warm2.example.org
  delegate_to: localhost

# In check mode the task above creates nothing, so this one fails on the missing 'warmup': the last
# example shows how to say that an earlier task creates it (assume_present).
- name: Mail for Gmail and Outlook leaves through the warm-up pool, the rest through default
  stalwart.mail.mta_outbound_strategy:
    connection:
      rules:
        - if: rcpt_domain == 'gmail.com'
          then: warmup
        - if: rcpt_domain == 'outlook.com'
          then: warmup
      else: default
    reload: true
  delegate_to: localhost

- name: A computed name, not checked against the server
  stalwart.mail.mta_outbound_strategy:
    connection:
      rules:
        - if: is_local_domain(rcpt_domain)
          then_expr: "'local-' + rcpt_domain"
      else: default
  delegate_to: localhost

- name: Route to a strategy that the first task creates, also in check mode
  stalwart.mail.mta_outbound_strategy:
    connection:
      rules:
        - if: rcpt_domain == 'gmail.com'
          then: warmup
      else: default
    assume_present: [warmup]
  delegate_to: localhost
"""

RETURN = r"""
outbound_strategy:
  description:
    - The four expressions after the run (predicted in check mode), in this module's input form, so that they paste
      back with no change. A name written as the literal this module writes for it (V('bulk'), V("it's")) is shown
        as C(then)/C(else); anything else as C(then_expr)/C(else_expr), an empty name or a name in the other
        quotes (V("bulk")) included.
  returned: success
  type: dict
  sample:
    connection:
      rules:
        - if: rcpt_domain == 'gmail.com'
          then: warmup
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
plan:
  description:
    - What the run changes (or would change in check mode).
    - C(update) lists the expressions that change. The key C(update) is also the name of a dictionary
      method, so in Jinja read it as C(result.plan['update']), not with a dot.
  returned: on success, and on a failure once the server was read (not on bad input or a failed read)
  type: dict
  sample:
    update: [connection]
reloaded:
  description: Whether the server was asked to reload its settings (O(reload=true) and something changed).
  returned: on success, and on a failure once the server was read (not on bad input or a failed read)
  type: bool
  sample: false
missing:
  description:
    - On failure, the connection strategies that O(connection) routes to and that do not exist, or that
      O(assume_absent) names (deleted by this run, so they will not exist).
  returned: when O(check_references) finds a missing strategy
  type: list
  elements: str
  sample: [warmup]
retried_requests:
  description:
    - How many HTTP requests were sent again after a transient failure (connection refused, HTTP 429,
      502, 503, 504, HTTP 400 C(maxConcurrentRequests), C(serverUnavailable)). Each retry is also a
      warning that gives its reason.
    - A write whose answer is lost (its outcome unknown, which on a write HTTP 500, 502, 503, 504 and C(serverUnavailable)
      mean that) is not counted, as it is not sent again as such; the module
      reads the server again and writes only what is still missing, with a warning that says so.
  returned: always
  type: int
  sample: 0
"""

from ansible_collections.stalwart.mail.plugins.module_utils._module import run
from ansible_collections.stalwart.mail.plugins.module_utils._operations import OUTBOUND_MODULE


def main():
    run(OUTBOUND_MODULE)


if __name__ == "__main__":
    main()
