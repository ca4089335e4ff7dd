"""The parent's side of the Python road: fork this interpreter into new namespaces.

As root, in three moves:

1. ``unshare(CLONE_NEWPID)`` here. It does not move us: it only sets where
   our *next child* goes (``/proc/self/ns/pid_for_children``).
2. ``fork()``: the child is PID 1 of the new pid namespace. Fork's return
   value says who is who (0 in the child, its PID here); then we put our
   ``pid_for_children`` back with ``setns(2)``.
3. The child (``child.py``) unshares the other kinds, mounts, sets its
   hostname and waits at the gate; here we record it with the tracker, move
   it into its cgroup, answer its ``Maps()`` request and let it go.

The two sides talk in the spawn protocol (``labcore/kernel/spawnproto.py``).
Every call goes through the kernel object ``k``. This module also holds
what both roads share on the parent's side: recording a child, writing its
maps and explaining a child's ``Error`` report as a ``LabError``.
"""

from __future__ import annotations

import errno
import os
from typing import Callable

from .. import kernel, tracker
from ..errors import CommandNotFoundError, LabError, PrivilegeError, UnsupportedError
from ..kernel import flags as F
from ..kernel import spawnproto as proto
from . import child as child_side
from .namespaces import Plan


def fork_into_new_pid_namespace(p: Plan, k) -> int:
    """fork(), the child made PID 1 of a new pid namespace when the plan says so.

    Returns fork's answer: the child's PID here, 0 in the child. Only the
    parent puts its ``pid_for_children`` back (the child is already in the
    new namespace, and exits or execs soon).
    """
    if not p.unshare_parent:
        return k.fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        k.unshare(p.unshare_parent)  # from now on our children are born in a new pid namespace
        try:
            pid = k.fork()
        except BaseException:
            k.setns(own, F.CLONE_NEWPID, "our own pid namespace")
            raise
        if pid != 0:  # we are the parent: back to our own namespace for later children
            k.setns(own, F.CLONE_NEWPID, "our own pid namespace")
        return pid
    finally:
        os.close(own)


def start(p: Plan, payload, kinds, capture: bool, env, cgroup, k, new_process: Callable):
    """Fork, record the child (and PID 1 behind a shim), let it run the plan.

    ``payload`` is an argv, or ``(fn, args)`` for a function. ``new_process``
    makes the ``Process`` (process.py passes its class, so that this module
    needs no import of it).
    """
    is_function = isinstance(payload, tuple)       # (fn, args) rather than an argv
    ctl_r, ctl_w = os.pipe()                       # the gate: parent -> child, GO per step
    rep_r, rep_w = os.pipe()                       # reports: child -> parent; EOF = exec done
    res_r, res_w = os.pipe() if is_function else (-1, -1)  # the function's pickled result
    out = os.pipe() if capture else None
    err = os.pipe() if capture else None
    argv = [getattr(payload[0], "__name__", "function")] if is_function else payload
    try:
        pid = fork_into_new_pid_namespace(p, k)
    except BaseException:
        for fd in (ctl_r, ctl_w, rep_r, rep_w, res_r, res_w, *(out or ()), *(err or ())):
            if fd >= 0:
                os.close(fd)
        raise
    if pid == 0:
        os.close(ctl_w)
        os.close(rep_r)
        if res_r >= 0:
            os.close(res_r)
        child_side.run(p, payload, ctl_r, rep_w, res_w, out, err, env, k)  # never returns
    os.close(ctl_r)
    os.close(rep_w)
    if res_w >= 0:
        os.close(res_w)
    if capture:
        os.close(out[1])
        os.close(err[1])
    records = [record(pid)]
    proc = new_process(argv, kinds, pid, records, via="python")
    if capture:
        proc.stdout, proc.stderr = os.fdopen(out[0], "rb"), os.fdopen(err[0], "rb")
    proc._result_fd = res_r
    try:
        if cgroup is not None:
            cgroup.attach(pid)  # before "go": the command never runs outside its limits
        proto.open_gate(ctl_w)
        with os.fdopen(rep_r, "rb") as reports:
            for line in reports:
                try:
                    message = proto.decode(line)
                except ValueError:
                    raise LabError(f"unexpected report from the child: {line!r}") from None
                if isinstance(message, proto.Maps):
                    write_maps(pid, p.user_map, k)
                elif isinstance(message, proto.Pid):  # PID 1 behind a shim
                    proc.pid = message.pid
                    records.append(record(proc.pid))
                else:
                    proc.wait()
                    raise explain(message, p, argv)
                proto.open_gate(ctl_w)
    except BaseException:
        proc.close()
        raise
    finally:
        os.close(ctl_w)
    return proc


