#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mta_connection_strategy
short_description: Manage the outbound SMTP connection strategies of a Stalwart mail server
version_added: 0.1.0
description:
  - Creates, updates and deletes Stalwart C(MtaConnectionStrategy) objects (timeouts, source IPs and
    EHLO host names of outbound SMTP connections) through Stalwart's JMAP management API.
  - Manages one strategy (O(name) and its options) or a batch (O(strategies)); a batch converges in a
    constant number of HTTP requests, whatever its length.
  - Values are compared in the server's normal form, so equivalent spellings (V(5m) and V(300000),
    V(MX.Example.ORG) and V(mx.example.org), a reordered O(source_ips)) are no change.
  - An option left out is left as it is on the server (and takes the server default on create).
  - The name of a strategy cannot change on the server; renaming is a delete of the old name plus a
    create of the new one (list the old name with O(strategies[].state=absent)).
  - Works with both the current Stalwart server (C(/jmap/), durations in milliseconds) and servers
    that follow the reference documentation (C(/api), durations as V(5m)); nothing to configure.
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.connection
  - stalwart.mail.strategy_options
  - stalwart.mail.attributes
  - stalwart.mail.attributes.ACTIONGROUP_JMAP
  - stalwart.mail.attributes.ACTION
attributes:
  check_mode:
    support: full
    details:
      - Sends no write; the predicted strategy includes the server defaults that a create would get.
  diff_mode:
    support: full
    details:
      - Shows whole objects for creates and deletes, and durations in the units they were given in.
  idempotent:
    support: full
    details:
      - Values are compared as the server stores them, so equivalent spellings of a value are no change.
