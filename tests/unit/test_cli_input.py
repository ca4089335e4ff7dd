"""Bad input on the command line: a short notice, the right exit status, no traceback."""

import subprocess
import sys


def labcore(*args):
    return subprocess.run([sys.executable, "-m", "labcore", *args], capture_output=True, text=True)


def test_unknown_namespace_is_named_with_the_fix():
    done = labcore("run", "--ns", "pid,bogus", "--", "true")
    assert done.returncode == 125
    assert "unknown namespace kind 'bogus'" in done.stderr
    assert "fix:" in done.stderr and "Traceback" not in done.stderr


def test_hostname_without_uts_is_refused():
    done = labcore("run", "--ns", "pid", "--hostname", "box", "--", "true")
    assert done.returncode == 125 and "uts" in done.stderr and "Traceback" not in done.stderr


def test_no_command():
    done = labcore("run", "--ns", "pid")
    assert done.returncode == 125 and "no command given" in done.stderr


def test_help_lists_the_commands():
    done = labcore("--help")
    for word in ("doctor", "run", "cleanup", "install-kernel"):
        assert word in done.stdout


def test_image_inspect_of_a_manifest_without_config_is_a_notice(tmp_path):
    from labcore.images.layout import MANIFEST, Layout
    layout = Layout.create(tmp_path / "layout")
    layout.tag(layout.put_json({"schemaVersion": 2, "mediaType": MANIFEST, "layers": []}, MANIFEST), "v1")
    done = labcore("image", "inspect", f"{layout.path}:v1")
    assert done.returncode == 125, done.stderr
    assert "has no config" in done.stderr and "fix:" in done.stderr and "Traceback" not in done.stderr


def test_image_inspect_of_malformed_descriptors_is_a_notice(tmp_path):
    from labcore.images.layout import CONFIG, MANIFEST, Layout
    layout = Layout.create(tmp_path / "layout")
    config = layout.put_json({"rootfs": {"diff_ids": []}}, CONFIG)
    for layers in ([{"digest": 7}], "nope", [{"mediaType": "x", "digest": config["digest"], "size": "big"}]):
        layout.tag(layout.put_json({"schemaVersion": 2, "mediaType": MANIFEST, "config": config,
                                    "layers": layers}, MANIFEST), "v1")
        done = labcore("image", "inspect", f"{layout.path}:v1")
        assert done.returncode == 125 and "Traceback" not in done.stderr, done.stderr


def test_image_build_of_a_bad_dockerfile_names_the_line_and_makes_nothing(tmp_path):
    for text, words in ((b"FROM scratch\nCOPY \"a /b\n", "line 2"), (b"FROM scratch\n\nCOPY \xff\xfe /\n", "line 3")):
        (tmp_path / "Dockerfile").write_bytes(text)
        done = labcore("image", "build", str(tmp_path), "--output", str(tmp_path / "out"),
                       "--cache", str(tmp_path / "cache"))
        assert done.returncode == 125, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
