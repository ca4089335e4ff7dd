"""What confines a process, read from the inside: namespaces, cgroup limits, root mount.

A process inside a container can inspect its own confinement without any
privilege, through files the kernel gives every process:

* ``/proc/PID/ns/*``: its namespaces. The host's *initial* namespaces have
  inode numbers fixed at compile time (``PROC_IPC_INIT_INO`` = 0xEFFFFFFF
  and down, in include/linux/proc_ns.h), so a different number means a
  namespace someone created. The net and mnt namespaces have no fixed
  number: there, only a comparison with another process tells.
* ``/proc/PID/cgroup``: its cgroup in each hierarchy (one line ``0::/path``
  on cgroup v2; one line per controller on v1). The limits are files in
  that directory of the cgroup filesystem: ``memory.max``, ``cpu.max``,
  ``pids.max`` on v2; ``memory.limit_in_bytes``, ``cpu.cfs_quota_us``,
  ``pids.max`` on v1. Inside a cgroup namespace the path reads ``/``: the
  container's own cgroup is the root of its view.
* ``/proc/PID/mountinfo``: the mount at ``/``. A container's root is
  usually an **overlay** mount whose options name the image layers
  (``lowerdir``), the container's writable layer (``upperdir``) and its
  ``workdir``, as paths on the host.

See namespaces(7), cgroups(7), proc(5) (mountinfo) and the kernel's
Documentation/filesystems/overlayfs.rst. Used by notebook 00 (on Binder,
the learner is inside a container and looks at it from there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..proc import cgroup as proc_cgroup
from ..proc import mountinfo
from ..proc.ns import KINDS

# The initial namespaces' inode numbers (include/linux/proc_ns.h).
INITIAL_INODES = {"ipc": 0xEFFFFFFF, "uts": 0xEFFFFFFE, "user": 0xEFFFFFFD,
                  "pid": 0xEFFFFFFC, "cgroup": 0xEFFFFFFB, "time": 0xEFFFFFFA}
UNLIMITED = 2**62  # v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages, in bytes)


@dataclass
class Limit:
    controller: str
    file: str           # the interface file it came from
    value: str          # as the file says it
    limited: bool       # False for "max" or v1's huge numbers

    def __str__(self) -> str:
        return f"{self.controller:7} {self.value if self.limited else 'no limit':>22}   ({self.file})"


@dataclass
class Confinement:
    """One process's namespaces, cgroup limits and root mount."""

    pid: int | str
    namespaces: dict[str, str]     # kind -> "initial", "not initial" or "no fixed number"
    cgroup: str                    # its path, as /proc/PID/cgroup shows it
    limits: list[Limit]
    root: dict[str, str]           # fstype, source, and options of the / mount

    def __str__(self) -> str:
        lines = ["namespaces:"]
        lines += [f"  {kind:7} {state}" for kind, state in self.namespaces.items()]
        lines.append(f"cgroup: {self.cgroup}")
        lines += [f"  {limit}" for limit in self.limits] or ["  (no limit files readable)"]
        lines.append(f"root filesystem: {self.root.get('fstype')} from {self.root.get('source')}")
        for key in ("lowerdir", "upperdir", "workdir"):
            if key in self.root:
                layers = self.root[key].split(":")
                lines.append(f"  {key}: {layers[0]}" + (f" (+{len(layers) - 1} more layers)" if len(layers) > 1 else ""))
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    @property
    def overlay_root(self) -> bool:
        return self.root.get("fstype") == "overlay"

    @property
    def new_namespaces(self) -> list[str]:
        return [kind for kind, state in self.namespaces.items() if state == "not initial"]


def namespace_states(pid: int | str = "self") -> dict[str, str]:
    """For each kind: is the process in the initial namespace, another, or can't we tell?"""
    out = {}
    for kind in KINDS:
        try:
            inode = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
        except FileNotFoundError:
            continue  # an older kernel without this kind
        if kind not in INITIAL_INODES:
            out[kind] = "no fixed number"
        else:
            out[kind] = "initial" if inode == INITIAL_INODES[kind] else "not initial"
    return out


def root_mount(pid: int | str = "self") -> dict[str, str]:
    """The mount at / (the last one: a mount on top hides those below)."""
    root = mountinfo.find("/", pid)
    if root is None:
        return {}
    found = {"fstype": root.fstype, "source": root.source}
    for opt in root.super_options.split(","):
        key, _, value = opt.partition("=")
        found[key] = value
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_limits(pid: int | str = "self") -> tuple[str, list[Limit]]:
    """Its cgroup path, and the memory, CPU and pids limits that apply there (v2 or v1)."""
    mounts = {(m.fstype, m.super_options): m.point for m in mountinfo.read(pid) if m.fstype in ("cgroup", "cgroup2")}
    limits, path_shown = [], ""
    for controllers, path in proc_cgroup.entries(_read(Path(f"/proc/{pid}/cgroup")) or ""):
        if controllers == "":  # v2: one line, "0::/path"
            path_shown = path_shown or path
            for point in (p for (t, _), p in mounts.items() if t == "cgroup2"):
                base = Path(point) / path.lstrip("/")
                for controller, name in (("memory", "memory.max"), ("cpu", "cpu.max"), ("pids", "pids.max")):
                    value = _read(base / name)
                    if value is not None:
                        limits.append(Limit(controller, str(base / name), value, not value.startswith("max")))
        else:                  # v1: one hierarchy per controller (or a few, co-mounted)
            path_shown = path if "memory" in controllers.split(",") else path_shown or path
            for (t, options), point in mounts.items():
                if t != "cgroup" or not set(controllers.split(",")) & set(options.split(",")):
                    continue
                base = Path(point) / path.lstrip("/")
                for controller, name in (("memory", "memory.limit_in_bytes"), ("cpu", "cpu.cfs_quota_us"),
                                         ("pids", "pids.max")):
                    value = _read(base / name) if controller in controllers.split(",") else None
                    if value is not None:
                        unlimited = value in ("max", "-1") or (value.isdigit() and int(value) >= UNLIMITED)
                        limits.append(Limit(controller, str(base / name), value, not unlimited))
    return path_shown, limits


def inspect(pid: int | str = "self") -> Confinement:
    """Everything above for one process (by default this one). Used by notebook 00."""
    path, limits = cgroup_limits(pid)
    return Confinement(pid, namespace_states(pid), path, limits, root_mount(pid))


__all__ = ["Confinement", "Limit", "inspect", "namespace_states", "root_mount", "cgroup_limits", "INITIAL_INODES"]
