"""Where cgroups are mounted, and which cgroup a process is in. See cgroups(7) and proc(5).

Two kernel files answer everything the lab asks about the cgroups of the
machine, before it touches one:

* the **mount table** (``/proc/PID/mountinfo``, parsed by
  ``labcore.proc.mountinfo``): each cgroup v1 hierarchy is a mount of type
  ``cgroup`` whose options name its controllers (``rw,cpu,cpuacct``;
  ``name=systemd`` is a hierarchy with no controller), and the v2 tree is
  a mount of type ``cgroup2`` whose root lists its controllers in
  ``cgroup.controllers``. From the mounts follows the machine's **mode**:
  ``v2`` (one unified tree at /sys/fs/cgroup), ``v1``, or ``hybrid`` (v1
  controllers, and a cgroup2 mount beside them, usually
  /sys/fs/cgroup/unified);
* ``/proc/PID/cgroup``: one line per hierarchy the process is in,
  ``ID:CONTROLLERS:PATH``. The v2 line is ``0::PATH``. Paths are relative
  to the reader's cgroup namespace root (cgroup_namespaces(7)).

Used by the doctor, by ``labcore.cgroups`` and by notebooks 00, 03, 04 and 05.
"""

from __future__ import annotations

from pathlib import Path

from . import mountinfo

CGROUP_ROOT = "/sys/fs/cgroup"
# Options of a cgroup v1 mount that are not controllers (cgroups(7), the kernel's cgroup1 docs).
NOT_CONTROLLERS = {"rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children",
                   "noprefix", "xattr", "cpuset_v2_mode", "favordynmods"}


# --- /proc/PID/cgroup --------------------------------------------------------------

def entries(text: str) -> list[tuple[str, str]]:
    """/proc/PID/cgroup text as (hierarchy, path) pairs, in order.

    The hierarchy is the line's controllers as the kernel writes them
    (``cpu,cpuacct``, ``name=systemd``), ``""`` for the v2 line.
    """
    out = []
    for line in text.splitlines():
        if line.strip():
            _, hierarchy, path = line.split(":", 2)
            out.append((hierarchy, path))
    return out


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup -> {controller: path}; the v2 line ``0::/path`` becomes key ``""``.

    Used by notebooks 03 and 05 (``lab.cgroups.parse_proc_cgroup``).
    """
    out = {}
    for hierarchy, path in entries(text):
        for controller in hierarchy.split(",") if hierarchy else [""]:
            out[controller] = path
    return out


def read(pid: int | str = "self") -> str:
    """The text of /proc/PID/cgroup."""
    return Path(f"/proc/{pid}/cgroup").read_text()


def paths(pid: int | str = "self") -> dict[str, str]:
    """/proc/PID/cgroup as hierarchy -> path (the v2 line as ``cgroup2``), relative to the
    reader's cgroup namespace. Used by notebook 04 (``lab.namespaces.cgroup_paths``)."""
    return {hierarchy or "cgroup2": path for hierarchy, path in entries(read(pid))}


# --- the mounts -----------------------------------------------------------------------

def mounts(table: list[mountinfo.Mount] | None = None) -> dict[str, tuple[str, str]]:
    """Mount point -> (fstype, options) of every cgroup and cgroup2 mount.

    ``table`` is a parsed mount table (default: this process's). Used by notebook 00.
    """
    table = mountinfo.read() if table is None else table
    return {m.point: (m.fstype, m.super_options) for m in table if m.fstype in ("cgroup", "cgroup2")}


def mode(table: list[mountinfo.Mount] | None = None) -> str:
    """'v2' (unified), 'hybrid' (v1 controllers plus a cgroup2 mount), 'v1', or 'none'.

    Used by notebooks 00 and 04 (``lab.doctor.cgroup_mode``).
    """
    found = mounts(table)
    kinds = {fstype for fstype, _ in found.values()}
    if found.get(CGROUP_ROOT, ("",))[0] == "cgroup2":
        return "v2"
    if "cgroup" in kinds:
        return "hybrid" if "cgroup2" in kinds else "v1"
    return "v2" if kinds == {"cgroup2"} else "none"


def v1_controllers(table: list[mountinfo.Mount] | None = None) -> dict[str, str]:
    """Controller -> its mount point, for every mounted cgroup v1 hierarchy."""
    out = {}
    for point, (fstype, options) in mounts(table).items():
        if fstype == "cgroup":
            for option in options.split(","):
                if option not in NOT_CONTROLLERS and "=" not in option:
                    out[option] = point
    return dict(sorted(out.items()))


def v2_controllers(table: list[mountinfo.Mount] | None = None) -> tuple[str, list[str]]:
    """The cgroup2 mount point and the controllers its root offers ('' and [] without one)."""
    for point, (fstype, _) in mounts(table).items():
        if fstype == "cgroup2":
            try:
                return point, (Path(point) / "cgroup.controllers").read_text().split()
            except OSError:
                return point, []
    return "", []


__all__ = ["entries", "parse_proc_cgroup", "read", "paths", "mounts", "mode", "v1_controllers", "v2_controllers",
           "CGROUP_ROOT"]
