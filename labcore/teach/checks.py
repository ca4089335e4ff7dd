"""The doctor's checks for what teaches: can this machine boot chapter 02's tiny VM?

It needs QEMU, a guest kernel and a static busybox for the initramfs;
``labcore.teach.vm.available`` looks for all three (without booting).
The feature ``conformance_suite`` (asked for by name): is the OCI runtime
validation suite built here, for chapter 13's live tests (``teach.conformance``)?
The feature ``docker_profile``: is Docker's own default seccomp profile beside the
checkout (``../shared/third-party/moby-profiles``), the reference the lab's profile is
compared with? The feature ``validation_suite_source``: are the OCI runtime validation
suite's sources there (``../shared/third-party/runtime-tools``), for ``make conformance``?
A learner's clone has no ``../shared``.
"""

from __future__ import annotations

from pathlib import Path

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


DOCKER_PROFILE = (Path(__file__).resolve().parents[2].parent / "shared" / "third-party" / "moby-profiles"
                  / "seccomp-default.json")


def check_docker_profile() -> Check:
    """Is Docker's default seccomp profile here to compare the lab's with?"""
    if DOCKER_PROFILE.is_file():
        return Check("Docker's seccomp profile", True, str(DOCKER_PROFILE))
    return Check("Docker's seccomp profile", False,
                 f"{DOCKER_PROFILE} is absent: a clone without the project's ../shared has no reference profile",
                 "compare on the development machines, where ../shared/third-party holds it")


SUITE_SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "third-party" / "runtime-tools"


def check_validation_suite_source() -> Check:
    """Are the OCI runtime validation suite's sources here for `make conformance` to build?"""
    if SUITE_SOURCE.is_dir():
        return Check("OCI validation suite sources", True, str(SUITE_SOURCE))
    return Check("OCI validation suite sources", False,
                 f"{SUITE_SOURCE} is absent: a clone without the project's ../shared has no suite to build",
                 "run the conformance comparison on the development machines, where ../shared/third-party holds it")


CHECKS = {"vm": check_vm}
FEATURES = {"conformance_suite": check_conformance_suite, "docker_profile": check_docker_profile,
            "validation_suite_source": check_validation_suite_source}

__all__ = ["CHECKS", "FEATURES", "DOCKER_PROFILE", "SUITE_SOURCE", "check_vm", "check_conformance_suite",
           "check_docker_profile", "check_validation_suite_source"]
