# -*- coding: utf-8 -*-
# Copyright (c) stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: merge_strategies
short_description: Merge layers of connection strategy lists by strategy name
version_added: 0.1.0
author: stalwart.mail developers
description:
  - Merges several lists of connection strategies, each held by a named variable, into one list
    for the C(strategies) option of M(stalwart.mail.mta_connection_strategy).
  - The layers are merged in the sorted order of their variable names (plain string order, so
    pad numbers, V(10_common) before V(20_host)). The role C(stalwart.mail.mta_connection_strategies)
    passes V(stalwart_mta_connection_strategies) and every V(stalwart_mta_connection_strategies__<suffix>),
    so the plain list comes first and the suffixes follow in order.
  - Strategies are matched by C(name). A later
    layer wins option by option; an option that a later layer leaves out (or sets to V(null)) keeps
    the value of the earlier layers. A list option (C(source_ips)) is replaced whole, not merged.
  - A strategy whose merged C(state) is V(absent) keeps only its C(name) and C(state).
  - An omitted value (Ansible's C(omit) placeholder, as the C(default) filter gives it for an undefined variable)
    counts as not given, as V(null) does, so that the earlier layers' value stands; an omitted item or
    C(source_ips) entry is left out.
  - A name given twice in one layer fails, naming both positions (a later layer changes a strategy, not the same one).
  - The C(id) key (as returned by M(stalwart.mail.mta_connection_strategy_info)) is dropped, since the name is the key.
  - A C(name) given as a number is taken as its text (V(2024) is V("2024")), as the module takes it; a
    boolean (an unquoted V(yes) or V(no) in YAML) is refused with the advice to quote it.
  - Each layer is checked before merging. A layer that is not a list, an item that is not a
    dictionary or has no C(name), an unknown key, a C(state) other than V(present) or V(absent), or a
    C(source_ips) that is not a list of dictionaries with an C(ip) fails with a message naming the
    variable, the item and what is accepted. The values themselves (durations, hostnames, IPs) are
    checked by the module, also before any request.
options:
  _input:
    description:
      - The layers, a dictionary from variable name to a list of strategies.
      - A layer whose value is V(null) (an empty YAML variable) counts as an empty list.
    type: dict
    required: true
  layers_of:
    description:
      - The name of the plain list variable. When given, every layer must be named as it is, or as it is
        followed by C(__<suffix>); any other name fails, naming the variable. The role passes every variable that
        begins with V(stalwart_mta_connection_strategies_) (its own options apart), so that a layer named with
        one underscore fails instead of being left out, which purge would turn into deletes.
    type: str
seealso:
  - module: stalwart.mail.mta_connection_strategy
  - module: stalwart.mail.mta_connection_strategy_info
"""

EXAMPLES = r"""
- name: Merge a group layer and a host layer
  ansible.builtin.debug:
    msg: "{{ layers | stalwart.mail.merge_strategies }}"
  vars:
    layers:
      stalwart_mta_connection_strategies__10_common:
        - name: bulk
          ehlo_hostname: bulk.example.org
          data_timeout: 15m
        - name: gmail
          greeting_timeout: 2m
      stalwart_mta_connection_strategies__20_host:
        - name: bulk
          source_ips:
            - ip: 192.0.2.10
              ehlo_hostname: mx1-a.example.org
# msg:
#   - name: bulk
#     ehlo_hostname: bulk.example.org
#     data_timeout: 15m
#     source_ips: [{ip: 192.0.2.10, ehlo_hostname: mx1-a.example.org}]
#   - name: gmail
#     greeting_timeout: 2m

- name: Merge every layer in scope, as the role does
  ansible.builtin.debug:
    msg: >-
      {{ dict(layer_names | zip(query('ansible.builtin.vars', *layer_names)))
         | stalwart.mail.merge_strategies(layers_of='stalwart_mta_connection_strategies') }}
  vars:
    # every variable of the prefix, but the role's options: a layer named with one underscore
    # (stalwart_mta_connection_strategies_20_host) then fails, where a stricter pattern would leave it out
    layer_names: >-
      {{ query('ansible.builtin.varnames', '^stalwart_mta_connection_strategies(_.*)?$')
         | reject('in', ['stalwart_mta_connection_strategies_purge', 'stalwart_mta_connection_strategies_force',
                         'stalwart_mta_connection_strategies_reload']) | list }}
"""

RETURN = r"""
_value:
  description:
    - The merged strategies, in the order in which their names first appear in the layers.
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.stalwart.mail.plugins.module_utils._objects import CONNECTION_STRATEGY
from ansible_collections.stalwart.mail.plugins.module_utils._values import SOURCE_IP_KEYS as _SOURCE_IP_KEYS
from ansible_collections.stalwart.mail.plugins.module_utils._values import YAML_BOOLEAN
from ansible_collections.stalwart.mail.plugins.plugin_utils._layers import check_layer_names, cleaned

# The keys of one item of the module's ``strategies`` option, ``id`` included (the info module
# returns it and the module ignores it), from the object's declaration.
STRATEGY_KEYS = frozenset(CONNECTION_STRATEGY.item_spec())
SOURCE_IP_KEYS = frozenset(_SOURCE_IP_KEYS) | {"source_ip"}
STATES = ("present", "absent")


def _kind(value):
    """What a value is, in words (Ansible's lazy/tagged containers have unhelpful class names)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a dictionary"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _where(layer, index, item):
    """Name the place of an item in the layers, for error messages."""
    name = item.get("name") if isinstance(item, Mapping) else None
    label = f"{layer}[{index}]"
    return f"{label} (strategy {name!r})" if isinstance(name, str) and name else label


def _check_source_ips(where, value):
    if value is None:
        return
    if not isinstance(value, list):
        raise AnsibleFilterError(
            f"{where}: source_ips must be a list of {{ip, ehlo_hostname}} dictionaries "
            f"([] clears it), got {_kind(value)}")
    for position, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise AnsibleFilterError(
                f"{where}: source_ips[{position}] must be a dictionary with ip and ehlo_hostname, "
                f"got {_kind(entry)}")
        unknown = sorted(str(key) for key in entry if key not in SOURCE_IP_KEYS)
        if unknown:
            raise AnsibleFilterError(
                f"{where}: source_ips[{position}] has unknown key(s) {', '.join(unknown)}; "
                f"accepted: ip (alias source_ip), ehlo_hostname")
        if entry.get("ip") is None and entry.get("source_ip") is None:
            raise AnsibleFilterError(f"{where}: source_ips[{position}] has no ip")


def check_layer(layer, items):
    """Return the items of one layer after checking their shape; raise AnsibleFilterError naming
    the variable and the item otherwise. ``None`` (an empty YAML variable) is an empty layer."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise AnsibleFilterError(
            f"{layer} must be a list of strategies (dictionaries with a name), "
            f"got {_kind(items)}")
    seen = {}
    for index, item in enumerate(items):
        where = _where(layer, index, item)
        if not isinstance(item, Mapping):
            raise AnsibleFilterError(f"{where} must be a dictionary with a name, got {_kind(item)}")
        name = item.get("name")
        if isinstance(name, bool):
            raise AnsibleFilterError(
                f"{where}: the name must be a string, got the boolean {str(name).lower()} ({YAML_BOOLEAN}): quote it, "
                "for example name: 'yes'")
        if name is None or name == "":
            raise AnsibleFilterError(f"{where} has no name: every strategy needs a non-empty string name")
        if not isinstance(name, (str, int, float)):
            raise AnsibleFilterError(f"{where}: the name must be a string, got {_kind(name)}")
        unknown = sorted(str(key) for key in item if key not in STRATEGY_KEYS)
        if unknown:
            raise AnsibleFilterError(
                f"{where} has unknown key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(STRATEGY_KEYS))}")
        state = item.get("state")
        if state is not None and state not in STATES:
            raise AnsibleFilterError(f"{where}: state must be present or absent, got {state!r}")
        _check_source_ips(where, item.get("source_ips"))
        # within one layer a name is given once: merged, the later item would replace the earlier's
        # options unseen (the module refuses a name given twice, but never sees the merge's input)
        if str(name) in seen:
            raise AnsibleFilterError(
                f"{where} repeats the name of {layer}[{seen[str(name)]}]: give each strategy once in a layer (a later "
                "layer, with another suffix, changes it option by option)")
        seen[str(name)] = index
    return items


