"""Which cgroup version this machine runs, and what the lab can do with it.

The answer is in the files, so every function takes the cgroup root as a
parameter (unit tests hand it a fake tree in a temporary directory):

* **v2** when the root itself is a cgroup2 filesystem: it has a
  ``cgroup.controllers`` file listing the controllers.
* **v1** when the root holds one directory per controller (``cpu/``,
  ``memory/``...), each a hierarchy with its own ``cgroup.procs``. A
  *hybrid* machine is v1 for the lab: its controllers are on v1, and the
  extra cgroup2 mount (``unified/``) holds none of the ones we need.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import tracker
from ..errors import UnsupportedError
from .limits import Device, block_device
from .v1 import HIERARCHIES

NEEDED = ("cpu", "memory", "pids")


def version(root: str | os.PathLike | None = None) -> str:
    """``"v1"`` or ``"v2"``: which backend drives the cgroups under ``root`` (default /sys/fs/cgroup)."""
    root = Path(root or tracker.CGROUP_ROOT)
    if (root / "cgroup.controllers").exists():
        return "v2"
    if any((root / d / "cgroup.procs").exists() for d in HIERARCHIES):
        return "v1"
    raise UnsupportedError(f"no cgroup filesystem found at {root}",
                           "mount cgroup2 on /sys/fs/cgroup (systemd does at boot), or use the course VM")


def mode(root: str | os.PathLike | None = None) -> str:
    """``"v2"``, ``"hybrid"`` (v1 controllers and a cgroup2 mount beside them) or ``"v1"``."""
    root = Path(root or tracker.CGROUP_ROOT)
    found = version(root)
    if found == "v1" and (root / "unified" / "cgroup.controllers").exists():
        return "hybrid"
    return found


def controllers(root: str | os.PathLike | None = None) -> list[str]:
    """The controllers the lab can use, in its vocabulary (cpu, memory, pids, io; cpuacct on v1)."""
    root = Path(root or tracker.CGROUP_ROOT)
    if version(root) == "v2":
        offered = (root / "cgroup.controllers").read_text().split()
        return [c for c in ("cpu", "memory", "pids", "io") if c in offered]
    return [c for d, c in HIERARCHIES.items() if (root / d / "cgroup.procs").exists()]


def disk_of(path: str = "/", sys_block: str | None = None) -> Device | None:
    """The disk holding ``path``'s filesystem, or None (tmpfs, overlay: no block device behind it)."""
    from . import limits
    dev = os.stat(path).st_dev
    number = f"{os.major(dev)}:{os.minor(dev)}"
    if not (Path(sys_block or limits.SYS_BLOCK) / number).exists():
        return None
    return block_device(number, sys_block)


def check_limits(root: str | os.PathLike | None = None):
    """The doctor's ``cgroup_limits``: may we create groups with cpu, memory and pids limits?"""
    from ..doctor import Check, check_root
    who = check_root()
    if not who.ok:
        return Check("cgroup_limits", False, "creating cgroups needs root: " + who.detail, who.fix)
    try:
        found, have = version(root), controllers(root)
    except UnsupportedError as exc:
        return Check("cgroup_limits", False, exc.what, exc.fix or "")
    missing = [c for c in NEEDED if c not in have]
    if missing:
        return Check("cgroup_limits", False, f"cgroup {found} lacks the {', '.join(missing)} controller(s)",
                     "use the course VM, which has cgroup v2 with cpu, memory, pids and io")
    return Check("cgroup_limits", True, f"cgroup {found} with {', '.join(have)}")


def check_io(root: str | os.PathLike | None = None):
    """The doctor's ``cgroup_io``: the io (v2) or blkio (v1) controller, and a disk to throttle."""
    from ..doctor import Check
    from ..teach.workloads import DATA_DIR
    base = check_limits(root)
    if not base.ok:
        return Check("cgroup_io", False, base.detail, base.fix)
    if "io" not in controllers(root):
        return Check("cgroup_io", False, "no io (v2) or blkio (v1) controller", "use the course VM")
    disk = disk_of(DATA_DIR) if os.path.isdir(DATA_DIR) else None
    if disk is None:
        return Check("cgroup_io", False, f"{DATA_DIR} is not on a disk (overlay or tmpfs?): nothing to throttle",
                     "use the course VM, whose root is a virtual disk")
    return Check("cgroup_io", True, f"io controller, and {DATA_DIR} is on the disk {disk.name} ({disk})")


FEATURES = {"cgroup_limits": check_limits, "cgroup_io": check_io}

__all__ = ["version", "mode", "controllers", "disk_of", "check_limits", "check_io", "FEATURES"]
