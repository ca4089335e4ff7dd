"""One packet's path through the kernel, hop by hop, each hop with a counter.

A datagram a container sends to a server outside crosses, in order:

1. the container's own stack: a route lookup in its namespace (default
   route via the bridge's address), then its eth0, one end of a veth pair;
2. the veth's host end, a port of the bridge: the bridge learns the
   sender's MAC address behind that port (its *forwarding database*, FDB)
   and, since the frame is addressed to the bridge's own MAC, hands it up
   to the host's IP stack;
3. the host's netfilter hooks: **prerouting** (conntrack at priority
   -200, DNAT at -100), the route lookup that picks *input* (for this
   host) or *forward* (for elsewhere), **forward**, **postrouting**
   (SNAT/masquerade at 100, conntrack's *confirm* last of all); a packet
   the host itself sends starts at **output** instead;
4. the uplink, and the other namespace's stack.

Each hop has a counter the kernel keeps: links count frames
(``IFLA_STATS64``, ``ip -s link``), the bridge keeps its FDB (``bridge fdb``),
conntrack its entries, and an nftables ``counter`` statement counts what
its rule matched. ``watch()`` puts one chain at each hook and priority, in
a table of the lab's own, each with a counting rule per flow; with
``trace`` the first rule also sets ``meta nftrace``, and ``Trace`` reads
the kernel's trace events (``nft monitor trace``), which name every chain
the packet met, in order. See nft(8) "CHAINS" (the priority table),
bridge(8), ip-route(8) ``route get``.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError
from . import links, netlink, nft

# Where the watching chains hang: the hook, and the priority that puts them
# before or after the kernel's own steps at that hook (nft(8): raw -300,
# conntrack -200, mangle -150, dstnat -100, filter 0, srcnat 100).
HOOKS = (("prerouting", -300), ("prerouting", -150), ("prerouting", -50), ("input", 0), ("forward", 0),
         ("output", 0), ("postrouting", 50), ("postrouting", 150))


def chain_name(hook: str, priority: int) -> str:
    """``prerouting -150`` -> ``prerouting_m150`` (nft chain names take no spaces or signs)."""
    return f"{hook}_{'m' if priority < 0 else 'p'}{abs(priority)}"


def watch(table: str, flows: dict[str, str], hooks=HOOKS, trace=None) -> tracker.Record:
    """A lab table with one filter chain per ``(hook, priority)``, each counting every flow.

    ``flows`` maps a label to a match in nft's language (``"udp dport
    9999"``); each chain gets ``MATCH counter comment LABEL``. With
    ``trace=LABEL`` (or a tuple of labels) those flows' rules also set
    ``meta nftrace``, so every later chain of every table reports the
    packet to ``Trace``. The chains only count: their policy is accept.
    Used by deep dive C.
    """
    if not flows:
        raise InvalidInputError("watch() got no flows", 'give at least one, e.g. {"request": "udp dport 9999"}')
    traced = (trace,) if isinstance(trace, str) else tuple(trace or ())
    for label in traced:
        if label not in flows:
            raise InvalidInputError(f"trace={label!r} is not one of the flows {sorted(flows)}", "name one of them")
    for label in flows:
        if not isinstance(label, str) or not re.fullmatch(r"[a-z0-9 -]{1,40}", label):
            raise InvalidInputError(f"flow label {label!r}", "use up to 40 lowercase letters, digits, spaces, '-'")
    rec = nft.table(table)
    try:
        for hook, priority in hooks:
            name = chain_name(hook, priority)
            nft.chain(table, name, hook=hook, type="filter", priority=priority)
            for label, match in flows.items():
                mark = " meta nftrace set 1" if label in traced else ""
                nft.text_rule(table, name, f'{match}{mark} counter comment "{label}"')
    except BaseException:
        tracker.default().undo(rec)
        raise
    return rec


def counts(table: str) -> dict[tuple[str, str], int]:
    """``{(chain, flow label): packets}`` of a table made by ``watch`` (or any lab table)."""
    return {(c["chain"], c["comment"]): c["packets"] for c in nft.counters(table)}


def delta(before: dict, after: dict) -> dict:
    """What each counter gained between two readings."""
    return {k: v - before.get(k, 0) for k, v in after.items()}


def link_counts(where: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], dict]:
    """Packet counters of several links: ``[(netns or None for the host, link name), ...]``."""
    return {(ns, name): links.counters(name, ns) for ns, name in where}


def link_delta(before: dict, after: dict) -> dict:
    return {k: {f: after[k][f] - before[k][f] for f in ("rx_packets", "tx_packets")} for k in after}


def settle(where: list[tuple[str | None, str]], quiet: float = 5.0, timeout: float = 30.0) -> float:
    """Wait until no frame crossed any of these links for ``quiet`` seconds; returns the seconds waited.

    A link counts every frame, not only ours: in its first seconds a new
    link sends IPv6 router solicitations (three, four seconds apart) and
    multicast reports, and ARP refreshes come and go. Measuring after a
    quiet spell longer than those gaps makes a link's count the count of
    our own packets.
    """
    start = last_change = time.monotonic()
    seen = link_counts(where)
    while time.monotonic() - last_change < quiet:
        if time.monotonic() - start > timeout:
            break
        time.sleep(0.25)
        now = link_counts(where)
        if now != seen:
            seen, last_change = now, time.monotonic()
    return time.monotonic() - start


@dataclass(frozen=True)
class FdbEntry:
    """One line of a bridge's forwarding database: this MAC is behind this port."""

    mac: str
    port: str
    permanent: bool      # the port's own address (or one added by hand), not learned from traffic

    def __str__(self) -> str:
        return f"{self.mac} behind {self.port} ({'permanent' if self.permanent else 'learned'})"


