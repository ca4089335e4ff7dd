"""Namespaces: what a process can see. See namespaces(7).

A namespace wraps one kind of global resource so that the processes inside
get their own copy of it. Linux has eight kinds; each is a flag for
clone(2)/unshare(2) and a file in ``/proc/PID/ns/`` whose inode number
*is* the namespace's identity: two processes are in the same namespace
exactly when those inode numbers match.

Starting a "container" is three moves, the same ones runc makes:

1. ``fork()``: a child (the *shim* here) that may change its own state;
2. ``unshare(CLONE_NEW...)``: it moves into new namespaces. A new pid
   namespace applies to the *children* of the caller, so
3. ``fork()`` again: the grandchild is PID 1 of the new pid namespace. It
   mounts a fresh /proc (in its private mount namespace, so the host's is
   untouched), sets the hostname, then ``execve()``s the command.

The parent records every process with the tracker before letting it go on,
so nothing can escape ``labcore cleanup``.
"""

from __future__ import annotations

import errno
import os
import pickle
import select
import shlex
import signal
import sys
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import kernel, tracker
from .errors import CommandNotFoundError, InvalidInputError, LabError, PrivilegeError, \
    UnknownNamespaceError, UnsupportedError
from .kernel import flags as F


@dataclass(frozen=True)
class Kind:
    flag: int
    isolates: str
    man: str


KINDS: dict[str, Kind] = {
    "pid": Kind(F.CLONE_NEWPID, "process IDs: the first process inside is PID 1", "pid_namespaces(7)"),
    "net": Kind(F.CLONE_NEWNET, "network devices, addresses, routes, ports, firewall", "network_namespaces(7)"),
    "mnt": Kind(F.CLONE_NEWNS, "the mount table: what the filesystem tree looks like", "mount_namespaces(7)"),
    "uts": Kind(F.CLONE_NEWUTS, "hostname and NIS domain name", "uts_namespaces(7)"),
    "ipc": Kind(F.CLONE_NEWIPC, "System V IPC objects and POSIX message queues", "ipc_namespaces(7)"),
    "user": Kind(F.CLONE_NEWUSER, "user and group IDs, and so what root may do", "user_namespaces(7)"),
    "cgroup": Kind(F.CLONE_NEWCGROUP, "where the cgroup tree seems to start", "cgroup_namespaces(7)"),
    "time": Kind(F.CLONE_NEWTIME, "offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME", "time_namespaces(7)"),
}

CONTAINER = ("pid", "mnt", "uts", "ipc", "net")  # what `docker run` gives by default
DEFAULT_USER_MAP = (0, 100000, 65536)  # inside uid 0.. -> outside 100000.., as /etc/subuid would


def parse_kinds(kinds: str | Iterable[str]) -> tuple[str, ...]:
    """``"pid,mnt"`` or ``["pid", "mnt"]`` -> ``("pid", "mnt")``, refusing unknown names."""
    names = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise UnknownNamespaceError(
            f"unknown namespace kind {unknown[0]!r}",
            f"choose among {', '.join(KINDS)} (for example --ns pid,mnt,uts)")
    return tuple(dict.fromkeys(names))  # keep order, drop repeats


def flags_for(kinds: Iterable[str]) -> int:
    """The clone flags for these kinds, OR-ed together."""
    value = 0
    for name in kinds:
        value |= KINDS[name].flag
    return value


# --- looking at namespaces ---------------------------------------------------

class Namespaces(dict):
    """kind -> inode number of the namespace a process is in (from /proc/PID/ns)."""

    def __init__(self, pid, inodes: dict[str, int]):
        super().__init__(inodes)
        self.pid = pid

    def __repr__(self) -> str:
        body = "  ".join(f"{k}:{v}" for k, v in self.items())
        return f"<Namespaces of {self.pid}: {body}>"


