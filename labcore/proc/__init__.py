"""Parsers of /proc and /sys: each fact the kernel publishes, read in one place.

The kernel describes every process and every mount in text files under
/proc (proc(5)) and every device and cgroup under /sys (sysfs(5)). Each
module here parses one of those files, and nothing else in labcore parses
it again:

    mountinfo   /proc/PID/mountinfo: the mount table (proc_pid_mountinfo(5))
    cgroup      /proc/PID/cgroup, and the cgroup mounts: the machine's cgroup mode (cgroups(7))
    status      /proc/PID/status: state, NSpid, uids, capability and signal masks
    stat        /proc/PID/stat: state letter and start time (is a PID still the same process?)
    meminfo     /proc/meminfo: MemTotal, MemAvailable, SwapTotal
    ns          the namespace kinds of /proc/PID/ns (namespaces(7))
    net         /proc/net/tcp and udp: sockets

Modules load on first use (``lab.proc.status``), so the ``labcore`` command,
which needs only the namespace kinds, imports nothing else.
"""

import importlib

__all__ = ["mountinfo", "cgroup", "status", "stat", "meminfo", "ns", "net"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")  # also sets it as an attribute of this package


def __dir__():
    return sorted(set(globals()) | set(__all__))
