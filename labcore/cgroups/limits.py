"""Limits in human units, checked before anything is created.

A learner writes ``cpus=0.25`` (or ``"25%"``), ``memory="64M"``,
``pids=20``, ``io_read_bps="/dev/vda:4M"``. The kernel wants numbers in
its own units, different in each cgroup version (microseconds of CPU per
period, bytes, ``MAJ:MIN`` device numbers). This module turns the first
into a ``Limits`` object of plain numbers, and refuses anything doubtful
with an ``InvalidInputError`` that names the bad value: nothing has been
created at that point, so a typo costs nothing.

The translation into files (``cpu.max`` or ``cpu.cfs_quota_us``...) is
the backends' job: ``labcore/cgroups/v1.py`` and ``v2.py``.

Units are binary, as in ``docker run``: ``64M`` is 64 MiB (64 × 2^20 bytes).
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import InvalidInputError
from ..proc.meminfo import MEMINFO
from ..proc.meminfo import read as read_meminfo

PERIOD_US = 100_000          # CFS bandwidth period: the kernel's default, 100 ms
MIN_QUOTA_US = 1_000         # the kernel refuses quotas under 1 ms
MIN_MEMORY = 6 << 20         # below this a process cannot even start (docker's minimum too)
WEIGHT_RANGE = (1, 10_000)   # cgroup v2 cpu.weight; the default is 100
MAX_PIDS = 4_194_304         # PID_MAX_LIMIT on 64-bit machines
# Accepted spellings of a unit: "M", "MB" and "MiB" all mean 2^20 bytes.
UNITS = {"": 1, "B": 1, **{f"{letter}{suffix}": 1 << (10 * power)
                           for power, letter in enumerate("KMGT", 1) for suffix in ("", "B", "IB")}}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
UNLIMITED = "max"            # the word that lifts a limit, as in cgroup v2 files
SYS_BLOCK = "/sys/dev/block"  # MAJ:MIN -> the device's directory in sysfs
MAX_BYTES = (1 << 63) - 1    # the largest size or rate a cgroup file takes (an s64)
MAX_DIGITS = 12              # a count with more digits than this is out of every range here


def _show(value) -> str:
    """A value as a notice shows it: its repr, cut short if it is absurdly long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _whole(value, what: str, fix: str) -> int:
    """A whole number written in decimal digits; a huge one is never converted (int() refuses 4300+ digits)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[-+]?\d+", text):
        raise InvalidInputError(f"{what} {_show(value)} is not a whole number", fix)
    sign, digits = ("-" if text.startswith("-") else ""), text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:
        digits = "9" * (MAX_DIGITS + 1)  # out of range either way, and the range check names it
    return int(sign + digits)


def check_name(name: str) -> str:
    """A cgroup name is one directory: no ``/``, no ``..``, letters, digits, ``_ . -``."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"cgroup name {name!r} is empty or not a string", "give a name such as 'lab-web'")
    if "/" in name or ".." in name:
        raise InvalidInputError(f"cgroup name {name!r} contains '/' or '..'",
                                "a name is one directory under the labcore subtree, for example 'lab-web'")
    if not NAME.fullmatch(name):
        raise InvalidInputError(f"cgroup name {name!r} has characters other than letters, digits, '_', '.', '-' "
                                "(or is longer than 64)", "use a short name such as 'lab-web'")
    return name


def _number(text: str, what: str, value) -> float:
    try:
        number = float(text)
    except (ValueError, OverflowError):
        raise InvalidInputError(f"{what} {_show(value)} is not a number",
                                "write a decimal number such as 0.25 or 25%") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{what} {_show(value)} is not a finite number",
                                "write a decimal number such as 0.25 or 25% ('max' lifts the limit)")
    return number


def parse_cpus(value, cpus_present: int | None = None) -> float | None:
    """``0.25``, ``"0.25"`` or ``"25%"`` -> 0.25 CPU; ``"max"`` -> None (no quota).

    The quota may not exceed the CPUs present: a group cannot run on more
    CPUs than the machine has, and a larger quota would silently mean "no limit".
    """
    if value == UNLIMITED or value is None:
        return None
    present = cpus_present or os.cpu_count() or 1
    text = str(value).strip()
    if isinstance(value, bool):
        raise InvalidInputError(f"cpus {_show(value)} is not a number of CPUs", "write cpus=0.25 or cpus='25%'")
    cpus = _number(text[:-1], "cpus", value) / 100 if text.endswith("%") else _number(text, "cpus", value)
    if cpus <= 0:
        raise InvalidInputError(f"cpus {_show(value)} must be more than zero",
                                "give a share of one CPU, for example 0.25 or '25%' ('max' lifts the limit)")
    if cpus * PERIOD_US < MIN_QUOTA_US:
        raise InvalidInputError(f"cpus {_show(value)} is below the kernel's minimum quota of 1 ms per 100 ms period",
                                "give at least 0.01 (1%)")
    if cpus > present:
        raise InvalidInputError(f"cpus {_show(value)} is more than the {present} CPU(s) present on this machine",
                                f"give at most {present}")
    return cpus


