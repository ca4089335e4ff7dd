"""`labcore run` refuses bad limits with a notice naming the value, before anything exists (no root needed)."""

import os
import subprocess
import sys

import pytest


def labcore(*args):
    return subprocess.run([sys.executable, "-m", "labcore", *args], capture_output=True, text=True)


@pytest.mark.parametrize("option, words", [
    ("--memory=64Q", "memory '64Q' has an unknown unit 'Q'"),
    ("--memory=-5M", "memory '-5M' must be more than zero"),
    ("--memory=0", "memory '0' must be more than zero"),
    ("--memory-high=1M", "memory high '1M' is below the minimum"),
    ("--pids=0", "pids '0' must be more than zero"),
    ("--pids=-3", "pids '-3' must be more than zero"),
    ("--cpus=0", "cpus '0' must be more than zero"),
    ("--cpus=-1", "cpus '-1' must be more than zero"),
    (f"--cpus={os.cpu_count() + 1}", f"more than the {os.cpu_count()} CPU(s) present"),
    ("--cpu-weight=0", "cpu weight '0' is out of range"),
    ("--io-bps=/dev/lab-nope:4M", "device '/dev/lab-nope' does not exist"),
    ("--cgroup=a/b", "cgroup name 'a/b' contains '/' or '..'"),
    ("--cgroup=..", "cgroup name '..' contains '/' or '..'"),
    ("--memory=1e400", "memory '1e400'"),
    ("--memory-high=1e400", "memory high '1e400'"),
    ("--cpus=nan", "cpus 'nan' is not a finite number"),
    ("--cpus=inf", "cpus 'inf' is not a finite number"),
    ("--pids=1e9", "pids '1e9'"),
    ("--pids=" + "9" * 5000, "pids '99999"),
    ("--cpu-weight=" + "9" * 5000, "cpu weight '99999"),
])
def test_bad_limits_are_named_with_a_fix(option, words):
    done = labcore("run", option, "--", "true")
    assert done.returncode == 125, done.stderr
    assert words in done.stderr
    assert "fix:" in done.stderr and "Traceback" not in done.stderr


def test_help_lists_the_limit_options():
    done = labcore("run", "--help")
    for option in ("--cpus", "--cpu-weight", "--memory", "--memory-high", "--pids", "--io-bps", "--stats"):
        assert option in done.stdout
