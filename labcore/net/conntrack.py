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
    """The host's connections (those to ``dport`` if given), tuples only. Used by notebook 09."""
    return [c.entry for c in connections(dport)]


@dataclass(frozen=True)
class Connection:
    """An entry with what conntrack knows about it beyond the tuples (``conntrack -L`` prints the same).

    ``status`` holds the entry's flags: CONFIRMED (it survived the first
    packet's whole path and went into the table), SEEN_REPLY (a packet came
    back), ASSURED (safe from early eviction), SRC_NAT / DST_NAT (which
    rewrite it carries). ``state`` is TCP's state as conntrack follows it
    (None for UDP and ICMP); ``timeout`` the seconds it has left.
    """

    entry: Entry
    status: tuple[str, ...]
    state: str | None
    timeout: int

    def __str__(self) -> str:
        state = f" {self.state}" if self.state else ""
        return f"{self.entry}\n    {self.entry.proto}{state} [{' '.join(self.status)}] timeout {self.timeout} s"


STATUS = ("CONFIRMED", "SEEN_REPLY", "ASSURED", "SRC_NAT", "DST_NAT")


def connections(dport: int | None = None) -> list[Connection]:
    """Entries (to ``dport`` if given) with their flags, TCP state and timeout. Used by deep dive C."""
    def dump():
        from pyroute2 import Conntrack
        from pyroute2.netlink.nfnetlink import nfctsocket as ct_names
        ct = Conntrack()
        try:
            out = []
            for e in ct.dump_entries():
                o, r = e.tuple_orig, e.tuple_reply
                if o.sport is None or (dport is not None and o.dport != dport):
                    continue
                entry = Entry({6: "tcp", 17: "udp"}.get(o.proto, str(o.proto)),
                              (o.saddr, o.sport, o.daddr, o.dport), (r.saddr, r.sport, r.daddr, r.dport))
                flags = tuple(n for n in STATUS if e.status & getattr(ct_names, f"IPS_{n}"))
                state = None
                if e.protoinfo is not None:
                    state = ct_names.TCP_CONNTRACK_TO_NAME.get(e.protoinfo.state, str(e.protoinfo.state))
                out.append(Connection(entry, flags, state, e.timeout or 0))
            return out
        finally:
            ct.close()
    return netlink.run(dump)


__all__ = ["Entry", "entries", "Connection", "connections"]