def parse_bytes(value, what: str = "memory") -> int | None:
    """``"64M"``, ``"64MiB"``, ``"1.5G"``, ``"512k"`` or an int of bytes -> bytes; ``"max"`` -> None."""
    if value == UNLIMITED or value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} {_show(value)} is not a size", "write a size such as '64M'")
    if isinstance(value, (int, float)):
        try:
            number, unit = float(value), ""
        except OverflowError:
            number, unit = math.inf, ""
    else:
        match = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*", str(value))
        if not match:
            raise InvalidInputError(f"{what} {_show(value)} is not a size",
                                    "write a number with an optional unit: 64M, 1G, 512K, or bytes")
        number, unit = float(match.group(1)), match.group(2).upper()
        if unit not in UNITS:
            raise InvalidInputError(f"{what} {_show(value)} has an unknown unit {match.group(2)!r}",
                                    "units are K, M, G, T (binary: 1M = 1048576 bytes), or none for bytes")
    total = number * UNITS[unit]
    if not math.isfinite(total):
        raise InvalidInputError(f"{what} {_show(value)} is not a finite size",
                                "give a size such as '64M' ('max' lifts the limit)")
    if total > MAX_BYTES:
        raise InvalidInputError(f"{what} {_show(value)} is more than the kernel can store ({MAX_BYTES} bytes)",
                                "give a size such as '64M' ('max' lifts the limit)")
    size = int(total)
    if size <= 0:
        raise InvalidInputError(f"{what} {_show(value)} must be more than zero", "give a size such as '64M' ('max' lifts it)")
    return size


def parse_memory(value, what: str = "memory") -> int | None:
    """A memory limit: a size of at least 6 MiB and at most this machine's RAM."""
    size = parse_bytes(value, what)
    if size is None:
        return None
    if size < MIN_MEMORY:
        raise InvalidInputError(f"{what} {_show(value)} is below the minimum of 6M",
                                "a process needs a few MiB just to start; give at least 6M")
    total = ram_bytes()
    if total and size > total:
        raise InvalidInputError(f"{what} {_show(value)} is more than this machine's {total >> 20} MiB of RAM",
                                "a limit above the RAM limits nothing; give less, or 'max' for no limit")
    return size


def parse_weight(value) -> int | None:
    """CPU weight in cgroup v2 units: 1 to 10000, default 100 (v1 shares are converted by the backend)."""
    if value is None:
        return None
    weight = _whole(value, "cpu weight", "give 1 to 10000; the default is 100")
    low, high = WEIGHT_RANGE
    if not low <= weight <= high:
        raise InvalidInputError(f"cpu weight {_show(value)} is out of range", f"give {low} to {high}; the default is 100")
    return weight


def parse_pids(value) -> int | None:
    """The most tasks (processes and threads) the group may hold; ``"max"`` -> None."""
    if value == UNLIMITED or value is None:
        return None
    pids = _whole(value, "pids", "give a count such as 20, or 'max'")
    if pids <= 0:
        raise InvalidInputError(f"pids {_show(value)} must be more than zero",
                                "a group of 0 tasks could not even hold its first process; give 1 or more")
    if pids > MAX_PIDS:
        raise InvalidInputError(f"pids {_show(value)} is more than the kernel's {MAX_PIDS} PIDs", "give less, or 'max'")
    return pids


@dataclass(frozen=True)
class Device:
    """A block device as the io controller names it: ``MAJ:MIN`` of a whole disk."""

    major: int
    minor: int
    name: str  # for people: "vda"

    def __str__(self) -> str:
        return f"{self.major}:{self.minor}"


def block_device(spec, sys_block: str | None = None) -> Device:
    """``/dev/vda``, ``vda`` or ``254:0`` -> the whole disk it is (or belongs to).

    Throttling is per disk: the kernel refuses a partition in io.max, so a
    partition is taken to its disk (``/dev/vda1`` -> ``vda``).
    """
    text = str(spec).strip()
    if re.fullmatch(r"\d+:\d+", text):
        number = text
    else:
        path = text if text.startswith("/") else f"/dev/{text}"
        try:
            st = os.stat(path)
        except OSError:
            raise InvalidInputError(f"device {spec!r} does not exist",
                                    "give a block device such as /dev/vda (see lsblk) or MAJ:MIN") from None
        if not stat.S_ISBLK(st.st_mode):
            raise InvalidInputError(f"device {spec!r} is not a block device", "see lsblk for the disks")
        number = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    entry = Path(sys_block or SYS_BLOCK) / number
    if not entry.exists():
        raise InvalidInputError(f"device {spec!r} ({number}) is not a block device of this machine", "see lsblk")
    entry = entry.resolve()
    if (entry / "partition").exists():
        entry = entry.parent  # /sys/devices/.../vda/vda1 -> .../vda
    major, minor = (int(n) for n in (entry / "dev").read_text().split(":"))
    return Device(major, minor, entry.name)


