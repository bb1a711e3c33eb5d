# Test-only callback: records every task result of a playbook run as JSON, for the test suite.
"""Record each task's result (task name, host, status, the module's result dict incl. ``diff``)
to the JSON file named by the ``RECORD_RESULTS_FILE`` environment variable.

Enabled by ``tests/support/ansible.py`` through ``ANSIBLE_CALLBACKS_ENABLED=record_results`` and
``ANSIBLE_CALLBACK_PLUGINS``; the default stdout callback stays in place, so diffs and warnings
remain visible in stdout/stderr. The file is rewritten after every result, so a crash mid-play
still leaves what ran so far.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: record_results
type: aggregate
short_description: write every task result to a JSON file (test suite only)
description:
  - Writes a JSON list with one entry per task result to the file in C(RECORD_RESULTS_FILE).
requirements:
  - enabled in the callback allow list
"""

import json
import os
from collections.abc import Mapping

from ansible.plugins.callback import CallbackBase


def _plain(value):
    """Tagged/unsafe strings, mappings and sequences to plain JSON-able Python values."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("RECORD_RESULTS_FILE")
        self._entries = []
        self._play = None

    def _flush(self):
        if not self._path:
            return
        tmp = self._path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self._entries, handle, indent=1, default=str)
        os.replace(tmp, self._path)

    def _record(self, result, status, ignore_errors=False):
        task = result._task
        data = _plain(getattr(result, "_result", {}) or {})
        if status == "ok" and data.get("changed"):
            status = "changed"
        # ansible-core 2.19 no longer keeps ``failed`` in the result the callbacks see; put it back
        # from the callback that fired, as ``register`` would show it, so tests read one field
        data["failed"] = status == "failed"
        self._entries.append({
            "play": self._play,
            "task": task.get_name(),
            "action": task.action,
            "host": result._host.get_name(),
            "status": status,
            "ignore_errors": bool(ignore_errors),
            "result": data,
        })
        self._flush()

    def v2_playbook_on_start(self, playbook):
        self._flush()

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, "failed", ignore_errors)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._flush()
