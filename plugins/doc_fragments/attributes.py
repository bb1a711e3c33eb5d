# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The attributes shared by the modules, in the form community.general and
# community.hashi_vault use: the common descriptions here, each module states its support
# (or uses INFO_MODULE), ACTIONGROUP_JMAP declares the membership of the action group
# that meta/runtime.yml defines, and ACTION says what the module's action plugin does.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

    ACTIONGROUP_JMAP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/stalwart.mail.jmap) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - stalwart.mail.jmap
"""

    ACTION = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - 'When the task''s connection is local (for example C(delegate_to: localhost), as the role
        P(stalwart.mail.mta_connection_strategies#role) runs it), the module''s work runs inside the
        controller''s worker process for the task, with no module process: about a fifth of a second
        less per host. The result is the module''s, field by field.'
      - 'This needs C(requests) for the Python that runs C(ansible-playbook). Without it, and for a
        task with C(async), with C(become), or whose connection is not local, the module runs in a
        process of its own, as any module does (without C(requests) a warning names that Python).'
"""
