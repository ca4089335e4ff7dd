"""``linux.resources`` written into the cgroup at ``linux.cgroupsPath``.

The runtime spec names a cgroup by a path (``/myapp/web``) and lists the
limits in one JSON object for every controller. A runtime's job is the
translation into files, which differs by cgroup version:

    resources.cpu.quota/period  v1 cpu.cfs_quota_us + cpu.cfs_period_us   v2 cpu.max "QUOTA PERIOD"
    resources.cpu.shares        v1 cpu.shares                             v2 cpu.weight (converted)
    resources.memory.limit      v1 memory.limit_in_bytes                  v2 memory.max
    resources.pids.limit        v1 pids.max                               v2 pids.max
    resources.devices           v1 devices.allow / devices.deny           v2 an eBPF program (devices_v2.py)

On v1 every controller is its own hierarchy, so "the cgroup" is one
directory in each mounted hierarchy (on a hybrid machine, the cgroup2 mount
too), and the container's init is written into each one's
``cgroup.procs``. An absolute path is taken from each hierarchy's root; a
relative one from the cgroup this runtime runs in (as runc does); none
gives ``/labcore/ID``, inside the lab's own subtree.

Directories this module makes are listed (deepest last) in the container's
tracker record and removed on ``delete``; directories that existed before
are never removed. The lab's own groups (``labcore.cgroups``) take human
units and live only under ``/labcore``; an OCI runtime must accept any
path and the spec's units, hence this small translation of its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import tracker
from ..errors import LabError
from ..proc import mountinfo
from ..proc.cgroup import read as read_proc_cgroup


MOUNT_OPTIONS = ("rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "nsdelegate", "favordynmods")


def hierarchies() -> dict[str, Path]:
    """Each mounted cgroup hierarchy: its controllers (``"cpu,cpuacct"``, ``""`` for cgroup2) -> mount point."""
    out = {}
    for m in mountinfo.read():
        if m.fstype == "cgroup2" and m.root == "/":
            out.setdefault("", Path(m.point))
        elif m.fstype == "cgroup" and m.root == "/":
            # The controllers, and name=systemd for a named hierarchy, as /proc/PID/cgroup spells them.
            names = [o for o in m.super_options.split(",") if o not in MOUNT_OPTIONS and not o.startswith("release_agent=")]
            out.setdefault(",".join(names), Path(m.point))
    return out


def _own_cgroup(controllers: str) -> str:
    """This process's cgroup path in the hierarchy holding ``controllers``, from /proc/self/cgroup."""
    for line in read_proc_cgroup("self").splitlines():
        _, names, path = line.split(":", 2)
        if names == controllers or (controllers and set(names.split(",")) & set(controllers.split(","))):
            return path
    return "/"


def plan(cgroups_path: str | None, cid: str) -> dict[str, Path]:
    """Hierarchy -> the container's directory in it (pure apart from reading the mounts)."""
    out = {}
    for controllers, mount in hierarchies().items():
        if cgroups_path is None:
            rel = f"{tracker.CGROUP_NAME}/{cid}"
        elif cgroups_path.startswith("/"):
            rel = cgroups_path.lstrip("/")
        else:
            rel = os.path.join(_own_cgroup(controllers).lstrip("/"), cgroups_path)
        path = Path(os.path.normpath(mount / rel))
        if not str(path).startswith(str(mount)):
            continue  # a path with .. out of the hierarchy: refused by leaving it out
        out[controllers] = path
    return out


