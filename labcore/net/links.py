"""Links: veth pairs, bridges and VXLAN devices, with their addresses and routes.

A *link* (network interface) is a kernel object in exactly one network
namespace. The kinds a container network is built from:

* **veth**: a pair of links joined like a pipe; a frame sent into one end
  comes out of the other. One end stays on the host, the other is moved
  into the container's namespace (and named ``eth0`` there). See veth(4).
* **bridge**: a software switch. Links made its *ports* (``master``) hand
  it their frames; it learns which MAC address lives behind which port
  and forwards accordingly. Given an address, it is also the containers'
  gateway to the host. See ip-link(8), ``bridge fdb``.
* **vxlan**: a port that wraps each Ethernet frame in UDP (port 4789),
  tagged with a 24-bit VXLAN Network Identifier (VNI), and sends it to
  another host's VXLAN device over the ordinary network (the *underlay*).
  Two bridges on two hosts then behave as one switch. See RFC 7348.

An address on a link also adds the route to its subnet; a default route
says where everything else goes. Addresses and routes go with their link,
so only links are recorded with the tracker (kind ``link``): deleting one
end of a veth pair deletes the other, and deleting a network namespace
deletes every link in it.
"""

from __future__ import annotations

import errno
import os

from .. import tracker
from ..errors import InvalidInputError
from . import netlink

IFNAMSIZ = 15  # a link name has at most 15 characters (16 with the NUL)


def check_name(name: str, lab: bool = True) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= IFNAMSIZ or "/" in name or " " in name:
        raise InvalidInputError(f"bad link name {name!r}", f"use 1 to {IFNAMSIZ} characters without '/' or spaces")
    if lab and not name.startswith(tracker.PREFIX):
        raise InvalidInputError(f"link name {name!r} lacks the lab's prefix", f"start it with {tracker.PREFIX!r}")
    return name


def _created(name: str, netns: str | None, create) -> tracker.Record:
    """Record link ``name`` (in ``netns``), then create it with ``create(ipr)``; rolled back on failure."""
    check_name(name)
    with tracker.default().created("link", name, netns=netns) as rec:
        try:
            netlink.call(create, netns)
        except Exception as exc:
            if getattr(exc, "code", None) == errno.EEXIST:
                rec.not_mine()
                raise InvalidInputError(f"link {name} exists already", "remove it, or run labcore cleanup") from None
            raise
    return rec


def bridge(name: str, netns: str | None = None) -> tracker.Record:
    """Create bridge ``name`` and bring it up (``ip link add NAME type bridge``)."""
    def create(ipr):
        ipr.link("add", ifname=name, kind="bridge")
        ipr.link("set", index=netlink.index(ipr, name), state="up")
    return _created(name, netns, create)


def veth(name: str, peer: str, peer_netns: str | None = None, netns: str | None = None) -> tracker.Record:
    """A veth pair: ``name`` here (in ``netns``), ``peer`` created straight inside ``peer_netns``.

    Creating the peer inside the other namespace lets it be named ``eth0``
    there, a name the host already uses for its own link.
    """
    def create(ipr):
        spec = {"ifname": peer}
        if peer_netns:
            spec["net_ns_fd"] = peer_netns
        ipr.link("add", ifname=name, kind="veth", peer=spec)
        ipr.link("set", index=netlink.index(ipr, name), state="up")
    return _created(name, netns, create)


def vxlan(name: str, vni: int, underlay: str | None, local: str | None, remote: str | None = None,
          port: int = 4789, netns: str | None = None) -> tracker.Record:
    """A VXLAN device: frames it is given leave through ``underlay`` as UDP to ``remote``:``port``, tagged ``vni``."""
    if not isinstance(vni, int) or not 0 < vni < 1 << 24:
        raise InvalidInputError(f"VNI {vni!r} out of range", "a VXLAN network identifier is 1 to 16777215")

    def create(ipr):
        spec = dict(ifname=name, kind="vxlan", vxlan_id=vni, vxlan_port=port, vxlan_learning=1)
        if underlay:
            spec["vxlan_link"] = netlink.index(ipr, underlay)
        if local:
            spec["vxlan_local"] = local
        if remote:
            spec["vxlan_group"] = remote  # one peer: unicast to it (several need fdb entries)
        ipr.link("add", **spec)
    return _created(name, netns, create)


def set_master(name: str, bridge_name: str, netns: str | None = None) -> None:
    """Make link ``name`` a port of ``bridge_name`` and bring it up (``ip link set NAME master BR up``)."""
    def do(ipr):
        ipr.link("set", index=netlink.index(ipr, name), master=netlink.index(ipr, bridge_name), state="up")
    netlink.call(do, netns)


