"""Kernel settings of the network stack: /proc/sys/net, changed and put back.

``sysctl net.ipv4.ip_forward=1`` writes ``1`` to
``/proc/sys/net/ipv4/ip_forward``. Two settings matter to containers:

* ``net.ipv4.ip_forward``: whether the host *routes* packets between its
  links (from a container's bridge to the uplink and back). Off, the host
  only accepts packets addressed to itself. Docker turns it on at start.
* ``net.ipv4.conf.LINK.route_localnet``: whether packets from or to
  127.0.0.0/8 may be routed through LINK. Off, the kernel drops them as
  "martians"; a published port reached on 127.0.0.1 and rewritten (DNAT)
  to a container's address leaves through the bridge with source
  127.0.0.1, so Docker turns it on for the bridge when it does DNAT for
  loopback.

Each change is recorded with the tracker (kind ``sysctl``) with the value
found before. Several lab networks may need the same setting: each holds
its own record, all carrying the *first* value found, and the host's value
comes back when the last holder lets go. The settings live in the network
namespace they were written from (sysctl(8), proc_sys_net(5)).
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError

ALLOWED = re.compile(r"^net\.ipv4\.(?:(ip_forward)|conf\.(lab-[A-Za-z0-9-]{1,11})\.(route_localnet|forwarding))$")


def path(key: str) -> Path:
    m = ALLOWED.match(key)
    if not m:
        raise InvalidInputError(f"sysctl {key!r} is not one the lab changes",
                                "the lab changes net.ipv4.ip_forward and net.ipv4.conf.lab-*.route_localnet only")
    if m.group(1):
        return Path("/proc/sys/net/ipv4/ip_forward")
    return Path("/proc/sys/net/ipv4/conf", m.group(2), m.group(3))


def read(key: str) -> str:
    """The current value (``sysctl -n KEY``)."""
    return path(key).read_text().strip()


def hold(key: str, value: str, holder: str) -> tracker.Record:
    """Set ``key`` to ``value`` for ``holder`` (a network's name); undo the record to let go."""
    p = path(key)
    trk = tracker.default()
    others = [r for r in trk.records() if r.kind == "sysctl" and r.target == key]
    old = others[0].extra["old"] if others else p.read_text().strip()
    with trk.created("sysctl", key, old=old, value=value, holder=holder) as rec:
        p.write_text(value)
    return rec


@tracker.undoes("sysctl", order=60)  # after links and rules: nothing needs it any more then
def _restore(rec: tracker.Record) -> str:
    key = rec.target
    if not ALLOWED.match(key):
        tracker.refuse(rec, "a setting the lab never changes")
    still = [r.extra.get("holder") for r in tracker.default().records()
             if r.kind == "sysctl" and r.target == key and r.file != rec.file]
    if still:
        return f"left at {rec.extra.get('value')} (still held by {', '.join(map(str, still))})"
    try:
        path(key).write_text(str(rec.extra["old"]))
    except FileNotFoundError:
        return "already gone (its link went)"
    return f"restored to {rec.extra['old']}"


__all__ = ["hold", "read", "path", "ALLOWED"]
