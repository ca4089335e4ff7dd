"""The doctor: every check answers, every 'no' has a fix, modes are detected right."""

import ast
from pathlib import Path

import pytest

from labcore import InvalidInputError, cgroups, doctor
from labcore import check
from labcore import check as host
from labcore.ns import checks as ns_checks
from labcore.proc import cgroup as proc_cgroup
from labcore.proc import mountinfo
from labcore.proc.ns import KINDS


def test_every_check_answers_and_every_no_has_a_fix():
    report = doctor.report()
    assert set(report) == set(doctor.CHECKS)
    for answer in report.values():
        assert answer.detail
        if not answer.ok and answer.name != "inside a container":
            assert answer.fix, answer.name
    assert "<table>" in report._repr_html_()


# /proc/self/mountinfo lines: "... point options - fstype source super-options".
MOUNTS_HYBRID = """\
30 25 0:26 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
33 25 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:12 - cgroup2 cgroup2 rw,nsdelegate
"""
MOUNTS_V2 = "29 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
MOUNTS_V1 = "30 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"


@pytest.mark.parametrize("mounts,mode", [(MOUNTS_HYBRID, "hybrid"), (MOUNTS_V2, "v2"), (MOUNTS_V1, "v1"), ("", "none")])
def test_cgroup_mode(mounts, mode):
    assert proc_cgroup.mode(mountinfo.parse(mounts)) == mode


def test_v1_controllers_skip_named_hierarchies_and_flags():
    assert proc_cgroup.v1_controllers(mountinfo.parse(MOUNTS_HYBRID)) == \
        {"cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory"}


def test_one_source_for_the_cgroup_mode():
    # The doctor's names are labcore.proc.cgroup's, and so is lab.cgroups.mode() on this machine.
    assert (doctor.cgroup_mode, doctor.cgroup_mounts) == (proc_cgroup.mode, proc_cgroup.mounts)
    assert (doctor.v1_controllers, doctor.v2_controllers) == (proc_cgroup.v1_controllers, proc_cgroup.v2_controllers)
    if doctor.cgroup_mode() != "none":
        assert cgroups.mode() == doctor.cgroup_mode()


def test_userns_restrictions_name_the_sysctl_and_its_fix(monkeypatch):
    values = {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1",
              "/proc/sys/user/max_user_namespaces": "100"}
    monkeypatch.setattr(ns_checks, "read", lambda path, default="": values.get(str(path), default))
    monkeypatch.setattr(ns_checks, "_probe_userns", lambda as_uid: 1)  # what EPERM from the kernel gives
    check = ns_checks.check_userns_unprivileged()
    assert not check.ok and "Operation not permitted" in check.detail
    assert "kernel.apparmor_restrict_unprivileged_userns" in check.detail
    assert check.fix == "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"


def test_container_detection_trusts_the_kernel_over_files(monkeypatch):
    values = {"/proc/2/comm": "kthreadd", "/proc/self/uid_map": "0 0 4294967295",
              "/proc/self/mountinfo": "1 0 8:1 / / rw - ext4 /dev/vda rw", "/proc/self/cgroup": "0::/"}
    monkeypatch.setattr(host, "read", lambda path, default="": values.get(str(path), default))
    assert not doctor.check_container().ok
    values["/proc/2/comm"] = ""
    values["/proc/self/uid_map"] = "0 100000 65536"
    check = doctor.check_container()
    assert check.ok and "user namespace" in check.detail and "pid namespace" in check.detail
    values["/proc/self/mountinfo"] = "1 0 0:50 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w"
    values["/proc/self/cgroup"] = "0::/kubepods/besteffort/pod1/abc\n"
    strong, _ = doctor.container_signs()
    assert any("overlay" in s for s in strong) and any("container manager" in s for s in strong)


def test_each_package_exports_its_checks_and_the_doctor_gathers_them():
    from labcore.cgroups import checks as cgroup_checks
    from labcore.fs import checks as fs_checks
    from labcore.teach import checks as teach_checks
    owners = [host.CHECKS, ns_checks.CHECKS, cgroup_checks.CHECKS, fs_checks.CHECKS, teach_checks.CHECKS]
    assert list(doctor.CHECKS) == [name for checks in owners for name in checks]
    assert len(doctor.CHECKS) == 18  # notebook 00 says so
    assert {"netns", "cgroup_limits", "cgroup_io"} <= set(doctor.FEATURES)
    assert doctor.CHECKS["vm"] is teach_checks.check_vm and doctor.CHECKS["cgroups"] is cgroup_checks.check_cgroups


def test_no_check_imports_the_doctor_that_gathers_them():
    # The doctor imports every package's checks when it loads; a check importing the doctor back
    # would be a cycle (test_imports finds cycles; this names the rule).
    from labcore.cgroups import checks as cgroup_checks
    from labcore.fs import checks as fs_checks
    from labcore.teach import checks as teach_checks
    for module in (check, ns_checks, cgroup_checks, fs_checks, teach_checks):
        for node in ast.walk(ast.parse(Path(module.__file__).read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "doctor" not in (node.module or "") and all(a.name != "doctor" for a in node.names), \
                    f"{module.__name__}: {ast.dump(node)}"


def test_the_namespace_check_uses_the_one_table_of_kinds():
    assert doctor.has("namespaces") == (set(KINDS) <= {p.name for p in Path("/proc/self/ns").iterdir()})
    assert f"all {len(KINDS)}" in ns_checks.check_namespaces().fix


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
    code = ns_checks._probe_userns(65534 if root else None)
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if root else []
    peer = subprocess.run([*as_user, "unshare", "--user", "true"], capture_output=True).returncode
    assert (code == 0) == (peer == 0), (code, peer)
    if root and doctor.has("userns"):
        assert ns_checks._probe_userns(None) == 0  # root may always make one where the kernel has them
