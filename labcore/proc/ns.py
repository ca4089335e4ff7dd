"""The namespace kinds, as /proc/PID/ns names them. See namespaces(7) and proc(5).

Linux has eight kinds of namespace. Each one appears as a file in
``/proc/PID/ns/`` (``pid``, ``net``, ``mnt``...), whose inode number is
the namespace's identity, and each one has a flag for clone(2),
unshare(2) and setns(2) in <linux/sched.h> (``CLONE_NEWPID``...; the mount
namespace, the oldest, is ``CLONE_NEWNS``). This table is the lab's one list
of them: ``labcore.ns.namespaces`` plans with it, the doctor checks that the
kernel has them all, the ``labcore`` command lists them in its help.

It stays light on purpose (the ``labcore`` command imports it to print its
help): a kind's flag is looked up in ``labcore.kernel.flags`` only when asked.
"""

from __future__ import annotations

from collections import namedtuple


class Kind(namedtuple("Kind", "clone isolates man")):
    """One kind of namespace: its clone(2) flag's name, what it isolates, and its man page."""

    __slots__ = ()

    @property
    def flag(self) -> int:
        """The CLONE_NEW* value, from labcore.kernel.flags (loaded on first use)."""
        from ..kernel import flags
        return getattr(flags, self.clone)


KINDS: dict[str, Kind] = {
    "pid": Kind("CLONE_NEWPID", "process IDs: the first process inside is PID 1", "pid_namespaces(7)"),
    "net": Kind("CLONE_NEWNET", "network devices, addresses, routes, ports, firewall", "network_namespaces(7)"),
    "mnt": Kind("CLONE_NEWNS", "the mount table: what the filesystem tree looks like", "mount_namespaces(7)"),
    "uts": Kind("CLONE_NEWUTS", "hostname and NIS domain name", "uts_namespaces(7)"),
    "ipc": Kind("CLONE_NEWIPC", "System V IPC objects and POSIX message queues", "ipc_namespaces(7)"),
    "user": Kind("CLONE_NEWUSER", "user and group IDs, and so what root may do", "user_namespaces(7)"),
    "cgroup": Kind("CLONE_NEWCGROUP", "where the cgroup tree seems to start", "cgroup_namespaces(7)"),
    "time": Kind("CLONE_NEWTIME", "offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME", "time_namespaces(7)"),
}

CONTAINER = ("pid", "mnt", "uts", "ipc", "net")  # what `docker run` gives by default


__all__ = ["Kind", "KINDS", "CONTAINER"]
