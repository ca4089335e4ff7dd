"""cgroup v1: one hierarchy per controller.

On a v1 (or hybrid) machine each controller is its own filesystem, mounted
in its own directory: ``/sys/fs/cgroup/cpu``, ``/sys/fs/cgroup/memory``,
``/sys/fs/cgroup/pids``... (some distributions mount ``cpu,cpuacct``
together, with ``cpu`` and ``cpuacct`` as symlinks to it). So one lab group
is *several* directories, one per hierarchy, and a process must be written
into the ``cgroup.procs`` of each. A process can even sit at different
places in different hierarchies, which is one reason v2 was designed.

The files, by controller (Documentation/admin-guide/cgroup-v1/):

    cpu      cpu.cfs_quota_us / cpu.cfs_period_us   CPU time allowed per period (-1: no quota)
             cpu.shares                             relative weight, default 1024
             cpu.stat                               nr_periods, nr_throttled, throttled_time (ns)
    cpuacct  cpuacct.usage                          CPU time used, in nanoseconds
    memory   memory.limit_in_bytes                  hard limit: reclaim, then the OOM killer
             memory.soft_limit_in_bytes             soft limit: acts only under global memory pressure
             memory.usage_in_bytes, max_usage_in_bytes, failcnt, oom_control (oom_kill)
    pids     pids.max, pids.current, pids.peak, pids.events ("max N": forks refused)
    blkio    blkio.throttle.read_bps_device         "MAJ:MIN BYTES" per second (and write_bps_device)
             blkio.throttle.io_service_bytes        bytes moved, per device and direction
"""

from __future__ import annotations

from pathlib import Path

from . import limits as L
from .base import LAB, Cgroup, Stats
from .files import read, read_int, read_keyed, write

# Hierarchy directory under the cgroup root -> the controller it serves, in the lab's vocabulary.
HIERARCHIES = {"cpu": "cpu", "cpuacct": "cpuacct", "memory": "memory", "pids": "pids", "blkio": "io"}
UNLIMITED_BYTES = 1 << 62  # v1 shows "no limit" as a huge number (PAGE_COUNTER_MAX pages)


def weight_to_shares(weight: int | None) -> int:
    """cgroup v2 weight (1-10000, default 100) -> v1 cpu.shares (2-262144, default 1024)."""
    if weight is None:
        return 1024
    return max(2, min(262_144, round(weight * 1024 / 100)))


def shares_to_weight(shares: int) -> int:
    return max(1, min(10_000, round(shares * 100 / 1024)))


