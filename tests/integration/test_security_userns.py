"""User namespace maps through newuidmap/newgidmap and /etc/subuid, and the LSMs of this machine."""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from labcore import images
from labcore.ns import process
from labcore.proc.ns import CONTAINER
from labcore.security import lsm, userns
from labcore.security.policy import Policy

pytestmark = pytest.mark.needs("root")


def test_subordinate_ranges_are_parsed_by_name_or_uid(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("nobody:200000:65536\n65534:300000:10\nroot:1:2\nbroken line\n")
    assert userns.subordinate_ranges("nobody", str(f)) == [userns.Range(200000, 65536), userns.Range(300000, 10)]
    lines = userns.rootless_map(65534, userns.subordinate_ranges("nobody", str(f)))
    assert lines == [(0, 65534, 1), (1, 200000, 65536), (65537, 300000, 10)]
    assert userns.outside(0, lines) == 65534 and userns.outside(1000, lines) == 200999
    assert userns.outside(70000, lines) is None
    f.write_text("dockremap:165536:65536\n")  # a user this host's passwd does not have: matched by name
    assert userns.subordinate_ranges("dockremap", str(f)) == [userns.Range(165536, 65536)]


@pytest.fixture
def subids_for_nobody():
    """A throwaway range for nobody in /etc/subuid and /etc/subgid, the files restored after."""
    saved = {p: open(p).read() if os.path.exists(p) else None for p in (userns.SUBUID, userns.SUBGID)}
    try:
        for p, text in saved.items():
            with open(p, "a") as f:
                f.write(("" if not text or text.endswith("\n") else "\n") + "nobody:231072:65536\n")
        yield
    finally:
        for p, text in saved.items():
            if text is None:
                os.unlink(p)
            else:
                with open(p, "w") as f:
                    f.write(text)


@pytest.mark.needs("userns_unprivileged")
def test_an_ordinary_user_maps_65536_ids_through_newuidmap(subids_for_nobody, nobody_copy):
    if userns.helpers()["newuidmap"] is None:
        pytest.fail("newuidmap is missing: provision/provision.sh installs uidmap")
    nobody = pwd.getpwnam("nobody")
    as_nobody = dict(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], cwd="/")
    sleeper = subprocess.Popen(["unshare", "-U", "sleep", "30"], **as_nobody)
    try:
        deadline = time.monotonic() + 10  # until unshare has exec'd sleep in its new user namespace
        while os.readlink(f"/proc/{sleeper.pid}/ns/user") == os.readlink("/proc/self/ns/user"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        lines = userns.rootless_map(nobody.pw_uid, userns.subordinate_ranges("nobody"))
        code = ("import sys; from labcore.security import userns; "
                f"userns.map_with_helpers({sleeper.pid}, {lines!r}, {lines!r})")
        done = subprocess.run([nobody_copy.python, "-c", code], capture_output=True, text=True, **as_nobody)
        assert done.returncode == 0, done.stderr
        assert userns.read_map(sleeper.pid) == [(0, 65534, 1), (1, 231072, 65536)]
        assert userns.read_map(sleeper.pid, "gid_map")[1] == (1, 231072, 65536)
        # without the /etc/subuid line the helper refuses: a wider map is the administrator's gift
        other = subprocess.Popen(["unshare", "-U", "sleep", "30"], **as_nobody)
        try:
            time.sleep(0.3)
            code = code.replace(str(sleeper.pid), str(other.pid)).replace("231072", "331072")
            refused = subprocess.run([nobody_copy.python, "-c", code], capture_output=True, text=True, **as_nobody)
            assert refused.returncode != 0 and "subuid" in refused.stderr
        finally:
            other.kill()
            other.wait()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_active_lsms_are_read_from_securityfs():
    names = lsm.active()
    assert "capability" in names  # always there: the capability checks are an LSM themselves
    assert lsm.apparmor_enabled() == ("apparmor" in names)
    assert (lsm.selinux_mode() in ("enforcing", "permissive")) == ("selinux" in names)


@pytest.mark.needs("userns_unprivileged")
def test_rootless_run_maps_the_users_subordinate_ids_when_it_has_some(subids_for_nobody, nobody_copy):
    nobody = pwd.getpwnam("nobody")
    home = __import__("tempfile").mkdtemp(prefix="lab-nobody-")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    try:
        done = subprocess.run([nobody_copy.python, "-m", "labcore", "run", "--rootless", "--", "sh", "-c",
                               "cat /proc/self/uid_map /proc/self/gid_map; id -u"], capture_output=True, text=True,
                              env={"PATH": os.environ["PATH"], "HOME": home}, cwd=home,
                              user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
        assert done.returncode == 0, done.stderr
        numbers = [line.split() for line in done.stdout.splitlines()]
        assert numbers == [["0", "65534", "1"], ["1", "231072", "65536"],
                           ["0", "65534", "1"], ["1", "231072", "65536"], ["0"]], done.stdout
    finally:
        __import__("shutil").rmtree(home)


@pytest.fixture
def reachable_dir():
    """A directory uid 100000 may traverse (pytest's own tmp_path is under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="lab-userns-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_remapped_root_gets_its_own_proc_and_sys_in_a_root_filesystem(reachable_dir):
    """Root mapped to uid 100000, pivot_root into an image's rootfs, Docker's default policy: the proc and
    sysfs it needs are mounted before the switch, while the host's are in sight (the kernel's condition
    in a user namespace), and show the container's own processes and links."""
    images.busybox_rootfs(reachable_dir / "rootfs", applets=["sh", "cat", "ls", "id"])
    (reachable_dir / "rootfs" / "sys").mkdir(exist_ok=True)
    r = process.run(["sh", "-c", "cat /proc/self/uid_map; ls /sys/class/net; echo $$"],
                    ",".join(["user", *CONTAINER]), rootfs=reachable_dir / "rootfs",
                    security=Policy.docker_default(), timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.split() == ["0", "100000", "65536", "lo", "1"]  # the map; only its loopback; PID 1
