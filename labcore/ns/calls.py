"""The namespace system calls one at a time: clone(2), unshare(2), setns(2), ioctl_ns(2).

Three calls make and join namespaces, and they differ in *who* moves:

* ``clone(CLONE_NEW*)`` creates the namespaces and a child born inside them;
* ``unshare(CLONE_NEW*)`` moves the caller into new namespaces, except for
  pid and time, which only change where its *future children* go
  (``/proc/self/ns/pid_for_children``, ``time_for_children``);
* ``setns(fd, CLONE_NEW*)`` moves the caller into the namespace that ``fd``
  (an open ``/proc/PID/ns/KIND`` file) refers to, with the same exception.

A namespace lives while something refers to it: a process in it, an open
file descriptor on its ``/proc/PID/ns`` file, a bind mount of that file, or
another namespace that depends on it. ioctl_ns(2) asks a namespace file
which user namespace owns it and, for pid and user namespaces, which is
its parent.

Every function here does its system calls in a throwaway child process,
never in the caller: a Jupyter kernel has several threads, and the kernel
refuses setns(2) into a mount or user namespace, and unshare(CLONE_NEWUSER),
to a multi-threaded process (EINVAL). The one exception,
``setns_refused_here``, exists to show that refusal. Used by deep dive A.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Iterable

from .. import kernel
from ..errors import InvalidInputError, LabError
from ..kernel import flags as F
from .namespaces import KINDS, Plan, check_privileges, parse_kinds, plan_clone
from .pidns import status
from .process import Result, _communicate, _start

CHILDREN_LINKS = ("pid_for_children", "time_for_children")


def links(pid: int | str = "self") -> dict[str, int | None]:
    """Inode of every file in /proc/PID/ns, the *_for_children ones included.

    None where the file cannot be opened: right after unshare(CLONE_NEWPID),
    pid_for_children gives ENOENT until the new namespace has its PID 1
    (``pidns_for_children_get()`` refuses a namespace without a child reaper).
    """
    out = {}
    # Named rather than listed: a process that became root of a user namespace is no
    # longer "dumpable", and may then open its /proc/self/ns entries but not list them.
    for name in (*KINDS, *CHILDREN_LINKS):
        try:
            out[name] = os.stat(f"/proc/{pid}/ns/{name}").st_ino
        except FileNotFoundError:
            out[name] = None
    return out


# --- clone(2) -----------------------------------------------------------------

def clone_run(argv: list[str], kinds: str | Iterable[str] = "pid,uts", hostname: str | None = None,
              timeout: float = 60) -> Result:
    """Run ``argv`` in a child created by one raw clone(2) with the namespace flags.

    labcore's usual road (``spawn``) is unshare(2) then fork(); here a
    single-threaded helper calls clone(2) itself, and the new process is
    *born* inside the namespaces: PID 1 at once, no pid_for_children step.
    The helper stays as its parent, like a shim. Needs root.
    """
    kinds = parse_kinds(kinds)
    p = plan_clone(kinds, hostname)  # refuses what clone(2) cannot do, before anything else
    check_privileges(kinds)
    with _start(p, list(argv), kinds, True, None) as proc:
        out, err = _communicate(proc, timeout)
        return Result(list(argv), proc.returncode, out, err, proc.pid)


# --- unshare(2) and pid_for_children ------------------------------------------------

@dataclass
class Observation:
    """What one step of a demo saw: a sentence, and the values that back it."""

    step: str
    facts: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.step}: " + ", ".join(f"{k}={v}" for k, v in self.facts.items())


def _child_that_waits(gate: int) -> tuple[int, int, int]:
    """fork() a child that reports its getpid() and pid namespace, then blocks reading ``gate``.

    Returns (its PID for us, its PID for itself, the inode of its pid namespace).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, f"{os.getpid()} {os.stat('/proc/self/ns/pid').st_ino}\n".encode())
        os.read(gate, 1)  # until the parent writes a byte (or we are killed)
        os._exit(0)
    os.close(w)
    inside, inode = (int(x) for x in os.read(r, 100).split())
    os.close(r)
    return pid, inside, inode


