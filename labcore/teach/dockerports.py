"""A published port as the real Docker Engine makes it, next to the lab's.

Where ``dockerd`` is installed, ``published_port`` starts it with its
network features on (``Engine(iptables=True)``: its iptables rules, its
bridge, forwarding, docker-proxy), runs a busybox web server with
``docker run -d -p HOSTPORT:80``, and reads what Docker wrote:

* the rules it added to iptables' ``nat`` and ``filter`` tables (here
  iptables-nft, so they are nftables rules too: ``nft list table ip nat``);
* the ``docker-proxy`` processes it started for the port (one per address
  family), which carry the loopback clients its DNAT rule skips;
* the answer of ``127.0.0.1:HOSTPORT``.

Then it stops the engine, which undoes all of it (the rules recorded before
dockerd started, see ``labcore.net.dockerfw``), and compares the host's
iptables rules, nftables ruleset (other than the lab's own tables) and
``ip_forward`` with what they were before. Where no engine is installed,
the result says so and shows the rules of a run on the development machine,
labelled as expected output. Used by notebook 09.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SERVE = "mkdir -p /www && echo hello from docker > /www/index.html && exec httpd -f -p {port} -h /www"

# What dockerd 20.10 wrote for `-p 18080:80` on the development machine (shown where no engine runs).
EXPECTED = {
    "nat": ["-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
            "-A POSTROUTING -s 172.17.0.0/24 ! -o lab-docker0 -j MASQUERADE",
            "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
            "-A DOCKER -i lab-docker0 -j RETURN",
            "-A DOCKER ! -i lab-docker0 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 172.17.0.2:80"],
    "filter": ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
               "-A FORWARD -o lab-docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
               "-A FORWARD -o lab-docker0 -j DOCKER", "-A FORWARD -i lab-docker0 ! -o lab-docker0 -j ACCEPT",
               "-A FORWARD -i lab-docker0 -o lab-docker0 -j ACCEPT",
               "-A DOCKER -d 172.17.0.2/32 ! -i lab-docker0 -o lab-docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
               "-A DOCKER-ISOLATION-STAGE-1 -i lab-docker0 ! -o lab-docker0 -j DOCKER-ISOLATION-STAGE-2",
               "-A DOCKER-ISOLATION-STAGE-1 -j RETURN", "-A DOCKER-ISOLATION-STAGE-2 -o lab-docker0 -j DROP",
               "-A DOCKER-ISOLATION-STAGE-2 -j RETURN", "-A DOCKER-USER -j RETURN"],
}
EXPECTED_PROXIES = ["/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 18080 -container-ip 172.17.0.2 "
                    "-container-port 80",
                    "/usr/sbin/docker-proxy -proto tcp -host-ip :: -host-port 18080 -container-ip 172.17.0.2 "
                    "-container-port 80"]


@dataclass
class PublishedByDocker:
    """What Docker made for ``-p HOSTPORT:PORT``; ``live`` False: not run here (``why``), expected output shown."""

    live: bool
    host_port: int
    port: int
    rules: dict
    proxies: list
    container_ip: str | None = None
    answer: str | None = None
    restored: bool | None = None     # the host's rules and ip_forward as before, once the engine stopped
    changed: list = field(default_factory=list)  # what differed, if not restored
    undone: list = field(default_factory=list)
    why: str = ""

    @property
    def dnat(self) -> str | None:
        """Docker's DNAT rule for the port (the line of ``iptables-save -t nat``)."""
        return next((r for r in self.rules.get("nat", []) if "DNAT" in r and f"--dport {self.host_port} " in r), None)

    def __repr__(self) -> str:
        head = ("live: dockerd ran here" if self.live else f"expected output (not run here: {self.why})")
        lines = [f"docker run -d -p {self.host_port}:{self.port}: {head}"]
        for table in ("nat", "filter"):
            lines.append(f"  iptables -t {table}: {len(self.rules.get(table, []))} rule(s) added")
            lines += [f"    {r}" for r in self.rules.get(table, [])]
        lines.append("  docker-proxy processes:")
        lines += [f"    {p}" for p in self.proxies]
        if self.live:
            lines.append(f"  127.0.0.1:{self.host_port} answered: {self.answer!r}")
            lines.append(f"  after stop: host's iptables, nftables and ip_forward as before: {self.restored}")
        return "\n".join(lines)


