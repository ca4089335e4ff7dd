"""Container networking, built from the kernel's parts: what Docker's libnetwork does.

One module per concept::

    netlink.py    rtnetlink through pyroute2, from a worker thread (Jupyter-safe)
    netns.py      a named network namespace, made before the container
    links.py      veth pairs, bridges, VXLAN devices, addresses, routes, counters
    ipam.py       a subnet per network, an address per container (pure + a leases file)
    sysctl.py     ip_forward and route_localnet, changed and put back
    nft.py        the lab's own nftables tables: masquerade, forward counters
    conntrack.py  the connection table where NAT decisions are kept
    network.py    a lab network: subnet + bridge + NAT (docker network create)
    ports.py      published ports: DNAT, loopback and hairpin (docker run -p)
    dns.py        names on a network: a DNS server at 127.0.0.11 in each container's namespace
    hostsfile.py  a container's /etc/hosts and /etc/resolv.conf, bind-mounted (and --link's shared hosts file)
    endpoint.py   a container's side: netns, veth, address, route, name, ports
    internet.py   a namespace standing in for the internet, behind an uplink
    overlay.py    two "hosts" joined by VXLAN over an underlay veth
    throughput.py iperf3 between namespaces; a published port's request latency
    path.py       one packet's hops: hook counters, nftrace, the bridge's FDB, route lookups
    dockerfw.py   the iptables rules a real dockerd writes for its bridge and published ports, undone
    command.py    labcore network ... and labcore run --network/--publish/--name

Every object goes through the tracker and is undone by ``labcore cleanup``.
Used by notebook 09 and deep dive C.
"""

from __future__ import annotations

import importlib

_MODULES = ("netlink", "netns", "links", "ipam", "sysctl", "nft", "conntrack", "network", "ports", "dns", "hostsfile",
            "endpoint", "internet", "overlay", "throughput", "path", "dockerfw", "command")


def __getattr__(name):  # the submodules load when first used: pyroute2 costs time to import
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_MODULES)
