"""Control groups: how much a group of processes may use. See cgroups(7).

Namespaces decide what a process can *see*; control groups decide how much
it may *use*. A cgroup is a directory in a special filesystem: the
processes listed in its ``cgroup.procs`` share the limits written in its
files, and the kernel counts what they consume in its stat files. Each kind
of resource has a *controller*: cpu (time, by quota and by weight), memory
(hard and soft limits), pids (how many tasks), io (bytes per second on a
disk). Children of a process start in its cgroup.

Linux has two versions, and machines still run both:

* **v1** (``v1.py``): one hierarchy per controller, ``/sys/fs/cgroup/cpu``,
  ``/sys/fs/cgroup/memory``...;
* **v2** (``v2.py``): one unified tree at ``/sys/fs/cgroup``, controllers
  handed down through ``cgroup.subtree_control``.

This package drives both through one interface, chosen by looking at the
files (``detect.py``)::

    with lab.cgroups.create("lab-web", cpus=0.25, memory="64M", pids=20) as cg:
        proc = lab.spawn(["python3", "app.py"], cgroup=cg)   # in the group before it runs
        cg.set(cpus=0.5)                                     # a limit changed while it runs
        print(cg.stats())                                    # the same counters on v1 and v2

Every lab group lives under a ``labcore`` directory of each hierarchy, is
recorded by the tracker before it exists, and goes (with whatever still
runs in it) when the ``with`` block ends or at ``labcore cleanup``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import tracker
from . import detect, limits
from ..proc import cgroup as proc_cgroup
from ..proc.cgroup import CGROUP_ROOT
from .base import Cgroup, Stats, parse_proc_cgroup
from .detect import controllers, disk_of, mode, version
from .limits import Limits, human_bytes
from .v1 import HIERARCHIES, V1Cgroup
from .v2 import CONTROLLERS as V2_CONTROLLERS
from .v2 import V2Cgroup

BACKENDS = {"v1": V1Cgroup, "v2": V2Cgroup}


def _root(root) -> Path:
    return Path(root or CGROUP_ROOT)


def backend(root: str | os.PathLike | None = None) -> type[Cgroup]:
    """The Cgroup class for the cgroup version found under ``root`` (default /sys/fs/cgroup)."""
    return BACKENDS[version(_root(root))]


def create(name: str, *, root: str | os.PathLike | None = None, **human) -> Cgroup:
    """Create the lab cgroup ``name`` with limits in human units; used throughout notebook 05.

    ``lab.cgroups.create("lab-web", cpus="25%", cpu_weight=100, memory="64M",
    memory_high="48M", pids=20, io_read_bps="/dev/vda:4M")``. Every value
    is checked before anything is created. Use it as a context manager, or
    call ``remove()``.
    """
    parsed = limits.parse(**human)  # bad input is refused before anything exists
    limits.check_name(name)
    return backend(root).create(name, parsed, _root(root))


def of(pid: int | str = "self", root: str | os.PathLike | None = None) -> Cgroup:
    """The cgroup(s) process ``pid`` is in, from /proc/PID/cgroup: a view to read, never to remove.

    Works without root: notebook 05 uses it to show the kernel process's own group.
    """
    root = _root(root)
    where = parse_proc_cgroup(proc_cgroup.read(pid))
    if version(root) == "v2":
        rel = where.get("", "/").lstrip("/")
        path = root / rel
        offered = set((path / "cgroup.controllers").read_text().split()) if (path / "cgroup.controllers").exists() \
            else set()
        paths = {c: path for c in V2_CONTROLLERS if c in offered} or {"": path}
        return V2Cgroup("/" + rel, root, paths, owned=False)
    paths = {}
    for directory, controller in HIERARCHIES.items():
        if directory in where and (root / directory).is_dir():
            paths[controller] = (root / directory).resolve() / where[directory].lstrip("/")
    name = where.get("memory") or next(iter(where.values()), "/")
    return V1Cgroup(name, root, paths, owned=False)


__all__ = ["Cgroup", "Stats", "Limits", "V1Cgroup", "V2Cgroup", "create", "of", "backend", "version", "mode",
           "controllers", "disk_of", "human_bytes", "parse_proc_cgroup", "detect", "limits", "BACKENDS"]
