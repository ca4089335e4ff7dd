"""The C spawn helper (labcore/kernel/nsexec.c): same container as the Python path, without forking Python."""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labcore as lab
import leakcheck
from labcore import pidns, process
from labcore.ns import helper as nsexec_road
from labcore.kernel import flags as F

pytestmark = pytest.mark.needs("root")

FIVE = ("pid", "mnt", "uts", "ipc", "net")


def test_make_setup_built_the_helper_and_spawns_do_not_fork_python(monkeypatch):
    assert lab.doctor.has("nsexec"), lab.doctor.why_not("nsexec")

    def no_fork():
        raise AssertionError("os.fork called")
    monkeypatch.setattr(os, "fork", no_fork)
    done = lab.run(["sh", "-c", "echo $$; hostname; set -- /proc/[0-9]*; echo $#"], FIVE, hostname="box")
    assert done.stdout.split() == ["1", "box", "1"]  # PID 1, its hostname, its own /proc (a glob forks nothing)
    # The same guard does catch the Python road, so the run above really went through the helper.
    with pytest.raises(AssertionError, match="os.fork"):
        lab.run(["true"], FIVE, via="python")
    monkeypatch.undo()
    with lab.spawn(["true"], FIVE) as proc:
        assert proc.via == "helper" and "via helper" in repr(proc)


def test_via_helper_says_why_it_cannot(monkeypatch, tmp_path):
    with pytest.raises(lab.LabError, match="only the Python road") as info:
        lab.spawn(["true"], ("user", "pid"), via="helper")
    assert "via='python'" in info.value.fix
    with pytest.raises(lab.InvalidInputError, match="not a road"):
        lab.spawn(["true"], FIVE, via="fork")
    with lab.spawn(["true"], ("user", "pid")) as proc:  # left to labcore: the road that can
        assert proc.via == "python" and proc.wait(timeout=10) == 0
    monkeypatch.setattr(nsexec_road, "NSEXEC", tmp_path / "nsexec")
    with pytest.raises(lab.LabError, match="is not built") as info:
        lab.spawn(["true"], FIVE, via="helper")
    assert "sudo make setup" in info.value.fix
    with lab.spawn(["true"], FIVE) as proc:
        assert proc.via == "python" and proc.wait(timeout=10) == 0


def test_plans_it_cannot_carry_out_go_the_python_way():
    simple = lab.namespaces.plan(FIVE, hostname="box")
    assert nsexec_road.can_start(simple)
    for p in (lab.namespaces.plan(("user", "pid")), lab.namespaces.plan(("time",), time_offsets={"boottime": 5}),
              lab.namespaces.plan_clone(FIVE)):
        assert not nsexec_road.can_start(p)
    assert lab.run(["cat", "/proc/self/uid_map"], ("user", "pid")).stdout.split() == ["0", "100000", "65536"]


def test_pid1_is_our_own_child_and_the_helper_is_reaped(spawn_path):
    with lab.spawn(["sleep", "600"], FIVE, via=spawn_path) as box:
        assert box.via == spawn_path
        assert pidns.status(box.pid)["PPid"] == str(os.getpid())  # CLONE_PARENT: ours, not the helper's
        assert box.shim_pid is None
        assert pidns.census_when(box.pid, lambda c: len(c) == 1 and c.settled()).by_pid(1).name == "sleep"
        mine = Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()
        assert mine == [str(box.pid)]  # no helper left behind, not even as a zombie
        box.send_signal(signal.SIGKILL)
        assert box.wait(timeout=5) == 137


# Started by posix_spawn(3), as make starts commands: glibc leaves its signals 32 and 33 ignored in it.
SIGNALS = textwrap.dedent("""
    import sys
    from pathlib import Path
    import labcore as lab
    mine = Path("/proc/self/status").read_text().split("SigIgn:")[1].split()[0]
    theirs = lab.run(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"], ("pid", "mnt", "uts", "ipc", "net"),
                     via=sys.argv[1])
    print(mine, *theirs.stdout.split())
""")


def test_the_command_starts_with_default_signals_and_only_stdio(spawn_path):
    r, w = os.pipe()
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", SIGNALS, spawn_path], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
    os.close(w)
    with os.fdopen(r) as out:
        ours, *status = out.read().split()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert int(ours, 16) & (1 << 31) and int(ours, 16) & (1 << 12)  # 32 ignored, and Python's SIGPIPE (13)
    assert status == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]  # the command: none ignored, none blocked
    leaked = os.open("/dev/null", os.O_RDONLY)  # inheritable: a careless spawn would pass it on
    os.set_inheritable(leaked, True)
    try:
        fds = lab.run(["ls", "/proc/self/fd"], FIVE, via=spawn_path).stdout.split()
    finally:
        os.close(leaked)
    assert fds == ["0", "1", "2", "3"]  # 3 is ls's own directory handle


