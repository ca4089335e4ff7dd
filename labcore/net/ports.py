"""Published ports: a host port that leads to a container's port (``docker run -p 8080:80``).

A connection to the host's port 8080 must end at the container's port 80.
Docker has two ways, both on by default:

* **DNAT in the kernel** (what the lab does): a nat rule at *prerouting*
  rewrites the destination of packets arriving for a local address and
  port 8080 to ``CONTAINER_IP:80``; a rule at *output* does the same for
  connections the host itself opens. conntrack remembers the rewrite, so
  the replies get the host's address back. Reaching ``127.0.0.1:8080``
  needs two more things, because the rewritten packet leaves through the
  bridge with source 127.0.0.1: ``route_localnet=1`` on the bridge (or the
  kernel drops it as a martian) and a masquerade of that source to the
  bridge's address (or the container answers to its own loopback). That
  last rule is the *hairpin* case: traffic from the host back into the
  network it serves.
* **docker-proxy**, the *userland proxy*: one process per published port
  that listens on the host's port, accepts, opens its own connection to
  the container and copies bytes both ways. It works where NAT cannot
  (loopback without route_localnet, old kernels) but the container sees
  the proxy's address rather than the client's, and every byte crosses
  user space twice: ``bench/net.py`` measures what that costs.

The lab uses DNAT for every path (another namespace, the host, loopback),
because it is one mechanism a learner can read as three rules, the client
address is kept, and nothing runs per port. Each container's rules live in
a table of its own (``ip labcore-p-NAME``), deleted whole with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import tracker
from ..errors import InvalidInputError
from . import nft

SPEC = re.compile(r"^(\d{1,5}):(\d{1,5})(?:/(tcp|udp))?$")


@dataclass(frozen=True)
class Port:
    """One ``--publish HOSTPORT:PORT/PROTO``."""

    host_port: int
    port: int
    proto: str = "tcp"
    host_ip: str | None = None  # -p 127.0.0.1:8080:80: only that local address (None: every local address)

    def __str__(self) -> str:
        where = f"{self.host_ip}:" if self.host_ip else ""
        return f"{where}{self.host_port}:{self.port}/{self.proto}"


def parse(text: str) -> Port:
    """``"8080:80"`` or ``"5353:53/udp"`` -> Port; a LabError naming the option and the form otherwise."""
    m = SPEC.match(str(text).strip())
    if not m:
        raise InvalidInputError(f"--publish {text!r} is not HOSTPORT:PORT[/tcp|/udp]",
                                "write it as docker run -p does, e.g. --publish 8080:80 or --publish 5353:53/udp")
    host_port, port = int(m.group(1)), int(m.group(2))
    for what, value in (("host port", host_port), ("container port", port)):
        if not 0 < value < 65536:
            raise InvalidInputError(f"--publish {text!r}: {what} {value} out of range", "ports go from 1 to 65535")
    return Port(host_port, port, m.group(3) or "tcp")


def check_unique(ports) -> None:
    seen = set()
    for p in ports:
        if (p.host_port, p.proto) in seen:
            raise InvalidInputError(f"--publish {p}: host port {p.host_port}/{p.proto} given twice",
                                    "publish each host port once")
        seen.add((p.host_port, p.proto))


def publish(name: str, ip: str, bridge: str, ports) -> tracker.Record:
    """The DNAT rules for container ``name`` at ``ip`` on ``bridge``, in table ``ip labcore-p-NAME``."""
    table = f"labcore-p-{name}"
    rec = nft.table(table)
    try:
        nft.chain(table, "prerouting", hook="prerouting", type="nat", priority=-100)
        nft.chain(table, "output", hook="output", type="nat", priority=-100)
        nft.chain(table, "postrouting", hook="postrouting", type="nat", priority=100)
        for p in ports:
            to_local = [nft.match({"fib": {"flags": ["daddr"], "result": "type"}}, "local"),
                        nft.match(nft.payload(p.proto, "dport"), p.host_port)]
            if p.host_ip:  # bound to one of the host's addresses, as docker run -p IP:HOSTPORT:PORT
                to_local.insert(1, nft.match(nft.payload("ip", "daddr"), p.host_ip))
            dnat = {"dnat": {"addr": ip, "port": p.port}}
            nft.rule(table, "prerouting", to_local + [nft.COUNTER, dnat], comment=f"{p}: from other hosts")
            nft.rule(table, "output", to_local + [nft.COUNTER, dnat], comment=f"{p}: from this host")
            nft.rule(table, "postrouting", [nft.match(nft.payload("ip", "saddr"), nft.prefix("127.0.0.0/8")),
                                            nft.match(nft.payload("ip", "daddr"), ip),
                                            nft.match(nft.payload(p.proto, "dport"), p.port),
                                            nft.match(nft.meta("oifname"), bridge),
                                            nft.COUNTER, {"masquerade": None}], comment=f"{p}: hairpin from 127.0.0.1")
    except BaseException:
        tracker.default().undo(rec)
        raise
    return rec


__all__ = ["Port", "parse", "publish", "check_unique"]
