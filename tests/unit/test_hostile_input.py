"""Hostile input (issue #11): every one gets a LabError naming it, and nothing half-done is left.

Layers whose headers, mtimes, compression or size lie; blobs that are not
files; replaced entries. Each test here failed before the fix it checks.
"""

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tracemalloc

import pytest

from labcore import LabError
from labcore.fs.extract import Limits, UnsafeArchiveError, apply_layer
from labcore.fs.layers import make_layer, uncompressed_digest
from labcore.images.layout import CONFIG, MANIFEST, Layout
from labcore.images.store import unpack


def tar_bytes(entries):
    """entries: (name, kind, extra); kind in file, dir, sym. Returns the tar's bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = extra.get("mtime", 1_000_000)
            info.pax_headers = extra.get("pax", {})
            data = None
            if kind == "file":
                data = extra.get("data", b"x")
                info.size, info.mode = len(data), extra.get("mode", 0o644)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, extra.get("mode", 0o755)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra["to"]
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def blob(path, entries, gz=False):
    raw = tar_bytes(entries)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def contents(root):
    """Every path under root, relative, with what it is (to compare trees)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            out[rel] = ("link " + os.readlink(full)) if os.path.islink(full) else \
                "dir" if os.path.isdir(full) else open(full, "rb").read()
    return out


@pytest.fixture
def world(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "victim").write_text("must survive")
    return root, outside


# --- an entry replaces what is there (OCI image spec, "Changeset over existing files") ---------------------

@pytest.mark.parametrize("lower, upper, expect", [
    ([("a", "file", {"data": b"old"})], [("a", "dir", {}), ("a/x", "file", {"data": b"new"})],
     {"a": "dir", "a/x": b"new"}),
    ([("a", "sym", {"to": "OUTSIDE"})], [("a", "dir", {}), ("a/x", "file", {"data": b"new"})],
     {"a": "dir", "a/x": b"new"}),
    ([("a", "dir", {}), ("a/x", "file", {})], [("a", "file", {"data": b"new"})], {"a": b"new"}),
    ([("a", "dir", {}), ("a/x", "file", {})], [("a", "sym", {"to": "OUTSIDE"})], {"a": "link OUTSIDE"}),
    ([("a", "dir", {"mode": 0o555}), ("a/x", "file", {})], [("a", "file", {"data": b"new"})], {"a": b"new"}),
    ([("a", "dir", {"mode": 0o555}), ("a/d", "dir", {"mode": 0o500}), ("a/d/x", "file", {})],
     [(".wh.a", "file", {})], {}),
])
def test_an_entry_replaces_a_file_a_dir_or_a_symlink_never_following_it(world, tmp_path, lower, upper, expect):
    root, outside = world

    def fix(entries):
        return [(n, k, {**e, "to": str(outside)} if e.get("to") == "OUTSIDE" else e) for n, k, e in entries]

    apply_layer(blob(tmp_path / "1.tar", fix(lower)), root)
    apply_layer(blob(tmp_path / "2.tar", fix(upper)), root)
    expect = {k: f"link {outside}" if v == "link OUTSIDE" else v for k, v in expect.items()}
    assert contents(root) == expect
    assert contents(outside) == {"victim": b"must survive"}


# --- timestamps ------------------------------------------------------------------------------------------

def test_a_fractional_pax_mtime_is_kept(world, tmp_path):
    root, _ = world
    apply_layer(blob(tmp_path / "l.tar", [("f", "file", {"mtime": 1234.5})]), root)
    assert os.stat(root / "f").st_mtime_ns == 1_234_500_000_000


@pytest.mark.parametrize("mtime", ["1e400", "nan", "-1e30"])
def test_an_impossible_mtime_is_refused_by_name(world, tmp_path, mtime):
    root, _ = world
    with pytest.raises(UnsafeArchiveError, match=f"'f'.*mtime {mtime}"):
        apply_layer(blob(tmp_path / "l.tar", [("f", "file", {"pax": {"mtime": mtime}})]), root)
    assert os.listdir(root) == []


# --- damaged compression: refused, and nothing half-unpacked ----------------------------------------------

