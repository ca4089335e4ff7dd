"""One packet's path through the kernel: each hop a box, each box with the count it measured.

The picture a teacher draws for "what happens when a container sends a
packet": the container's eth0, the veth's host end, the bridge, the host's
netfilter hooks in the order the kernel calls them (with the chains that
hang there and their priorities), the routing decision between prerouting
and forward, the uplink, and the receiving namespace. Nothing is drawn
from memory: the caller passes the hops it measured (``labcore.net.path``
reads link counters, nftables counters and conntrack), and each box shows
how many packets of the request and of the reply that hop counted between
the two readings. Boxes are grouped by network namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from .render import PALETTE, Diagram, h, header, quote


@dataclass
class Hop:
    """One step of the path: where it is, what it is, and what it counted (None: not measured there)."""

    netns: str             # "host", or the namespace's name
    name: str              # "eth0", "prerouting -150", "route lookup"...
    kind: str              # link, bridge, hook, nat, route
    request: int | None = None
    reply: int | None = None
    note: str = ""         # e.g. "saddr 10.199.0.2 -> 198.18.0.1"


def packet_path(hops: list[Hop], title: str = "one request and its reply, hop by hop (counts measured)") -> Diagram:
    """A left-to-right chain of ``hops``, clustered by namespace. Deep dive C."""
    lines = header("packet", title, rankdir="TB")
    text = [title]
    order: list[str] = []
    for hop in hops:
        if hop.netns not in order:
            order.append(hop.netns)
    for i, ns in enumerate(order):
        lines.append(f"  subgraph cluster_{i} {{ label={quote('netns ' + ns)}; style=\"rounded,filled\"; "
                     f"fillcolor={quote(PALETTE[i % len(PALETTE)])}; fontsize=12;")
        for j, hop in enumerate(hops):
            if hop.netns != ns:
                continue
            counts = []
            if hop.request is not None:
                counts.append(f"request: {hop.request}")
            if hop.reply is not None:
                counts.append(f"reply: {hop.reply}")
            shape = {"hook": "box", "nat": "box", "route": "diamond", "bridge": "box3d"}.get(hop.kind, "box")
            fill = {"nat": "#fde2c8", "route": "#fff3bf", "hook": "#ffffff"}.get(hop.kind, "#ffffff")
            label = (f"<<b>{h(hop.name)}</b> <i>{h(hop.kind)}</i>" + "".join(f"<br/>{h(c)}" for c in counts)
                     + (f"<br/><font point-size=\"9\">{h(hop.note)}</font>" if hop.note else "") + ">")
            lines.append(f"    hop{j} [label={label}, shape={shape}, fillcolor={quote(fill)}];")
        lines.append("  }")
    for j, hop in enumerate(hops):
        counts = " ".join(f"{k} {v}" for k, v in (("request", hop.request), ("reply", hop.reply)) if v is not None)
        text.append(f"{j + 1:2}. {hop.netns}: {hop.name} ({hop.kind})" + (f"  {counts}" if counts else "")
                    + (f"  [{hop.note}]" if hop.note else ""))
        if j:
            lines.append(f"  hop{j - 1} -> hop{j};")
    lines.append("}")
    return Diagram("\n".join(lines), "\n".join(text), title)


__all__ = ["Hop", "packet_path"]
