# Test-only become plugin: become without changing user.
"""Runs the command as it is: a task with ``become`` that needs no password, no sudo and no
other user, so that the tests can show which path a task with ``become`` takes."""

from __future__ import annotations

DOCUMENTATION = """
    name: pass_through
    short_description: become without changing user (tests only)
    description:
      - Runs the command unchanged.
    author: stalwart.mail developers
    options:
      become_user:
        description: The user to become (ignored).
        default: root
        ini:
          - section: privilege_escalation
            key: become_user
        vars:
          - name: ansible_become_user
        env:
          - name: ANSIBLE_BECOME_USER
"""

from ansible.plugins.become import BecomeBase


class BecomeModule(BecomeBase):
    name = "pass_through"

    def build_become_command(self, cmd, shell):
        super().build_become_command(cmd, shell)
        return cmd
