# Benchmark-only callback: how long each task of a play took, for benchmarks/run.py.
"""Write ``{"tasks": [[task name, seconds], ...], "play": seconds}`` to the JSON file named by
``BENCHMARK_TASK_TIMES``: a task lasts from its start to the start of the next task (or the end
of the playbook), over all hosts; ``play`` runs from the first play's start to the end."""

from __future__ import annotations

DOCUMENTATION = r"""
name: task_times
type: aggregate
short_description: per-task wall time for the benchmark
description:
  - Writes each task's wall time to the JSON file in C(BENCHMARK_TASK_TIMES).
requirements:
  - enabled in the callback allow list
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tasks = []
        self._current = None
        self._play_start = None

    def _close(self, now):
        if self._current is not None:
            name, start = self._current
            self._tasks.append([name, now - start])
            self._current = None

    def v2_playbook_on_play_start(self, play):
        now = time.perf_counter()
        self._close(now)
        if self._play_start is None:
            self._play_start = now

    def v2_playbook_on_task_start(self, task, is_conditional):
        now = time.perf_counter()
        self._close(now)
        self._current = (task.get_name(), now)

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        now = time.perf_counter()
        self._close(now)
        path = os.environ.get("BENCHMARK_TASK_TIMES")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"tasks": self._tasks, "play": now - (self._play_start or now)}, handle)
