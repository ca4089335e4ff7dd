"""The doctor's filesystem check: can this kernel mount overlayfs?

A filesystem type is usable when the kernel lists it in /proc/filesystems
(proc(5)); overlay is often a module, loaded by ``modprobe overlay`` or by
the first mount that asks for it. Chapters 06 and 11 need it.
"""

from __future__ import annotations

from ..check import Check, read


def check_overlayfs() -> Check:
    if any(line.split()[-1] == "overlay" for line in read("/proc/filesystems").splitlines() if line.split()):
        return Check("overlayfs", True, "listed in /proc/filesystems")
    return Check("overlayfs", False, "not in /proc/filesystems", "modprobe overlay (as root)")


CHECKS = {"overlayfs": check_overlayfs}

__all__ = ["CHECKS", "check_overlayfs"]
