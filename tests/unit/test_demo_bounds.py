"""No demo can exhaust the host (#11): captured output, workload durations, the fork bomb's guard,
the tiny VM's share of the host, and where writable layers live. No root, no process started."""

import os
import select
import threading

import pytest

from labcore.errors import InvalidInputError
from labcore.ns import process


class Chatty:
    """A stand-in for a running container that prints ``pattern`` forever on stdout, until killed.

    Only pipes and a thread: the output side of ``_communicate`` is what is tested.
    """

    argv = ["yes"]
    _result_fd = -1

    def __init__(self, total: int | None = None, stderr: bytes = b"a warning\n"):
        out_r, self._out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.stdout, self.stderr = os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb")
        self.total, self.killed, self.returncode, self.sigkill = total, threading.Event(), None, False
        os.write(err_w, stderr)
        os.close(err_w)
        self.written = 0
        self._thread = threading.Thread(target=self._print, daemon=True)
        self._thread.start()

    def _print(self):
        line = b"y" * 4095 + b"\n"
        try:
            while not self.killed.is_set() and (self.total is None or self.written < self.total):
                # Write only when the pipe has room: a write blocked on a full pipe would never see
                # kill() (nobody reads after it), and wait() would join this thread forever.
                if select.select([], [self._out_w], [], 0.05)[1]:
                    self.written += os.write(self._out_w, line)
        except BrokenPipeError:
            pass
        os.close(self._out_w)

    def kill(self):
        self.sigkill = True
        self.killed.set()
        self.returncode = 137

    def wait(self, timeout=None):
        self._thread.join()
        return self.returncode if self.returncode is not None else 0

    def close(self):
        self.killed.set()
        self.stdout.close()
        self.stderr.close()


def test_output_of_a_command_printing_forever_is_cut_and_the_command_killed():
    proc = Chatty()
    try:
        out, err = process._communicate(proc, timeout=30, keep=1 << 20, bound=4 << 20)
    finally:
        proc.close()
    assert proc.sigkill and proc.output_cut
    assert out.startswith("y" * 4095 + "\n")
    assert len(out) < (1 << 20) + 200  # the first MiB, and a line saying so
    assert out.endswith("[labcore: output cut after the first 1 MiB: it wrote more than 4 MiB, so it was killed]\n")
    assert err == "a warning\n"


def test_output_past_what_is_kept_but_under_the_bound_is_read_to_the_end_and_marked():
    proc = Chatty(total=2 << 20)
    try:
        out, _ = process._communicate(proc, timeout=30, keep=1 << 20, bound=4 << 20)
    finally:
        proc.close()
    assert proc.output_cut and not proc.sigkill
    assert "output cut after the first 1 MiB: 1 MiB more were read and dropped" in out


def test_short_output_is_untouched_and_the_default_bounds_are_sane():
    proc = Chatty(total=8192)
    try:
        out, err = process._communicate(proc, timeout=30)
    finally:
        proc.close()
    assert out == ("y" * 4095 + "\n") * 2 and not proc.output_cut and err == "a warning\n"
    assert 1 << 20 <= process.MAX_OUTPUT <= process.MAX_READ <= 256 << 20
    assert process.Result(["yes"], 137, "", "", 1, cut=True).__repr__() == "<Result 'yes': exit 137, output cut>"


def test_output_bounds_must_be_in_order():
    proc = Chatty(total=0)
    try:
        with pytest.raises(InvalidInputError, match="out of order"):
            process._communicate(proc, timeout=5, keep=10, bound=5)
    finally:
        proc.close()


# --- workloads: durations, and the fork bomb's guard ------------------------------------

from fakecgroup import FakeCgroupFS  # noqa: E402

from labcore import cgroups  # noqa: E402
from labcore.cgroups import limits as L  # noqa: E402
from labcore.teach import payload  # noqa: E402
from labcore.teach import workloads as W  # noqa: E402


@pytest.fixture
def some_ram(monkeypatch):
    monkeypatch.setattr(L, "ram_bytes", lambda *a, field="MemTotal", **k: 0 if field == "SwapTotal" else 8 << 30)


@pytest.mark.parametrize("kwargs, named", [
    ({"hold": 1e9}, "hog hold 1000000000.0"), ({"hold": -1}, "hog hold -1"), ({"pause": 3600}, "hog pause 3600"),
    ({"pause": float("nan")}, "hog pause nan"), ({"hold": "forever"}, "hog hold 'forever'"),
    ({"total": "256M", "step": "1M", "pause": 1}, "hog pause 1.0 x 256 steps"),
])
def test_a_hog_refuses_absurd_pauses_and_holds(some_ram, kwargs, named):
    with pytest.raises(InvalidInputError, match=named):
        W.hog(**kwargs)
    assert W.hog("64M", pause=0, hold=W.MAX_SECONDS)[-2:] == ["0.0", "120.0"]


@pytest.mark.parametrize("argv", [["busy", "100000.0"], ["hog", "1", "1", "0.05", "100000.0"],
                                  ["hog", "1", "1", "3600.0", "0.5"], ["hog", "100000", "1", "0.5", "0.5"],
                                  ["bomb", "100000.0"], ["read", "/nonexistent", "100000.0"],
                                  ["cache", "/nonexistent", "100000.0"]])
