"""Fake cgroup trees in a temporary directory, for unit tests without root.

A real cgroup filesystem fills a directory with control files the moment
``mkdir`` makes it, and lets ``rmdir`` remove it with those files inside.
``FakeCgroupFS`` imitates both: ``install(monkeypatch)`` swaps
``labcore.cgroups.base.make_directory`` (defined in ``labcore.cgroups.files``,
called from base) for a mkdir that writes the files a
real kernel would show (with their default values), the backends' ``write``
for one that merges like the kernel (``+cpu`` adds to a set, an ``io.max``
line replaces that device's line), and the tracker's cgroup undo for one
that removes the fake directory: the backends run their real code on
plain files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from labcore import tracker
from labcore.cgroups import base, files

V1_FILES = {
    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.shares": "1024",
            "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
    "cpuacct": {"cpuacct.usage": "0"},
    "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.soft_limit_in_bytes": "9223372036854771712",
               "memory.memsw.limit_in_bytes": "9223372036854771712", "memory.usage_in_bytes": "0",
               "memory.max_usage_in_bytes": "0", "memory.failcnt": "0", "memory.memsw.failcnt": "0",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0", "pids.peak": "0", "pids.events": "max 0\n"},
    "blkio": {"blkio.throttle.read_bps_device": "", "blkio.throttle.write_bps_device": "",
              "blkio.throttle.io_service_bytes": "Total 0\n"},
}

V2_FILES = {
    "": {"cgroup.subtree_control": "", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "",
         "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100",
            "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"},
    "memory": {"memory.max": "max", "memory.high": "max", "memory.swap.max": "max", "memory.current": "0",
               "memory.peak": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0", "pids.peak": "0", "pids.events": "max 0\n"},
    "io": {"io.max": "", "io.stat": ""},
}


class FakeCgroupFS:
    """A cgroup root in ``tmp_path``: ``FakeCgroupFS(tmp, "v1")`` or ``("v2", controllers=...)``."""

    def __init__(self, root: Path, version: str, controllers=("cpu", "memory", "pids", "io"),
                 enabled_at_root=("cpu", "memory", "pids", "io"), hybrid: bool = False):
        self.root = Path(root)
        self.version = version
        self.controllers = list(controllers)
        self.root.mkdir(parents=True, exist_ok=True)
        if version == "v1":
            for hierarchy in V1_FILES:
                if hierarchy in self.controllers or (hierarchy == "cpuacct" and "cpu" in self.controllers) \
                        or (hierarchy == "blkio" and "io" in self.controllers):
                    (self.root / hierarchy).mkdir()
                    (self.root / hierarchy / "cgroup.procs").write_text("")
            if hybrid:
                (self.root / "unified").mkdir()
                (self.root / "unified" / "cgroup.controllers").write_text("hugetlb\n")
        else:
            (self.root / "cgroup.controllers").write_text(" ".join(self.controllers) + "\n")
            (self.root / "cgroup.subtree_control").write_text(" ".join(enabled_at_root) + "\n")
            (self.root / "cgroup.procs").write_text("1\n")

    def make_directory(self, path: Path) -> None:
        """mkdir, then the control files a kernel would create in it."""
        path.mkdir()
        (path / "cgroup.procs").write_text("")
        if self.version == "v1":
            for hierarchy in path.relative_to(self.root).parts[0].split(","):  # "cpu,cpuacct": both
                for name, value in V1_FILES[hierarchy].items():
                    (path / name).write_text(value)
            return
        offered = (path.parent / "cgroup.subtree_control").read_text().split()
        (path / "cgroup.controllers").write_text(" ".join(offered) + "\n")
        for group in [""] + offered:
            for name, value in V2_FILES[group].items():
                (path / name).write_text(value)

    def _undo(self, rec: tracker.Record) -> str:
        path = Path(rec.target)
        if self.root not in path.parents:
            raise AssertionError(f"undo outside the fake tree: {path}")
        if not path.exists():
            return "already gone"
        if any(p.is_dir() for p in path.iterdir()):
            return "kept: other lab cgroups are still inside"
        shutil.rmtree(path)
        self.removed.append(str(path.relative_to(self.root)))
        return "removed"

    def write(self, path: Path, value: str) -> None:
        """files.write, with the kernel's merging for files that hold a set or one line per device."""
        path = Path(path)
        if path.name == "cgroup.subtree_control" and path.exists():
            enabled = path.read_text().split()
            for word in value.split():
                if word[0] == "+" and word[1:] not in enabled:
                    enabled.append(word[1:])
                elif word[0] == "-" and word[1:] in enabled:
                    enabled.remove(word[1:])
            value = " ".join(enabled)
        elif path.name in ("io.max", "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device") \
                and path.exists():
            lines = {line.split()[0]: line for line in path.read_text().splitlines() if line}
            device, *rest = value.split()
            if path.name == "io.max" and device in lines:
                merged = dict(item.split("=") for item in lines[device].split()[1:])
                merged.update(item.split("=") for item in rest)
                value = device + " " + " ".join(f"{k}={v}" for k, v in merged.items())
            lines[device] = value
            value = "\n".join(lines.values())
        files.write(path, value)

    def install(self, monkeypatch) -> "FakeCgroupFS":
        self.removed: list[str] = []
        monkeypatch.setattr(base, "make_directory", self.make_directory)  # looked up in base by _mkdir_tracked
        monkeypatch.setattr("labcore.cgroups.v1.write", self.write)
        monkeypatch.setattr("labcore.cgroups.v2.write", self.write)
        monkeypatch.setitem(tracker.UNDO, "cgroup", tracker.Undo(70, self._undo))
        return self

    def set(self, relative: str, text: str) -> None:
        """Write a counter file as the kernel would update it."""
        (self.root / relative).write_text(text)

    def get(self, relative: str) -> str:
        return (self.root / relative).read_text()