def read(pid: int | str = "self") -> Namespaces:
    """Read /proc/PID/ns: the inode number of each of the process's namespaces.

    Used by notebook 01 to compare a container with the host.
    """
    inodes = {}
    for name in KINDS:
        try:
            inodes[name] = os.stat(f"/proc/{pid}/ns/{name}").st_ino
        except FileNotFoundError:
            if not Path(f"/proc/{pid}").exists():
                raise InvalidInputError(f"no process {pid}", "check the PID with ps") from None
        except PermissionError:
            raise PrivilegeError(f"cannot read /proc/{pid}/ns/{name}: permission denied",
                                 "another user's namespaces are visible to root only") from None
    return Namespaces(pid, inodes)


def nspid(pid: int) -> list[int]:
    """The PID of ``pid`` in each pid namespace it belongs to, outermost first (NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(x) for x in line.split()[1:]]
    return [pid]


def pin_netns(pid: int, name: str) -> str:
    """Keep ``pid``'s network namespace alive as /run/netns/NAME, as `ip netns add` does.

    A namespace lives as long as something refers to it: a process, an open
    file descriptor, or a bind mount of its /proc/PID/ns file. The bind mount
    is what makes it outlive every process, and `ip netns` looks there.
    Undo with ``tracker.default().undo(record)`` (or ``labcore cleanup``).
    """
    if not name.startswith(tracker.PREFIX) or "/" in name or name in (".", ".."):
        raise InvalidInputError(f"bad network namespace name {name!r}",
                                f"use a name starting with {tracker.PREFIX!r} and without '/'")
    path = Path(tracker.NETNS_DIR) / name
    if path.exists():
        raise InvalidInputError(f"{path} already exists", "choose another name, or remove it (ip netns del)")
    made_dir = not path.parent.exists()
    with tracker.default().created("netns", name, made_dir=made_dir) as rec:
        path.parent.mkdir(exist_ok=True)
        path.touch()  # a bind mount needs an existing file to cover
        kernel.mount(f"/proc/{pid}/ns/net", str(path), None, F.MS_BIND)
    return rec


# --- starting processes in new namespaces -----------------------------------

@dataclass
class Plan:
    """What the forked children must do before running the payload."""

    unshare: int = 0                         # clone flags for unshare(2)
    join: list[tuple[str, int]] = field(default_factory=list)  # (kind, fd) for setns(2)
    second_fork: bool = False                # pid/time namespaces affect children only
    mount_proc: bool = False
    hostname: str | None = None
    user_map: tuple[int, int, int] | None = None
    time_offsets: dict[str, int] = field(default_factory=dict)


class Process:
    """A process started in new (or joined) namespaces.

    ``pid`` is its PID seen from the host; ``shim_pid`` the intermediate
    process that waits for it (as a container shim does). Use as a context
    manager: on exit it is killed if still running, and reaped.
    """

    def __init__(self, argv, kinds, shim_pid: int, records):
        self.argv = argv
        self.kinds = kinds
        self.shim_pid = shim_pid
        self.pid: int = shim_pid
        self.returncode: int | None = None
        self.signal: int | None = None
        self.stdout = self.stderr = None
        self._records = records
        self._pidfd = os.pidfd_open(shim_pid)

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<Process {shlex.join(self.argv)!r} pid {self.pid} in {','.join(self.kinds) or 'host'}: {state}>"

    def namespaces(self) -> Namespaces:
        return read(self.pid)

    def poll(self) -> int | None:
        return self.wait(timeout=0) if self.returncode is None else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit; returns the shell-style status (128+N for signal N), or None on timeout."""
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        if not ready:
            return None
        _, status = os.waitpid(self.shim_pid, 0)
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
        """SIGKILL: the one signal PID 1 of a namespace cannot ignore (from outside)."""
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                if self.pid != self.shim_pid:
                    os.kill(self.shim_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_privileges(kinds) -> None:
    if os.geteuid() != 0 and kinds and "user" not in kinds:
        raise PrivilegeError(
            f"creating {','.join(kinds)} namespaces needs CAP_SYS_ADMIN, and this process is not root",
            "run as root (the course VM's lab kernel is), or add 'user' to the namespaces: "
            "inside a new user namespace you are root of your own namespaces")


def plan(kinds: str | Iterable[str] = CONTAINER, hostname: str | None = None,
         user_map: tuple[int, int, int] | None = None,
         time_offsets: dict[str, int] | None = None) -> Plan:
    """Check the request and turn it into a Plan (pure: no system call)."""
    kinds = parse_kinds(kinds)
    if hostname is not None:
        if "uts" not in kinds:
            raise InvalidInputError("a hostname needs its own uts namespace", "add uts to the namespaces")
        if not hostname or len(hostname) > 64 or "/" in hostname or "\0" in hostname:
            raise InvalidInputError(f"bad hostname {hostname!r}", "use 1 to 64 characters, letters, digits and '-'")
    if time_offsets and "time" not in kinds:
        raise InvalidInputError("clock offsets need a time namespace", "add time to the namespaces")
    for clock in time_offsets or {}:
        if clock not in ("monotonic", "boottime"):
            raise InvalidInputError(f"unknown clock {clock!r}", "a time namespace offsets 'monotonic' or 'boottime'")
    if "pid" in kinds and "mnt" not in kinds:
        # A fresh /proc is what makes the pid namespace visible to ps; mounting it
        # needs a mount namespace, or the host's /proc would be covered.
        kinds = kinds + ("mnt",)
    if "user" in kinds and user_map is None:
        user_map = DEFAULT_USER_MAP if os.geteuid() == 0 else (0, os.geteuid(), 1)
    return Plan(unshare=flags_for(kinds), second_fork="pid" in kinds or "time" in kinds,
                mount_proc="pid" in kinds, hostname=hostname,
                user_map=user_map if "user" in kinds else None,
                time_offsets=dict(time_offsets or {}))


def spawn(argv: list[str] | Callable, ns: str | Iterable[str] = CONTAINER, *,
          hostname: str | None = None, user_map: tuple[int, int, int] | None = None,
          time_offsets: dict[str, int] | None = None, capture: bool = False,
          env: dict | None = None) -> Process:
    """Start ``argv`` as PID 1 of new namespaces (by default those of a container).

    ``capture=True`` gives ``proc.stdout`` and ``proc.stderr`` pipes;
    otherwise the command shares our terminal. Used by notebooks 01 and 03.
    """
    kinds = parse_kinds(ns)
    _check_privileges(kinds)
    p = plan(kinds, hostname, user_map, time_offsets)
    return _start(p, argv, parse_kinds(ns), capture, env)


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


def run(argv: list[str], ns: str | Iterable[str] = CONTAINER, *, timeout: float = 60,
        **kwargs) -> Result:
    """Run ``argv`` in new namespaces, wait for it, return its output.

    Used throughout the notebooks: ``run(["hostname"], hostname="box").stdout``.
    """
    with spawn(argv, ns, capture=True, **kwargs) as proc:
        out, err = _communicate(proc, timeout)
        return Result(list(argv), proc.returncode, out, err, proc.pid)


def call(fn: Callable, *args, ns: str | Iterable[str] = CONTAINER, timeout: float = 60, **kwargs):
    """Run the Python function ``fn(*args)`` in new namespaces and return its result.

    The function runs in a forked copy of this interpreter: return values and
    exceptions come back pickled; printed text is passed through.
    """
    kinds = parse_kinds(ns)
    _check_privileges(kinds)
    p = plan(kinds, **kwargs)
    with _start(p, (fn, args), kinds, capture=True, env=None) as proc:
        out, err = _communicate(proc, timeout, result=True)
    if out:
        sys.stdout.write(out)
    status, value = pickle.loads(proc._result) if proc._result else ("raise", LabError(
        f"the function died before returning (status {proc.returncode})", "look at its stderr"))
    if status == "raise":
        raise value
    return value


def enter(pid: int, argv: list[str], kinds: str | Iterable[str] | None = None,
          timeout: float = 60) -> Result:
    """nsenter by hand: run ``argv`` inside the namespaces of process ``pid``.

    Opens /proc/PID/ns/KIND, setns(2) into each, then forks (a pid namespace
    only applies to children) and execs. Default: every kind that differs.
    """
    mine = read("self")
    theirs = read(pid)
    kinds = parse_kinds(kinds) if kinds is not None else tuple(k for k in KINDS if theirs[k] != mine[k])
    if os.geteuid() != 0:
        raise PrivilegeError("joining another process's namespaces needs CAP_SYS_ADMIN", "run as root")
    # The user namespace first: it owns the others, and joining it gives the rights to join them.
    order = sorted(kinds, key=lambda k: k != "user")
    fds = [(k, os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC)) for k in order]
    try:
        p = Plan(join=fds, second_fork="pid" in kinds)
        with _start(p, argv, kinds, capture=True, env=None) as proc:
            out, err = _communicate(proc, timeout)
            return Result(list(argv), proc.returncode, out, err, proc.pid)
    finally:
        for _, fd in fds:
            os.close(fd)


