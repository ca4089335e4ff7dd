"""rtnetlink: how a program asks the kernel for links, addresses and routes.

``ip link``, ``ip addr`` and ``ip route`` print what they get from a
netlink socket (``AF_NETLINK``, protocol ``NETLINK_ROUTE``): a request
such as RTM_NEWLINK goes in, the kernel answers with an ACK or an errno.
A netlink socket belongs to the network namespace it was opened in, for
its whole life; that is how a runtime configures a container's namespace
from outside it. See rtnetlink(7), netlink(7).

labcore speaks netlink through pyroute2. Its synchronous API runs an
asyncio loop of its own, which cannot start inside a Jupyter kernel
(whose loop already runs), so every call goes to one worker thread here,
which has no loop: ``call(fn, netns)`` runs ``fn(ipr)`` there with an
``IPRoute`` socket opened in ``netns`` (a name in /run/netns) or in our own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import UnsupportedError

_pool: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(1, thread_name_prefix="labcore-netlink")
    return _pool


def call(fn, netns: str | None = None):
    """Run ``fn(ipr)`` in the netlink worker thread; ``ipr`` is a pyroute2 ``IPRoute`` in ``netns``."""
    return _worker().submit(_in_worker, fn, netns).result()


def run(fn):
    """Run ``fn()`` in the netlink worker thread (for pyroute2 sockets other than IPRoute)."""
    return _worker().submit(fn).result()


def _in_worker(fn, netns):
    try:
        from pyroute2 import IPRoute
    except ImportError as exc:
        raise UnsupportedError(f"pyroute2 is missing ({exc})", "install the lab: .venv/bin/pip install -e .") from None
    ipr = IPRoute(netns=netns) if netns else IPRoute()
    try:
        return fn(ipr)
    finally:
        ipr.close()


def index(ipr, name: str) -> int | None:
    """The ifindex of link ``name`` as seen through ``ipr``, or None."""
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


__all__ = ["call", "run", "index"]
