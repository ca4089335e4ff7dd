"""The doctor's check for what teaches: can this machine boot chapter 02's tiny VM?

It needs QEMU, a guest kernel and a static busybox for the initramfs;
``labcore.teach.vm.available`` looks for all three (without booting).
"""

from __future__ import annotations

from ..check import Check
from . import vm


def check_vm() -> Check:
    """Can this machine boot notebook 02's tiny VM (QEMU, the guest kernel, a static busybox)?"""
    ok, detail, fix = vm.available()
    if ok:
        return Check("tiny VM", True, detail + " (software emulation: works without KVM or root)")
    return Check("tiny VM", False, detail, fix)


CHECKS = {"vm": check_vm}

__all__ = ["CHECKS", "check_vm"]
