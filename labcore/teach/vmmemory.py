"""A VM's memory, measured from both sides: QEMU's process on the host, the guest's own count.

``process_memory`` reads a process's RSS and PSS from /proc; ``Memory`` holds
them with the guest's MemTotal and MemAvailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..proc.status import status

@dataclass
class Memory:
    """A VM's memory, seen from both sides."""

    qemu_rss: int        # bytes of host RAM the QEMU process has touched (VmRSS)
    qemu_pss: int        # the same, shared library pages divided among their users (Pss)
    guest_total: int     # bytes the guest kernel manages (MemTotal inside)
    guest_available: int  # bytes the guest could still give to programs (MemAvailable inside)

    @property
    def guest_used(self) -> int:
        """What the guest kernel and its init use: the price of a second kernel."""
        return self.guest_total - self.guest_available


def process_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in bytes, from /proc/PID/status and smaps_rollup."""
    rss = int(status(pid).get("VmRSS", "0 kB").split()[0]) * 1024  # no VmRSS: a zombie holds no memory
    pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except (PermissionError, FileNotFoundError):
        pss = rss
    return rss, pss


__all__ = ["Memory", "process_memory"]
