"""The command line's networking: ``labcore network ...`` and ``labcore run``'s network options.

    labcore network create web [--subnet 10.199.7.0/24] [--driver bridge|vxlan]
    labcore network ls
    labcore network rm web
    labcore run --network web --name api --publish 8080:80 -- python3 -m http.server 80

As with ``docker run``, ``--network`` takes ``none``, ``host``, ``bridge``
(the default network, made when first needed and removed after the last
command that made it), a network's name, or ``container:NAME`` (share the
namespace of the running container NAME). Left out, ``labcore run`` keeps
its older meaning: a new, empty network namespace (as ``none``, but
unnamed), unless ``--publish`` asks for the default bridge. Every value is
checked before anything is made.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager


def add_arguments(run: argparse.ArgumentParser) -> None:
    """Add --network, --publish and --name to the ``run`` subcommand."""
    group = run.add_argument_group("network (a namespace wired before the command starts)")
    group.add_argument("--network", metavar="MODE",
                       help="none | host | bridge | NETWORK | container:NAME (default: a new empty namespace)")
    group.add_argument("--publish", "-p", action="append", default=[], metavar="HOSTPORT:PORT[/PROTO]",
                       help="publish a container port on the host's port, e.g. 8080:80 or 5353:53/udp (repeatable)")
    group.add_argument("--name", help="the container's name: its hostname entry on the network, for container:NAME")


@contextmanager
def endpoint(args, argv: list[str]):
    """The network side of ``labcore run``: yields the keyword arguments for ``process.spawn``.

    With ``--network host`` it takes ``net`` out of ``args.ns``; otherwise it
    makes sure ``net`` is in it (the joined namespace counts as the container's own).
    """
    if args.network is None and not args.publish and not args.name:
        yield {}  # no network asked: pyroute2 and nftables are not even imported
        return
    from ..ns import namespaces
    from . import endpoint as endpoints, ipam, network, ports
    mode = args.network or "bridge"
    name = endpoints.check_name(args.name or f"run-{os.getpid()}")
    kind, arg = endpoints.parse_mode(mode)
    for p in args.publish:
        ports.parse(p)  # refused before anything is made
    kinds = namespaces.parse_kinds(args.ns)
    kinds = tuple(k for k in kinds if k != "net") if kind == "host" else kinds + (() if "net" in kinds else ("net",))
    args.ns = ",".join(kinds)
    made_default = False
    if kind == "network" and arg == network.DEFAULT and arg not in ipam.networks():
        network.create(network.DEFAULT)
        made_default = True
    try:
        with endpoints.attach(name, mode, args.publish) as ep:
            if ep.ip:
                print(f"labcore: {name} is {ep.ip} on {ep.network}"
                      + (f", publishing {', '.join(map(str, ep.published))}" if ep.published else ""), file=sys.stderr)
            yield ep.spawn_args() if kind != "host" else {}
    finally:
        if made_default and not ipam.networks().get(network.DEFAULT, {}).get("leases"):
            network.remove(network.DEFAULT)


# --- labcore network ------------------------------------------------------------

def network_options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="a bridge network with its subnet and NAT")
    create.add_argument("name")
    create.add_argument("--subnet", help="IPv4 CIDR, e.g. 10.199.7.0/24 (default: a free /24 of 10.199.0.0/16)")
    create.add_argument("--driver", default="bridge", choices=("bridge", "vxlan"),
                        help="bridge, or vxlan: a bridge with a VXLAN port (default: %(default)s)")
    sub.add_parser("ls", help="the lab's networks")
    rm = sub.add_parser("rm", help="remove a network (refused while containers are on it)")
    rm.add_argument("name")


def cmd_network(args) -> int:
    from . import ipam, network
    if args.action == "create":
        net = network.create(args.name, args.subnet, args.driver, keep=True)
        print(f"{net.name}: {net.driver} {net.subnet}, gateway {net.gateway} on {net.bridge}"
              + (f", VNI {net.vni}" if net.vni else ""))
    elif args.action == "ls":
        rows = [("NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE", "CONTAINERS")]
        for name, e in sorted(ipam.networks().items()):
            rows.append((name, e["driver"], e["subnet"], e["gateway"], e["bridge"],
                         ",".join(sorted(e["leases"].values())) or "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    else:
        for what, outcome in network.remove(args.name):
            print(f"{what}: {outcome}")
    return 0


__all__ = ["add_arguments", "endpoint", "network_options", "cmd_network"]
