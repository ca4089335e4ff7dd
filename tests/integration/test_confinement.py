"""labcore.teach.confinement reads a process's own confinement; checked against other tools and a real container."""

import subprocess

import pytest

import labcore as lab


def test_root_mount_matches_findmnt():
    root = lab.confinement.root_mount()
    fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "/"], capture_output=True, text=True).stdout.split()
    assert root["fstype"] == fstype[-1]  # the last one: the mount on top


def test_namespace_states_agree_with_the_doctor():
    here = lab.confinement.inspect()
    strong, _ = lab.doctor.container_signs()
    assert ("pid" in here.new_namespaces) == any("PID 2" in s for s in strong)
    assert here.overlay_root == any("overlay" in s for s in strong)
    assert set(here.namespaces) >= {"pid", "net", "mnt", "uts", "ipc", "user", "cgroup"}


@pytest.mark.needs("make_namespaces")
def test_a_lab_container_sees_new_namespaces_from_inside(state_dir):
    inside = lab.call(lab.confinement.inspect, ns=lab.namespaces.usable())
    assert {"pid", "uts", "ipc"} <= set(inside.new_namespaces)
    assert inside.namespaces["net"] == "no fixed number"  # net has no compiled-in inode: compare to tell


def test_cgroup_limits_read_the_files_of_our_own_cgroup():
    path, limits = lab.confinement.cgroup_limits()
    assert path.startswith("/")
    for limit in limits:
        with open(limit.file) as f:
            assert f.read().strip() == limit.value
        assert limit.controller in ("memory", "cpu", "pids")


@pytest.mark.needs("root", "cgroup_limits")
def test_cgroup_limits_name_the_limits_of_a_lab_cgroup(state_dir):
    # Seen from the host, as notebook 00 reads a container's: the limits set, in the files that hold them.
    with lab.cgroups.create("lab-confined", memory="64M", pids=20) as cg:
        with lab.spawn(["sleep", "30"], "pid", cgroup=cg) as box:
            path, limits = lab.confinement.cgroup_limits(box.pid)
            box.kill()
    found = {(limit.controller, limit.value) for limit in limits if limit.limited}
    assert path.endswith("/lab-confined")
    assert ("memory", str(64 << 20)) in found and ("pids", "20") in found, limits
