"""A stand-in for the internet: a network namespace behind the host's uplink.

The lab must never send traffic off the machine, yet outbound NAT is only
visible when a packet leaves the host for somewhere that has no route back
to the containers. So the "internet" here is one more network namespace,
``lab-internet``, joined to the host by a veth pair (``lab-uplink`` on the
host side) on the 198.18.0.0/30 range that RFC 2544 sets aside for tests:
the host is 198.18.0.1, the internet's server 198.18.0.2. The internet has
no route to any container subnet: a container's packet can only be
answered if the host masquerades it, and the server then sees 198.18.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import tracker
from . import links, netns

HOST, SERVER, PREFIXLEN = "198.18.0.1", "198.18.0.2", 30


@dataclass
class Internet:
    """The namespace ``ns`` and the host's uplink to it; ``remove()`` (or ``with``) undoes both."""

    ns: netns.NetNamespace
    uplink: str
    _record: tracker.Record | None = None
    host: str = HOST
    server: str = SERVER

    def remove(self) -> None:
        if self._record is not None:
            tracker.default().undo(self._record)
            self._record = None
        self.ns.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def create(name: str = "lab-internet", uplink: str = "lab-uplink") -> Internet:
    """Make the internet namespace and the uplink (used by notebook 09 and the tests)."""
    ns = netns.create(name)
    try:
        rec = links.veth(uplink, "eth0", peer_netns=ns.name)
        links.add_address(uplink, HOST, PREFIXLEN)
        links.add_address("eth0", SERVER, PREFIXLEN, netns=ns.name)
        links.up("eth0", netns=ns.name)
    except BaseException:
        ns.remove()
        raise
    return Internet(ns, uplink, rec)


__all__ = ["Internet", "create", "HOST", "SERVER"]
