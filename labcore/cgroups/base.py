"""One cgroup, whatever the cgroup version: the interface both backends share.

A cgroup is a directory in a cgroup filesystem. ``mkdir`` makes the group
and the kernel fills the directory with control files at once; writing a
PID into its ``cgroup.procs`` moves that process (and its future children)
into the group; writing a number into a limit file sets the limit; reading
a stat file gives the kernel's counters. ``rmdir`` removes a group with no
processes left. That is the whole API: see cgroups(7) and the kernel's
Documentation/admin-guide/cgroup-v2.rst (and cgroup-v1/ for v1).

The two versions lay these files out differently (one tree per controller
on v1, one tree for all on v2) and name them differently (``cpu.max`` vs
``cpu.cfs_quota_us``). ``V1Cgroup`` and ``V2Cgroup`` hide that; this module
holds what they share: creating the directories through the tracker,
writing and reading files with errors that name the file (``labcore.cgroups.files``),
and ``Stats``, the counters in one vocabulary.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError, LabError, PrivilegeError, UnsupportedError
from ..proc.cgroup import CGROUP_ROOT, parse_proc_cgroup  # parsed in labcore.proc; lab.cgroups.parse_proc_cgroup
from . import limits as L
from .files import make_directory, read, read_int, read_keyed, write  # re-exported: lab.cgroups.base.write...

LAB = tracker.CGROUP_NAME  # every group the lab makes lives under a "labcore" directory


@dataclass
class Stats:
    """A cgroup's counters, named the same on v1 and v2 (``None``: this kernel has no such counter).

    CPU times are in microseconds, sizes in bytes, counts are counts.
    """

    cpu_usage_usec: int | None = None         # CPU time used by every task of the group
    cpu_periods: int | None = None            # CFS bandwidth periods that have elapsed while runnable
    cpu_throttled_periods: int | None = None  # ... in which the group ran out of quota
    cpu_throttled_usec: int | None = None     # total time spent throttled
    memory_current: int | None = None         # memory charged now
    memory_peak: int | None = None            # the most ever charged
    memory_failcnt: int | None = None         # times the hard limit was hit (v1 failcnt, v2 events "max")
    memory_high_events: int | None = None     # times usage went over memory.high (v2 only)
    oom_events: int | None = None             # times the OOM killer was invoked for the group (v2 only)
    oom_kills: int | None = None              # processes killed by the OOM killer
    pids_current: int | None = None           # tasks (processes and threads) now
    pids_peak: int | None = None              # the most tasks ever (newer kernels)
    pids_max_events: int | None = None        # fork()s and clone()s refused at pids.max
    io_read_bytes: int | None = None          # read from block devices (all disks)
    io_write_bytes: int | None = None         # written to block devices

    def lines(self) -> list[str]:
        """The counters that exist, one readable line each."""
        def sec(us):
            return f"{us / 1e6:.2f} s"
        rows = [("cpu usage", self.cpu_usage_usec, sec),
                ("cpu periods", self.cpu_periods, str),
                ("cpu throttled periods", self.cpu_throttled_periods, str),
                ("cpu throttled time", self.cpu_throttled_usec, sec),
                ("memory current", self.memory_current, L.human_bytes),
                ("memory peak", self.memory_peak, L.human_bytes),
                ("memory limit hits", self.memory_failcnt, str),
                ("memory high events", self.memory_high_events, str),
                ("oom events", self.oom_events, str),
                ("oom kills", self.oom_kills, str),
                ("pids current", self.pids_current, str),
                ("pids peak", self.pids_peak, str),
                ("forks refused at pids.max", self.pids_max_events, str),
                ("io read", self.io_read_bytes, L.human_bytes),
                ("io written", self.io_write_bytes, L.human_bytes)]
        return [f"{label:<26} {fmt(value)}" for label, value, fmt in rows if value is not None]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(line[:26].strip())}</td><td>{escape(line[26:].strip())}</td></tr>"
                       for line in self.lines())
        return f"<table>{rows}</table>"


# --- the interface ---------------------------------------------------------------

def undo_parents(directories) -> list[str]:
    """Try the records of the shared labcore parent of ``directories`` again; what each undo said.

    The parent was made (and recorded) by whichever group came first; its record stays while other
    groups are inside. The last group out retries it, so it goes with them."""
    trk = tracker.default()
    parents = {str(Path(d).parent) for d in directories}
    said = []
    for rec in trk.records():
        if rec.kind == "cgroup" and rec.target in parents:
            try:
                said.append(f"{rec}: {trk.undo(rec)}")
            except (OSError, LabError):
                pass  # `labcore cleanup` retries
    return said


class Cgroup:
    """A control group. Made by ``lab.cgroups.create(name, cpus=..., memory=...)``.

    ``attach(pid)`` moves a process in (``lab.spawn(..., cgroup=cg)`` does it
    before the process runs), ``set(cpus=0.5)`` changes a limit while it
    runs, ``stats()`` reads the counters, ``remove()`` (or leaving the
    ``with`` block) kills what is left inside and removes the directories.
    """

    version = "?"
    # The controllers a lab group uses, with the limit fields each one enforces.
    CONTROLLERS = {"cpu": ("cpus", "cpu_weight"), "memory": ("memory", "memory_high"),
                   "pids": ("pids",), "io": ("io_read_bps", "io_write_bps")}

    def __init__(self, name: str, root: Path, paths: dict[str, Path], owned: bool,
                 limits: L.Limits | None = None):
        self.name = name
        self.root = Path(root)
        self.paths = paths        # controller -> directory (on v2 the same directory for all)
        self.owned = owned        # made by us (removable), or someone else's group we only look at
        self.limits = limits or L.Limits()
        self._records: list[tracker.Record] = []

    # --- creating --------------------------------------------------------------
    @classmethod
    def create(cls, name: str, limits: L.Limits, root: Path) -> "Cgroup":
        """Make the group's directories (recorded first), then write its limits."""
        group = cls(L.check_name(name), Path(root), cls.plan_paths(name, Path(root)), owned=True, limits=limits)
        group._check_supported(limits.given())
        existing = [str(p) for p in group.directories() if p.exists()]
        if existing:
            raise InvalidInputError(f"cgroup {name!r} already exists ({existing[0]})",
                                    "pick another name, or run `labcore cleanup` if a crashed notebook left it")
        try:
            group._make()
            group._apply(limits.given())
        except BaseException:
            group.remove()
            raise
        return group

    def directories(self) -> list[Path]:
        """Each distinct directory of the group (v1: one per hierarchy)."""
        return list(dict.fromkeys(self.paths.values()))

    def _mkdir_tracked(self, path: Path, shared: bool = False) -> None:
        """mkdir, recorded first. ``shared``: the labcore parent, which other groups may be using too."""
        with tracker.default().created("cgroup", path) as rec:
            try:
                make_directory(path)
            except FileExistsError:
                # Someone else's (another notebook made it meanwhile): drop the record, never undo it.
                rec.not_mine()
                if not shared:
                    raise InvalidInputError(f"cgroup {path} already exists",
                                            "pick another name, or run `labcore cleanup`") from None
            except PermissionError:
                raise PrivilegeError(f"cannot create the cgroup {path}: Permission denied",
                                     "creating cgroups needs root: run the lab kernel as root (see notebooks/00)") \
                    from None
        if not rec.disowned:
            self._records.append(rec)

    def _make_leaf(self, parent: Path, leaf: Path, prepare_parent=None) -> None:
        """The labcore parent, then the group. Another notebook may remove an empty parent at
        the same moment (it cannot know we are about to use it): then make it again."""
        for attempt in range(5):
            self._mkdir_tracked(parent, shared=True)
            try:
                if prepare_parent:
                    prepare_parent(parent)  # v2: delegate the controllers to the children
                self._mkdir_tracked(leaf)
                return
            except FileNotFoundError:
                if attempt == 4:
                    raise

    # --- using ------------------------------------------------------------------
    def set(self, **human) -> L.Limits:
        """Change limits now, on whatever runs inside: ``cg.set(cpus=0.5, memory="128M")``.

        ``"max"`` lifts a limit. Used by chapter 05's live control.
        Raising pids (or lifting it) is refused while a fork bomb runs in the
        group (``workloads.fork_bomb`` marks it): only that limit holds it.
        """
        self._require_owned("change its limits")
        changes = L.parse_changes(**human)
        if "pids" in changes and getattr(self, "fork_bomb", False) and \
                (changes["pids"] is None or changes["pids"] > (self.limits.pids or 0)) and self.procs():
            raise InvalidInputError(f"pids {human['pids']!r}: a fork bomb runs in cgroup {self.name}, "
                                    f"held by pids {self.limits.pids}", "wait until it ends (or lower the limit)")
        self._check_supported(changes)
        self._apply(changes)
        for key in ("io_read_bps", "io_write_bps"):
            if key in changes:  # merge per device; None lifts that device's limit
                merged = dict(getattr(self.limits, key))
                merged.update(dict(changes[key]))
                changes[key] = tuple((d, r) for d, r in merged.items() if r is not None)
        self.limits = replace(self.limits, **changes)
        return self.limits

    def _check_supported(self, changes: dict) -> None:
        for controller, keys in self.CONTROLLERS.items():
            wanted = [k for k in keys if changes.get(k) not in (None, ())]
            if wanted and controller not in self.paths:
                raise UnsupportedError(f"limit {wanted[0]!r} needs the {controller} controller, "
                                       f"which this machine's cgroup {self.version} does not offer",
                                       "see `labcore doctor`; the course VM has every controller")

    def wait_empty(self, timeout: float = 5.0) -> bool:
        """Wait until no process is left in the group."""
        deadline = time.monotonic() + timeout
        while self.procs():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the group, until none is left (new ones may fork meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.procs()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise LabError(f"processes {pids[:5]} of cgroup {self.name} survive SIGKILL",
                               "look at them with ps -o pid,stat,wchan")
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill what is left inside, rmdir every directory made (deepest first), drop the records."""
        if not self.owned:
            return
        trk = tracker.default()
        for rec in sorted(self._records, key=lambda r: (-len(Path(r.target).parts), -r.seq)):
            trk.undo(rec)
        self._records = []
        undo_parents(self.directories())

    def _require_owned(self, what: str) -> None:
        if not self.owned:
            raise LabError(f"cgroup {self.name} was not made by the lab: it will not {what}",
                           "create one with lab.cgroups.create(...)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def __repr__(self) -> str:
        return f"<Cgroup {self.name} ({self.version}): {self.limits}>"

    # --- what each backend provides -------------------------------------------------
    @classmethod
    def plan_paths(cls, name: str, root: Path) -> dict[str, Path]:
        raise NotImplementedError

    def _make(self) -> None:
        raise NotImplementedError

    def _apply(self, changes: dict) -> None:
        raise NotImplementedError

    def attach(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        raise NotImplementedError

    def procs(self) -> list[int]:
        """PIDs of the processes in the group."""
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    def files(self) -> dict[str, str]:
        """The limit files and what they hold now, as the kernel shows them."""
        raise NotImplementedError

    def read_limits(self) -> L.Limits:
        """The limits the kernel enforces now, read back from the files."""
        raise NotImplementedError


def lab_cgroup(rec: tracker.Record) -> Path:
    """The record's cgroup directory, normalised and resolved; refused unless in a ``labcore`` subtree.

    ``/sys/fs/cgroup/labcore/...`` (v2) or ``/sys/fs/cgroup/HIERARCHY/labcore/...`` (v1).
    """
    target = rec.target
    if not os.path.isabs(target) or os.path.normpath(target) != target:
        tracker.refuse(rec, "not a normalised absolute path ('..', '.' or a relative path)")
    path = Path(os.path.realpath(target))  # v1: cpu -> cpu,cpuacct; a planted symlink goes elsewhere
    root = Path(os.path.realpath(CGROUP_ROOT))
    try:
        rel = path.relative_to(root).parts
    except ValueError:
        tracker.refuse(rec, f"{path} is outside {root}")
    if not (rel[:1] == (LAB,) or rel[1:2] == (LAB,)):
        tracker.refuse(rec, f"cgroup outside the {LAB} subtree")
    return path


def _kill_members(path: Path) -> list[str] | None:
    """SIGKILL every process of one cgroup directory (through pidfds); its PIDs, or None if it is gone."""
    from ..ns.kill import kill_pidfd
    try:
        procs = (path / "cgroup.procs").read_text().split()
    except FileNotFoundError:
        return None
    for pid in procs:
        try:
            fd = os.pidfd_open(int(pid))
        except ProcessLookupError:
            continue
        try:
            # Still in this group once the pidfd pins it? Then it is not a newcomer with a reused PID.
            if pid in (path / "cgroup.procs").read_text().split():
                kill_pidfd(fd, int(pid), timeout=0)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
    return procs


def _rmdir_emptied(path: Path, deadline: float) -> bool:
    """Kill what runs in one cgroup directory and rmdir it (EBUSY until the tasks have exited)."""
    while True:
        if _kill_members(path) is None:
            return False
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


@tracker.undoes("cgroup", order=70)  # after processes and mounts, before paths
def rmdir_recorded(rec: tracker.Record) -> str:
    """Empty a lab cgroup (SIGKILL what still runs in it) and remove it, with its sub-groups.

    A group's sub-groups (made by a learner inside it) go with it, deepest
    first. The shared ``labcore`` parent is different: the groups inside are
    other notebooks' (each removes its own), so while any is there the
    parent stays, and so does its record (unless another record names it too).
    """
    path = lab_cgroup(rec)
    if not path.is_dir():
        return "already gone"
    deadline = time.monotonic() + 5
    children = [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    if path.name == LAB and children:
        others = [r for r in tracker.default().records()
                  if r.kind == "cgroup" and r.target == rec.target and r.file != rec.file]
        if others:
            return "left to its other record: other lab cgroups are still inside"
        return "kept: other lab cgroups are still inside"
    for parent, dirs, _ in os.walk(path, topdown=False):  # deepest first; symlinks are not followed
        for name in dirs:
            _rmdir_emptied(Path(parent) / name, deadline)
    return "removed" if _rmdir_emptied(path, deadline) else "already gone"


__all__ = ["rmdir_recorded", "lab_cgroup", "Cgroup", "undo_parents", "Stats", "make_directory", "read", "read_int", "read_keyed", "write",
           "parse_proc_cgroup", "LAB"]
