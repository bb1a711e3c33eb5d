# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stalwart.mail developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The names of the layers that the role's filters merge (merge_strategies, merge_routes).

The role finds its layers by the prefix of their names and hands the filters every variable that
starts with it (its own options apart). A name with that prefix that is not the plain variable nor
``<base>__<suffix>`` is a typo (one underscore, no suffix): left out silently, its items would be
missing from the list, and purge would delete those strategies. The filters refuse it instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def check_layer_names(layers, base):
    """With ``base`` (the plain variable's name), refuse every name of ``layers`` that is neither
    ``base`` nor ``base__<suffix>``; without it, accept any name."""
    if base is None:
        return
    base = str(base)
    for name in sorted((str(name) for name in layers), key=str):
        if name == base or (name.startswith(f"{base}__") and len(name) > len(base) + 2):
            continue
        raise AnsibleFilterError(
            f"{name} is not a layer of {base}: a layer is named {base}__<suffix> (two underscores, then a suffix "
            f"such as 20_host); rename it, or its items would be left out of the list")


# ansible-core 2.16 to 2.18 template omit to this prefix and a hash; 2.19 and later to a sentinel
OMIT_PREFIX = "__omit_place_holder__"
# vaulted strings as ansible-core 2.16 to 2.18 (the first) and 2.19 and later hand them to a filter
VAULTED_TYPES = ("AnsibleVaultEncryptedUnicode", "EncryptedString")


def omitted(value):
    """Whether ``value`` is what ``default(omit)`` gave (a task drops such an argument; a filter
    receives it as it is)."""
    return type(value).__name__ == "_OmitType" or (isinstance(value, str) and value.startswith(OMIT_PREFIX))


def cleaned(value):
    """``value`` as a layer's data means it, in plain Python data (``str``, ``int``, ``float``,
    ``bool``, ``None``, ``list``, ``dict``):

    - a dictionary without the keys whose value is omitted (``description: "{{ x | default(omit) }}"``
      means "not given here", as ``null`` does, so that an earlier layer's value stands), a list
      without its omitted elements, and None for an omitted value;
    - a vaulted string decrypted (ansible-core 2.16 to 2.18 hand a filter the vault object, no ``str``);
    - ansible-core's tagged types as the plain ones: each value read from inventory carries where it
      was read; the modules never see those tags (their arguments arrive through JSON), but
      ansible-core would copy, pickle and unpickle them with the task's arguments for every host.
    """
    if omitted(value):
        return None
    if type(value).__name__ in VAULTED_TYPES:
        return str(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {cleaned(key): cleaned(item) for key, item in value.items() if not omitted(item)}
    if isinstance(value, (list, tuple)):
        return [cleaned(item) for item in value if not omitted(item)]
    return value
