"""A recording relay on the Docker socket: every HTTP call a client makes, in order.

The Docker CLI is a thin program: it turns ``docker run`` into a handful of
HTTP requests on a unix socket and prints what comes back. To see them we
put a *relay* between client and daemon, the way ``socat -v`` would: it
listens on a socket of its own (point ``DOCKER_HOST`` or ``-H`` at it),
opens a connection to the real socket for every client connection, and
copies bytes both ways, unchanged. On the way it reads along:

* from the client, each request's line (``POST /v1.41/containers/create``)
  and its headers, then skips the body (``Content-Length`` bytes, or
  ``Transfer-Encoding: chunked`` chunks) to find the next request on a
  kept-alive connection;
* from the daemon, each response's status line, matched to the oldest
  unanswered request of that connection (HTTP/1.1 answers in order), and
  its body the same way; a body with neither length ends with the
  connection (``wait`` and ``logs`` answer like that);
* a ``101`` answer (``Connection: Upgrade``, ``Upgrade: tcp``) *hijacks*
  the connection: from then on it carries the container's raw, framed
  output (and the terminal's keystrokes), no more HTTP. The relay stops
  parsing that connection and only counts its bytes, and notes when it
  closes: for ``docker run`` that is the moment the container's output ends.

Nothing is changed on the way, so the client and the daemon behave exactly
as without the relay. Used by notebook 07 (``lab.apitrace.Trace``).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError

VERSION = re.compile(r"^/v\d+\.\d+(?=/)")   # /v1.41/containers/... -> /containers/...
HEX_ID = re.compile(r"\b[0-9a-f]{64}\b")    # a container's full ID
MAX_HEADER = 64 * 1024


@dataclass
class Event:
    """One thing seen on the socket: a request sent, a response received, a hijacked stream closed."""

    seq: int                 # order of arrival at the relay
    conn: int                # which client connection (1, 2, ...)
    kind: str                # "request", "response" or "closed"
    method: str = ""
    path: str = ""           # as sent, with the API version and the query string
    status: int = 0
    reason: str = ""
    headers: dict = field(default_factory=dict)
    at: float = 0.0          # time.monotonic() when seen (only for ordering and benchmarks)
    nbytes: int = 0          # for "closed": bytes carried by the hijacked stream, daemon to client

    @property
    def route(self) -> str:
        """The path without the API version prefix nor the query string: ``/containers/ID/start``."""
        return VERSION.sub("", self.path).split("?", 1)[0]


def short(text: str, ids: dict[str, str]) -> str:
    """Replace each 64-hex ID by ``<ID>`` (``<ID2>``... for more), so a listing reads the same every run."""
    def name(m):
        return ids.setdefault(m.group(0), "<ID>" if not ids else f"<ID{len(ids) + 1}>")
    return HEX_ID.sub(name, text)


class _Reader:
    """Reads HTTP messages out of a byte stream that arrives in arbitrary pieces."""

    def __init__(self):
        self.buf = b""
        self.body_left = 0        # bytes of the current body still to skip
        self.chunked = False      # the current body is in chunks
        self.until_close = False  # the current body ends when the connection does
        self.raw = False          # hijacked: no more HTTP on this direction

    def feed(self, data: bytes):
        """Yield (start line, headers) for each message head completed by ``data``."""
        self.buf += data
        while self.buf and not self.raw and not self.until_close:
            if self.body_left:
                n = min(self.body_left, len(self.buf))
                self.buf, self.body_left = self.buf[n:], self.body_left - n
                continue
            if self.chunked:
                if not self._skip_chunk():
                    return
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEADER:
                    raise ValueError("an HTTP header longer than 64 KiB")
                return
            head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
            line, *rest = head.split("\r\n")
            headers = {}
            for h in rest:
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            yield line, headers

    def body(self, headers: dict, none: bool = False):
        """Say how the body after these headers ends (``none``: it has none, e.g. a HEAD's answer)."""
        if none:
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in headers:
            self.body_left = int(headers["content-length"])

    def _skip_chunk(self) -> bool:
        """Skip one chunk (size line, data, CRLF); False if it has not all arrived yet."""
        end = self.buf.find(b"\r\n")
        if end < 0:
            return False
        size = int(self.buf[:end].split(b";")[0] or b"0", 16)
        if size == 0:  # the last chunk, then (no trailers from Go's client) an empty line
            if len(self.buf) < end + 4:
                return False
            self.buf, self.chunked = self.buf[end + 4:], False
            return True
        if len(self.buf) < end + 2 + size + 2:
            return False
        self.buf = self.buf[end + 2 + size + 2:]
        return True


class Trace:
    """Relay ``listen`` -> ``upstream`` (two unix sockets) and record every call; a context manager.

    ``with Trace(upstream, listen) as t: docker -H unix://LISTEN ...`` then ``t.events``,
    ``t.calls()`` (request + status, in the order requests arrived) or ``print(t.listing())``.
    """

    def __init__(self, upstream: str | os.PathLike, listen: str | os.PathLike):
        self.upstream, self.listen = Path(upstream), Path(listen)
        if len(os.fsencode(self.listen)) > 107:
            raise InvalidInputError(f"socket path {self.listen} is longer than 107 bytes",
                                    "a unix socket's path must fit sun_path: choose a shorter directory")
        if self.listen.exists():
            raise InvalidInputError(f"{self.listen} exists already", "choose a path where nothing is yet")
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._n = 0
        self._active = 0  # pump threads still relaying

    @property
    def host(self) -> str:
        """What to give the client: ``unix:///path/to/the/relay.sock``."""
        return f"unix://{self.listen}"

    # --- the relay --------------------------------------------------------------------------------
    def start(self) -> "Trace":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the relay is as powerful as the daemon's socket: root only, like it
        try:
            s.bind(str(self.listen))
        finally:
            os.umask(old)
        s.listen(64)
        self._server = s
        threading.Thread(target=self._accept, args=(s,), name="apitrace-accept", daemon=True).start()
        return self

    def _accept(self, server: socket.socket):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(str(self.upstream))
            except OSError:
                client.close()
                up.close()
                continue
            with self._lock:
                self._n += 1
                n = self._n
                self._conns += [client, up]
            pending: list[Event] = []  # this connection's requests still waiting for their answer
            with self._lock:
                self._active += 2
            threading.Thread(target=self._pump, args=(client, up, n, pending, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client, n, pending, False), daemon=True).start()

    def _record(self, ev: Event) -> Event:
        with self._lock:
            ev.seq, ev.at = len(self.events) + 1, time.monotonic()
            self.events.append(ev)
        return ev

    def _pump(self, src: socket.socket, dst: socket.socket, n: int, pending: list, from_client: bool):
        reader, carried, tail = _Reader(), 0, b""
        try:
            while data := src.recv(65536):
                if reader.raw or reader.until_close:
                    carried += len(data)
                    tail = (tail + data)[:256]
                else:
                    self._read_along(reader, data, n, pending, from_client)
                    if reader.raw or reader.until_close:  # what followed the head in this piece
                        carried, tail = len(reader.buf), reader.buf[:256]
                        reader.buf = b""
                dst.sendall(data)  # recorded first, then passed on unchanged: the order of events is true
        except (OSError, ValueError):
            pass
        finally:
            if not from_client and reader.raw:
                self._record(Event(0, n, "closed", "", "", 101, nbytes=carried))
            elif not from_client and reader.until_close:
                body = tail.decode("utf-8", "replace").strip()
                self._record(Event(0, n, "closed", pending[0].method if pending else "", "", 200, body,
                                   nbytes=carried))
            try:  # pass the end on as a half-close: a client that has nothing more to send (docker run
                dst.shutdown(socket.SHUT_WR)  # without -i closes its side after attach) still gets its output
            except OSError:
                pass
            with self._lock:
                self._active -= 1

    def _read_along(self, reader: _Reader, data: bytes, n: int, pending: list, from_client: bool):
        for line, headers in reader.feed(data):
            if from_client:
                method, path, _ = (line.split(" ", 2) + ["", ""])[:3]
                pending.append(self._record(Event(0, n, "request", method, path, headers=headers)))
                reader.body(headers)
                if "upgrade" in headers.get("connection", "").lower():
                    reader.raw = True  # the client sends no more requests on a connection it asks to hijack
                continue
            _, code, reason = (line.split(" ", 2) + ["", ""])[:3]
            req = pending.pop(0) if pending else Event(0, n, "request")
            status = int(code) if code.isdigit() else 0
            self._record(Event(0, n, "response", req.method, req.path, status, reason, headers))
            if status == 101:
                reader.raw = True
            elif req.method == "HEAD" or status in (204, 304):
                reader.body(headers, none=True)
            elif "content-length" in headers or "chunked" in headers.get("transfer-encoding", ""):
                reader.body(headers)
            else:
                pending.insert(0, req)  # remembered for the "closed" event that ends its body
                reader.until_close = True  # the body is everything until the connection closes

    def close(self) -> None:
        """Stop listening, close every relayed connection and remove the relay's socket file."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            for s in self._conns:
                try:
                    s.close()
                except OSError:
                    pass
            self._conns = []
        try:
            self.listen.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- reading the record -------------------------------------------------------------------
    def quiet(self, timeout: float = 5.0) -> bool:
        """Wait until every relayed connection has closed (a client may exit before the daemon's
        side of a connection has ended, so the last events can come a moment later)."""
        deadline = time.monotonic() + timeout
        while self._active and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._active

    def clear(self) -> None:
        with self._lock:
            self.events = []

    def requests(self) -> list[Event]:
        return [e for e in self.events if e.kind == "request"]

    def calls(self) -> list[tuple[str, str, int]]:
        """(method, route, status) per request, in the order the requests arrived; status 0: no answer."""
        answers = {}
        for e in self.events:
            if e.kind == "response":
                answers.setdefault((e.conn, e.method, e.path), []).append(e.status)
        out = []
        for e in self.requests():
            got = answers.get((e.conn, e.method, e.path), [])
            out.append((e.method, e.route, got.pop(0) if got else 0))
        return out

    def summary(self, skip=("/_ping",)) -> str:
        """``METHOD route -> status`` per request, in arrival order, IDs shortened, ``skip`` routes left out."""
        ids: dict[str, str] = {}
        return "\n".join(short(f"{m} {r} -> {s}", ids) for m, r, s in self.calls() if r not in skip)

    def listing(self, query: bool = False) -> str:
        """One line per event, IDs shortened: ``#2  -> POST /containers/create`` / ``#2  <- 201 Created``."""
        ids: dict[str, str] = {}
        lines = []
        for e in self.events:
            if e.kind == "request":
                path = VERSION.sub("", e.path) if query else e.route
                lines.append(f"conn {e.conn}  -> {e.method} {short(path, ids)}")
            elif e.kind == "response":
                note = "  (hijacked: raw stream from here on)" if e.status == 101 else ""
                lines.append(f"conn {e.conn}  <- {e.status} {e.reason}   [{e.method} {short(e.route, ids)}]{note}")
            elif e.status == 101:
                lines.append(f"conn {e.conn}  == hijacked stream closed by the daemon ({e.nbytes} bytes carried)")
            else:
                lines.append(f"conn {e.conn}  == body complete, connection closed: {short(e.reason, ids)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Trace({self.listen} -> {self.upstream}, {len(self.requests())} requests)"


def in_order(calls: list[tuple[str, str, int]], wanted: list[tuple[str, str]]) -> bool:
    """True if every (method, route pattern) of ``wanted`` appears in ``calls``, in that order.

    A route pattern may use ``ID`` for any container ID or name: ``("POST", "/containers/ID/start")``.
    """
    i = 0
    for method, route, _ in calls:
        if i < len(wanted):
            m, pattern = wanted[i]
            rx = "^" + re.escape(pattern).replace("ID", "[^/]+") + "$"
            if method == m and re.match(rx, route):
                i += 1
    return i == len(wanted)


def hijacked(trace: Trace) -> list[Event]:
    """The responses that turned their connection into a raw stream (101)."""
    return [e for e in trace.events if e.kind == "response" and e.status == 101]


__all__ = ["Trace", "Event", "in_order", "hijacked", "short"]
