"""Docker's networking options through the lab's daemon: -p, --network, names, live restore.

Real clients (the docker CLI, the Python SDK) drive the daemon; a busybox
httpd in a container answers on 127.0.0.1:PORT of the host. One daemon
serves the module, in state and data directories of its own; at the end
the host has the links, network namespaces, nftables ruleset, iptables
rules and ip_forward it had before (compared, not assumed).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import daemonstack
from daemonstack import LABCORE, docker, kill_daemon, start_daemon

pytestmark = pytest.mark.needs("root", "overlayfs", "netns", "nftables", "tool:docker", "tool:busybox")

IMAGE = "lab/busybox:net"
PORT = 21000 + os.getpid() % 9000  # host ports nobody else here uses: PORT, PORT+1, PORT+2
HTTPD = 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www'


def snapshot() -> dict:
    """The host's network, as the leak check sees it (counters left out: they move on their own)."""
    def out(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout
    ipt = [re.sub(r"\[\d+:\d+\]", "", line) for line in out("iptables-save").splitlines() if not line.startswith("#")]
    return {"links": sorted(line.split(":")[1].strip() for line in out("ip", "-o", "link").splitlines()),
            "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
            "nft": out("nft", "-s", "list", "ruleset"), "iptables": ipt,
            "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text()}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("n")
    before = snapshot()
    with daemonstack.daemon(base, IMAGE, 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n') as st:
        yield st
    after = snapshot()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"the host's network changed: {changed}"


def fetch(port: int, timeout: float = 15) -> str:
    """GET http://127.0.0.1:PORT/ from the host, retried while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def ipam(stack) -> dict:
    path = stack["base"] / "s" / "net" / "ipam.json"
    return json.loads(path.read_text()) if path.exists() else {}


def gone(cid: str, timeout: float = 10) -> bool:
    """The endpoint of container ``cid`` has gone (netns, port table): the watcher tears it down at exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        if not os.path.exists(f"/run/netns/lab-c-d{cid[:12]}") and f"labcore-p-d{cid[:12]}" not in tables:
            return True
        time.sleep(0.05)
    return False


def test_publish_reaches_a_server_in_the_container_from_the_host(stack):
    cid = docker(stack, "run", "-d", "--name", "web", "-p", f"127.0.0.1:{PORT}:80", IMAGE,
                 "sh", "-c", HTTPD).stdout.strip()
    try:
        assert fetch(PORT) == f"hello from {cid[:12]}\n"
        assert docker(stack, "port", "web").stdout == f"80/tcp -> 127.0.0.1:{PORT}\n"
        info = json.loads(docker(stack, "inspect", "web").stdout)[0]
        ns, net = info["NetworkSettings"], ipam(stack)["bridge"]
        assert info["HostConfig"]["NetworkMode"] == "bridge"
        assert ns["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]}
        assert ns["Gateway"] == net["gateway"] and net["leases"] == {ns["IPAddress"]: "web"}
        assert ns["Networks"]["bridge"]["IPAddress"] == ns["IPAddress"]
        # bound to 127.0.0.1 only: another address of the host (the bridge's) does not lead there
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://{ns['Gateway']}:{PORT}/", timeout=2)
        # the runtime joined the namespace the daemon wired, by path
        config = json.loads((stack["base"] / "s/daemon/containers" / cid / "config.json").read_text())
        assert {"type": "network", "path": f"/run/netns/lab-c-d{cid[:12]}"} in config["linux"]["namespaces"]
        pid = info["State"]["Pid"]
        assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/{_holder(cid)}/ns/net")
        assert docker(stack, "ps", "--format", "{{.Ports}}").stdout == f"127.0.0.1:{PORT}->80/tcp\n"
        # the same port twice: Docker's refusal, and nothing made for the second container
        again = docker(stack, "run", "-d", "--rm", "-p", f"127.0.0.1:{PORT}:80", IMAGE, "sleep", "5", check=False)
        assert again.returncode != 0 and "port is already allocated" in again.stderr
    finally:
        docker(stack, "rm", "-f", "web")
    assert gone(cid)
    assert "bridge" not in ipam(stack)  # the default network went with its last container
    with socket.socket() as taken:  # a host process on the port: refused before anything is made
        taken.bind(("127.0.0.1", PORT))
        taken.listen()
        busy = docker(stack, "run", "--rm", "-p", f"127.0.0.1:{PORT}:80", IMAGE, "true", check=False)
    assert busy.returncode != 0 and "address already in use" in busy.stderr.lower()
    assert "bridge" not in ipam(stack), busy.stderr
    assert docker(stack, "ps", "-aq").stdout == ""  # --rm that never ran: removed, as dockerd does


def _holder(cid: str) -> str:
    """A process inside the named netns: `ip netns pids` lists them."""
    pids = subprocess.run(["ip", "netns", "pids", f"lab-c-d{cid[:12]}"], capture_output=True, text=True).stdout
    return pids.split()[0]


def test_two_containers_reach_each_other_by_name_on_a_lab_network(stack):
    env = stack["env"]
    made = subprocess.run(LABCORE + ["network", "create", "labweb"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    try:
        docker(stack, "run", "-d", "--name", "api", "--network", "labweb", IMAGE, "sh", "-c", HTTPD)
        answer = docker(stack, "run", "--rm", "--network", "labweb", IMAGE, "sh", "-c",
                        "for i in $(seq 50); do wget -q -O - http://api/ && exit; sleep 0.1; done; exit 1")
        api = json.loads(docker(stack, "inspect", "api").stdout)[0]
        assert answer.stdout == f"hello from {api['Id'][:12]}\n"
        net = api["NetworkSettings"]["Networks"]["labweb"]
        assert net["IPAddress"] in ipam(stack)["labweb"]["leases"]
        assert api["NetworkSettings"]["IPAddress"] == ""  # filled for the default bridge only, as Docker does
        # A user-defined network: names come from the DNS server at 127.0.0.11, /etc/hosts holds only the container
        files = docker(stack, "run", "--rm", "--name", "peer", "--network", "labweb", IMAGE, "sh", "-c",
                       "hostname; cat /etc/hosts /etc/resolv.conf; echo 6.6.6.6 api >> /etc/hosts; nslookup api").stdout
        hosts, _, resolved = files.partition("nameserver 127.0.0.11")
        assert f"\t{files.split()[0]}\n" in hosts and "\tapi\n" not in hosts and resolved, files
        assert f"Name:\tapi\nAddress: {net['IPAddress']}" in resolved, files
        again = docker(stack, "run", "--rm", "--network", "labweb", IMAGE, "nslookup", "api").stdout
        assert net["IPAddress"] in again and "6.6.6.6" not in again  # one container's hosts file is its own
        docker(stack, "rm", "-f", "api")
        assert "api" not in (stack["base"] / "s" / "net" / "labweb.hosts").read_text()
        lost = docker(stack, "run", "--rm", "--network", "labweb", IMAGE, "nslookup", "api", check=False)
        assert lost.returncode != 0 and net["IPAddress"] not in lost.stdout  # NXDOMAIN once it is gone
        nosuch = docker(stack, "run", "--rm", "--network", "nosuch", IMAGE, "true", check=False)
        assert nosuch.returncode != 0 and "network nosuch not found" in nosuch.stderr
    finally:
        docker(stack, "rm", "-f", "api", check=False)
        rm = subprocess.run(LABCORE + ["network", "rm", "labweb"], env=env, capture_output=True, text=True)
        assert rm.returncode == 0, rm.stderr


def test_host_none_and_container_modes_seen_from_inside(stack):
    mine = os.readlink("/proc/self/ns/net")
    assert docker(stack, "run", "--rm", "--network", "host", IMAGE, "readlink", "/proc/self/ns/net").stdout == \
        mine + "\n"
    links = docker(stack, "run", "--rm", "--network", "none", IMAGE, "ip", "-o", "link").stdout.splitlines()
    assert len(links) == 1 and " lo: <LOOPBACK,UP,LOWER_UP>" in links[0]  # lo only, and up (as runc does)
    inside = docker(stack, "run", "--rm", "--network", "none", IMAGE, "readlink", "/proc/self/ns/net").stdout
    assert inside.strip() != mine
    # without any network option: the daemon's older behaviour, the runtime's own namespace, lo down
    legacy = docker(stack, "run", "--rm", IMAGE, "ip", "-o", "link").stdout.splitlines()
    assert len(legacy) == 1 and "<LOOPBACK>" in legacy[0]
    cid = docker(stack, "run", "-d", "--name", "pod", "--network", "none", IMAGE, "sleep", "100").stdout.strip()
    try:
        pid = json.loads(docker(stack, "inspect", "pod").stdout)[0]["State"]["Pid"]
        joined = docker(stack, "run", "--rm", "--network", "container:pod", IMAGE, "readlink", "/proc/self/ns/net")
        assert joined.stdout.strip() == os.readlink(f"/proc/{pid}/ns/net")
        conflict = docker(stack, "run", "--rm", "--network", "container:pod", "-p", f"{PORT}:80", IMAGE, "true",
                          check=False)
        assert "conflicting options: port publishing and the container type network mode" in conflict.stderr
    finally:
        docker(stack, "rm", "-f", "pod")
    assert gone(cid)


def test_the_python_sdk_publishes_a_port(stack):
    docker_sdk = pytest.importorskip("docker")  # the test extra installs it
    client = docker_sdk.DockerClient(base_url=stack["host"])
    try:
        c = client.containers.run(IMAGE, ["sh", "-c", HTTPD], detach=True, ports={"80/tcp": ("127.0.0.1", PORT + 1)})
        try:
            assert fetch(PORT + 1) == f"hello from {c.id[:12]}\n"
            c.reload()
            assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(PORT + 1)}]}
        finally:
            c.remove(force=True)
        assert gone(c.id)
    finally:
        client.close()


def test_the_default_bridge_outlives_its_first_container_and_an_ephemeral_port(stack):
    """Two containers on the default bridge; the first goes, the second keeps it (its shim holds it now)."""
    first = docker(stack, "run", "-d", "-p", f"127.0.0.1:{PORT + 4}:80", IMAGE, "sh", "-c", HTTPD).stdout.strip()
    second = docker(stack, "run", "-d", "-p", "127.0.0.1::80", IMAGE, "sh", "-c", HTTPD).stdout.strip()
    try:
        mapped = docker(stack, "port", second, "80/tcp").stdout.strip()
        assert mapped.startswith("127.0.0.1:")  # a port the daemon picked, as Docker's allocator does
        port = int(mapped.rsplit(":", 1)[1])
        assert fetch(PORT + 4) == f"hello from {first[:12]}\n" and fetch(port) == f"hello from {second[:12]}\n"
        docker(stack, "rm", "-f", first)
        assert gone(first) and "bridge" in ipam(stack)
        assert fetch(port) == f"hello from {second[:12]}\n"
        shim = json.loads((stack["base"] / "s/daemon/containers" / second / "shim.json").read_text())["pid"]
        from labcore import tracker
        held = [r for r in tracker.default().records() if r.extra.get("network") == "bridge"]
        assert held and {r.owner for r in held} == {shim}
    finally:
        docker(stack, "rm", "-f", first, second, check=False)
    assert gone(second) and "bridge" not in ipam(stack)

def test_docker_network_create_ls_inspect_rm(stack):
    made = docker(stack, "network", "create", "--subnet", "10.199.240.0/24", "labnet").stdout.strip()
    try:
        assert len(made) == 64
        ls = docker(stack, "network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout.splitlines()
        assert {"labnet bridge", "host host", "none null"} <= set(ls)
        assert "labnet" in ipam(stack)  # the lab's network, the one labcore network ls shows
        cid = docker(stack, "run", "-d", "--network", "labnet", "--name", "member", IMAGE, "sleep", "100").stdout.strip()
        info = json.loads(docker(stack, "network", "inspect", "labnet").stdout)[0]
        assert info["IPAM"]["Config"] == [{"Subnet": "10.199.240.0/24", "Gateway": "10.199.240.1"}]
        assert info["Containers"][cid]["Name"] == "member"
        assert info["Containers"][cid]["IPv4Address"] == "10.199.240.2/24"
        busy = docker(stack, "network", "rm", "labnet", check=False)
        assert busy.returncode != 0 and "has active endpoints" in busy.stderr
        again = docker(stack, "network", "create", "labnet", check=False)
        assert again.returncode != 0 and "network with name labnet already exists" in again.stderr
        docker(stack, "rm", "-f", "member")
    finally:
        docker(stack, "rm", "-f", "member", check=False)
        docker(stack, "network", "rm", "labnet", check=False)
    assert "labnet" not in ipam(stack)
    assert not [line for line in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()
                if "lab-br-labnet" in line]
    pre = docker(stack, "network", "rm", "none", check=False)
    assert "none is a pre-defined network and cannot be removed" in pre.stderr


def test_the_dns_server_is_the_daemons_and_a_restarted_daemon_serves_again(stack):
    """As Docker's embedded DNS lives in dockerd: no daemon, no answers; a restarted daemon serves again."""
    from labcore.errors import LabError
    from labcore.net import dns, endpoint
    env = stack["env"]
    made = subprocess.run(LABCORE + ["network", "create", "labdns"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    try:
        cid = docker(stack, "run", "-d", "--name", "named", "--network", "labdns", IMAGE, "sleep", "600").stdout.strip()
        netns = json.loads((stack["base"] / "s" / "daemon" / "containers" / cid / "network.json").read_text())["netns"]
        ip = json.loads(docker(stack, "inspect", "named").stdout)[0]["NetworkSettings"]["Networks"]["labdns"]["IPAddress"]

        inside = endpoint.Endpoint("named", "container", netns=netns)

        def ask() -> list:  # from inside the container's namespace, as its resolver would
            try:
                return [address for address, _ttl in dns.describe(dns.ask(inside, dns.query("named"), 1))["answers"]]
            except LabError:  # no answer
                return []
        assert ask() == [ip]
        kill_daemon(stack)
        assert ask() == []  # the server was a thread of the daemon
        start_daemon(stack)
        assert ask() == [ip]
    finally:
        docker(stack, "rm", "-f", "named", check=False)
        rm = subprocess.run(LABCORE + ["network", "rm", "labdns"], env=env, capture_output=True, text=True)
        assert rm.returncode == 0, rm.stderr


def test_live_restore_keeps_the_published_port(stack):
    """Last: the cleanup run while the daemon is down also takes the image store the daemon owned."""
    env = stack["env"]
    cid = docker(stack, "run", "-d", "--name", "kept", "-p", f"127.0.0.1:{PORT + 2}:80", IMAGE,
                 "sh", "-c", HTTPD).stdout.strip()
    assert fetch(PORT + 2).startswith("hello")
    kill_daemon(stack)
    assert fetch(PORT + 2).startswith("hello")  # no daemon: the kernel's DNAT still leads there
    swept = subprocess.run(LABCORE + ["cleanup"], env=env, capture_output=True, text=True, timeout=60)
    assert swept.returncode == 0, swept.stderr  # the shim owns the endpoint: cleanup spares it
    assert fetch(PORT + 2).startswith("hello")
    start_daemon(stack)
    assert docker(stack, "port", "kept").stdout == f"80/tcp -> 127.0.0.1:{PORT + 2}\n"
    docker(stack, "stop", "-t", "1", "kept")
    assert gone(cid)  # the restarted daemon tore it down when the container stopped
    assert json.loads(docker(stack, "inspect", "kept").stdout)[0]["NetworkSettings"]["Ports"] == {}
    docker(stack, "rm", "kept")


def test_cleanup_after_a_crash_undoes_the_network(stack):
    """Daemon, shim and container killed with SIGKILL: `labcore cleanup` removes the endpoint and the bridge."""
    env, base = stack["env"], stack["base"]
    if not docker(stack, "images", "-q", IMAGE).stdout.strip():  # the live-restore test's cleanup took the store
        load = subprocess.run(LABCORE + ["image", "load", f"{base / 'layout'}:v1", "--name", IMAGE], env=env,
                              capture_output=True, text=True)
        assert load.returncode == 0, load.stderr
    cid = docker(stack, "run", "-d", "-p", f"127.0.0.1:{PORT + 3}:80", IMAGE, "sh", "-c", HTTPD).stdout.strip()
    assert fetch(PORT + 3).startswith("hello")
    pid = json.loads(docker(stack, "inspect", cid).stdout)[0]["State"]["Pid"]
    shim = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    status = subprocess.run(LABCORE + ["daemon", "status"], env=env, capture_output=True, text=True).stdout
    daemon = int(status.split("PID ")[1].split(",")[0])
    for victim in (daemon, shim, pid):
        os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in (daemon, shim, pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(f"/run/netns/lab-c-d{cid[:12]}")  # nobody left to undo it...
    swept = subprocess.run(LABCORE + ["cleanup"], env=env, capture_output=True, text=True, timeout=60)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert gone(cid, timeout=1) and "bridge" not in ipam(stack)  # ...but the tracker's records
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "lab-br-bridge" not in links
    assert not list((base / "s" / "objects").glob("*.json"))
    start_daemon(stack)  # the fixture stops it
