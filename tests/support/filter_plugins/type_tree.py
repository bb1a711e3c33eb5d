# Test-only filter: the Python types inside a value.
"""``value | type_tree``: the value's structure with each leaf replaced by its type's name
(``{"changed": "bool", "plan": {"create": ["str"]}}``), so that a playbook can compare the types
two tasks' registered results have, which a callback's JSON would hide."""

from __future__ import annotations

from collections.abc import Mapping


def type_tree(value):
    if isinstance(value, Mapping):
        return {"__type__": type(value).__name__, **{str(key): type_tree(item) for key, item in value.items()}}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [type(value).__name__] + [type_tree(item) for item in value]
    return type(value).__name__


class FilterModule:
    def filters(self):
        return {"type_tree": type_tree}
