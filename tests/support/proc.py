"""Run a command from a test so that nothing it starts outlives it.

``subprocess.run(timeout=...)`` kills only its direct child on a timeout: the simulators that a
demo or a molecule scenario started in the background keep running, holding ports (and the
output pipes, so that ``run`` may never return). :func:`run` starts the command in a session of
its own and, on a timeout or an interrupt, kills the whole process group; after a normal exit it
also stops whatever the command left behind in its group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the process group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_alive(pgid: int) -> bool:
    return _signal_group(pgid, 0)


def kill_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group of ``process`` (a session leader), SIGKILL after GRACE."""
    pgid = process.pid
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, or it stays in the group as a zombie
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def run(command, *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Like ``subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)``,
    with the command in its own session: on a timeout the whole group is killed and
    ``subprocess.TimeoutExpired`` raised with the output so far; what it leaves running is stopped."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(command, timeout, output=stdout, stderr=stderr) from None
        except BaseException:  # an interrupted test must not leave the group running either
            kill_group(process)
            raise
        kill_group(process)  # leftovers only: the command itself has exited
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
