"""Starting a process in new namespaces: what a container runtime does first.

As root, a container is started in three moves:

1. ``unshare(CLONE_NEWPID)`` in the parent. It does not move the parent: it
   only sets where the parent's *next child* goes (``/proc/self/ns/
   pid_for_children``).
2. ``fork()``: the child is PID 1 of the new pid namespace. The parent puts
   its ``pid_for_children`` back with ``setns(2)``.
3. The child calls ``unshare(CLONE_NEWNS | CLONE_NEWUTS | ...)`` for the
   other kinds, makes its mounts private, mounts a fresh /proc (so ``ps``
   sees only the container), sets its hostname and ``execve()``s the command.

With a user namespace (rootless), the user namespace must exist first and
own the others, so the child unshares everything and forks again: then the
child stays as a *shim* that waits for PID 1, as containerd's shim does.

Before a child may go on, the parent records it with the tracker, so no
process escapes ``labcore cleanup``, even if the parent is killed at once.

There are two roads, and ``spawn(..., via=...)`` chooses one explicitly:

* ``"python"``: fork this interpreter (``parent.py``, then ``child.py`` in
  the child); it can do everything (user and time namespaces, a rootfs, a
  Python function).
* ``"helper"``: forking Python costs more than the namespaces do, so in the
  common case (no user or time namespace, no rootfs, a command) the same
  three moves are made by a small C program, ``kernel/nsexec.c``, started
  with posix_spawn(3), as runc starts its own nsexec (``helper.py``).
* ``None`` (the default): the helper when it is built and the plan allows
  it, else Python. ``proc.via`` says which road a process took.

Both roads speak the same messages (``kernel/spawnproto.py``) and make every
call through the kernel object, so ``lab.trace()`` shows both.
"""

from __future__ import annotations

import os
import pickle
import select
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from .. import kernel, tracker
from ..errors import InvalidInputError, LabError, PrivilegeError
from ..kernel import flags as F
from . import helper, parent
from .helper import NSEXEC, helper_built  # noqa: F401  (the doctor's "spawn helper" check)
from .namespaces import CONTAINER, KINDS, Namespaces, Plan, check_privileges, parse_kinds, plan, read


