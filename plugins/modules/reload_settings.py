#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: reload_settings
short_description: Ask a Stalwart mail server to apply its changed settings
version_added: 0.1.0
description:
  - Sends Stalwart's C(ReloadSettings) action (C(x:Action/set)) through the JMAP management API, so
    that the server applies configuration objects changed since its last reload.
  - It is what the handler of the role P(stalwart.mail.mta_connection_strategies#role) runs, once
    per host after changes. Notify that handler, or run this module, after other changes too.
  - M(stalwart.mail.mta_connection_strategy) with O(stalwart.mail.mta_connection_strategy#module:reload=true)
    sends the same action itself, in a request of its own after its writes, and only after a change.
  - Always reports a change (a reload is not idempotent in effect, and the server does not say
    whether anything was pending).
author:
  - stalwart.mail developers (@stalwart-mail-ansible)
extends_documentation_fragment:
  - stalwart.mail.connection
  - stalwart.mail.attributes
  - stalwart.mail.attributes.ACTIONGROUP_JMAP
  - stalwart.mail.attributes.ACTION
attributes:
  check_mode:
    support: full
    details:
      - Sends no request at all (the connection options are still checked) and reports a change.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run asks the server to reload and reports a change.
options: {}
notes:
  - The token needs the permissions C(sysActionCreate) and C(actionReloadSettings).
  - A reload is safe to repeat, so unlike the writes of M(stalwart.mail.mta_connection_strategy) it
    is retried after a lost answer as well.
seealso:
  - module: stalwart.mail.mta_connection_strategy
"""

EXAMPLES = r"""
# The connection comes from module_defaults (group/stalwart.mail.jmap), as in the play shown in the
# EXAMPLES of stalwart.mail.mta_connection_strategy; in a handler, the same task notified by the
# tasks that change settings.

- name: Apply the changed settings
  stalwart.mail.reload_settings:
  register: reload_result

- name: Say so
  ansible.builtin.debug:
    msg: "{{ 'the server reloaded its settings' if reload_result.reloaded else 'nothing was sent (check mode)' }}"
"""

RETURN = r"""
reloaded:
  description: Whether the server accepted the reload (V(false) in check mode, where nothing is sent).
  returned: success
  type: bool
  sample: true
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
from ansible_collections.stalwart.mail.plugins.module_utils._operations import RELOAD_MODULE


def main():
    run(RELOAD_MODULE)


if __name__ == "__main__":
    main()
