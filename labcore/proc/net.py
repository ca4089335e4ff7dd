"""A network namespace read from the host, through /proc/PID/net (proc(5)).

``/proc/PID/net`` is not about the process: it shows the *network
namespace* the process is in. So the host can list a container's
interfaces, listening sockets and routes without entering it, by reading
the same text files ``ip``, ``ss`` and ``netstat`` parse:

* ``/proc/PID/net/dev``: one line per network device of the namespace;
* ``/proc/PID/net/tcp`` (and ``tcp6``): every TCP socket, with its local
  address and port in hex and its state (``0A`` is LISTEN);
* ``/proc/PID/net/route``: the IPv4 main routing table.

(``/sys/class/net`` is different: sysfs shows the namespace of whoever
*mounted* it, which is why a container needs its own sysfs mount.)
Used by notebook 04.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from ..errors import InvalidInputError

TCP_LISTEN = "0A"


def _read(pid: int | str, name: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/net/{name}").read_text().splitlines()
    except FileNotFoundError:
        raise InvalidInputError(f"no /proc/{pid}/net/{name}", "is the process still running?") from None


def interfaces(pid: int | str = "self") -> list[str]:
    """The network devices of ``pid``'s network namespace, from /proc/PID/net/dev."""
    return [line.split(":", 1)[0].strip() for line in _read(pid, "dev")[2:]]


def _ipv4(hex_le: str) -> str:
    """/proc/net/tcp writes an IPv4 address as 8 hex digits in the machine's byte order."""
    return socket.inet_ntoa(struct.pack("=I", int(hex_le, 16)))


def listening(pid: int | str = "self") -> list[tuple[str, int]]:
    """(address, port) of every IPv4 TCP socket listening in ``pid``'s network namespace."""
    found = []
    for line in _read(pid, "tcp")[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == TCP_LISTEN:
            address, port = local.split(":")
            found.append((_ipv4(address), int(port, 16)))
    return sorted(found)


def routes(pid: int | str = "self") -> list[str]:
    """The IPv4 main routing table of ``pid``'s network namespace, as 'DEST/LEN dev IFACE' lines."""
    out = []
    for line in _read(pid, "route")[1:]:
        iface, dest, gateway, _flags, _, _, _, mask = line.split()[:8]
        prefix = bin(int(mask, 16)).count("1")
        text = "default" if prefix == 0 else f"{_ipv4(dest)}/{prefix}"
        if int(gateway, 16):
            text += f" via {_ipv4(gateway)}"
        out.append(f"{text} dev {iface}")
    return out


__all__ = ["interfaces", "listening", "routes", "TCP_LISTEN"]
