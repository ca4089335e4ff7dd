"""Chapter 09, Networking: its quiz and exercises."""

from __future__ import annotations

import secrets
import sys

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("09", "Networking", [
    Choice("veth", "A container's eth0 is one end of a veth pair. Where is the other end, on a bridge network?",
           right="in the host's network namespace, enslaved to the network's bridge as one of its ports",
           wrong=["inside the container too, looped back so that eth0 can reach its own gateway",
                  "in the Docker daemon's own namespace, which relays the frames to the host's links"],
           why="Section 2's picture: eth0 in the container's namespace, its peer a port of the bridge on the host."),
    Choice("snat", "A container at 10.199.0.2 opens a connection to a server outside the host. Which rule makes "
                   "the answer come back?",
           right="a masquerade (SNAT) rule at postrouting, rewriting the source to the host's outgoing address",
           wrong=["a DNAT rule at prerouting, rewriting the server's address into the container's subnet",
                  "a route on the server's side towards 10.199.0.0/24, which Docker adds when it starts"],
           why="Section 4: the internet namespace has no route to the subnet; it saw 198.18.0.1, the host's address."),
    Choice("loopback", "`curl 127.0.0.1:8080` on the host reaches a container published with -p 8080:80. "
                       "Without Docker's userland proxy, what must the kernel allow?",
           right="routing 127.0.0.1 out of the bridge (route_localnet=1) after DNAT at the output hook",
           wrong=["forwarding between lo and the bridge, which ip_forward=1 alone already allows",
                  "a listening socket on port 8080 in the host's namespace to accept the connection first"],
           why="Section 5: the DNAT'ed packet leaves with source 127.0.0.1; without route_localnet it is a martian."),
    Choice("host-mode", "A server in a container started with --network host listens on port 80. What does "
                        "-p 8080:80 add?",
           right="nothing: the container uses the host's stack, so its port 80 is the host's port 80 already",
           wrong=["a DNAT from the host's 8080 to the container's 80, as on any bridge network",
                  "a second listening socket on 8080 that docker-proxy copies to port 80"],
           why="Section 6: in host mode there is no namespace of its own; Docker warns that published ports are ignored."),
    Choice("names", "On a user-defined Docker network, how does container A find container B's address by name?",
           right="its resolver asks 127.0.0.11, which nat rules in A's namespace send to dockerd's embedded DNS",
           wrong=["Docker writes every container's name into the host's /etc/hosts when the container starts",
                  "the bridge answers ARP requests for names as well as for addresses on the network"],
           why="Section 2, Names: a DNS server inside A's own namespace (the lab runs one too, bound there from outside)."),
    Choice("vxlan", "On the underlay between two hosts of a VXLAN overlay, what does a ping between two "
                    "containers look like?",
           right="UDP datagrams to port 4789 between the hosts' addresses, each wrapping a whole Ethernet frame",
           wrong=["ICMP echo packets between the containers' addresses, routed by the hosts' kernels",
                  "TCP segments on port 2377, the connection Docker Swarm keeps between its managers"],
           why="Section 7: tcpdump on the underlay showed 198.18.1.x.4789 with 'VXLAN, flags [I], vni 42'."),
    Recall("bridge-vs-host", "An interviewer asks: \"Bridge or host networking: what is the difference, and "
                             "when would you choose host?\"",
           model="With bridge, the container has its own network namespace: its own eth0 (a veth end), address, "
                 "routes and ports, reached through a bridge, NAT for going out and DNAT for published ports. With "
                 "host, it shares the host's namespace: no veth, no NAT, its ports are the host's. Host mode saves "
                 "the NAT and veth hop (latency-sensitive or many-port services) at the cost of isolation and "
                 "port clashes.",
           demo="sections 2, 6 and 8"),
    Recall("two-hosts", "How do two containers on the same host reach each other, and on two hosts?",
           model="Same host, same network: both veth peers are ports of one bridge; ARP and frames stay inside "
                 "the bridge, no NAT. Two hosts: either publish ports and go through each host's NAT, or an "
                 "overlay: each host's bridge gets a VXLAN port with the same VNI, frames are wrapped in UDP 4789 "
                 "to the other host, and the containers see one subnet.",
           demo="sections 2 and 7"),
])


def _lab():
    from .. import net  # loaded on first use: pyroute2 costs time
    return net


