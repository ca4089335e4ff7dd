"""Cleanup undoes only what the lab created (issue #11), on real mounts and cgroups."""

import os
import subprocess

import pytest

from labcore import CleanupError, cgroups, kernel, tracker
from labcore.cgroups.base import LAB
from labcore.proc.mountinfo import find

pytestmark = pytest.mark.needs("root")


def _tmpfs(point):
    kernel.default().mount("lab-tmpfs", str(point), "tmpfs")


def test_a_mount_is_undone_only_if_it_is_the_recorded_one(state_dir):
    trk = tracker.default()
    point = state_dir / "mnt"
    with trk.created("path", point) as dir_rec:
        point.mkdir(parents=True)
    with trk.created("mount", point) as rec:
        _tmpfs(point)
    assert rec.extra["mount_id"] == find(str(point)).mount_id  # recorded once mounted
    _tmpfs(point)  # someone else's mount on top of ours
    try:
        with pytest.raises(CleanupError, match="refusing"):
            trk.undo(rec)
        assert find(str(point)).fstype == "tmpfs"
    finally:
        kernel.default().umount2(str(point), 0)  # theirs
    assert trk.undo(rec) == "unmounted"
    assert find(str(point)) is None
    trk.undo(dir_rec)


def test_a_mount_record_whose_mount_went_is_not_used_on_a_new_one(state_dir):
    trk = tracker.default()
    point = state_dir / "mnt"
    point.mkdir(parents=True)
    with trk.created("mount", point) as rec:
        _tmpfs(point)
    kernel.default().umount2(str(point), 0)
    kernel.default().mount("lab-other", str(point), "ramfs")  # a new mount in its place
    try:
        assert trk.undo(rec).startswith("already unmounted")
        assert find(str(point)).fstype == "ramfs"
    finally:
        kernel.default().umount2(str(point), 0)


def test_a_cgroup_goes_with_the_sub_groups_made_inside_it(state_dir):
    with cgroups.create("lab-safety-sub", pids=50) as cg:
        group = cg.directories()[-1]
        deep = group / "learner" / "deeper"
        deep.mkdir(parents=True)
        sleeper = subprocess.Popen(["sleep", "600"])
        start = tracker.process_start_time(sleeper.pid)
        (deep / "cgroup.procs").write_text(str(sleeper.pid))
    try:
        assert not group.exists()
        assert not tracker.is_running(sleeper.pid, start)  # killed (and reaped: it was our child)
        assert not [r for r in tracker.default().records() if r.target.endswith("lab-safety-sub")]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_group_made_by_someone_else_meanwhile_is_never_removed(state_dir):
    backend = cgroups.backend()

    class Racy(backend):
        def _make(self):
            # Another kernel makes the same group between the check and our mkdir.
            for d in self.directories():
                os.makedirs(d)
            super()._make()

    made = []
    try:
        with pytest.raises(Exception, match="already exists"):
            g = Racy.create("lab-safety-race", cgroups.limits.parse(), cgroups._root(None))
            made.append(g)
        others = Racy.plan_paths("lab-safety-race", cgroups._root(None)).values()
        assert all(p.is_dir() for p in others)  # theirs: still there
        assert not [r for r in tracker.default().records() if "lab-safety-race" in r.target]
    finally:
        for p in dict.fromkeys(Racy.plan_paths("lab-safety-race", cgroups._root(None)).values()):
            if p.is_dir():
                p.rmdir()
            parent = p.parent
            if parent.name == LAB and parent.is_dir() and not any(c.is_dir() for c in parent.iterdir()):
                parent.rmdir()
