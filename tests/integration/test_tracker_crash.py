"""A process holding lab objects is SIGKILLed part-way; `labcore cleanup` restores the host."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import leakcheck

pytestmark = pytest.mark.needs("root")

# Creates one object of each kind the foundation makes, prints "ready", then hangs.
HOLDER = textwrap.dedent("""
    import os, sys, time
    import labcore as lab
    from labcore import kernel, tracker
    trk = tracker.default()
    container = lab.spawn(["sleep", "600"])                        # PID 1 of new namespaces
    lab.pin_netns(container.pid, "lab-crash-" + str(os.getpid()))  # a named netns, bind-mounted
    point = trk.root / "mnt"
    with trk.created("path", point):
        point.mkdir()
    with trk.created("mount", point):
        kernel.default().mount("lab-tmpfs", str(point), "tmpfs")      # a mount on the host
    cg = "/sys/fs/cgroup/pids/labcore/crash-" + str(os.getpid())
    with trk.created("cgroup", cg):
        os.makedirs(cg)                                             # a cgroup, with the sleeper in it
        open(cg + "/cgroup.procs", "w").write(str(container.pid))
    with trk.created("cgroup", "/sys/fs/cgroup/pids/labcore"):
        pass
    print("ready", len(trk.records()), flush=True)
    time.sleep(600)
""")


@pytest.mark.needs("cgroup_v1")
def test_sigkill_part_way_then_cleanup_leaves_the_host_as_before(state_dir):
    before = leakcheck.snapshot()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert line.startswith("ready"), line
        assert int(line.split()[1]) == 6  # PID 1, netns, path, mount, 2 cgroups
        during = leakcheck.compare(before, leakcheck.snapshot())
        assert any("lab-crash" in d for d in during) and any("crash-" in d for d in during)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        # The holder is dead, its objects are not: the container still runs, the mounts are still there.
        left = leakcheck.compare(before, leakcheck.snapshot())
        assert any("sleep" in d for d in left), left
    finally:
        holder.kill()
        holder.wait()
        done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "killed" in done.stdout and "unmounted" in done.stdout and "removed" in done.stdout
    assert leakcheck.compare(before, leakcheck.snapshot()) == []

    again = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert again.returncode == 0 and "0 object(s)" in again.stdout


def test_cleanup_only_touches_its_own_state_dir(state_dir, tmp_path):
    other = tmp_path / "other-state"
    env = dict(os.environ, LABCORE_STATE_DIR=str(other))
    subprocess.run([sys.executable, "-c", "from labcore import tracker; "
                    "t = tracker.default(); (t.root / 'keep').mkdir(parents=True); t.add('path', t.root / 'keep'); import os; os._exit(0)"],
                   env=env, check=True)
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert "0 object(s)" in done.stdout
    assert (other / "keep").is_dir()


@pytest.mark.needs("cgroup_v1")
def test_a_shared_parent_cgroup_stays_while_another_user_has_children(state_dir):
    from labcore import tracker
    trk = tracker.default()
    parent = "/sys/fs/cgroup/pids/labcore"
    mine, theirs = f"{parent}/mine-test", f"{parent}/theirs-test"
    with trk.created("cgroup", parent):
        os.makedirs(parent, exist_ok=True)
    with trk.created("cgroup", mine):
        os.mkdir(mine)
    os.mkdir(theirs)  # made by "another notebook", not in our records
    try:
        outcomes = dict((r.target, o) for r, o in trk.cleanup())
        assert outcomes == {mine: "removed", parent: "kept: other lab cgroups are still inside"}
        assert os.path.isdir(theirs)
    finally:
        os.rmdir(theirs)
        if not any(os.path.isdir(os.path.join(parent, e)) for e in os.listdir(parent)):
            os.rmdir(parent)
