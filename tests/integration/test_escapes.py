"""Deep dive D's escapes, for real: each misconfiguration gives a container the VM-host's secret, and
labcore run's default stops it. Every escape runs in a throwaway QEMU VM (labcore.teach.hostvm), never on
this machine; the tests also check that no VM, scratch directory or record is left behind."""

import os

import pytest

from labcore import tracker
from labcore.teach import escapes, hostvm

pytestmark = [pytest.mark.needs("root"), pytest.mark.needs("vm")]


def _leftovers():
    """This test process's own QEMUs and host disks still recorded, and its disk directories still there
    (other VMs, of other tests or notebooks, may run meanwhile)."""
    mine = [r for r in tracker.default().records() if r.owner == os.getpid()]
    procs = [r for r in mine if r.kind == "process" and r.extra.get("what") == "qemu"]
    dirs = [r.target for r in mine if r.kind == "path" and "escape-host" in r.target]
    return procs, dirs + [d for d in _seen_dirs if os.path.exists(d)]


_seen_dirs = []
_real_boot = hostvm.HostVM.boot


def _boot_and_note(self):  # remember each scratch directory a host VM used, to check it is gone after
    try:
        return _real_boot(self)
    finally:
        if self._scratch is not None:
            _seen_dirs.append(str(self._scratch.path))


hostvm.HostVM.boot = _boot_and_note


# Every escape in ONE booted host (a boot costs 10-20 s of software emulation; the containers are fresh
# for each demo). Order: the escapes that leave the most behind run last, and each escape's Escape.undo
# runs in the guest after its demo (the release_agent's /escape/out holding the secret, its cgroup
# hierarchy, the engine, the AppArmor profile; the disk's device node is in its container's own /dev),
# so no demo can pass by reading an earlier one's leftovers. A run can only print the secret by reading
# that VM's disk: see each escape.
ORDER = ("disk", "socket", "pid", "apparmor", "release_agent")


@pytest.fixture(scope="module")
def shared():
    """The shared host and the outcome of each escape in it; the host is closed by the last test."""
    host = escapes.EscapeHost().__enter__()
    try:
        yield host, {i: host.demonstrate(i) for i in ORDER}
    finally:
        host.close()


@pytest.mark.parametrize("escape_id", ["disk", "socket", "release_agent", "pid"])
def test_escape_works_misconfigured_and_is_stopped_by_default(shared, escape_id):
    host, outcomes = shared
    out = outcomes[escape_id]
    first = out.misconfigured
    assert first.escaped, f"{escape_id}: the misconfigured container did not read the host's secret:\n{first.output}"
    assert first.status == 0
    assert not out.default.escaped, f"{escape_id}: the default container read the host's secret:\n{out.default.output}"
    assert out.default.status != 0
    assert out.as_expected, out.table()
    assert "<the host's secret>" in first.output      # the random secret of that VM, read from its disk
    assert "apparmor" in out.lsm.split(",")            # the guest's kernel has AppArmor among its LSMs


# Why each misconfigured container fails once its root is uid 100000 of a user namespace: the refusal of
# the script's first step that needs the host's user namespace (busybox words EPERM and EACCES its way).
REFUSED_IN_USERNS = {
    "disk": "mknod: /dev/hostdisk: Operation not permitted",  # CAP_MKNOD counts in the initial namespace only
    "socket": "connect /run/engine.sock: Permission denied",  # 0660 root: uid 100000 is "other"
    "release_agent": "permission denied",                     # mount(2): a cgroup v1 hierarchy, refused
    "pid": "Permission denied",                               # /proc/1/root: ptrace access check
}


@pytest.mark.parametrize("escape_id", sorted(REFUSED_IN_USERNS))
def test_a_user_namespace_stops_the_same_misconfiguration(shared, escape_id):
    out = shared[1][escape_id]
    run = out.run(escapes.IN_USERNS)
    assert run.flags[-1] == "--rootless" and run.flags[:-1] == out.misconfigured.flags
    assert not run.escaped and run.status != 0, run.output
    assert REFUSED_IN_USERNS[escape_id] in run.output, run.output


def test_default_refusals_name_their_layer(shared):
    disk = shared[1]["disk"]
    assert "permission denied" in disk.default.output.lower()              # mount(2): EPERM
    assert "permission denied" in disk.run("default without seccomp").output.lower()  # capabilities alone
    assert "the host's disk: nvme0n1" in disk.default.output               # /proc/partitions is not namespaced


def test_the_socket_escape_needs_only_the_socket(shared):
    sock = shared[1]["socket"]
    assert sock.misconfigured.escaped and "--privileged" not in sock.misconfigured.flags  # default profile
    assert "No such file" in sock.default.output   # a fresh default container has no socket (no mount point left)


def test_apparmor_alone_stops_a_privileged_mount(shared):
    out = shared[1]["apparmor"]
    assert out.misconfigured.escaped
    confined = out.runs[1]
    assert not confined.escaped and "Permission denied" in confined.output     # EACCES: the LSM, not EPERM
    assert 'apparmor="DENIED" operation="mount" profile="lab-no-mount"' in out.denial


def test_undo_leaves_the_shared_host_clean(shared):
    """What the escapes left is gone from the guest: a later demo starts from a clean host."""
    host, _ = shared
    r = escapes.ROOTFS
    left = host.host.run(
        f"echo files: $(ls {r}/escape {r}/tmp); echo engines: $(ps | grep -c '[e]scapeguest engine'); "
        "echo profiles: $(grep -c lab-no-mount /sys/kernel/security/apparmor/profiles); "
        # mounting the named hierarchy again shows its cgroups: x would still be there with the release_agent
        "mkdir -p /run/c && mount -t cgroup -o none,name=lab-escape cgroup /run/c && echo cgroups: $(ls -d /run/c/*/); "
        "umount /run/c; rmdir /run/c")
    lines = dict(l.split(":", 1) for l in left.splitlines() if ":" in l)
    assert not {"out", "payload", "hostdisk"} & set(lines["files"].split()), left
    assert lines["engines"].strip() == "0" and lines["profiles"].strip() == "0", left
    assert lines["cgroups"].strip() == "", left


def test_shared_host_is_gone_after_its_demos(shared):
    host, _ = shared
    pid = host.pid
    host.close()
    assert not tracker.is_running(pid)
    assert _leftovers() == ([], [])


def test_host_vm_is_gone_after_an_error_inside():
    with pytest.raises(Exception):
        with hostvm.HostVM(escapes.SCRIPTS) as host:
            pid = host.vm.pid
            host.run("exit 3")
    assert not tracker.is_running(pid)
    assert _leftovers() == ([], [])


def test_unknown_escape_is_refused():
    from labcore.errors import InvalidInputError
    with pytest.raises(InvalidInputError):
        escapes.demonstrate("teleport")
