"""Stopping a process the lab started, and no other: a pidfd checked against the start time.

A PID is only a number the kernel hands out again once its process is
gone: a record that says "kill 4242" could, after a crash and a while,
name someone else's process. So every process record also keeps the
process's start time (field 22 of /proc/PID/stat, in clock ticks since
boot); a record without one is refused. The lab opens a *pidfd* on the PID
(pidfd_open(2)): a file descriptor that names one process for good, even
if its PID is reused later. Only if the start time still matches after
the pidfd is open does it send SIGKILL through it (pidfd_send_signal(2)),
so the signal cannot reach a process that got the PID meanwhile. The pidfd
also becomes readable when the process exits: that is how the lab waits.
See kill(2), proc_pid_stat(5).
"""

from __future__ import annotations

import os
import select
import signal

from .. import tracker
from ..errors import CleanupError
from ..proc.stat import process_start_time


def open_checked(pid: int, start_time: int) -> int | None:
    """A pidfd of ``pid`` if it is still the process that started at ``start_time``, else None."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    # Checked *after* opening: the pidfd now pins one process; if it is a newcomer, its start time differs.
    if process_start_time(pid) != start_time:
        os.close(fd)
        return None
    return fd


def terminate(pid: int, start_time: int, timeout: float) -> None:
    """SIGTERM ``pid`` if it is still the process that started at ``start_time``, and wait up to
    ``timeout`` seconds for it to exit: the polite first step of a stop (the record's undo SIGKILLs)."""
    fd = open_checked(pid, start_time)
    if fd is None:
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        select.select([fd], [], [], timeout)  # readable once the process has exited
    except ProcessLookupError:
        pass  # exited between the check and the signal
    finally:
        os.close(fd)


def kill_pidfd(fd: int, pid: int, timeout: float = 5.0) -> bool:
    """SIGKILL the process behind ``fd`` and wait until it has exited (reaped, if it is our child)."""
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    except ProcessLookupError:
        pass  # exited already
    poller = select.poll()
    poller.register(fd, select.POLLIN)  # readable once the process has exited
    exited = bool(poller.poll(timeout * 1000))
    if exited:
        try:
            os.waitpid(pid, os.WNOHANG)  # our child: reap it; otherwise its parent (or init) does
        except ChildProcessError:
            pass
    return exited


@tracker.undoes("process", order=10)  # first: processes hold mounts, cgroups and namespaces busy
def kill_recorded(rec: tracker.Record) -> str:
    """SIGKILL the recorded process if it is still the same one, and wait until it is gone."""
    try:
        pid = int(rec.target)
    except ValueError:
        tracker.refuse(rec, "the target is not a PID")
    start = rec.extra.get("start_time")
    if not isinstance(start, int) or isinstance(start, bool) or pid <= 1:
        tracker.refuse(rec, "a process record without its start time (or PID 0/1) could name any process")
    now = process_start_time(pid)
    if now is None:
        return "already gone"
    fd = open_checked(pid, start)
    if fd is None:
        return "already gone (PID reused by another process)" if process_start_time(pid) is not None \
            else "already gone"
    try:
        if kill_pidfd(fd, pid):
            return "killed"
    finally:
        os.close(fd)
    raise CleanupError(f"process {pid} did not die after SIGKILL", "look at it with ps -o pid,stat,wchan")


__all__ = ["kill_recorded", "open_checked", "kill_pidfd"]
