"""Names on a lab network: a small DNS server at 127.0.0.11 in each container's namespace.

On a user-defined network, a Docker container's /etc/resolv.conf says
``nameserver 127.0.0.11``. Nothing on the host has that address: it is a
loopback address *inside the container's network namespace*, where dockerd
(from outside) opened a UDP and a TCP socket on a random port, and added
nat rules in that namespace (chains DOCKER_OUTPUT, DOCKER_POSTROUTING) that
rewrite 127.0.0.11:53 to that port. The server answers with the addresses
of the containers on the same network, and forwards any other name to the
host's resolvers.

DNS runs over both transports (RFC 1035 section 4.2): a datagram holds one
message; on TCP each message is preceded by its length in two bytes, and a
connection may carry several queries in turn (RFC 7766). A resolver falls
back to TCP when a reply comes back truncated (the TC bit), and uses it
from the start when told to (glibc's ``options use-vc``, or
``RES_OPTIONS=use-vc``): a server that listens on UDP only breaks those
clients, so the lab's listens on both.

A socket belongs to the network namespace it was *created* in, whichever
namespace its owner later lives in. So a process on the host can serve
inside a container's namespace: one thread enters it with setns(2) (a
network namespace is a per-thread attribute, so the rest of the process
stays where it was), creates the socket there, and serves from it. The lab
does exactly that, one thread per container, and binds 127.0.0.11:53
directly (UDP and TCP) instead of a random port plus DNAT (Docker's detour keeps port 53
free for a container that runs a DNS server of its own; the lab's
containers do not, and there is then no rule to write or undo). Queries go
to the loopback of the container's namespace and never leave it; names
that are not on the network get NXDOMAIN: nothing is forwarded anywhere.

The thread is no kernel object of its own: its sockets close when it stops,
or when the process that owns it dies, so a crash leaves nothing behind but
the namespace (recorded, and removed by ``labcore cleanup``).

A DNS message (RFC 1035, section 4) is a 12-byte header (an id, flags,
four counts) then sections of records; a query carries one *question*
(a name as length-prefixed labels, a type such as A=1, a class IN=1). The
answer repeats the question and adds resource records (name, type, class,
TTL, data: 4 bytes for an A record). ``parse_query`` and ``reply`` are pure
and refuse malformed messages with a ``MalformedMessage``.
Used by notebook 09.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import struct
import sys
import threading
from dataclasses import dataclass, field

from ..errors import InvalidInputError

ADDRESS = "127.0.0.11"   # what Docker puts in a container's resolv.conf
PORT = 53
TTL = 5                  # short: a container that leaves must vanish from caches quickly
RESOLV_CONF = f"nameserver {ADDRESS}\noptions ndots:0\n"
TCP_BACKLOG = 8          # connections waiting to be accepted
TCP_CONNECTIONS = 16     # open at once; one more is closed at once
TCP_TIMEOUT = 2.0        # s: sending a reply to a client that does not read

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 255: "ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
NOERROR, FORMERR, NXDOMAIN, NOTIMP = 0, 1, 3, 4
HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
QR, AA, RD = 0x8000, 0x0400, 0x0100


class MalformedMessage(InvalidInputError):
    """A datagram that is not a DNS query this server can read."""

    def __init__(self, what: str):
        super().__init__(f"malformed DNS message: {what}", "send one question per query, as RFC 1035 section 4 lays out")


@dataclass(frozen=True)
class Query:
    """The parts of a query a reply needs: its id, flags, and the one question."""

    id: int
    flags: int
    name: str          # lowercase, without the final dot
    qtype: int
    qclass: int
    question: bytes    # the question section as received, repeated in the reply

    @property
    def type_name(self) -> str:
        return TYPES.get(self.qtype, str(self.qtype))


def _name(data: bytes, pos: int) -> tuple[str, int]:
    """Read an uncompressed domain name at ``pos``: length-prefixed labels ending with a zero byte."""
    labels, total = [], 0
    while True:
        if pos >= len(data):
            raise MalformedMessage("the question's name runs past the end of the message")
        length = data[pos]
        if length & 0xC0:
            # 11: a compression pointer; 01/10: reserved. Queries name the question in full.
            raise MalformedMessage(f"label type 0x{length & 0xC0:02x} in the question (a query spells its name out)")
        pos += 1
        if length == 0:
            break
        label = data[pos:pos + length]
        if len(label) < length:
            raise MalformedMessage("a label of the question's name runs past the end of the message")
        try:
            labels.append(label.decode("ascii").lower())
        except UnicodeDecodeError:
            raise MalformedMessage("a label holds bytes that are not ASCII") from None
        total += length + 1
        if total > 255:
            raise MalformedMessage("the question's name is longer than 255 bytes")
        pos += length
    return ".".join(labels), pos


def parse_query(data: bytes) -> Query:
    """Parse a DNS query (pure); ``MalformedMessage`` says what is wrong with it."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedMessage(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER.size:
        raise MalformedMessage(f"{len(data)} bytes, shorter than the 12-byte header")
    qid, flags, qdcount, _an, _ns, _ar = HEADER.unpack_from(data)
    if flags & QR:
        raise MalformedMessage("the QR bit says this is a response, not a query")
    if qdcount != 1:
        raise MalformedMessage(f"{qdcount} questions (a query carries exactly one)")
    name, pos = _name(data, HEADER.size)
    if pos + 4 > len(data):
        raise MalformedMessage("the question ends before its type and class")
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    # records after the question (EDNS's OPT record, say) are ignored: the reply is plain DNS
    return Query(qid, flags, name, qtype, qclass, data[HEADER.size:pos + 4])