class V1Cgroup(Cgroup):
    """A lab group on cgroup v1: the same name in every controller's hierarchy."""

    version = "v1"

    @classmethod
    def plan_paths(cls, name: str, root: Path) -> dict[str, Path]:
        paths = {}
        for directory, controller in HIERARCHIES.items():
            hierarchy = root / directory
            if (hierarchy / "cgroup.procs").exists():
                # resolve(): with cpu,cpuacct mounted together, both names lead to one directory.
                paths[controller] = hierarchy.resolve() / LAB / name
        return paths

    def _make(self) -> None:
        for directory in self.directories():
            self._make_leaf(directory.parent, directory)

    def _file(self, controller: str, name: str) -> Path:
        return self.paths[controller] / name

    # --- limits ----------------------------------------------------------------
    def _apply(self, changes: dict) -> None:
        if "cpus" in changes:
            cpus = changes["cpus"]
            write(self._file("cpu", "cpu.cfs_period_us"), str(L.PERIOD_US))
            write(self._file("cpu", "cpu.cfs_quota_us"), "-1" if cpus is None else str(round(cpus * L.PERIOD_US)))
        if "cpu_weight" in changes:
            write(self._file("cpu", "cpu.shares"), str(weight_to_shares(changes["cpu_weight"])))
        if "memory" in changes:
            self._set_memory_limit(changes["memory"])
        if "memory_high" in changes:
            high = changes["memory_high"]
            write(self._file("memory", "memory.soft_limit_in_bytes"), "-1" if high is None else str(high))
        if "pids" in changes:
            pids = changes["pids"]
            write(self._file("pids", "pids.max"), "max" if pids is None else str(pids))
        for key, filename in (("io_read_bps", "blkio.throttle.read_bps_device"),
                              ("io_write_bps", "blkio.throttle.write_bps_device")):
            for device, rate in changes.get(key, ()):
                write(self._file("io", filename), f"{device} {0 if rate is None else rate}")  # 0 removes the rule

    def _set_memory_limit(self, limit: int | None) -> None:
        """limit_in_bytes; with swap present, the same for memory+swap, so swap cannot stretch it.

        The kernel keeps memsw >= limit at every moment: raise memsw first when
        the limit goes up, lower the limit first when it goes down. Without
        swap, memsw is left alone: a charge refused at the memsw counter is
        not counted in memory.failcnt (measured on Linux 6.18), and there is
        nothing to swap anyway.
        """
        value = "-1" if limit is None else str(limit)
        mem = self._file("memory", "memory.limit_in_bytes")
        memsw = self._file("memory", "memory.memsw.limit_in_bytes")
        if not memsw.exists() or not L.ram_bytes(field="SwapTotal"):
            write(mem, value)
            return
        current = read_int(memsw) or 0
        going_up = limit is None or limit > current
        for path in (memsw, mem) if going_up else (mem, memsw):
            write(path, value)

    def read_limits(self) -> L.Limits:
        def size(controller, name):
            value = read_int(self._file(controller, name)) if controller in self.paths else None
            return None if value is None or value < 0 or value >= UNLIMITED_BYTES else value

        quota = read_int(self._file("cpu", "cpu.cfs_quota_us")) if "cpu" in self.paths else None
        period = read_int(self._file("cpu", "cpu.cfs_period_us")) if "cpu" in self.paths else None
        shares = read_int(self._file("cpu", "cpu.shares")) if "cpu" in self.paths else None
        pids = read_int(self._file("pids", "pids.max")) if "pids" in self.paths else None
        return L.Limits(cpus=quota / period if quota and quota > 0 and period else None,
                        cpu_weight=shares_to_weight(shares) if shares else None,
                        memory=size("memory", "memory.limit_in_bytes"),
                        memory_high=size("memory", "memory.soft_limit_in_bytes"), pids=pids)

    def files(self) -> dict[str, str]:
        wanted = {"cpu": ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"],
                  "memory": ["memory.limit_in_bytes", "memory.soft_limit_in_bytes"],
                  "pids": ["pids.max"],
                  "io": ["blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"]}
        out = {}
        for controller, names in wanted.items():
            for name in names:
                if controller in self.paths and self._file(controller, name).exists():
                    path = self._file(controller, name)
                    out[str(path.relative_to(self.root.resolve()))] = read(path) or "(empty)"
        return out

    # --- processes -------------------------------------------------------------
    def attach(self, pid: int) -> None:
        # cgroup.procs moves the whole thread group; "tasks" would move one thread.
        for directory in self.directories():
            write(directory / "cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for directory in self.directories():
            pids.update(int(p) for p in (read(directory / "cgroup.procs") or "").split())
        return sorted(pids)

    # --- counters --------------------------------------------------------------
    STAT_FILES = {"cpuacct": ["cpuacct.usage"], "cpu": ["cpu.stat"],
                  "memory": ["memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt",
                             "memory.memsw.failcnt", "memory.oom_control"],
                  "pids": ["pids.current", "pids.peak", "pids.events"], "io": ["blkio.throttle.io_service_bytes"]}

    def stat_files(self) -> list[Path]:
        """The files ``stats()`` reads (the monitor's cost is reading these)."""
        return [self._file(c, name) for c, names in self.STAT_FILES.items() if c in self.paths for name in names
                if self._file(c, name).exists()]

    def stats(self) -> Stats:
        s = Stats()
        if "cpuacct" in self.paths:
            usage = read_int(self._file("cpuacct", "cpuacct.usage"))
            s.cpu_usage_usec = None if usage is None else usage // 1000
        if "cpu" in self.paths:
            cpu = read_keyed(self._file("cpu", "cpu.stat"))
            s.cpu_periods = cpu.get("nr_periods")
            s.cpu_throttled_periods = cpu.get("nr_throttled")
            if "throttled_usec" in cpu:
                s.cpu_throttled_usec = cpu["throttled_usec"]
            elif "throttled_time" in cpu:
                s.cpu_throttled_usec = cpu["throttled_time"] // 1000
        if "memory" in self.paths:
            s.memory_current = read_int(self._file("memory", "memory.usage_in_bytes"))
            s.memory_peak = read_int(self._file("memory", "memory.max_usage_in_bytes"))
            # A charge fails at the memory counter or, checked first, at memory+swap: count both.
            failures = [read_int(self._file("memory", f)) for f in ("memory.failcnt", "memory.memsw.failcnt")]
            s.memory_failcnt = None if failures[0] is None else sum(f or 0 for f in failures)
            s.oom_kills = read_keyed(self._file("memory", "memory.oom_control")).get("oom_kill")
        if "pids" in self.paths:
            s.pids_current = read_int(self._file("pids", "pids.current"))
            s.pids_peak = read_int(self._file("pids", "pids.peak"))
            s.pids_max_events = read_keyed(self._file("pids", "pids.events")).get("max")
        if "io" in self.paths:
            s.io_read_bytes, s.io_write_bytes = 0, 0
            for line in (read(self._file("io", "blkio.throttle.io_service_bytes")) or "").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in ("Read", "Write"):
                    if parts[1] == "Read":
                        s.io_read_bytes += int(parts[2])
                    else:
                        s.io_write_bytes += int(parts[2])
        return s


__all__ = ["V1Cgroup", "HIERARCHIES", "weight_to_shares", "shares_to_weight"]