NUD_PERMANENT = 0x80


def fdb(bridge: str, netns: str | None = None) -> list[FdbEntry]:
    """The FDB of ``bridge`` (``bridge fdb show br BRIDGE``): what it learned, port by port."""
    def read(ipr):
        br = netlink.index(ipr, bridge)
        if br is None:
            raise InvalidInputError(f"no link {bridge} here", "give the name of a bridge (see links.describe())")
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
        out = []
        for m in ipr.fdb("dump"):
            if m.get_attr("NDA_MASTER") != br or m.get_attr("NDA_VLAN") is not None:
                continue
            out.append(FdbEntry(m.get_attr("NDA_LLADDR"), names.get(m["ifindex"], str(m["ifindex"])),
                                bool(m["state"] & NUD_PERMANENT)))
        return out
    return netlink.call(read, netns)


@dataclass(frozen=True)
class Route:
    """The kernel's answer to ``ip route get``: where a packet to ``dst`` goes from here."""

    dst: str
    dev: str
    via: str | None
    src: str | None
    kind: str            # unicast (sent on), local (for this host), ...

    def __str__(self) -> str:
        via = f" via {self.via}" if self.via else ""
        src = f" src {self.src}" if self.src else ""
        return f"{self.dst}{via} dev {self.dev}{src} ({self.kind})"


ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 5: "multicast", 6: "blackhole", 7: "unreachable",
               8: "prohibit"}


def route_get(dst: str, netns: str | None = None, src: str | None = None, iif: str | None = None) -> Route:
    """``ip route get DST [from SRC iif LINK]`` in ``netns``: the route the kernel picks now.

    With ``src`` and ``iif`` the lookup is the one made for a packet
    *arriving* on ``iif`` (a forwarded packet), not one the host sends.
    """
    def ask(ipr):
        spec = {"dst": dst}
        if src:
            spec["src"] = src
        if iif:
            idx = netlink.index(ipr, iif)
            if idx is None:
                raise InvalidInputError(f"no link {iif} to look the route up from", "name a link of that namespace")
            spec["iif"] = idx
        try:
            msg = ipr.route("get", **spec)[0]
        except Exception as exc:
            raise InvalidInputError(f"no route to {dst} from here: {exc}", "look at the routes: ip route") from None
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
        return Route(dst, names.get(msg.get_attr("RTA_OIF"), "?"), msg.get_attr("RTA_GATEWAY"),
                     msg.get_attr("RTA_PREFSRC"), ROUTE_TYPES.get(msg["type"], str(msg["type"])))
    return netlink.call(ask, netns)


