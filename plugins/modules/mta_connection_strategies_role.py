#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the action plugin of the same name (plugins/action/) does the work.

from __future__ import annotations

DOCUMENTATION = r"""
module: mta_connection_strategies_role
short_description: The usual run of the role stalwart.mail.mta_connection_strategies (internal to the role)
version_added: 0.1.0
description:
  - Internal to the role P(stalwart.mail.mta_connection_strategies#role), which runs it as its first
    task; use the role. It works only inside that role, and may change with it.
  - Reads the host's variables itself, as the role's templates would, and runs
    M(stalwart.mail.mta_connection_strategy) with them once, applying the merged list
    (C(stalwart_mta_connection_strategies) and its C(__<suffix>) layers) with
    C(stalwart_mta_connection_strategies_purge) and C(stalwart_mta_connection_strategies_force),
    with O(stalwart.mail.mta_connection_strategy#module:reload=false) (the role's handler reloads).
  - The connection is the play's C(module_defaults) for C(group/stalwart.mail.jmap), then the role's
    C(stalwart_*) connection variables that are set, not null and not empty, then the play's
    C(module_defaults) for M(stalwart.mail.mta_connection_strategy).
  - It is skipped, as a task whose condition is false, when routing is set or the deliverability
    check is on. The role's steps then apply the list instead, in their order.
  - It exists for speed only. Each template of a task costs every host's worker a compile, and the
    ones this run needed were about half of what the task cost a host.
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.attributes
  - stalwart.mail.attributes.ACTION
attributes:
  check_mode:
    support: full
    details:
      - As M(stalwart.mail.mta_connection_strategy).
  diff_mode:
    support: full
    details:
      - As M(stalwart.mail.mta_connection_strategy).
  idempotent:
    support: full
options: {}
seealso:
  - module: stalwart.mail.mta_connection_strategy
"""

EXAMPLES = r"""
# Not for playbooks: the role runs it. This applies the same list, from the host's variables:
- name: Apply the host's connection strategies
  ansible.builtin.include_role:
    name: stalwart.mail.mta_connection_strategies
"""

RETURN = r"""
strategies:
  description:
    - The result of M(stalwart.mail.mta_connection_strategy), field by field (see its return values).
  returned: success
  type: list
  elements: dict
  sample: []
"""
