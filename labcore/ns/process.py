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

Forking this interpreter costs more than the namespaces do, so in the common
case (no user or time namespace, no rootfs, a command rather than a function)
the same three moves are made by a small C program, ``kernel/nsexec.c``,
started with posix_spawn(3), as runc starts its own nsexec. It keeps the same
gate and reports; without it (not built: ``make setup`` builds it), labcore
forks Python as described above.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import pickle
import resource
import select
import shlex
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .. import kernel, tracker
from ..errors import CommandNotFoundError, InvalidInputError, LabError, PrivilegeError, UnsupportedError
from ..kernel import flags as F
from .namespaces import CONTAINER, KINDS, Namespaces, Plan, check_privileges, parse_kinds, plan, read

NSEXEC = Path(__file__).parents[1] / "kernel" / "nsexec"  # built from kernel/nsexec.c by make setup
NSEXEC_FIX = "rebuild it with sudo make setup, or delete it: labcore then forks Python instead"
# Python ignores these (or handles SIGINT); a program expects their defaults.
PYTHON_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT)


class Process:
    """A process started in new (or joined) namespaces.

    ``pid`` is its PID seen from the host. ``child_pid`` is the process we
    forked and wait for: the same one, or a shim that waits for ``pid``. As
    a context manager, it is killed if still running at the end, and reaped.
    """

    def __init__(self, argv, kinds, child_pid: int, records):
        self.argv = argv
        self.kinds = kinds
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
        return f"<Process {shlex.join(self.argv)!r} pid {self.pid} in {','.join(self.kinds) or 'host'}: {state}>"

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

    def __repr__(self) -> str:
        return f"<Result {shlex.join(self.argv)!r}: exit {self.returncode}>"


def spawn(argv: list[str], ns: str | Iterable[str] = CONTAINER, *,
          hostname: str | None = None, user_map: tuple[int, int, int] | None = None,
          time_offsets: dict[str, int] | None = None, capture: bool = False,
          env: dict | None = None, rootfs=None, propagation: str = "private",
          cgroup=None) -> Process:
    """Start ``argv`` as PID 1 of new namespaces (by default those of a container).

    ``capture=True`` gives ``proc.stdout`` and ``proc.stderr`` pipes;
    otherwise the command shares our terminal. Used by notebooks 00, 01 and 04.
    ``rootfs`` (a directory, or a ``labcore.fs.Rootfs``) becomes its ``/``
    through pivot_root(2): see ``labcore/fs/rootfs.py`` (notebooks 06, 11).
    ``propagation`` says what a new mount namespace shares with the host
    (``namespaces.PROPAGATION``, notebook 04).
    ``cgroup`` (a ``lab.cgroups.Cgroup``) is joined before the command runs (notebook 05).
    """
    kinds = parse_kinds(ns)
    p = plan(kinds, hostname, user_map, time_offsets, propagation)  # bad input is reported before privileges
    if rootfs is not None:
        if not (p.unshare | p.unshare_parent) & F.CLONE_NEWNS:
            raise InvalidInputError("a root filesystem needs its own mount namespace", "add mnt to the namespaces")
        if propagation == "shared":
            raise InvalidInputError("pivot_root(2) refuses a root whose mounts are shared",
                                    "use propagation 'private' or 'slave' with a rootfs")
        from ..fs.rootfs import Rootfs  # loaded on first use: labcore.fs is the filesystem chapters'
        p.rootfs = Rootfs.of(rootfs)
    check_privileges(kinds)
    return _start(p, list(argv), kinds, capture, env, cgroup=cgroup)


def run(argv: list[str], ns: str | Iterable[str] = CONTAINER, *, timeout: float = 60, **kwargs) -> Result:
    """Run ``argv`` in new namespaces, wait for it, return its output.

    Used throughout the notebooks: ``run(["hostname"], hostname="box").stdout``.
    """
    with spawn(argv, ns, capture=True, **kwargs) as proc:
        out, err = _communicate(proc, timeout)
        return Result(list(argv), proc.returncode, out, err, proc.pid)


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
            return Result(list(argv), proc.returncode, out, err, proc.pid)
    finally:
        for _, fd in fds:
            os.close(fd)


# --- the parent's side ----------------------------------------------------------

def _fork_into_new_pid_namespace(p: Plan) -> int:
    """fork(), with the child made PID 1 of a new pid namespace when the plan says so."""
    if not p.unshare_parent:
        return kernel.default().fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    kernel.default().unshare(p.unshare_parent)  # from now on our children are born in a new pid namespace
    try:
        return kernel.default().fork()
    finally:
        if os.getpid() != 1:  # only the parent: put pid_for_children back to our own namespace
            kernel.default().setns(own, F.CLONE_NEWPID, "our own pid namespace")
            os.close(own)