def up(name: str, netns: str | None = None) -> None:
    netlink.call(lambda ipr: ipr.link("set", index=netlink.index(ipr, name), state="up"), netns)


def add_address(name: str, address: str, prefixlen: int, netns: str | None = None) -> None:
    """``ip addr add ADDRESS/PREFIXLEN dev NAME``: the kernel adds the subnet's route with it."""
    netlink.call(lambda ipr: ipr.addr("add", index=netlink.index(ipr, name), address=str(address),
                                      prefixlen=prefixlen), netns)


def add_route(dst: str, gateway: str, netns: str | None = None) -> None:
    """``ip route add DST via GATEWAY`` (``dst="default"`` for the default route)."""
    netlink.call(lambda ipr: ipr.route("add", dst="0.0.0.0/0" if dst == "default" else dst,
                                       gateway=str(gateway)), netns)


def describe(netns: str | None = None) -> list[dict]:
    """Every link of a namespace: name, kind, state, master, addresses, MAC (for tables and diagrams)."""
    def read(ipr):
        addrs: dict[int, list[str]] = {}
        for a in ipr.get_addr(family=2):
            addrs.setdefault(a["index"], []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
        out = []
        for l in ipr.get_links():
            info = l.get_attr("IFLA_LINKINFO")
            out.append({"name": l.get_attr("IFLA_IFNAME"), "index": l["index"],
                        "kind": (info.get_attr("IFLA_INFO_KIND") if info else None) or "device",
                        "state": l.get_attr("IFLA_OPERSTATE"), "mac": l.get_attr("IFLA_ADDRESS"),
                        "master": names.get(l.get_attr("IFLA_MASTER")), "peer": l.get_attr("IFLA_LINK"),
                        "peer_nsid": l.get_attr("IFLA_LINK_NETNSID"),
                        "addresses": addrs.get(l["index"], [])})
        return out
    return netlink.call(read, netns)


def counters(name: str, netns: str | None = None) -> dict:
    """A link's packet and byte counters (``ip -s link show NAME``)."""
    def read(ipr):
        stats = ipr.get_links(netlink.index(ipr, name))[0].get_attr("IFLA_STATS64")
        return {k: stats[k] for k in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes")}
    return netlink.call(read, netns)


def nsid(path: str, netns: str | None = None) -> int | None:
    """The id that namespace ``netns`` gives the namespace at ``path`` (RTM_GETNSID), None if it gave none.

    A veth end whose peer lives in another namespace names it by this id
    (``IFLA_LINK_NETNSID``, ``link-netnsid`` in ``ip link``); ids are local
    to each namespace, like file descriptors to a process.
    """
    from pyroute2.netlink.nlsocket import NetlinkRequest
    from pyroute2.netlink.rtnl import RTM_GETNSID
    from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

    def ask(ipr):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            msg = nsidmsg()
            msg["attrs"] = [("NETNSA_FD", fd)]
            core = ipr.asyncore  # pyroute2 0.9 has no sync call for this request: run it on the socket's own loop

            async def request():
                req = NetlinkRequest(core, msg, msg_type=RTM_GETNSID, msg_flags=1)
                await req.send()
                return [m.get_attr("NETNSA_NSID") async for m in req.response()]
            found = core.event_loop.run_until_complete(request())
        finally:
            os.close(fd)
        return found[0] if found and found[0] is not None and found[0] < 1 << 31 else None
    return netlink.call(ask, netns)


@tracker.undoes("link", order=40)  # after processes and mounts; a netns (30) takes its links with it
def _delete(rec: tracker.Record) -> str:
    name, netns = rec.target, rec.extra.get("netns")
    if not name.startswith(tracker.PREFIX) or "/" in name:
        tracker.refuse(rec, "link without the lab- prefix")
    if netns and not (netns.startswith(tracker.PREFIX) and "/" not in netns):
        tracker.refuse(rec, "link in a network namespace without the lab- prefix")
    from .netns import exists
    if netns and not exists(netns):
        return "already gone (its namespace went)"

    def delete(ipr):
        idx = netlink.index(ipr, name)
        if idx is None:
            return "already gone"
        ipr.link("del", index=idx)
        return "deleted"
    return netlink.call(delete, netns)


__all__ = ["bridge", "veth", "vxlan", "set_master", "up", "add_address", "add_route", "describe", "counters",
           "check_name", "nsid", "IFNAMSIZ"]
