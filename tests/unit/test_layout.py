"""The OCI image layout: written, read back, and refused when anything does not match."""

import hashlib
import json

import pytest

from labcore import InvalidInputError
from labcore.fs.layers import make_layer, uncompressed_digest
from labcore.images.layout import CONFIG, MANIFEST, DigestMismatchError, Layout, check_digest, parse_ref
from labcore.images.store import unpack


def small_image(tmp_path, tag="v1"):
    src = tmp_path / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "hello").write_text("hi\n")
    layout = Layout.create(tmp_path / "layout")
    layer = make_layer(src, layout.blobs)
    config = layout.put_json({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}, CONFIG)
    manifest = layout.put_json({"schemaVersion": 2, "mediaType": MANIFEST, "config": config,
                                "layers": [layer.descriptor()]}, MANIFEST)
    layout.tag(manifest, tag)
    return layout, layer


def test_written_layout_reads_back(tmp_path):
    layout, layer = small_image(tmp_path)
    assert json.loads((layout.path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    image = Layout.open(layout.path).image("v1")
    assert image.diff_ids == [layer.diff_id] and image.layers[0]["digest"] == layer.digest
    assert image.runtime["Cmd"] == ["/bin/sh"]
    assert layer.digest != layer.diff_id  # gzipped: two names for one layer
    assert uncompressed_digest(layer.path) == layer.diff_id
    assert "sha256:" + hashlib.sha256(layer.path.read_bytes()).hexdigest() == layer.digest


def test_retagging_replaces_and_keeps_other_tags(tmp_path):
    layout, _ = small_image(tmp_path)
    desc = layout.index()["manifests"][0]
    layout.tag({k: v for k, v in desc.items() if k != "annotations"}, "v2")
    layout.tag({k: v for k, v in desc.items() if k != "annotations"}, "v2")
    assert layout.tags() == ["v1", "v2"]


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "md5:abc", "sha256:" + "A" * 64, None])
def test_malformed_digests_never_become_paths(bad):
    with pytest.raises(InvalidInputError, match="malformed digest"):
        check_digest(bad)


def test_a_tampered_layer_is_refused_before_anything_is_written(tmp_path):
    layout, layer = small_image(tmp_path)
    data = bytearray(layer.path.read_bytes())
    data[-5] ^= 0xFF
    layer.path.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match="tampered"):
        unpack(f"{layout.path}:v1", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_tampered_manifest_is_refused(tmp_path):
    layout, _ = small_image(tmp_path)
    digest = layout.index()["manifests"][0]["digest"]
    path = layout.blob_path(digest)
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":3'))
    with pytest.raises(DigestMismatchError):
        layout.image("v1")


def test_unpack_refuses_a_non_empty_destination(tmp_path):
    layout, _ = small_image(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine").write_text("keep")
    with pytest.raises(InvalidInputError, match="not an empty directory"):
        unpack(f"{layout.path}:v1", dest)
    assert (dest / "mine").read_text() == "keep"


def test_unknown_tag_and_not_a_layout(tmp_path):
    layout, _ = small_image(tmp_path)
    with pytest.raises(InvalidInputError, match="tags here: v1"):
        layout.image("nope")
    with pytest.raises(InvalidInputError, match="not an OCI image layout"):
        Layout.open(tmp_path)


def test_parse_ref(tmp_path):
    assert parse_ref("out:v1") == (tmp_path.__class__("out"), "v1")
    assert parse_ref("some/dir") == (tmp_path.__class__("some/dir"), None)
    assert parse_ref(str(tmp_path)) == (tmp_path, None)
