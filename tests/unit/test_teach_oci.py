"""Chapter 13's helpers without root: the conformance table, the suite's doctor check, the image-and-bundle picture."""

from __future__ import annotations

import json
import types

from labcore.fs.layers import make_layer
from labcore.images.layout import Layout
from labcore.teach import conformance
from labcore.teach.diagrams.bundle import image_and_bundle


def test_the_table_names_the_tests_runc_passes_and_labcore_does_not():
    t = conformance.Table(["runc", "labcore"])
    t.rows = {"create": {"runc": ("pass", ""), "labcore": ("pass", "")},
              "hooks": {"runc": ("fail", "x"), "labcore": ("pass", "")},
              "state": {"runc": ("pass", ""), "labcore": ("fail", "wrong status")}}
    assert t.regressions == ["state"]
    assert t.passes("labcore") == ["create", "hooks"]
    text = repr(t)
    assert "passed: runc 2 of 3, labcore 2 of 3" in text
    assert "labcore: wrong status" in text


def test_a_skipped_table_says_why_and_has_no_rows():
    t = conformance.Table(["runc", "labcore"], skipped="OCI validation suite: not built yet")
    assert repr(t) == "not run on this machine: OCI validation suite: not built yet"
    assert t.rows == {} and t.regressions == []


def test_the_doctor_check_says_whether_the_suite_is_built(tmp_path, monkeypatch):
    fake = types.SimpleNamespace(CACHE=tmp_path / "cache", SOURCE=tmp_path / "source")
    monkeypatch.setattr(conformance, "_script", lambda: fake)
    c = conformance.check_suite()
    assert not c.ok and "source is not here" in c.detail
    fake.SOURCE.mkdir()
    c = conformance.check_suite()
    assert not c.ok and "not built yet" in c.detail and "make conformance" in c.fix
    built = fake.CACHE / "runtime-tools"
    (built / "validation" / "create").mkdir(parents=True)
    (built / "validation" / "create" / "create.t").write_text("")
    (built / "runtimetest").write_text("")
    (built / ".labcore-built").write_text("built\n")
    c = conformance.check_suite()
    assert c.ok and "1 tests" in c.detail
    assert conformance.suite() == built


def test_the_picture_joins_image_config_fields_to_process_fields(tmp_path):
    files = tmp_path / "files"
    (files / "srv").mkdir(parents=True)
    (files / "srv" / "app.sh").write_text("echo hi\n")
    layout = Layout.create(tmp_path / "layout")
    layer = make_layer(files, layout.blobs, owner=(0, 0), mtime=0)
    layout.add_image([layer], "v1", runtime={"Entrypoint": ["sh"], "Cmd": ["/srv/app.sh"], "WorkingDir": "/srv",
                                             "User": "app", "Env": ["PATH=/bin"]})
    bundle = tmp_path / "bundle"
    (bundle / "rootfs" / "srv").mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps({
        "root": {"path": "rootfs"}, "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
        "process": {"args": ["sh", "/srv/app.sh"], "env": ["PATH=/bin"], "cwd": "/srv",
                    "user": {"uid": 1000, "gid": 1000, "additionalGids": [50]}}}))
    d = image_and_bundle(layout.path, "v1", bundle)
    text = str(d)
    assert '["sh"] + ["/srv/app.sh"]' in text and 'process.args  ["sh", "/srv/app.sh"]' in text
    assert "-> process.user  uid 1000, gid 1000, groups [50]" in text
    assert "linux.namespaces pid, mount" in text
    assert "config -> cfgjson" in d.dot and "layer0 -> rootfs" in d.dot
