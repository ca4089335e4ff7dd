"""Container networking on the real kernel: published ports, outbound NAT, names, modes, overlay, cleanup.

Each test leaves the host's links, network namespaces, nftables ruleset,
iptables rules and ip_forward exactly as it found them (``host_net``).
"""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from labcore import tracker
from labcore.net import endpoint, internet, network, nft, overlay

NEEDS = ("root", "netns", "nftables")
PORT = 20000 + os.getpid() % 10000  # a host port nobody else here uses


def snapshot() -> dict:
    def out(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout
    return {"links": sorted(line.split(":")[1].strip() for line in out("ip", "-o", "link").splitlines()),
            "netns": out("ip", "-all", "netns"), "nft": out("nft", "list", "ruleset"),
            "iptables": out("iptables-save").splitlines()[1:-1] if out("iptables-save") else [],
            "ip_forward": open("/proc/sys/net/ipv4/ip_forward").read()}


@pytest.fixture
def host_net(state_dir):
    before = snapshot()
    yield
    assert tracker.default().records() == [], "the test left records behind"
    after = snapshot()
    assert after == before, "the host's network changed"


def server(ep, code: str):
    """A Python server as the container's PID 1; waits until it listens."""
    proc = ep.spawn([sys.executable, "-c", code], capture=True)
    assert proc.stdout.readline().strip() == b"listening"
    return proc


HTTP = ("import http.server,sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "  def do_GET(s):\n"
        "    s.send_response(200); s.end_headers(); s.wfile.write(('hello from '+s.client_address[0]).encode())\n"
        "  def log_message(s,*a): pass\n"
        "srv=http.server.HTTPServer(('0.0.0.0',80),H); print('listening',flush=True); srv.serve_forever()\n")


@pytest.mark.needs(*NEEDS)
def test_published_port_answers_on_loopback_and_from_another_namespace_and_masquerade(host_net):
    with network.create("tnet") as net, internet.create() as inet, \
            endpoint.attach("web", "tnet", publish=[f"{PORT}:80"]) as ep:
        srv = server(ep, HTTP)
        try:
            # from the host, on loopback: DNAT at output, route_localnet, masquerade of 127.0.0.1
            body = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=5).read().decode()
            assert body == f"hello from {net.gateway}"
            # from another namespace, to the host's uplink address: DNAT at prerouting, client kept
            r = inet.ns.run([sys.executable, "-c", "import urllib.request;print(urllib.request.urlopen("
                             f"'http://{inet.host}:{PORT}/',timeout=5).read().decode())"])
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == f"hello from {inet.server}"
            counts = {c["comment"]: c["packets"] for c in nft.counters(f"labcore-p-web")}
            assert counts[f"{PORT}:80/tcp: from this host"] >= 1 and counts[f"{PORT}:80/tcp: from other hosts"] >= 1
        finally:
            srv.close()
        # outbound: the internet's server sees the host's uplink address, not the container's
        seen = inet.ns.spawn([sys.executable, "-c",
                              "import socket;s=socket.socket();s.bind(('0.0.0.0',9000));s.listen();"
                              "print('listening',flush=True);c,a=s.accept();print(a[0],flush=True)"], capture=True)
        assert seen.stdout.readline().strip() == b"listening"
        r = ep.run([sys.executable, "-c", f"import socket;socket.create_connection(('{inet.server}',9000),timeout=5)"])
        assert r.returncode == 0, r.stderr
        assert seen.stdout.readline().decode().strip() == inet.host != ep.ip
        seen.close()


