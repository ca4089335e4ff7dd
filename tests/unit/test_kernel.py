"""The kernel boundary: flags, the recording fake, and how failures are reported."""

import errno
import os

import pytest

from labcore import kernel
from labcore.kernel import flags as F
from labcore.kernel.libc import LibcKernel


def test_describe_spells_flags_like_strace():
    assert F.describe(F.CLONE_NEWPID | F.CLONE_NEWNS, F.CLONE_NAMES) == "CLONE_NEWNS|CLONE_NEWPID"
    assert F.describe(0, F.CLONE_NAMES) == "0"
    assert F.describe(F.MS_BIND | 1 << 30, F.MS_NAMES) == "MS_BIND|0x40000000"


def test_clone_flags_are_distinct_bits():
    values = list(F.CLONE_NAMES)
    assert len(set(values)) == 8
    for v in values:
        assert v & (v - 1) == 0, hex(v)


def test_recording_kernel_replaces_the_real_one_and_restores_it():
    real = kernel.active()
    with kernel.recording() as rec:
        kernel.unshare(F.CLONE_NEWUTS)
        kernel.sethostname("box")
        kernel.mount("proc", "/proc", "proc", F.MS_NOSUID)
    assert kernel.active() is real
    assert rec.names() == ["unshare", "sethostname", "mount"]
    assert rec.calls[2] == ("mount", ("proc", "/proc", "proc", F.MS_NOSUID, None))


def test_recording_kernel_can_fail_like_the_kernel():
    with kernel.recording(fail_on={"unshare": errno.EPERM}):
        with pytest.raises(PermissionError) as info:
            kernel.unshare(F.CLONE_NEWPID)
    assert info.value.errno == errno.EPERM


def test_real_failure_keeps_errno_and_names_the_object(tmp_path):
    # umount of a directory that is not a mount point fails harmlessly, root or not.
    with pytest.raises(OSError) as info:
        LibcKernel().umount2(str(tmp_path))
    assert info.value.errno in (errno.EINVAL, errno.EPERM)
    assert str(tmp_path) in str(info.value)
    assert "umount" in str(info.value)


def test_permission_errors_stay_permission_errors(tmp_path):
    # A real refusal by the kernel: sethostname(2) without CAP_SYS_ADMIN. Root first becomes
    # nobody in a throwaway child, so the host's hostname is never at stake.
    def attempt() -> int:
        try:
            LibcKernel().sethostname("x")
        except PermissionError as exc:
            return 0 if "sethostname('x')" in str(exc) else 2
        return 1

    if os.geteuid() != 0:
        assert attempt() == 0
        return
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            code = attempt()
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
