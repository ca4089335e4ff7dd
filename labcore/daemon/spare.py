"""The spare shim: the next container's shim, started before anyone asks for it.

A shim is a Python process. Starting one and importing the runtime and the
security package takes about 50 ms, more than creating the container
itself, and each ``docker run`` would wait for it. So the daemon keeps one
shim started ahead of need, as a pre-forking server keeps a worker ready.
The spare makes itself a subreaper, loads the runtime and Docker's default
seccomp program (compiled by the first shim, read by the next ones from the
directory the daemon gives them: ``labcore.daemon.shim``), then waits on
its stdin.
It gets ready on CPU time nobody else wants (the ``SCHED_IDLE`` policy), so
that it does not slow down the container being started meanwhile.

``take()`` gives ``start`` the spare (or starts one, if there is none), with
the normal scheduling policy back. ``start`` hands it a container in one
line, ``{"id": ..., "dir": ...}``, and from then on it is that container's
shim like any other. A daemon calls ``keep_one()`` when it starts, and
``start`` calls ``refill_later()`` once the taken shim has its container: a
thread then starts the next spare. A spare never given a container exits
when its stdin ends, that is when the daemon stops or dies.

containerd starts a shim per container when the task is created. A Go
binary starts in a few milliseconds, so containerd needs no spare.

Each spare has a ``process`` record from the moment it exists, owned by the
daemon. ``start`` marks it with its container and hands it to the shim.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import tracker
from ..launch import stack_command
from ..proc.stat import process_start_time


@dataclass
class Spare:
    proc: subprocess.Popen
    ready_r: int              # the shim's news pipe: a byte once its container runs (containers.start reads it)
    record: tracker.Record    # kind process, what "shim"; marked with a container once taken

    def alive(self) -> bool:
        return self.proc.poll() is None


_lock = threading.Lock()
_spare: Spare | None = None
_kept: Path | None = None  # the runtime root of the spares a daemon keeps (keep_one), until it stops
_programs: Path | None = None  # the seccomp programs the shims share (labcore.security.seccomp.keep_programs_in)


def keep_one(root: Path, programs: Path | None = None) -> None:
    """From now on, there is a spare for runtime root ``root``: one now, a new one after each take.
    The daemon calls it at its start; its shims share the seccomp programs in ``programs``."""
    global _kept, _programs
    _kept, _programs = root, programs
    refill()


def _spawn(root: Path) -> Spare:
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    ready_r, ready_w = os.pipe()
    try:
        # Before its container, what the shim says goes where the daemon's own messages go; after, to the
        # container's shim.log.
        shared = ["--seccomp-programs", str(_programs)] if _programs is not None else []
        proc = subprocess.Popen(stack_command("shim", "--root", str(root), "--ready-fd", str(ready_w), *shared),
                                stdin=subprocess.PIPE, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(),
                                start_new_session=True,  # its own session: a signal to the daemon's group misses it
                                close_fds=True, pass_fds=(ready_w,))
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        os.close(ready_w)  # the shim's copy is the only writer: its exit ends the pipe
    with tracker.default().created("process", proc.pid, start_time=process_start_time(proc.pid),
                                   what="shim") as rec:
        pass
    return Spare(proc, ready_r, rec)


def take(root: Path) -> Spare:
    """A shim for runtime root ``root``, now the caller's: the spare, or a new one if there is none
    ready (or it died, or it is another root's)."""
    global _spare
    with _lock:
        spare, _spare = (_spare, None) if _kept == root else (None, _spare)
    if spare is not None and not spare.alive():
        _discard(spare)
        spare = None
    spare = spare or _spawn(root)
    _schedule_normally(spare)  # what it still has to do is the container's start
    return spare


def _schedule_normally(spare: Spare) -> None:
    """Back from SCHED_IDLE (the shim's first step) to the policy everyone has."""
    try:
        os.sched_setscheduler(spare.proc.pid, os.SCHED_OTHER, os.sched_param(0))
    except ProcessLookupError:
        pass  # it died just now: whoever waits for it sees it gone


def refill_later() -> None:
    """Start the next spare in a thread, if the daemon keeps one: the caller goes on meanwhile."""
    if _kept is not None:
        threading.Thread(target=refill, daemon=True, name="spare-shim").start()


def refill() -> None:
    """Start the next spare, if the daemon keeps one and there is none."""
    global _spare
    with _lock:
        if _kept is not None and (_spare is None or not _spare.alive()):
            if _spare is not None:
                _discard(_spare)
            _spare = _spawn(_kept)


def stop() -> None:
    """At the daemon's end: no new spare; the spare's stdin closes, it exits, its record goes."""
    global _spare, _kept
    with _lock:
        _kept = None
        spare, _spare = _spare, None
    if spare is not None:
        _discard(spare)


def _discard(spare: Spare) -> None:
    _schedule_normally(spare)  # not left waiting for idle CPU time to read its end of input
    spare.proc.stdin.close()  # EOF at its gate: it exits without doing anything
    try:
        spare.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        spare.proc.kill()
        spare.proc.wait()
    os.close(spare.ready_r)
    tracker.default().undo(spare.record)


def forget_stale() -> None:
    """At a daemon's start: the records of spares a killed daemon left (they exit at their stdin's end)."""
    for rec in tracker.default().records():
        if rec.kind == "process" and rec.extra.get("what") == "shim" and not rec.extra.get("container"):
            if not tracker.owner_alive(rec):
                tracker.default().undo(rec)


__all__ = ["Spare", "keep_one", "take", "refill", "refill_later", "stop", "forget_stale"]
