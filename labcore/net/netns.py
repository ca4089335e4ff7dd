"""A network namespace made for a container, named so it outlives any process.

A network namespace is a whole network stack: its own links (starting with
a ``lo`` that is down), addresses, routes, neighbour tables, netfilter
rules, sockets and ``/proc/sys/net`` settings. A container runtime makes
it *first*, wires it (a veth end, an address, a default route), and only
then starts the container's process in it, as Docker's libnetwork does
with its "sandbox". So the namespace needs a name before any process of
the container exists: a bind mount of its ``/proc/PID/ns/net`` under
``/run/netns``, as ``ip netns add`` makes (``labcore.ns.netns.pin_netns``).

Here a short-lived process creates the namespace (unshare(CLONE_NEWNET)),
the namespace is pinned by name, and the process goes: the bind mount
keeps it alive. ``NetNamespace.run`` joins it with setns(2) to run a
command there, as ``ip netns exec`` does. See ip-netns(8), network_namespaces(7).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .. import tracker
from ..errors import InvalidInputError
from ..ns import process
from ..ns.netns import NETNS_DIR, pin_netns
from . import netlink

NAME = re.compile(r"^lab-[a-z0-9][a-z0-9.-]{0,40}$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInputError(f"bad network namespace name {name!r}",
                                "use 'lab-' then up to 41 lowercase letters, digits, '.' or '-'")
    return name


@dataclass
class NetNamespace(tracker.Held):
    """A named network namespace (``/run/netns/NAME``); ``remove()`` or ``with`` deletes it."""

    name: str
    _record: tracker.Record | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    def run(self, argv, timeout: float = 30, ns=(), **kwargs) -> process.Result:
        """Run ``argv`` inside this namespace (``ip netns exec NAME argv``) and return its output."""
        return process.run(list(argv), ns, timeout=timeout, netns=self.path, **kwargs)

    def spawn(self, argv, ns=(), **kwargs) -> process.Process:
        """Start ``argv`` inside this namespace and return at once (a server, for instance)."""
        return process.spawn(list(argv), ns, netns=self.path, **kwargs)

    def ipr(self, fn):
        """Run ``fn(ipr)`` with a netlink socket opened in this namespace (see netlink.call)."""
        return netlink.call(fn, self.name)

    def links(self) -> list[str]:
        """The names of the links in this namespace."""
        return netlink.call(lambda ipr: [l.get_attr("IFLA_IFNAME") for l in ipr.get_links()], self.name)

    def remove(self) -> None:
        self.release()


def create(name: str) -> NetNamespace:
    """Create network namespace ``name`` (``ip netns add``), its ``lo`` up; recorded by the tracker."""
    check_name(name)
    if os.path.exists(f"{NETNS_DIR}/{name}"):
        raise InvalidInputError(f"network namespace {name} exists already",
                                f"choose another name, or remove it (labcore cleanup, or ip netns del {name})")
    # A child in a new network namespace, blocked reading its stdin until the name is pinned.
    with process.spawn(["sleep", "30"], ("net",), capture=True) as holder:
        rec = pin_netns(holder.pid, name)
    ns = NetNamespace(name, rec)
    try:
        ns.ipr(lambda ipr: ipr.link("set", index=netlink.index(ipr, "lo"), state="up"))
    except BaseException:
        ns.remove()
        raise
    return ns


def exists(name: str) -> bool:
    return os.path.exists(f"{NETNS_DIR}/{name}")


__all__ = ["NetNamespace", "create", "check_name", "exists"]
