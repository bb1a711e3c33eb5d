# Test-only connection plugin: the local connection under another name.
"""Runs commands on the controller like ``ansible.builtin.local`` but is not "local" to the
collection's action plugins, which then run the module in a process of its own, as for a task
delegated to another host. The tests use it to run the same task through both paths."""

from __future__ import annotations

DOCUMENTATION = """
    name: not_local
    short_description: the local connection under another name (tests only)
    description:
      - Runs commands on the controller, as C(ansible.builtin.local) does.
    author: stalwart.mail developers
    options: {}
"""

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    transport = "not_local"