def encode_name(name: str) -> bytes:
    """``"api"`` -> ``b"\\x03api\\x00"`` (pure)."""
    out = b""
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise InvalidInputError(f"bad DNS label {label!r} in {name!r}", "labels are 1 to 63 ASCII characters")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def query(name: str, qtype: int = 1, qid: int = 0x1234) -> bytes:
    """A query message for ``name`` (pure; what nslookup sends, with recursion desired)."""
    return HEADER.pack(qid, RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, 1)


def reply(q: Query, names: dict) -> tuple[bytes, int, list[str]]:
    """The answer to ``q`` from ``names`` ``{name: [ip, ...]}`` (pure): (message, rcode, addresses).

    A known name asked for type A (class IN) gets its addresses; a known name
    asked for another type (AAAA: the lab's networks are IPv4 only) gets an
    empty NOERROR; a name not on the network gets NXDOMAIN. A reverse
    question (PTR, ``D.C.B.A.in-addr.arpa``) for a container's address gets its name.
    """
    opcode = (q.flags >> 11) & 0xF
    owners = {ip: name for name, ips in names.items() for ip in ips}
    answers: list[str] = []
    records = b""
    if opcode != 0:
        rcode = NOTIMP          # only standard queries
    elif q.name.endswith(".in-addr.arpa"):
        # a reverse lookup (ping prints who answered): 2.0.199.10.in-addr.arpa names 10.199.0.2
        ip = ".".join(reversed(q.name[:-len(".in-addr.arpa")].split(".")))
        rcode = NOERROR if ip in owners else NXDOMAIN
        if ip in owners and q.qtype in (12, 255) and q.qclass == 1:
            target = encode_name(owners[ip])
            answers = [owners[ip]]
            records = struct.pack("!HHHIH", 0xC00C, 12, 1, TTL, len(target)) + target
    elif q.name not in names:
        rcode = NXDOMAIN
    else:
        rcode = NOERROR
        if q.qtype in (1, 255) and q.qclass == 1:
            answers = sorted(names[q.name], key=ipaddress.ip_address)
            records = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + ipaddress.ip_address(ip).packed
                               for ip in answers)  # 0xC00C: a pointer to the question's name at byte 12
    flags = QR | (opcode << 11) | AA | (q.flags & RD) | rcode  # authoritative for the network; RA=0: no recursion
    return HEADER.pack(q.id, flags, 1, len(answers), 0, 0) + q.question + records, rcode, answers


def formerr(data: bytes) -> bytes | None:
    """The FORMERR reply to a malformed message, when it has a header to answer; else None (dropped)."""
    if len(data) < HEADER.size or HEADER.unpack_from(data)[1] & QR:
        return None  # no id to answer, or a response: never answer those (no loops)
    qid, flags = struct.unpack_from("!HH", data)
    return HEADER.pack(qid, QR | (flags & 0x7800) | (flags & RD) | FORMERR, 0, 0, 0, 0)