def merge_strategies(layers, layers_of=None):
    """Merge ``{variable name: [strategy, ...]}`` by strategy name, layers in sorted name order,
    later layers winning option by option (see DOCUMENTATION); ``layers_of``: the plain list's
    name, which every layer's name must be or extend with ``__<suffix>``."""
    if not isinstance(layers, Mapping):
        raise AnsibleFilterError(
            f"merge_strategies expects a dictionary from variable name to strategy list, got {_kind(layers)}")
    check_layer_names(layers, layers_of)
    # as plain data (each layer a copy): default(omit) means "not given here", as null does, vaulted
    # strings are decrypted, and no value carries ansible-core's tags into the task's arguments
    layers = {layer: cleaned(items) for layer, items in layers.items()}
    merged = {}
    for layer in sorted(layers, key=str):
        for item in check_layer(layer, layers[layer]):
            # a number is taken as its text, as the module takes it (name: 2024 is "2024")
            name = str(item["name"])
            target = merged.setdefault(name, {"name": name})
            for key, value in item.items():
                # ``None`` means "not given here": an empty YAML value must not erase what an
                # earlier layer set (``""`` and ``[]`` are how a layer clears a value).
                if key not in ("id", "name") and value is not None:
                    target[key] = value
    result = []
    for strategy in merged.values():
        if strategy.get("state") == "absent":
            strategy = {"name": strategy["name"], "state": "absent"}
        result.append(strategy)
    return result


class FilterModule:
    """Filters of stalwart.mail."""

    def filters(self):
        return {"merge_strategies": merge_strategies}