def _start(p: Plan, payload, kinds, capture: bool, env, cgroup=None) -> Process:
    """Fork, record the child (and PID 1 behind a shim), let it run the plan."""
    is_function = isinstance(payload, tuple)       # (fn, args) rather than an argv
    if not is_function and helper_can_start(p):
        return _start_with_helper(p, payload, kinds, capture, env, cgroup)
    ctl_r, ctl_w = os.pipe()                       # parent -> child: one byte "go" per step
    rep_r, rep_w = os.pipe()                       # child -> parent: report lines; EOF = exec done
    res_r, res_w = os.pipe() if is_function else (-1, -1)  # the function's pickled result
    out = os.pipe() if capture else None
    err = os.pipe() if capture else None
    argv = [getattr(payload[0], "__name__", "function")] if is_function else payload
    child = _fork_into_new_pid_namespace(p)
    if child == 0:
        os.close(ctl_w)
        os.close(rep_r)
        if res_r >= 0:
            os.close(res_r)
        _child(p, payload, ctl_r, rep_w, res_w, out, err, env)  # never returns
    os.close(ctl_r)
    os.close(rep_w)
    if res_w >= 0:
        os.close(res_w)
    if capture:
        os.close(out[1])
        os.close(err[1])
    records = [_record(child)]
    proc = Process(argv, kinds, child, records)
    if capture:
        proc.stdout, proc.stderr = os.fdopen(out[0], "rb"), os.fdopen(err[0], "rb")
    proc._result_fd = res_r
    try:
        if cgroup is not None:
            cgroup.attach(child)  # before "go": the command never runs outside its limits
        _open_gate(ctl_w)
        with os.fdopen(rep_r, "rb") as reports:
            for line in reports:
                word, _, rest = line.decode().rstrip("\n").partition(" ")
                if word == "maps":
                    _write_maps(child, p.user_map)
                elif word == "pid":  # PID 1 behind a shim
                    proc.pid = int(rest)
                    records.append(_record(proc.pid))
                elif word == "error":
                    code, _, text = rest.partition(" ")
                    proc.wait()
                    raise _explain(int(code), text, argv)
                else:
                    raise LabError(f"unexpected report from the child: {line!r}")
                _open_gate(ctl_w)
    except BaseException:
        proc.close()
        raise
    finally:
        os.close(ctl_w)
    return proc


def helper_built() -> bool:
    """Whether make setup compiled nsexec here (the doctor's "spawn helper")."""
    return os.access(NSEXEC, os.X_OK)


def helper_can_start(p: Plan) -> bool:
    """Whether nsexec is built and the plan is one it carries out (see kernel/nsexec.c)."""
    simple = not (p.join or p.second_fork or p.user_map or p.time_offsets or p.clone or p.rootfs is not None)
    return simple and helper_built()


@contextmanager
def python_road():
    """Within the block, spawn as labcore does where nsexec is not built: by forking Python.

    For comparing the two roads (make bench, deep dive A, the tests that run both).
    """
    global NSEXEC
    built, NSEXEC = NSEXEC, NSEXEC.with_name("nsexec-not-built")
    try:
        yield
    finally:
        NSEXEC = built


