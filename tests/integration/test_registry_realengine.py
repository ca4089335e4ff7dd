"""The real Docker Engine pulls from the lab's registry what labcore pushed there.

The engine (labcore.teach.realengine: Debian's dockerd with its own data root,
no bridge, no iptables) treats 127.0.0.0/8 as an insecure registry by default,
so `docker pull 127.0.0.1:PORT/...` speaks plain HTTP to the lab's registry, as
`docker pull` would to any registry; the image then runs.
"""

from __future__ import annotations

import pytest

from labcore import images
from labcore.images import registry, registryd
from labcore.teach.realengine import Engine

pytestmark = pytest.mark.needs("root", "overlayfs", "tool:dockerd", "tool:containerd", "tool:docker-registry",
                               "tool:busybox", "tool:unshare")


def test_docker_pulls_and_runs_what_labcore_pushed(tmp_path):
    ctx = tmp_path / "ctx"
    images.busybox_rootfs(ctx / "rootfs", applets=["sh", "echo"])
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
    images.build(ctx / "Dockerfile", ctx, tmp_path / "layout", "v1", cache=tmp_path / "cache")
    with registryd.start() as reg:
        ref = f"{reg.address}/lab/busybox:v1"
        pushed = registry.push(f"{tmp_path / 'layout'}:v1", ref)
        assert pushed.digests("sent"), pushed
        engine = Engine("realengine-pull")
        try:
            engine.start()
            pulled = engine.docker("pull", ref, timeout=300)
            assert "Downloaded newer image" in pulled.stdout, pulled.stdout
            out = engine.docker("run", "--rm", ref, "echo", "pulled from the lab's registry").stdout
            assert out.strip() == "pulled from the lab's registry"
            repo_digests = engine.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
            assert pushed.manifest_digest in repo_digests, (repo_digests, pushed)
            requests = [r for r in reg.requests() if r.method == "GET" and "/manifests/" in r.path]
            assert requests, "the registry's log shows no manifest fetched by the engine"
        finally:
            engine.stop()
