"""Stopping a process the lab started, and no other: kill(2) by PID and start time.

A PID is only a number the kernel hands out again once its process is
gone: a record that says "kill 4242" could, after a crash and a while,
name someone else's process. So every process record also keeps the
process's start time (field 22 of /proc/PID/stat, in clock ticks since
boot), and the lab signals a PID only while that start time still
matches. See kill(2), proc_pid_stat(5).
"""

from __future__ import annotations

import os
import signal
import time

from .. import tracker
from ..errors import CleanupError
from ..proc.stat import is_running, process_start_time


@tracker.undoes("process", order=10)  # first: processes hold mounts, cgroups and namespaces busy
def kill_recorded(rec: tracker.Record) -> str:
    """SIGKILL the recorded process if it is still the same one, and wait until it is gone."""
    pid, start = int(rec.target), rec.extra.get("start_time")
    now = process_start_time(pid)
    if now is None:
        return "already gone"
    if start is not None and now != start:
        return "already gone (PID reused by another process)"
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "already gone"
    # Reap it if it is our child; otherwise wait until its parent (or init) has.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return "killed"
        except ChildProcessError:
            if not is_running(pid, start):  # gone, a zombie, or its PID already reused
                return "killed"
        time.sleep(0.005)
    raise CleanupError(f"process {pid} did not die after SIGKILL", "look at it with ps -o pid,stat,wchan")


__all__ = ["kill_recorded"]
