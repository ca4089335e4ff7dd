"""IP address management: a subnet per network, an address per container.

A container runtime hands out addresses itself; nothing in the kernel
does. Docker's IPAM driver picks a subnet for each network from a pool
(``172.17.0.0/16`` for the default bridge, then ``172.18.0.0/16``...),
gives the bridge the first address (the containers' gateway), and leases
the next free address to each container that joins, until it leaves.

Two rules keep the host safe:

* a subnet that overlaps a route the host already has is never used: the
  host would not know where to send the packets any more;
* the network address, the gateway and the broadcast address are never
  leased.

The planning functions here are pure (``pick_subnet``, ``parse_subnet``,
``next_address``) and tested without root. The leases are kept in a JSON
file under the lab's state directory, so every process of the lab (a
notebook, ``labcore run``) sees the same ones; a lock file serialises them.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
from contextlib import contextmanager
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError, LabError

POOL = ipaddress.ip_network("10.199.0.0/16")  # the lab's default address pool, cut into /24s
SIZE = 24


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """``"10.199.5.0/24"`` -> the network, refusing what cannot hold a bridge and containers."""
    try:
        net = ipaddress.ip_network(str(text), strict=True)
    except ValueError as exc:
        raise InvalidInputError(f"--subnet {text!r}: {exc}",
                                "give an IPv4 network in CIDR form with its host bits zero, e.g. 10.199.7.0/24")
    if net.version != 4:
        raise InvalidInputError(f"--subnet {text!r} is IPv6", "the lab's networks are IPv4: e.g. 10.199.7.0/24")
    if net.prefixlen > 29:
        raise InvalidInputError(f"--subnet {text!r} is too small (/{net.prefixlen})",
                                "use /29 or larger: the network, gateway and broadcast take three addresses")
    if net.is_loopback or net.is_multicast or net.is_link_local or net.is_unspecified:
        raise InvalidInputError(f"--subnet {text!r} is a reserved range", "use a private range such as 10.199.7.0/24")
    return net


def overlaps(net, routes) -> list:
    """The routes (networks) among ``routes`` that ``net`` overlaps; the default route (0/0) is not counted."""
    return [r for r in routes if r.prefixlen > 0 and net.overlaps(r)]


def pick_subnet(taken, routes, pool=POOL, size: int = SIZE):
    """The first ``/size`` of ``pool`` that overlaps neither a lab network (``taken``) nor a host route."""
    for net in pool.subnets(new_prefix=size):
        if not overlaps(net, taken) and not overlaps(net, routes):
            return net
    raise LabError(f"no free /{size} left in {pool}", "remove a lab network (labcore network rm NAME)")


def free_subnet(pool=POOL) -> ipaddress.IPv4Network:
    """A /24 of ``pool`` that no lab network holds and no host route overlaps, now; not reserved: for a
    bridge another program makes (dockerd's), whose route then keeps the lab's next network off it."""
    taken = [ipaddress.ip_network(e["subnet"]) for e in networks().values()]
    return pick_subnet(taken, host_routes(), pool=pool)


def gateway(net) -> ipaddress.IPv4Address:
    """The bridge's address: the first host of the subnet, as Docker gives it."""
    return net.network_address + 1


def next_address(net, leased) -> ipaddress.IPv4Address:
    """The lowest address of ``net`` that is neither the gateway nor leased."""
    used = {ipaddress.ip_address(a) for a in leased} | {gateway(net)}
    for host in net.hosts():
        if host not in used:
            return host
    raise LabError(f"network {net} has no free address left", "stop a container on it, or use a larger --subnet")


# --- the leases on disk ---------------------------------------------------------

def _dir() -> Path:
    d = tracker.check_private(tracker.state_dir()) / "net"  # made if missing, refused if others may write it
    d.mkdir(mode=0o700, exist_ok=True)
    return d


@contextmanager
def _locked():
    """The whole state, read under an exclusive lock, written back when the block ends."""
    d = _dir()
    with open(d / "ipam.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = d / "ipam.json"
        state = json.loads(path.read_text()) if path.exists() else {}
        yield state
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.rename(path)


def networks() -> dict:
    """Every lab network's entry: ``{name: {"subnet", "gateway", "driver", "bridge", "leases": {ip: holder}}}``.

    Read under a shared lock and never written back: the DNS servers read it for every query.
    """
    d = _dir()
    with open(d / "ipam.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # writers (LOCK_EX) replace the file whole, by rename
        path = d / "ipam.json"
        return json.loads(path.read_text()) if path.exists() else {}


def add_network(name: str, subnet: str | None, routes, **info) -> tuple[dict, tracker.Record]:
    """Reserve a subnet for network ``name`` (the given one, checked, or the first free one).

    Recorded with the tracker (kind ``ipam``): undoing the record frees the subnet.
    """
    trk = tracker.default()
    rec = trk.add("ipam", name)  # before the lock: an undo takes the lock itself
    try:
        with _locked() as state:
            if name in state:
                raise InvalidInputError(f"network {name!r} exists already",
                                        "choose another name, or remove it: labcore network rm " + name)
            taken = [ipaddress.ip_network(n["subnet"]) for n in state.values()]
            if subnet is None:
                net = pick_subnet(taken, routes)
            else:
                net = parse_subnet(subnet)
                clash = overlaps(net, taken) or overlaps(net, routes)
                if clash:
                    raise InvalidInputError(f"--subnet {net} overlaps {clash[0]}, already routed on this host "
                                            "or used by a lab network",
                                            "choose another subnet, or leave --subnet out to get a free one")
            entry = {"subnet": str(net), "gateway": str(gateway(net)), "leases": {}, **info}
            state[name] = entry
    except BaseException:
        trk.forget(rec)  # nothing was reserved
        raise
    return entry, rec


def lease(name: str, holder: str) -> tuple[ipaddress.IPv4Address, tracker.Record]:
    """Lease the next free address of network ``name`` to ``holder``; undo the record to give it back."""
    trk = tracker.default()
    rec = trk.add("ipam-lease", f"{name}/{holder}")
    try:
        with _locked() as state:
            if name not in state:
                raise InvalidInputError(f"no lab network {name!r}", "create it first: labcore network create " + name)
            leases = state[name]["leases"]
            if holder in leases.values():
                raise InvalidInputError(f"{holder!r} already has an address on {name}",
                                        "give the container another --name, or stop the one using it")
            ip = next_address(ipaddress.ip_network(state[name]["subnet"]), leases)
            leases[str(ip)] = holder
    except BaseException:
        trk.forget(rec)
        raise
    trk.update(rec, ip=str(ip))
    return ip, rec


@tracker.undoes("ipam-lease", order=84)
def _release(rec: tracker.Record) -> str:
    name, _, holder = rec.target.partition("/")
    with _locked() as state:
        leases = state.get(name, {}).get("leases", {})
        mine = [ip for ip, who in leases.items() if who == holder]
        for ip in mine:
            del leases[ip]
    return "released" if mine else "already gone"


@tracker.undoes("ipam", order=85)
def _free(rec: tracker.Record) -> str:
    with _locked() as state:
        if state.pop(rec.target, None) is None:
            return "already gone"
    return "freed"


def host_routes() -> list:
    """The destinations of the host's IPv4 routes (from /proc/net/route; no netlink needed)."""
    out = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        f = line.split()
        dest, mask = (ipaddress.IPv4Address(int(x, 16).to_bytes(4, "little")) for x in (f[1], f[7]))
        out.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return out


__all__ = ["POOL", "parse_subnet", "overlaps", "pick_subnet", "free_subnet", "gateway", "next_address", "networks",
           "add_network", "lease", "host_routes"]
