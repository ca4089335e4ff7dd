"""cgroup v2 device rules as an eBPF program, on the real kernel.

On this hybrid host the v1 devices controller also checks a container's devices, so to see the v2
program alone, a process joins only the *unified* (cgroup2) cgroup and stays in the v1 root: what it
is refused, the program refused. Where cgroup2 has a hierarchy, these tests run (VM included).
"""

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labcore import images, tracker
from labcore.kernel import bpf
from labcore.runtime import cgroups, devices_v2
from labcore.runtime.devices_v2 import Rule

pytestmark = pytest.mark.needs("root")

RUNTIME = [sys.executable, "-m", "labcore", "runtime"]


def unified() -> Path:
    mount = cgroups.hierarchies().get("")
    if mount is None:
        pytest.fail("no cgroup2 hierarchy is mounted: this host has none to attach a program to")
    return mount


@pytest.fixture
def lab_group(state_dir):
    """labcore/devtest-PID in the cgroup2 hierarchy, recorded; undone after the test."""
    leaf = f"devtest-{os.getpid()}"
    records = cgroups.record_peer_groups([leaf], "device filter test")
    path = unified() / tracker.CGROUP_NAME / leaf
    path.mkdir()
    yield path
    for rec in records:
        tracker.default().undo(rec)
    assert not path.exists()


def open_from(cgroup: Path, device: str, flags: int = os.O_RDONLY) -> int:
    """Open ``device`` from a child put into ``cgroup`` (the unified hierarchy only): 0 or the errno."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
            try:
                os.close(os.open(device, flags))
                result = 0
            except OSError as exc:
                result = exc.errno
            os.write(w, str(result).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        answer = os.read(r, 64)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return int(answer)


def test_null_allowed_zero_denied_then_detached(lab_group):
    assert open_from(lab_group, "/dev/zero") == 0  # nothing attached yet
    seen = []
    prog = devices_v2.attach(lab_group, [Rule(False), Rule.from_line("c 1:3 rwm"), Rule(True, "c", 1, 8, "r")],
                             loaded=lambda prog_id: seen.append((prog_id, devices_v2.attached(lab_group))))
    assert seen == [(prog, [])]  # its id is known (for the tracker's record) before it is attached
    assert devices_v2.attached(lab_group) == [prog]
    assert open_from(lab_group, "/dev/null", os.O_RDWR) == 0
    assert open_from(lab_group, "/dev/zero") == errno.EPERM
    assert open_from(lab_group, "/dev/random") == 0                      # read granted
    assert open_from(lab_group, "/dev/random", os.O_WRONLY) == errno.EPERM  # write not
    assert devices_v2.detach(lab_group, prog) is True
    assert devices_v2.attached(lab_group) == []
    assert open_from(lab_group, "/dev/zero") == 0
    assert devices_v2.detach(lab_group, prog) is False  # already gone: nothing to do


def test_the_verifier_refuses_a_program_without_exit():
    code = devices_v2.insn(devices_v2.ALU64_MOV_K, 0, imm=1)  # r0 = 1, and then nothing
    with pytest.raises(OSError) as err:
        bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, code, name="bad", expected_attach_type=bpf.BPF_CGROUP_DEVICE)
    assert err.value.errno == errno.EINVAL and "verifier" in str(err.value)


def test_a_program_goes_with_its_cgroup(lab_group):
    prog = devices_v2.attach(lab_group, [Rule(False)])
    fd = bpf.prog_get_fd_by_id(prog)  # it exists while attached
    os.close(fd)
    lab_group.rmdir()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # freed after an RCU grace period
        try:
            os.close(bpf.prog_get_fd_by_id(prog))
        except FileNotFoundError:
            return
        time.sleep(0.02)
    pytest.fail(f"program {prog} outlived its cgroup")


@pytest.fixture
def bundle(tmp_path, state_dir):
    b = tmp_path / "bundle"
    b.mkdir()
    images.busybox_rootfs(b / "rootfs", applets=["sh", "sleep", "cat", "head"])
    subprocess.run(RUNTIME + ["spec", "--bundle", str(b)], check=True, capture_output=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"]["args"] = ["sleep", "30"]
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def rt(root, *args):
    """The runtime, its stderr in a file: a created container keeps create's stdio, so a pipe would not end."""
    with open(root.parent / "err", "w+") as err:
        code = subprocess.run(RUNTIME + ["--root", str(root), *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=60).returncode
        err.seek(0)
        assert code == 0, err.read()


def container_programs():
    return [p for r in tracker.default().records() if r.kind == "container" for p in r.extra.get("device_programs") or []]


def test_the_runtime_attaches_the_config_rules_and_delete_takes_them(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    rt(root, "create", "--bundle", str(bundle), "dev2")
    try:
        group = unified() / tracker.CGROUP_NAME / "dev2"
        (entry,) = container_programs()
        assert entry["cgroup"] == str(group) and devices_v2.attached(group) == [entry["prog_id"]]
        # runtime spec's default: deny all, then what every container gets (/dev/null, /dev/zero...): a
        # process in the v2 group alone may open /dev/zero, but not a device outside the list (/dev/kmsg, 1:11).
        assert open_from(group, "/dev/zero") == 0
        assert open_from(group, "/dev/kmsg") == errno.EPERM
    finally:
        rt(root, "delete", "--force", "dev2")
    assert not group.exists() and container_programs() == []


def test_a_cgroup_that_outlives_the_container_loses_its_program(bundle, tmp_path, lab_group):
    """cgroupsPath naming a group that exists already: delete leaves the group and detaches the program."""
    root = tmp_path / "root"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["cgroupsPath"] = "/" + str(lab_group.relative_to(unified()))
    cfg["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"},
                                            {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"}]
    (bundle / "config.json").write_text(json.dumps(cfg))
    rt(root, "create", "--bundle", str(bundle), "dev3")
    try:
        (prog,) = devices_v2.attached(lab_group)
        assert open_from(lab_group, "/dev/kmsg") == 0                          # the config's allow: read
        assert open_from(lab_group, "/dev/kmsg", os.O_WRONLY) == errno.EPERM  # but not write
    finally:
        rt(root, "delete", "--force", "dev3")
    assert lab_group.exists() and devices_v2.attached(lab_group) == []
    assert open_from(lab_group, "/dev/kmsg", os.O_WRONLY) == 0