def test_the_payload_refuses_absurd_durations_before_doing_anything(argv, monkeypatch):
    def started(*args):
        pytest.fail(f"payload {argv} started working")  # (a BaseException: no `except OSError` hides it)
    for name in ("monotonic", "sleep"):
        monkeypatch.setattr(payload.time, name, started)
    monkeypatch.setattr(payload.os, "fork", started)
    with pytest.raises(SystemExit, match="out of range"):
        payload.main(argv)
    assert payload.MAX_SECONDS == W.MAX_SECONDS and payload.MAX_PAUSE == W.MAX_PAUSE
    assert payload.MAX_BOMB_PIDS == W.MAX_BOMB_PIDS


def fake_proc(tmp_path, cgroup_lines, mount_lines):
    (tmp_path / "cgroup").write_text("".join(line + "\n" for line in cgroup_lines))
    (tmp_path / "mountinfo").write_text("".join(line + "\n" for line in mount_lines))
    return str(tmp_path / "cgroup"), str(tmp_path / "mountinfo")


def test_the_bomb_reads_its_own_groups_pids_max_on_v1_and_v2(tmp_path):
    fs = tmp_path / "fs"
    (fs / "pids/labcore/lab-bomb").mkdir(parents=True)
    (fs / "pids/labcore/lab-bomb/pids.max").write_text("20\n")
    (fs / "unified/labcore/lab-x").mkdir(parents=True)
    (fs / "unified/labcore/lab-x/pids.max").write_text("max\n")
    v1 = fake_proc(tmp_path, ["8:pids:/labcore/lab-bomb", "1:cpu,cpuacct:/", "0::/"],
                   [f"39 31 0:36 / {fs}/pids rw,relatime - cgroup cgroup rw,pids",
                    f"41 31 0:38 / {fs}/unified rw,relatime - cgroup2 cgroup2 rw"])
    assert payload.pids_max(*v1) == "20"
    v2 = fake_proc(tmp_path, ["0::/labcore/lab-x"], [f"41 31 0:38 / {fs}/unified rw - cgroup2 cgroup2 rw"])
    assert payload.pids_max(*v2) == "max"
    # A cgroup namespace: the mount shows a directory above the group's root, which cannot be found here.
    hidden = fake_proc(tmp_path, ["0::/"], [f"41 31 0:38 /../.. {fs}/unified rw - cgroup2 cgroup2 rw"])
    assert payload.pids_max(*hidden) is None
    (fs / "sub/lab-x").mkdir(parents=True)  # a mount of the labcore directory only
    (fs / "sub/lab-x/pids.max").write_text("30\n")
    part = fake_proc(tmp_path, ["0::/labcore/lab-x"], [f"41 31 0:38 /labcore {fs}/sub rw - cgroup2 cgroup2 rw"])
    assert payload.pids_max(*part) == "30"


@pytest.mark.parametrize("found, allowed", [(None, 20), ("max", 20), ("500", 200), ("50", 20), ("0", 20)])
def test_the_bomb_refuses_to_fork_unless_its_pids_limit_is_in_place(monkeypatch, found, allowed):
    monkeypatch.setattr(payload, "pids_max", lambda *a: found)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("the bomb forked"))
    with pytest.raises(SystemExit, match=f"refusing to fork: this process's cgroup has pids.max {found or 'unreadable'}"):
        payload.bomb(1, allowed)


class Group:
    name, owned = "lab-bomb", True

    def __init__(self, pids):
        self.limits = L.Limits(pids=pids)


def test_fork_bomb_tells_the_bomb_the_limit_and_marks_the_group():
    group = Group(20)
    assert W.fork_bomb(group, 2)[-3:] == ["bomb", "2.0", "20"]
    assert group.fork_bomb is True


def test_raising_pids_is_refused_while_a_fork_bomb_runs(tmp_path, monkeypatch, state_dir, some_ram):
    fs = FakeCgroupFS(tmp_path / "cgroup", "v2").install(monkeypatch)
    with cgroups.create("lab-bomb", root=fs.root, pids=20) as group:
        W.fork_bomb(group, 3)
        fs.set("labcore/lab-bomb/cgroup.procs", "4242\n4243\n")  # the bomb runs
        for raised in (21, 100, "max"):
            with pytest.raises(InvalidInputError, match=f"pids {raised!r}: a fork bomb runs in cgroup lab-bomb"):
                group.set(pids=raised)
        assert fs.get("labcore/lab-bomb/pids.max").strip() == "20" and group.limits.pids == 20
        group.set(pids=10, cpus=0.5)  # lowering it, or another limit, is fine
        assert fs.get("labcore/lab-bomb/pids.max").strip() == "10"
        fs.set("labcore/lab-bomb/cgroup.procs", "")  # it ended
        group.set(pids=100)
        assert group.limits.pids == 100


def test_a_containers_writable_layer_goes_on_disk_by_default():
    import inspect

    from labcore.fs import overlay
    assert inspect.signature(overlay.container_layer).parameters["on_disk"].default is True