def parse_rate(spec, what: str = "io-bps") -> tuple[Device, int]:
    """``"/dev/vda:4M"`` (bytes per second, ``/s`` optional) -> (Device, 4194304)."""
    if isinstance(spec, tuple):
        device, rate = spec
    else:
        device, sep, rate = str(spec).rpartition(":")
        if not sep or not device:  # "254:0:4M" works too: the rate is after the last ':'
            raise InvalidInputError(f"{what} {spec!r} is not DEVICE:RATE", "for example /dev/vda:4M (4 MiB per second)")
    what = f"{what} {spec!r}: rate" if isinstance(spec, str) else what
    return block_device(device), parse_bytes(str(rate).removesuffix("/s"), what)  # "max" -> None: lift it


@dataclass(frozen=True)
class Limits:
    """Limits as plain numbers. ``None`` leaves a resource unlimited.

    ``cpus`` in CPUs (0.25 = a quarter of one CPU), ``cpu_weight`` in v2
    units (1-10000, default 100), sizes in bytes, io rates in bytes per second
    keyed by device.
    """

    cpus: float | None = None
    cpu_weight: int | None = None
    memory: int | None = None
    memory_high: int | None = None
    pids: int | None = None
    io_read_bps: tuple[tuple[Device, int], ...] = ()
    io_write_bps: tuple[tuple[Device, int], ...] = ()

    def __str__(self) -> str:
        parts = []
        if self.cpus is not None:
            parts.append(f"cpus {self.cpus:g}")
        if self.cpu_weight is not None:
            parts.append(f"cpu weight {self.cpu_weight}")
        for label, size in (("memory", self.memory), ("memory high", self.memory_high)):
            if size is not None:
                parts.append(f"{label} {human_bytes(size)}")
        if self.pids is not None:
            parts.append(f"pids {self.pids}")
        for label, rates in (("read", self.io_read_bps), ("write", self.io_write_bps)):
            for device, rate in rates:
                parts.append(f"io {label} {device.name} {human_bytes(rate)}/s")
        return ", ".join(parts) or "no limits"

    def given(self) -> dict:
        """The limits that are set, by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) not in (None, ())}


def _rates(spec) -> tuple[tuple[Device, int | None], ...]:
    """One ``"DEVICE:RATE"`` (or a list of them) -> ((Device, bytes per second or None), ...)."""
    specs = [spec] if isinstance(spec, (str, tuple)) else list(spec)
    return tuple(parse_rate(s) for s in specs)


PARSERS = {
    "cpus": parse_cpus,
    "cpu_weight": parse_weight,
    "memory": parse_memory,
    "memory_high": lambda value: parse_memory(value, "memory high"),
    "pids": parse_pids,
    "io_read_bps": _rates,
    "io_write_bps": _rates,
}


def parse_changes(**human) -> dict:
    """Check limits given in human units; returns {field: number, or None to lift the limit}.

    Only the limits named are in the result, so a running group can be
    changed one limit at a time. ``io_bps`` sets both io directions.
    Raises ``InvalidInputError`` naming the first bad value.
    """
    if "io_bps" in human:
        both = human.pop("io_bps")
        if both is not None:
            human.setdefault("io_read_bps", both)
            human.setdefault("io_write_bps", both)
    unknown = sorted(set(human) - set(PARSERS))
    if unknown:
        raise InvalidInputError(f"unknown limit {unknown[0]!r}", "limits are " + ", ".join(PARSERS) + ", io_bps")
    changes = {key: PARSERS[key](value) for key, value in human.items()}
    high, hard = changes.get("memory_high"), changes.get("memory")
    if high is not None and hard is not None and high > hard:
        raise InvalidInputError(f"memory high {human_bytes(high)} is above the memory limit {human_bytes(hard)}",
                                "the soft limit (high) must be at most the hard limit")
    return changes


def parse(**human) -> Limits:
    """Check every limit given in human units and return them as ``Limits``.

    ``lab.cgroups.limits.parse(cpus="25%", memory="64M")``. Limits not given
    (or given as ``"max"``) are unlimited.
    """
    changes = parse_changes(**human)
    for key in ("io_read_bps", "io_write_bps"):
        if key in changes:
            changes[key] = tuple((device, rate) for device, rate in changes[key] if rate is not None)
    return Limits(**changes)


def ram_bytes(meminfo: str = MEMINFO, field: str = "MemTotal") -> int:
    """A /proc/meminfo field in bytes (0 if unreadable)."""
    try:
        return read_meminfo(meminfo).get(field, 0)
    except OSError:
        return 0


def human_bytes(size: int | float | None) -> str:
    """64 MiB, 1.5 GiB, 512 KiB: sizes as people read them."""
    if size is None:
        return "unlimited"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if abs(size) >= 1 << shift:
            value = size / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{int(size)} B"


__all__ = ["Limits", "Device", "parse", "parse_changes", "parse_cpus", "parse_bytes", "parse_memory", "parse_weight",
           "parse_pids", "parse_rate", "block_device", "check_name", "human_bytes", "ram_bytes",
           "PERIOD_US", "UNLIMITED"]