def mount_view(paths: dict[str, Path]) -> dict:
    """What a ``cgroup`` mount shows the container (rootfs.mount_cgroups): its own directories and links.

    ``{"dirs": {NAME: host directory}, "links": {NAME: NAME}}``: NAME is each hierarchy's mount point name
    on the host (``cpu``, ``systemd``, ``unified``), ``""`` for the one directory of a pure v2 machine;
    ``links`` repeats the host's symlinks beside them (``cpuacct -> cpu,cpuacct`` where controllers share one).
    """
    found = hierarchies()
    if list(paths) == [""]:
        return {"dirs": {"": str(paths[""])}, "links": {}}
    dirs = {found[c].name: str(p) for c, p in paths.items() if c in found}
    beside = {found[c].parent for c in paths if c in found}  # the hierarchies sit side by side: /sys/fs/cgroup
    links = {entry.name: os.readlink(entry.path) for parent in beside for entry in os.scandir(parent)
             if entry.is_symlink() and os.readlink(entry.path) in dirs and entry.name not in dirs}
    return {"dirs": dirs, "links": links}


def record_peer_groups(leaves: list[str], what: str) -> list:
    """Records for groups another program (runc, crun, dockerd) will make: ``labcore/LEAF`` in every hierarchy.

    A peer makes the parents it is missing and, at delete, removes only its leaf: a ``labcore`` parent
    it made would outlive the lab. So the parent is made here first, recorded (a parent that exists
    already is someone else's, and left to them), and the leaves are recorded before the peer makes
    them. Undo the list in order: leaves first, then the parents, kept while other groups are inside.
    """
    parents, children = [], []
    for controllers, mount in hierarchies().items():
        parent = mount / tracker.CGROUP_NAME
        with tracker.default().created("cgroup", str(parent), what="the lab's cgroup subtree") as rec:
            try:
                parent.mkdir()
            except FileExistsError:
                rec.not_mine()
            else:
                if "cpuset" in controllers.split(","):  # v1: a new cpuset has no CPUs until given its parent's
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        (parent / name).write_text((mount / name).read_text())
        if not rec.disowned:
            parents.append(rec)
        children += [tracker.default().add("cgroup", str(parent / leaf), what=what) for leaf in leaves]
    return children + parents


def make(paths: dict[str, Path], made: list[str]) -> None:
    """mkdir -p each directory, appending every directory made to ``made`` (which the record holds)."""
    for controllers, path in paths.items():
        for _ in range(10):
            try:
                _make_one(controllers, path, made)
                break
            except FileNotFoundError:
                # The shared labcore parent was there when we looked, and its last user removed it
                # (rmdir of an empty directory) before our mkdir below it: look again and make it.
                continue
        else:
            raise LabError(f"could not make {path}: a parent kept disappearing", "try again")


def _make_one(controllers: str, path: Path, made: list[str]) -> None:
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
            made.append(str(d))
        except FileExistsError:
            continue
        if "cpuset" in controllers.split(","):
            # A new v1 cpuset starts with no CPUs and no memory nodes: nothing could join it (ENOSPC).
            for name in ("cpuset.cpus", "cpuset.mems"):
                (d / name).write_text((d.parent / name).read_text())


def _write(path: Path, name: str, value) -> None:
    f = path / name
    if f.exists():
        f.write_text(str(value))


DEFAULT_DEVICES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                   "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"]


