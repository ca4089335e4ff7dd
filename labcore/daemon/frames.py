"""Docker's multiplexed stream: stdout and stderr on one connection, each piece framed.

A container has two output streams, but an HTTP connection (``attach``, or
``logs`` of a container without a terminal) carries one byte stream. Docker
multiplexes them by putting an **8-byte header** in front of every piece::

    byte 0     the stream: 0 stdin, 1 stdout, 2 stderr (3: a system error, newer engines)
    bytes 1-3  zero
    bytes 4-7  the length of the payload that follows, big-endian unsigned 32 bits

so ``hi\\n`` written to stdout travels as ``01 00 00 00 00 00 00 03 68 69 0a``.
The client (the CLI's ``stdcopy``, the SDK's ``frames_iter``) reads a header,
then exactly that many bytes, and writes them to its own stdout or stderr.
A container started with a terminal (``-t``) has only one stream and needs
no framing: the bytes go raw (the ``raw-stream`` content type).

Pure code: ``frame`` builds a frame, ``Deframer`` splits a byte stream back
(for tests and for our own client code). See the Engine API's "Attach to a
container" section.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEM = 0, 1, 2, 3
STREAMS = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}
HEADER = struct.Struct(">BxxxI")  # stream, three pad bytes, length
MAX_PAYLOAD = 0xFFFFFFFF
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def frame(stream: int | str, data: bytes) -> bytes:
    """One frame: the 8-byte header, then ``data`` (split long data with ``frames``)."""
    number = STREAMS[stream] if isinstance(stream, str) else stream
    if number not in (STDIN, STDOUT, STDERR, SYSTEM):
        raise ValueError(f"stream {stream!r} is not stdin, stdout, stderr or system")
    if len(data) > MAX_PAYLOAD:
        raise ValueError("a frame carries at most 4 GiB: split the data")
    return HEADER.pack(number, len(data)) + data


class Deframer:
    """Feed bytes as they arrive; take (stream, payload) pairs out as they complete."""

    def __init__(self):
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            stream, length = HEADER.unpack_from(self._buf)
            if stream not in (STDIN, STDOUT, STDERR, SYSTEM):
                raise ValueError(f"not a multiplexed stream: header byte {stream}")
            if len(self._buf) < HEADER.size + length:
                break
            out.append((stream, self._buf[HEADER.size:HEADER.size + length]))
            self._buf = self._buf[HEADER.size + length:]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._buf)


def demux(data: bytes) -> dict[int, bytes]:
    """A whole multiplexed stream -> {stream: bytes}; refuses a stream cut in the middle of a frame."""
    d = Deframer()
    out: dict[int, bytes] = {}
    for stream, payload in d.feed(data):
        out[stream] = out.get(stream, b"") + payload
    if d.pending:
        raise ValueError(f"the stream ends inside a frame ({d.pending} bytes left over)")
    return out


__all__ = ["frame", "Deframer", "demux", "STDIN", "STDOUT", "STDERR", "SYSTEM", "STREAMS", "MULTIPLEXED", "RAW"]
