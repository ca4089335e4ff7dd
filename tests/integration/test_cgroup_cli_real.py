"""`labcore run` with limits, on the real kernel, measured from outside the cgroup."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labcore.proc.cgroup import CGROUP_ROOT
from labcore import pidns, tracker
from labcore.errors import InvalidInputError

VERSIONS = [pytest.param("v1", marks=pytest.mark.needs("root", "cgroup_v1"), id="v1"),
            pytest.param("v2", marks=pytest.mark.needs("root", "cgroup_v2"), id="v2")]
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


@pytest.fixture(params=VERSIONS)
def version(request):
    return request.param


def labcore(*args, **kw):
    return subprocess.run([sys.executable, "-m", "labcore", *args], capture_output=True, text=True, **kw)


def lab_groups() -> list[str]:
    root = Path(CGROUP_ROOT)
    return sorted(str(p) for p in [*root.glob(f"*/{tracker.CGROUP_NAME}/*"), *root.glob(f"{tracker.CGROUP_NAME}/*")]
                  if p.is_dir())


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, from /proc/PID/stat, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def command_child(parent: int, name: str) -> int:
    """The child of ``parent`` that runs ``name``: not the spawn helper, which comes and goes first."""
    def found():
        for pid in pidns.children(parent):
            try:
                if Path((pidns.describe(pid).args or [""])[0]).name == name:  # execvp may give a full path
                    return pid
            except InvalidInputError:
                pass  # exited between the two reads: the helper
        return None
    return pidns.wait_until(found, 30, f"{name} to start")  # an emulated VM takes seconds to start Python twice


def test_an_oom_killed_command_exits_137(version):
    done = labcore("run", "--memory", "32M", "--", "python3", "-c", 'b"x" * (300 << 20)')
    assert done.returncode == 137, done.stderr


def test_stats_on_exit_name_the_oom_kill(version):
    done = labcore("run", "--memory", "32M", "--stats", "--cgroup", f"lab-t{os.getpid()}-stats", "--",
                   "python3", "-c", 'b"x" * (300 << 20)')
    assert done.returncode == 137
    lines = {line.strip().rsplit(None, 1)[0].strip(): line.split()[-1] for line in done.stderr.splitlines()[1:]}
    assert f"cgroup lab-t{os.getpid()}-stats ({version}; memory 32 MiB) at exit:" in done.stderr
    assert lines["oom kills"] == "1" and int(lines["memory limit hits"]) > 0
    assert not any(f"lab-t{os.getpid()}-stats" in g for g in lab_groups())  # removed after the command


def test_a_quarter_of_a_cpu_measured_from_outside(version):
    run = subprocess.Popen([sys.executable, "-m", "labcore", "run", "--cpus", "0.25", "--",
                            "python3", "-c", BUSY.format(seconds=5)])
    try:
        busy = command_child(run.pid, "python3")
        time.sleep(1.0)  # past python's start-up
        t0, c0 = time.monotonic(), cpu_ticks(busy)
        time.sleep(3.0)
        t1, c1 = time.monotonic(), cpu_ticks(busy)
    finally:
        assert run.wait(timeout=20) == 0
    share = (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
    assert share == pytest.approx(0.25, abs=0.03)


FORKS = ("import os, time\nmade = 0\nfor _ in range(8):\n    try:\n        if os.fork() == 0:\n"
         "            time.sleep(1)\n            os._exit(0)\n        made += 1\n    except OSError:\n"
         "        pass\nprint(made)\n")


def test_pids_limit_makes_forks_fail(version):
    done = labcore("run", "--pids", "5", "--", sys.executable, "-I", "-c", FORKS)  # not a shim that forks
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 4  # python itself is the fifth task


@pytest.mark.parametrize("option", ["--memory=64Q", "--memory=-5M", "--pids=0", "--cpus=0", "--cpus=64",
                                    "--cgroup=a/b", "--cgroup=..", "--io-bps=/dev/lab-nope:1M"])
def test_bad_limits_create_nothing(version, state_dir, option):
    before = lab_groups()
    done = labcore("run", option, "--", "true")
    assert done.returncode == 125 and option.split("=", 1)[1].split(":")[0] in done.stderr
    assert lab_groups() == before
    assert not (state_dir / "objects").exists() or not list((state_dir / "objects").iterdir())