def describe(message: bytes) -> dict:
    """A readable view of a reply (pure): id, rcode, flags, question, A and PTR records (notebook 09)."""
    qid, flags, qd, an, _ns, _ar = HEADER.unpack_from(message)
    name, pos = _name(message, HEADER.size) if qd else ("", HEADER.size)
    qtype = struct.unpack_from("!H", message, pos)[0] if qd else 0
    pos += 4 if qd else 0
    addresses = []
    for _ in range(an):
        rtype, _cls, ttl, length = struct.unpack_from("!HHIH", message, pos + 2)
        if rtype == 1:
            addresses.append((str(ipaddress.ip_address(message[pos + 12:pos + 16])), ttl))
        elif rtype == 12:
            addresses.append((_name(message, pos + 12)[0], ttl))
        pos += 12 + length
    bits = [b for b, m in (("qr", QR), ("aa", AA), ("rd", RD), ("ra", 0x80)) if flags & m]
    return {"id": qid, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "flags": bits,
            "question": f"{name or '.'} {TYPES.get(qtype, qtype)}", "answers": addresses}


def tcp_frame(message: bytes) -> bytes:
    """A message as TCP carries it: its length in two bytes (network order), then the message (pure)."""
    if len(message) > 0xFFFF:
        raise InvalidInputError(f"a DNS message of {len(message)} bytes", "TCP frames carry at most 65535 bytes")
    return struct.pack("!H", len(message)) + message


