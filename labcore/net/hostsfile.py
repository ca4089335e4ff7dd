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
``ping web`` work, with no server to keep alive.

The bind mount must be made while the container still may mount (before
its capabilities are dropped and its seccomp filter loaded), yet without a
hook inside the runtime's own setup: so a small *holder* process gets a
mount namespace of its own, bind-mounts the file over /etc/hosts there and
sleeps; the container joins that namespace with setns(2) and unshares its
own copy of it, bind included (``spawn(..., mntns=holder.mntns)``).
Run as a program (``python -m labcore.net.hostsfile FILE -- CMD...``) this
module is the holder's first step: it makes the bind mount, then execs CMD.
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


class Holder:
    """A sleeping process whose mount namespace shows ``file`` as /etc/hosts; ``mntns`` is its path."""

    def __init__(self, file: str):
        from ..ns import process
        self.proc = process.spawn([sys.executable, "-m", "labcore.net.hostsfile", str(file), "--",
                                   "sh", "-c", "echo ready; exec sleep infinity"], ("mnt",), capture=True)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            err = self.proc.stderr.read1(4096).decode(errors="replace") if self.proc.poll() is not None else ""
            self.close()
            raise OSError(f"the /etc/hosts holder did not start: {err.strip() or line!r}")
        self.mntns = f"/proc/{self.proc.pid}/ns/mnt"

    def close(self) -> None:
        self.proc.close()  # SIGKILL and reap; the process record goes with it


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


__all__ = ["path", "text", "write", "main", "Holder", "HEADER"]