def test_a_truncated_gzip_is_refused_and_leaves_nothing(world, tmp_path):
    root, _ = world
    data = gzip.compress(tar_bytes([(f"f{i}", "file", {"data": os.urandom(50_000)}) for i in range(20)]))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsafeArchiveError, match="cut.tar.gz.*(truncated|ends)"):
        apply_layer(cut, root)
    assert os.listdir(root) == []
    with pytest.raises(UnsafeArchiveError, match="truncated"):
        uncompressed_digest(cut)


def test_a_layer_failing_halfway_leaves_an_empty_root_empty(world, tmp_path):
    root, _ = world
    bad = blob(tmp_path / "l.tar", [("d", "dir", {}), ("d/ok", "file", {}), ("d/../../x", "file", {})])
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        apply_layer(bad, root)
    assert os.listdir(root) == []


def small_image(tmp_path, layer_bytes, diff_id=None):
    """A layout whose only layer is ``layer_bytes`` (stored as given), with a matching diff_id."""
    layout = Layout.create(tmp_path / "layout")
    digest = layout.put_bytes(layer_bytes)
    diff_id = diff_id or uncompressed_digest(layout.blob_path(digest))
    config = layout.put_json({"architecture": "amd64", "os": "linux", "config": {},
                              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}, CONFIG)
    manifest = layout.put_json({"schemaVersion": 2, "mediaType": MANIFEST, "config": config,
                                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                            "digest": digest, "size": len(layer_bytes)}]}, MANIFEST)
    layout.tag(manifest, "v1")
    return layout, digest


def test_unpack_of_a_layer_failing_halfway_leaves_no_destination(tmp_path):
    # a tar that is valid up to a crafted entry: the first files would be written before it is met
    raw = tar_bytes([("ok1", "file", {}), ("ok2", "file", {}), ("../escape", "file", {})])
    layout, _ = small_image(tmp_path, gzip.compress(raw), diff_id="sha256:" + hashlib.sha256(raw).hexdigest())
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        unpack(f"{layout.path}:v1", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    assert [p for p in os.listdir(tmp_path) if p not in ("layout",)] == []


# --- headers that claim gigabytes -------------------------------------------------------------------------

def lying_header(kind):
    """A GNU long-name ('L') or PAX ('x') header claiming 1 GiB, then 64 MiB of zeros (gzipped: 64 KiB)."""
    info = tarfile.TarInfo("././@LongLink" if kind == "L" else "././@PaxHeader")
    info.type = tarfile.GNUTYPE_LONGNAME if kind == "L" else tarfile.XHDTYPE
    info.size = 1 << 30
    header = info.tobuf(tarfile.GNU_FORMAT if kind == "L" else tarfile.USTAR_FORMAT)[:512]
    return gzip.compress(header + bytes(64 << 20), compresslevel=1)


@pytest.mark.parametrize("kind, words", [("L", "GNU long name"), ("x", "PAX")])
def test_a_header_claiming_gigabytes_is_refused_before_it_is_read(world, tmp_path, kind, words):
    root, _ = world
    path = tmp_path / "liar.tar.gz"
    path.write_bytes(lying_header(kind))
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeArchiveError, match=f"{words}.*claims 1073741824 bytes"):
            apply_layer(path, root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes in memory for a refused header"
    assert os.listdir(root) == []


# --- decompression beyond all reason ----------------------------------------------------------------------

def test_uncompressed_digest_is_bounded_in_bytes_and_memory(tmp_path):
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(bytes(64 << 20), compresslevel=9))
    assert bomb.stat().st_size < 200_000
    expected = "sha256:" + hashlib.sha256(bytes(64 << 20)).hexdigest()
    tracemalloc.start()
    try:
        assert uncompressed_digest(bomb) == expected
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes in memory to hash a layer"
    with pytest.raises(UnsafeArchiveError, match="bomb.gz.*more than 4194304 bytes"):
        uncompressed_digest(bomb, max_bytes=4 << 20)


# --- concatenated gzip members: the diff_id and the content cover the same bytes -------------------------

