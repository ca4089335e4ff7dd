"""The image diagram without root: an OCI layout made in tmp_path, drawn as index -> manifest -> config -> layers."""

import pytest

from labcore import InvalidInputError, fs, images
from labcore.teach import diagrams
from labcore.teach.diagrams import images as image_diagram


def layout_with_two_layers(tmp_path):
    base, top = tmp_path / "base", tmp_path / "top"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")
    (top / "app").mkdir()
    (top / "app" / "hello.txt").write_text("hello\n")
    layout = images.Layout.create(tmp_path / "layout")
    first = fs.make_layer(base, layout.blobs)
    second = fs.make_layer(top, layout.blobs, old=base)
    image = layout.add_image([first, second], "v2", runtime={"Cmd": ["/bin/sh"]},
                             history=[{"created_by": "base files"}, {"created_by": "add the app"}])
    return layout, image, first, second


def test_image_graph_links_every_document_by_digest(tmp_path):
    layout, image, first, second = layout_with_two_layers(tmp_path)
    d = diagrams.image_graph(layout.path, "v2")
    assert isinstance(d, diagrams.Diagram) and "image v2: 2 layer(s)" in d.title
    dot = d.dot
    assert dot.index("index [") < dot.index("manifest [") < dot.index("config [") < dot.index("layer0 [")
    assert "index -> manifest" in dot and "manifest -> config" in dot
    assert "manifest -> layer0" in dot and "manifest -> layer1" in dot and "config -> layer1" in dot
    assert image_diagram.short(first.digest) in dot and image_diagram.short(second.diff_id) in dot
    assert image_diagram.short(image.manifest["config"]["digest"]) in dot
    assert "add the app" in dot and "Cmd /bin/sh" in dot
    text = str(d).splitlines()
    assert text[1] == f"index.json  tag v2 -> manifest {image_diagram.short(image.digest)}"
    assert text[3].strip().startswith(f"layer 1 -> digest {image_diagram.short(first.digest)}")
    assert text[4].strip().endswith(f"diff_id {image_diagram.short(second.diff_id)}")


def test_the_only_image_needs_no_tag_and_a_layout_object_is_accepted(tmp_path):
    layout, image, *_ = layout_with_two_layers(tmp_path)
    assert "image v2" in diagrams.image_graph(layout).title


def test_a_missing_tag_or_a_directory_that_is_no_layout_is_refused(tmp_path):
    layout, *_ = layout_with_two_layers(tmp_path)
    with pytest.raises(InvalidInputError, match="no tag 'v9'"):
        diagrams.image_graph(layout.path, "v9")
    with pytest.raises(InvalidInputError, match="not an OCI image layout"):
        diagrams.image_graph(tmp_path / "base")


def test_labels_are_escaped():
    manifest = {"layers": [{"digest": "sha256:" + "a" * 64, "size": 10, "mediaType": "x.tar"}],
                "config": {"digest": "sha256:" + "b" * 64}}
    config = {"config": {"Cmd": ["<b>evil</b>"]}, "rootfs": {"diff_ids": ["sha256:" + "c" * 64]},
              "history": [{"created_by": 'a "quoted" <step>'}]}
    dot = image_diagram.graph_dot("t<1>", "sha256:" + "d" * 64, manifest, config, "t")
    assert "<b>evil" not in dot and "&lt;b&gt;evil" in dot and "t&lt;1&gt;" in dot
