"""The helper road: start a command in new namespaces without forking Python.

Forking this interpreter costs more than the namespaces do (fork(2) copies
the page tables of tens of MiB), so for the common case (root, no user or
time namespace, no rootfs, a command rather than a function) labcore starts
a small C program, ``labcore/kernel/nsexec.c``, with posix_spawn(3), as
runc starts its own nsexec. It unshares, clone(CLONE_PARENT)s PID 1 (so
PID 1 is *our* child), reports ``Pid(N)`` and exits; PID 1 mounts, sets the
hostname and waits at the gate until we have recorded it. Same messages as
the Python road (``labcore/kernel/spawnproto.py``).

Descriptors given to nsexec, at fixed numbers: 3 the gate, 4 the reports,
and, when ``nsexec -t`` is asked for, 5 the file of a ``lab.trace()``: the
helper then writes one line per call in the format of ``tracing.py``.
``make setup`` builds it (``make labcore/kernel/nsexec``).
"""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path
from typing import Callable

from ..errors import LabError
from ..kernel import spawnproto as proto
from .child import COMMAND_SIGNALS
from .namespaces import Plan
from .parent import explain, record

NSEXEC = Path(__file__).parents[1] / "kernel" / "nsexec"  # built from kernel/nsexec.c by make setup
NSEXEC_FIX = "rebuild it with sudo make setup, or delete it: labcore then forks Python instead"
GATE_FD, REPORT_FD, TRACE_FD = 3, 4, 5  # as in nsexec.c


def helper_built() -> bool:
    """Whether make setup compiled nsexec here (the doctor's "spawn helper")."""
    return os.access(NSEXEC, os.X_OK)


def why_not(p: Plan, payload=None) -> str | None:
    """Why the helper cannot carry out this plan (None: it can). See kernel/nsexec.c."""
    if isinstance(payload, tuple):
        return "a Python function runs in a fork of this interpreter, not in the C helper"
    needs = [what for what, used in (("joining namespaces", p.join), ("a shim (second fork)", p.second_fork),
                                     ("a user namespace", p.user_map), ("time offsets", p.time_offsets),
                                     ("clone(2) with namespace flags", p.clone),
                                     ("a root filesystem", p.rootfs is not None),
                                     ("a security policy", p.security is not None)) if used]
    if needs:
        return f"the plan needs {' and '.join(needs)}, which only the Python road carries out"
    if not helper_built():
        return f"{NSEXEC} is not built"
    return None


def can_start(p: Plan, payload=None) -> bool:
    """Whether nsexec is built and the plan is one it carries out."""
    return why_not(p, payload) is None


def start(p: Plan, argv: list[str], kinds, capture: bool, env, cgroup, k, new_process: Callable):
    """Start ``argv`` through nsexec: it makes PID 1 our child, we record it and open its gate."""
    gate_r, gate_w = os.pipe()
    rep_r, rep_w = os.pipe()
    # posix_spawn's dup2(fd, fd) clears close-on-exec: only these reach the helper, at fixed numbers.
    inherit, readers = [(gate_r, GATE_FD), (rep_w, REPORT_FD)], []
    traced = k.tracing >= 0
    if traced:
        inherit.append((k.tracing, TRACE_FD))
    if capture:
        out, err = os.pipe(), os.pipe()
        inherit += [(out[1], 1), (err[1], 2)]
        readers = [out[0], err[0]]
    if min(fd for fd, _ in inherit) <= TRACE_FD:  # a dup2 must not overwrite a later source
        inherit = [(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, TRACE_FD + 1), target) for fd, target in inherit]
    flags = p.unshare | p.unshare_parent
    args = ["nsexec", *(["-t"] if traced else []), str(flags), str(p.propagation), str(int(p.mount_proc)),
            p.hostname or "", *argv]
    try:
        helper = k.posix_spawn(NSEXEC, args, env if env is not None else os.environ,
                               file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in inherit],
                               setsigdef=COMMAND_SIGNALS, setsigmask=())
    except OSError as exc:
        for fd in (gate_w, rep_r, *readers):
            os.close(fd)
        raise LabError(f"cannot start the spawn helper {NSEXEC}: {os.strerror(exc.errno)}", NSEXEC_FIX) from None
    finally:
        mine = {gate_r, rep_w, *(fd for fd, _ in inherit), *((out[1], err[1]) if capture else ())}
        for fd in mine - {k.tracing}:
            os.close(fd)  # the helper has its copies
    reports = os.fdopen(rep_r, "rb")
    try:
        first = reports.readline()
        _, status = os.waitpid(helper, 0)  # it exits right after its one report
        try:
            message = proto.decode(first)
        except ValueError:
            raise LabError(f"the spawn helper {NSEXEC} failed (wait status {status}) without a report",
                           NSEXEC_FIX) from None
        if isinstance(message, proto.Error):
            raise explain(message, p, argv)
        if not isinstance(message, proto.Pid):
            raise LabError(f"unexpected report from the spawn helper: {first!r}", NSEXEC_FIX)
        child = message.pid
        try:
            rec = record(child)
        except BaseException:  # not recorded: PID 1 must not run, nor stay a zombie of ours
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            raise
        proc = new_process(argv, kinds, child, [rec], via="helper")
        if capture:
            proc.stdout, proc.stderr = os.fdopen(readers[0], "rb"), os.fdopen(readers[1], "rb")
            readers = []  # proc.close() closes them from now on
        try:
            if cgroup is not None:
                cgroup.attach(child)  # before "go": the command never runs outside its limits
            proto.open_gate(gate_w)
            for line in reports:  # EOF: execve(2) succeeded and closed the report pipe
                proc.wait()
                try:
                    message = proto.decode(line)
                except ValueError:
                    raise LabError(f"unexpected report from the child: {line!r}") from None
                raise explain(message, p, argv) if isinstance(message, proto.Error) else LabError(
                    f"unexpected report from the child: {line!r}")
        except BaseException:
            proc.close()
            raise
        return proc
    finally:
        os.close(gate_w)
        reports.close()
        for fd in readers:
            os.close(fd)


__all__ = ["NSEXEC", "helper_built", "why_not", "can_start", "start"]
