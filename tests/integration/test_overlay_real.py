"""overlayfs on the real kernel: copy-up, whiteouts, opaque dirs, and their translation to tars."""

import os
import tarfile

import pytest

import labcore as lab
from labcore import fs
from labcore.fs.extract import apply_layer
from labcore.fs.layers import write_tar
from labcore.images.base import busybox_rootfs

pytestmark = pytest.mark.needs("root", "overlayfs")


@pytest.fixture
def base(state_dir):
    with fs.Scratch("test-base") as s:
        busybox_rootfs(s.dir("base"), applets=["sh", "ls", "rm", "mkdir", "echo", "cat", "mv"])
        (s.path / "base" / "etc" / "big").write_bytes(b"A" * 100_000)
        (s.path / "base" / "opt").mkdir()
        (s.path / "base" / "opt" / "a").write_text("a")
        yield s.path / "base"


def test_copy_up_whiteout_opaque_and_removal(base, state_dir):
    before = fs.layers.tree_digest(base)
    with fs.container_layer([base]) as c:
        assert "lowerdir=" in c.mountinfo() and " overlay " in c.mountinfo()
        (c.merged / "etc" / "big").read_bytes()  # reading copies nothing up
        assert list(c.upper.iterdir()) == []
        with open(c.merged / "etc" / "big", "r+b") as f:  # one byte written: the whole file is copied up
            f.write(b"B")
        assert (c.upper / "etc" / "big").stat().st_size == 100_000
        os.unlink(c.merged / "etc" / "passwd")
        assert fs.is_whiteout(c.upper / "etc" / "passwd")
        assert os.major(os.lstat(c.upper / "etc" / "passwd").st_rdev) == 0
        r = lab.run(["/bin/sh", "-c", "rm -rf /opt && mkdir /opt && echo n > /opt/new"], rootfs=c.merged)
        assert r.returncode == 0, r.stderr
        assert fs.is_opaque(c.upper / "opt") and sorted(os.listdir(c.merged / "opt")) == ["new"]
        assert {(ch.path, ch.kind) for ch in c.changes()} == {
            ("/etc/big", "modified"), ("/etc/passwd", "deleted"), ("/opt", "replaced"), ("/opt/new", "added")}
        with open(state_dir / "layer.tar", "wb") as out:
            write_tar(c.upper, out)
        upper, scratch = c.upper, c._scratch[0].path
    assert not scratch.exists() and not upper.exists()  # the container's layer is gone...
    assert fs.layers.tree_digest(base) == before                   # ...and the image is untouched
    assert str(scratch) not in open("/proc/self/mountinfo").read()
    with tarfile.open(state_dir / "layer.tar") as tar:
        names = tar.getnames()
    assert "etc/.wh.passwd" in names and "opt/.wh..wh..opq" in names
    assert names.index("opt/.wh..wh..opq") < names.index("opt/new")


def test_tar_whiteouts_become_overlay_marks_and_work_as_a_lower_layer(base, state_dir):
    with fs.container_layer([base]) as c:
        os.unlink(c.merged / "etc" / "passwd")
        lab.run(["/bin/sh", "-c", "rm -rf /opt && mkdir /opt && echo n > /opt/new"], rootfs=c.merged)
        with open(state_dir / "layer.tar", "wb") as out:
            write_tar(c.upper, out)
    with fs.Scratch("test-layer") as s:
        applied = apply_layer(state_dir / "layer.tar", s.path, mode="overlay")
        assert applied.deleted == ["etc/passwd"] and applied.opaque == ["opt"]
        assert fs.is_whiteout(s.path / "etc" / "passwd") and fs.is_opaque(s.path / "opt")
        with fs.container_layer([s.path, base]) as c2:  # the layer stacked on the base: same view as before
            assert not (c2.merged / "etc" / "passwd").exists()
            assert sorted(os.listdir(c2.merged / "opt")) == ["new"]


def test_rootfs_hides_the_host(base):
    r = lab.run(["/bin/sh", "-c", "ls /; echo; ls /proc | grep -c '^[0-9]'; cat /proc/self/mountinfo"], rootfs=base)
    listing, rest = r.stdout.split("\n\n", 1)
    count, mountinfo = rest.split("\n", 1)
    assert listing.split() == sorted(os.listdir(base))
    assert int(count) <= 3
    # The host's mounts are gone: only the new root and what was mounted under it (/proc) remain.
    points = [line.split()[4] for line in mountinfo.splitlines() if line.strip()]
    assert points and all(p == "/" or p.startswith(("/proc", "/dev")) for p in points), points


def test_mount_refuses_bad_input_before_mounting(base, state_dir, tmp_path):
    for d in ("m", "u", "w"):
        (tmp_path / d).mkdir()
    with pytest.raises(lab.InvalidInputError, match="not a lab path"):
        fs.mount([base], tmp_path / "m", tmp_path / "u", tmp_path / "w")
    with pytest.raises(lab.InvalidInputError, match="not a directory"):
        fs.container_layer([base / "nope"])
    with pytest.raises(lab.InvalidInputError, match="contains ','"):
        fs.container_layer([str(base) + ",upperdir=/etc"])
