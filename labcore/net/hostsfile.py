"""A container's /etc/hosts and /etc/resolv.conf, bind-mounted in its own mount namespace.

On a user-defined network, Docker containers find each other by name
through an embedded DNS server (``labcore.net.dns``): /etc/resolv.conf says
``nameserver 127.0.0.11``, and /etc/hosts holds only ``localhost`` and the
container's own name. The lab's containers get the same two files
(``<state>/net/c-NAME.hosts`` and ``c-NAME.resolv.conf``).

The older mechanism, which Docker used for ``--link``, is a hosts file
listing the neighbours. The lab's daemon still uses it: each lab network
has one (``<state>/net/NAME.hosts``, one line per container), rewritten
*in place* when a container joins or leaves, and its containers see it as
/etc/hosts through a bind mount. A bind mount names an inode, so the file is
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
Run as a program (``python -m labcore.net.hostsfile FILE [RESOLV] -- CMD...``)
this module is the holder's first step: it makes the bind mounts, then execs CMD.
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


def container_paths(container: str) -> tuple[Path, Path]:
    """A container's own /etc/hosts and /etc/resolv.conf files (on a network with DNS)."""
    d = tracker.state_dir() / "net"
    return d / f"c-{container}.hosts", d / f"c-{container}.resolv.conf"


def write_file(p: Path, content: str) -> Path:
    """Write a small file in the lab's state directory in place (same inode), creating it if needed."""
    p.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.truncate(0)
        f.write(content)
    return p


def text(leases: dict) -> str:
    """The hosts file for a network's leases ``{ip: name}`` (pure)."""
    lines = [f"{ip}\t{name}\n" for ip, name in sorted(leases.items(), key=lambda kv: ipaddress.ip_address(kv[0]))]
    return HEADER + "".join(lines)


def write(network: str, leases: dict) -> Path:
    """Rewrite a network's hosts file in place (same inode: containers see the change)."""
    return write_file(path(network), text(leases))


class Holder:
    """A sleeping process whose mount namespace shows ``file`` as /etc/hosts; ``mntns`` is its path."""

    def __init__(self, file: str, resolv: str | None = None):
        from ..ns import process
        files = [str(file)] + ([str(resolv)] if resolv else [])
        self.proc = process.spawn([sys.executable, "-m", "labcore.net.hostsfile", *files, "--",
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
    """``FILE [RESOLV] -- CMD ...``: bind FILE over /etc/hosts (and RESOLV over /etc/resolv.conf), exec CMD.

    We are in the holder's own mount namespace: the host's files are not touched.
    """
    sep = argv.index("--") if "--" in argv else -1
    if sep not in (1, 2) or len(argv) <= sep + 1:
        print("usage: python -m labcore.net.hostsfile FILE [RESOLV] -- CMD [ARG...]", file=sys.stderr)
        return 125
    for source, target in zip(argv[:sep], ("/etc/hosts", "/etc/resolv.conf")):
        kernel.default().mount(source, target, None, F.MS_BIND)
    cmd = argv[sep + 1:]
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        print(f"labcore: cannot run {cmd[0]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["path", "text", "write", "write_file", "container_paths", "main", "Holder", "HEADER"]