def test_concatenated_gzip_members_are_all_hashed_and_all_extracted(world, tmp_path):
    root, _ = world
    raw = tar_bytes([("first", "file", {"data": b"1"}), ("second", "file", {"data": b"2" * 5000})])
    half = 1536  # the first entry's header and data in member one, the rest in member two
    path = tmp_path / "two.tar.gz"
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    assert uncompressed_digest(path) == "sha256:" + hashlib.sha256(raw).hexdigest()
    apply_layer(path, root)
    assert contents(root) == {"first": b"1", "second": b"2" * 5000}


def test_garbage_after_the_gzip_stream_is_refused(tmp_path):
    path = tmp_path / "tail.tar.gz"
    path.write_bytes(gzip.compress(tar_bytes([("f", "file", {})])) + b"not gzip at all")
    with pytest.raises(UnsafeArchiveError, match="tail.tar.gz"):
        uncompressed_digest(path)


# --- blobs -------------------------------------------------------------------------------------------------

def a_layout(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello").write_text("hi\n")
    layout = Layout.create(tmp_path / "layout")
    layer = make_layer(src, layout.blobs)
    image = layout.add_image([layer], "v1")
    return layout, layer, image


def test_stored_blobs_are_copies_not_links_to_the_learners_file(tmp_path):
    layout, layer, _ = a_layout(tmp_path)
    mine = tmp_path / "mine.tar.gz"
    mine.write_bytes(layer.path.read_bytes())
    other = Layout.create(tmp_path / "other")
    other.put_file(mine, layer.digest)
    stored = other.blob_path(layer.digest)
    assert os.stat(stored).st_ino != os.stat(mine).st_ino and os.stat(mine).st_nlink == 1
    mine.write_bytes(b"changed later")  # what the learner does to their file does not touch the layout
    other.verify(layer.digest)


def in_a_child(code, timeout=20):
    """Run code in a fresh interpreter: a read that never ends (a FIFO, /dev/zero) is killed, not hung."""
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("still reading after {timeout} s: a blob that is not a regular file was read")
    return done


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink"])
def test_a_blob_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    layout, layer, _ = a_layout(tmp_path)
    path = layout.blob_path(layer.digest)
    keep = tmp_path / "real"
    os.replace(path, keep)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero" if kind == "dev-zero" else keep, path)
    for call in (f"l.verify({layer.digest!r})", f"l.verify_layer(img.layers[0], img.diff_ids[0])",
                 f"unpack('{layout.path}:v1', '{tmp_path}/dest')"):
        done = in_a_child(f"""
from labcore import LabError
from labcore.images.layout import Layout
from labcore.images.store import unpack
l = Layout.open({str(layout.path)!r})
img = l.image('v1')
try:
    {call}
except LabError as exc:
    print(exc.notice())
""")
        assert "not a regular file" in done.stdout and layer.digest.split(":")[1] in done.stdout, done.stderr
        assert not (tmp_path / "dest").exists()


def test_a_layer_is_used_from_the_file_that_was_verified(tmp_path, world):
    root, _ = world
    layout, layer, image = a_layout(tmp_path)
    with layout.open_layer(image.layers[0], image.diff_ids[0]) as verified:
        path = layout.blob_path(layer.digest)
        swap = path.with_name("swap")
        blob(swap, [("evil", "file", {})], gz=True)
        os.replace(swap, path)  # the name now points at other bytes: the verified file is what is applied
        apply_layer(verified, root)
    assert contents(root) == {"hello": b"hi\n"}


def test_a_json_blob_that_is_a_fifo_is_refused(tmp_path):
    layout, _, _ = a_layout(tmp_path)
    index = layout.path / "index.json"
    index.unlink()
    os.mkfifo(index)
    done = in_a_child(f"""
from labcore import LabError
from labcore.images.layout import Layout
try:
    Layout.open({str(layout.path)!r}).image('v1')
except LabError as exc:
    print(exc.notice())
""")
    assert "index.json" in done.stdout and "not a regular file" in done.stdout, done.stderr


def test_every_refusal_here_is_a_lab_error():
    assert issubclass(UnsafeArchiveError, LabError) and Limits().max_bytes > 0
