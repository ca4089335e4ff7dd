"""A real cgroup v2 machine: the unified hierarchy, and its four main controllers at work.

These run wherever cgroup v2 has cpu, memory, pids and io (the course VM,
and `make test-vm`, which boots one because the build machines are hybrid).
They use the cgroup files directly, with no labcore backend in between:
they check the machine the backends are tested on. One cgroup, under the
lab's ``labcore`` subtree, gets the four controllers; a child process moved
into it meets each limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labcore import doctor, tracker

pytestmark = pytest.mark.needs("root", "cgroup_v2")

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ["cpu", "io", "memory", "pids"]


def test_doctor_sees_one_unified_hierarchy_with_the_four_controllers():
    assert doctor.cgroup_mode() == "v2"
    point, controllers = doctor.v2_controllers()
    assert point == str(ROOT)
    assert set(CONTROLLERS) <= set(controllers)
    assert not doctor.v1_controllers()  # nothing left on v1: not hybrid
    assert (ROOT / "cgroup.procs").exists() and not (ROOT / "tasks").exists()  # v1 had "tasks"


def _enable(parent: Path, controllers) -> list[str]:
    """Enable controllers for parent's children; returns those that were not enabled before."""
    before = (parent / "cgroup.subtree_control").read_text().split()
    added = [c for c in controllers if c not in before]
    if added:
        (parent / "cgroup.subtree_control").write_text(" ".join("+" + c for c in added))
    return added


@pytest.fixture
def cgroup():
    """/sys/fs/cgroup/labcore/lab-v2-test-PID with cpu, io, memory and pids, recorded and removed."""
    track = tracker.default()
    records, added_at_root = [], _enable(ROOT, CONTROLLERS)
    parent = ROOT / tracker.CGROUP_NAME
    if not parent.exists():
        with track.created("cgroup", parent) as rec:
            parent.mkdir()
        records.append(rec)
    _enable(parent, CONTROLLERS)
    group = parent / f"lab-v2-test-{os.getpid()}"
    with track.created("cgroup", group) as rec:
        group.mkdir()
    records.append(rec)
    try:
        yield group
    finally:
        for rec in reversed(records):
            track.undo(rec)  # kills what is left inside, then rmdir; the shared parent stays if others use it
        for controller in added_at_root:
            try:
                (ROOT / "cgroup.subtree_control").write_text("-" + controller)
            except OSError:
                pass  # systemd started using it meanwhile: leave it to systemd


def run_in(group: Path, code: str, timeout: float = 120) -> int:
    """Run Python code in a child moved into ``group`` before it starts working; returns its status."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()\n" + code],
                             stdin=subprocess.PIPE)
    (group / "cgroup.procs").write_text(str(child.pid))
    child.stdin.write(b"go\n")
    child.stdin.close()
    return child.wait(timeout)


def keyed(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file (memory.events, cpu.stat...) as a dict."""
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def test_the_four_controllers_are_enabled_for_the_lab_cgroup(cgroup):
    assert set(CONTROLLERS) <= set((cgroup / "cgroup.controllers").read_text().split())
    for name in ("cpu.max", "io.max", "memory.max", "pids.max"):
        assert (cgroup / name).exists(), name


def test_memory_max_ends_in_an_oom_kill(cgroup):
    (cgroup / "memory.max").write_text(str(32 * 2**20))
    (cgroup / "memory.swap.max").write_text("0")
    status = run_in(cgroup, "data = b'x' * (96 * 2**20)")  # touches every page, unlike bytearray(n)
    assert status == -9  # SIGKILL from the OOM killer: a shell would say 137
    assert keyed(cgroup / "memory.events")["oom_kill"] >= 1


def test_pids_max_stops_forks(cgroup):
    (cgroup / "pids.max").write_text("8")
    forked = run_in(cgroup, """
import os, time
n = 0
try:
    for _ in range(30):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except BlockingIOError:  # fork() fails with EAGAIN at pids.max
    pass
os._exit(n)
""")
    assert 0 < forked < 8
    assert keyed(cgroup / "pids.events")["max"] >= 1


def test_cpu_max_throttles(cgroup):
    (cgroup / "cpu.max").write_text("10000 100000")  # 10 ms of CPU per 100 ms period
    status = run_in(cgroup, """
import time
while time.process_time() < 0.08:
    pass
""")
    assert status == 0
    stat = keyed(cgroup / "cpu.stat")
    assert stat["usage_usec"] >= 80_000
    assert stat["nr_throttled"] >= 1 and stat["throttled_usec"] > 0


def _disk_of(path: str) -> str:
    """MAJ:MIN of the whole disk holding ``path`` (io.max takes disks, not partitions)."""
    dev = os.stat(path).st_dev
    sysfs = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not sysfs.exists():
        pytest.fail(f"{path} is not on a block device ({os.major(dev)}:{os.minor(dev)})")
    if (sysfs / "partition").exists():
        sysfs = sysfs.resolve().parent
    return (sysfs / "dev").read_text().strip()


def test_io_is_accounted_per_disk_and_limits_are_set(cgroup):
    disk = _disk_of("/var/tmp")
    (cgroup / "io.max").write_text(f"{disk} wbps={512 * 2**20}")
    assert f"{disk} rbps=max wbps={512 * 2**20}" in (cgroup / "io.max").read_text()
    target = f"/var/tmp/lab-v2-io-{os.getpid()}"
    try:
        status = run_in(cgroup, f"""
import os
fd = os.open({target!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for _ in range(8):
    os.write(fd, os.urandom(2**20))
os.fsync(fd)
os.close(fd)
""")
    finally:
        Path(target).unlink(missing_ok=True)
    assert status == 0
    stats = {}
    for line in (cgroup / "io.stat").read_text().splitlines():
        dev, *fields = line.split()
        stats[dev] = dict(f.split("=") for f in fields)
    assert int(stats[disk]["wbytes"]) >= 8 * 2**20
