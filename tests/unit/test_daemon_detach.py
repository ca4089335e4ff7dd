"""Detach keys (labcore.daemon.detach): Docker's notation, and finding them in a client's input."""

import pytest

from labcore.daemon import detach
from labcore.errors import InvalidInputError


def test_keys_are_written_as_docker_writes_them():
    assert detach.parse(None) == detach.parse("") == b"\x10\x11"  # ctrl-p, ctrl-q
    assert detach.parse("ctrl-a,x,ctrl-@,ctrl-[,ctrl-_") == b"\x01x\x00\x1b\x1f"
    for bad in ("ctrl-", "ctrl-pp", "ab", "ctrl-1", "ctrl-p,,ctrl-q"):
        with pytest.raises(InvalidInputError, match="Invalid detach keys"):
            detach.parse(bad)


def test_the_keys_end_the_input_and_typing_around_them_passes_in_order():
    s = detach.Scanner(b"\x10\x11")
    assert s.feed(b"ls\n") == (b"ls\n", False)
    assert s.feed(b"a\x10") == (b"a", False)          # held back: it may start the keys
    assert s.feed(b"b") == (b"\x10b", False)          # it was typing: passed on, in order
    assert s.feed(b"\x10\x10") == (b"\x10", False)    # the second may still start the keys
    assert s.feed(b"\x11rest") == (b"", True)         # the keys, across two chunks: the client leaves here
    assert detach.Scanner(b"\x18x").feed(b"echo\n\x18x") == (b"echo\n", True)
