"""rootfs= is checked before anything is forked."""

import pytest

from labcore import InvalidInputError, process
from labcore.fs.rootfs import Rootfs
from labcore.fs.overlay import mount_data


def test_rootfs_must_be_a_directory(tmp_path):
    with pytest.raises(InvalidInputError, match="is not a directory"):
        Rootfs.of(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="not absolute"):
        Rootfs.of(Rootfs(str(tmp_path), cwd="relative"))
    assert Rootfs.of(tmp_path).path == str(tmp_path)


def test_a_rootfs_needs_a_mount_namespace(tmp_path):
    with pytest.raises(InvalidInputError, match="needs its own mount namespace"):
        process.spawn(["/bin/true"], "uts", rootfs=tmp_path)


def test_overlay_options_are_written_topmost_first():
    assert mount_data(["/l2", "/l1"], "/u", "/w", ["index=off"]) == \
        "lowerdir=/l2:/l1,upperdir=/u,workdir=/w,index=off"
