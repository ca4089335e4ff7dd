"""Hostile layer tars: each kind of attack, and proof that nothing outside the target changed."""

import gzip
import io
import os
import stat
import tarfile

import pytest

from labcore.fs.extract import Limits, UnsafeArchiveError, apply_layer


def make_tar(path, entries, gz=False):
    """entries: (name, kind, extra) with kind in file, dir, sym, hard, chr, blk, fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = extra.get("data", b"x")
                info.size = len(data)
                info.mode = extra.get("mode", 0o644)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra["to"]
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, extra["to"]
            elif kind in ("chr", "blk"):
                info.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                info.devmajor, info.devminor = extra.get("dev", (8, 0))
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.fixture
def world(tmp_path):
    """A target root, and next to it an 'outside' that must never change."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host data")
    (outside / "victim").write_text("must survive")
    return root, outside


def snapshot(path):
    out = {}
    for dirpath, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            out[full] = (st.st_mode, st.st_size, st.st_nlink, st.st_mtime_ns)
    return out


def test_path_traversal_is_refused_and_named(world, tmp_path):
    root, outside = world
    before = snapshot(outside)
    blob = make_tar(tmp_path / "l.tar", [("../outside/victim", "file", {"data": b"pwned"})])
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./outside/victim'.*'\.\.'"):
        apply_layer(blob, root)
    assert snapshot(outside) == before


def test_absolute_name_is_refused(world, tmp_path):
    root, outside = world
    blob = make_tar(tmp_path / "l.tar", [(str(outside / "victim"), "file", {"data": b"pwned"})])
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        apply_layer(blob, root)
    assert (outside / "victim").read_text() == "must survive"


@pytest.mark.parametrize("target", ["ABS", "../../..", "../outside", "/"])
def test_symlink_in_one_layer_is_confined_to_the_root(world, tmp_path, target):
    root, outside = world
    target = str(outside) if target == "ABS" else target
    before = snapshot(outside)
    blob = make_tar(tmp_path / "l.tar", [("link", "sym", {"to": target}),
                                         ("link/victim", "file", {"data": b"pwned"})])
    applied = apply_layer(blob, root)
    assert snapshot(outside) == before
    assert "link/victim" in applied.confined
    # resolved as the container would: inside the root
    landed = [p for p in snapshot(root) if p.endswith("/victim")]
    assert len(landed) == 1 and landed[0].startswith(str(root) + "/")
    assert open(landed[0], "rb").read() == b"pwned"


def test_symlink_across_layers_is_confined(world, tmp_path):
    root, outside = world
    before = snapshot(outside)
    apply_layer(make_tar(tmp_path / "1.tar", [("etc", "sym", {"to": str(outside)})]), root)
    apply_layer(make_tar(tmp_path / "2.tar", [("etc/victim", "file", {"data": b"pwned"})]), root)
    assert snapshot(outside) == before
    assert (root / str(outside).lstrip("/") / "victim").read_bytes() == b"pwned"


def test_existing_symlink_is_replaced_never_written_through(world, tmp_path):
    root, outside = world
    os.symlink(outside / "victim", root / "file")  # a lower layer left a link to the host
    apply_layer(make_tar(tmp_path / "l.tar", [("file", "file", {"data": b"new"})]), root)
    assert (outside / "victim").read_text() == "must survive"
    assert not (root / "file").is_symlink() and (root / "file").read_bytes() == b"new"


def test_hard_link_leaving_the_root_is_refused(world, tmp_path):
    root, outside = world
    blob = make_tar(tmp_path / "l.tar", [("h", "hard", {"to": "../outside/secret"})])
    with pytest.raises(UnsafeArchiveError, match="'\\.\\.'"):
        apply_layer(blob, root)
    assert os.stat(outside / "secret").st_nlink == 1


def test_hard_link_through_a_symlink_across_layers_stays_inside(world, tmp_path):
    root, outside = world
    apply_layer(make_tar(tmp_path / "1.tar", [("l", "sym", {"to": str(outside)})]), root)
    blob = make_tar(tmp_path / "2.tar", [("h", "hard", {"to": "l/secret"})])
    with pytest.raises(UnsafeArchiveError, match="no such"):
        apply_layer(blob, root)  # l/secret resolves to ROOT/<outside>/secret, which does not exist
    assert os.stat(outside / "secret").st_nlink == 1 and not (root / "h").exists()


def test_hard_link_inside_works(world, tmp_path):
    root, _ = world
    apply_layer(make_tar(tmp_path / "l.tar", [("a", "file", {"data": b"same"}), ("b", "hard", {"to": "a"})]), root)
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino


