"""cgroup v2: one unified hierarchy, controllers delegated down the tree.

On a v2 machine there is a single cgroup filesystem at ``/sys/fs/cgroup``
and a group is one directory for every controller. A controller is not
active everywhere by default: a group's ``cgroup.controllers`` lists what
its parent *offers* it, and a parent offers only what is written in its own
``cgroup.subtree_control`` (``+cpu +memory``...). So to get cpu, memory,
pids and io limits in ``/sys/fs/cgroup/labcore/web``, the root must enable
them for ``labcore``, and ``labcore`` for ``web``. That is delegation, and
it comes with the "no internal processes" rule: a group that hands
controllers to children may not hold processes itself (the root excepted),
which is why the lab's processes always live in leaves, never in ``labcore``.

The files (Documentation/admin-guide/cgroup-v2.rst):

    cpu      cpu.max "QUOTA PERIOD" ("max 100000": none), cpu.weight (1-10000, default 100)
             cpu.stat: usage_usec, nr_periods, nr_throttled, throttled_usec
    memory   memory.max (hard: reclaim, then OOM kill), memory.high (soft: throttle and reclaim)
             memory.current, memory.peak, memory.events: high, max, oom, oom_kill
             memory.swap.max (0 in every lab group: no swap to stretch either memory limit)
    pids     pids.max, pids.current, pids.peak, pids.events ("max N": forks refused)
    io       io.max "MAJ:MIN rbps=N wbps=N", io.stat "MAJ:MIN rbytes=... wbytes=..."
    core     cgroup.procs, cgroup.kill (kill every process at once), cgroup.events
"""

from __future__ import annotations

import errno
import time
from pathlib import Path

from .. import tracker
from ..errors import CleanupError
from ..proc.cgroup import CGROUP_ROOT
from . import limits as L
from .base import LAB, Cgroup, Stats
from .files import read, read_int, read_keyed, write

CONTROLLERS = ("cpu", "memory", "pids", "io")


def _enabled(directory: Path) -> set[str]:
    return set((read(directory / "cgroup.subtree_control") or "").split())


