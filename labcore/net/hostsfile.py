"""Names on a lab network: one hosts file per network, bind-mounted as a container's /etc/hosts.

On a user-defined network, Docker containers find each other by name
through an embedded DNS server: their /etc/resolv.conf says
``nameserver 127.0.0.11``, and nat rules inside each container's network
namespace send that address's port 53 to a socket of dockerd, which
answers with the addresses of the network's containers (and forwards
other names to the host's resolvers).

The lab keeps the older mechanism Docker used for ``--link``: a hosts
file. Each lab network has one (``<state>/net/NAME.hosts``, one line per
container), rewritten *in place* when a container joins or leaves, and
every container on it sees it as /etc/hosts through a bind mount in its
own mount namespace. A bind mount names an inode, so the file is
truncated and rewritten, never replaced (a rename would leave the
containers with the old inode). The C library reads /etc/hosts before DNS
(``hosts: files dns`` in nsswitch.conf(5)), so ``getent hosts web`` and
``ping web`` work, with no process to keep alive.

Run as a program (``python -m labcore.net.hostsfile FILE -- CMD...``) it
is the container's first program: it makes the bind mount, then execs
CMD, which keeps its PID (1), as runc's init execs the user's process.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from .. import kernel, tracker
from ..kernel import flags as F

HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def path(network: str) -> Path:
    return tracker.state_dir() / "net" / f"{network}.hosts"


def text(leases: dict) -> str:
    """The hosts file for a network's leases ``{ip: name}`` (pure)."""
    lines = [f"{ip}\t{name}\n" for ip, name in sorted(leases.items(), key=lambda kv: ipaddress.ip_address(kv[0]))]
    return HEADER + "".join(lines)


def write(network: str, leases: dict) -> Path:
    """Rewrite a network's hosts file in place (same inode: containers see the change)."""
    p = path(network)
    p.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.truncate(0)
        f.write(text(leases))
    return p


def main(argv: list[str]) -> int:
    """``FILE -- CMD ...``: bind FILE over /etc/hosts (we are in the container's mount namespace), exec CMD."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m labcore.net.hostsfile FILE -- CMD [ARG...]", file=sys.stderr)
        return 125
    kernel.default().mount(argv[0], "/etc/hosts", None, F.MS_BIND)
    try:
        os.execvp(argv[2], argv[2:])
    except OSError as exc:
        print(f"labcore: cannot run {argv[2]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["path", "text", "write", "main", "HEADER"]