@pytest.mark.parametrize("name", ["dir/.wh..", "dir/.wh...", ".wh.", "../outside/.wh.victim"])
def test_whiteouts_pointing_outside_are_refused(world, tmp_path, name):
    root, outside = world
    (root / "dir").mkdir()
    with pytest.raises(UnsafeArchiveError):
        apply_layer(make_tar(tmp_path / "l.tar", [(name, "file", {})]), root)
    assert (outside / "victim").read_text() == "must survive" and (root / "dir").is_dir()


def test_whiteout_through_a_symlink_is_confined(world, tmp_path):
    root, outside = world
    apply_layer(make_tar(tmp_path / "1.tar", [("l", "sym", {"to": str(outside)})]), root)
    apply_layer(make_tar(tmp_path / "2.tar", [("l/.wh.victim", "file", {})]), root)
    assert (outside / "victim").read_text() == "must survive"


def test_whiteout_and_opaque_delete_inside(world, tmp_path):
    root, _ = world
    apply_layer(make_tar(tmp_path / "1.tar", [("a", "file", {}), ("d", "dir", {}), ("d/old", "file", {}),
                                              ("keep", "file", {})]), root)
    applied = apply_layer(make_tar(tmp_path / "2.tar", [(".wh.a", "file", {}), ("d", "dir", {}),
                                                        ("d/new", "file", {}), ("d/.wh..wh..opq", "file", {})]), root)
    assert sorted(os.listdir(root)) == ["d", "keep"]
    assert os.listdir(root / "d") == ["new"]  # opaque hides the lower layer's entries, not this layer's
    assert applied.deleted == ["a"] and applied.opaque == ["d"]


@pytest.mark.parametrize("kind", ["chr", "blk"])
def test_device_nodes_are_refused(world, tmp_path, kind):
    root, _ = world
    blob = make_tar(tmp_path / "l.tar", [("dev/sda", kind, {"dev": (8, 0)})])
    with pytest.raises(UnsafeArchiveError, match="'dev/sda' is a device node"):
        apply_layer(blob, root)
    assert not (root / "dev" / "sda").exists()


def test_setuid_and_setgid_bits_are_stripped(world, tmp_path):
    root, _ = world
    applied = apply_layer(make_tar(tmp_path / "l.tar", [("su", "file", {"mode": 0o4755}),
                                                        ("sg", "file", {"mode": 0o2755}),
                                                        ("plain", "file", {"mode": 0o755})]), root)
    assert stat.S_IMODE(os.stat(root / "su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(root / "sg").st_mode) == 0o755
    assert applied.stripped == ["su", "sg"]


def test_a_file_claiming_absurd_size_is_refused(world, tmp_path):
    root, _ = world
    blob = make_tar(tmp_path / "l.tar", [("big", "file", {"data": b"x" * 2048})])
    with pytest.raises(UnsafeArchiveError, match="'big' claims 2048 bytes"):
        apply_layer(blob, root, limits=Limits(max_file=1024))
    assert not (root / "big").exists()


def test_a_gzip_bomb_is_stopped_at_the_byte_limit(world, tmp_path):
    root, _ = world
    blob = make_tar(tmp_path / "bomb.tar.gz", [(f"z{i}", "file", {"data": bytes(1 << 20)}) for i in range(20)], gz=True)
    assert blob.stat().st_size < 200_000  # 20 MiB of zeros, squeezed
    with pytest.raises(UnsafeArchiveError, match="more than 4194304 bytes"):
        apply_layer(blob, root, limits=Limits(max_bytes=4 << 20))


def test_too_many_entries_are_refused(world, tmp_path):
    root, _ = world
    blob = make_tar(tmp_path / "l.tar", [(f"f{i}", "file", {}) for i in range(50)])
    with pytest.raises(UnsafeArchiveError, match="more than 10 entries"):
        apply_layer(blob, root, limits=Limits(max_entries=10))


def test_not_a_tar_is_refused(world, tmp_path):
    root, _ = world
    blob = tmp_path / "junk"
    blob.write_bytes(os.urandom(4096))
    with pytest.raises(UnsafeArchiveError, match="not a valid tar"):
        apply_layer(blob, root)


def test_a_symlink_loop_is_refused(world, tmp_path):
    root, _ = world
    blob = make_tar(tmp_path / "l.tar", [("a", "sym", {"to": "b"}), ("b", "sym", {"to": "a"}),
                                         ("a/x", "file", {})])
    with pytest.raises(UnsafeArchiveError, match="too many levels"):
        apply_layer(blob, root)