def pid_for_children_story() -> list[Observation]:
    """unshare(CLONE_NEWPID) step by step, inside a throwaway child.

    Run it with ``lab.call(pid_for_children_story, ns=lab.namespaces.usable(()))``.
    What it shows: unshare(2) leaves our own pid namespace alone, and
    pid_for_children cannot even be opened until the first child, PID 1, exists; while it lives, the next child is PID 2; when
    PID 1 exits, the kernel kills PID 2 with SIGKILL, and fork() fails with
    ENOMEM: the namespace can take no more processes.
    """
    seen = []
    before = links()
    seen.append(Observation("before", {"pid_for_children is our pid namespace":
                                       before["pid_for_children"] == before["pid"]}))
    kernel.default().unshare(F.CLONE_NEWPID)
    after = links()
    seen.append(Observation("after unshare(CLONE_NEWPID)", {
        "our pid namespace changed": after["pid"] != before["pid"],
        "pid_for_children": "ENOENT (no PID 1 yet)" if after["pid_for_children"] is None else "readable"}))

    gate1_r, gate1_w = os.pipe()  # PID 1 waits here until we let it exit
    gate2_r, gate2_w = os.pipe()  # PID 2 waits here forever
    try:
        init, init_inside, init_ns = _child_that_waits(gate1_r)
        now = links()
        seen.append(Observation("first fork()", {
            "its getpid()": init_inside,
            "its pid namespace is our new pid_for_children": init_ns == now["pid_for_children"] != before["pid"]}))
        second, second_inside, _ = _child_that_waits(gate2_r)
        seen.append(Observation("second fork(), while PID 1 lives", {"its getpid()": second_inside}))

        os.write(gate1_w, b"x")  # PID 1 exits, and the kernel SIGKILLs the rest of its namespace.
        # Reap PID 2 first: the dying PID 1 waits until every other process of its
        # namespace has been reaped (zap_pid_ns_processes()), and PID 2's parent is us.
        _, status = os.waitpid(second, 0)
        os.waitpid(init, 0)
        killer = signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else "nothing"
        seen.append(Observation("PID 1 exited", {"the second child died of": killer}))
        try:
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            outcome = "a new child"
        except OSError as exc:
            outcome = errno.errorcode.get(exc.errno, str(exc.errno))
        seen.append(Observation("third fork(), PID 1 gone", {"fork() gives": outcome}))
    finally:
        for fd in (gate1_r, gate1_w, gate2_r, gate2_w):
            os.close(fd)
    return seen


# --- setns(2): nsenter by hand -------------------------------------------------------

NSENTER_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "mnt", "time")  # nsenter(1)'s order


def _become_root_here() -> None:
    """What nsenter does after joining a user namespace: uid and gid 0 inside, no extra groups."""
    try:
        os.setgroups([])
    except PermissionError:
        pass  # refused when the namespace's setgroups file says "deny" (a rootless map)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def setns_story(pid: int, argv: list[str]) -> tuple[list[Observation], str]:
    """nsenter done by hand, one setns(2) at a time, looking around after each.

    Run it in a throwaway child: ``lab.call(setns_story, pid, argv, ns=())``.
    It opens every /proc/PID/ns file that differs from ours *first* (after
    joining the mount namespace, the host's /proc may be out of sight), then
    joins them in nsenter(1)'s order, and finally forks: the pid namespace,
    like the time namespace, only applies to children. Returns what each step
    changed and what ``argv`` printed in the end. Used by deep dive A.
    """
    mine, theirs = links(), links(pid)
    kinds = [k for k in NSENTER_ORDER if theirs[k] != mine[k]]
    fds = {k: os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC) for k in kinds}
    seen = [Observation("open /proc/PID/ns/*", {"kinds that differ from ours": ", ".join(kinds)})]
    for kind in kinds:
        before = links()
        kernel.default().setns(fds[kind], KINDS[kind].flag, f"/proc/{pid}/ns/{kind}")
        os.close(fds[kind])
        facts = {}
        if kind == "user":
            _become_root_here()
            facts["getuid()"] = os.getuid()
        if kind == "mnt":
            os.chdir("/")  # our old working directory belongs to the old mount tree
            # This /proc belongs to the container's pid namespace, which we are not in:
            # /proc/self, which procfs resolves by our PID in its namespace, points nowhere.
            facts["/proc/self exists"] = os.path.exists("/proc/self")
        else:
            after = links()
            facts["changed"] = ", ".join(n for n in after if after[n] != before[n]) or "nothing"
        if kind == "uts":
            facts["hostname"] = socket.gethostname()
        seen.append(Observation(f"setns(fd, {F.CLONE_NAMES[KINDS[kind].flag]})", facts))
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.dup2(w, 1)
        os.dup2(w, 2)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    with os.fdopen(r) as output:
        text = output.read()
    os.waitpid(child, 0)
    seen.append(Observation("fork(), exec", {"argv": " ".join(argv)}))
    return seen, text


