"""The shim's socket: how the daemon reaches a running container's stdin and terminal.

``docker run -i`` sends what you type to the container's stdin;
``docker run -t`` gives the container a terminal whose size follows
yours. Both need a way *into* a running container, and the daemon cannot
own it: it may die and come back while the container runs (live restore).
So the shim, the container's parent, holds the container's end:

* without ``-t``, the write end of a **pipe** that is the container's
  stdin (its read end was fd 0 of the runtime's create, inherited by the
  init and kept across exec);
* with ``-t``, the **master of the container's pty**, which the runtime
  sends to the shim over a console socket (``labcore.runtime.console``):
  what is written to the master is what the container's shell reads as
  typed; what the shell writes is read back from the master and logged as
  ``stdout`` (a terminal has one output stream, not two).

and listens on a unix socket in the container's directory, ``shim.sock``
(containerd's shim listens on a ttrpc socket; dockerd opens FIFOs). The
daemon connects to it for each request, and a connection starts with one
line naming what it wants:

    stdin\\n                then the client's bytes in Docker's frames (``frames.py``), stream 0;
                           an empty frame says the client's stdin has ended
    resize ROWS COLS\\n     ioctl(TIOCSWINSZ) on the master; the answer is ``ok`` or ``error: WHY``

Why an empty frame rather than just closing the connection: a daemon
killed with SIGKILL closes it too. Only the client's real end of input may
close the container's stdin (``StdinOnce``: ``echo hi | docker run -i
IMAGE cat`` prints hi and exits because cat then reads end-of-file); a
dying daemon must leave it open for the next daemon's ``docker attach``.
As dockerd does, a terminal's input is never closed that way: with ``-t``,
the end of a client's stdin ends that client's attach, not the container's
input.

A socket path has at most 107 bytes (``sun_path``), and a container's
directory is long (its 64-digit ID under the state directory). Both ends
therefore name the socket through a descriptor of that directory:
``/proc/self/fd/N/shim.sock`` is short, and the kernel resolves it as the
real path.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from ..errors import InvalidInputError, LabError
from . import frames

SOCKET = "shim.sock"        # the shim's: stdin and resize requests from the daemon
CONSOLE = "console.sock"    # the shim's, for the time of create: the runtime sends the pty's master there
STDIN = b"stdin\n"
END = frames.frame(frames.STDIN, b"")  # the client's stdin has ended
MAX_SIZE = 0xFFFF  # struct winsize holds rows and columns as unsigned shorts


# --- the request line and the window size (pure) -----------------------------------------------
def window_size(height, width) -> tuple[int, int]:
    """``?h=&w=`` of ``POST /containers/ID/resize`` -> (rows, columns); refuses what TIOCSWINSZ cannot hold."""
    size = []
    for name, value in (("height", height), ("width", width)):
        text = str(value if value is not None else "").strip()
        if not text.lstrip("-").isdigit():
            raise InvalidInputError(f"invalid resize {name} {value!r}: not an integer",
                                    "give h=ROWS and w=COLUMNS as whole numbers, e.g. ?h=24&w=80")
        n = int(text)
        if not 0 <= n <= MAX_SIZE:
            raise InvalidInputError(f"invalid resize {name} {n}: out of range",
                                    f"a terminal's rows and columns go from 0 to {MAX_SIZE}")
        size.append(n)
    return size[0], size[1]


def resize_request(rows: int, columns: int) -> bytes:
    return f"resize {rows} {columns}\n".encode()


def parse_request(line: bytes) -> tuple:
    """A connection's first line -> ``("stdin",)`` or ``("resize", rows, columns)``."""
    words = line.decode("ascii", "replace").split()
    if words == ["stdin"]:
        return ("stdin",)
    if len(words) == 3 and words[0] == "resize":
        return ("resize", *window_size(words[1], words[2]))
    raise InvalidInputError(f"unknown request {line[:40]!r} on the shim's socket", "send 'stdin' or 'resize ROWS COLS'")


def stdin_chunks(data: bytes) -> bytes:
    """The client's bytes as stdin frames (never an empty one: that one means the end)."""
    step = 1 << 16
    return b"".join(frames.frame(frames.STDIN, data[i:i + step]) for i in range(0, len(data), step))


