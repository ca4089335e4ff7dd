"""The tracker's records and its refusal to touch anything that is not the lab's."""

import json
import os
import time

import pytest

from labcore import CleanupError, kernel, tracker


@pytest.fixture
def trk(state_dir):
    return tracker.Tracker()


def test_records_are_written_before_and_removed_after(trk, tmp_path):
    target = trk.root / "scratch"
    rec = trk.add("path", target)
    data = json.loads(rec.file.read_text())
    assert data["kind"] == "path" and data["target"] == str(target) and data["owner"] == os.getpid()
    assert [r.target for r in trk.records()] == [str(target)]
    target.mkdir(parents=True)
    assert trk.undo(rec) == "removed"
    assert not target.exists() and trk.records() == []


def test_created_rolls_back_when_creation_fails(trk):
    target = trk.root / "half-made"
    with pytest.raises(RuntimeError):
        with trk.created("path", target):
            target.mkdir(parents=True)
            raise RuntimeError("failed half-way")
    assert not target.exists()
    assert trk.records() == []


def test_created_keeps_the_record_on_success(trk):
    target = trk.root / "kept"
    with trk.created("path", target) as rec:
        target.mkdir(parents=True)
    assert trk.records()[0].target == str(target)
    trk.undo(rec)


def test_track_undoes_at_the_end_of_the_block(trk):
    target = trk.root / "temporary"
    with trk.track("path", target):
        target.mkdir(parents=True)
    assert not target.exists() and trk.records() == []


def test_cleanup_is_idempotent_and_orders_processes_before_paths(trk):
    (trk.root / "a").mkdir(parents=True)
    trk.add("path", trk.root / "a")
    trk.add("process", 999999999, start_time=1)  # no such PID
    done = trk.cleanup()
    assert [r.kind for r, _ in done] == ["process", "path"]
    assert [o for _, o in done] == ["already gone", "removed"]
    assert trk.cleanup() == []


@pytest.mark.parametrize("kind,target,extra", [
    ("path", "/etc", {}),
    ("mount", "/home", {}),
    ("cgroup", "/sys/fs/cgroup/pids/system.slice", {}),
    ("netns", "host-ns", {}),
])
def test_undo_refuses_objects_without_the_lab_prefix(trk, kind, target, extra):
    trk.add(kind, target, **extra)
    with pytest.raises(CleanupError, match="refusing"):
        trk.cleanup()


def test_a_recycled_pid_is_not_killed(trk):
    me = os.getpid()
    rec = trk.add("process", me, start_time=tracker.process_start_time(me) + 1)
    assert trk.undo(rec).startswith("already gone (PID reused")


def test_process_start_time_survives_odd_command_names():
    # A command name may hold spaces and parentheses: "a) b (c" must not shift the fields.
    before = tracker.process_start_time(os.getpid())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        kernel.default().set_name("a) 1 2 (c")
        os.write(w, b"x")
        time.sleep(30)
        os._exit(0)
    os.close(w)
    try:
        os.read(r, 1)
        assert open(f"/proc/{pid}/comm").read().strip() == "a) 1 2 (c"
        started = tracker.process_start_time(pid)
        assert before <= started <= before + 100 * 3600  # clock ticks since boot, a little after ours
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(r)
    assert tracker.process_start_time(999999999) is None


def test_is_lab_path(state_dir):
    assert tracker.is_lab_path(str(state_dir / "x"))
    assert not tracker.is_lab_path("/run/netns/lab-a")  # a netns name is judged by the netns undo
    assert not tracker.is_lab_path("/run/netns/a")
    assert not tracker.is_lab_path("/lab-root")


def test_path_undo_never_descends_into_a_mount(trk, monkeypatch):
    target = trk.root / "with-mount"
    target.mkdir(parents=True)
    monkeypatch.setattr(tracker.paths, "mounts_under", lambda p: [str(target / "m")])
    rec = trk.add("path", target)
    with pytest.raises(CleanupError, match="still mounted"):
        trk.undo(rec)
    assert target.exists()


def test_a_kind_is_refused_when_no_module_undoes_it(trk):
    with pytest.raises(ValueError, match="no undo known"):
        trk.add("lab-no-such-kind", "lab-x")


def test_cleanup_loads_the_module_that_undoes_a_kind():
    # A fresh interpreter, as `labcore cleanup` after a crash: no module that creates mounts,
    # cgroups or netns is loaded yet, and each undo must still be found.
    import subprocess
    import sys
    script = ("import labcore.tracker as t; loaded = set(t.UNDO); "
              "print(sorted(k for k in t.KINDS if k not in loaded), [t.undo_for(k).order for k in sorted(t.KINDS)])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("] ")
    assert out[0] + "]" == str(sorted(set(tracker.KINDS) - {"path"}))
    assert out[1].strip() == str([tracker.undo_for(k).order for k in sorted(tracker.KINDS)])