class V2Cgroup(Cgroup):
    """A lab group on cgroup v2: ``/sys/fs/cgroup/labcore/NAME``, every controller in one place."""

    version = "v2"

    @classmethod
    def plan_paths(cls, name: str, root: Path) -> dict[str, Path]:
        offered = set((read(root / "cgroup.controllers") or "").split())
        return {c: root / LAB / name for c in CONTROLLERS if c in offered}

    def _make(self) -> None:
        wanted = [c for c in CONTROLLERS if c in self.paths]
        # The root must offer the controllers to labcore; systemd usually has done it already.
        for controller in sorted(set(wanted) - _enabled(self.root)):
            target = self.root / "cgroup.subtree_control"
            with tracker.default().created("cgroup-controller", target, controller=controller) as rec:
                write(target, f"+{controller}")
            self._records.append(rec)
        leaf = self.directories()[0]

        def delegate(parent: Path) -> None:
            missing = [c for c in wanted if c not in _enabled(parent)]
            if missing:
                write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
        self._make_leaf(leaf.parent, leaf, prepare_parent=delegate)
        if (leaf / "memory.swap.max").exists():
            write(leaf / "memory.swap.max", "0")  # lab groups never swap: both memory limits stay exact

    def _file(self, name: str) -> Path:
        return self.directories()[0] / name

    def remove(self) -> None:
        """Remove the group; the last lab group to go also gives back the controllers the lab
        enabled at the root (while other lab groups exist, the root cannot disable them: EBUSY)."""
        # Our own controller records are not undone here: they stay on disk until the last group goes.
        self._records = [r for r in self._records if r.kind != "cgroup-controller"]
        super().remove()
        if self.owned and not (self.root / LAB).exists():
            track = tracker.default()
            for rec in [r for r in track.records() if r.kind == "cgroup-controller"]:
                try:
                    track.undo(rec)
                except CleanupError:
                    pass  # a new lab group appeared meanwhile: its own removal will give them back

    # --- limits ----------------------------------------------------------------
    def _apply(self, changes: dict) -> None:
        if "cpus" in changes:
            cpus = changes["cpus"]
            quota = "max" if cpus is None else str(round(cpus * L.PERIOD_US))
            write(self._file("cpu.max"), f"{quota} {L.PERIOD_US}")
        if "cpu_weight" in changes:
            write(self._file("cpu.weight"), str(changes["cpu_weight"] or 100))
        if "memory" in changes:
            limit = changes["memory"]
            write(self._file("memory.max"), "max" if limit is None else str(limit))
        if "memory_high" in changes:
            high = changes["memory_high"]
            write(self._file("memory.high"), "max" if high is None else str(high))
        if "pids" in changes:
            pids = changes["pids"]
            write(self._file("pids.max"), "max" if pids is None else str(pids))
        for key, word in (("io_read_bps", "rbps"), ("io_write_bps", "wbps")):
            for device, rate in changes.get(key, ()):
                write(self._file("io.max"), f"{device} {word}={'max' if rate is None else rate}")

    def read_limits(self) -> L.Limits:
        quota, _, period = (read(self._file("cpu.max")) or "max").partition(" ")
        weight = read_int(self._file("cpu.weight"))
        return L.Limits(cpus=int(quota) / int(period) if quota != "max" and period else None,
                        cpu_weight=weight,
                        memory=read_int(self._file("memory.max")),
                        memory_high=read_int(self._file("memory.high")),
                        pids=read_int(self._file("pids.max")))

    def files(self) -> dict[str, str]:
        out = {}
        for name in ("cpu.max", "cpu.weight", "memory.max", "memory.high", "memory.swap.max", "pids.max", "io.max"):
            path = self._file(name)
            if path.exists():
                out[str(path.relative_to(self.root))] = read(path) or "(empty)"
        return out

    # --- processes -------------------------------------------------------------
    def attach(self, pid: int) -> None:
        write(self._file("cgroup.procs"), str(pid))

    def procs(self) -> list[int]:
        return sorted(int(p) for p in (read(self._file("cgroup.procs")) or "").split())

    def kill(self, timeout: float = 5.0) -> None:
        """cgroup.kill (Linux 5.14+) kills every process of the group at once, forks in flight too."""
        if self.owned and self._file("cgroup.kill").exists():
            write(self._file("cgroup.kill"), "1")
            if self.wait_empty(timeout):
                return
        super().kill(timeout)

    # --- counters --------------------------------------------------------------
    STAT_FILES = ["cpu.stat", "memory.current", "memory.peak", "memory.events", "pids.current", "pids.peak",
                  "pids.events", "io.stat"]

    def stat_files(self) -> list[Path]:
        """The files ``stats()`` reads (the monitor's cost is reading these)."""
        return [self._file(name) for name in self.STAT_FILES if self._file(name).exists()]

    def stats(self) -> Stats:
        s = Stats()
        cpu = read_keyed(self._file("cpu.stat"))
        s.cpu_usage_usec = cpu.get("usage_usec")
        s.cpu_periods = cpu.get("nr_periods")
        s.cpu_throttled_periods = cpu.get("nr_throttled")
        s.cpu_throttled_usec = cpu.get("throttled_usec")
        if "memory" in self.paths:
            s.memory_current = read_int(self._file("memory.current"))
            s.memory_peak = read_int(self._file("memory.peak"))
            events = read_keyed(self._file("memory.events"))
            s.memory_failcnt = events.get("max")
            s.memory_high_events = events.get("high")
            s.oom_events = events.get("oom")
            s.oom_kills = events.get("oom_kill")
        if "pids" in self.paths:
            s.pids_current = read_int(self._file("pids.current"))
            s.pids_peak = read_int(self._file("pids.peak"))
            s.pids_max_events = read_keyed(self._file("pids.events")).get("max")
        if "io" in self.paths:
            s.io_read_bytes, s.io_write_bytes = 0, 0
            for line in (read(self._file("io.stat")) or "").splitlines():
                fields = dict(item.split("=", 1) for item in line.split()[1:] if "=" in item)
                s.io_read_bytes += int(fields.get("rbytes", 0))
                s.io_write_bytes += int(fields.get("wbytes", 0))
        return s


@tracker.undoes("cgroup-controller", order=75)  # after the cgroups (70): they must be gone first
def _disable_controller(rec: tracker.Record) -> str:
    """Take back a controller the lab enabled in the root's cgroup.subtree_control."""
    target, controller = Path(rec.target), rec.extra.get("controller", "")
    if target != Path(CGROUP_ROOT) / "cgroup.subtree_control" or controller not in CONTROLLERS:
        raise CleanupError(f"refusing to undo {rec}: only cpu, memory, pids or io in the root's "
                           "cgroup.subtree_control are ever enabled by the lab",
                           "remove this record by hand if it is not the lab's")
    if controller not in (read(target) or "").split():
        return "already disabled"
    for _ in range(50):
        try:
            with open(target, "w") as f:
                f.write(f"-{controller}")
            return "disabled"
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.01)  # a group that used it may still be being torn down
    raise CleanupError(f"the {controller} controller is still delegated below the root (EBUSY)",
                       "other lab groups still use it: this record stays, and the last lab group "
                       "removed (or `labcore cleanup` after it) gives it back")


__all__ = ["V2Cgroup", "CONTROLLERS"]
