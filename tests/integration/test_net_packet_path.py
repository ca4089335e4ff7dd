"""One packet's path on the real kernel: hook counters, nftrace, the FDB, route lookups, conntrack's flags.

Each test leaves the host's links, namespaces, nftables ruleset, iptables
rules and ip_forward as it found them (``host_net``, from test_net_container).
"""

import sys

import pytest

from labcore import tracker
from labcore.net import conntrack, endpoint, internet, links, network, path

from test_net_container import host_net, snapshot  # noqa: F401  (the fixture and what it compares)

NEEDS = ("root", "netns", "nftables")
ECHO = ("import socket;s=socket.socket(2,2);s.bind(('0.0.0.0',9999));print('listening',flush=True)\n"
        "while True:\n d,a=s.recvfrom(100);s.sendto(d,a)")
SEND = ("import socket,sys;s=socket.socket(2,2);s.settimeout(3)\n"
        "for _ in range(int(sys.argv[2])): s.sendto(b'x',(sys.argv[1],9999)); s.recvfrom(100)\nprint('ok')")


@pytest.mark.needs(*NEEDS)
def test_a_datagram_is_counted_and_traced_at_each_hook_in_order(host_net):
    with network.create("tpath") as net, internet.create() as inet, endpoint.attach("tpath-a", "tpath") as ep:
        ns = ep.netns.rsplit("/", 1)[-1]
        echo = inet.ns.spawn([sys.executable, "-c", ECHO], capture=True)
        rec = None
        try:
            assert echo.stdout.readline().strip() == b"listening"
            assert ep.run([sys.executable, "-c", SEND, inet.server, "1"]).stdout.strip() == "ok"
            rec = path.watch("labcore-tpath-w", {"request": "udp dport 9999", "reply": "udp sport 9999"},
                             trace="request")
            before_nat = path.counts(net.table)
            with path.Trace() as trace:
                assert ep.run([sys.executable, "-c", SEND, inet.server, "5"]).stdout.strip() == "ok"
                events = trace.stop()
            seen = path.counts("labcore-tpath-w")
            nat = path.delta(before_nat, path.counts(net.table))
            # Order: the kernel's, as the trace reports the chains the first request entered.
            entered = [e.chain for e in events if e.what.startswith("packet") and e.table == "labcore-tpath-w"]
            assert entered[:6] == ["prerouting_m300", "prerouting_m150", "prerouting_m50", "forward_p0",
                                   "postrouting_p50", "postrouting_p150"]
            heads = {e.chain: e.what for e in events if e.what.startswith("packet") and e.table == "labcore-tpath-w"}
            assert f"ip saddr {ep.ip}" in heads["postrouting_p50"] and f"ip saddr {inet.host}" in heads["postrouting_p150"]
            for (chain, flow), n in seen.items():
                assert n == (0 if chain in ("input_p0", "output_p0") else 5), (chain, flow, n)
            assert nat[("postrouting", "outbound: SNAT to the host's address")] == 1
            # The bridge learned the container's MAC behind its veth; the lookups name the ways out.
            mac = next(l["mac"] for l in links.describe(ns) if l["name"] == "eth0")
            assert any(e.mac == mac and e.port == ep.host_link and not e.permanent for e in path.fdb(net.bridge))
            inside = path.route_get(inet.server, ns)
            assert (inside.dev, inside.via) == ("eth0", net.gateway)
            assert path.route_get(inet.server, src=ep.ip, iif=net.bridge).dev == inet.uplink
            conns = [c for c in conntrack.connections(9999) if c.entry.orig[0] == ep.ip]
            assert conns and all({"CONFIRMED", "SEEN_REPLY", "SRC_NAT"} <= set(c.status) for c in conns)
        finally:
            echo.close()
            if rec is not None:
                tracker.default().undo(rec)


@pytest.mark.needs(*NEEDS)
def test_link_counters_count_one_datagram_once_the_links_are_quiet(host_net):
    with network.create("tpath2") as net, internet.create() as inet, endpoint.attach("tpath-b", "tpath2") as ep:
        ns = ep.netns.rsplit("/", 1)[-1]
        echo = inet.ns.spawn([sys.executable, "-c", ECHO], capture=True)
        try:
            assert echo.stdout.readline().strip() == b"listening"
            ep.run([sys.executable, "-c", SEND, inet.server, "1"])
            where = [(ns, "eth0"), (None, ep.host_link), (None, inet.uplink)]
            path.settle(where)
            before = path.link_counts(where)
            ep.run([sys.executable, "-c", SEND, inet.server, "3"])
            d = path.link_delta(before, path.link_counts(where))
            assert d[(ns, "eth0")]["tx_packets"] >= 3 and d[(None, ep.host_link)]["rx_packets"] >= 3
            assert d[(None, inet.uplink)]["tx_packets"] >= 3 and d[(None, inet.uplink)]["rx_packets"] >= 3
        finally:
            echo.close()


@pytest.mark.needs(*NEEDS)
def test_a_watch_table_is_undone_by_cleanup_and_bad_routes_are_reported(host_net):
    rec = path.watch("labcore-tpath-c", {"any": "meta l4proto udp"}, hooks=(("forward", 0),))
    assert ("forward_p0", "any") in path.counts("labcore-tpath-c")
    tracker.default().undo(rec)
    assert "labcore-tpath-c" not in {t["name"] for t in path.nft.tables()}
    with pytest.raises(path.InvalidInputError, match="no link"):
        path.route_get("198.18.0.2", src="10.0.0.1", iif="lab-nonexistent")
