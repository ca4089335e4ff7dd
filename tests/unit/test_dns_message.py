"""The embedded DNS server's messages (labcore.net.dns), pure: no socket, no root."""

import struct

import pytest

from labcore.errors import InvalidInputError
from labcore.net import dns

NAMES = {"api": ["10.199.7.2"], "web": ["10.199.7.3", "10.199.7.10"]}


def test_a_query_is_parsed_and_answered_with_the_containers_address():
    q = dns.parse_query(dns.query("API.", qid=0xBEEF))
    assert (q.id, q.name, q.qtype, q.qclass, q.type_name) == (0xBEEF, "api", 1, 1, "A")
    out, rcode, answers = dns.reply(q, NAMES)
    assert (rcode, answers) == (dns.NOERROR, ["10.199.7.2"])
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", out[:12])
    assert (qid, qd, an, ns, ar) == (0xBEEF, 1, 1, 0, 0)
    assert flags & 0x8000 and flags & 0x0100 and flags & 0xF == 0  # a response, RD copied, NOERROR
    assert out.endswith(bytes([10, 199, 7, 2]))
    seen = dns.describe(out)
    assert seen["rcode"] == "NOERROR" and seen["question"] == "api A"
    assert seen["answers"] == [("10.199.7.2", dns.TTL)]


def test_several_addresses_come_in_address_order():
    out, _, answers = dns.reply(dns.parse_query(dns.query("web")), NAMES)
    assert answers == ["10.199.7.3", "10.199.7.10"]
    assert [a for a, _ in dns.describe(out)["answers"]] == answers


def test_a_name_not_on_the_network_is_nxdomain_with_no_answer():
    out, rcode, answers = dns.reply(dns.parse_query(dns.query("example.com")), NAMES)
    assert (rcode, answers) == (dns.NXDOMAIN, [])
    assert dns.describe(out)["rcode"] == "NXDOMAIN" and struct.unpack("!H", out[6:8]) == (0,)


def test_a_known_name_asked_for_aaaa_gets_an_empty_noerror():
    out, rcode, answers = dns.reply(dns.parse_query(dns.query("api", qtype=28)), NAMES)
    assert (rcode, answers) == (dns.NOERROR, []) and dns.describe(out)["answers"] == []


def test_a_reverse_question_names_the_container():
    out, rcode, answers = dns.reply(dns.parse_query(dns.query("2.7.199.10.in-addr.arpa", qtype=12)), NAMES)
    assert (rcode, answers) == (dns.NOERROR, ["api"])
    assert dns.describe(out)["answers"] == [("api", dns.TTL)]
    assert dns.reply(dns.parse_query(dns.query("9.9.9.9.in-addr.arpa", qtype=12)), NAMES)[1] == dns.NXDOMAIN


def test_an_edns_opt_record_after_the_question_is_ignored():
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    msg = bytearray(dns.query("api") + opt)
    msg[11] = 1  # arcount
    assert dns.parse_query(bytes(msg)).name == "api"


def test_another_opcode_is_not_implemented():
    msg = bytearray(dns.query("api"))
    msg[2] |= 2 << 3  # opcode 2 (STATUS)
    assert dns.reply(dns.parse_query(bytes(msg)), NAMES)[1] == dns.NOTIMP


GOOD = dns.query("api")


@pytest.mark.parametrize("data, said", [
    (b"", "shorter than the 12-byte header"),
    (GOOD[:11], "shorter than the 12-byte header"),
    (GOOD[:12], "runs past the end"),                     # a header and no question
    (GOOD[:14], "runs past the end"),                     # a label cut short
    (GOOD[:-4], "before its type and class"),
    (GOOD[:-1], "before its type and class"),
    (GOOD[:2] + b"\x81\x00" + GOOD[4:], "response, not a query"),
    (GOOD[:4] + b"\x00\x00" + GOOD[6:], "0 questions"),
    (GOOD[:4] + b"\x00\x02" + GOOD[6:], "2 questions"),
    (GOOD[:12] + b"\xc0\x0c" + GOOD[-4:], "label type 0xc0"),  # a compression pointer (here: a loop)
    (GOOD[:12] + b"\x40abc\x00" + GOOD[-4:], "label type 0x40"),
    (GOOD[:12] + b"\x03a\xffc\x00" + GOOD[-4:], "not ASCII"),
    (GOOD[:12] + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63 + b"\x00"
     + GOOD[-4:], "longer than 255 bytes"),
    ("api", "expected bytes"),
])
def test_malformed_messages_are_refused_with_the_reason(data, said):
    with pytest.raises(dns.MalformedMessage) as err:
        dns.parse_query(data)
    assert said in err.value.what
    assert isinstance(err.value, InvalidInputError)


def test_a_malformed_query_gets_formerr_with_its_id_and_garbage_gets_nothing():
    bad = GOOD[:4] + b"\x00\x02" + GOOD[6:]
    out = dns.formerr(bad)
    assert out[:2] == GOOD[:2] and struct.unpack("!H", out[2:4])[0] & 0x800F == 0x8001
    assert len(out) == 12
    assert dns.formerr(b"\x12") is None                           # no header: nothing to answer
    assert dns.formerr(GOOD[:2] + b"\x81\x00" + GOOD[4:]) is None  # a response: never answered (no loops)


def test_the_server_answers_a_datagram_without_a_socket(monkeypatch):
    server = dns.Server("/run/netns/lab-none", "tnet")
    monkeypatch.setattr(dns, "network_names", lambda network: NAMES if network == "tnet" else {})
    out = server.answer(dns.query("web", qid=7), "client")
    assert dns.describe(out)["id"] == 7 and len(dns.describe(out)["answers"]) == 2
    assert server.answer(b"\x00" * 3) is None
    assert dns.describe(server.answer(GOOD[:12] + b"\xc0\x0c" + GOOD[-4:]))["rcode"] == "FORMERR"
    assert [e.rcode for e in server.log] == ["NOERROR", "FORMERR", "FORMERR"]
    assert str(server.log[0]) == "client asked web A: NOERROR, 10.199.7.3, 10.199.7.10"


def test_names_are_encoded_as_labels_and_bad_labels_refused():
    assert dns.encode_name("api") == b"\x03api\x00"
    assert dns.encode_name("a.b.") == b"\x01a\x01b\x00"
    assert dns.encode_name(".") == b"\x00"
    with pytest.raises(InvalidInputError):
        dns.encode_name("a..b")
    with pytest.raises(InvalidInputError):
        dns.encode_name("x" * 64)


def test_tcp_frames_carry_their_length_and_a_stream_is_cut_back_into_messages():
    assert dns.tcp_frame(GOOD) == struct.pack("!H", len(GOOD)) + GOOD
    two = dns.tcp_frame(GOOD) + dns.tcp_frame(b"x")
    assert dns.tcp_messages(two) == ([GOOD, b"x"], b"")
    for cut in range(len(two)):  # a read may end anywhere: in a length, in a message, between two
        first, rest = dns.tcp_messages(two[:cut])
        assert first == ([GOOD] if cut >= len(GOOD) + 2 else []) and first + dns.tcp_messages(rest + two[cut:])[0] == [GOOD, b"x"]
    assert dns.tcp_messages(b"\x00") == ([], b"\x00") and dns.tcp_messages(b"\x00\x00") == ([b""], b"")
    with pytest.raises(InvalidInputError):
        dns.tcp_frame(b"x" * 65536)