# --- naming the socket through the directory ----------------------------------------------------
def short_path(dir_fd: int, name: str) -> str:
    """``/proc/self/fd/N/NAME``: a path to a file of a long directory that fits in sun_path."""
    return f"/proc/self/fd/{dir_fd}/{name}"


def listen(directory: Path, name: str) -> socket.socket:
    """The shim's side: a unix socket ``directory/name``, listening (mode 0600: only root connects)."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(short_path(fd, name))
        finally:
            os.umask(old)
        sock.listen(16)
        return sock
    finally:
        os.close(fd)


def connect(directory: Path, timeout: float | None = 10) -> socket.socket | None:
    """The daemon's side: a connection to the container's shim, or None if no shim listens there."""
    try:
        fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(short_path(fd, SOCKET))
        return sock
    except OSError:  # no socket yet (not started), or a stale one (its shim was killed)
        sock.close()
        return None
    finally:
        os.close(fd)


def resize(directory: Path, rows: int, columns: int) -> None:
    """Ask the shim to set the container's terminal size."""
    sock = connect(directory)
    if sock is None:
        raise LabError("the container's shim does not answer on its socket", "is the container still running?")
    with sock:
        sock.sendall(resize_request(rows, columns))
        answer = sock.makefile("rb").readline().decode(errors="replace").strip()
    if answer != "ok":
        raise LabError(f"resize to {rows}x{columns}: the shim answered {answer!r}", "see the container's shim.log")


# --- the shim's side -----------------------------------------------------------------------------
class Relay:
    """In the shim: accept the daemon's connections; copy stdin into ``stdin_fd``; resize ``master``.

    ``close_at_end``: close ``stdin_fd`` when a client's stdin ends (Docker's StdinOnce, without a tty)."""

    def __init__(self, listener: socket.socket, stdin_fd: int | None, master: int | None, close_at_end: bool,
                 resize_fn, log=None):
        self.listener, self.stdin_fd, self.master = listener, stdin_fd, master
        self.close_at_end, self.resize_fn, self.log = close_at_end, resize_fn, log
        self.lock = threading.Lock()  # one writer at a time, and no write after the close

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True, name="relay").start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed: the container has exited
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            f = conn.makefile("rb")
            try:
                request = parse_request(f.readline(64))
            except InvalidInputError as exc:
                conn.sendall(f"error: {exc}\n".encode())
                return
            if request[0] == "resize":
                conn.sendall(self._resize(*request[1:]))
            else:
                self._stdin(f)

    def _resize(self, rows: int, columns: int) -> bytes:
        if self.master is None:
            return b"ok\n"  # no terminal: nothing to size (containerd's shim answers the same)
        try:
            self.resize_fn(self.master, rows, columns)
        except (OSError, LabError) as exc:
            return f"error: {exc}\n".encode()
        return b"ok\n"

    def _stdin(self, f) -> None:
        d = frames.Deframer()
        while True:
            data = f.read1(1 << 16)
            if not data:
                return  # the daemon went away without the end mark: the container's stdin stays open
            try:
                pieces = d.feed(data)
            except ValueError:
                return
            for stream, payload in pieces:
                if stream != frames.STDIN:
                    continue
                if not payload:
                    self._ended()
                    return
                if not self._write(payload):
                    return

    def _write(self, data: bytes) -> bool:
        with self.lock:
            if self.stdin_fd is None:
                return False  # closed by an earlier client (StdinOnce): what comes later is dropped
            try:
                _write_all(self.stdin_fd, data)
            except OSError:  # EPIPE: the container no longer reads; EIO: its terminal has gone
                return False
        return True

    def _ended(self) -> None:
        if self.close_at_end:
            self.close()  # the container reads end-of-file

    def close(self) -> None:
        """No more input: a stdin pipe is closed (a pty's master is the shim's to close, after its output)."""
        # A write blocked on a full terminal holds the lock: after two seconds the shim goes on without it.
        locked = self.lock.acquire(timeout=2)
        try:
            fd, self.stdin_fd = self.stdin_fd, None
            if fd is not None and fd != self.master and locked:
                os.close(fd)
        finally:
            if locked:
                self.lock.release()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


__all__ = ["SOCKET", "CONSOLE", "STDIN", "END", "window_size", "resize_request", "parse_request", "stdin_chunks",
           "short_path", "listen", "connect", "resize", "Relay"]
