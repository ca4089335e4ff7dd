"""Cleanup undoes only what the lab created (issue #11): each rule, without root."""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labcore import CleanupError, LabError, tracker
from labcore.fs import scratch
from labcore.fs.mounts import unmount_recorded
from labcore.cgroups.base import rmdir_recorded


@pytest.fixture
def trk(state_dir):
    return tracker.Tracker()


def _write_record(trk, name, data):
    trk.objects.mkdir(parents=True, exist_ok=True)
    path = trk.objects / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _sleeper():
    """A child that sleeps (our own process: killing it harms nobody)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    while tracker.process_start_time(proc.pid) is None:
        time.sleep(0.01)
    return proc


# --- 1. every target is normalised and resolved before it is judged ----------------------

def test_dot_dot_in_a_path_target_is_refused(trk, tmp_path):
    trk.root.mkdir(parents=True)
    rec = trk.add("path", f"{trk.root}/../../lab-escaped")
    victim = tmp_path.parent / "lab-escaped"
    with pytest.raises(CleanupError, match="refusing"):
        trk.undo(rec)
    assert not victim.exists()


def test_dot_dot_in_a_cgroup_target_is_refused(trk):
    rec = trk.add("cgroup", "/sys/fs/cgroup/labcore/../system.slice/x")
    with pytest.raises(CleanupError, match="refusing"):
        rmdir_recorded(rec)
    rec = trk.add("cgroup", "/proc/sys/../../sys/fs/cgroup/pids/labcore/x")
    with pytest.raises(CleanupError, match="refusing"):
        rmdir_recorded(rec)


def test_a_symlink_planted_in_the_state_dir_is_not_followed(trk, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me")
    (outside / "mnt").mkdir()
    trk.root.mkdir(parents=True)
    (trk.root / "evil").symlink_to(outside)
    for kind, name in (("path", "victim"), ("mount", "mnt")):
        rec = trk.add(kind, trk.root / "evil" / name)
        with pytest.raises(CleanupError, match="refusing"):
            trk.undo(rec)
        assert trk.records()[-1].target == rec.target  # the record stays for a person to look at
    assert (outside / "victim").read_text() == "keep me"
    with pytest.raises(CleanupError, match="refusing"):
        unmount_recorded(tracker.Record("mount", "/proc/sys/../../etc/x", {"mount_id": 1}))


# --- 2. a lab path is one under the lab's own directories --------------------------------

def test_lab_paths_are_the_lab_directories_only(state_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("LABCORE_DATA_DIR", raising=False)
    assert scratch.data_dir() == scratch.default_data_dir()
    # The lab's own directory, never /var/tmp itself: root's on the disk, a user's in its private state dir.
    assert scratch.data_dir() == (Path("/var/tmp/labcore") if os.geteuid() == 0 else state_dir / "data")
    assert tracker.is_lab_path(str(state_dir / "x"))
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path / "data"))
    assert tracker.is_lab_path(str(tmp_path / "data" / "lab-big-1"))
    assert not tracker.is_lab_path(str(tmp_path / "home" / "lab-notes"))  # someone's own directory
    assert not tracker.is_lab_path("/var/tmp/lab-data-1")
    assert not tracker.is_lab_path("/run/netns/lab-a")  # the netns undo judges its own names
    assert not tracker.is_lab_path("/lab-root")
    monkeypatch.setenv("LABCORE_CACHE", str(tmp_path / "cache"))
    assert tracker.is_lab_path(str(tmp_path / "cache" / "test-vm" / "lab-test-vm-disk-1.img"))
    assert not tracker.is_lab_path(str(tmp_path / "cache" / "test-vm" / "rootfs"))  # the cache itself stays


def test_a_path_record_for_lab_notes_in_a_home_is_refused(trk, tmp_path):
    notes = tmp_path / "home" / "lab-notes"
    notes.mkdir(parents=True)
    rec = trk.add("path", notes)
    with pytest.raises(CleanupError, match="refusing"):
        trk.undo(rec)
    assert notes.is_dir()


# --- 3. processes: a start time, and a pidfd ---------------------------------------------

def test_a_process_record_needs_a_start_time(trk):
    with pytest.raises(ValueError, match="start_time"):
        trk.add("process", os.getpid())


def test_a_process_record_without_a_start_time_is_refused(trk):
    proc = _sleeper()
    try:
        _write_record(trk, "1-1-process.json", {"kind": "process", "target": str(proc.pid), "extra": {},
                                                 "owner": 1, "seq": 1})
        with pytest.raises(CleanupError, match="refusing"):
            trk.cleanup(force=True)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_process_is_killed_through_a_pidfd_when_its_start_time_matches(trk):
    proc = _sleeper()
    try:
        wrong = trk.add("process", proc.pid, start_time=tracker.process_start_time(proc.pid) + 1)
        assert trk.undo(wrong).startswith("already gone")
        assert proc.poll() is None
        start = tracker.process_start_time(proc.pid)
        rec = trk.add("process", proc.pid, start_time=start)
        assert trk.undo(rec) == "killed"
        assert not tracker.is_running(proc.pid, start)
    finally:
        proc.kill()
        proc.wait()


def test_terminate_sends_sigterm_only_to_the_process_that_started_then(trk):
    from labcore.ns.kill import terminate
    proc = _sleeper()
    try:
        start = tracker.process_start_time(proc.pid)
        terminate(proc.pid, start + 1, timeout=0.2)  # another process's start time: left alone
        assert proc.poll() is None
        terminate(proc.pid, start, timeout=5)
        assert proc.poll() == -15  # it had exited of SIGTERM when terminate returned
        terminate(proc.pid, start, timeout=0.2)  # gone: nothing to do
    finally:
        proc.kill()
        proc.wait()


# --- 5. the state directory is the user's own --------------------------------------------

def test_a_state_dir_others_can_write_is_refused(state_dir):
    state_dir.mkdir()
    state_dir.chmod(0o777)
    with pytest.raises(LabError, match="state directory") as exc:
        tracker.Tracker().add("path", state_dir / "x")
    assert "chmod" in exc.value.fix or "remove" in exc.value.fix
    assert not (state_dir / "objects").exists()


@pytest.mark.needs("root")  # to give a directory away
def test_a_state_dir_owned_by_another_user_is_refused(state_dir):
    state_dir.mkdir(mode=0o700)
    os.chown(state_dir, 65534, 65534)
    with pytest.raises(LabError, match="owned by"):
        tracker.Tracker().add("path", state_dir / "x")


def test_a_state_dir_that_is_a_symlink_is_refused(state_dir, tmp_path):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    state_dir.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LabError, match="symlink"):
        tracker.Tracker().records()


def test_an_unprivileged_state_dir_is_private_and_not_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run-user"))
    (tmp_path / "run-user").mkdir(mode=0o700)
    assert tracker.user_state_dir() == tmp_path / "run-user" / "labcore"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert tracker.user_state_dir() == tmp_path / "home" / ".cache" / "labcore"
    monkeypatch.setenv("LABCORE_STATE_DIR", str(tracker.user_state_dir()))
    tracker.Tracker().add("path", tracker.user_state_dir() / "x")
    mode = stat.S_IMODE(os.stat(tracker.user_state_dir()).st_mode)
    assert mode == (0o700 if os.geteuid() != 0 else 0o755)  # root's stays traversable for user namespaces


# --- 6. a malformed record is reported and skipped ---------------------------------------

BAD = {"empty.json": "", "text.json": "not json", "list.json": "[1, 2]",
       "types.json": {"kind": "path", "target": 7, "extra": {}, "owner": 1, "seq": 1},
       "missing.json": {"kind": "path"}, "truncated.json": '{"kind": "path", "tar'}


def test_malformed_records_are_skipped_and_named(trk):
    (trk.root / "good").mkdir(parents=True)
    trk.add("path", trk.root / "good")
    for name, data in BAD.items():
        _write_record(trk, name, data)
    with pytest.raises(CleanupError) as exc:
        trk.cleanup()
    for name in BAD:
        assert name in exc.value.what
    assert not (trk.root / "good").exists()  # the rest was done
    assert [r for r, _ in exc.value.outcome] and exc.value.outcome[0][1] == "removed"


def test_labcore_cleanup_exits_non_zero_naming_skipped_files(trk, capsys):
    from labcore import cli
    (trk.root / "good").mkdir(parents=True)
    trk.add("path", trk.root / "good")
    _write_record(trk, "0-1-path.json", "{")
    assert cli.main(["cleanup"]) != 0
    out, err = capsys.readouterr()
    assert "removed" in out and "0-1-path.json" in err
    assert not (trk.root / "good").exists()


# --- 7. "already exists" is never rolled back --------------------------------------------

def test_an_object_that_already_existed_is_not_undone(trk):
    theirs = trk.root / "theirs"
    theirs.mkdir(parents=True)
    (theirs / "data").write_text("someone's")
    with pytest.raises(FileExistsError):
        with trk.created("path", theirs) as rec:
            try:
                theirs.mkdir()
            except FileExistsError:
                rec.not_mine()
                raise
    assert (theirs / "data").read_text() == "someone's"
    assert trk.records() == []


# --- 8. a kept object keeps its record ---------------------------------------------------

def test_an_undo_that_keeps_the_object_keeps_the_record(trk, monkeypatch):
    @tracker.undoes("test-kept", order=90)
    def keep(rec):
        return "kept: still in use"
    monkeypatch.setitem(tracker.KINDS, "test-kept", __name__)
    try:
        rec = trk.add("test-kept", "x")
        assert trk.undo(rec).startswith("kept")
        assert [r.target for r in trk.records()] == ["x"]
    finally:
        del tracker.UNDO["test-kept"]


# --- 9. objects of a live owner are spared -----------------------------------------------

def test_cleanup_spares_objects_whose_owner_is_alive_unless_forced(trk, capsys):
    owner = _sleeper()
    try:
        (trk.root / "a").mkdir(parents=True)
        rec = trk.add("path", trk.root / "a")
        data = json.loads(rec.file.read_text())
        data.update(owner=owner.pid, owner_start=tracker.process_start_time(owner.pid))
        rec.file.write_text(json.dumps(data))
        # Its owner's PID, but another start time: a recycled PID, so the owner is dead.
        (trk.root / "b").mkdir()
        rec2 = trk.add("path", trk.root / "b")
        data2 = dict(json.loads(rec2.file.read_text()), owner=owner.pid, owner_start=data["owner_start"] + 1)
        rec2.file.write_text(json.dumps(data2))

        done = trk.cleanup()
        assert [r.target for r, _ in done] == [str(trk.root / "b")]
        assert [r.target for r in done.spared] == [str(trk.root / "a")]
        assert (trk.root / "a").is_dir()

        from labcore import cli
        assert cli.main(["cleanup"]) == 0
        assert "spared" in capsys.readouterr().out and (trk.root / "a").is_dir()
        assert cli.main(["cleanup", "--force"]) == 0
        assert not (trk.root / "a").exists()
    finally:
        owner.kill()
        owner.wait()


def test_records_name_their_owner_start_time(trk):
    rec = trk.add("path", trk.root / "x")
    data = json.loads(rec.file.read_text())
    assert data["owner_start"] == tracker.process_start_time(os.getpid())
