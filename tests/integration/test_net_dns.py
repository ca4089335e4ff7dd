"""Names through the embedded DNS server at 127.0.0.11 (labcore.net.dns), on the real kernel.

Queries are made from inside containers, with busybox nslookup, the C
library (getent, ping) and raw datagrams; each test leaves the host's
links, namespaces, rules and ip_forward as it found them.
"""

import os
import subprocess
import sys
import zlib

import pytest

from labcore import tracker
from labcore.net import dns, endpoint, network

NEEDS = ("root", "netns", "nftables")

ASK = ("import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3);"
       "s.sendto(bytes.fromhex(sys.argv[1]),('127.0.0.11',53));print(s.recv(512).hex())")


CONTAINERS = ("dns-a", "dns-b", "dns-c", "dns-srv", "dns-cli", "dns-victim")
VETHS = {f"lab-v{zlib.crc32(c.encode()):08x}" for c in CONTAINERS}  # endpoint.attach names the host ends so


def ours(name: str) -> bool:
    """The host's objects, and this file's lab objects; other sessions' lab networks may come and go meanwhile."""
    return not name.startswith(("lab-", "labcore")) or "dns" in name or name.split("@")[0] in VETHS


def snapshot() -> dict:
    def out(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout
    nft, keep = [], True
    for line in out("nft", "list", "ruleset").splitlines():
        if line.startswith("table "):
            keep = ours(line.split()[2])
        if keep:
            nft.append(line)
    links = sorted(line.split(":")[1].strip() for line in out("ip", "-o", "link").splitlines())
    held = any(l.startswith("lab-br-") for l in links)  # some lab network holds ip_forward while it exists
    return {"links": [l for l in links if ours(l)],
            "netns": [n for n in out("ip", "-all", "netns").splitlines() if ours(n.split()[0])], "nft": nft,
            "iptables": out("iptables-save").splitlines()[1:-1] if out("iptables-save") else [],
            "ip_forward": "held" if held else open("/proc/sys/net/ipv4/ip_forward").read(),
            "udp": sorted(line.split()[3] for line in out("ss", "-Hlun").splitlines()),
            "tcp53": sorted(a for a in (line.split()[3] for line in out("ss", "-Hltn").splitlines()) if a.endswith(":53"))}


@pytest.fixture
def host_net(state_dir):
    before = snapshot()
    yield
    assert tracker.default().records() == [], "the test left records behind"
    after = snapshot()
    if "held" in (before["ip_forward"], after["ip_forward"]):
        before, after = dict(before, ip_forward=None), dict(after, ip_forward=None)
    assert after == before, "the host's network changed"


def ask(ep, message: bytes) -> dict:
    """Send one raw query from inside container ``ep`` to 127.0.0.11:53 and decode the reply."""
    r = ep.run([sys.executable, "-c", ASK, message.hex()])
    assert r.returncode == 0, r.stderr
    return dns.describe(bytes.fromhex(r.stdout.strip()))


@pytest.mark.needs(*NEEDS)
def test_a_container_finds_another_by_name_through_dns(host_net):
    with network.create("tdns") as net, endpoint.attach("dns-a", net.name) as a, endpoint.attach("dns-b", net.name) as b:
        files = b.run(["cat", "/etc/resolv.conf", "/etc/hosts"]).stdout
        assert "nameserver 127.0.0.11" in files
        assert "dns-a" not in files and f"{b.ip}\tdns-b" in files  # only its own name: the rest comes from DNS
        r = b.run(["busybox", "nslookup", "-type=a", "dns-a"])
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Server:\t\t127.0.0.11" in r.stdout and f"Name:\tdns-a\nAddress: {a.ip}" in r.stdout
        r = b.run(["sh", "-c", "ping -c1 -W2 dns-a"])
        assert r.returncode == 0 and f"PING dns-a ({a.ip})" in r.stdout and "1 received" in r.stdout, r.stdout
        assert f"from dns-a ({a.ip})" in r.stdout  # ping's reverse lookup (PTR) answered too
        asked = [(e.question, e.rcode) for e in b.dns.log]
        assert ("dns-a A", "NOERROR") in asked and (f"{'.'.join(reversed(a.ip.split('.')))}.in-addr.arpa PTR",
                                                    "NOERROR") in asked
        assert a.dns.log == []  # each container has its own server, in its own namespace
        seen = ask(b, dns.query("DNS-A", qid=4242))
        assert seen == {"id": 4242, "rcode": "NOERROR", "flags": ["qr", "aa", "rd"], "question": "dns-a A",
                        "answers": [(a.ip, dns.TTL)]}
        # the socket exists in the container's namespace only: the host has nothing on 127.0.0.11
        inside = b.run(["ss", "-Hlun"]).stdout
        assert "127.0.0.11:53" in inside
        assert "127.0.0.11:53" not in subprocess.run(["ss", "-Hlun"], capture_output=True, text=True).stdout


# Two queries on one connection, the second sent in two pieces: a server must cut the stream at the lengths.
ASK_TWICE_TCP = ("import socket,struct,sys,time;s=socket.create_connection(('127.0.0.11',53),3);"
                 "a,b=(bytes.fromhex(x) for x in sys.argv[1:3]);fa=struct.pack('!H',len(a))+a;"
                 "fb=struct.pack('!H',len(b))+b;s.sendall(fa+fb[:5]);time.sleep(0.2);s.sendall(fb[5:]);"
                 "f=s.makefile('rb');[print(f.read(struct.unpack('!H',f.read(2))[0]).hex()) for _ in '12']")


@pytest.mark.needs(*NEEDS)
def test_the_server_answers_over_tcp_too(host_net):
    with network.create("tdns") as net, endpoint.attach("dns-a", net.name) as a, endpoint.attach("dns-b", net.name) as b:
        # glibc's resolver told to use TCP only (resolv.conf's "options use-vc", here from the environment)
        r = b.run(["env", "RES_OPTIONS=use-vc", "getent", "hosts", "dns-a"])
        assert r.returncode == 0 and r.stdout.split()[0] == a.ip, r.stdout + r.stderr
        assert ("dns-a A", "NOERROR") in [(e.question, e.rcode) for e in b.dns.log if e.client.endswith("/tcp")]
        assert dns.describe(dns.ask(b, dns.query("dns-a", qid=77), tcp=True)) == {
            "id": 77, "rcode": "NOERROR", "flags": ["qr", "aa", "rd"], "question": "dns-a A", "answers": [(a.ip, dns.TTL)]}
        r = b.run([sys.executable, "-c", ASK_TWICE_TCP, dns.query("dns-a", qid=1).hex(), dns.query("nope", qid=2).hex()])
        assert r.returncode == 0, r.stderr
        first, second = (dns.describe(bytes.fromhex(line)) for line in r.stdout.split())
        assert (first["id"], first["answers"], second["id"], second["rcode"]) == (1, [(a.ip, dns.TTL)], 2, "NXDOMAIN")
        assert "127.0.0.11:53" in b.run(["ss", "-Hltn"]).stdout
        assert "127.0.0.11:53" not in subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
        assert b.dns.running


@pytest.mark.needs(*NEEDS)
def test_a_wrong_name_is_nxdomain_and_nothing_is_forwarded(host_net):
    with network.create("tdns") as net, endpoint.attach("dns-a", net.name) as a:
        r = a.run(["busybox", "nslookup", "-type=a", "no-such-box"])
        assert r.returncode == 1 and "NXDOMAIN" in r.stdout, r.stdout + r.stderr
        # a name of the wider world is not forwarded anywhere: NXDOMAIN as well
        assert ask(a, dns.query("debian.org"))["rcode"] == "NXDOMAIN"
        assert a.run(["getent", "hosts", "debian.org"]).returncode == 2
        # a malformed query gets FORMERR, and the server keeps serving
        assert ask(a, dns.query("dns-a")[:12] + b"\xc0\x0c\x00\x01\x00\x01")["rcode"] == "FORMERR"
        assert ask(a, dns.query("dns-a"))["answers"] == [(a.ip, dns.TTL)]
        assert a.dns.running


@pytest.mark.needs(*NEEDS)
def test_a_removed_containers_name_disappears(host_net):
    with network.create("tdns") as net, endpoint.attach("dns-a", net.name) as a:
        with endpoint.attach("dns-c", net.name) as c:
            assert ask(a, dns.query("dns-c"))["answers"] == [(c.ip, dns.TTL)]
            netns_path = c.netns
        assert ask(a, dns.query("dns-c"))["rcode"] == "NXDOMAIN"
        assert a.run(["getent", "hosts", "dns-c"]).returncode == 2
        assert not os.path.exists(netns_path)  # the server's socket did not keep the namespace busy
        assert not c.dns and not os.path.exists(c.resolv)


@pytest.mark.needs(*NEEDS)
def test_a_container_sharing_anothers_namespace_asks_the_same_server(host_net):
    with network.create("tdns") as net, endpoint.attach("dns-a", net.name) as a, \
            endpoint.attach("dns-b", net.name) as b, endpoint.attach("dns-c", "container:dns-a") as side:
        assert "nameserver 127.0.0.11" in side.run(["cat", "/etc/resolv.conf"]).stdout
        r = side.run(["getent", "hosts", "dns-b"])
        assert r.returncode == 0 and r.stdout.split()[0] == b.ip, r.stdout + r.stderr
        assert ("dns-b A", "NOERROR") in [(e.question, e.rcode) for e in a.dns.log]  # dns-a's server answered


@pytest.mark.needs(*NEEDS)
def test_labcore_run_resolves_a_neighbour_by_name(host_net):
    with network.create("tdns") as net, endpoint.attach("dns-srv", net.name) as srv:
        r = subprocess.run([sys.executable, "-m", "labcore", "run", "--network", net.name, "--name", "dns-cli", "--",
                            "sh", "-c", "busybox nslookup -type=a dns-srv && ping -c1 -W2 dns-srv"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"Address: {srv.ip}" in r.stdout and f"PING dns-srv ({srv.ip})" in r.stdout


@pytest.mark.needs(*NEEDS)
def test_cleanup_after_a_crash_leaves_no_server_and_no_files(host_net):
    code = ("import os\n"
            "from labcore.net import network, endpoint\n"
            "n = network.create('tdnscrash')\n"
            "e = endpoint.attach('dns-victim', 'tdnscrash')\n"
            "print(e.resolv, flush=True)\n"
            "os.kill(os.getpid(), 9)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    resolv = r.stdout.strip()
    assert os.path.exists(resolv)
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "netns lab-c-dns-victim" in done.stdout and f"path {resolv}" in done.stdout, done.stdout
    assert not os.path.exists(resolv)
