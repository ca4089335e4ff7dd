"""conntrack: the kernel's table of connections, where NAT decisions are kept.

Netfilter's nat chains see only the *first* packet of a connection. The
decision they make (rewrite the source to the host's address, or the
destination to a container's) is stored in the connection's conntrack
entry, as two tuples: the *original* direction, as the client sent it, and
the *reply* direction, as the answer will arrive. When the two differ, NAT
happened: a published port's entry reads

    original: 198.18.0.2:41234 -> 198.18.0.1:18080   (the client asked the host)
    reply:    10.199.0.4:80    -> 198.18.0.2:41234   (the container will answer)

and the kernel rewrites every later packet, both ways, from that entry.
``conntrack -L`` prints the same table; the lab reads it over netlink
(NETLINK_NETFILTER) through pyroute2, in the netlink worker thread.
See conntrack(8).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import netlink


@dataclass(frozen=True)
class Entry:
    """One connection: the original tuple, the reply tuple, the protocol."""

    proto: str
    orig: tuple[str, int, str, int]    # (source, sport, destination, dport) as the client sent it
    reply: tuple[str, int, str, int]   # the same for the answer the kernel expects

    @property
    def nat(self) -> bool:
        """True when the reply is not the mirror of the original: an address or port was rewritten."""
        o, r = self.orig, self.reply
        return (r[0], r[1], r[2], r[3]) != (o[2], o[3], o[0], o[1])

    def __str__(self) -> str:
        o, r = self.orig, self.reply
        return (f"{self.proto} original {o[0]}:{o[1]} -> {o[2]}:{o[3]}   reply {r[0]}:{r[1]} -> {r[2]}:{r[3]}"
                + ("   (NAT)" if self.nat else ""))


def entries(dport: int | None = None) -> list[Entry]:
    """The host's connections (those to ``dport`` if given). Used by notebook 09."""
    def dump():
        from pyroute2 import Conntrack
        ct = Conntrack()
        try:
            out = []
            for e in ct.dump_entries():
                o, r = e.tuple_orig, e.tuple_reply
                if o.sport is None or (dport is not None and o.dport != dport):
                    continue
                out.append(Entry({6: "tcp", 17: "udp"}.get(o.proto, str(o.proto)),
                                 (o.saddr, o.sport, o.daddr, o.dport), (r.saddr, r.sport, r.daddr, r.dport)))
            return out
        finally:
            ct.close()
    return netlink.run(dump)


__all__ = ["Entry", "entries"]
