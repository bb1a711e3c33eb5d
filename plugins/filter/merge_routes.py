# -*- coding: utf-8 -*-
# Copyright (c) stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: merge_routes
short_description: Join layers of connection routes into the rules of the outbound strategy
version_added: 0.1.0
author: stalwart.mail developers
description:
  - Joins several lists of routes, each held by a named variable, into the C(rules) of the C(connection) option
    of M(stalwart.mail.mta_outbound_strategy).
  - A route is C({if, strategy}); the first whose condition is true decides, so order matters. C(then) is taken
    for C(strategy), so that the C(rules) of M(stalwart.mail.mta_outbound_strategy_info) paste in as they are; a
    C(then_expr) (a computed name) fails, as a route names its strategy. The layers are
    appended in the sorted order of their variable names (plain string order). The role
    C(stalwart.mail.mta_connection_strategies) passes V(stalwart_mta_connection_routes) and every
    V(stalwart_mta_connection_routes__<suffix>), so the plain list comes first and the suffixes follow in order.
  - Each layer is checked before joining. A layer that is not a list, a route that is not a dictionary, lacks
    C(if) or C(strategy) or has another key fails with a message naming the variable, the route and what is
    accepted. A layer whose value is V(null) (an empty YAML variable) counts as an empty list.
  - A route's C(strategy) is checked as M(stalwart.mail.mta_outbound_strategy) checks a C(then) name, a
    non-empty string that can be written as a string literal of Stalwart's expressions (no backslash, not both
    kinds of quote). A number is taken as its text (V(2024) is V("2024")), as
    P(stalwart.mail.merge_strategies#filter) takes a strategy's name.
  - The role merges the routes before it writes anything, so that a malformed route fails the host while the
    server is still untouched.
options:
  _input:
    description:
      - The layers, a dictionary from variable name to a list of routes.
    type: dict
    required: true
  default:
    description:
      - The route default (the expression's C(else)), checked as a route's C(strategy) is, so that a malformed
        one fails where the routes are checked. V(null) or an empty string means not set. It is not part of the
        result.
    type: raw
  layers_of:
    description:
      - The name of the plain list variable. When given, every layer must be named as it is, or as it is
        followed by C(__<suffix>); any other name fails, naming the variable. The role passes every variable that
        begins with V(stalwart_mta_connection_routes_), so that a layer named with one underscore fails instead of
        being left out.
    type: str
  absent:
    description:
      - Names of strategies that the same run deletes (the role passes the items of its list set V(absent)). A
        route or a route default to one of them fails, naming the route, before anything is written, as the
        expression would route mail to a strategy that is about to go.
    type: list
    elements: str
seealso:
  - module: stalwart.mail.mta_outbound_strategy
"""

EXAMPLES = r"""
- name: Join a group layer and a host layer
  ansible.builtin.debug:
    msg: "{{ layers | stalwart.mail.merge_routes }}"
  vars:
    layers:
      stalwart_mta_connection_routes:
        - if: rcpt_domain == 'gmail.com'
          strategy: warmup
      stalwart_mta_connection_routes__20_host:
        - if: rcpt_domain == 'outlook.com'
          strategy: warmup
# msg:
#   - if: rcpt_domain == 'gmail.com'
#     then: warmup
#   - if: rcpt_domain == 'outlook.com'
#     then: warmup
"""

RETURN = r"""
_value:
  description:
    - The rules, in order, each C({if, then}) with C(then) the route's C(strategy).
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.stalwart.mail.plugins.module_utils._values import YAML_BOOLEAN, as_text, name_literal
from ansible_collections.stalwart.mail.plugins.plugin_utils._layers import check_layer_names, cleaned

# then: the name's key in the rules of mta_outbound_strategy_info, so that they paste in as they are
ROUTE_KEYS = ("if", "strategy", "then")
ACCEPTED = "a route is a dictionary {if: <condition>, strategy: <name>} (then is taken for strategy)"
DEFAULT = "stalwart_mta_connection_route_default"


def _strategy(where, value):
    """A route's strategy name as text, checked as the outbound module checks a ``then`` name."""
    if isinstance(value, bool):
        raise AnsibleFilterError(
            f"{where}: the strategy must be a name, got the boolean {str(value).lower()} ({YAML_BOOLEAN}): quote it, "
            "for example strategy: 'yes'")
    # a number is taken as its text, as merge_strategies and the modules take a name
    text = as_text(value)
    if text is None or not text.strip():
        raise AnsibleFilterError(f"{where} must be a non-empty string (a strategy name), got {value!r}")
    if name_literal(text) is None:
        raise AnsibleFilterError(
            f"{where}: the name {text!r} cannot be written as a string literal of Stalwart's expressions (it "
            f"holds a backslash, or both kinds of quote); give the strategy another name")
    return str(text)


def _not_absent(where, name, absent):
    if name in absent:
        raise AnsibleFilterError(
            f"{where} routes to {name!r}, which the strategies list sets absent (state: absent in "
            "stalwart_mta_connection_strategies or one of its __<suffix> layers), so it would be deleted right after: "
            "route elsewhere, or keep the strategy")
    return name


def merge_routes(layers, default=None, absent=(), layers_of=None):
    """Join ``{variable name: [route, ...]}`` in sorted name order into outbound rules; check
    ``default`` (the route default) as a route's strategy; refuse a route to a name in ``absent``."""
    if not isinstance(layers, Mapping):
        raise AnsibleFilterError(f"merge_routes expects a dictionary from variable name to route list; {ACCEPTED}")
    check_layer_names(layers, layers_of)
    # default(omit) means "not set", as null does; vaulted strings decrypted (ansible-core 2.16 to 2.18)
    layers = {layer: cleaned(routes) for layer, routes in layers.items()}
    default = cleaned(default)
    absent = {str(name) for name in absent or ()}
    if default is not None and default != "":
        where = DEFAULT if default != "default" else f"{DEFAULT} ('default' when it is not set)"
        _not_absent(where, _strategy(DEFAULT, default), absent)
    rules = []
    for layer in sorted(layers, key=str):
        routes = layers[layer]
        if routes is None:
            continue
        if not isinstance(routes, list):
            raise AnsibleFilterError(f"{layer} must be a list of routes; {ACCEPTED}")
        for index, route in enumerate(routes):
            where = f"{layer}[{index}]"
            if not isinstance(route, Mapping):
                raise AnsibleFilterError(f"{where} must be a dictionary; {ACCEPTED}")
            if "then_expr" in route:
                raise AnsibleFilterError(
                    f"{where}: then_expr (a strategy name computed per delivery) cannot be a route of the role, "
                    "whose routes name their strategy; keep such routing in stalwart.mail.mta_outbound_strategy "
                    "tasks, and the role's routing variables unset")
            unknown = sorted(str(key) for key in route if key not in ROUTE_KEYS)
            if unknown:
                raise AnsibleFilterError(f"{where} has unknown key(s) {', '.join(unknown)}; {ACCEPTED}")
            if "strategy" in route and "then" in route:
                raise AnsibleFilterError(f"{where} has both strategy and then (its alias): give one")
            condition = route.get("if")
            if isinstance(condition, bool):
                raise AnsibleFilterError(
                    f"{where}: if must be a condition (a string), got the boolean {str(condition).lower()} "
                    f"({YAML_BOOLEAN}): quote it, for example if: \"rcpt_domain == 'gmail.com'\"")
            if not isinstance(condition, str) or not condition.strip():
                raise AnsibleFilterError(f"{where}: if must be a non-empty string (a condition); {ACCEPTED}")
            key = "then" if "then" in route else "strategy"
            name = _strategy(f"{where}: {key}", route.get(key))
            rules.append({"if": str(condition), "then": _not_absent(where, name, absent)})
    return rules


class FilterModule:
    """Filters of stalwart.mail."""

    def filters(self):
        return {"merge_routes": merge_routes}