@dataclass
class TraceEvent:
    """One line of ``nft monitor trace``: a packet (``id``) met ``chain`` of ``table``; what happened."""

    id: str
    table: str
    chain: str
    what: str            # "packet", "rule ... (verdict ...)", "policy accept"

    def __str__(self) -> str:
        return f"{self.table:16} {self.chain:18} {self.what}"


LINE = re.compile(r"^trace id (\w+) (?:ip|inet|ip6|bridge) (\S+) (\S+) (.*)$")


def parse_trace(text: str, tables: tuple[str, ...] = ("labcore",)) -> list[TraceEvent]:
    """Events of the tables whose names start with one of ``tables``; a packet's header line is shortened."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m or not m.group(2).startswith(tables):
            continue
        what = m.group(4)
        if what.startswith("packet:"):
            what = "packet: " + " ".join(re.findall(r"\b(?:iif|oif) \"[^\"]+\"|ip (?:saddr|daddr) \S+|"
                                                    r"(?:udp|tcp) (?:sport|dport) \d+", what))
        out.append(TraceEvent(m.group(1), m.group(2), m.group(3), what.strip()))
    return out


@dataclass
class Trace:
    """``nft monitor trace`` running in a network namespace; ``stop()`` returns what it saw.

    The kernel sends a trace event over netlink (group NFNLGRP_NFTRACE)
    for each chain a packet carrying the ``nftrace`` mark enters, each rule
    that matches it and each verdict. ``nft`` is the listener; ``start``
    waits until its socket has joined the group, so no event is missed.
    """

    netns: str | None = None
    _proc: object = field(default=None, repr=False)

    def start(self) -> "Trace":
        from ..ns import process
        path = f"/run/netns/{self.netns}" if self.netns else None
        self._proc = process.spawn(["nft", "monitor", "trace"], (), capture=True, netns=path)
        deadline = time.monotonic() + 10
        while not _listening(self._proc.pid):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.poll() is not None else ""
                self._proc.close()
                raise InvalidInputError(f"nft monitor trace did not start: {err.strip() or 'no trace socket'}",
                                        "check that nft runs here: nft monitor trace")
            time.sleep(0.02)
        return self

    def stop(self, tables: tuple[str, ...] = ("labcore",)) -> list[TraceEvent]:
        """Stop the listener and return its events (of the lab's tables)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return []
        time.sleep(0.2)  # the last events are still on their way through the socket
        proc.send_signal(signal.SIGTERM)  # nft flushes what it printed and exits
        proc.wait(5)
        text = proc.stdout.read().decode(errors="replace")
        proc.close()
        return parse_trace(text, tables)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self._proc is not None:
            self._proc.close()
            self._proc = None


NFNLGRP_NFTRACE = 9
NETLINK_NETFILTER = 12


def _listening(pid: int) -> bool:
    """Has process ``pid`` a netfilter netlink socket subscribed to the trace group? (/proc/PID/net/netlink)"""
    try:
        lines = Path(f"/proc/{pid}/net/netlink").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        cols = line.split()
        # sk Eth Pid Groups ...: Groups is a hex bitmask of the first 32 groups, bit (group - 1).
        if len(cols) > 3 and cols[1] == str(NETLINK_NETFILTER) and cols[2] == str(pid) and \
                int(cols[3], 16) & (1 << (NFNLGRP_NFTRACE - 1)):
            return True
    return False


def bridge_nf(netns: str | None = None) -> dict[str, str] | None:
    """br_netfilter's switches as this namespace sees them (None: the module is not loaded).

    ``net.bridge.bridge-nf-call-iptables=1`` makes frames a bridge forwards
    between its own ports go through the IPv4 netfilter hooks too, as if
    routed. The settings are per network namespace.
    """
    from ..ns import process
    path = f"/run/netns/{netns}" if netns else None
    r = process.run(["sh", "-c", "cd /proc/sys/net/bridge 2>/dev/null && grep . bridge-nf-call-*"], (),
                    netns=path, timeout=10)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    return dict(line.split(":", 1) for line in r.stdout.split())


__all__ = ["HOOKS", "watch", "counts", "delta", "chain_name", "link_counts", "link_delta", "settle", "FdbEntry", "fdb",
           "Route", "route_get", "Trace", "TraceEvent", "parse_trace", "bridge_nf"]
