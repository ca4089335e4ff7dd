"""The shim's socket (labcore.daemon.stdio): its requests, the resize values, the relay (no root, no daemon)."""

import os
import select
import socket
import time

import pytest

from labcore.daemon import bundle, frames, stdio
from labcore.errors import InvalidInputError


def test_window_size_takes_what_tiocswinsz_holds():
    assert stdio.window_size("24", "80") == (24, 80)
    assert stdio.window_size(0, 65535) == (0, 65535)
    for h, w, word in (("abc", "80", "height"), ("24", "", "width"), (None, "80", "height"), ("1.5", "80", "height"),
                       ("-1", "80", "height"), ("24", "65536", "width")):
        with pytest.raises(InvalidInputError, match=f"invalid resize {word}"):
            stdio.window_size(h, w)


def test_request_lines():
    assert stdio.parse_request(b"stdin\n") == ("stdin",)
    assert stdio.parse_request(stdio.resize_request(30, 100)) == ("resize", 30, 100)
    for bad in (b"", b"resize 30\n", b"resize x 3\n", b"stdout\n", b"stdin please\n"):
        with pytest.raises(InvalidInputError):
            stdio.parse_request(bad)


def test_stdin_travels_in_frames_and_an_empty_frame_ends_it():
    data = b"x" * 70000
    got = frames.Deframer().feed(stdio.stdin_chunks(data) + stdio.END)
    assert [s for s, _ in got] == [frames.STDIN] * 3
    assert b"".join(p for _, p in got[:-1]) == data and got[-1][1] == b""  # never an empty frame before the end
    assert stdio.stdin_chunks(b"") == b""


def relay_on(tmp_path, stdin_fd, master=None, close_at_end=True, sized=None):
    listener = stdio.listen(tmp_path, stdio.SOCKET)
    r = stdio.Relay(listener, stdin_fd, master, close_at_end, resize_fn=lambda fd, h, w: sized.append((fd, h, w)))
    r.start()
    return r, listener


def read_all(fd, timeout=5):
    got, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.1)[0]:
            continue  # nothing yet, and no end of file: wait, up to the deadline
        chunk = os.read(fd, 65536)
        if not chunk:
            return got
        got += chunk
    raise AssertionError("no end of file")


def test_relay_passes_stdin_and_closes_it_at_the_clients_end(tmp_path):
    r_fd, w_fd = os.pipe()
    relay, listener = relay_on(tmp_path, w_fd)
    try:
        with stdio.connect(tmp_path) as sock:
            sock.sendall(stdio.STDIN + stdio.stdin_chunks(b"hello ") + stdio.stdin_chunks(b"world\n") + stdio.END)
            assert read_all(r_fd) == b"hello world\n"  # the end mark closed the pipe: end of file
    finally:
        listener.close()
        os.close(r_fd)


def test_a_connection_cut_without_the_end_mark_leaves_stdin_open(tmp_path):
    """A daemon killed mid-stream must not close the container's stdin: the next daemon attaches again."""
    r_fd, w_fd = os.pipe()
    relay, listener = relay_on(tmp_path, w_fd)
    try:
        with stdio.connect(tmp_path) as sock:
            sock.sendall(stdio.STDIN + stdio.stdin_chunks(b"one\n"))
        assert os.read(r_fd, 100) == b"one\n"
        with stdio.connect(tmp_path) as sock:  # a new daemon, a new connection
            sock.sendall(stdio.STDIN + stdio.stdin_chunks(b"two\n") + stdio.END)
        assert read_all(r_fd) == b"two\n"
    finally:
        listener.close()
        os.close(r_fd)


def test_without_stdin_once_the_end_mark_closes_nothing(tmp_path):
    r_fd, w_fd = os.pipe()
    relay, listener = relay_on(tmp_path, w_fd, close_at_end=False)
    try:
        with stdio.connect(tmp_path) as sock:
            sock.sendall(stdio.STDIN + stdio.stdin_chunks(b"a") + stdio.END)
        assert os.read(r_fd, 10) == b"a"
        relay.close()  # the shim's end: now the pipe closes
        assert read_all(r_fd) == b""
    finally:
        listener.close()
        os.close(r_fd)


def test_resize_reaches_the_master_and_bad_requests_get_an_error(tmp_path):
    sized = []
    relay, listener = relay_on(tmp_path, None, master=99, sized=sized)
    try:
        stdio.resize(tmp_path, 30, 100)
        assert sized == [(99, 30, 100)]
        with stdio.connect(tmp_path) as sock:
            sock.sendall(b"resize 99999 1\n")
            assert sock.makefile("rb").readline().startswith(b"error: invalid resize height 99999")
    finally:
        listener.close()
    assert sized == [(99, 30, 100)]


def test_connect_finds_no_shim_in_an_empty_or_missing_directory(tmp_path):
    assert stdio.connect(tmp_path) is None
    assert stdio.connect(tmp_path / "gone") is None
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / stdio.SOCKET))  # bound, never listening: a killed shim's file
    stale.close()
    assert stdio.connect(tmp_path) is None


def test_a_long_directory_is_reached_through_its_descriptor(tmp_path):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    assert len(str(deep / stdio.SOCKET)) > 107  # too long for sun_path as it is
    sized = []
    relay, listener = relay_on(deep, None, master=5, sized=sized)
    try:
        stdio.resize(deep, 1, 2)
        assert sized == [(5, 1, 2)] and (deep / stdio.SOCKET).is_socket()
        assert oct((deep / stdio.SOCKET).stat().st_mode & 0o777) == "0o600"
    finally:
        listener.close()


def test_the_bundle_asks_the_runtime_for_a_terminal_with_tty():
    meta = {"Path": "sh", "Args": [], "HostConfig": {},
            "Config": {"Env": ["PATH=/bin"], "Hostname": "h", "WorkingDir": "", "User": "", "Tty": True}}
    process = bundle.config(meta, "a" * 64)["process"]
    assert process["terminal"] is True and "TERM=xterm" in process["env"]
    meta["Config"].update(Tty=False)
    process = bundle.config(meta, "a" * 64)["process"]
    assert process["terminal"] is False and not any(e.startswith("TERM=") for e in process["env"])
    meta["Config"].update(Tty=True, Env=["TERM=vt100"])
    assert [e for e in bundle.config(meta, "a" * 64)["process"]["env"] if e.startswith("TERM=")] == ["TERM=vt100"]
