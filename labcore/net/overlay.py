"""A VXLAN overlay: containers on two hosts on one Ethernet segment.

On one host, a bridge joins the containers. Across hosts, Docker's
``overlay`` driver (and Flannel, Calico in VXLAN mode...) gives each host
a bridge with a VXLAN port: a frame for a MAC address behind the other
host is wrapped whole (Ethernet header included) in UDP to port 4789,
with an 8-byte VXLAN header carrying the network's 24-bit identifier
(VNI), and sent over the hosts' ordinary network, the *underlay*. The
other host's VXLAN device unwraps it and hands the frame to its bridge.
The containers see one flat subnet; the underlay sees UDP between hosts.

Here the two "hosts" are network namespaces (``lab-hosta``, ``lab-hostb``)
joined by a veth pair, the underlay (198.18.1.1 and 198.18.1.2). Each has
a bridge ``lab-br0``, a VXLAN device ``lab-vx0`` (VNI 42 by default)
pointing at the other host, and containers (``lab-c-NAME`` namespaces)
whose ``eth0`` sits on the overlay subnet 10.201.0.0/24. The frames grow
by 50 bytes (outer Ethernet, IP, UDP, VXLAN headers), so the containers'
MTU is set 50 below the underlay's. See RFC 7348, ip-link(8) ``type vxlan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import tracker
from ..errors import InvalidInputError
from . import links, netlink, netns

UNDERLAY = {"a": "198.18.1.1", "b": "198.18.1.2"}
SUBNET, PREFIXLEN = "10.201.0.0", 24
PORT = 4789


@dataclass
class Overlay:
    """Two hosts and their containers; ``containers`` maps a name to (host, overlay address)."""

    vni: int
    hosts: dict = field(default_factory=dict)        # "a" -> NetNamespace
    containers: dict = field(default_factory=dict)   # name -> (host, ip, NetNamespace)
    _records: list = field(default_factory=list, repr=False)

    def add_container(self, name: str, host: str) -> netns.NetNamespace:
        """A container namespace on ``host`` ("a" or "b"), its eth0 a port of that host's bridge."""
        if host not in self.hosts:
            raise InvalidInputError(f"no host {host!r} in this overlay", "use 'a' or 'b'")
        hostns = self.hosts[host].name
        ns = netns.create(f"lab-c-{name}")
        self._records.append(ns._record)
        ip = f"10.201.0.{len(self.containers) + 2}"
        port = f"lab-v{name}"[:15]
        self._records.append(links.veth(port, "eth0", peer_netns=ns.name, netns=hostns))
        links.set_master(port, "lab-br0", netns=hostns)
        netlink.call(lambda ipr: ipr.link("set", index=netlink.index(ipr, "eth0"), mtu=1450), ns.name)
        links.add_address("eth0", ip, PREFIXLEN, netns=ns.name)
        links.up("eth0", netns=ns.name)
        self.containers[name] = (host, ip, ns)
        return ns

    def ping(self, src: str, dst: str, count: int = 3):
        """Ping container ``dst``'s overlay address from inside container ``src``."""
        return self.containers[src][2].run(["ping", "-c", str(count), "-W", "2", "-i", "0.2",
                                            self.containers[dst][1]])

    def underlay_counters(self, host: str = "a") -> dict:
        return links.counters("lab-ul", netns=self.hosts[host].name)

    def remove(self) -> None:
        trk = tracker.default()
        while self._records:
            trk.undo(self._records.pop())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def create(vni: int = 42) -> Overlay:
    """The two hosts, their underlay, bridges and VXLAN ports (used by notebook 09 and its test)."""
    ov = Overlay(vni)
    try:
        for h in ("a", "b"):
            ns = netns.create(f"lab-host{h}")
            ov.hosts[h] = ns
            ov._records.append(ns._record)
        a, b = ov.hosts["a"].name, ov.hosts["b"].name
        ov._records.append(links.veth("lab-ul", "lab-ul", peer_netns=b, netns=a))  # the underlay "cable"
        for h, other in (("a", "b"), ("b", "a")):
            ns = ov.hosts[h].name
            links.add_address("lab-ul", UNDERLAY[h], 30, netns=ns)
            links.up("lab-ul", netns=ns)
            ov._records.append(links.bridge("lab-br0", netns=ns))
            ov._records.append(links.vxlan("lab-vx0", vni, underlay="lab-ul", local=UNDERLAY[h],
                                           remote=UNDERLAY[other], port=PORT, netns=ns))
            links.set_master("lab-vx0", "lab-br0", netns=ns)
    except BaseException:
        ov.remove()
        raise
    return ov


__all__ = ["Overlay", "create", "UNDERLAY", "PORT"]