def host_firewall() -> dict:
    """iptables (nft and legacy) without counters and dates, the nft ruleset without the lab's tables, ip_forward."""
    def out(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        except FileNotFoundError:
            return ""
    saved = {tool: [re.sub(r" \[\d+:\d+\]$", "", line) for line in out(tool).splitlines()
                    if not line.startswith(("# Generated", "# Completed"))]
             for tool in ("iptables-save", "ip6tables-save", "iptables-legacy-save")}
    nft, skip = [], False
    for line in out("nft", "list", "ruleset").splitlines():
        if line.startswith("table "):
            skip = " labcore" in line  # the lab's own tables come and go with its networks
        if not skip:
            nft.append(line)
    # A lab network (this notebook's or another session's) holds forwarding on while it exists: its value is
    # then that network's business, and compared only when no lab bridge exists at either time.
    held = any(p.name.startswith("lab-br-") for p in Path("/sys/class/net").iterdir())
    forward = "held by a lab network" if held else Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    return dict(saved, nft=nft, ip_forward=forward)


def missing() -> list[str]:
    """What this machine lacks for the demo (empty: it can run)."""
    from . import realengine
    return realengine.missing() + [t for t in ("docker-proxy", "skopeo", "busybox", "iptables", "iptables-save")
                                   if shutil.which(t) is None]


def published_port(host_port: int = 18080, port: int = 80, name: str = "ch09-engine") -> PublishedByDocker:
    """Run a web server with the real Docker Engine and ``-p host_port:port``; read its rules; undo it all."""
    lacking = missing()
    if lacking:
        return PublishedByDocker(False, host_port, port, EXPECTED, EXPECTED_PROXIES,
                                 why=f"{', '.join(lacking)} not installed")
    from ..errors import LabError
    from ..net import dockerfw
    from .realengine import Engine
    before = host_firewall()
    engine = Engine(name, iptables=True)
    try:
        try:
            engine.start()
        except LabError as exc:  # installed but not starting (a VM's kernel, say): say so, show the expected
            return PublishedByDocker(False, host_port, port, EXPECTED, EXPECTED_PROXIES,
                                     why=f"dockerd did not start: {exc.what}")
        engine.load_busybox(["sh", "httpd", "echo", "mkdir"])
        engine.docker("run", "-d", "--name", "web", "-p", f"{host_port}:{port}", "busybox",
                      "sh", "-c", SERVE.format(port=port))
        ip = engine.docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()
        answer = _get(f"http://127.0.0.1:{host_port}/")
        seen = PublishedByDocker(True, host_port, port, engine.network.added(), dockerfw.proxies(engine.pid),
                                 container_ip=ip, answer=answer)
    finally:
        undone = engine.stop()
    after = host_firewall()
    seen.undone = undone
    if "held by a lab network" in (before["ip_forward"], after["ip_forward"]):
        before["ip_forward"] = after["ip_forward"] = "held by a lab network"
    seen.changed = [k for k in before if before[k] != after[k]]
    seen.restored = not seen.changed
    return seen


def _get(url: str, timeout: float = 10) -> str:
    """GET ``url`` (a server that may still be starting: retried for ``timeout`` seconds)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=3).read().decode().strip()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


@dataclass
class SideBySide:
    """Docker's rules for a published port next to the lab's nft table for the same port (notebook 09)."""

    docker: PublishedByDocker
    lab: str

    def rows(self) -> list[tuple[str, str, str]]:
        """(what, Docker's rule, the lab's rule), the lab's taken from its nft listing."""
        lab = [re.sub(r"counter packets \d+ bytes \d+ ", "", l.strip()) for l in self.lab.splitlines()]
        pick = lambda word: next((l for l in lab if word in l), "-")  # noqa: E731
        nat = self.docker.rules.get("nat", [])
        first = lambda *words: next((r for r in nat if all(w in r for w in words)), "-")  # noqa: E731
        return [
            ("from other hosts", first("PREROUTING", "DOCKER") + "\n" + (self.docker.dnat or "-"),
             pick("from other hosts")),
            ("from this host", first("OUTPUT", "DOCKER") + "\n(then the same DNAT)", pick("from this host")),
            ("127.0.0.1", "(skipped by OUTPUT's ! -d 127.0.0.0/8) docker-proxy, a process:\n"
             + (self.docker.proxies[0] if self.docker.proxies else "-"),
             pick("from this host") + " then route_localnet=1 and " + pick("hairpin")),
            ("going out", first("POSTROUTING", "! -o"), "(the network's table: masquerade of its subnet)"),
        ]

    def __repr__(self) -> str:
        out = []
        for what, docker, lab in self.rows():
            out.append(f"{what}:\n  Docker: " + docker.replace("\n", "\n          ") + f"\n  lab:    {lab}")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{html.escape(w)}</td><td><code>{html.escape(d).replace(chr(10), '<br>')}</code></td>"
                        f"<td><code>{html.escape(l)}</code></td></tr>" for w, d, l in self.rows())
        label = "" if self.docker.live else " (expected output: no engine here)"
        return (f"<table><tr><th>client</th><th>Docker (iptables){label}</th><th>the lab (nftables)</th></tr>"
                f"{cells}</table>")


def side_by_side(docker: PublishedByDocker, lab_table: str) -> SideBySide:
    """Docker's rules next to the lab's table (``net.nft.show(...)``) for the same published port."""
    return SideBySide(docker, lab_table)


__all__ = ["PublishedByDocker", "SideBySide", "published_port", "side_by_side", "host_firewall", "missing",
           "EXPECTED", "EXPECTED_PROXIES"]