class SourceSeen(Exercise):
    id = "source-seen"
    chapter = "09"
    kind = "predict"
    title = "predict the source address a server outside sees"
    task = """Before running section 4, predict: a container on a lab network (its address 10.199.x.y,
its gateway the bridge at 10.199.x.1) connects to a server in the "internet" namespace at 198.18.0.2.
The host's uplink to that namespace is 198.18.0.1. Which source address does the server see? Write it
as a string. The checker builds the network and the internet, makes the connection and compares."""
    hint = "the internet has a route to 198.18.0.0/30 only; think of which address it can answer to"

    def verify(self, answer):
        net = _lab()
        if net.netns.exists("lab-internet"):
            return "check this before section 4 builds its internet namespace, or after the chapter's cleanup cell"
        with net.network.create(f"ex09-{secrets.token_hex(2)}") as n, net.internet.create() as inet, \
                net.endpoint.attach(f"ex09-{secrets.token_hex(2)}", n.name) as ep:
            server = inet.ns.spawn([sys.executable, "-c",
                                    "import socket;s=socket.socket();s.bind(('0.0.0.0',9000));s.listen();"
                                    "print('up',flush=True);c,a=s.accept();print(a[0],flush=True)"], capture=True)
            try:
                server.stdout.readline()
                ep.run([sys.executable, "-c", f"import socket;socket.create_connection(('{inet.server}',9000),timeout=5)"])
                seen = server.stdout.readline().decode().strip()
            finally:
                server.close()
            gateway, mine = n.gateway, ep.ip
        given = str(answer).strip()
        if given == seen:
            return None
        if given == mine:
            return "that is the container's own address: could the server send its answer there?"
        if given == gateway:
            return "the bridge's address faces the containers; the packet leaves the host by another link"
        return f"{given} is not what the server saw: follow the packet out of the host and ask who rewrites it"


class PublishByHand(Exercise):
    id = "publish-by-hand"
    chapter = "09"
    kind = "build"
    title = "publish a port with one nftables rule"
    task = """Write a function `rule(host_port, ip, port)` returning ONE nftables rule, in nft's own
language, that makes a connection to the host's `host_port` end at `ip:port` (what `docker run -p`
does for a client on another machine). The checker starts a web server in a container on a lab network,
puts your rule in the prerouting chain (type nat) of a lab table, and connects from the "internet"
namespace to the host's uplink address on `host_port`."""
    hint = "a nat rule matches the protocol and the destination port, then rewrites the destination: nft(8), NAT STATEMENTS"

    SERVER = ("import http.server\n"
              "class H(http.server.BaseHTTPRequestHandler):\n"
              "  def do_GET(s): s.send_response(200); s.end_headers(); s.wfile.write(b'published')\n"
              "  def log_message(s,*a): pass\n"
              "srv=http.server.HTTPServer(('0.0.0.0',80),H); print('up',flush=True); srv.serve_forever()\n")

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (rule, without parentheses)"
        net = _lab()
        host_port = 30000 + secrets.randbelow(5000)
        text = answer(host_port, "10.199.0.2", 80)  # a first call, before anything is made: does it answer at all?
        if not isinstance(text, str):
            return f"rule() returned {type(text).__name__}: return the rule as a string"
        if net.netns.exists("lab-internet"):
            return "run the chapter's cleanup cell first: the checker builds its own internet namespace"
        with net.network.create(f"ex09-{secrets.token_hex(2)}") as n, net.internet.create() as inet, \
                net.endpoint.attach(f"ex09-{secrets.token_hex(2)}", n.name) as ep:
            text = answer(host_port, ep.ip, 80)
            server = ep.spawn([sys.executable, "-c", self.SERVER], capture=True)
            table = f"labcore-ex09-{secrets.token_hex(2)}"
            rec = net.nft.table(table)
            try:
                server.stdout.readline()
                net.nft.chain(table, "prerouting", hook="prerouting", type="nat", priority=-100)
                try:
                    net.nft.text_rule(table, "prerouting", text)
                except Exception as exc:
                    return f"nft did not take it: {getattr(exc, 'what', exc)}"
                r = inet.ns.run([sys.executable, "-c", "import urllib.request;print(urllib.request.urlopen("
                                 f"'http://{inet.host}:{host_port}/',timeout=3).read().decode())"])
            finally:
                from .. import tracker
                tracker.default().undo(rec)
                server.close()
        if r.returncode == 0 and r.stdout.strip() == "published":
            return None
        if "snat" in text or "masquerade" in text:
            return "that rewrites the source; the client asked for the host's address, which must change"
        if str(host_port) not in text:
            return "the rule never looks at the port the client connects to"
        return "the connection did not reach the server: which address and port does your rule send it to?"


EXERCISES = [SourceSeen, PublishByHand]


__all__ = ["QUIZ", "EXERCISES"]