def record(pid: int):
    """Record a process we started, with its start time, so cleanup never kills a reused PID."""
    return tracker.default().add("process", pid, start_time=tracker.process_start_time(pid))


def write_maps(pid: int, user_map, k=None, root: bool | None = None) -> None:
    """Write the child's uid/gid maps from outside, as newuidmap(1) would.

    Without CAP_SETGID in the parent namespace (``root`` False; by default:
    whether we run as root), setgroups must be denied first.
    """
    k = k if k is not None else kernel.default()
    root = os.geteuid() == 0 if root is None else root
    if not root and tuple(user_map) == (0, os.getuid(), 1):
        # An ordinary user given subordinate ids in /etc/subuid and /etc/subgid: map them too, through
        # the setuid helpers, as rootless Docker and Podman do (labcore/security/userns.py).
        from ..security import userns
        wide = userns.helper_maps(os.getuid(), os.getgid())
        if wide is not None:
            userns.map_with_helpers(pid, *wide)
            return
    inside, outside, count = user_map
    line = f"{inside} {outside} {count}\n"
    if not root:
        k.write(f"/proc/{pid}/setgroups", "deny")
    k.write(f"/proc/{pid}/uid_map", line)
    k.write(f"/proc/{pid}/gid_map", line)


def describe_call(stage: str, p: Plan, argv) -> str:
    """The call a stage stands for, for a report without details (nsexec sends only the stage)."""
    calls = {
        "unshare": f"unshare({F.describe(p.unshare | p.unshare_parent, F.CLONE_NAMES)})",
        "clone": "clone(CLONE_PARENT)",
        "propagation": f"mount none on / [{F.describe(p.propagation, F.MS_NAMES)}]",
        "proc": "mount proc on /proc (type proc)",
        "hostname": f"sethostname({p.hostname!r})",
        "exec": f"execve {argv[0]}",
    }
    return calls.get(stage, f"the spawn helper's {stage}")


def explain(report: proto.Error, p: Plan, argv) -> LabError:
    """Turn a child's ``Error`` report into a LabError with a fix."""
    code, stage = report.errno, report.stage
    detail = report.detail or describe_call(stage, p, argv)
    if stage == "exec":
        if code in (errno.ENOENT, errno.ENOTDIR):
            return CommandNotFoundError(f"command not found: {argv[0]!r}",
                                        "check the spelling, or give its full path (for example /bin/sh)")
        if code == errno.EPERM:  # execve(2) itself refused: not a matter of the file's mode bits
            return CommandNotFoundError(
                f"cannot execute {argv[0]!r}: Operation not permitted",
                "the kernel refused to start it: a program with file capabilities the container's bounding "
                "set lacks (getcap shows them; --cap-add gives one back), or a seccomp profile denying execve")
        return CommandNotFoundError(f"cannot execute {argv[0]!r}: {os.strerror(code)}", "is it an executable file?")
    if code == errno.EPERM:
        return PrivilegeError(f"{detail}: refused by the kernel",
                              "run as root; for user namespaces see `labcore doctor` (they may be restricted)")
    if code == errno.EINVAL and stage == "unshare":
        return UnsupportedError(f"{detail}: this kernel refuses it", "see `labcore doctor` for what it supports")
    return LabError(f"{detail}: {os.strerror(code)}")


__all__ = ["fork_into_new_pid_namespace", "start", "record", "write_maps", "explain"]
