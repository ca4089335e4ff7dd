"""Chapter 15's solutions."""

import labcore as lab


def isolate(argv, group):
    return lab.spawn(argv, ns="pid,mnt,uts", hostname="interview", cgroup=group)


def _no_uts(argv, group):
    """A hostname needs a uts namespace of its own, or it would rename the host."""
    return lab.spawn(argv, ns="pid,mnt", cgroup=group)


def _no_group(argv, group):
    return lab.spawn(argv, ns="pid,mnt,uts", hostname="interview")


def _net_only(argv, group):
    return lab.spawn(argv, ns="net,uts", hostname="interview", cgroup=group)


SOLUTIONS = {
    "run-order": lambda ex: ["unshare", "clone", "mount /proc", "sethostname", "execve"],
    "isolate": lambda ex: isolate,
}

WRONG = {
    "run-order": lambda ex: [["clone", "unshare", "mount /proc", "sethostname", "execve"],
                             ["unshare", "clone", "sethostname", "execve", "mount /proc"],
                             ["unshare", "clone", "mount /proc", "execve"],
                             "unshare clone mount sethostname execve"],
    "isolate": lambda ex: [_no_uts, _no_group, _net_only, "isolate"],
}
