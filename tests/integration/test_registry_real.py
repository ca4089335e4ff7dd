"""Push and pull against a real registry (Debian's docker-registry) on loopback, checked by its own access log."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from labcore import fs, tracker
from labcore.images import registry, registryd
from labcore.images.layout import DigestMismatchError, Layout

pytestmark = pytest.mark.needs("root", "tool:docker-registry")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is not a listener
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def reg(state_dir):
    r = registryd.start()
    pid, where, port = r.pid, r.dir, r.port
    yield r
    r.stop()
    assert not tracker.is_running(pid) and not where.exists() and port_free(port)


def layer_dir(tmp_path, name, size, seed):
    d = tmp_path / "src" / name
    d.mkdir(parents=True)
    (d / name).write_bytes(seed.to_bytes(4, "big") * (size // 4))
    return d


def image(tmp_path, layout_name, tag, parts, gzip_level=None):
    """An image in layout ``layout_name`` whose layers hold the given (name, size, seed) files."""
    layout = Layout.create(tmp_path / layout_name)
    layers = []
    for name, size, seed in parts:
        src = tmp_path / "src" / f"{name}-{seed}"
        if not src.exists():
            src.mkdir(parents=True)
            (src / name).write_bytes(os.urandom(16) + seed.to_bytes(4, "big") * (size // 4))
        layers.append(fs.make_layer(src, layout.blobs, gzip_level=gzip_level))
    return layout.add_image(layers, tag)


BASE = ("base", 2 << 20, 1)


def test_push_pull_round_trip_and_tags(reg, tmp_path):
    img = image(tmp_path, "src-layout", "v1", [BASE, ("app", 300_000, 2)])
    pushed = registry.push(f"{img.layout.path}:v1", f"{reg.address}/lab/app:v1")
    assert [m.action for m in pushed.blobs] == ["sent"] * 4
    assert pushed.manifest_digest == img.digest
    pulled = registry.pull(f"{reg.address}/lab/app:v1", tmp_path / "pulled")
    assert pulled.manifest_digest == img.digest and pulled.moved == pushed.moved
    got = Layout.open(tmp_path / "pulled").image("v1")
    for d, diff_id in zip(got.layers, got.diff_ids):
        got.layout.verify_layer(d, diff_id)
    with registry.Client(reg.address) as c:
        assert c.tags("lab/app") == ["v1"]
    logged = reg.requests(since_mark=False)
    assert {(r.method, r.status) for r in logged} >= {("HEAD", 404), ("POST", 202), ("PUT", 201), ("GET", 200)}


def test_incremental_push_and_pull_move_only_the_changed_layer(reg, tmp_path):
    v1 = image(tmp_path, "v1", "v1", [BASE, ("app", 500_000, 2)])
    v2 = image(tmp_path, "v2", "v2", [BASE, ("app", 500_000, 3)])
    registry.push(f"{v1.layout.path}:v1", f"{reg.address}/lab/app:v1")
    reg.mark()
    second = registry.push(f"{v2.layout.path}:v2", f"{reg.address}/lab/app:v2")
    changed, config = v2.layers[1], v2.manifest["config"]
    assert second.digests("sent") == [changed["digest"], config["digest"], v2.digest]
    assert second.digests("skipped") == [v2.layers[0]["digest"]]
    manifest_size = [m.size for m in second.blobs if m.kind == "manifest"][0]
    assert second.moved == changed["size"] + config["size"] + manifest_size
    # The registry's own account: exactly those two blobs uploaded (PUT ?digest=), then the manifest.
    puts = [r for r in reg.requests() if r.method == "PUT"]
    assert [r.digest for r in puts if "/blobs/" in r.path] == [changed["digest"], config["digest"]]
    assert [r.path for r in puts if "/manifests/" in r.path] == ["/v2/lab/app/manifests/v2"]

    registry.pull(f"{reg.address}/lab/app:v1", tmp_path / "store")
    reg.mark()
    pulled = registry.pull(f"{reg.address}/lab/app:v2", tmp_path / "store")
    assert sorted(pulled.digests("fetched")) == sorted([changed["digest"], config["digest"], v2.digest])
    gets = [r for r in reg.requests() if r.method == "GET" and "/blobs/" in r.path]
    assert {r.digest: r.sent for r in gets} == {changed["digest"]: changed["size"], config["digest"]: config["size"]}
    assert pulled.moved == changed["size"] + config["size"] + manifest_size


def test_two_images_sharing_a_base_store_it_once_and_mount_it(reg, tmp_path):
    a = image(tmp_path, "a", "v1", [BASE, ("a", 100_000, 4)])
    b = image(tmp_path, "b", "v1", [BASE, ("b", 100_000, 5)])
    base = a.layers[0]["digest"]
    assert b.layers[0]["digest"] == base
    registry.push(f"{a.layout.path}:v1", f"{reg.address}/lab/a:v1")
    reg.mark()
    done = registry.push(f"{b.layout.path}:v1", f"{reg.address}/lab/b:v1", mount_from="lab/a")
    assert done.digests("mounted") == [base]
    mounts = [r for r in reg.requests() if r.method == "POST" and "mount=" in r.path]
    assert [r.status for r in mounts] == [201, 202, 202]  # the base mounted; b's own blobs are not in lab/a
    stored = reg.blobs()
    assert stored[base] == a.layers[0]["size"]
    data_files = list((reg.storage / "docker/registry/v2/blobs/sha256").glob(f"*/{base[7:]}/data"))
    assert len(data_files) == 1
    # a and b in one store: the base once
    registry.pull(f"{reg.address}/lab/a:v1", tmp_path / "store")
    second = registry.pull(f"{reg.address}/lab/b:v1", tmp_path / "store")
    assert base in second.digests("skipped")
    assert len([p for p in (tmp_path / "store/blobs/sha256").iterdir() if p.name == base[7:]]) == 1


def snapshot(path: Path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_corrupted_blob_is_refused_and_the_store_unchanged(reg, tmp_path):
    old = image(tmp_path, "old", "v1", [BASE])
    new = image(tmp_path, "new", "v2", [BASE, ("app", 400_000, 6)])
    registry.push(f"{old.layout.path}:v1", f"{reg.address}/lab/app:v1")
    registry.push(f"{new.layout.path}:v2", f"{reg.address}/lab/app:v2")
    registry.pull(f"{reg.address}/lab/app:v1", tmp_path / "store")
    before = snapshot(tmp_path / "store")
    victim = new.layers[1]["digest"]
    blob = reg.blob_file(victim)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match=victim):
        registry.pull(f"{reg.address}/lab/app:v2", tmp_path / "store")
    assert snapshot(tmp_path / "store") == before
    with pytest.raises(DigestMismatchError, match=victim):
        registry.pull(f"{reg.address}/lab/app:v2", tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert not [p for p in tmp_path.iterdir() if "pulling" in p.name]


def test_large_blobs_go_up_in_patch_chunks(reg, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "PATCH_ABOVE", 1 << 20)
    monkeypatch.setattr(registry, "PATCH_CHUNK", 1 << 20)
    img = image(tmp_path, "big", "v1", [("big", (3 << 20) + 123, 7)])
    reg.mark()
    registry.push(f"{img.layout.path}:v1", f"{reg.address}/lab/big:v1")
    assert len([r for r in reg.requests() if r.method == "PATCH" and r.status == 202]) == 4
    assert registry.pull(f"{reg.address}/lab/big:v1", tmp_path / "back").manifest_digest == img.digest
    assert reg.blob_file(img.layers[0]["digest"]).stat().st_size == img.layers[0]["size"]


def test_basic_auth_handshake(state_dir, tmp_path):
    with registryd.start(user="learner", password="s3cret") as reg:
        img = image(tmp_path, "l", "v1", [("x", 10_000, 8)])
        with pytest.raises(registry.RegistryError, match="--user"):
            registry.push(f"{img.layout.path}:v1", f"{reg.address}/lab/x:v1")
        with pytest.raises(registry.RegistryError, match="401"):
            registry.push(f"{img.layout.path}:v1", f"{reg.address}/lab/x:v1", ("learner", "wrong"))
        with registry.Client(reg.address, ("learner", "s3cret")) as c:
            assert c.ping() == "basic"
        registry.push(f"{img.layout.path}:v1", f"{reg.address}/lab/x:v1", ("learner", "s3cret"))
        first = reg.requests(since_mark=False)[0]
        assert (first.method, first.path, first.status) == ("GET", "/v2/", 401)


def test_the_cli_starts_a_registry_that_cleanup_stops(state_dir, tmp_path):
    env = dict(os.environ, LABCORE_STATE_DIR=str(state_dir))
    lab = [sys.executable, "-m", "labcore"]
    out = subprocess.run([*lab, "registry", "start"], env=env, capture_output=True, text=True, check=True).stdout
    try:
        address = out.split()[1]
        storage = Path(out.splitlines()[1].split()[1])
        port = int(address.rsplit(":", 1)[1])
        assert storage.is_dir() and not port_free(port)  # still there after the command exited
        img = image(tmp_path, "l", "v1", [("x", 10_000, 9)])
        push = subprocess.run([*lab, "image", "push", f"{img.layout.path}:v1", f"{address}/lab/x:v1"], env=env,
                              capture_output=True, text=True, check=True).stdout
        assert f"{img.layers[0]['size']:,} bytes  sent" in push
    finally:
        done = subprocess.run([*lab, "cleanup"], env=env, capture_output=True, text=True, check=True).stdout
    assert "killed" in done and "removed" in done
    assert port_free(port) and not storage.parent.exists()


@pytest.mark.needs("tool:skopeo")
def test_skopeo_and_labcore_pull_each_others_pushes(reg, tmp_path):
    img = image(tmp_path, "mine", "v1", [BASE, ("app", 200_000, 10)], gzip_level=6)
    registry.push(f"{img.layout.path}:v1", f"{reg.address}/lab/mine:v1")
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{reg.address}/lab/mine:v1",
                    f"oci:{tmp_path / 'by-skopeo'}:v1"], check=True, capture_output=True)
    theirs = Layout.open(tmp_path / "by-skopeo").image("v1")
    assert theirs.digest == img.digest
    # skopeo pushes, as Docker schema 2 here (its own conversion): labcore pulls and verifies it.
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{img.layout.path}:v1",
                    f"docker://{reg.address}/lab/theirs:v1"], check=True, capture_output=True)
    pulled = registry.pull(f"{reg.address}/lab/theirs:v1", tmp_path / "by-labcore")
    got = Layout.open(tmp_path / "by-labcore").image("v1")
    assert got.manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert got.diff_ids == img.diff_ids and pulled.manifest_digest == got.digest
    index = json.loads((tmp_path / "by-labcore/index.json").read_text())
    assert index["manifests"][0]["mediaType"] == got.manifest["mediaType"]
    # and pushed again by labcore, it keeps its type (the Content-Type of the manifest PUT) and its digest
    registry.push(f"{tmp_path / 'by-labcore'}:v1", f"{reg.address}/lab/again:v1")
    with registry.Client(reg.address) as c:
        _, media, digest = c.get_manifest("lab/again", "v1")
    assert (media, digest) == (got.manifest["mediaType"], got.digest)