def test_signals_the_caller_ignored_are_not_passed_on(spawn_path):
    # nohup ignores SIGHUP, a shell's background job SIGINT and SIGQUIT: a container must not inherit them.
    done = subprocess.run(["sh", "-c", 'trap "" HUP INT QUIT; exec "$0" -c "$1" "$2"', sys.executable, SIGNALS,
                           spawn_path], capture_output=True, text=True, check=True)
    ours, *status = done.stdout.split()
    assert int(ours, 16) & 0b111 == 0b111  # the lab's own process has HUP, INT and QUIT ignored
    assert status == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


def test_environment_exit_status_and_errors(spawn_path, tmp_path, state_dir):
    env = {"PATH": "/usr/bin:/bin", "LAB_X": "42"}
    assert lab.run(["sh", "-c", "echo $LAB_X"], FIVE, env=env, via=spawn_path).stdout == "42\n"
    assert lab.run(["sh", "-c", "exit 7"], ("pid",), via=spawn_path).returncode == 7
    with pytest.raises(lab.CommandNotFoundError, match="command not found: 'no-such-command-lab'"):
        lab.run(["no-such-command-lab"], FIVE, via=spawn_path)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(lab.CommandNotFoundError, match="Permission denied"):
        lab.run([str(script)], FIVE, via=spawn_path)
    assert lab.tracker.default().records() == []


def test_a_broken_helper_is_explained_and_leaks_no_descriptor(monkeypatch, tmp_path):
    broken = tmp_path / "nsexec"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    monkeypatch.setattr(nsexec_road, "NSEXEC", broken)
    fds = os.listdir("/proc/self/fd")
    with pytest.raises(lab.LabError, match="cannot start the spawn helper") as info:
        lab.run(["true"], FIVE)
    assert "make setup" in info.value.fix and os.listdir("/proc/self/fd") == fds


def test_a_refused_unshare_is_explained_and_leaves_nothing(spawn_path, state_dir):
    bad = lab.namespaces.Plan(unshare=0x1)  # a bit of clone's exit-signal byte: unshare(2) says EINVAL
    with pytest.raises(lab.UnsupportedError, match="this kernel refuses it"):
        process._start(bad, ["true"], ("pid",), True, None, via=spawn_path)
    assert lab.tracker.default().records() == []
    assert Path(f"/proc/self/task/{os.getpid()}/children").read_text().split() == []


def helper(args: list[str], prefix: list[str] = (), gate: bool = False):
    """Start nsexec by hand, as labcore/ns/helper.py does: reports on descriptor 4, the gate (if any) on 3.

    Returns the helper's PID, the report pipe, and the gate's write end (or None).
    """
    rep_r, rep_w = os.pipe()
    gate_r, gate_w = os.pipe() if gate else (None, None)
    inherit = [(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10), target) for fd, target in ((rep_w, 4), (gate_r, 3))
               if fd is not None]  # above the targets, so that no dup2 overwrites a later source
    argv = [*prefix, str(nsexec_road.NSEXEC), *args]
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, fd, t) for fd, t in inherit])
    for fd in (rep_w, gate_r, *(fd for fd, _ in inherit)):
        if fd is not None:
            os.close(fd)
    return pid, os.fdopen(rep_r), gate_w


def test_the_helper_reports_by_errno_and_stage():
    # Not root: unshare(CLONE_NEWPID) is refused (EPERM), and the report says so.
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    pid, reports, _ = helper([str(F.CLONE_NEWPID), "0", "0", "", "true"], nobody)
    assert reports.read() == "error 1 unshare\n" and os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 126
    pid, reports, _ = helper(["12x", "0", "0", "", "true"])
    assert reports.read() == "error 22 arguments\n" and os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 2


def test_without_the_gate_pid1_exits_and_runs_nothing(tmp_path):
    """What happens when the parent dies between the helper's report and the gate: EOF, exit 1."""
    marker = tmp_path / "ran"
    pid, reports, gate = helper([str(F.CLONE_NEWPID | F.CLONE_NEWNS), str(F.MS_REC | F.MS_PRIVATE), "1", "",
                                 "touch", str(marker)], gate=True)
    with reports:
        word, first = reports.readline().split()
        assert word == "pid" and os.waitpid(pid, 0)[1] == 0  # the helper itself is done
        os.close(gate)  # as if we had been killed before recording PID 1
        _, status = os.waitpid(int(first), 0)  # CLONE_PARENT made PID 1 our child
        assert os.waitstatus_to_exitcode(status) == 1 and reports.read() == ""
    assert not marker.exists()


def test_killed_before_the_gate_leaves_nothing_behind(state_dir):
    """The whole Python side killed right after the helper's report: PID 1 must not outlive it."""
    before = leakcheck.snapshot()
    holder = textwrap.dedent("""
        import os, signal
        import labcore as lab
        lab.tracker.Tracker.add = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        lab.spawn(["sleep", "600"])
    """)
    done = subprocess.run([sys.executable, "-c", holder], capture_output=True, text=True, timeout=30)
    assert done.returncode == -signal.SIGKILL
    pidns.wait_until(lambda: leakcheck.compare(before, leakcheck.snapshot()) == [], what="PID 1 to exit at the gate")