def _v1(controllers: str, path: Path, r: dict, devices: list | None = None) -> None:
    names = set(controllers.split(","))
    cpu, mem, pids, blkio = r.get("cpu") or {}, r.get("memory") or {}, r.get("pids") or {}, r.get("blockIO") or {}
    if "cpu" in names:
        for key, name in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"), ("quota", "cpu.cfs_quota_us"),
                          ("realtimePeriod", "cpu.rt_period_us"), ("realtimeRuntime", "cpu.rt_runtime_us")):
            if cpu.get(key) is not None:
                _write(path, name, cpu[key])
    if "cpuset" in names:
        for key in ("cpus", "mems"):
            if cpu.get(key):
                _write(path, f"cpuset.{key}", cpu[key])
    if "memory" in names:
        for key, name in (("limit", "memory.limit_in_bytes"), ("reservation", "memory.soft_limit_in_bytes"),
                          ("swap", "memory.memsw.limit_in_bytes"), ("swappiness", "memory.swappiness")):
            if mem.get(key) is not None:
                _write(path, name, mem[key])
        if mem.get("disableOOMKiller"):
            _write(path, "memory.oom_control", 1)
    if "pids" in names and pids.get("limit") is not None:
        _write(path, "pids.max", "max" if pids["limit"] <= 0 else pids["limit"])
    if "blkio" in names:
        if blkio.get("weight") is not None:
            _write(path, "blkio.weight", blkio["weight"])
        if blkio.get("leafWeight") is not None:
            _write(path, "blkio.leaf_weight", blkio["leafWeight"])
        for key, name in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                          ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                          ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                          ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
            for d in blkio.get(key) or []:
                _write(path, name, f"{d['major']}:{d['minor']} {d['rate']}")
    if "hugetlb" in names:
        for h in r.get("hugepageLimits") or []:
            _write(path, f"hugetlb.{h['pageSize']}.limit_in_bytes", h["limit"])
    if "net_cls" in names and (r.get("network") or {}).get("classID") is not None:
        _write(path, "net_cls.classid", r["network"]["classID"])
    if "net_prio" in names:
        for p in (r.get("network") or {}).get("priorities") or []:
            _write(path, "net_prio.ifpriomap", f"{p['name']} {p['priority']}")
    if "devices" in names:
        for d in r.get("devices") or []:
            kind = d.get("type", "a")
            major = "*" if d.get("major") in (None, -1) else d["major"]
            minor = "*" if d.get("minor") in (None, -1) else d["minor"]
            rule = "a" if kind == "a" and major == "*" and minor == "*" else f"{kind} {major}:{minor} {d.get('access', 'rwm')}"
            _write(path, "devices.allow" if d.get("allow") else "devices.deny", rule)
        # After the config's rules, what every container gets anyway (as runc does): mknod of any node
        # (the init makes /dev with it), the standard devices, and each device linux.devices creates.
        for rule in DEFAULT_DEVICES + [f"{d['type'].replace('u', 'c')} {d.get('major', 0)}:{d.get('minor', 0)} rwm"
                                       for d in devices or [] if d["type"] in "cbu"]:
            _write(path, "devices.allow", rule)


V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids", "hugetlb")  # the ones _v2 writes files of


def _v2_controllers(r: dict) -> list[str]:
    """The cgroup v2 controllers ``linux.resources`` needs (the files _v2 writes belong to them)."""
    cpu = r.get("cpu") or {}
    needed = {"cpu": any(cpu.get(k) is not None for k in ("quota", "period")) or bool(cpu.get("shares")),
              "cpuset": bool(cpu.get("cpus") or cpu.get("mems")),
              "memory": any((r.get("memory") or {}).get(k) is not None for k in ("limit", "reservation")),
              "pids": (r.get("pids") or {}).get("limit") is not None,
              "hugetlb": bool(r.get("hugepageLimits"))}
    return [c for c, yes in needed.items() if yes]


def delegate(mount: Path, path: Path, controllers: list[str], enabled_at_root: list[str]) -> None:
    """cgroup v2: have each ancestor of ``path`` offer it ``controllers`` (``+memory`` in cgroup.subtree_control).

    A v2 directory has a controller's files only if its parent enables that controller for its
    children, and so on up to the root: without it, memory.max would not exist and a limit would be
    silently lost. What this enables at the root (the host's own level) is appended to
    ``enabled_at_root``, for delete to give back. A parent that holds processes cannot delegate
    (the "no internal processes" rule): that is refused with the reason.
    """
    chain = [mount] + [mount / Path(*path.relative_to(mount).parts[:i])
                       for i in range(1, len(path.relative_to(mount).parts))]
    for parent in chain:
        on = set((parent / "cgroup.subtree_control").read_text().split())
        offered = set((parent / "cgroup.controllers").read_text().split())
        for c in controllers:
            if c in on:
                continue
            if c not in offered:
                raise LabError(f"cgroup v2: the {c} controller is not available in {parent}",
                               f"its parent must enable it (echo +{c} > {parent.parent}/cgroup.subtree_control), "
                               "or leave this limit out of linux.resources")
            try:
                (parent / "cgroup.subtree_control").write_text(f"+{c}")
            except OSError as exc:
                raise LabError(f"cgroup v2: cannot enable {c} for the children of {parent}: {exc.strerror}",
                               "a cgroup that holds processes cannot delegate controllers: put the container's "
                               "cgroupsPath under a group with no processes of its own") from None
            if parent == mount:
                enabled_at_root.append(c)


