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
from ansible_collections.stalwart.mail.plugins.plugin_utils._worker_action import EngineAction


class ActionModule(EngineAction):
    SPEC = DELIVERABILITY_MODULE

    def missing_libraries(self):
        """requests, and dnspython too (imported only by this module, when a check needs DNS)."""
        return super().missing_libraries() + (["dnspython"] if _dns.load() is not None else [])