def threads(pid: int | str = "self") -> int:
    """How many threads a process has (the Threads: line of /proc/PID/status)."""
    return int(status(pid)["Threads"])


def setns_refused_here(pid: int) -> str:
    """Show why labcore never calls setns(2) in the caller: try to join ``pid``'s user namespace
    from *this* multi-threaded process, and return the kernel's answer (an errno name).

    The kernel refuses a user namespace (and a mount namespace) to a process
    with more than one thread: ``userns_install()`` returns EINVAL because all
    threads of a process must share a user namespace. A Jupyter kernel always
    has threads (heartbeat, I/O), so this can only fail; to be safe it refuses
    to run at all in a single-threaded process. Used by deep dive A.
    """
    if threads() < 2:
        raise LabError("this demo must run in a multi-threaded process (a Jupyter kernel is one)",
                       "run it from a notebook, not from a script")
    fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_ino == os.stat("/proc/self/ns/user").st_ino:
            raise InvalidInputError(f"process {pid} is in our own user namespace", "give a rootless container's PID")
        kernel.default().setns(fd, F.CLONE_NEWUSER, f"/proc/{pid}/ns/user")
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    finally:
        os.close(fd)
    raise LabError("setns(CLONE_NEWUSER) succeeded in a multi-threaded process: this kernel differs from the docs")


def run_in(files: dict[str, str | int], argv: list[str], timeout: float = 60) -> Result:
    """Run ``argv`` after setns(2) into namespaces given as files or open descriptors.

    ``files`` maps a kind to a /proc/PID/ns/KIND path, a bind mount of one
    (``/run/netns/NAME``), or an fd already open on one: a namespace can be
    entered with no process left in it. Needs root (or user among the kinds).
    """
    kinds = parse_kinds(list(files))
    if os.geteuid() != 0 and "user" not in kinds:
        raise InvalidInputError("joining namespaces needs CAP_SYS_ADMIN", "run as root")
    order = sorted(kinds, key=lambda k: k != "user")
    opened = []
    try:
        join = []
        for kind in order:
            where = files[kind]
            if isinstance(where, int):
                join.append((kind, where))
            else:
                fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC)
                opened.append(fd)
                join.append((kind, fd))
        with _start(Plan(join=join, second_fork="pid" in kinds), list(argv), kinds, True, None) as proc:
            out, err = _communicate(proc, timeout)
            return Result(list(argv), proc.returncode, out, err, proc.pid)
    finally:
        for fd in opened:
            os.close(fd)


# --- identities: inode numbers and ioctl_ns(2) ---------------------------------------

@dataclass
class NsInfo:
    """A namespace's identity and family, as ioctl_ns(2) tells them."""

    kind: str
    inode: int          # its identity: equal inodes, same namespace
    device: int         # every namespace file lives on the one nsfs device
    owner: int          # inode of the user namespace that owns it
    owner_uid: int      # who created that user namespace (a uid in our user namespace)
    parent: int | None  # pid and user namespaces only: the parent's inode (None: not visible from here)


