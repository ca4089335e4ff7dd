"""Deep dive A's solutions."""

import os
import socket

import labcore as lab
from labcore.kernel import flags as F


def _join(pid, kinds):
    k = lab.kernel.default()
    for kind, flag in kinds:
        fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            k.setns(fd, flag, f"/proc/{pid}/ns/{kind}")
        finally:
            os.close(fd)


def _look():
    # socket.if_nameindex() asks the kernel (netlink) in the caller's network namespace;
    # /sys/class/net would show the namespace sysfs was mounted in, the host's.
    return socket.gethostname(), [name for _, name in socket.if_nameindex()]


def peek(pid):
    """Join pid's uts and net namespaces (only those), then return (hostname, interface names)."""
    _join(pid, [("uts", F.CLONE_NEWUTS), ("net", F.CLONE_NEWNET)])
    return _look()


def _stay_home(pid):
    return _look()  # never joins: the host's hostname and interfaces


def _run_inside(pid):
    # Asks a process started inside: the right answer, but this process never moved.
    name = lab.enter(pid, ["hostname"], kinds=("uts",)).stdout.strip()
    return name, lab.procnet.interfaces(pid)


def _uts_only(pid):
    _join(pid, [("uts", F.CLONE_NEWUTS)])
    return _look()


def _everything(pid):
    _join(pid, [("uts", F.CLONE_NEWUTS), ("net", F.CLONE_NEWNET), ("ipc", F.CLONE_NEWIPC)])
    return _look()


def _sysfs(pid):
    _join(pid, [("uts", F.CLONE_NEWUTS), ("net", F.CLONE_NEWNET)])
    return socket.gethostname(), os.listdir("/sys/class/net")


SOLUTIONS = {
    "pid-for-children": lambda ex: "none",
    "peek-inside": lambda ex: peek,
}

WRONG = {
    "pid-for-children": lambda ex: ["same", "new", "maybe"],
    "peek-inside": lambda ex: [("box", ["lo"]), _stay_home, _run_inside, _uts_only,
                               _everything, _sysfs],
}
