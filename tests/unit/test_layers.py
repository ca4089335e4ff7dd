"""Layers from directories: stable tars, diffs with whiteouts, the two digests."""

import hashlib
import os
import tarfile

from labcore.fs.layers import diff, make_layer, write_diff_tar, write_tar


def tree(root, files):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
        os.utime(path, (1_000_000, 1_000_000))
    return root


def test_same_content_same_diff_id(tmp_path):
    a = tree(tmp_path / "a", {"x/1": "one", "x/2": "two"})
    with open(tmp_path / "t1", "wb") as f1, open(tmp_path / "t2", "wb") as f2:
        d1, _ = write_tar(a, f1, mtime=0)
        d2, _ = write_tar(a, f2, mtime=0)
    assert d1 == d2 == "sha256:" + hashlib.sha256((tmp_path / "t1").read_bytes()).hexdigest()
    (a / "x" / "2").write_text("TWO")
    with open(tmp_path / "t3", "wb") as f3:
        assert write_tar(a, f3, mtime=0)[0] != d1


def test_entries_are_sorted_owned_by_ids_and_prefixed(tmp_path):
    a = tree(tmp_path / "a", {"b": "", "a/z": "", "a/c": ""})
    with open(tmp_path / "t", "wb") as f:
        write_tar(a, f, owner=(0, 0), prefix="/app/")
    with tarfile.open(tmp_path / "t") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app", "app/a", "app/a/c", "app/a/z", "app/b"]
    assert {(m.uid, m.gid, m.uname) for m in members} == {(0, 0, "")}


def test_diff_names_added_modified_deleted(tmp_path):
    old = tree(tmp_path / "old", {"keep": "k", "change": "1", "gone/deep/file": "x", "gonefile": "y"})
    new = tree(tmp_path / "new", {"keep": "k", "change": "22", "added/file": "z"})
    assert diff(old, new) == [("added", "added"), ("added/file", "added"), ("change", "modified"),
                              ("gone", "deleted"), ("gonefile", "deleted")]
    with open(tmp_path / "t", "wb") as f:
        write_diff_tar(old, new, f)
    with tarfile.open(tmp_path / "t") as tar:
        names = tar.getnames()
    assert names == ["added", "added/file", "change", ".wh.gone", ".wh.gonefile"]


def test_gzip_layer_has_two_names(tmp_path):
    a = tree(tmp_path / "a", {"f": "data" * 1000})
    gz = make_layer(a, tmp_path / "blobs")
    plain = make_layer(a, tmp_path / "blobs2", gzip_level=None)
    assert gz.diff_id == plain.diff_id == plain.digest != gz.digest
    assert gz.size < plain.size
    assert gz.path.name == gz.digest.split(":")[1]
    assert gz.media_type.endswith("tar+gzip") and plain.media_type.endswith(".tar")
