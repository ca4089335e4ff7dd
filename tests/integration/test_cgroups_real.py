"""Control groups on the real kernel, for whichever version this machine runs.

Every test runs once per cgroup version and is marked with what it needs:
on a v1 or hybrid host the ``v1`` cases run (and the ``v2`` ones are
skipped with the doctor's reason), in the course VM (or the cgroup v2 test
VM) the ``v2`` cases run. The assertions are the facts chapters 05a and 05b teach.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labcore as lab
from labcore.proc.cgroup import CGROUP_ROOT
from labcore import cgroups, monitor, tracker
from labcore.cgroups import limits as L
from labcore.teach import workloads as W

MIB = 1 << 20
VERSIONS = [pytest.param("v1", marks=pytest.mark.needs("root", "cgroup_v1"), id="v1"),
            pytest.param("v2", marks=pytest.mark.needs("root", "cgroup_v2"), id="v2")]


@pytest.fixture(params=VERSIONS)
def version(request):
    assert cgroups.version() == request.param, "the doctor and the detection disagree"
    return request.param


def name(tag: str) -> str:
    return f"lab-t{os.getpid()}-{tag}"


def lab_dirs(group: str) -> list[str]:
    """Every directory named ``group`` under a labcore subtree, in every hierarchy."""
    return [str(p) for p in Path(CGROUP_ROOT).glob(f"*/{tracker.CGROUP_NAME}/{group}")] + \
           [str(p) for p in Path(CGROUP_ROOT).glob(f"{tracker.CGROUP_NAME}/{group}")]


def test_a_group_is_a_directory_in_every_hierarchy_and_goes_away(version):
    with cgroups.create(name("dirs"), cpus=0.5, memory="64M", pids=10) as cg:
        dirs = cg.directories()
        assert all((d / "cgroup.procs").exists() for d in dirs)
        if version == "v1":
            hierarchies = {d.relative_to(CGROUP_ROOT).parts[0] for d in dirs}
            assert {"cpu", "cpuacct", "memory", "pids"} <= {h for hs in hierarchies for h in hs.split(",")}
        else:
            labcore = Path(CGROUP_ROOT) / tracker.CGROUP_NAME
            assert dirs == [labcore / cg.name]
            wanted = {"cpu", "memory", "pids", "io"}
            assert wanted <= set((labcore / "cgroup.subtree_control").read_text().split())  # delegation
            assert wanted <= set((dirs[0] / "cgroup.controllers").read_text().split())
        assert cg.read_limits() == L.Limits(cpus=0.5, cpu_weight=100, memory=64 * MIB, pids=10)
        assert sorted(lab_dirs(cg.name)) == sorted(str(d) for d in dirs)
    assert lab_dirs(cg.name) == []
    assert not any(r.target.endswith(cg.name) for r in tracker.default().records())


def test_the_command_is_in_the_group_before_it_runs(version):
    with cgroups.create(name("attach")) as cg:
        seen = lab.run(["cat", "/proc/self/cgroup"], cgroup=cg).stdout
    where = cgroups.base.parse_proc_cgroup(seen)
    key = "memory" if version == "v1" else ""
    assert where[key] == f"/{tracker.CGROUP_NAME}/{cg.name}"


def test_a_cpu_quota_gives_its_share_and_throttles_every_period(version):
    with cgroups.create(name("cpu"), cpus=0.25) as cg:
        run = monitor.run(cg, W.busy(3), timeout=20)
    assert run.returncode == 0
    share = run.monitor.share(run.started + 0.5, run.ended - 0.2)
    assert share == pytest.approx(0.25, abs=0.03)
    periods, throttled = run.after.cpu_periods, run.after.cpu_throttled_periods
    assert periods >= 20 and throttled >= 0.8 * periods  # the loop ran out of quota in (nearly) every period
    assert run.after.cpu_throttled_usec > 1_000_000  # about 75 ms of every 100 ms


def test_the_memory_hard_limit_ends_in_an_oom_kill_exit_137(version):
    with cgroups.create(name("oom"), memory="64M") as cg:
        run = monitor.run(cg, W.hog("256M"), timeout=20, interval=0.05)
    assert run.returncode == 137 and run.oom_killed
    assert run.after.oom_kills == run.before.oom_kills + 1
    assert run.after.memory_failcnt > 0
    assert run.after.memory_peak <= 64 * MIB
    assert int(run.stdout.split()[-1]) < 64  # it never got its 64th MiB


@pytest.mark.needs("cgroup_io")  # a file on a real disk: page cache of a tmpfs is not reclaimable
def test_the_hard_limit_reclaims_page_cache_instead_of_killing(version):
    with W.DataFile("128M") as data, cgroups.create(name("cache"), memory="48M") as cg:
        run = monitor.run(cg, W.page_cache(data), timeout=60, interval=0.05)
    assert run.returncode == 0 and run.stdout.split()[0] == "128"  # read all of it
    assert run.after.oom_kills == 0
    assert run.monitor.peak("memory_current") <= 48 * MIB


def test_the_soft_limit_never_kills(version):
    with cgroups.create(name("soft"), memory_high="48M") as cg:
        run = monitor.run(cg, W.hog("128M"), timeout=6, interval=0.05)
    reached = int(run.stdout.split()[-1])
    assert run.after.oom_kills == 0 and not run.oom_killed
    assert run.monitor.peak("memory_current") > 48 * MIB  # it went over the soft limit...
    if version == "v2":
        # ...and memory.high throttled it: no swap, so nothing to reclaim, so the kernel made it sleep.
        assert run.after.memory_high_events > 0
        assert reached < 128 and run.deadline_hit
    else:
        # ...and v1's soft limit did nothing: it only matters when the whole machine runs short.
        assert reached == 128 and run.returncode == 0


def test_pids_max_contains_a_fork_bomb(version):
    with cgroups.create(name("bomb"), pids=20, cpus=0.5, memory="256M") as cg:
        run = monitor.run(cg, W.fork_bomb(cg, 3), timeout=15, interval=0.05)
        assert cg.procs() == []
    assert run.monitor.peak("pids_current") == 20
    assert run.after.pids_peak in (None, 20)
    assert run.after.pids_max_events > 0  # forks refused
    assert subprocess.run(["true"]).returncode == 0  # and the host can still fork


def test_weights_share_one_cpu_in_proportion(version):
    light = cgroups.create(name("light"), cpu_weight=100)
    heavy = cgroups.create(name("heavy"), cpu_weight=300)
    try:
        mons = [monitor.Monitor(g, 0.1).start() for g in (light, heavy)]
        go = time.monotonic() + 1  # both start spinning together, however slowly Python starts
        procs = [lab.spawn(W.busy(4, cpu=0, start_at=go), cgroup=g, capture=True) for g in (light, heavy)]
        for p in procs:
            p.wait(timeout=20)
            p.close()
        for m in mons:
            m.stop()
        shares = [m.share(m.at(go) + 0.5, m.at(go) + 3.5) for m in mons]
    finally:
        light.remove()
        heavy.remove()
    assert 2.0 <= shares[1] / shares[0] <= 4.5, shares  # weight 300 vs 100: about three times the CPU
    assert sum(shares) <= 1.15  # together, one CPU (the margin: clock noise of an emulated test VM)


@pytest.mark.needs("cgroup_io")
def test_io_bytes_per_second_are_throttled(version):
    with W.DataFile("64M") as data:
        with cgroups.create(name("io"), io_read_bps=(data.device, "4M")) as cg:
            slow = monitor.run(cg, W.disk_read(data, 3), timeout=20)
        with cgroups.create(name("io-free")) as cg:
            free = monitor.run(cg, W.disk_read(data, 2), timeout=20)
    steady = (slow.monitor.series("io_read_bytes")[1][-1] - slow.monitor.series("io_read_bytes")[1][0]) / 3 / MIB
    assert 3.0 <= steady <= 5.5, steady
    assert int(free.stdout) / 2 / MIB > 2 * 4  # without the limit, much faster
    assert slow.after.io_read_bytes >= int(slow.stdout)


def test_a_limit_changed_on_a_running_workload_applies_at_once(version):
    with cgroups.create(name("live"), cpus=0.1) as cg, monitor.Monitor(cg, 0.1) as mon:
        with lab.spawn(W.busy(5), cgroup=cg, capture=True) as proc:
            time.sleep(2.5)
            changed = mon.mark("cpus 0.3")
            cg.set(cpus=0.3)
            proc.wait(timeout=20)
    before, after = mon.share(0.7, changed), mon.share(changed + 0.3, changed + 2.2)
    assert before == pytest.approx(0.1, abs=0.03)
    assert 0.22 <= after <= 0.33  # a loaded machine may not give more than this


def test_cleanup_removes_a_crashed_kernels_groups_and_processes(version, state_dir):
    group = name("crash")
    code = ("import labcore as lab, time\n"
            f"cg = lab.cgroups.create({group!r}, pids=5)\n"
            "p = lab.spawn(['sleep', '600'], cgroup=cg)\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(600)\n")
    crasher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    orphan = int(crasher.stdout.readline())
    crasher.send_signal(signal.SIGKILL)
    crasher.wait()
    assert lab_dirs(group) and tracker.is_running(orphan)
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert lab_dirs(group) == [] and not tracker.is_running(orphan)
    assert f"cgroup {CGROUP_ROOT}" in done.stdout
