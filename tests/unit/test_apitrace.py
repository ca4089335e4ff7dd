"""The recording relay: bytes pass unchanged, every request and answer is recorded in order.

The upstream is a small daemon written here on a unix socket: keep-alive
answers with Content-Length, a chunked request body, a body that ends with
the connection (as ``wait`` answers), and a hijacked connection (101) whose
client half-closes its side, as ``docker run`` does after attach.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import threading

import pytest

from labcore.errors import InvalidInputError
from labcore.teach.apitrace import Trace, hijacked, in_order, short


class Upstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            headers = {}
            while (h := self.rfile.readline()) not in (b"\r\n", b""):
                k, _, v = h.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            body = b""
            if "content-length" in headers:
                body = self.rfile.read(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while (size := int(self.rfile.readline().strip(), 16)):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
            if path == "/attach":
                self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                self.wfile.flush()
                assert self.rfile.read() == b""  # the client half-closed; we may still write
                self.wfile.write(b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n")
                return
            if path == "/wait":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"StatusCode\": 3}")
                return
            answer = method.encode() + b" " + path.encode() + b" " + body
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer)
            self.wfile.write(head if method == "HEAD" else head + answer)  # a HEAD's answer has no body
            self.wfile.flush()


@pytest.fixture
def relay(tmp_path):
    up = Upstream(str(tmp_path / "up.sock"), Handler)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    with Trace(tmp_path / "up.sock", tmp_path / "relay.sock") as t:
        yield t
    up.shutdown()
    up.server_close()
    assert not (tmp_path / "relay.sock").exists()


def connect(t: Trace) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(t.listen))
    s.settimeout(5)
    return s


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(4096):
        out += chunk
    return out


def test_keep_alive_requests_pass_unchanged_and_are_recorded(relay):
    s = connect(relay)
    s.sendall(b"POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\n\r\n{}{}"
              b"POST /v1.41/containers/abc/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
              b"HEAD /_ping HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    got = read_all(s)
    assert b"POST /v1.41/containers/create?name=x {}{}" in got and b"/containers/abc/start abcde" in got
    assert relay.calls() == [("POST", "/containers/create", 200), ("POST", "/containers/abc/start", 200),
                             ("HEAD", "/_ping", 200)]
    assert relay.requests()[0].path == "/v1.41/containers/create?name=x"


def test_hijacked_stream_survives_the_clients_half_close(relay):
    s = connect(relay)
    s.sendall(b"POST /attach HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    s.shutdown(socket.SHUT_WR)  # as docker run without -i: nothing to send on the stream
    assert read_all(s) == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert [e.status for e in hijacked(relay)] == [101]
    closed = [e for e in relay.events if e.kind == "closed"]
    assert len(closed) == 1 and closed[0].nbytes == 11
    assert "hijacked stream closed by the daemon (11 bytes carried)" in relay.listing()


def test_body_until_close_is_recorded_with_its_end(relay):
    c = http.client.HTTPConnection("d")
    c.sock = connect(relay)
    c.request("POST", "/wait")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b'{"StatusCode": 3}'
    kinds = [(e.kind, e.status) for e in relay.events]
    assert kinds == [("request", 0), ("response", 200), ("closed", 200)]
    assert relay.events[-1].reason == '{"StatusCode": 3}'


def test_order_helpers():
    calls = [("HEAD", "/_ping", 200), ("POST", "/containers/create", 201), ("POST", "/containers/ab12/start", 204)]
    assert in_order(calls, [("POST", "/containers/create"), ("POST", "/containers/ID/start")])
    assert not in_order(calls, [("POST", "/containers/ID/start"), ("POST", "/containers/create")])
    assert not in_order(calls, [("DELETE", "/containers/ID")])
    ids = {}
    a, b = "a" * 64, "b" * 64
    assert short(f"/containers/{a}/x {b} {a}", ids) == "/containers/<ID>/x <ID2> <ID>"


def test_bad_listen_paths(tmp_path):
    with pytest.raises(InvalidInputError, match="longer than 107"):
        Trace(tmp_path / "up.sock", tmp_path / ("x" * 120))
    (tmp_path / "taken").write_text("")
    with pytest.raises(InvalidInputError, match="exists already"):
        Trace(tmp_path / "up.sock", tmp_path / "taken")


def test_summary_shortens_ids_and_skips_pings(relay):
    s = connect(relay)
    cid = "c" * 64
    s.sendall(b"HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
              b"POST /v1.41/containers/" + cid.encode() + b"/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    read_all(s)
    assert relay.summary() == "POST /containers/<ID>/start -> 200"