def info(pid: int | str, kind: str) -> NsInfo:
    """Ask the kernel about ``pid``'s namespace of this kind: owner, creator, parent."""
    parse_kinds([kind])
    path = f"/proc/{pid}/ns/{kind}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if kernel.default().ns_ioctl(fd, F.NS_GET_NSTYPE, path) != KINDS[kind].flag:
            raise LabError(f"{path} is not a {kind} namespace")
        user_fd = fd if kind == "user" else kernel.default().ns_ioctl(fd, F.NS_GET_USERNS, path)
        try:
            owner = os.fstat(user_fd).st_ino if kind != "user" else None
            uid = kernel.default().ns_ioctl(user_fd, F.NS_GET_OWNER_UID, path)
        finally:
            if user_fd != fd:
                os.close(user_fd)
        if kind == "user":  # a user namespace is owned by its parent
            owner = _parent(fd, path)
        parent = _parent(fd, path) if kind in ("pid", "user") else None
        return NsInfo(kind, st.st_ino, st.st_dev, owner, uid, parent)
    finally:
        os.close(fd)


def _parent(fd: int, path: str) -> int | None:
    try:
        parent_fd = kernel.default().ns_ioctl(fd, F.NS_GET_PARENT, path)
    except PermissionError:  # the initial namespace, or a parent outside our own: not ours to see
        return None
    try:
        return os.fstat(parent_fd).st_ino
    finally:
        os.close(parent_fd)


# --- watching real tools --------------------------------------------------------------

NS_CALLS = ("clone", "clone3", "unshare", "setns", "mount", "pivot_root")


def strace(argv: list[str], calls: Iterable[str] = NS_CALLS) -> list[str]:
    """Run ``argv`` under strace(1) -f and return its namespace system calls, one per line.

    PIDs and addresses are normalised, so the lines read the same at every
    run; calls made by processes other than ``argv``'s own start with
    ``[child]``: ``[child] mount("proc", "/proc", ...) = 0``.
    """
    if not shutil.which("strace"):
        raise LabError("strace is not installed", "apt-get install strace (provision/provision.sh does)")
    # -o makes strace start every line with the PID; the first PID seen is the program's own.
    done = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/stderr", "-e", "trace=" + ",".join(calls),
                           "-e", "signal=none", *argv], capture_output=True, text=True, timeout=60)
    return parse_strace(done.stderr, calls)


def parse_strace(text: str, calls: Iterable[str] = NS_CALLS) -> list[str]:
    """The lines of ``strace -f -o FILE`` output that are ``calls``, normalised (see ``strace``)."""
    lines, unfinished, first = [], {}, None
    pattern = re.compile(r"(%s)\(" % "|".join(calls))
    for line in text.splitlines():
        numbered = re.match(r"(\d+)\s+(.*)", line)  # strace pads the PID column with spaces
        if not numbered:
            continue  # the traced program's own messages
        pid, rest = numbered.groups()
        first = first or pid
        # A call interrupted by another process's output comes in two halves: keep the
        # first half's place in the list, so the order is the order the calls began.
        resumed = re.match(r"<\.\.\. \w+ resumed>", rest)
        if resumed and pid in unfinished:
            index, head = unfinished.pop(pid)
            lines[index] = _normalise(head + rest[resumed.end():], pid != first)
            continue
        if not pattern.match(rest):
            continue
        if rest.endswith(" <unfinished ...>"):
            unfinished[pid] = (len(lines), rest.removesuffix(" <unfinished ...>"))
        lines.append(_normalise(rest, pid != first))
    return lines


def _normalise(text: str, child: bool) -> str:
    text = re.sub(r"0x[0-9a-f]{6,}", "0x<addr>", text)
    text = re.sub(r"\)\s+= ", ") = ", text)  # strace aligns results in a column
    text = re.sub(r"\) = (\d+)$", lambda m: ") = " + ("<pid>" if int(m.group(1)) > 9 else m.group(1)), text)
    return ("[child] " if child else "") + text


__all__ = ["links", "clone_run", "Observation", "pid_for_children_story", "setns_story", "run_in",
           "threads", "setns_refused_here",
           "NsInfo", "info", "strace", "parse_strace", "NSENTER_ORDER", "NS_CALLS"]
