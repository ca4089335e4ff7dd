"""The child's side of the Python road: what runs after fork(), until exec() or _exit().

The parent (``parent.py``) forked this interpreter; the copy now sets up its
namespaces while the parent records it, then waits at a gate before it runs
anything: if the parent dies first, the gate reads end of file and the child
exits, taking its fresh namespaces with it. It speaks the spawn protocol
(``labcore/kernel/spawnproto.py``): ``Maps()`` when it needs its uid/gid
maps written, ``Pid(N)`` from a shim, ``Error(errno, stage)`` when a call
fails. Every system call goes through the kernel object ``k``, so a
``lab.trace()`` sees this side too (its descriptor is close-on-exec and kept
open until the execve). The C helper (``kernel/nsexec.c``) does the same for
the simple case, without a copy of Python.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import resource
import signal
import sys

from .. import kernel
from ..errors import LabError
from ..kernel import flags as F
from ..kernel import spawnproto as proto
from .namespaces import Plan

# A command starts with every standard signal at its default, as runc gives it: Python ignores
# SIGPIPE and SIGXFSZ and handles SIGINT, and whatever started us may have ignored others (nohup:
# SIGHUP; a shell's background job: SIGINT and SIGQUIT), which execve would pass on.
COMMAND_SIGNALS = tuple(sorted(s for s in signal.valid_signals()
                               if s < 32 and s not in (signal.SIGKILL, signal.SIGSTOP)))


def run(p: Plan, payload, ctl_r: int, rep_w: int, res_w: int, out, err, env, k=None) -> None:
    """The child after fork(): set up the plan's namespaces and run ``payload``. Never returns."""
    k = k if k is not None else kernel.default()

    def go() -> None:
        if not proto.wait_at_gate(ctl_r):  # EOF: the parent died before recording us
            os._exit(1)

    stage = "setup"
    try:
        for kind, fd in p.join:
            stage = "setns"
            k.setns(fd, 0, kind)
            if kind == "mnt":
                k.chdir("/")  # our old cwd belongs to the old mount namespace
        if p.unshare:
            stage = "unshare"
            k.unshare(p.unshare)
        early_gate = bool(p.user_map or p.second_fork)  # we need the parent before the payload
        if early_gate:
            go()  # recorded: from here on, nothing we make can escape cleanup
        if p.user_map:
            stage = "maps"
            proto.send(rep_w, proto.Maps())
            go()
            become_root_of_user_namespace(k)
        for clock, seconds in p.time_offsets.items():
            stage = "time"
            k.write("/proc/self/timens_offsets", f"{clock} {seconds} 0\n")
        if p.second_fork:
            # clone(2) with namespace flags (deep dive A), or a plain fork(); we are single-threaded.
            stage = "clone" if p.clone else "fork"
            grandchild = k.clone(p.clone) if p.clone else k.fork()
            if grandchild:  # fork's answer tells who we are: the shim gets the PID, PID 1 gets 0
                k.set_name("labcore-shim")  # a fork keeps our name: rename it for ps
                proto.send(rep_w, proto.Pid(grandchild))
                os.close(rep_w)
                os.close(ctl_r)
                relay_exit(grandchild)
        # PID 1 waits to be recorded: the grandchild behind a shim always, the child if not yet.
        gate = go if p.second_fork or not early_gate else (lambda: None)
        pid_one(p, payload, gate, rep_w, res_w, out, err, env, k)
    except BaseException as exc:
        code = getattr(exc, "errno", None) or errno.EIO
        stage = getattr(exc, "stage", stage)
        detail = str(exc).removeprefix(f"[Errno {code}] ")
        try:
            proto.send(rep_w, proto.Error(code, stage, detail))
        finally:
            os._exit(126)


def _at(stage: str, call, *args):
    try:
        return call(*args)
    except OSError as exc:
        exc.stage = stage
        raise


