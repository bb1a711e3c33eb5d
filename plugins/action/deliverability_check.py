# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action of ``stalwart.mail.deliverability_check``: the module's engine in the controller's worker when
the task's connection is local, else the module (``plugins/plugin_utils/_worker_action.py``).
The module's documentation is in ``plugins/modules/deliverability_check.py``."""

from __future__ import annotations

from ansible_collections.stalwart.mail.plugins.module_utils import _dns
from ansible_collections.stalwart.mail.plugins.module_utils._operations import DELIVERABILITY_MODULE
from ansible_collections.stalwart.mail.plugins.plugin_utils._worker_action import EngineAction, controller_python


class ActionModule(EngineAction):
    SPEC = DELIVERABILITY_MODULE

    def module_process_reason(self):
        """As for every module, and also when dnspython does not import on the controller's
        Python: the module then runs where the task says, with the interpreter the inventory
        names (which may have it), as ``requests`` missing does; the worker would only fail."""
        reason, warning = super().module_process_reason()
        if reason is None and _dns.load() is not None:
            reason = f"the Python library dnspython does not import on the controller's Python, {controller_python()}"
            warning = (f"{self._task.action}: {reason}; the module ran in a process of its own instead (about 0.2 s "
                       "more per host). Install dnspython for the Python that runs ansible-playbook.")
        return reason, warning
