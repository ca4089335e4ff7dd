"""A container's place on the network: its namespace, wired before it starts.

``docker run --network web -p 8080:80 --name api IMAGE`` makes, in order:

1. a network namespace for the container (libnetwork's *sandbox*);
2. a veth pair: ``lab-v...`` on the host, a port of the network's bridge,
   and ``eth0`` created inside the container's namespace;
3. an address from IPAM on ``eth0`` and a default route via the bridge's
   address (the gateway);
4. its name, found by the other containers through a DNS server at
   127.0.0.11 in each container's namespace (``labcore.net.dns``), which
   /etc/resolv.conf names; /etc/hosts holds only the container's own name;
5. the published ports' DNAT rules;

and only then starts the container's process, which joins the namespace
(setns(2)) instead of creating one. The modes of ``--network``:

* ``bridge`` / ``NAME``: all of the above, on the default or a named network;
* ``none``: step 1 only: a namespace with nothing but a ``lo`` (up);
* ``host``: no namespace at all: the container shares the host's stack,
  its links and its ports (so ``--publish`` means nothing there);
* ``container:NAME``: no namespace of its own: it joins NAME's (and sees
  NAME's /etc/hosts and resolv.conf), as the containers of a Kubernetes pod
  share their "pause" container's.

Every object goes through the tracker; ``Endpoint.remove()`` undoes them
newest first.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field

from .. import tracker
from ..errors import InvalidInputError
from . import dns, hostsfile, ipam, links, netns, ports
from . import network as networks

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInputError(f"--name {name!r} is not a container name the lab takes",
                                "use 1 to 31 lowercase letters, digits or '-', starting with a letter or digit")
    return name


def netns_name(container: str) -> str:
    return f"lab-c-{container}"


def parse_mode(text: str) -> tuple[str, str | None]:
    """``--network`` -> (mode, argument): ("none", None), ("host", None), ("network", NAME), ("container", NAME)."""
    text = str(text or "").strip()
    if text in ("none", "host"):
        return text, None
    if text.startswith("container:"):
        return "container", check_name(text.split(":", 1)[1])
    if text == "":
        raise InvalidInputError("--network is empty", "give none, host, bridge, a network's name or container:NAME")
    try:
        return "network", networks.check_name(text)
    except InvalidInputError:
        raise InvalidInputError(f"--network {text!r} is not none, host, bridge, a network name or container:NAME",
                                "see labcore network ls for the names") from None


@dataclass
class Endpoint:
    """What ``attach`` made for one container: where its process must go, and how to undo it."""

    container: str
    mode: str
    netns: str | None = None            # the path to join (None: stay in the host's network namespace)
    ip: str | None = None
    network: str | None = None
    host_link: str | None = None
    hosts: str | None = None            # the hosts file to bind on /etc/hosts
    resolv: str | None = None           # the resolv.conf to bind on /etc/resolv.conf (with DNS)
    dns: dns.Server | None = None       # the server at 127.0.0.11 in this namespace
    published: list = field(default_factory=list)
    _records: list = field(default_factory=list, repr=False)
    _holder: hostsfile.Holder | None = field(default=None, repr=False)

    def spawn_args(self) -> dict:
        """What ``process.spawn`` needs to start the container here: ``netns`` and ``mntns`` paths."""
        return {"netns": self.netns, "mntns": self._holder.mntns if self._holder else None}

    def spawn(self, argv, ns=("pid", "mnt", "uts", "ipc", "net"), **kwargs):
        """Start the container's process in this endpoint's namespaces (notebook 09)."""
        from ..ns import process
        return process.spawn(list(argv), ns, **self.spawn_args(), **kwargs)

    def run(self, argv, ns=("pid", "mnt", "uts", "ipc", "net"), timeout: float = 30, **kwargs):
        """Run a command in a new container on this endpoint and return its output."""
        from ..ns import process
        return process.run(list(argv), ns, timeout=timeout, **self.spawn_args(), **kwargs)

    def remove(self) -> None:
        """Undo what attach made, newest first (ports, the name, the address, links, the namespace)."""
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        if self.dns is not None:
            self.dns.stop()  # before the namespace goes: its socket would keep the namespace alive
            self.dns = None
        trk = tracker.default()
        while self._records:
            trk.undo(self._records.pop())
        if self.network and self.mode == "network":
            _rewrite_hosts(self.network)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _rewrite_hosts(network: str) -> str:
    leases = ipam.networks().get(network, {}).get("leases", {})
    return str(hostsfile.write(network, leases))


def serve_names(ep: Endpoint, hostname: str, holder: bool = True) -> None:
    """The container's own hosts file and resolv.conf (recorded), its DNS server, and (``holder``) the
    process binding the two files; without it, a caller writing an OCI bundle binds them (labcore.daemon)."""
    own, resolv = hostsfile.container_paths(ep.container)
    for p, content in ((own, f"{hostsfile.HEADER}{ep.ip}\t{hostname}\n"), (resolv, dns.RESOLV_CONF)):
        with tracker.default().created("path", str(p)) as rec:
            hostsfile.write_file(p, content)
        ep._records.append(rec)
    ep.hosts, ep.resolv = str(own), str(resolv)
    ep.dns = dns.Server(ep.netns, ep.network).start()
    if holder:
        ep._holder = hostsfile.Holder(own, resolv)


def attach(container: str, mode: str = "bridge", publish=(), hostname: str | None = None,
           holder: bool = True) -> Endpoint:
    """Make the network side of container ``container`` for ``--network mode`` (used by notebook 09).

    ``publish`` is a list of ``"HOSTPORT:PORT[/proto]"`` (or ``ports.Port``).
    ``hostname`` is the name other containers find it by (default: ``container``);
    On a network, a DNS server answers the network's names at 127.0.0.11 in
    the container's namespace, and the container sees its own /etc/hosts and
    /etc/resolv.conf (bound by a holder process, see ``hostsfile``).
    ``holder=False`` starts neither holder nor DNS: a caller that writes an OCI
    bundle binds ``ep.hosts`` (the network's shared hosts file) itself, or
    calls ``serve_names(ep, hostname, holder=False)`` and binds the files it
    made (``labcore.daemon.network``).
    Everything is checked before anything is made.
    """
    check_name(container)
    kind, arg = parse_mode(mode)
    wanted = [p if isinstance(p, ports.Port) else ports.parse(p) for p in publish]
    ports.check_unique(wanted)
    if wanted and kind != "network":
        raise InvalidInputError(f"--publish needs a bridge network, not --network {mode}",
                                "publish ports from a container on bridge or a lab network "
                                "(with host, the container's ports are the host's already)")
    if kind == "host":
        return Endpoint(container, "host")
    if kind == "container":
        path = f"{netns.NETNS_DIR}/{netns_name(arg)}"
        if not os.path.exists(path):
            raise InvalidInputError(f"--network container:{arg}: no running lab container named {arg}",
                                    "start it first with --name " + arg)
        ep = Endpoint(container, "container", netns=path)
        own, resolv = hostsfile.container_paths(arg)
        if holder and own.exists() and resolv.exists():  # as Docker: the files of the container it joins,
            ep._holder = hostsfile.Holder(own, resolv)     # so it asks that namespace's 127.0.0.11 too
        return ep
    if netns.exists(netns_name(container)):
        raise InvalidInputError(f"--name {container}: a lab container of that name is running",
                                "choose another --name")
    if kind == "network" and arg == networks.DEFAULT and arg not in ipam.networks():
        raise InvalidInputError("the default network 'bridge' does not exist yet",
                                "create it: labcore network create bridge (labcore run does it for you)")
    net = networks.get(arg) if kind == "network" else None
    ep = Endpoint(container, kind)
    try:
        ns = netns.create(netns_name(container))
        ep._records.append(ns._record)
        ep.netns = ns.path
        if net is None:
            return ep  # none: just lo
        ep.network, ep.host_link = net.name, f"lab-v{zlib.crc32(container.encode()):08x}"[:15]
        ep._records.append(links.veth(ep.host_link, "eth0", peer_netns=ns.name))
        links.set_master(ep.host_link, net.bridge)
        ip, lease = ipam.lease(net.name, hostname or container)
        ep._records.append(lease)
        ep.ip = str(ip)
        links.add_address("eth0", ep.ip, net.prefixlen, netns=ns.name)
        links.up("eth0", netns=ns.name)
        links.add_route("default", net.gateway, netns=ns.name)
        ep.hosts = _rewrite_hosts(net.name)
        if holder:  # as on Docker's user-defined networks: the neighbours' names come from DNS
            serve_names(ep, hostname or container)
        if wanted:
            ep._records.append(ports.publish(container, ep.ip, net.bridge, wanted))
            ep.published = wanted
    except BaseException:
        ep.remove()
        raise
    return ep


__all__ = ["Endpoint", "attach", "serve_names", "parse_mode", "check_name", "netns_name"]
