"""The real docker CLI through the recording relay to labcore's daemon: the calls of `docker run`, in order.

The daemon runs in a state and data directory of its own (as in
test_daemon_docker.py); at the end it is stopped and ``labcore cleanup``
run there, leaving nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labcore import images
from labcore.teach.apitrace import Trace, hijacked, in_order

pytestmark = pytest.mark.needs("root", "overlayfs", "tool:docker", "tool:busybox")

IMAGE = "lab/busybox:trace"
LABCORE = [sys.executable, "-m", "labcore"]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    base = tmp_path_factory.mktemp("t")
    env = dict(os.environ, LABCORE_STATE_DIR=str(base / "s"), LABCORE_DATA_DIR=str(base / "data"))
    sock = base / "s" / "daemon" / "docker.sock"
    try:
        ctx = base / "ctx"
        images.busybox_rootfs(ctx / "rootfs", applets=["sh", "echo", "sleep"])
        (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
        images.build(ctx / "Dockerfile", ctx, base / "layout", "v1", cache=base / "cache")
        subprocess.run(LABCORE + ["image", "load", f"{base / 'layout'}:v1", "--name", IMAGE], env=env, check=True,
                       capture_output=True, timeout=120)
        subprocess.run(LABCORE + ["daemon", "start"], env=env, check=True, capture_output=True, timeout=120)
        yield {"base": base, "sock": sock}
    finally:
        ids = subprocess.run(["docker", "-H", f"unix://{sock}", "ps", "-aq"], capture_output=True, text=True).stdout
        if ids.split():
            subprocess.run(["docker", "-H", f"unix://{sock}", "rm", "-f", *ids.split()], capture_output=True)
        subprocess.run(LABCORE + ["daemon", "stop"], env=env, capture_output=True, timeout=60)
        done = subprocess.run(LABCORE + ["cleanup"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((base / "s" / "objects").glob("*.json")) == []


def docker(host, *args):
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, timeout=120)


def test_docker_run_rm_is_ping_create_attach_wait_start(daemon):
    with Trace(daemon["sock"], daemon["base"] / "relay.sock") as t:
        ran = docker(t.host, "run", "--rm", IMAGE, "echo", "hi")
        assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
        assert t.quiet(), "a relayed connection stayed open after the CLI exited"
        calls = t.calls()
        assert in_order(calls, [("HEAD", "/_ping"), ("POST", "/containers/create"), ("POST", "/containers/ID/attach"),
                                ("POST", "/containers/ID/wait"), ("POST", "/containers/ID/start")]), calls
        assert ("POST", "/containers/create", 201) in calls
        assert [e.status for e in hijacked(t)] == [101]
        closed = [e for e in t.events if e.kind == "closed" and e.status == 101]
        assert len(closed) == 1 and closed[0].nbytes == 11  # one frame: 8-byte header + "hi\n"
        assert not [c for c in calls if c[0] == "DELETE"]  # --rm: the daemon removes it (AutoRemove)
        assert '"StatusCode": 0' in t.listing()
    assert not (daemon["base"] / "relay.sock").exists()


def test_run_d_then_rm_f(daemon):
    with Trace(daemon["sock"], daemon["base"] / "relay2.sock") as t:
        assert docker(t.host, "run", "-d", "--name", "x", IMAGE, "sleep", "30").returncode == 0
        assert docker(t.host, "rm", "-f", "x").returncode == 0
        calls = t.calls()
        assert in_order(calls, [("POST", "/containers/create"), ("POST", "/containers/ID/start"),
                                ("DELETE", "/containers/x")]), calls
        assert not [c for c in calls if c[1].endswith("/attach")]  # detached: nothing to attach
        assert "DELETE /containers/x -> 204" in t.summary()
