"""``labcore daemon`` and ``labcore image load`` refuse bad input plainly and make nothing."""

import subprocess
import sys

import pytest

LABCORE = [sys.executable, "-m", "labcore"]


@pytest.fixture
def env(state_dir, tmp_path):
    import os
    return dict(os.environ, LABCORE_STATE_DIR=str(state_dir), LABCORE_DATA_DIR=str(tmp_path / "data"))


def run(env, *args):
    return subprocess.run(LABCORE + list(args), env=env, capture_output=True, text=True, timeout=60)


def test_status_and_stop_without_a_daemon(env):
    status = run(env, "daemon", "status")
    assert (status.returncode, status.stdout) == (3, "not running\n")
    stop = run(env, "daemon", "stop")
    assert (stop.returncode, stop.stdout) == (0, "no daemon was running\n")


@pytest.mark.parametrize("args, said", [
    (["/nonexistent"], "is not an OCI image layout"),
    (["{layout}:nope"], "no tag 'nope'"),
    (["{layout}:v1", "--name", "Bad Name"], "is not NAME[:TAG]"),
])
def test_image_load_refuses_bad_input_and_stores_nothing(env, tmp_path, args, said):
    from labcore.images.layout import Layout
    Layout.create(tmp_path / "layout")
    done = run(env, "image", "load", *[a.format(layout=tmp_path / "layout") for a in args])
    assert done.returncode == 125 and said in done.stderr and "fix:" in done.stderr
    assert not (tmp_path / "data" / "images").exists()


def test_a_shim_whose_gate_never_opens_does_nothing(env, tmp_path):
    done = subprocess.run(LABCORE + ["shim", "--root", str(tmp_path / "r")],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert done.returncode == 1 and not (tmp_path / "r").exists()