def tcp_messages(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole messages at the start of what a TCP connection has delivered, and the rest (pure):
    a stream has no message boundaries of its own, so a read may end inside a length or a message."""
    messages = []
    while len(buffer) >= 2:
        length = struct.unpack_from("!H", buffer)[0]
        if len(buffer) < 2 + length:
            break
        messages.append(buffer[2:2 + length])
        buffer = buffer[2 + length:]
    return messages, buffer


def network_names(network: str) -> dict:
    """``{name: [ip, ...]}`` of the containers on lab network ``network``, read from IPAM now."""
    from . import ipam
    names: dict = {}
    for ip, holder in ipam.networks().get(network, {}).get("leases", {}).items():
        names.setdefault(str(holder).lower(), []).append(ip)
    return names


@dataclass
class Exchange:
    """One query the server answered, for the notebook to show."""

    client: str
    question: str
    rcode: str
    answers: list

    def __str__(self) -> str:
        got = ", ".join(self.answers) or "no address"
        return f"{self.client} asked {self.question}: {self.rcode}, {got}"


@dataclass
class Server:
    """A DNS server for lab network ``network``, at 127.0.0.11:53 inside network namespace ``netns``.

    ``start()`` returns once the socket is bound (or raises why not);
    ``stop()`` (or leaving ``with``) closes it. ``log`` keeps the last exchanges.
    """

    netns: str
    network: str
    log: list = field(default_factory=list)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _ready: threading.Event = field(default_factory=threading.Event, repr=False)
    _error: BaseException | None = field(default=None, repr=False)

    def start(self) -> "Server":
        self._thread = threading.Thread(target=self._serve, name=f"labcore-dns {os.path.basename(self.netns)}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None or not self._ready.is_set():
            self.stop()
            raise self._error or OSError(errno.ETIMEDOUT, f"the DNS server for {self.netns} did not start")
        return self

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        from .. import kernel
        from ..kernel import flags as F
        fd = os.open(self.netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            kernel.default().setns(fd, F.CLONE_NEWNET, self.netns)  # this thread only
        finally:
            os.close(fd)
        made = []  # created here: they live in the container's netns
        try:
            for kind, proto in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
                sock = socket.socket(socket.AF_INET, kind)
                made.append(sock)
                try:
                    sock.bind((ADDRESS, PORT))
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot bind {ADDRESS}:{PORT}/{proto} in {self.netns}: {exc.strerror}") from None
            made[1].listen(TCP_BACKLOG)
        except BaseException:
            for sock in made:
                sock.close()
            raise
        return made[0], made[1]

    def _serve(self) -> None:
        try:
            udp, tcp = self._bind()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        streams: dict[socket.socket, bytes] = {}  # open TCP connections -> what they sent that is not a whole message yet
        with udp, tcp:
            while not self._stop.is_set():
                readable, _, _ = select.select([udp, tcp, *streams], [], [], 0.2)  # 0.2 s: to notice stop()
                for sock in readable:
                    if sock is udp:
                        self._datagram(udp)
                    elif sock is tcp:
                        self._accept(tcp, streams)
                    else:
                        self._stream(sock, streams)
            for conn in streams:
                conn.close()

    def _datagram(self, udp: socket.socket) -> None:
        try:
            data, client = udp.recvfrom(512)
        except OSError:
            return
        out = self.answer(data, f"{client[0]}:{client[1]}")
        if out is not None:
            try:
                udp.sendto(out, client)
            except OSError:
                pass  # the asker is gone: nothing to do

    def _accept(self, tcp: socket.socket, streams: dict) -> None:
        try:
            conn, _ = tcp.accept()
        except OSError:
            return
        if len(streams) >= TCP_CONNECTIONS:
            conn.close()  # a client that opens and never asks must not take the server's place from the others
            return
        conn.settimeout(TCP_TIMEOUT)  # a reply is small; a client that stops reading is dropped, not waited for
        streams[conn] = b""

    def _stream(self, conn: socket.socket, streams: dict) -> None:
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        messages, streams[conn] = tcp_messages(streams[conn] + data)
        try:
            peer = conn.getpeername()
            for message in messages:
                out = self.answer(message, f"{peer[0]}:{peer[1]}/tcp")
                if out is not None:
                    conn.sendall(tcp_frame(out))
        except OSError:
            data = b""  # the client is gone
        if not data:  # it closed its end (what it asked before a half-close is answered) or is gone
            del streams[conn]
            conn.close()

    def answer(self, data: bytes, client: str = "-") -> bytes | None:
        """The reply to one datagram (None: dropped), with the exchange logged."""
        try:
            q = parse_query(data)
        except MalformedMessage as exc:
            self._note(Exchange(client, f"malformed ({exc.what})", "FORMERR", []))
            return formerr(data)
        out, rcode, answers = reply(q, network_names(self.network))
        self._note(Exchange(client, f"{q.name or '.'} {q.type_name}", RCODES[rcode], answers))
        return out

    def _note(self, ex: Exchange) -> None:
        self.log.append(ex)
        del self.log[:-50]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


_ASK = ("import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[2]));"
        "s.sendto(bytes.fromhex(sys.argv[1]),('127.0.0.11',53));print(s.recv(512).hex())")
_ASK_TCP = ("import socket,struct,sys;s=socket.create_connection(('127.0.0.11',53),float(sys.argv[2]));"
            "m=bytes.fromhex(sys.argv[1]);s.sendall(struct.pack('!H',len(m))+m);f=s.makefile('rb');"
            "n=struct.unpack('!H',f.read(2))[0];print(f.read(n).hex())")


def ask(endpoint, message: bytes, timeout: float = 3, tcp: bool = False) -> bytes:
    """Send ``message`` to 127.0.0.11:53 from inside container ``endpoint``, as a datagram or (``tcp``)
    over a connection, length first; return the reply (notebook 09)."""
    from ..errors import LabError
    r = endpoint.run([sys.executable, "-c", _ASK_TCP if tcp else _ASK, bytes(message).hex(), str(timeout)],
                     timeout=timeout + 30)
    if r.returncode != 0:
        raise LabError(f"no answer from {ADDRESS}:{PORT} inside {endpoint.container}: {r.stderr.strip()[-200:]}",
                       "is the container on a lab network (its DNS server runs only there)?")
    return bytes.fromhex(r.stdout.strip())


__all__ = ["Server", "Query", "Exchange", "MalformedMessage", "parse_query", "reply", "query", "formerr",
           "describe", "encode_name", "network_names", "ask", "tcp_frame", "tcp_messages", "ADDRESS", "PORT",
           "RESOLV_CONF", "TTL"]