def become_root_of_user_namespace(k) -> None:
    """After the maps are written: uid 0 inside, which is the mapped uid outside."""
    try:
        k.setgroups([])
    except PermissionError:
        pass  # setgroups is denied when an unprivileged user wrote the map
    k.setresgid(0, 0, 0)
    k.setresuid(0, 0, 0)


def relay_exit(child: int) -> None:
    """The shim's life after the second fork: wait for PID 1 and die the same way."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # dying of SIGSEGV must not dump core twice
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status))


def pid_one(p: Plan, payload, go, rep_w, res_w, out, err, env, k) -> None:
    """PID 1 of the new namespaces: finish the setup, wait until recorded, then exec (or call)."""
    if (p.unshare | p.unshare_parent | p.clone) & F.CLONE_NEWNS:
        # Our mounts must not propagate back to the host: make every mount private (or slave).
        _at("propagation", k.mount, None, "/", None, p.propagation)
    if p.rootfs is not None:
        from ..fs.rootfs import enter  # already loaded by spawn()
        _at("rootfs", enter, p.rootfs, p.mount_proc, k)  # /proc (and /sys) in the new root, then pivot_root
    elif p.mount_proc:
        _at("proc", k.mount, "proc", "/proc", "proc", F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC)
    if p.hostname:
        _at("hostname", k.sethostname, p.hostname)
    if out:
        os.dup2(out[1], 1)
        os.dup2(err[1], 2)
        for fd in (*out, *err):
            if fd > 2:
                os.close(fd)
    go()  # the parent recorded this process (it did so while we were setting up)
    if isinstance(payload, tuple):
        if p.security is not None:
            _at("security", apply_security, p.security, k)
        call_function(payload, rep_w, res_w)
    for sig in COMMAND_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    for sig in range(32, signal.SIGRTMIN):
        k.default_signal(sig)  # glibc's own two, left ignored by whatever posix_spawn started us
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # The command must not inherit our other descriptors (a Jupyter kernel has many). Kept: the
    # report pipe and a trace's file, both close-on-exec, so the execve is reported, then closes them.
    keep = sorted({rep_w, getattr(k, "tracing", -1)} - {-1})
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))
    if p.security is not None:  # last: the filter must allow only what is left (close, write, execve)
        _at("security", apply_security, p.security, k)
    try:
        k.execve(payload[0], payload, env if env is not None else os.environ)
    except OSError as exc:
        proto.send(rep_w, proto.Error(exc.errno, "exec", payload[0]))
        os._exit(127)


def apply_security(prepared, k) -> None:
    """Capabilities, no_new_privs, masked paths and the seccomp filter (see labcore/security/policy.py).

    Only this road carries a policy: the filter is a libseccomp object compiled in the parent and
    inherited by fork(), loaded here by the same library. The C helper (nsexec.c) would need the
    BPF program passed to it and a second implementation of every step; a container under a policy
    is started by forking Python, as runc forks its Go init. Namespace demos without a policy still
    take the fast road.
    """
    from ..security.policy import apply  # loaded with the policy by spawn() in the parent
    apply(prepared, k)


def call_function(payload, rep_w, res_w) -> None:
    """Run ``fn(*args)`` here and send its pickled outcome back on the result pipe."""
    fn, args = payload
    os.close(rep_w)  # EOF tells the parent the setup is done
    sys.stdout = sys.stderr = captured = io.StringIO()
    try:
        result = ("return", fn(*args))
    except BaseException as exc:  # an exception is a result too: the parent re-raises it
        result = ("raise", exc)
    try:
        data = pickle.dumps(result)
    except Exception as exc:
        data = pickle.dumps(("raise", LabError(f"cannot send the result back: {exc}", "return plain values")))
    os.write(1, captured.getvalue().encode())
    with os.fdopen(res_w, "wb") as f:
        f.write(data)
    os._exit(0)


__all__ = ["COMMAND_SIGNALS", "run", "apply_security", "become_root_of_user_namespace", "relay_exit", "pid_one", "call_function"]
