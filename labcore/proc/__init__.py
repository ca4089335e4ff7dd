"""Parsers of /proc and /sys: each fact the kernel publishes, read in one place.

The kernel describes every process and every mount in text files under
/proc (proc(5)) and every device and cgroup under /sys (sysfs(5)). Each
module here parses one of those files, and nothing else in labcore parses
it again: mountinfo (proc_pid_mountinfo(5)), net (/proc/net/tcp and udp).
"""

from . import mountinfo, net

__all__ = ["mountinfo", "net"]
