"""``process.terminal``: the container's console, a pseudo-terminal handed out over a unix socket.

A shell wants a *terminal*: line editing, ^C becoming SIGINT, ``isatty(0)``
true. A pseudo-terminal (pty(7)) is a pair of file descriptors: whatever a
program writes to the **slave** (``/dev/pts/N``) is read from the
**master**, and what is written to the master arrives at the slave as if
typed on a keyboard. ``docker run -it`` is a pty whose master Docker holds.

runc does not keep the master itself (it exits after ``create``); the
caller says where to send it with ``--console-socket PATH``, a unix socket
it listens on (containerd's shim, ``recvtty``, a test):

1. ``create`` connects to the socket before forking, so the init inherits
   the connection (a path outside the container, reachable before pivot_root
   and whatever user the container runs as);
2. the init, once inside its finished root filesystem, opens a pty from its
   own ``/dev/ptmx`` (the ``devpts`` instance mounted at ``/dev/pts`` with
   ``newinstance``): the slave is the container's ``/dev/pts/0``, not a
   host terminal;
3. it sends the master over the socket as *ancillary data*, an
   ``SCM_RIGHTS`` message (unix(7)): the kernel installs a duplicate of the
   descriptor in the receiver, the one way to give an open file to another
   process; the message's bytes are the slave's name;
4. it becomes a session leader (setsid(2)), makes the slave its controlling
   terminal (ioctl TIOCSCTTY) and its stdin, stdout and stderr, and closes
   the master: only the receiver holds it now.

``process.consoleSize`` sets the terminal's rows and columns (TIOCSWINSZ).
Without a console socket a terminal has nowhere to go: ``create`` and
``run`` refuse ``terminal: true`` before anything is made, as runc does.
``exec --tty --console-socket PATH`` gives an exec'd process a pty the same
way (``docker exec -it``): a second /dev/pts/N of the container's devpts.
"""

from __future__ import annotations

import os

from ..errors import InvalidInputError, LabError


def check(terminal: bool, console_socket: str | None, field: str = "config.json: process.terminal") -> None:
    """Refuse a terminal without a socket, or a socket without a terminal (pure). ``field`` asks for the terminal."""
    if terminal and not console_socket:
        raise InvalidInputError(f"{field} asks for a terminal, but no --console-socket was given: "
                                "the runtime does not stay to hold the terminal's master",
                                "pass --console-socket PATH (a unix socket that receives the master), "
                                f"or leave out {field.split(': ')[-1]}")
    if console_socket and not terminal:
        raise InvalidInputError(f"--console-socket {console_socket}: {field} is off, so there is no "
                                "terminal to send", f"turn on {field.split(': ')[-1]}, or leave out --console-socket")


def connect(path: str):
    """The connection (a unix stream socket) the init will send the master over: made by create,
    inherited across fork. ``socket`` loads here, for containers with a terminal only; ``setup`` then
    finds it loaded, which it must: after pivot_root the host's Python library is out of sight."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise LabError(f"cannot connect to the console socket {path}: {exc.strerror}",
                       "start a receiver listening on that unix socket first (SOCK_STREAM)") from None
    return sock


def setup(k, sock_fd: int, process: dict) -> None:
    """In the init, after pivot_root: a pty, its master sent over ``sock_fd``, its slave our terminal."""
    master, slave = k.openpty()
    try:
        size = process.get("consoleSize") or {}
        if size.get("height") and size.get("width"):
            k.set_window_size(slave, size["height"], size["width"])
        try:
            name = os.ttyname(slave)  # /dev/pts/N of the container's own devpts
        except OSError:
            name = ""  # no /proc to ask (a container without a mount namespace): the name is only informative
        import socket  # loaded by connect() before the fork: see there
        with socket.socket(fileno=sock_fd) as sock:
            socket.send_fds(sock, [name.encode()], [master])
    finally:
        os.close(master)
    k.setsid()
    k.set_controlling_terminal(slave)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)  # inheritable: the program exec'd keeps them
    if slave > 2:
        os.close(slave)


__all__ = ["check", "connect", "setup"]
