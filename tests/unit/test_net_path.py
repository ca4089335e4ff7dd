"""labcore.net.path without root: the trace parser, chain names, bad input, the packet-path picture."""

import shutil

import pytest

from labcore.errors import InvalidInputError
from labcore.net import conntrack, path
from labcore.teach.diagrams import Hop, packet_path

TRACE = '''\
trace id 8252636f ip labcore-path prerouting_m300 packet: iif "lab-br-x" @ll,0,112 0x800 ip saddr 10.199.0.2 ip daddr 198.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 1 ip length 32 udp sport 50897 udp dport 9999 udp length 12 @th,64,32 0x70696e67
trace id 8252636f ip labcore-path prerouting_m300 rule udp dport 9999 meta nftrace set 1 counter packets 0 bytes 0 comment "request" (verdict continue)
trace id 8252636f ip labcore-path prerouting_m300 policy accept
trace id 1a98d808 ip filter FORWARD packet: iif "lab-br-x" oif "eth9" ip saddr 10.199.0.2
trace id 1a98d808 ip labcore-x postrouting rule ip saddr 10.199.0.0/24 counter packets 1 bytes 32 masquerade (verdict accept)
not a trace line
'''


def test_trace_lines_are_parsed_and_filtered_by_table():
    events = path.parse_trace(TRACE)
    assert [(e.table, e.chain) for e in events] == [("labcore-path", "prerouting_m300")] * 3 + \
        [("labcore-x", "postrouting")]
    first = events[0]
    assert first.id == "8252636f"
    assert first.what == 'packet: iif "lab-br-x" ip saddr 10.199.0.2 ip daddr 198.18.0.2 udp sport 50897 udp dport 9999'
    assert events[1].what.endswith("(verdict continue)") and events[2].what == "policy accept"
    assert [e.table for e in path.parse_trace(TRACE, tables=("filter",))] == ["filter"]


def test_chain_names_carry_hook_and_priority():
    assert path.chain_name("prerouting", -150) == "prerouting_m150"
    assert path.chain_name("postrouting", 100) == "postrouting_p100"
    assert path.chain_name("forward", 0) == "forward_p0"
    assert len({path.chain_name(h, p) for h, p in path.HOOKS}) == len(path.HOOKS)


@pytest.mark.parametrize("flows,trace,words", [
    ({}, None, "no flows"),
    ({"request": "udp dport 1"}, "reply", "not one of the flows"),
    ({"request": "udp dport 1"}, ("request", "reply"), "not one of the flows"),
    ({"Bad;label": "udp dport 1"}, None, "flow label"),
])
def test_bad_watch_requests_are_refused_before_anything_is_made(flows, trace, words, monkeypatch):
    monkeypatch.setattr(path.nft, "table", lambda *a, **k: pytest.fail("a table was made"))
    with pytest.raises(InvalidInputError, match=words):
        path.watch("labcore-t", flows, trace=trace)


def test_deltas_subtract_the_reading_before():
    assert path.delta({("c", "x"): 3}, {("c", "x"): 5, ("c", "y"): 1}) == {("c", "x"): 2, ("c", "y"): 1}
    before = {(None, "l"): {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 0, "tx_bytes": 0}}
    after = {(None, "l"): {"rx_packets": 4, "tx_packets": 2, "rx_bytes": 9, "tx_bytes": 0}}
    assert path.link_delta(before, after) == {(None, "l"): {"rx_packets": 3, "tx_packets": 0}}


def test_a_connection_prints_its_tuples_flags_and_state():
    e = conntrack.Entry("tcp", ("198.18.0.2", 4000, "198.18.0.1", 18090), ("10.199.0.3", 80, "198.18.0.2", 4000))
    text = str(conntrack.Connection(e, ("CONFIRMED", "DST_NAT"), "TIME_WAIT", 119))
    assert "(NAT)" in text and "TIME_WAIT [CONFIRMED DST_NAT] timeout 119 s" in text


def test_the_packet_path_shows_each_hop_with_its_counts():
    hops = [Hop("lab-c-a", "eth0", "link", 1, 1), Hop("host", "forward 0", "hook", 20, 20),
            Hop("host", "masquerade", "nat", 1, None, note="saddr 10.0.0.2 -> 198.18.0.1")]
    d = packet_path(hops, title="t")
    assert d.text.splitlines()[1:] == [" 1. lab-c-a: eth0 (link)  request 1 reply 1",
                                      " 2. host: forward 0 (hook)  request 20 reply 20",
                                      " 3. host: masquerade (nat)  request 1  [saddr 10.0.0.2 -> 198.18.0.1]"]
    assert "cluster_0" in d.dot and "cluster_1" in d.dot and "hop0 -> hop1" in d.dot and "hop1 -> hop2" in d.dot
    assert "request: 20" in d.dot and "saddr 10.0.0.2 -&gt; 198.18.0.1" in d.dot
    if shutil.which("dot"):
        assert d.png().startswith(b"\x89PNG")
