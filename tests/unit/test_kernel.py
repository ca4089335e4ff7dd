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


def test_the_fake_has_every_call_of_the_real_kernel():
    real = {n for n in dir(LibcKernel) if not n.startswith("_") and callable(getattr(LibcKernel, n))}
    fake = {n for n in dir(kernel.RecordingKernel) if not n.startswith("_") and callable(getattr(kernel.RecordingKernel, n))}
    assert real <= fake, f"calls the fake lacks: {sorted(real - fake)}"
    import inspect
    for name in real:  # same arguments, so code given the fake runs as it would on the real one
        want = list(inspect.signature(getattr(LibcKernel, name)).parameters)
        have = list(inspect.signature(getattr(kernel.RecordingKernel, name)).parameters)
        assert have[:len(want)] == want, name


def test_recording_kernel_records_calls_given_to_it():
    rec = kernel.RecordingKernel()
    rec.unshare(F.CLONE_NEWUTS)
    rec.sethostname("box")
    rec.mount("proc", "/proc", "proc", F.MS_NOSUID)
    rec.write("/proc/42/uid_map", "0 1000 1\n")
    assert rec.names() == ["unshare", "sethostname", "mount", "write"]
    assert rec.calls[2] == ("mount", ("proc", "/proc", "proc", F.MS_NOSUID, None))
    assert rec.written == {"/proc/42/uid_map": "0 1000 1\n"}
    assert kernel.default() is kernel.default() and isinstance(kernel.default(), LibcKernel)


def test_recording_kernel_can_fail_like_the_kernel():
    rec = kernel.RecordingKernel(fail_on={"unshare": errno.EPERM})
    with pytest.raises(PermissionError) as info:
        rec.unshare(F.CLONE_NEWPID)
    assert info.value.errno == errno.EPERM


def test_rootfs_setup_makes_its_calls_in_order_without_root(tmp_path):
    from labcore.fs.rootfs import Rootfs, enter
    (tmp_path / "dev").mkdir()
    (tmp_path / "proc").mkdir()
    rec = kernel.RecordingKernel()
    cwd = os.getcwd()
    try:
        enter(Rootfs(str(tmp_path), cwd="/", readonly=True), mount_proc=True, k=rec)
    finally:
        os.chdir(cwd)
    names = rec.names()
    # bind the root onto itself, a tmpfs /dev, a proc while the host's is still visible (a user namespace
    # needs that), then pivot_root(".", ".") and detach the old root
    assert names[0] == "mount" and rec.calls[0][1][3] == F.MS_BIND | F.MS_REC
    assert rec.calls[1][1][:3] == ("tmpfs", str(tmp_path / "dev"), "tmpfs")
    assert ("symlink", ("/proc/self/fd", str(tmp_path / "dev" / "fd"))) in rec.calls
    pivot = names.index("pivot_root")
    assert rec.calls[pivot - 2][1][:3] == ("proc", str(tmp_path / "proc"), "proc")
    assert rec.calls[pivot - 1] == ("chdir", (str(tmp_path),))
    assert rec.calls[pivot + 1] == ("umount2", (".", F.MNT_DETACH))
    assert rec.calls[pivot + 3][1][3] == F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY  # root.readonly
    assert names[-1] == "chdir"


def test_a_trace_records_calls_of_this_process_and_of_its_children():
    k = LibcKernel()
    with kernel.trace(k, show=False) as t:
        pid = k.fork()
        if pid == 0:
            try:
                k.set_name("traced-child")
                k.execve("/nonexistent/program", ["program"], {})
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        with pytest.raises(OSError):
            k.umount2("/nonexistent-labcore-path")
    assert t.names() == ["fork", "prctl", "execve", "execve", "umount2"]
    assert t[0].pid == os.getpid() and t[0].result == str(pid)
    assert [c.pid for c in t[1:4]] == [pid] * 3 and t.who(t[1]) == "child 1"
    assert t[2].result.startswith("no return") and t[3].result.startswith("-1 ENOENT")
    assert t[4].result == "-1 ENOENT (No such file or directory)" and t[4].failed
    # printed process by process: this one's fork and umount2, then the child's three calls
    lines = repr(t).splitlines()
    assert lines[1] == 'labcore  umount2("/nonexistent-labcore-path", 0) = -1 ENOENT (No such file or directory)'
    assert [line.split()[:2] for line in lines[2:]] == [["child", "1"]] * 3
    assert k.tracing == -1  # off again: calls after the block are not written anywhere


def test_capget_reads_the_sets_proc_shows():
    effective, permitted, inheritable = LibcKernel().capget()
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
    assert (effective, permitted, inheritable) == (int(status["CapEff"], 16), int(status["CapPrm"], 16),
                                                   int(status["CapInh"], 16))


def test_capset_drops_a_capability_for_real_in_a_child():
    k = LibcKernel()
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            eff, prm, inh = k.capget()
            chown = 1 << 0  # CAP_CHOWN
            k.capset(eff & ~chown, prm & ~chown, inh)
            status = open("/proc/self/status").read()
            line = next(x for x in status.splitlines() if x.startswith("CapEff:"))
            code = 0 if int(line.split()[1], 16) == eff & ~chown else 1
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_nested_traces_are_refused():
    k = LibcKernel()
    with kernel.trace(k, show=False):
        with pytest.raises(RuntimeError, match="already on"):
            with kernel.trace(k, show=False):
                pass


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
