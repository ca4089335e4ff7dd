"""Namespaces: what a process can see. See namespaces(7).

A namespace wraps one kind of global resource so that the processes inside
get their own copy of it. Linux has eight kinds; each is a flag for
clone(2)/unshare(2) and a file in ``/proc/PID/ns/`` whose inode number
*is* the namespace's identity: two processes are in the same namespace
exactly when those inode numbers match.

This module reads a process's namespaces (the kinds are listed once, in
``labcore.proc.ns``), pins one so it outlives its processes, and turns a request ("pid,net, hostname box") into a
``Plan`` of system calls. ``labcore.ns.process`` carries the plan out.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from .. import kernel, tracker
from ..errors import InvalidInputError, PrivilegeError, UnknownNamespaceError, UnsupportedError
from ..kernel import flags as F
from ..proc import cgroup as proc_cgroup
from ..proc.cgroup import CGROUP_ROOT
from ..proc.ns import CONTAINER, KINDS, Kind  # the one table of kinds; re-exported here for the notebooks
from ..proc.status import status
from .netns import pin_netns  # lab.pin_netns; it lives with its undo in netns.py

# What a new mount namespace does with the mount events it shares with its parent
# (mount_namespaces(7)): labcore's default cuts every tie; runc's default is "slave".
PROPAGATION = {
    "private": F.MS_REC | F.MS_PRIVATE,  # no event goes in or out
    "slave": F.MS_REC | F.MS_SLAVE,      # the host's new mounts come in, ours never go out
    "shared": F.MS_REC | F.MS_SHARED,    # both ways, for mounts that were shared with the host
}
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


def usable(kinds: str | Iterable[str] = CONTAINER) -> tuple[str, ...]:
    """The kinds to ask for so that *this* process may create them.

    Root creates any namespace. An ordinary user may create a user namespace,
    becomes root inside it, and may then create the other kinds, which the
    user namespace owns: that is how rootless containers work. So without
    root we put "user" first. Used by the notebooks so they also run rootless.
    """
    kinds = parse_kinds(kinds)
    if os.geteuid() == 0 or "user" in kinds:
        return kinds
    return ("user",) + kinds


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
    return [int(x) for x in status(pid).get("NSpid", str(pid)).split()]  # no NSpid line before Linux 4.1


# --- what a process sees from inside: cgroup, time, ipc --------------------

def cgroup_paths(pid: int | str = "self") -> dict[str, str]:
    """/proc/PID/cgroup as hierarchy -> path, *relative to the reader's cgroup namespace*.

    On cgroup v1 each hierarchy is named by its controllers (``pids``,
    ``cpu``...); the v2 line (``0::/path``) is returned as ``cgroup2``.
    """
    return proc_cgroup.paths(pid)


def cgroup_views(join: str | None = None) -> dict[str, dict[str, str]]:
    """Unshare a cgroup namespace and compare what /proc/self/cgroup says before and after.

    Run it in a throwaway child (``lab.call(cgroup_views, ns=())``), never in
    the notebook's own process. With ``join`` (a cgroup directory), the child
    first moves itself there: the namespace's root is wherever the process
    is at unshare(2) time, which is why runc unshares CLONE_NEWCGROUP last,
    after the container was put in its cgroup. Also returns how the parent's
    cgroup looks from inside: outside the root, so as ``/..`` paths.
    Used by notebook 04.
    """
    if join:
        Path(join, "cgroup.procs").write_text("0")  # "0" means: the writing process
    before = cgroup_paths()
    kernel.default().unshare(F.CLONE_NEWCGROUP)
    return {"before": before, "after": cgroup_paths(), "parent": cgroup_paths(os.getppid())}


@contextmanager
def scratch_cgroup(name: str):
    """A lab cgroup to stand in, for the cgroup-namespace demo (root only); yields its directory.

    ``/sys/fs/cgroup/labcore/NAME`` on cgroup v2; on v1 and hybrid machines, in
    the pids hierarchy (``/sys/fs/cgroup/pids/labcore/NAME``). Created through
    the tracker and removed at the end. Chapter 05 has the whole cgroup interface.
    """
    if not name.startswith(tracker.PREFIX) or "/" in name:
        raise InvalidInputError(f"bad cgroup name {name!r}", f"use a name starting with {tracker.PREFIX!r}, without '/'")
    v1 = proc_cgroup.v1_controllers()
    if proc_cgroup.mode() == "v2":
        root = Path(CGROUP_ROOT)
    elif "pids" in v1:
        root = Path(v1["pids"])
    else:
        raise UnsupportedError("no cgroup v2 and no v1 pids hierarchy mounted", "see `labcore doctor`")
    trk = tracker.default()
    records = []
    try:
        parent = root / tracker.CGROUP_NAME
        # Made first, recorded before: if it exists already (EEXIST), it is someone else's and its record
        # goes without undo. The shared parent is ours to remove only if we made it (others may be using it).
        for path, shared in ((parent, True), (parent / name, False)):
            with trk.created("cgroup", str(path)) as rec:
                try:
                    path.mkdir()
                except FileExistsError:
                    rec.not_mine()
                    if not shared:
                        raise InvalidInputError(f"cgroup {path} already exists",
                                                "pick another name, or run `labcore cleanup`") from None
            if not rec.disowned:
                records.append(rec)
        yield str(root / tracker.CGROUP_NAME / name)
    finally:
        for rec in reversed(records):
            trk.undo(rec)


def time_offsets(pid: int | str = "self") -> dict[str, float]:
    """/proc/PID/timens_offsets: clock -> offset in seconds of PID's time namespace (0 for the host's)."""
    out = {}
    for line in Path(f"/proc/{pid}/timens_offsets").read_text().splitlines():
        clock, seconds, nanoseconds = line.split()
        out[clock] = int(seconds) + int(nanoseconds) / 1e9
    return out


def sysv_ipc(kind: str = "msg", text: str | None = None) -> list[dict[str, str]]:
    """The System V IPC objects of *our* ipc namespace, from /proc/sysvipc/KIND (msg, shm or sem).

    The file lists the ipc namespace of the process that reads it. To list a
    container's, read it inside (``lab.enter(pid, ["cat", "/proc/sysvipc/msg"])``)
    and pass the output as ``text``.
    """
    if kind not in ("msg", "shm", "sem"):
        raise InvalidInputError(f"unknown System V IPC kind {kind!r}", "choose msg, shm or sem")
    lines = (text if text is not None else Path(f"/proc/sysvipc/{kind}").read_text()).splitlines()
    if not lines:
        return []
    header = lines[0].split()
    return [dict(zip(header, line.split())) for line in lines[1:] if line.strip()]


# --- planning: from a request to the system calls --------------------------

@dataclass
class Plan:
    """Which system calls start a process in the requested namespaces (see labcore.ns.process)."""

    unshare_parent: int = 0                  # CLONE_NEWPID, unshared by the parent just before fork()
    unshare: int = 0                         # the other flags, unshared by the child
    join: list[tuple[str, int]] = field(default_factory=list)  # (kind, fd) for setns(2)
    second_fork: bool = False                # the child forks again: PID 1 is the grandchild
    mount_proc: bool = False
    hostname: str | None = None
    user_map: tuple[int, int, int] | None = None
    time_offsets: dict[str, int] = field(default_factory=dict)
    propagation: int = F.MS_REC | F.MS_PRIVATE  # mount(2) flags applied to "/" in a new mount namespace
    clone: int = 0                           # flags for a raw clone(2) instead of the second fork()
    rootfs: object = None                    # a labcore.fs.rootfs.Rootfs to pivot_root into
    security: object = None                  # a labcore.security.Prepared, applied last before execve


def check_privileges(kinds) -> None:
    if os.geteuid() != 0 and kinds and "user" not in kinds:
        raise PrivilegeError(
            f"creating {','.join(kinds)} namespaces needs CAP_SYS_ADMIN, and this process is not root",
            "run as root (the course VM's lab kernel is), or add 'user' to the namespaces: "
            "inside a new user namespace you are root of your own namespaces")


def plan(kinds: str | Iterable[str] = CONTAINER, hostname: str | None = None,
         user_map: tuple[int, int, int] | None = None,
         time_offsets: dict[str, int] | None = None, propagation: str = "private") -> Plan:
    """Check the request and turn it into a Plan (pure: no system call)."""
    kinds = parse_kinds(kinds)
    if propagation not in PROPAGATION:
        raise InvalidInputError(f"unknown mount propagation {propagation!r}",
                                f"choose among {', '.join(PROPAGATION)}")
    if propagation == "shared" and "pid" in kinds:
        raise InvalidInputError("a pid namespace mounts a fresh /proc, which shared propagation would "
                                "carry back to the host", "use propagation 'slave', or leave out pid")
    if propagation != "private" and "mnt" not in kinds and "pid" not in kinds:
        raise InvalidInputError(f"propagation {propagation!r} needs a mount namespace", "add mnt to the namespaces")
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
    flags = flags_for(kinds)
    # A new pid (or time) namespace is for the *children* of the caller: unshare(CLONE_NEWPID)
    # only sets /proc/self/ns/pid_for_children. As root, the parent unshares it and forks
    # once: the child is PID 1. A user namespace must exist first and own the pid namespace,
    # so then the child unshares everything and forks again (as runc does).
    in_child = "user" in kinds or "time" in kinds
    parent = 0 if in_child else flags & F.CLONE_NEWPID
    return Plan(unshare_parent=parent, unshare=flags & ~parent, second_fork=in_child and (
                    "pid" in kinds or "time" in kinds),
                mount_proc="pid" in kinds, hostname=hostname,
                user_map=user_map if "user" in kinds else None,
                time_offsets=dict(time_offsets or {}), propagation=PROPAGATION[propagation])


def plan_clone(kinds: str | Iterable[str], hostname: str | None = None) -> Plan:
    """The same request carried out by one raw clone(2) rather than unshare(2) and fork().

    The child forks once to get a single-threaded process, which then calls
    clone(2) with the namespace flags: the new process is born inside them.
    Used by ``labcore.ns.calls.clone_run`` (deep dive A).
    """
    kinds = parse_kinds(kinds)
    if "time" in kinds:
        raise InvalidInputError("clone(2) cannot create a time namespace: CLONE_NEWTIME (0x80) lies in the "
                                "byte that holds clone's exit signal", "use unshare(2) (labcore.spawn) or clone3(2)")
    if "user" in kinds:
        raise InvalidInputError("this clone demo does not write uid maps for a new user namespace",
                                "leave out user (and run as root), or use labcore.spawn")
    p = plan(kinds, hostname)
    return replace(p, unshare_parent=0, unshare=0, clone=p.unshare | p.unshare_parent, second_fork=True)


__all__ = ["KINDS", "CONTAINER", "DEFAULT_USER_MAP", "PROPAGATION", "plan_clone", "Kind", "Namespaces", "Plan", "usable", "parse_kinds",
           "flags_for", "read", "nspid", "pin_netns", "cgroup_paths", "cgroup_views", "scratch_cgroup", "time_offsets", "sysv_ipc", "plan", "check_privileges"]