def give_back(controllers: list[str]) -> list[str]:
    """Disable at the v2 root what ``delegate`` enabled there; one still used below (EBUSY) stays. Returns those."""
    mount = hierarchies().get("")
    kept = []
    for c in controllers:
        if mount is None or c not in (mount / "cgroup.subtree_control").read_text().split():
            continue
        try:
            (mount / "cgroup.subtree_control").write_text(f"-{c}")
        except OSError:
            kept.append(c)  # another group uses it: whoever removes the last one gives it back
    return kept


def _v2(path: Path, r: dict) -> None:
    cpu, mem, pids = r.get("cpu") or {}, r.get("memory") or {}, r.get("pids") or {}
    if cpu.get("quota") is not None or cpu.get("period") is not None:
        quota = cpu.get("quota")
        _write(path, "cpu.max", f"{'max' if quota in (None, -1) else quota} {cpu.get('period') or 100000}")
    if cpu.get("shares"):
        # The inverse of the v1 conversion: v1 shares 2..262144 -> v2 weight 1..10000.
        _write(path, "cpu.weight", 1 + ((cpu["shares"] - 2) * 9999) // 262142)
    for key in ("cpus", "mems"):
        if cpu.get(key):
            _write(path, f"cpuset.{key}", cpu[key])
    if mem.get("limit") is not None:
        _write(path, "memory.max", "max" if mem["limit"] < 0 else mem["limit"])
    if mem.get("reservation") is not None:
        _write(path, "memory.low", mem["reservation"])
    if pids.get("limit") is not None:
        _write(path, "pids.max", "max" if pids["limit"] <= 0 else pids["limit"])
    for h in r.get("hugepageLimits") or []:
        _write(path, f"hugetlb.{h['pageSize']}.max", h["limit"])


def device_rules(resources: dict | None, devices: list | None = None) -> list:
    """The device rules v1 writes, in order, as devices_v2.Rule: config.json's, then what every container gets."""
    from .devices_v2 import Rule
    return ([Rule.from_oci(d) for d in (resources or {}).get("devices") or []]
            + [Rule.from_line(line) for line in DEFAULT_DEVICES]
            + [Rule(True, d["type"].replace("u", "c"), d.get("major", 0), d.get("minor", 0))
               for d in devices or [] if d["type"] in "cbu"])


def apply(paths: dict[str, Path], resources: dict | None, devices: list | None = None,
          programs: list | None = None, save=None, enabled_at_root: list | None = None) -> None:
    """Write the limits into each hierarchy's directory (``devices``: config.json's linux.devices).

    On the v2 hierarchy, device rules become an eBPF program attached to the cgroup; each attachment
    is appended to ``programs`` (``{"cgroup", "prog_id"}``, which the container's record holds) and
    ``save()`` called once the program is loaded, before it is attached. On a hybrid machine the v1
    devices controller checks the same rules as well.
    """
    for controllers, path in paths.items():
        if controllers == "":
            # On a hybrid machine a controller bound to a v1 hierarchy cannot be on v2: v1 applies it.
            on_v1 = {name for key in paths if key for name in key.split(",")}
            needed = [c for c in _v2_controllers(resources or {}) if c not in on_v1]
            mount = hierarchies().get("")  # plan() put path below it
            if needed and mount is not None and path.is_relative_to(mount):
                delegate(mount, path, needed, enabled_at_root if enabled_at_root is not None else [])
                if save is not None:
                    save()
            _v2(path, resources or {})
            if (resources or {}).get("devices"):
                from . import devices_v2
                entry = {"cgroup": str(path)}
                if programs is not None:
                    programs.append(entry)

                def loaded(prog_id, entry=entry):
                    entry["prog_id"] = prog_id
                    if save is not None:
                        save()
                devices_v2.attach(path, device_rules(resources, devices), loaded)
        else:
            _v1(controllers, path, resources or {}, devices)


def _procs_of(pid: int | str) -> list[Path]:
    """The ``cgroup.procs`` files of the cgroups ``pid`` is in, one per mounted hierarchy that has one."""
    mounts = hierarchies()
    found = []
    for line in read_proc_cgroup(pid).splitlines():
        _, names, path = line.split(":", 2)
        mount = mounts.get(names) if names else mounts.get("")
        if mount is not None and (mount / path.lstrip("/") / "cgroup.procs").exists():
            found.append(mount / path.lstrip("/") / "cgroup.procs")
    return found


def own_procs() -> Path | None:
    """The ``cgroup.procs`` of the cgroup this process is in, in the first mounted hierarchy that has one."""
    return next(iter(_procs_of("self")), None)


def warm_attach():
    """Pay now, on a thread, the wait the next container's first ``cgroup.procs`` write would pay.

    Moving a process into a cgroup takes the kernel's ``cgroup_threadgroup_rwsem`` for writing, on v1
    and v2 alike. It is a per-CPU rwsem: free for its readers (every fork and exit), while its writer
    first waits for an RCU grace period (``rcu_sync_enter``), unless another writer held it within
    about the last grace period. Measured here: 7 to 16 ms for the first write after a quiet moment,
    0.1 ms for one right after. So we write our own PID into the cgroup we are in already (a move to
    where we are: nothing changes), and ``attach`` then finds the lock warm.

    The writer waits holding ``cgroup_mutex``, and every cgroup mkdir waits for that: this must run a
    grace period before the container's cgroups are made, not next to it. The daemon calls it when a
    container is created and when it is started (``docker run`` sends both some 15 ms before the
    runtime makes the cgroups); the runtime's ``create`` command before it loads its modules. Best
    effort: a write refused costs nothing. Returns the thread, or None where no cgroup is mounted.
    """
    import threading
    procs = own_procs()
    if procs is None:
        return None

    def write():
        try:
            procs.write_text(str(os.getpid()))
        except OSError:
            pass
    thread = threading.Thread(target=write, daemon=True, name="warm-attach")
    thread.start()
    return thread


def attach(paths: dict[str, Path], pid: int) -> None:
    """Put ``pid`` into the container's cgroup in every hierarchy."""
    for path in paths.values():
        (path / "cgroup.procs").write_text(str(pid))


def join_like(pid: int, joiner: int) -> None:
    """Put ``joiner`` into every cgroup ``pid`` is in (``exec`` joins the container's groups)."""
    for procs in _procs_of(pid):
        procs.write_text(str(joiner))


def remove(made: list[str], timeout: float = 2.0) -> None:
    """rmdir what we made, deepest first. The container's own directories may take a moment to empty
    (their last process is being reaped): retried briefly.

    The shared ``labcore`` parent is made by whichever container came first, and may hold others'
    groups when that one goes: so every container, whoever made the parent, tries it once on its way
    out (rmdir only removes an empty directory), and the last one out removes it.
    """
    deadline = time.monotonic() + timeout
    parents = {str(Path(p).parent) for p in made}
    shared = {str(Path(p).parent) for p in made if Path(p).parent.name == tracker.CGROUP_NAME} - set(made)
    for d in sorted(made, key=lambda p: -len(Path(p).parts)) + sorted(shared):
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                # A parent (ours, or the shared labcore one) may hold others' groups: tried once.
                if d in parents or d in shared or Path(d).name == tracker.CGROUP_NAME or time.monotonic() > deadline:
                    break
                time.sleep(0.01)


__all__ = ["hierarchies", "own_procs", "warm_attach", "plan", "mount_view", "record_peer_groups", "make", "device_rules", "apply", "attach", "join_like",
           "remove", "delegate", "give_back", "V2_CONTROLLERS"]
