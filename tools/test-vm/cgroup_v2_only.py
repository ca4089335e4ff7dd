"""A pytest plugin for the test VM: run only the cgroup v2 tests, and prove they ran.

Loaded inside the VM by inside.sh (``pytest -p cgroup_v2_only``):

* keeps the tests marked ``@pytest.mark.needs(..., "cgroup_v2", ...)`` and
  deselects the rest (the host's `make test` runs those);
* fails the run if any of them is skipped, or if there are none: inside
  the VM, cgroup v2 is there, so a skip would hide a test that asserts
  nothing;
* watches, while they run, which controllers the lab's cgroups enable
  (``cgroup.subtree_control`` of every directory named ``labcore...``
  below /sys/fs/cgroup) and prints them at the end: the log shows the
  controllers the tests really used, not just those the kernel offers.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

CGROUP2 = Path("/sys/fs/cgroup")
MARK = "cgroup_v2"


def wants_v2(item) -> bool:
    return any(MARK in marker.args for marker in item.iter_markers("needs"))


class Watcher(threading.Thread):
    """Samples the enabled controllers of the lab's cgroups every few milliseconds."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval = interval
        self.seen: set[str] = set()
        self.where: dict[str, str] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        for directory, _, _ in os.walk(CGROUP2):
            if not any(part.startswith("labcore") for part in Path(directory).relative_to(CGROUP2).parts):
                continue
            path = Path(directory) / "cgroup.subtree_control"
            try:
                enabled = path.read_text().split()
            except OSError:
                continue  # removed while we looked
            for controller in enabled:
                if controller not in self.seen:
                    self.seen.add(controller)
                    self.where[controller] = str(path.parent)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.sample()


class V2Only:
    """The plugin's state: what was selected, what was skipped, what the watcher saw."""

    def __init__(self):
        self.watcher = Watcher()
        self.selected = 0
        self.skipped: list[str] = []

    def pytest_collection_modifyitems(self, config, items):
        keep = [item for item in items if wants_v2(item)]
        drop = [item for item in items if not wants_v2(item)]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        self.selected = len(keep)

    def pytest_sessionstart(self, session):
        self.watcher.start()

    def pytest_runtest_logreport(self, report):
        if report.skipped:
            self.skipped.append(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.watcher.sample()
        self.watcher.done.set()
        if self.skipped or self.selected == 0:
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        write = terminalreporter.write_line
        write(f"cgroup v2 tests selected: {self.selected}")
        if self.selected == 0:
            write("FAIL: no test is marked needs('cgroup_v2'): the VM proved nothing")
        for nodeid in self.skipped:
            write(f"FAIL: skipped inside the cgroup v2 VM: {nodeid}")
        used = sorted(self.watcher.seen)
        write("cgroup v2 controllers enabled by the tests' cgroups: " + (" ".join(used) or "none"))
        for controller in used:
            write(f"  {controller}: first seen in {self.watcher.where[controller]}/cgroup.subtree_control")


def pytest_configure(config):
    config.pluginmanager.register(V2Only(), "cgroup-v2-only")