options:
  name:
    description:
      - Name of the one strategy to manage.
      - Required unless O(strategies) is given; mutually exclusive with O(strategies).
      - The value options (O(description), O(ehlo_hostname), O(source_ips) and the timeouts) apply to
        this strategy.
    type: str
  state:
    description:
      - With O(name), V(present) makes the strategy exist with the given values, V(absent) deletes it
        (no change when it does not exist).
      - A strategy that the outbound strategy's C(connection) expression routes to is deleted all the same,
        with a warning that deliveries routed there fall back to built-in defaults until the expression changes.
      - Ignored with O(strategies); each item has its own O(strategies[].state).
    type: str
    choices: [present, absent]
    default: present
  id:
    description:
      - Accepted and ignored, like the O(strategies[].id) of an item; the name is the key.
    type: str
  strategies:
    description:
      - A batch of strategies, each with the same keys as one strategy; mutually exclusive with O(name).
      - The output of M(stalwart.mail.mta_connection_strategy_info) can be given as is.
      - Each name must appear once. The items are validated by the module before any request, and an
        error names the item (V(strategies[3]) and its name).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - 'Name of the strategy: the key that identifies it (the outbound strategy refers to it by name).'
          - 'The name cannot change on the server: renaming is a delete of the old name plus a create of the new one.'
        type: str
        required: true
      state:
        description:
          - 'V(present): the strategy exists with the given values; V(absent): it does not exist.'
        type: str
        default: present
        choices:
          - present
          - absent
      id:
        description:
          - Accepted and ignored, so that the output of M(stalwart.mail.mta_connection_strategy_info) can be pasted
            as is; the name is the key.
        type: str
      description:
        description: As O(description), for this strategy.
        type: raw
      ehlo_hostname:
        description: As O(ehlo_hostname), for this strategy.
        type: raw
      source_ips:
        description: As O(source_ips), for this strategy.
        type: list
        elements: dict
        suboptions:
          ip:
            description: As O(source_ips[].ip).
            type: str
            required: true
            aliases:
              - source_ip
          ehlo_hostname:
            description: As O(source_ips[].ehlo_hostname).
            type: str
      connect_timeout:
        description: As O(connect_timeout), for this strategy.
        type: raw
      data_timeout:
        description: As O(data_timeout), for this strategy.
        type: raw
      ehlo_timeout:
        description: As O(ehlo_timeout), for this strategy.
        type: raw
      greeting_timeout:
        description: As O(greeting_timeout), for this strategy.
        type: raw
      mail_from_timeout:
        description: As O(mail_from_timeout), for this strategy.
        type: raw
      rcpt_to_timeout:
        description: As O(rcpt_to_timeout), for this strategy.
        type: raw
  purge:
    description:
      - With O(strategies), also delete every strategy on the server that the list does not name.
      - Strategies that the outbound strategy's C(connection) expression names are kept, with a
        warning, unless O(force=true).
      - Where the outbound strategy cannot be read (credentials without the permission
        C(sysMtaOutboundStrategyGet)), purge deletes nothing unless O(force=true), and warns why.
      - So too where the C(connection) expression computes a name (a C(then_expr) or C(else_expr) such as
        C('local-' + rcpt_domain), anything but one string literal), for it may route to any strategy.
    type: bool
    default: false
  purge_keep:
    description:
      - With O(purge=true), the names to keep beside those the server's outbound C(connection) expression
        names when the task runs (in check mode, instead of them, as the expression they belong to is not written
        yet; the outbound strategy is then not read).
      - What the server's expression names and O(purge_keep) does not is kept with a warning, O(force=true) or not,
        as another host or run sharing the server wrote that expression since. Where that expression cannot be
        read, or computes a name, O(purge_keep) alone decides, as in check mode, with a warning.
      - The role P(stalwart.mail.mta_connection_strategies#role) passes the names of the expression it is about to
        write, so that purge keeps what the new expression routes to, and check mode predicts the real run.
      - O(force=true) does not delete these names, so that the expression routing to them never names a strategy
        that does not exist.
    type: list
    elements: str
  assume_present:
    description:
      - With O(purge=true), names that purge counts as listed, though the task does not create or change them
        (strategies that an earlier task of the same run creates or updates).
      - The role P(stalwart.mail.mta_connection_strategies#role) passes the strategies of its first step to its
        last one, which only deletes, so that the last step predicts the same deletes in check mode, where the
        first step created nothing, as in a real run.
    type: list
    elements: str
  force:
    description:
      - With O(purge=true), delete also the strategies that the outbound strategy names, or all unlisted
        strategies when the outbound strategy cannot be read or its C(connection) expression computes a name.
      - It does not delete what O(purge_keep) names.
    type: bool
    default: false
  reload:
    description:
      - After a change, ask the server to apply the new configuration (an C(x:Action) C(ReloadSettings)),
        once per run, in a request of its own after the writes. Stalwart does not reload a changed strategy
        by itself.
      - The reload is sent only when the server confirmed a change (also when other changes of the batch
        were refused) or a write's answer was lost (it may have been applied), never after a run whose
        every change was refused. When the server refuses the reload itself, the task fails saying that
        the changes were applied and how to reload.
      - Needs the permissions C(sysActionCreate) and C(actionReloadSettings).
    type: bool
    default: false
notes:
  - "Cost: one session read, one read request (plus one per further few thousand strategies) and as few
    write requests as the server's C(maxObjectsInSet) and C(maxCallsInRequest) allow; no re-read after a
    write."
  - A write whose answer was lost is never sent again blindly; the module reads again and writes only what
    is still missing.
  - A create that fails because another run created the same name at the same time is turned into an
    update of that strategy.
  - When the server refuses some strategies of a batch, the others are applied; the module fails listing
    every refused strategy with the server's reason, and returns RV(failed_strategies) and RV(applied).
  - After a failure, C(changed) is V(true) whenever the server confirmed a change or a write's outcome is
    unknown (its answer was lost and the server could not be read back); V(false) means that nothing this
    run wrote is on the server.
  - Requests stay within the server's C(maxSizeRequest); a single strategy too large for one request is
    refused before anything is written.
seealso:
  - module: stalwart.mail.mta_connection_strategy_info
  - name: MtaConnectionStrategy reference
    description: The object in Stalwart's documentation.
    link: https://stalw.art/docs/ref/object/mta-connection-strategy
"""

EXAMPLES = r"""
# Every task below takes its connection from module_defaults, as in this play:
#
# - hosts: localhost
#   gather_facts: false
#   module_defaults:
#     group/stalwart.mail.jmap:
#       url: https://mail.example.com
#       token: "{{ lookup('ansible.builtin.env', 'STALWART_TOKEN') }}"
#   tasks:
#     - name: Strategy for bulk mail
#       stalwart.mail.mta_connection_strategy:
#         name: bulk
#         ...

- name: Strategy for bulk mail, sent from two dedicated addresses
  stalwart.mail.mta_connection_strategy:
    name: bulk
    description: Bulk mail via dedicated IPs
    ehlo_hostname: mx.example.org
    source_ips:
      - ip: 192.0.2.10
        ehlo_hostname: mx-192-0-2-10.example.org
      - ip: 2001:db8::a
    connect_timeout: 3m
    data_timeout: 15m
    reload: true

- name: Shorter RCPT TO timeout; every other option stays as it is on the server
  stalwart.mail.mta_connection_strategy:
    name: bulk
    rcpt_to_timeout: 90s

- name: Clear the description and the EHLO host name
  stalwart.mail.mta_connection_strategy:
    name: bulk
    description: ""
    ehlo_hostname: ""

- name: A batch, in one run; renaming "old-pool" to "warmup" is a delete plus a create
  stalwart.mail.mta_connection_strategy:
    strategies:
      - name: warmup
        connect_timeout: 1m
        source_ips:
          - ip: 198.51.100.7
            ehlo_hostname: out7.example.net
      - name: old-pool
        state: absent
      - name: default
        data_timeout: 10m
    reload: true
  register: batch

- name: Show what the batch did
  ansible.builtin.debug:
    var: batch.plan

- name: Exactly these strategies; unlisted ones are deleted, except those the outbound strategy uses
  stalwart.mail.mta_connection_strategy:
    strategies:
      - name: default
      - name: bulk
      - name: warmup
        connect_timeout: 1m
        source_ips:
          - ip: 198.51.100.7
            ehlo_hostname: out7.example.net
    purge: true

- name: Delete a strategy
  stalwart.mail.mta_connection_strategy:
    name: bulk
    state: absent
"""

RETURN = r"""
strategy:
  description:
    - With O(name), the strategy as it is after the run (as it would be, in check mode), in the form of
      M(stalwart.mail.mta_connection_strategy_info); V({}) when it is absent.
    - Durations are in the largest exact unit (V(5m), V(90s), V(1500ms)).
  returned: when O(name) is given
  type: dict
  sample:
    name: bulk
    description: Bulk mail via dedicated IPs
    ehlo_hostname: mx.example.org
    source_ips:
      - ip: 192.0.2.10
        ehlo_hostname: mx-192-0-2-10.example.org
      - ip: 2001:db8::a
        ehlo_hostname:
    connect_timeout: 3m
    data_timeout: 15m
    ehlo_timeout: 5m
    greeting_timeout: 5m
    mail_from_timeout: 5m
    rcpt_to_timeout: 5m
    id: jaga3maaaeaa
  contains:
    id:
      description: The server's id of the strategy; V(null) for a strategy that check mode predicts.
      type: str
    name:
      description: Name of the strategy.
      type: str
strategies:
  description:
    - With O(strategies), the strategies of the list that are present after the run (deleted ones are
      left out), in the order of the list and in the form of M(stalwart.mail.mta_connection_strategy_info).
    - Strategies deleted by O(purge) are not included.
  returned: when O(strategies) is given
  type: list
  elements: dict
  sample:
    - name: warmup
      description:
      ehlo_hostname:
      source_ips:
        - ip: 198.51.100.7
          ehlo_hostname: out7.example.net
      connect_timeout: 1m
      data_timeout: 10m
      ehlo_timeout: 5m
      greeting_timeout: 5m
      mail_from_timeout: 5m
      rcpt_to_timeout: 5m
      id: jaga3maaaeab
plan:
  description:
    - What the run does (or, in check mode, would do); the same in check mode as in the real run.
    - C(create) lists the names of the strategies created; C(delete) the names of those deleted;
      C(update) maps the name of each updated strategy to the options that change.
    - The key C(update) is also the name of a dictionary method, so in Jinja read it as
      C(result.plan['update']), not with a dot.
  returned: on success, and on a failure once the server was read (not on bad input or a failed read)
  type: dict
  sample:
    create: [warmup]
    update:
      default: [data_timeout]
    delete: [old-pool]
reloaded:
  description:
    - Whether the server reloaded its settings (O(reload=true) and something changed).
    - A run that fails after the server confirmed some changes, or after a write whose answer was lost,
      still reloads what the server confirmed or may have applied.
  returned: on success, and on a failure once the server was read (not on bad input or a failed read)
  type: bool
  sample: true
applied:
  description:
    - On failure, what the server confirmed, in the shape of RV(plan) (C(update) is a list of names here).
  returned: on failure, when the run had planned changes
  type: dict
  sample:
    create: [warmup]
    update: []
    delete: []
unconfirmed:
  description:
    - On failure, the strategies whose write was sent but whose answer was lost, when the server could not be
      read back to settle it; they may or may not have been applied.
  returned: on failure, when a write's outcome is unknown
  type: list
  elements: str
  sample: [warmup]
failed_strategies:
  description:
    - When the server refused some strategies, one entry per refused strategy; the others were applied.
    - O(source_ips) errors name the option as V(source_ips[].ip) or V(source_ips[].ehlo_hostname) (the
      server does not say which entry).
    - When the server refused a whole request (C(error_type) V(forbidden)), every strategy it carried is
      listed, and C(permission) names the permission the credentials lack.
  returned: on failure, when the server refused strategies
  type: list
  elements: dict
  sample:
    - strategy: bulk
      operation: create
      error_type: invalidPatch
      description: Invalid hostname or IP address
      properties: [ehlo_hostname]
      validation_errors: []
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
from ansible_collections.stalwart.mail.plugins.module_utils._operations import STRATEGY_MODULE


def main():
    run(STRATEGY_MODULE)


if __name__ == "__main__":
    main()
