"""Chapter 05a's solutions."""

from pathlib import Path


def half(directory):
    """Half of one CPU: a quota of 50 ms in every 100 ms period."""
    d = Path(directory)
    if (d / "cpu.max").exists():  # cgroup v2: "QUOTA PERIOD" in one file
        (d / "cpu.max").write_text("50000 100000")
    else:                          # cgroup v1: two files, in the cpu hierarchy
        (d / "cpu.cfs_period_us").write_text("100000")
        (d / "cpu.cfs_quota_us").write_text("50000")


def _weight_only(directory):
    """A weight: it changes nothing for a group that is alone on its CPU."""
    d = Path(directory)
    if (d / "cpu.weight").exists():
        (d / "cpu.weight").write_text("50")
    else:
        (d / "cpu.shares").write_text("512")


def _a_fraction(directory):
    """The kernel takes whole microseconds, not a fraction of a CPU."""
    d = Path(directory)
    (d / ("cpu.max" if (d / "cpu.max").exists() else "cpu.cfs_quota_us")).write_text("0.5")


def _one_cpu(directory):
    """Quota equal to the period: a whole CPU."""
    d = Path(directory)
    if (d / "cpu.max").exists():
        (d / "cpu.max").write_text("100000 100000")
    else:
        (d / "cpu.cfs_quota_us").write_text("100000")


def _a_tenth(directory):
    d = Path(directory)
    if (d / "cpu.max").exists():
        (d / "cpu.max").write_text("10000 100000")
    else:
        (d / "cpu.cfs_quota_us").write_text("10000")


SOLUTIONS = {
    "throttled-fraction": lambda ex: (100, 0),
    "half-cpu": lambda ex: half,
}

WRONG = {
    "throttled-fraction": lambda ex: [(10, 150), (10, 0), (90, 90), (100, 100), "tenth"],
    "half-cpu": lambda ex: [_weight_only, _a_fraction, _one_cpu, _a_tenth, "half"],
}
