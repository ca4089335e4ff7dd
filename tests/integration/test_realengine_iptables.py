"""The real dockerd with iptables on (chapter 09): its rules for a published port, then the host as before.

dockerd writes DOCKER chains, jump rules, masquerade and DNAT rules into
iptables' nat and filter tables and starts a docker-proxy per published
port; stopped, it leaves most of it. The lab records the tables first and
undoes it all: after the test, ``iptables-save``, ``ip6tables-save`` and
the legacy tables are byte-identical to before, and so are ``nft list
ruleset`` (apart from other lab sessions' ``labcore`` tables), ip_forward
and the links.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from labcore import images, tracker
from labcore.net import dockerfw
from labcore.teach.realengine import Engine

pytestmark = pytest.mark.needs("root", "overlayfs", "nftables", "tool:dockerd", "tool:containerd", "tool:skopeo",
                               "tool:busybox", "tool:unshare", "tool:iptables", "tool:docker-proxy")

PORT = 21000 + os.getpid() % 8000
SERVE = "mkdir -p /www && echo hello from docker > /www/index.html && exec httpd -f -p 80 -h /www"


def _out(*argv) -> str:
    return subprocess.run(argv, capture_output=True, text=True).stdout


def host() -> dict:
    """The host's firewall and forwarding as the leak check sees them, timestamps dropped."""
    def saved(tool):  # a chain's packet counters move with any traffic: dropped
        return [re.sub(r" \[\d+:\d+\]$", "", line) for line in _out(tool).splitlines()
                if not line.startswith(("# Generated", "# Completed"))]
    nft, skip = [], False
    for line in _out("nft", "list", "ruleset").splitlines():
        if line.startswith("table "):
            skip = " labcore" in line  # other sessions' lab tables may come and go meanwhile
        if not skip:
            nft.append(line)
    mounts = sorted(m.split()[4] for m in Path("/proc/self/mountinfo").read_text().splitlines()
                    if any(w in m for w in ("docker", "realengine", "containerd", "test-fw")))
    return {"mounts": mounts, "iptables": saved("iptables-save"), "ip6tables": saved("ip6tables-save"),
            "legacy": saved("iptables-legacy-save"), "nft": nft,
            "ip_forward": "held by a lab network" if _forwarding_held() else Path("/proc/sys/net/ipv4/ip_forward").read_text(),
            "links": sorted(l.split(": ")[1].split("@")[0] for l in _out("ip", "-o", "link").splitlines()
                            if not l.split(": ")[1].startswith("lab-") or "docker" in l)}


def _forwarding_held() -> bool:
    """A lab network (another session's, say) holds ip_forward while its bridge exists: then it is theirs."""
    return any(p.name.startswith("lab-br-") for p in Path("/sys/class/net").iterdir())


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    base = tmp_path_factory.mktemp("fw")
    ctx = base / "ctx"
    images.busybox_rootfs(ctx / "rootfs", applets=["sh", "httpd", "echo", "mkdir"])
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
    images.build(ctx / "Dockerfile", ctx, base / "layout", "v1", cache=base / "cache")
    return base / "layout"


@pytest.fixture
def short_dir():
    """State and data directories short enough for containerd's socket paths."""
    path = Path(tempfile.mkdtemp(prefix="fw", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_docker_writes_its_rules_for_a_published_port_and_the_host_comes_back_byte_identical(layout):
    before = host()
    engine = Engine("test-fw", iptables=True)
    try:
        engine.start()
        engine.load(layout, "v1", "lab/httpd:fw")
        engine.docker("run", "-d", "--name", "web", "-p", f"{PORT}:80", "lab/httpd:fw", "sh", "-c", SERVE)
        ip = engine.docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()
        added = engine._net.added()
        nat, flt = "\n".join(added["nat"]), "\n".join(added["filter"])
        assert f"-A DOCKER ! -i lab-docker0 -p tcp -m tcp --dport {PORT} -j DNAT --to-destination {ip}:80" in nat
        assert "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER" in nat
        assert "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER" in nat  # loopback skipped...
        assert f"-A POSTROUTING -s {engine._net.subnet} ! -o lab-docker0 -j MASQUERADE" in nat
        assert "-A FORWARD -j DOCKER-USER" in flt and f"-A DOCKER -d {ip}/32 ! -i lab-docker0" in flt
        proxies = dockerfw.proxies(engine.pid)
        assert any(f"-host-port {PORT} -container-ip {ip} -container-port 80" in p for p in proxies), proxies
        # ...so 127.0.0.1 reaches the container through docker-proxy
        body = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=10).read().decode()
        assert body == "hello from docker\n"
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
        assert "lab-docker0" in _out("ip", "-o", "link")
    finally:
        done = engine.stop()
    assert any("docker-fw" in d and "removed" in d for d in done), done
    after = host()
    if "held by a lab network" in (before["ip_forward"], after["ip_forward"]):  # theirs to change meanwhile
        before, after = dict(before, ip_forward=None), dict(after, ip_forward=None)
    assert after == before
    assert not dockerfw.proxies()


def test_labcore_cleanup_after_a_crash_removes_dockers_rules_too(layout, short_dir):
    before = host()
    env = dict(os.environ, LABCORE_STATE_DIR=str(short_dir / "s"), LABCORE_DATA_DIR=str(short_dir / "d"))
    script = (f"import os\n"
              f"from labcore.teach.realengine import Engine\n"
              f"e = Engine('test-fw', iptables=True).start()\n"
              f"e.load({str(layout)!r}, 'v1', 'lab/httpd:fw')\n"
              f"e.docker('run', '-d', '-p', '{PORT + 1}:80', 'lab/httpd:fw', 'sh', '-c', {SERVE!r})\n"
              f"print(e.pid, flush=True)\n"
              f"os.kill(os.getpid(), {int(signal.SIGKILL)})\n")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    dockerd = int(r.stdout.split()[0])
    assert tracker.is_running(dockerd)
    left = host()
    assert any("DOCKER" in line for line in left["iptables"]) and "lab-docker0" in left["links"]
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "docker-fw iptables nat+filter for lab-docker0: removed" in done.stdout, done.stdout
    assert not tracker.is_running(dockerd) and not dockerfw.proxies()
    after = host()
    if "held by a lab network" in (before["ip_forward"], after["ip_forward"]):
        before, after = dict(before, ip_forward=None), dict(after, ip_forward=None)
    assert after == before


def test_the_chapters_comparison_runs_dockerd_and_reports_the_host_restored():
    from labcore.teach import dockerports
    before = host()
    seen = dockerports.published_port(PORT + 2, name="test-fw")
    assert seen.live and seen.answer == "hello from docker"
    assert seen.dnat.endswith(f"--dport {PORT + 2} -j DNAT --to-destination {seen.container_ip}:80")
    assert seen.restored, seen.changed
    after = host()
    if "held by a lab network" in (before["ip_forward"], after["ip_forward"]):
        before, after = dict(before, ip_forward=None), dict(after, ip_forward=None)
    assert after == before