# --- the fork/unshare/fork dance ----------------------------------------------

def _start(p: Plan, payload, kinds, capture: bool, env) -> Process:
    """Fork the shim, let it set up namespaces and fork the payload; record both."""
    ctl_r, ctl_w = os.pipe()   # parent -> children: one byte "go" per step
    rep_r, rep_w = os.pipe()   # children -> parent: progress lines; EOF = exec done
    is_function = isinstance(payload, tuple)  # (fn, args) rather than an argv
    res_r, res_w = os.pipe() if is_function else (-1, -1)  # the function's pickled result
    out = os.pipe() if capture else None
    err = os.pipe() if capture else None
    shim = os.fork()
    if shim == 0:  # --- the shim (child) ---
        os.close(ctl_w), os.close(rep_r)
        if res_r >= 0:
            os.close(res_r)
        _child(p, payload, ctl_r, rep_w, res_w, out, err, env)  # never returns
    os.close(ctl_r), os.close(rep_w)
    for pair in (out, err):
        if pair:
            os.close(pair[1])
    if res_w >= 0:
        os.close(res_w)
    track = tracker.default()
    records = [track.add("process", shim, start_time=tracker.process_start_time(shim), role="shim")]
    argv = [getattr(payload[0], "__name__", "function")] if is_function else list(payload)
    proc = Process(argv, kinds, shim, records)
    if capture:
        proc.stdout, proc.stderr = os.fdopen(out[0], "rb"), os.fdopen(err[0], "rb")
    proc._result_fd = res_r
    proc._result = b""
    try:
        os.write(ctl_w, b"g")
        with os.fdopen(rep_r, "rb") as reports:
            for line in reports:
                word, _, rest = line.decode().rstrip("\n").partition(" ")
                if word == "maps":
                    _write_maps(shim, p.user_map)
                elif word == "pid":
                    proc.pid = int(rest)
                    if proc.pid != shim:
                        records.append(track.add("process", proc.pid, role="payload",
                                                 start_time=tracker.process_start_time(proc.pid)))
                elif word == "error":
                    code, _, text = rest.partition(" ")
                    proc.wait()
                    raise _explain(int(code), text, payload)
                else:
                    raise LabError(f"unexpected report from the shim: {line!r}")
                os.write(ctl_w, b"g")
    except BaseException:
        proc.close()
        if res_r >= 0:
            os.close(res_r)
        raise
    finally:
        os.close(ctl_w)
    return proc


