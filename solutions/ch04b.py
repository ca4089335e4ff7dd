"""Chapter 04b's solutions."""

import os

import labcore as lab


def fix(pid):
    """Make the container's mounts a recursive slave: the host's events come in, none go out."""
    done = lab.enter(pid, ["mount", "--make-rslave", "/"], kinds="mnt")
    assert done.returncode == 0, done.stderr


def _make_private(pid):
    lab.enter(pid, ["mount", "--make-rprivate", "/"], kinds="mnt")


def _unmount_the_shared_directory(ex):
    return lambda pid: lab.enter(pid, ["umount", "-l", str(ex.shared.path)], kinds="mnt")


SOLUTIONS = {
    "sysfs-devices": lambda ex: sorted(os.listdir("/sys/class/net")),  # the host's devices: its sysfs
    "stop-the-leak": lambda ex: fix,
}

WRONG = {
    "sysfs-devices": lambda ex: [["lo"], [], "lo"],
    "stop-the-leak": lambda ex: [lambda pid: None, _make_private, _unmount_the_shared_directory(ex), "fix"],
}