def _start_with_helper(p: Plan, argv: list[str], kinds, capture: bool, env, cgroup=None) -> Process:
    """_start without forking Python: nsexec makes PID 1 our child, we record it and open its gate."""
    gate_r, gate_w = os.pipe()
    rep_r, rep_w = os.pipe()
    # posix_spawn's dup2(fd, fd) clears close-on-exec: only these reach the helper, at fixed numbers.
    inherit, readers = [(gate_r, 3), (rep_w, 4)], []
    if capture:
        out, err = os.pipe(), os.pipe()
        inherit += [(out[1], 1), (err[1], 2)]
        readers = [out[0], err[0]]
    if min(fd for fd, _ in inherit) < 5:  # 0-2 closed in this process: move ours out of the way
        inherit = [(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5), target) for fd, target in inherit]
    flags = p.unshare | p.unshare_parent
    try:
        helper = kernel.default().posix_spawn(
            NSEXEC, ["nsexec", str(flags), str(p.propagation), str(int(p.mount_proc)), p.hostname or "", *argv],
            env if env is not None else os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in inherit],
            setsigdef=PYTHON_SIGNALS, setsigmask=())
    except OSError as exc:
        for fd in (gate_w, rep_r, *readers):
            os.close(fd)
        raise LabError(f"cannot start the spawn helper {NSEXEC}: {exc.strerror}", NSEXEC_FIX) from None
    finally:
        for fd in {gate_r, rep_w, *(fd for fd, _ in inherit), *((out[1], err[1]) if capture else ())}:
            os.close(fd)  # the helper has its copies
    reports = os.fdopen(rep_r, "rb")
    try:
        first = reports.readline().decode()
        _, status = os.waitpid(helper, 0)  # it exits right after its one report
        word, _, rest = first.rstrip("\n").partition(" ")
        if word != "pid":
            raise _helper_error(rest, p, argv) if word == "error" else LabError(
                f"the spawn helper {NSEXEC} failed (wait status {status}) without a report", NSEXEC_FIX)
        child = int(rest)
        try:
            record = _record(child)
        except BaseException:  # not recorded: PID 1 must not run, nor stay a zombie of ours
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            raise
        proc = Process(argv, kinds, child, [record])
        if capture:
            proc.stdout, proc.stderr = os.fdopen(readers[0], "rb"), os.fdopen(readers[1], "rb")
            readers = []  # proc.close() closes them from now on
        try:
            if cgroup is not None:
                cgroup.attach(child)  # before "go": the command never runs outside its limits
            _open_gate(gate_w)
            for line in reports:  # EOF: execve(2) succeeded and closed the report pipe
                word, _, rest = line.decode().rstrip("\n").partition(" ")
                proc.wait()
                raise _helper_error(rest, p, argv) if word == "error" else LabError(
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


def _helper_error(report: str, p: Plan, argv) -> LabError:
    """nsexec reports "ERRNO STAGE"; name the call it made, as the Python path's OSError would."""
    code, _, stage = report.partition(" ")
    calls = {
        "unshare": f"unshare unshare({F.describe(p.unshare | p.unshare_parent, F.CLONE_NAMES)})",
        "clone": "clone clone(CLONE_PARENT)",
        "propagation": f"payload mount none on / [{F.describe(p.propagation, F.MS_NAMES)}]",
        "proc": "payload mount proc on /proc (type proc)",
        "hostname": f"payload sethostname({p.hostname!r})",
        "exec": f"exec {argv[0]}",
    }
    return _explain(int(code), calls.get(stage, f"{stage} the spawn helper's {stage}"), argv)


def _open_gate(fd: int) -> None:
    """Let the child go on. If it already died (a failed setup call), its report says why."""
    try:
        os.write(fd, b"g")
    except BrokenPipeError:
        pass


def _record(pid: int):
    """Record a process we started, with its start time, so cleanup never kills a reused PID."""
    return tracker.default().add("process", pid, start_time=tracker.process_start_time(pid))


def _write_maps(pid: int, user_map) -> None:
    """Write the child's uid/gid maps from outside, as newuidmap(1) would."""
    inside, outside, count = user_map
    line = f"{inside} {outside} {count}\n"
    if os.geteuid() != 0:
        # Without CAP_SETGID in the parent namespace, setgroups must be denied first.
        Path(f"/proc/{pid}/setgroups").write_text("deny")
    Path(f"/proc/{pid}/uid_map").write_text(line)
    Path(f"/proc/{pid}/gid_map").write_text(line)


def _explain(code: int, text: str, argv) -> LabError:
    """Turn a failure reported by a child into a LabError with a fix."""
    stage, _, detail = text.partition(" ")
    if stage == "exec":
        if code in (errno.ENOENT, errno.ENOTDIR):
            return CommandNotFoundError(f"command not found: {argv[0]!r}",
                                        "check the spelling, or give its full path (for example /bin/sh)")
        return CommandNotFoundError(f"cannot execute {argv[0]!r}: {os.strerror(code)}", "is it an executable file?")
    if code == errno.EPERM:
        return PrivilegeError(f"{detail}: refused by the kernel",
                              "run as root; for user namespaces see `labcore doctor` (they may be restricted)")
    if code == errno.EINVAL and stage == "unshare":
        return UnsupportedError(f"{detail}: this kernel refuses it", "see `labcore doctor` for what it supports")
    return LabError(f"{detail}: {os.strerror(code)}")


# --- the child's side: runs after fork(), ends in exec() or _exit() -------------
#
# The child sets up its namespaces while the parent records it, then waits at a
# gate ("go") before it runs anything: if the parent dies first, the gate reads
# EOF and the child exits, taking its fresh namespaces with it.

def _child(p: Plan, payload, ctl_r, rep_w, res_w, out, err, env) -> None:
    def report(text: str) -> None:
        os.write(rep_w, text.encode() + b"\n")

    def go() -> None:
        if os.read(ctl_r, 1) != b"g":  # EOF: the parent died before recording us
            os._exit(1)

    stage = "setup"
    try:
        for kind, fd in p.join:
            stage = f"setns /proc/PID/ns/{kind}"
            kernel.default().setns(fd, 0, kind)
            if kind == "mnt":
                os.chdir("/")  # our old cwd belongs to the old mount namespace
        if p.unshare:
            stage = "unshare"
            kernel.default().unshare(p.unshare)
        early_gate = bool(p.user_map or p.second_fork)  # we need the parent before the payload
        if early_gate:
            go()  # recorded: from here on, nothing we make can escape cleanup
        if p.user_map:
            report("maps")
            go()
            _become_root_of_user_namespace()
        for clock, seconds in p.time_offsets.items():
            stage = "time offsets"
            Path("/proc/self/timens_offsets").write_text(f"{clock} {seconds} 0\n")
        if p.second_fork:
            # clone(2) with namespace flags (deep dive A), or a plain fork(); we are single-threaded.
            grandchild = kernel.default().clone(p.clone) if p.clone else kernel.default().fork()
            if grandchild:
                kernel.default().set_name("labcore-shim")  # a fork keeps our name: rename it for ps
                report(f"pid {grandchild}")
                os.close(rep_w)
                os.close(ctl_r)
                _relay_exit(grandchild)
        stage = "payload"
        # PID 1 waits to be recorded: the grandchild behind a shim always, the child if not yet.
        gate = go if p.second_fork or not early_gate else (lambda: None)
        _payload(p, payload, gate, rep_w, res_w, out, err, env)
    except BaseException as exc:
        code = getattr(exc, "errno", None) or errno.EIO
        detail = str(exc).removeprefix(f"[Errno {code}] ")
        try:
            report(f"error {code} {stage} {detail}")
        finally:
            os._exit(126)


def _become_root_of_user_namespace() -> None:
    """After the maps are written: uid 0 inside, which is the mapped uid outside."""
    try:
        os.setgroups([])
    except PermissionError:
        pass  # setgroups is denied when an unprivileged user wrote the map
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _relay_exit(child: int) -> None:
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


def _payload(p: Plan, payload, go, rep_w, res_w, out, err, env) -> None:
    """PID 1 of the new namespaces: finish the setup, wait until recorded, then exec (or call)."""
    if (p.unshare | p.unshare_parent | p.clone) & F.CLONE_NEWNS:
        # Our mounts must not propagate back to the host: make every mount private (or slave).
        kernel.default().mount(None, "/", None, p.propagation)
    if p.rootfs is not None:
        from ..fs.rootfs import enter  # already loaded by spawn()
        enter(p.rootfs, p.mount_proc)  # pivot_root, then /proc inside the new root
    elif p.mount_proc:
        kernel.default().mount("proc", "/proc", "proc", F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC)
    if p.hostname:
        kernel.default().sethostname(p.hostname)
    if out:
        os.dup2(out[1], 1)
        os.dup2(err[1], 2)
        for fd in (*out, *err):
            if fd > 2:
                os.close(fd)
    go()  # the parent recorded this process (it did so while we were setting up)
    if isinstance(payload, tuple):
        _call_in_child(payload, rep_w, res_w)
    for sig in PYTHON_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    for sig in range(32, signal.SIGRTMIN):
        kernel.default().default_signal(sig)  # glibc's own two, left ignored by whatever posix_spawn started us
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # The command must not inherit our other descriptors (a Jupyter kernel has many).
    os.closerange(3, rep_w)
    os.closerange(rep_w + 1, os.sysconf("SC_OPEN_MAX"))
    try:
        kernel.default().execve(payload[0], payload, env if env is not None else os.environ)
    except OSError as exc:
        os.write(rep_w, f"error {exc.errno} exec {payload[0]}\n".encode())
        os._exit(127)


def _call_in_child(payload, rep_w, res_w) -> None:
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


def _communicate(proc: Process, timeout: float, result: bool = False) -> tuple[str, str]:
    """Read stdout, stderr (and the pickled result) until EOF, then reap."""
    streams = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    if result and proc._result_fd >= 0:
        streams[proc._result_fd] = []
    open_fds = set(streams)
    deadline = time.monotonic() + timeout
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            proc.close()
            raise LabError(f"{shlex.join(proc.argv)} did not finish within {timeout} s: killed it",
                           "give it a larger timeout, or check that it does not wait for input")
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                streams[fd].append(chunk)
            else:
                open_fds.discard(fd)
    if result and proc._result_fd >= 0:
        proc._result = b"".join(streams[proc._result_fd])
    proc.wait()
    return (b"".join(streams[proc.stdout.fileno()]).decode(errors="replace"),
            b"".join(streams[proc.stderr.fileno()]).decode(errors="replace"))


__all__ = ["Process", "Result", "spawn", "run", "call", "enter", "helper_built", "python_road"]
