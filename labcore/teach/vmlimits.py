"""What a VM may take from the host: the host-share check and QEMU's cgroup.

``check_host`` refuses a VM larger than the host can give now (RAM from
MemAvailable, with QEMU's own ``QEMU_OVERHEAD_MB``; CPUs from os.cpu_count());
``vm_cgroup`` makes the lab cgroup that confines one QEMU, as root.
"""

from __future__ import annotations

import itertools
import os

from ..errors import InvalidInputError
from ..proc.meminfo import MEMINFO
from ..proc.meminfo import read as read_meminfo

QEMU_OVERHEAD_MB = 256  # QEMU's own memory beyond the guest's RAM: its code, TCG's translated code, devices
QEMU_PIDS = 256         # QEMU's threads (one per virtual CPU, I/O workers) fit well under this
_serial = itertools.count()


def check_host(memory_mb: int, cpus: int, meminfo_path: str = MEMINFO, cpu_count: int | None = None) -> None:
    """Refuse a VM larger than this host can give now: its RAM (with QEMU's own
    ``QEMU_OVERHEAD_MB``) must fit in MemAvailable, its CPUs in os.cpu_count()."""
    available = read_meminfo(meminfo_path).get("MemAvailable", 0) >> 20
    if memory_mb + QEMU_OVERHEAD_MB > available:
        raise InvalidInputError(f"memory_mb={memory_mb} is more than this host can give: it has {available} MiB "
                                f"available now (MemAvailable), and QEMU needs about {QEMU_OVERHEAD_MB} MiB more",
                                f"give at most {max(available - QEMU_OVERHEAD_MB, 0)} MiB (256 is plenty)")
    present = cpu_count or os.cpu_count() or 1
    if cpus > present:
        raise InvalidInputError(f"cpus={cpus} is more than this host's {present} CPU(s)",
                                f"give at most {present} virtual CPUs")


def vm_cgroup(memory_mb: int):
    """A lab cgroup for one QEMU: memory limited to the guest's RAM plus QEMU's overhead, and pids."""
    from .. import cgroups  # on first use: the tiny VM needs no cgroup unless it runs as root
    return cgroups.create(f"lab-vm-{os.getpid()}-{next(_serial)}", memory=f"{memory_mb + QEMU_OVERHEAD_MB}M",
                          pids=QEMU_PIDS)


__all__ = ["check_host", "vm_cgroup", "QEMU_OVERHEAD_MB", "QEMU_PIDS"]