@pytest.mark.needs(*NEEDS)
def test_containers_on_one_network_reach_each_other_by_name(host_net):
    with network.create("tnames") as net, endpoint.attach("alpha", "tnames") as a, \
            endpoint.attach("beta", "tnames") as b:
        r = b.run(["sh", "-c", "getent hosts alpha && ping -c1 -W2 alpha"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[:2] == [a.ip, "alpha"]
        assert "1 received" in r.stdout
        # a container that joined later is seen by the earlier one: its DNS server reads the leases on each query
        with endpoint.attach("gamma", "tnames") as c:
            assert a.run(["getent", "hosts", "gamma"]).stdout.split()[0] == c.ip
        assert a.run(["getent", "hosts", "gamma"]).returncode == 2  # gone with its container
        # the host's own /etc/hosts is untouched
        assert "alpha" not in open("/etc/hosts").read()


@pytest.mark.needs(*NEEDS)
def test_none_host_and_container_modes(host_net):
    with endpoint.attach("lonely", "none") as none:
        links = none.run(["cat", "/proc/net/dev"]).stdout
        assert [l.split(":")[0].strip() for l in links.splitlines()[2:]] == ["lo"]
        with endpoint.attach("buddy", "container:lonely") as shared:
            mine = shared.run(["readlink", "/proc/self/ns/net"]).stdout
            theirs = none.run(["readlink", "/proc/self/ns/net"]).stdout
            assert mine == theirs
    host = endpoint.attach("hosty", "host")
    assert host.netns is None
    from labcore.ns import process
    r = process.run(["readlink", "/proc/self/ns/net"], ("pid", "mnt", "uts", "ipc"))
    assert r.stdout.strip() == os.readlink("/proc/self/ns/net")


@pytest.mark.needs(*NEEDS, "tool:tcpdump", "tool:ping")
def test_vxlan_overlay_pings_across_hosts_and_the_underlay_carries_udp_4789(host_net):
    with overlay.create(vni=4242) as ov:
        ov.add_container("oa", "a")
        ov.add_container("ob", "b")
        cap = ov.hosts["a"].spawn(["tcpdump", "-nli", "lab-ul", "-c", "6", "udp port 4789"], capture=True)
        time.sleep(1)  # tcpdump attaches
        before = ov.underlay_counters("a")
        r = ov.ping("oa", "ob", count=3)
        assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr
        assert ov.underlay_counters("a")["tx_packets"] >= before["tx_packets"] + 3
        assert cap.wait(10) == 0
        lines = cap.stdout.read().decode().splitlines()
        cap.close()
        vxlan = [l for l in lines if "VXLAN" in l]
        assert vxlan and all("vni 4242" in l and ".4789:" in l for l in vxlan), lines


@pytest.mark.needs(*NEEDS)
def test_cli_network_survives_the_command_and_cleanup_undoes_it(host_net):
    lab = [sys.executable, "-m", "labcore"]
    env = dict(os.environ)
    made = subprocess.run(lab + ["network", "create", "tcli", "--subnet", "10.199.250.0/24"],
                          capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    assert "10.199.250.0/24" in subprocess.run(lab + ["network", "ls"], capture_output=True, text=True).stdout
    assert "lab-br-tcli" in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    r = subprocess.run(lab + ["run", "--network", "tcli", "--name", "one", "--", "sh", "-c",
                              "ip -4 -o addr show eth0; getent hosts one"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "10.199.250.2/24" in r.stdout and "one" in r.stdout
    done = subprocess.run(lab + ["cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "link lab-br-tcli: deleted" in done.stdout and "nft-table ip labcore-tcli: deleted" in done.stdout


@pytest.mark.needs(*NEEDS)
def test_cli_publish_on_the_default_bridge(host_net):
    lab = [sys.executable, "-m", "labcore"]
    code = HTTP.replace("print('listening',flush=True); ", "")
    proc = subprocess.Popen(lab + ["run", "--publish", f"{PORT}:80", "--name", "pub", "--", sys.executable, "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body and body.startswith("hello from 10.199.")
    finally:
        proc.terminate()
        time.sleep(0.2)
        proc.terminate()  # the second interrupt kills PID 1 (it ignores SIGTERM)
        proc.wait(10)
    assert "pub is 10.199." in proc.stderr.read()


@pytest.mark.needs(*NEEDS)
def test_cleanup_undoes_a_network_and_container_left_by_a_killed_process(host_net):
    code = ("import os, sys\n"
            "from labcore.net import network, endpoint\n"
            "n = network.create('tcrash')\n"
            "e = endpoint.attach('victim', 'tcrash', publish=['%d:80'])\n"
            "print('made', flush=True)\n"
            "os.kill(os.getpid(), 9)\n" % PORT)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -9 and "made" in r.stdout, r.stderr
    left = snapshot()
    assert "lab-br-tcrash" in left["links"] and "lab-c-victim" in left["netns"] and "labcore-p-victim" in left["nft"]
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for what in ("netns lab-c-victim", "link lab-br-tcrash", "nft-table ip labcore-p-victim", "nft-table ip labcore-tcrash",
                 "sysctl net.ipv4.ip_forward", "ipam-lease tcrash/victim"):
        assert what in done.stdout, done.stdout
    # host_net then checks that links, namespaces, rules and ip_forward are back as they were
