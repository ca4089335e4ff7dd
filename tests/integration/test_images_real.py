"""Images built with RUN steps, checked by independent tools, and images of those tools read back."""

import json
import os
import subprocess
import sys

import pytest

from labcore import images
from labcore.images.builder import BuildError

pytestmark = pytest.mark.needs("root", "overlayfs")

DOCKERFILE = """FROM scratch
COPY rootfs/ /
RUN echo built-by-run > /etc/motd && rm /etc/group && rm -rf /tmp && mkdir /tmp && touch /tmp/fresh
WORKDIR /app
COPY app.sh ./
RUN chmod 755 app.sh && echo "$GREETING" > greeting
ENV GREETING=hello
CMD ["/app/app.sh"]
"""


@pytest.fixture
def ctx(tmp_path, state_dir):
    c = tmp_path / "ctx"
    images.busybox_rootfs(c / "rootfs", applets=["sh", "echo", "rm", "mkdir", "touch", "chmod", "cat", "ls"])
    (c / "rootfs" / "tmp" / "old").write_text("old")
    (c / "app.sh").write_text("#!/bin/sh\necho app\n")
    (c / "Dockerfile").write_text(DOCKERFILE)
    return c


def build(ctx, tmp_path, tag="v1"):
    return images.build(ctx / "Dockerfile", ctx, tmp_path / "out", tag, cache=tmp_path / "cache")


def test_run_steps_and_the_cache_chain(ctx, tmp_path):
    first = build(ctx, tmp_path)
    assert first.rebuilt() == [2, 3, 5, 6]
    unpacked = images.unpack(f"{tmp_path / 'out'}:v1", tmp_path / "rootfs")
    root = unpacked.rootfs
    assert (root / "etc" / "motd").read_text() == "built-by-run\n"
    assert not (root / "etc" / "group").exists() and os.listdir(root / "tmp") == ["fresh"]
    assert (root / "app" / "greeting").read_text() == "\n"  # ENV comes after that RUN: not set yet
    assert unpacked.layers[1].deleted == ["etc/group"] and unpacked.layers[1].opaque == ["tmp"]
    assert build(ctx, tmp_path).rebuilt() == []
    (ctx / "Dockerfile").write_text(DOCKERFILE.replace("built-by-run", "built-again"))
    assert build(ctx, tmp_path).rebuilt() == [3, 5, 6]       # an early step: everything after it
    (ctx / "app.sh").write_text("#!/bin/sh\necho app 2\n")
    assert build(ctx, tmp_path).rebuilt() == [5, 6]


def test_a_failing_run_step_names_itself(ctx, tmp_path):
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\nRUN echo oops >&2; exit 3\n")
    with pytest.raises(BuildError, match=r"step 3: RUN echo oops >&2; exit 3 exited with status 3:\noops"):
        build(ctx, tmp_path)


def test_from_a_local_layout(ctx, tmp_path):
    build(ctx, tmp_path)
    (ctx / "Dockerfile2").write_text(f"FROM {tmp_path / 'out'}:v1\nRUN cat /etc/motd > /from-base\n")
    result = images.build(ctx / "Dockerfile2", ctx, tmp_path / "out2", "child", cache=tmp_path / "cache")
    assert result.rebuilt() == [2] and len(result.image.layers) == 5
    assert result.image.runtime["Cmd"] == ["/app/app.sh"]


@pytest.mark.needs("tool:oci-image-tool", "tool:skopeo", "tool:umoci")
def test_independent_tools_accept_what_labcore_writes(ctx, tmp_path):
    image = build(ctx, tmp_path).image
    layout = tmp_path / "out"
    check = subprocess.run(["oci-image-tool", "validate", "--type", "image", "--ref", "name=v1", str(layout)],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stderr
    seen = json.loads(subprocess.run(["skopeo", "inspect", f"oci:{layout}:v1"], capture_output=True, text=True,
                                     check=True).stdout)
    assert seen["Digest"] == image.digest and seen["Layers"] == [layer["digest"] for layer in image.layers]
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:v1", str(bundle)], capture_output=True, check=True)
    assert (bundle / "rootfs" / "etc" / "motd").read_text() == "built-by-run\n"
    assert not (bundle / "rootfs" / "etc" / "group").exists()
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/app/app.sh"] and config["process"]["cwd"] == "/app"


@pytest.mark.needs("tool:umoci")
def test_labcore_reads_an_image_that_umoci_made(ctx, tmp_path):
    layout, bundle = tmp_path / "um", tmp_path / "ub"

    def umoci(*args):
        subprocess.run(["umoci", *args], capture_output=True, check=True)
    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:base")
    umoci("unpack", "--image", f"{layout}:base", str(bundle))
    subprocess.run(["cp", "-a", f"{ctx / 'rootfs'}/.", str(bundle / "rootfs")], check=True)
    umoci("repack", "--refresh-bundle", "--image", f"{layout}:base", str(bundle))
    (bundle / "rootfs" / "etc" / "group").unlink()
    (bundle / "rootfs" / "etc" / "motd").write_text("from umoci\n")
    umoci("repack", "--image", f"{layout}:v2", str(bundle))
    unpacked = images.unpack(f"{layout}:v2", tmp_path / "rootfs")
    assert (unpacked.rootfs / "etc" / "motd").read_text() == "from umoci\n"
    assert not (unpacked.rootfs / "etc" / "group").exists() and (unpacked.rootfs / "bin" / "busybox").exists()
    assert unpacked.layers[1].deleted == ["etc/group"]
    with images.LayerStore("test-store") as store:  # and the same image as overlay layers
        from labcore.fs.scratch import data_dir
        assert data_dir() in store.scratch.path.parents  # on disk, not in the RAM-backed /run
        with store.container(images.open_image(f"{layout}:v2")) as c:
            assert (c.merged / "etc" / "motd").read_text() == "from umoci\n"
            assert not (c.merged / "etc" / "group").exists()


def test_the_cli(ctx, tmp_path):
    env = dict(os.environ)
    cli = [sys.executable, "-m", "labcore", "image"]
    out = tmp_path / "cli-out"
    built = subprocess.run(cli + ["build", "-f", str(ctx / "Dockerfile"), str(ctx), "--output", str(out),
                                  "--tag", "t1", "--cache", str(tmp_path / "c")], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stderr
    assert "4 layer(s) built, 0 from the cache" in built.stdout
    inspect = subprocess.run(cli + ["inspect", f"{out}:t1"], capture_output=True, text=True, env=env)
    assert "cmd        ['/app/app.sh']" in inspect.stdout and inspect.stdout.count("diff_id sha256:") == 4
    unpack = subprocess.run(cli + ["unpack", f"{out}:t1", str(tmp_path / "r")], capture_output=True, text=True, env=env)
    assert unpack.returncode == 0 and (tmp_path / "r" / "app" / "app.sh").exists()
    bad = subprocess.run(cli + ["unpack", f"{out}:nope", str(tmp_path / "r2")], capture_output=True, text=True, env=env)
    assert bad.returncode == 125 and "no tag 'nope'" in bad.stderr and not (tmp_path / "r2").exists()
