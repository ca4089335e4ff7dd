"""Namespaces: what a process can see. See namespaces(7).

A namespace wraps one kind of global resource so that the processes inside
get their own copy of it. Linux has eight kinds; each is a flag for
clone(2)/unshare(2) and a file in ``/proc/PID/ns/`` whose inode number
*is* the namespace's identity: two processes are in the same namespace
exactly when those inode numbers match.

This module names the kinds, reads a process's namespaces, pins one so it
outlives its processes, and turns a request ("pid,net, hostname box") into a
``Plan`` of system calls. ``labcore.process`` carries the plan out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import kernel, tracker
from .errors import InvalidInputError, PrivilegeError, UnknownNamespaceError
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


# --- planning: from a request to the system calls --------------------------

@dataclass
class Plan:
    """Which system calls start a process in the requested namespaces (see labcore.process)."""

    unshare_parent: int = 0                  # CLONE_NEWPID, unshared by the parent just before fork()
    unshare: int = 0                         # the other flags, unshared by the child
    join: list[tuple[str, int]] = field(default_factory=list)  # (kind, fd) for setns(2)
    second_fork: bool = False                # the child forks again: PID 1 is the grandchild
    mount_proc: bool = False
    hostname: str | None = None
    user_map: tuple[int, int, int] | None = None
    time_offsets: dict[str, int] = field(default_factory=dict)
    rootfs: object = None                    # a labcore.fs.rootfs.Rootfs to pivot_root into


def check_privileges(kinds) -> None:
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
                time_offsets=dict(time_offsets or {}))


__all__ = ["KINDS", "CONTAINER", "DEFAULT_USER_MAP", "Kind", "Namespaces", "Plan", "usable", "parse_kinds",
           "flags_for", "read", "nspid", "pin_netns", "plan", "check_privileges"]
