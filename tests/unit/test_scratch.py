"""Scratch directories: recorded before they exist, removed by cleanup, in the state dir or on disk."""

import pytest

from labcore import InvalidInputError, tracker
from labcore.fs.mounts import backing, parse_mountinfo
from labcore.fs.scratch import Scratch


def test_scratch_in_the_state_dir_and_on_disk_are_both_cleaned_up(state_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    small, big = Scratch("small"), Scratch("big", on_disk=True)
    assert small.path.parent == state_dir / "fs"
    assert big.path.parent == tmp_path / "data" and big.path.name.startswith("lab-big-")
    (big.path / "file").write_bytes(b"x" * 1000)
    assert {r.target for r in tracker.default().records()} == {str(small.path), str(big.path)}
    done = tracker.default().cleanup()  # as after a crash
    assert [o for _, o in done] == ["removed", "removed"]
    assert not small.path.exists() and not big.path.exists()


def test_bad_scratch_names_are_refused(state_dir):
    for name in ("", "a/b", ".hidden"):
        with pytest.raises(InvalidInputError, match="bad scratch name"):
            Scratch(name)


def test_parse_mountinfo_reads_bind_roots_and_overlay_options():
    text = ("36 27 254:0 /srv/vol/_data /data rw,relatime - ext4 /dev/vda rw\n"
            "37 27 0:44 / /merged\\040dir rw - overlay overlay rw,lowerdir=/l2:/l1,upperdir=/u,workdir=/w\n")
    bind, ov = parse_mountinfo(text)
    assert (bind.root, bind.point, bind.fstype, bind.device) == ("/srv/vol/_data", "/data", "ext4", "254:0")
    assert ov.point == "/merged dir" and ov.option("lowerdir") == "/l2:/l1" and ov.option("workdir") == "/w"


def test_backing_finds_the_filesystem_of_a_path(tmp_path):
    mount, inside = backing(tmp_path)
    assert tmp_path.as_posix().startswith(mount.point) and inside.endswith(tmp_path.name)
