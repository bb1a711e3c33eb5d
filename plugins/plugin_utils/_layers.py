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
