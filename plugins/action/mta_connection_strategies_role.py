# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action of ``stalwart.mail.mta_connection_strategies_role``: the usual run of the role
``stalwart.mail.mta_connection_strategies`` (neither deliverability check nor routing), reading the
host's variables in Python and running ``stalwart.mail.mta_connection_strategy`` with them
(``plugins/modules/mta_connection_strategies_role.py`` documents it).

It does what the role's templates do on the steps' path (``tasks/main.yml``, the block's ``vars``
and ``module_defaults``; ``vars/main.yml``), in the same order and with the same values:

- it is skipped, as a task whose condition is false, when routing is set (a variable named
  ``stalwart_mta_connection_routes`` or ``stalwart_mta_connection_routes_<suffix>``, or a route
  default set and not empty) or the deliverability check is on: ``tasks/steps.yml`` runs then;
- the layers are the variables named ``stalwart_mta_connection_strategies`` or
  ``stalwart_mta_connection_strategies_<suffix>``, but the role's own options, each templated
  as the ``vars`` lookup templates it, merged by the ``merge_strategies`` filter's own code;
- the connection: the play's ``module_defaults`` for the group ``stalwart.mail.jmap``, then the
  role's ``stalwart_*`` connection variables that are set, not null and not empty, then the play's
  ``module_defaults`` for ``stalwart.mail.mta_connection_strategy`` itself (as the role's action
  group ``role_connection`` orders them for the other tasks).

Why in Python: every template costs every host's worker a compile (ansible-core keeps none between
workers), and the ten or so the usual run needed were half of what its module task cost a host
(docs/architecture.md, "The role's tasks"). ``tests/integration/test_role.py`` holds it to the
templates (``test_the_usual_run_and_the_strategies_step_run_the_module_alike`` and the tests it names).
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleActionFail

from ansible_collections.stalwart.mail.plugins.filter.merge_strategies import merge_strategies
from ansible_collections.stalwart.mail.plugins.module_utils._operations import STRATEGY_MODULE
from ansible_collections.stalwart.mail.plugins.plugin_utils._worker_action import (
    LAYER_PATTERN as LAYERS,
    ROUTE_PATTERN as ROUTES,
    EngineAction,
)

# the module the role runs, as module_defaults and messages name it
MODULE = "stalwart.mail.mta_connection_strategy"
# the role's own action group (meta/runtime.yml): its module_defaults entry is the role's
# connection variables, which this action reads itself
ROLE_GROUP = "stalwart.mail.role_connection"
# the plain list's name, which every layer's name extends (merge_strategies' layers_of)
LAYERS_OF = "stalwart_mta_connection_strategies"


def _role_list(task_vars, name):
    """A list the role's vars/main.yml defines (a missing one: a role too old for this action)."""
    value = task_vars.get(name)
    if not isinstance(value, list):
        raise AnsibleActionFail(f"the role's variable {name} is not set: this action runs inside the role "
                                "stalwart.mail.mta_connection_strategies only")
    return value


class ActionModule(EngineAction):
    SPEC = STRATEGY_MODULE

    def run(self, tmp=None, task_vars=None):
        result = super(EngineAction, self).run(tmp, task_vars)  # ActionBase's: the checks of every action
        del tmp  # no longer has any effect
        task_vars = task_vars or {}
        template = self._templar.template
        if self.steps_needed(task_vars, template):
            result.update(changed=False, skipped=True,
                          skip_reason="Routing or the deliverability check is set: the role's steps run instead")
            return result
        return self.run_engine(result, task_vars, MODULE, self.module_args(task_vars, template))

    @staticmethod
    def steps_needed(task_vars, template):
        """Whether routing or the deliverability check is set (``tasks/steps.yml`` runs then):
        the role's ``mta_connection_strategies_routing``, or a check not in
        ``mta_connection_strategies_off``."""
        if any(re.search(ROUTES, name) for name in task_vars):
            return True
        if template(task_vars.get("stalwart_mta_connection_route_default")) not in (None, ""):
            return True
        return template(task_vars.get("stalwart_deliverability_check")) not in _role_list(
            task_vars, "mta_connection_strategies_off")

    def module_args(self, task_vars, template):
        """The module's arguments: the connection, in the order of ``module_defaults``, then the
        merged list and the role's options."""
        own = _role_list(task_vars, "mta_connection_strategies_own_options")
        names = [name for name in task_vars if re.search(LAYERS, name) and name not in own]
        layers = {name: template(task_vars[name]) for name in names}
        args = self.connection(task_vars, template)
        args.update(strategies=merge_strategies(layers, layers_of=LAYERS_OF),
                    purge=template(task_vars.get("stalwart_mta_connection_strategies_purge")),
                    force=template(task_vars.get("stalwart_mta_connection_strategies_force")),
                    # the reload is the handler's, once per host at the end of the play
                    reload=False)
        return args

    def connection(self, task_vars, template):
        """The connection options: the play's module_defaults of the module's groups, then the
        role's variables that are set, not null and not empty, then the play's module_defaults
        of the module itself (``_get_action_arg_defaults`` of ansible-core, with the role's own
        group read from the variables instead of templated)."""
        entries = {}
        for entry in self._task.module_defaults or []:
            entries.update(entry)
        # pylint: disable-next=protected-access
        groups = (self._task._parent._play._action_groups or {}).get(MODULE, [])
        args = {}
        for key, value in entries.items():
            group = key.split("group/")[-1] if key.startswith("group/") else None
            if group in groups and group != ROLE_GROUP:
                args.update(template(value) or {})
        options = _role_list(task_vars, "mta_connection_strategies_options")
        variables = _role_list(task_vars, "mta_connection_strategies_variables")
        for option, variable in zip(options, variables):
            value = template(task_vars[variable]) if variable in task_vars else ""
            if value not in ("", None):
                args[option] = value
        args.update(template(entries.get(MODULE)) or {})
        return args
