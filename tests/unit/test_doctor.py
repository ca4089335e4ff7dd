"""The doctor: every check answers, every 'no' has a fix, modes are detected right."""

import pytest

from labcore import InvalidInputError, doctor


def test_every_check_answers_and_every_no_has_a_fix():
    report = doctor.report()
    assert set(report) == set(doctor.CHECKS)
    for check in report.values():
        assert check.detail
        if not check.ok and check.name != "inside a container":
            assert check.fix, check.name
    assert "<table>" in report._repr_html_()


MOUNTS_HYBRID = """\
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
MOUNTS_V1 = "cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n"


@pytest.mark.parametrize("mounts,mode", [(MOUNTS_HYBRID, "hybrid"), (MOUNTS_V2, "v2"), (MOUNTS_V1, "v1"), ("", "none")])
def test_cgroup_mode(monkeypatch, mounts, mode):
    monkeypatch.setattr(doctor, "_read", lambda path, default="": mounts if path == "/proc/self/mounts" else default)
    assert doctor.cgroup_mode() == mode


def test_v1_controllers_skip_named_hierarchies(monkeypatch):
    monkeypatch.setattr(doctor, "_read", lambda path, default="": MOUNTS_HYBRID if path == "/proc/self/mounts" else default)
    assert doctor.v1_controllers() == {"cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory"}


def test_userns_restrictions_name_the_sysctl_and_its_fix(monkeypatch):
    values = {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1",
              "/proc/sys/user/max_user_namespaces": "100"}
    monkeypatch.setattr(doctor, "_read", lambda path, default="": values.get(str(path), default))
    monkeypatch.setattr(doctor, "_probe_userns", lambda as_uid: 1)  # what EPERM from the kernel gives
    check = doctor.check_userns_unprivileged()
    assert not check.ok and "Operation not permitted" in check.detail
    assert "kernel.apparmor_restrict_unprivileged_userns" in check.detail
    assert check.fix == "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"


def test_container_detection_trusts_the_kernel_over_files(monkeypatch):
    values = {"/proc/2/comm": "kthreadd", "/proc/self/uid_map": "0 0 4294967295",
              "/proc/self/mountinfo": "1 0 8:1 / / rw - ext4 /dev/vda rw", "/proc/self/cgroup": "0::/"}
    monkeypatch.setattr(doctor, "_read", lambda path, default="": values.get(str(path), default))
    assert not doctor.check_container().ok
    values["/proc/2/comm"] = ""
    values["/proc/self/uid_map"] = "0 100000 65536"
    check = doctor.check_container()
    assert check.ok and "user namespace" in check.detail and "pid namespace" in check.detail


def test_unknown_feature_is_refused():
    with pytest.raises(InvalidInputError):
        doctor.has("warp-drive")


def test_needs_prints_the_reason(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "has", lambda name: name != "tool:nothing")
    monkeypatch.setattr(doctor, "why_not", lambda name: "not installed")
    assert doctor.needs("root")
    assert not doctor.needs("root", "tool:nothing")
    assert "needs tool:nothing" in capsys.readouterr().out


def test_the_userns_probe_really_tries():
    # As root it tries as nobody; as anyone else, as itself. Either way a real unshare(2) in a child,
    # whose verdict must be util-linux's: unshare(1) run as the same user.
    import os
    import subprocess
    root = os.geteuid() == 0
    code = doctor._probe_userns(65534 if root else None)
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if root else []
    peer = subprocess.run([*as_user, "unshare", "--user", "true"], capture_output=True).returncode
    assert (code == 0) == (peer == 0), (code, peer)
    if root and doctor.has("userns"):
        assert doctor._probe_userns(None) == 0  # root may always make one where the kernel has them