class Process:
    """A process started in new (or joined) namespaces.

    ``pid`` is its PID seen from the host. ``child_pid`` is the process we
    forked and wait for: the same one, or a shim that waits for ``pid``. As
    a context manager, it is killed if still running at the end, and reaped.
    ``via`` is the road that started it: ``"helper"`` or ``"python"``.
    """

    def __init__(self, argv, kinds, child_pid: int, records, via: str = "python"):
        self.argv = argv
        self.kinds = kinds
        self.via = via  # the road it took: "helper" (kernel/nsexec.c) or "python" (a fork of this interpreter)
        self.child_pid = child_pid
        self.pid: int = child_pid
        self.returncode: int | None = None
        self.signal: int | None = None
        self.stdout = self.stderr = None
        self._records = records
        self._pidfd = os.pidfd_open(child_pid)  # becomes readable when the child exits
        self._result_fd = -1
        self._result = b""

    @property
    def shim_pid(self) -> int | None:
        """The shim between us and PID 1, if there is one (rootless containers)."""
        return self.child_pid if self.child_pid != self.pid else None

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<Process {shlex.join(self.argv)!r} pid {self.pid} in {','.join(self.kinds) or 'host'} via {self.via}: {state}>"

    def namespaces(self) -> Namespaces:
        return read(self.pid)

    def poll(self) -> int | None:
        return self.wait(timeout=0)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit; returns the shell-style status (128+N for signal N), or None on timeout."""
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        if not ready:
            return None
        _, status = os.waitpid(self.child_pid, 0)
        if os.WIFSIGNALED(status):
            self.signal = os.WTERMSIG(status)
            self.returncode = 128 + self.signal
        else:
            self.returncode = os.WEXITSTATUS(status)
        os.close(self._pidfd)
        for rec in self._records:
            tracker.default().forget(rec)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: the one signal PID 1 of a namespace cannot ignore (sent from outside)."""
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self.returncode is None:
            for pid in {self.pid, self.child_pid}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.wait()
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        if self._result_fd >= 0:
            os.close(self._result_fd)
            self._result_fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Result:
    """What a finished command left: its status and its output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    pid: int
    cut: bool = False  # the output was longer than labcore keeps (MAX_OUTPUT): its end is missing

    def __repr__(self) -> str:
        cut = ", output cut" if self.cut else ""
        return f"<Result {shlex.join(self.argv)!r}: exit {self.returncode}{cut}>"


def spawn(argv: list[str], ns: str | Iterable[str] = CONTAINER, *,
          hostname: str | None = None, user_map: tuple[int, int, int] | None = None,
          time_offsets: dict[str, int] | None = None, capture: bool = False,
          env: dict | None = None, rootfs=None, propagation: str = "private",
          cgroup=None, via: str | None = None, netns: str | None = None, mntns: str | None = None,
          security=None) -> Process:
    """Start ``argv`` as PID 1 of new namespaces (by default those of a container).

    ``capture=True`` gives ``proc.stdout`` and ``proc.stderr`` pipes;
    otherwise the command shares our terminal. Used by notebooks 00, 01 and 04.
    ``rootfs`` (a directory, or a ``labcore.fs.Rootfs``) becomes its ``/``
    through pivot_root(2): see ``labcore/fs/rootfs.py`` (notebooks 06, 11).
    ``propagation`` says what a new mount namespace shares with the host
    (``namespaces.PROPAGATION``, notebook 04).
    ``cgroup`` (a ``lab.cgroups.Cgroup``) is joined before the command runs (notebook 05).
    ``via`` chooses the road: ``"helper"`` (the C helper; a LabError says why
    when it cannot), ``"python"`` (fork this interpreter), or None for the
    helper when it can, else Python (deep dive A compares them).
    ``netns`` (a path such as /run/netns/lab-web) is a network namespace made
    beforehand, joined with setns(2) instead of creating one: a runtime
    wires a container's network first, then starts it there (notebook 09).
    ``mntns`` (a path such as /proc/PID/ns/mnt) is a mount namespace joined
    first, so the new one starts as its copy (a prepared /etc/hosts, notebook 09).
    """
    kinds = parse_kinds(ns)
    if netns is not None:
        kinds = tuple(k for k in kinds if k != "net")  # joined, not created
    p = plan(kinds, hostname, user_map, time_offsets, propagation)  # bad input is reported before privileges
    if security is not None:
        _secure(p, security, own_net="net" in parse_kinds(ns))
    if rootfs is not None:
        if not (p.unshare | p.unshare_parent) & F.CLONE_NEWNS:
            raise InvalidInputError("a root filesystem needs its own mount namespace", "add mnt to the namespaces")
        if propagation == "shared":
            raise InvalidInputError("pivot_root(2) refuses a root whose mounts are shared",
                                    "use propagation 'private' or 'slave' with a rootfs")
        from ..fs.rootfs import Rootfs  # loaded on first use: labcore.fs is the filesystem chapters'
        p.rootfs = Rootfs.of(rootfs)
        if p.security is not None and p.security.fresh_sysfs:  # mounted with the rootfs, before pivot_root
            from dataclasses import replace
            p.rootfs = replace(p.rootfs, sysfs="ro" if p.security.policy.readonly_paths else "rw")
            p.security = replace(p.security, fresh_sysfs=False)
    check_privileges(kinds)
    fds = [(kind, os.open(path, os.O_RDONLY | os.O_CLOEXEC)) for kind, path in (("net", netns), ("mnt", mntns)) if path]
    try:
        p.join.extend(fds)  # setns(2) into each before the child unshares the rest
        return _start(p, list(argv), kinds, capture, env, cgroup=cgroup, via=via)
    finally:
        for _, fd in fds:
            os.close(fd)


def _secure(p: Plan, security, own_net: bool) -> None:
    """Attach a security policy to the plan, checked and compiled now (``labcore.security``).

    ``security`` (a ``Policy``, e.g. ``Policy.docker_default()``, or a ``Prepared`` one) takes
    capabilities away, masks paths and loads a seccomp filter just before execve (notebook 10);
    without one a process keeps every power of its creator, as the namespace chapters need.
    """
    from ..security import policy  # the security chapter's; loaded on first use
    mnt = bool((p.unshare | p.unshare_parent) & F.CLONE_NEWNS)
    p.security = security if isinstance(security, policy.Prepared) else policy.prepare(
        security, fresh_sysfs=mnt and own_net, mounts=mnt)


def run(argv: list[str], ns: str | Iterable[str] = CONTAINER, *, timeout: float = 60, **kwargs) -> Result:
    """Run ``argv`` in new namespaces, wait for it, return its output.

    Used throughout the notebooks: ``run(["hostname"], hostname="box").stdout``.
    Output is bounded: each stream keeps its first ``MAX_OUTPUT`` bytes (then
    ``result.cut`` is true and a last line says so), and a command that
    writes more than ``MAX_READ`` is killed.
    """
    with spawn(argv, ns, capture=True, **kwargs) as proc:
        out, err = _communicate(proc, timeout)
        return Result(list(argv), proc.returncode, out, err, proc.pid, proc.output_cut)


def call(fn: Callable, *args, ns: str | Iterable[str] = CONTAINER, timeout: float = 60, **kwargs):
    """Run the Python function ``fn(*args)`` in new namespaces and return its result.

    The function runs in a forked copy of this interpreter: its return value
    or exception comes back pickled; what it prints is passed through.
    """
    kinds = parse_kinds(ns)
    p = plan(kinds, **kwargs)
    check_privileges(kinds)
    with _start(p, (fn, args), kinds, capture=True, env=None) as proc:
        out, _ = _communicate(proc, timeout, result=True)
    if out:
        sys.stdout.write(out)
    if not proc._result:
        raise LabError(f"the function died before returning (status {proc.returncode})",
                       "it may have been killed; run it outside the namespaces to see its error")
    outcome, value = pickle.loads(proc._result)
    if outcome == "raise":
        raise value
    return value


def enter(pid: int, argv: list[str], kinds: str | Iterable[str] | None = None, timeout: float = 60) -> Result:
    """nsenter by hand: run ``argv`` inside the namespaces of process ``pid``.

    Opens /proc/PID/ns/KIND, setns(2) into each, then forks (joining a pid
    namespace, too, only applies to children) and execs. Default: every kind
    in which ``pid`` differs from us. Used by notebook 01 (``docker exec``).
    """
    mine, theirs = read("self"), read(pid)
    kinds = parse_kinds(kinds) if kinds is not None else tuple(k for k in KINDS if theirs[k] != mine[k])
    if os.geteuid() != 0 and "user" not in kinds:
        raise PrivilegeError("joining another process's namespaces needs CAP_SYS_ADMIN",
                             "run as root, or join a rootless container's user namespace too")
    # The user namespace first: it owns the others, and joining it grants the right to join them.
    order = sorted(kinds, key=lambda k: k != "user")
    fds = [(k, os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC)) for k in order]
    try:
        with _start(Plan(join=fds, second_fork="pid" in kinds), list(argv), kinds, True, None) as proc:
            out, err = _communicate(proc, timeout)
            return Result(list(argv), proc.returncode, out, err, proc.pid, proc.output_cut)
    finally:
        for _, fd in fds:
            os.close(fd)



# --- choosing the road ------------------------------------------------------------

ROADS = ("helper", "python")


def _road(p: Plan, payload, via: str | None) -> str:
    """The road a spawn takes: ``via`` if it can, the helper when possible for None."""
    if via not in (None, *ROADS):
        raise InvalidInputError(f"via={via!r}: not a road", "use via='helper', via='python', or leave it out")
    if via == "python":
        return "python"
    reason = helper.why_not(p, payload)
    if reason is None:
        return "helper"
    if via == "helper":
        fix = ("build it with sudo make setup" if not helper.helper_built()
               else "use via='python' (or leave via out) for this plan")
        raise LabError(f"cannot start through the spawn helper: {reason}", fix)
    return "python"


def _start(p: Plan, payload, kinds, capture: bool, env, cgroup=None, via: str | None = None, k=None) -> Process:
    """Start ``payload`` (an argv, or ``(fn, args)``) by the chosen road; the Process is recorded."""
    k = k if k is not None else kernel.default()
    if _road(p, payload, via) == "helper":
        return helper.start(p, payload, kinds, capture, env, cgroup, k, Process)
    return parent.start(p, payload, kinds, capture, env, cgroup, k, Process)


MAX_OUTPUT = 16 << 20  # bytes of each stream (stdout, stderr) kept: a notebook shows no more
MAX_READ = 64 << 20    # bytes read from one stream before the command is killed: it prints forever


def _communicate(proc: Process, timeout: float, result: bool = False,
                 keep: int = MAX_OUTPUT, bound: int = MAX_READ) -> tuple[str, str]:
    """Read stdout, stderr (and the pickled result) until EOF, then reap.

    A command may print without end (``yes``): of each stream only the
    first ``keep`` bytes are kept, and a line at the end says the output was
    cut; once a stream has written ``bound`` bytes the command is killed
    (SIGKILL) and reading stops, so the kernel's memory stays bounded.
    ``proc.output_cut`` says whether anything was cut. (The pickled result of
    ``call`` is not cut: it is the function's answer, not its output.)
    """
    if not 0 < keep <= bound:
        raise InvalidInputError(f"output bounds keep={keep} and bound={bound} are out of order",
                                "keep at least one byte and no more than the bound")
    outputs = (proc.stdout.fileno(), proc.stderr.fileno())
    streams = {fd: [] for fd in outputs}
    if result and proc._result_fd >= 0:
        streams[proc._result_fd] = []
    read = dict.fromkeys(streams, 0)  # bytes read from each stream, kept or not
    open_fds = set(streams)
    killed = False
    deadline = time.monotonic() + timeout
    while open_fds and not killed:
        ready, _, _ = select.select(list(open_fds), [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            proc.close()
            raise LabError(f"{shlex.join(proc.argv)} did not finish within {timeout} s: killed it",
                           "give it a larger timeout, or check that it does not wait for input")
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            if fd in outputs:
                room = max(keep - read[fd], 0)
                read[fd] += len(chunk)
                chunk = chunk[:room]
                killed = killed or read[fd] > bound
            if chunk:
                streams[fd].append(chunk)
    if killed:
        proc.kill()  # SIGKILL to PID 1: the whole pid namespace goes with it
    if result and proc._result_fd >= 0:
        proc._result = b"".join(streams[proc._result_fd])
    proc.wait()
    proc.output_cut = any(read[fd] > keep for fd in outputs)
    return tuple(_text(streams[fd], read[fd], keep, bound) for fd in outputs)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


def _text(chunks: list[bytes], read: int, keep: int, bound: int) -> str:
    """A stream's kept bytes as text, with a last line saying what was cut."""
    text = b"".join(chunks).decode(errors="replace")
    if read <= keep:
        return text
    if read > bound:
        why = f"it wrote more than {_size(bound)}, so it was killed"
    else:
        why = f"{_size(read - keep)} more were read and dropped"
    return text + f"\n[labcore: output cut after the first {_size(keep)}: {why}]\n"


__all__ = ["Process", "Result", "spawn", "run", "call", "enter", "helper_built"]
