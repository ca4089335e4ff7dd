"""Namespaces (namespaces(7)): what a container sees, made one kind at a time.

    namespaces   the kinds, reading /proc/PID/ns, planning new ones
    process      starting a process in new namespaces (spawn, run, call, enter)
    calls        clone, unshare and setns one call at a time (deep dive A)
    propagation  shared, slave and private mounts between namespaces
    pidns        who lives in a pid namespace, and PID 1's duties
    init         a minimal init for PID 1 (python -m labcore.ns.init)
    credentials  uids, gids and capabilities inside a user namespace
"""

from . import namespaces, process

__all__ = ["namespaces", "process"]
