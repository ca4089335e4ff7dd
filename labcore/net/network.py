"""A lab network: a bridge, its subnet, and the NAT that lets it out.

``docker network create web`` makes, on the host:

1. a subnet from the address pool (IPAM), e.g. ``10.199.1.0/24``;
2. a bridge (``br-<id>``) holding the subnet's first address, the
   containers' gateway: the host gets a route to the subnet through it;
3. forwarding on (``net.ipv4.ip_forward=1``) and a masquerade rule, so
   containers reach the outside with the host's address;
4. with ``--driver overlay``, a VXLAN port on the bridge, so bridges of
   several hosts carrying the same VNI form one network.

The lab does the same, each object through the tracker and tagged with the
network's name, so ``remove()`` (``labcore network rm``) undoes exactly
that network's objects, newest first. Containers join it through
``labcore.net.endpoint``. See docker-network-create(1).
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from dataclasses import dataclass

from .. import tracker
from ..errors import InvalidInputError
from . import hostsfile, ipam, links, nft, sysctl

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
DRIVERS = ("bridge", "vxlan")
DEFAULT = "bridge"  # the network `--network bridge` means, made when first needed


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name) or name in ("none", "host"):
        raise InvalidInputError(f"bad network name {name!r}",
                                "use 1 to 31 lowercase letters, digits or '-' (not 'none' or 'host')")
    return name


def short(name: str) -> str:
    """A part for link names (15 characters at most): the name itself, or a hash of a long one."""
    return name if len(name) <= 8 else f"{zlib.crc32(name.encode()):08x}"


@dataclass
class Network:
    """One lab network, as IPAM keeps it."""

    name: str
    subnet: str
    gateway: str
    driver: str
    bridge: str
    table: str
    vni: int | None = None

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def __repr__(self) -> str:
        vni = f" vni {self.vni}" if self.vni else ""
        return f"<Network {self.name}: {self.driver}{vni} {self.subnet} gateway {self.gateway} on {self.bridge}>"

    def remove(self) -> None:
        remove(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _tag(rec: tracker.Record, name: str) -> tracker.Record:
    tracker.default().update(rec, network=name)
    return rec


def create(name: str, subnet: str | None = None, driver: str = "bridge", keep: bool = False) -> Network:
    """``docker network create [--subnet CIDR] [--driver ...] NAME``. Used by notebook 09.

    ``keep=True`` (the command line) lets the network outlive this process
    (until ``labcore network rm`` or ``labcore cleanup``); otherwise it goes
    when this process ends, if not removed before.
    """
    check_name(name)
    if driver not in DRIVERS:
        raise InvalidInputError(f"--driver {driver!r} is not a lab network driver", "choose bridge or vxlan")
    if subnet is not None:
        ipam.parse_subnet(subnet)  # refused before anything is made
    part = short(name)
    net = Network(name, "", "", driver, f"lab-br-{part}", f"labcore-{name}",
                  vni=(zlib.crc32(name.encode()) % 0xFFFFFF) + 1 if driver == "vxlan" else None)
    entry, rec = ipam.add_network(name, subnet, ipam.host_routes(), driver=driver, bridge=net.bridge,
                                  table=net.table, vni=net.vni)
    made = [_tag(rec, name)]
    net.subnet, net.gateway = entry["subnet"], entry["gateway"]
    try:
        with tracker.default().created("path", str(hostsfile.path(name))) as hosts:
            hostsfile.write(name, {})  # the network's names, seen by its containers as /etc/hosts
        made.append(_tag(hosts, name))
        made.append(_tag(links.bridge(net.bridge), name))
        links.add_address(net.bridge, net.gateway, net.prefixlen)
        if driver == "vxlan":
            made.append(_tag(links.vxlan(f"lab-vx-{part}", net.vni, underlay=None, local=None), name))
            links.set_master(f"lab-vx-{part}", net.bridge)
        made.append(_tag(sysctl.hold("net.ipv4.ip_forward", "1", holder=name), name))
        made.append(_tag(sysctl.hold(f"net.ipv4.conf.{net.bridge}.route_localnet", "1", holder=name), name))
        made.append(_tag(nft.table(net.table), name))
        _rules(net)
    except BaseException:
        for r in reversed(made):
            tracker.default().undo(r)
        raise
    if keep:
        for r in made:
            _outlive(r)
    return net


def _outlive(rec: tracker.Record) -> None:
    """Owner 0: no process owns it, so it is not undone when this one exits (only by rm or cleanup)."""
    rec.owner, rec.owner_start = 0, None
    tracker.default().update(rec)


def _rules(net: Network) -> None:
    """Masquerade what leaves the subnet for elsewhere; count what the bridge forwards."""
    t = net.table
    nft.chain(t, "postrouting", hook="postrouting", type="nat", priority=100)
    nft.rule(t, "postrouting", [nft.match(nft.payload("ip", "saddr"), nft.prefix(net.subnet)),
                                nft.match(nft.meta("oifname"), net.bridge, "!="),
                                nft.COUNTER, {"masquerade": None}], comment="outbound: SNAT to the host's address")
    nft.chain(t, "forward", hook="forward", type="filter", priority=0)
    nft.rule(t, "forward", [nft.match(nft.meta("iifname"), net.bridge), nft.COUNTER, {"accept": None}],
             comment="from the containers")
    nft.rule(t, "forward", [nft.match(nft.meta("oifname"), net.bridge), nft.COUNTER, {"accept": None}],
             comment="to the containers")


def get(name: str) -> Network:
    entry = ipam.networks().get(name)
    if entry is None:
        raise InvalidInputError(f"no lab network {name!r}", f"create it: labcore network create {name} (see labcore network ls)")
    return Network(name, entry["subnet"], entry["gateway"], entry["driver"], entry["bridge"], entry["table"],
                   entry.get("vni"))


def ls() -> list[Network]:
    """Every lab network (``docker network ls``)."""
    return [get(name) for name in sorted(ipam.networks())]


def remove(name: str) -> list[tuple[str, str]]:
    """``docker network rm NAME``: undo its objects, newest first. Refused while a container is on it."""
    entry = ipam.networks().get(name)
    if entry is None:
        raise InvalidInputError(f"no lab network {name!r}", "see labcore network ls")
    if entry["leases"]:
        raise InvalidInputError(f"network {name} still has containers: {', '.join(entry['leases'].values())}",
                                "stop them first")
    trk = tracker.default()
    mine = sorted((r for r in trk.records() if r.extra.get("network") == name), key=lambda r: -r.seq)
    return [(r.describe(), trk.undo(r)) for r in mine]


__all__ = ["Network", "create", "get", "ls", "remove", "check_name", "DRIVERS", "DEFAULT"]
