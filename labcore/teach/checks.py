"""The doctor's checks for what teaches: can this machine boot chapter 02's tiny VM?

It needs QEMU, a guest kernel and a static busybox for the initramfs;
``labcore.teach.vm.available`` looks for all three (without booting).
The feature ``conformance_suite`` (asked for by name): is the OCI runtime
validation suite built here, for chapter 13's live tests (``teach.conformance``)?
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


def check_conformance_suite() -> Check:
    """Is the OCI runtime validation suite built here (chapter 13's live tests)?"""
    from .conformance import check_suite
    return check_suite()


CHECKS = {"vm": check_vm}
FEATURES = {"conformance_suite": check_conformance_suite}

__all__ = ["CHECKS", "FEATURES", "check_vm", "check_conformance_suite"]