def _write_maps(pid: int, user_map) -> None:
    """Write the child's uid/gid maps from outside, as newuidmap(1) would."""
    inside, outside, count = user_map
    line = f"{inside} {outside} {count}\n"
    if os.geteuid() != 0:
        # Without CAP_SETGID in the parent namespace, setgroups must be denied first.
        Path(f"/proc/{pid}/setgroups").write_text("deny")
    Path(f"/proc/{pid}/uid_map").write_text(line)
    Path(f"/proc/{pid}/gid_map").write_text(line)


def _explain(code: int, text: str, payload) -> LabError:
    """Turn a failure reported by a child into a LabError with a fix."""
    stage, _, detail = text.partition(" ")
    if stage == "exec":
        name = payload[0]
        if code in (errno.ENOENT, errno.ENOTDIR):
            return CommandNotFoundError(f"command not found: {name!r}",
                                        "check the spelling, or give its full path (for example /bin/sh)")
        return CommandNotFoundError(f"cannot execute {name!r}: {os.strerror(code)}",
                                    "is it an executable file?")
    if code == errno.EPERM:
        return PrivilegeError(f"{detail}: refused by the kernel",
                              "run as root; for user namespaces see `labcore doctor` (they may be restricted)")
    if code == errno.EINVAL and stage == "unshare":
        return UnsupportedError(f"{detail}: this kernel refuses it", "see `labcore doctor` for what it supports")
    return LabError(f"{detail}: {os.strerror(code)}")


