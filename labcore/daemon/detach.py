"""Detach keys: how a client leaves an attached container without stopping it.

``docker run -it`` and ``docker attach`` pass everything typed to the
container, ctrl-c included (with a terminal, it is the container's shell
that gets SIGINT). One sequence is kept back: ctrl-p then ctrl-q. The
attach ends there and the container runs on, with its terminal and its
stdin left open for the next ``docker attach``. ``--detach-keys`` (the
``detachKeys`` query parameter) picks another sequence, written as Docker
writes it: comma-separated keys, each one character or ``ctrl-X``.

The docker CLI watches for the sequence itself and then ends its input;
the daemon watches too (``Scanner``), for every other client of the API.
Bytes that start the sequence are held back until the next byte shows
whether they were the sequence or typing; typing is passed on, in order.

Pure, tested without a daemon.
"""

from __future__ import annotations

from ..errors import InvalidInputError

DEFAULT = "ctrl-p,ctrl-q"
_CTRL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}  # ctrl-a..ctrl-z are 1..26


def parse(text: str | None) -> bytes:
    """``"ctrl-p,ctrl-q"`` -> ``b"\\x10\\x11"``; None or "" gives Docker's default."""
    keys = bytearray()
    for key in (text or DEFAULT).split(","):
        if key.startswith("ctrl-") and len(key) == 6 and (key[5].isalpha() or key[5] in _CTRL):
            keys.append(ord(key[5].lower()) - ord("a") + 1 if key[5].isalpha() else _CTRL[key[5]])
        elif len(key) == 1:
            keys.append(ord(key))
        else:
            raise InvalidInputError(f"Invalid detach keys ({text}) provided",
                                    "give keys as 'ctrl-p,ctrl-q': one character or ctrl-X each, comma-separated")
    return bytes(keys)


class Scanner:
    """Looks for the detach keys in a client's input, chunk after chunk."""

    def __init__(self, keys: bytes):
        self.keys, self.matched = keys, 0  # how many of the keys the last bytes matched

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on to the container, and whether the client has just typed the keys."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.matched = 0
                    return bytes(out), True
                continue
            out += self.keys[:self.matched]  # what looked like the start of the keys was typing after all
            self.matched = 1 if byte == self.keys[0] else 0
            if not self.matched:
                out.append(byte)
        return bytes(out), False


__all__ = ["DEFAULT", "parse", "Scanner"]
