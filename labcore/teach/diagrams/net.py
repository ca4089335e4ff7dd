"""Network namespaces and their links: which link lives where, its addresses, its bridge, its veth peer.

The picture a teacher draws for ``docker run --network``: one box per
network namespace (the host's, each container's), the links inside it
with their addresses, a line from each bridge port to its bridge, and a
line joining the two ends of each veth pair across namespaces. Everything
is read now over netlink (``labcore.net.links.describe``): a veth end
names its peer by ifindex (``IFLA_LINK``), and a port names its bridge
(``IFLA_MASTER``). In the host's namespace only the lab's links are drawn.
"""

from __future__ import annotations

from ...net import links as netlinks
from .render import PALETTE, Diagram, h, header, quote


def _read(namespaces, host: bool) -> list[tuple[str | None, str, list[dict]]]:
    """(netns name or None for the host, label, links) for each namespace drawn."""
    out = [(None, "host", [l for l in netlinks.describe(None) if l["name"].startswith("lab-")])] if host else []
    for ns in namespaces:
        name = getattr(ns, "name", None) or str(ns).rsplit("/", 1)[-1]
        out.append((name, name, netlinks.describe(name)))
    return out


def _peers(spaces) -> list[tuple[str, str]]:
    """Node ids joined as veth ends: each end names its peer by ifindex in the namespace its nsid names."""
    paths = {label: (f"/run/netns/{ns}" if ns else "/proc/self/ns/net") for ns, label, _ in spaces}
    pairs = set()
    for ns, label, ls in spaces:
        ids = {}
        for other, olabel, _ in spaces:
            if olabel != label:
                found = netlinks.nsid(paths[olabel], ns)
                if found is not None:
                    ids[found] = olabel
        by_index = {olabel: {l["index"]: l for l in ols} for _, olabel, ols in spaces}
        for l in ls:
            if l["kind"] != "veth" or l["peer_nsid"] is None or l["peer_nsid"] not in ids:
                continue
            other = ids[l["peer_nsid"]]
            peer = by_index[other].get(l["peer"])
            if peer is not None:
                pairs.add(tuple(sorted((f"{label}:{l['name']}", f"{other}:{peer['name']}"))))
    return sorted(pairs)


def network_map(*namespaces, title: str = "network namespaces, links and addresses", host: bool = True) -> Diagram:
    """The host's lab links (unless ``host=False``) and each given namespace (a NetNamespace,
    an Endpoint or a name). Chapter 09."""
    spaces = _read([getattr(n, "netns", None) or n for n in namespaces], host)
    lines = header("net", title, rankdir="LR")
    text = [title]
    for i, (_, ns, ls) in enumerate(spaces):
        lines.append(f"  subgraph cluster_{i} {{ label={quote('netns ' + ns)}; style=\"rounded,filled\"; "
                     f"fillcolor={quote(PALETTE[i % len(PALETTE)])}; fontsize=12;")
        text.append(f"netns {ns}:")
        for l in ls:
            addrs = "<br/>".join(h(a) for a in l["addresses"])
            label = f"<<b>{h(l['name'])}</b> <i>{h(l['kind'])}</i>" + (f"<br/>{addrs}" if addrs else "") + ">"
            lines.append(f"    {quote(ns + ':' + l['name'])} [label={label}];")
            text.append(f"  {l['name']} ({l['kind']}, {l['state']})" + (f" {', '.join(l['addresses'])}" if l["addresses"] else "")
                        + (f" port of {l['master']}" if l["master"] else ""))
        lines.append("  }")
    for _, ns, ls in spaces:
        for l in ls:
            if l["master"]:
                lines.append(f"  {quote(ns + ':' + l['name'])} -> {quote(ns + ':' + l['master'])} "
                             f"[label=\"port\", style=dashed];")
    for a, b in _peers(spaces):
        lines.append(f"  {quote(a)} -> {quote(b)} [dir=both, label=\"veth pair\", color=\"#c0392b\", penwidth=2];")
        text.append(f"veth pair: {a} <-> {b}")
    lines.append("}")
    return Diagram("\n".join(lines), "\n".join(text), title)


def throughput_plot(results: dict, seconds: float):
    """A bar per path: iperf3's Gbit/s (``{"loopback": [runs...], ...}``), each run a dot. Chapter 09."""
    from ..plots import Plot, _figure
    title = f"TCP throughput by path (iperf3, {seconds:g} s per run, one machine, in memory)"
    fig, ax = _figure(title)
    names = list(results)
    ax.bar(names, [sorted(v)[len(v) // 2] for v in results.values()], color=PALETTE[:len(names)],
           edgecolor="0.3", label="median")
    for i, runs in enumerate(results.values()):
        ax.plot([i] * len(runs), runs, "o", color="0.2", markersize=4, label="one run" if i == 0 else None)
    ax.set_xlabel("path between client and server")
    ax.set_ylabel("Gbit/s received")
    ax.legend(loc="lower right", fontsize=8)
    return Plot(fig, title)


__all__ = ["network_map", "throughput_plot"]