def _child(p: Plan, payload, ctl_r, rep_w, res_w, out, err, env) -> None:
    """Runs in the shim. Must never return: it ends in exec or _exit."""
    def report(text: str) -> None:
        os.write(rep_w, text.encode() + b"\n")

    def go() -> None:
        if os.read(ctl_r, 1) != b"g":  # EOF: the parent died before recording us
            os._exit(1)

    stage = "setup"
    try:
        go()
        for kind, fd in p.join:
            stage = f"setns /proc/PID/ns/{kind}"
            kernel.setns(fd, 0, kind)
            if kind == "mnt":
                os.chdir("/")  # our old cwd belongs to the old mount namespace
        if p.unshare:
            stage = "unshare"
            kernel.unshare(p.unshare)
        if p.user_map:
            report("maps")
            go()
            # Become root of the new user namespace (uid 0 inside = the mapped uid outside).
            try:
                os.setgroups([])
            except PermissionError:
                pass  # setgroups is denied when an unprivileged user wrote the map
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        for clock, seconds in p.time_offsets.items():
            stage = "time offsets"
            Path("/proc/self/timens_offsets").write_text(f"{clock} {seconds} 0\n")
        if p.second_fork:
            child = os.fork()
            if child:
                report(f"pid {child}")
                os.close(rep_w)
                os.close(ctl_r)
                _relay_exit(child)
        else:
            report(f"pid {os.getpid()}")
        go()
        stage = "payload"
        _payload(p, payload, rep_w, res_w, out, err, env)
    except BaseException as exc:
        code = getattr(exc, "errno", None) or errno.EIO
        detail = str(exc).removeprefix(f"[Errno {code}] ")
        try:
            report(f"error {code} {stage} {detail}")
        finally:
            os._exit(126)


def _relay_exit(child: int) -> None:
    """The shim's life after the fork: wait for the payload and die the same way."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # dying of SIGSEGV must not dump core twice
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status))


def _payload(p: Plan, payload, rep_w, res_w, out, err, env) -> None:
    """PID 1 of the new namespaces: finish the setup, then exec (or call the function)."""
    if p.unshare & F.CLONE_NEWNS:
        # Our mounts must not propagate back to the host: make every mount private.
        kernel.mount(None, "/", None, F.MS_REC | F.MS_PRIVATE)
    if p.mount_proc:
        kernel.mount("proc", "/proc", "proc", F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC)
    if p.hostname:
        kernel.sethostname(p.hostname)
    if out:
        os.dup2(out[1], 1)
        os.dup2(err[1], 2)
        for fd in (*out, *err):
            if fd > 2:
                os.close(fd)
    if isinstance(payload, tuple):
        _call_in_child(payload, rep_w, res_w)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)  # Python ignores some; a program expects defaults
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # The command must not inherit our other descriptors (a Jupyter kernel has many).
    os.closerange(3, rep_w)
    os.closerange(rep_w + 1, os.sysconf("SC_OPEN_MAX"))
    argv = list(payload)
    try:
        os.execvpe(argv[0], argv, env if env is not None else os.environ)
    except OSError as exc:
        os.write(rep_w, f"error {exc.errno} exec {argv[0]}\n".encode())
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
        left = deadline - time.monotonic()
        ready, _, _ = select.select(list(open_fds), [], [], max(left, 0))
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
        os.close(proc._result_fd)
        proc._result = b"".join(streams[proc._result_fd])
    proc.wait()
    return (b"".join(streams[proc.stdout.fileno()]).decode(errors="replace"),
            b"".join(streams[proc.stderr.fileno()]).decode(errors="replace"))


__all__ = ["KINDS", "CONTAINER", "Namespaces", "Process", "Result", "Plan", "parse_kinds",
           "flags_for", "read", "nspid", "pin_netns", "plan", "spawn", "run", "call", "enter"]
