"""Flag values from the kernel's headers, named exactly as in C.

They are the same on every architecture Linux supports for these calls
(``<linux/sched.h>``, ``<linux/mount.h>``, ``<linux/prctl.h>``); only
syscall numbers differ, and those live in ``libc.py``.
"""

# clone(2) / unshare(2) / setns(2): one bit per namespace kind.
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000      # mount: the oldest namespace, hence the vague name
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

CLONE_NAMES = {
    CLONE_NEWTIME: "CLONE_NEWTIME",
    CLONE_NEWNS: "CLONE_NEWNS",
    CLONE_NEWCGROUP: "CLONE_NEWCGROUP",
    CLONE_NEWUTS: "CLONE_NEWUTS",
    CLONE_NEWIPC: "CLONE_NEWIPC",
    CLONE_NEWUSER: "CLONE_NEWUSER",
    CLONE_NEWPID: "CLONE_NEWPID",
    CLONE_NEWNET: "CLONE_NEWNET",
}

# clone(2) only: the low byte of its flags is the signal the parent gets when the child
# dies (CSIGNAL). CLONE_NEWTIME (0x80) falls inside that byte, so clone(2) cannot ask for
# a time namespace: only unshare(2) and clone3(2) can.
CSIGNAL = 0x000000FF

# ioctl_ns(2): questions asked of a /proc/PID/ns file descriptor (_IO(0xb7, n)).
NS_GET_USERNS = 0xB701     # a new fd: the user namespace that owns this namespace
NS_GET_PARENT = 0xB702     # a new fd: the parent of this pid or user namespace
NS_GET_NSTYPE = 0xB703     # the CLONE_NEW* flag of this namespace's kind
NS_GET_OWNER_UID = 0xB704  # the uid (in our user namespace) that created this user namespace

# mount(2) flags.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

MS_NAMES = {
    MS_RDONLY: "MS_RDONLY", MS_NOSUID: "MS_NOSUID", MS_NODEV: "MS_NODEV",
    MS_NOEXEC: "MS_NOEXEC", MS_REMOUNT: "MS_REMOUNT", MS_BIND: "MS_BIND",
    MS_MOVE: "MS_MOVE", MS_REC: "MS_REC", MS_PRIVATE: "MS_PRIVATE",
    MS_SLAVE: "MS_SLAVE", MS_SHARED: "MS_SHARED",
}

# umount2(2) flags.
MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

MNT_NAMES = {MNT_FORCE: "MNT_FORCE", MNT_DETACH: "MNT_DETACH", UMOUNT_NOFOLLOW: "UMOUNT_NOFOLLOW"}

# prctl(2) options used by the lab.
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_MODE_FILTER = 2  # PR_SET_SECCOMP's mode: a BPF program decides each call

PR_NAMES = {
    PR_SET_PDEATHSIG: "PR_SET_PDEATHSIG", PR_GET_DUMPABLE: "PR_GET_DUMPABLE", PR_SET_NAME: "PR_SET_NAME",
    PR_GET_NAME: "PR_GET_NAME", PR_CAPBSET_READ: "PR_CAPBSET_READ", PR_CAPBSET_DROP: "PR_CAPBSET_DROP",
    PR_SET_CHILD_SUBREAPER: "PR_SET_CHILD_SUBREAPER", PR_SET_NO_NEW_PRIVS: "PR_SET_NO_NEW_PRIVS",
    PR_GET_NO_NEW_PRIVS: "PR_GET_NO_NEW_PRIVS", PR_SET_SECCOMP: "PR_SET_SECCOMP",
}


def describe(value: int, names: dict[int, str]) -> str:
    """Spell a flag word the way strace does: ``CLONE_NEWPID|CLONE_NEWNS``."""
    parts = [name for bit, name in names.items() if value & bit]
    rest = value & ~sum(names)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) or "0"


__all__ = ["CLONE_NEWTIME", "CLONE_NEWNS", "CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_NAMES", "CSIGNAL", "NS_GET_USERNS", "NS_GET_PARENT", "NS_GET_NSTYPE", "NS_GET_OWNER_UID", "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_REMOUNT", "MS_BIND", "MS_MOVE", "MS_REC", "MS_PRIVATE", "MS_SLAVE", "MS_SHARED", "MS_NAMES", "MNT_FORCE", "MNT_DETACH", "UMOUNT_NOFOLLOW", "MNT_NAMES", "PR_SET_PDEATHSIG", "PR_GET_DUMPABLE", "PR_SET_NAME", "PR_GET_NAME", "PR_CAPBSET_READ", "PR_CAPBSET_DROP", "PR_SET_CHILD_SUBREAPER", "PR_SET_NO_NEW_PRIVS", "PR_GET_NO_NEW_PRIVS", "PR_SET_SECCOMP", "SECCOMP_MODE_FILTER", "PR_NAMES", "describe"]
