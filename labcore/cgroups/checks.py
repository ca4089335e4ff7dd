"""The doctor's cgroup checks: what is mounted, and what the lab can limit here.

``cgroups``, ``cgroup_v1`` and ``cgroup_v2`` describe the machine from its
mount table (``labcore.proc.cgroup``); ``cgroup_limits`` and ``cgroup_io``
ask what chapter 05 needs: may we create groups with cpu, memory and pids
limits under the cgroup root, and is there a disk for the io controller
to throttle? The last two take the root as a parameter, so unit tests ask
them about a fake tree.
"""

from __future__ import annotations

import os

from .. import check as host
from ..check import Check
from ..errors import UnsupportedError
from ..fs.scratch import DATA_DIR
from ..proc import cgroup as proc_cgroup
from ..proc import mountinfo
from .detect import controllers, disk_of, version

NEEDED = ("cpu", "memory", "pids")


def check_cgroups() -> Check:
    table = mountinfo.read()  # one read of the mount table for the three questions
    mode = proc_cgroup.mode(table)
    v1 = proc_cgroup.v1_controllers(table)
    v2_point, v2 = proc_cgroup.v2_controllers(table)
    parts = []
    if v1:
        parts.append("v1 controllers " + ", ".join(v1))
    if v2_point:
        parts.append(f"cgroup2 at {v2_point} with " + (", ".join(v2) if v2 else "no controllers"))
    return Check("cgroups", bool(v1) or bool(v2), f"{mode}: " + "; ".join(parts) if parts else mode,
                 "mount cgroup2 on /sys/fs/cgroup (systemd does at boot) or use the course VM")


def check_cgroup_v2() -> Check:
    point, found = proc_cgroup.v2_controllers()
    wanted = {"cpu", "memory", "pids", "io"}
    if point and wanted <= set(found):
        return Check("cgroup v2", True, f"at {point} with {', '.join(found)}")
    detail = f"cgroup2 at {point} has only {', '.join(found) or 'no controllers'}" if point \
        else "no cgroup2 mount"
    return Check("cgroup v2", False, detail + f" ({proc_cgroup.mode()} mode: the controllers are on v1)",
                 "boot with systemd.unified_cgroup_hierarchy=1, or use the course VM (`make test-vm`)")


def check_cgroup_v1() -> Check:
    v1 = proc_cgroup.v1_controllers()
    wanted = {"cpu", "cpuacct", "memory", "pids"}
    if wanted <= set(v1):
        return Check("cgroup v1", True, f"{len(v1)} controllers: {', '.join(v1)}")
    return Check("cgroup v1", False, f"v1 controllers: {', '.join(v1) or 'none'}",
                 "this machine runs cgroup v2 only; the v1 demos need a hybrid or v1 host")


def check_limits(root: str | os.PathLike | None = None) -> Check:
    """``cgroup_limits``: may we create groups with cpu, memory and pids limits?"""
    who = host.check_root()
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


def check_io(root: str | os.PathLike | None = None) -> Check:
    """``cgroup_io``: the io (v2) or blkio (v1) controller, and a disk to throttle."""
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


CHECKS = {"cgroups": check_cgroups, "cgroup_v1": check_cgroup_v1, "cgroup_v2": check_cgroup_v2}
FEATURES = {"cgroup_limits": check_limits, "cgroup_io": check_io}  # asked for by name (chapter 05, tests)

__all__ = ["CHECKS", "FEATURES", "NEEDED", "check_cgroups", "check_cgroup_v1", "check_cgroup_v2", "check_limits",
           "check_io"]
