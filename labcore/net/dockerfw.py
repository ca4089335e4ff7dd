"""Docker's own firewall: the iptables rules a real dockerd writes, read, and taken back out.

With ``--iptables=true`` (its default) dockerd drives the ``iptables``
command. On this machine that is iptables-nft: the rules land in nftables
tables named ``ip filter`` and ``ip nat``, in chains of Docker's:

* nat ``DOCKER``: one DNAT rule per published port (``! -i BRIDGE -p tcp
  --dport HOSTPORT -j DNAT --to-destination IP:PORT``), entered from
  PREROUTING and from OUTPUT for packets to any local address;
* nat POSTROUTING: MASQUERADE for the bridge's subnet leaving by another
  link, and a hairpin MASQUERADE per published port;
* filter ``DOCKER``, ``DOCKER-USER``, ``DOCKER-ISOLATION-STAGE-1/2``,
  entered from FORWARD: which forwarded packets may reach the containers;
* and, for a client on 127.0.0.1, which DNAT in OUTPUT skips
  (``! -d 127.0.0.0/8``): a ``docker-proxy`` process per published port,
  listening on the host's port and copying bytes to the container.

dockerd also turns ``net.ipv4.ip_forward`` on, and if it had to, sets the
FORWARD chain's policy to DROP, making the host stop routing for anyone
else. When it stops it removes the per-container rules but *leaves the
rest*: the chains, their jump rules, the masquerade rule, the bridge.

The lab runs such a dockerd for a demo and then puts everything back:

1. ``prepare`` records the rules of both tables (and whether iptables-nft's
   tables exist at all) *before* dockerd starts: tracker kind ``docker-fw``;
2. it holds ``ip_forward`` on itself (``sysctl.hold``: back to the host's
   value when the last lab holder lets go), so dockerd finds it on and
   leaves FORWARD's policy alone;
3. it gives dockerd a bridge of the lab's, ``lab-docker0``, made and
   recorded like any lab link (``--bridge=lab-docker0``), instead of letting
   it make ``docker0``;
4. the undo deletes only Docker's rules (in a ``DOCKER*`` chain, jumping to
   one, or naming the bridge or its subnet) that were not there before,
   then Docker's chains, puts changed policies back, and deletes a table
   iptables-nft created if it is left empty. ``labcore cleanup`` does the
   same after a crash. See iptables(8), iptables-save(8), dockerd(8).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
from dataclasses import dataclass, field

from .. import tracker
from ..errors import LabError

TABLES = ("nat", "filter")
BRIDGE = "lab-docker0"
POOL = ipaddress.ip_network("172.17.0.0/16")  # where Docker's default bridge lives
BUILTIN = {"nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"), "filter": ("INPUT", "FORWARD", "OUTPUT")}
_COUNTERS = re.compile(r"\s*\[\d+:\d+\]\s*$")


# --- reading iptables-save (pure) ------------------------------------------------------

@dataclass
class Table:
    """One table as iptables-save prints it: chains with their policies (``-`` for Docker's), then rules."""

    chains: dict = field(default_factory=dict)
    rules: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"chains": dict(self.chains), "rules": list(self.rules)}


def parse(text: str) -> Table:
    """Parse ``iptables-save -t TABLE`` (pure): comments, the table line, COMMIT and counters dropped."""
    t = Table()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(":"):
            name, _, policy = _COUNTERS.sub("", line[1:]).partition(" ")
            t.chains[name] = policy.strip()
        elif line.startswith("-A "):
            t.rules.append(line)
    return t


def is_dockers(line: str, bridge: str, subnet: str) -> bool:
    """Whether a rule line is one dockerd writes for ``bridge`` and ``subnet`` (pure)."""
    words = shlex.split(line)
    chain = words[1] if len(words) > 1 else ""
    target = words[words.index("-j") + 1] if "-j" in words[:-1] else ""
    if chain.startswith("DOCKER") or target.startswith("DOCKER") or bridge in words:
        return True
    net = ipaddress.ip_network(subnet)
    for flag in ("-s", "-d"):
        if flag in words[:-1]:
            try:
                if ipaddress.ip_network(words[words.index(flag) + 1], strict=False).subnet_of(net):
                    return True
            except ValueError:
                pass
    return False


def added(before: dict, now: dict, bridge: str, subnet: str) -> dict:
    """``{table: [rule, ...]}``: Docker's rules in ``now`` that were not in ``before`` (pure)."""
    out = {}
    for table in TABLES:
        was = set(before.get(table, {}).get("rules", []))
        out[table] = [r for r in now.get(table, {}).get("rules", []) if r not in was and is_dockers(r, bridge, subnet)]
    return out


# --- the live tables ---------------------------------------------------------------------

def _iptables(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=30)


def _nft_tables() -> set:
    from . import nft
    return {t["name"] for t in nft.tables() if t["family"] == "ip"}


def snapshot() -> dict:
    """``{table: {"chains", "rules", "exists"}}`` for nat and filter, as iptables sees them now."""
    present = _nft_tables()
    out = {}
    for table in TABLES:
        if table not in present:  # iptables-save -t would not print it; listing it must not create it
            out[table] = {"chains": {}, "rules": [], "exists": False}
            continue
        done = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, timeout=30)
        out[table] = dict(parse(done.stdout).to_dict(), exists=True)
    return out


def proxies(engine_pid: int | None = None) -> list[str]:
    """The command lines of running ``docker-proxy`` processes (under ``engine_pid`` if given)."""
    from pathlib import Path
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
            stat = (p / "stat").read_text()
        except OSError:
            continue
        if argv and argv[0].endswith(b"docker-proxy") and (
                engine_pid is None or int(stat.rsplit(")", 1)[1].split()[1]) == engine_pid):
            out.append(" ".join(a.decode() for a in argv if a))
    return sorted(out)


# --- the engine's network, prepared and released -----------------------------------------------

@dataclass
class Prepared:
    """What ``prepare`` made for one dockerd: its bridge, the forwarding hold, the rules' record."""

    holder: str
    subnet: str
    gateway: str
    bridge: str = BRIDGE
    records: list = field(default_factory=list, repr=False)

    def flags(self, base) -> list[str]:
        """dockerd's flags: ``base`` without its network ones, then Docker's defaults on the lab's bridge."""
        network = ("--bridge", "--iptables", "--ip-masq", "--ip-forward", "--ip6tables", "--userland-proxy")
        return [f for f in base if not f.startswith(network)] + [
            f"--bridge={self.bridge}", "--iptables=true", "--ip-masq=true", "--ip-forward=true",
            "--ip6tables=false", "--userland-proxy=true"]

    @property
    def before(self) -> dict:
        return next(r.extra["before"] for r in self.records if r.kind == "docker-fw")

    def added(self) -> dict:
        """Docker's rules now in nat and filter that were not there before it started (notebook 09)."""
        return added(self.before, snapshot(), self.bridge, self.subnet)

    def release(self) -> list[str]:
        """Undo newest first: the bridge, Docker's rules and chains, the hold on ip_forward."""
        done, failed = [], None
        while self.records:
            rec = self.records.pop()
            try:
                done.append(f"{rec}: {tracker.default().undo(rec)}")
            except Exception as exc:  # the others still go; the record stays for labcore cleanup
                failed = failed or exc
                done.append(f"{rec}: failed ({exc})")
        if failed is not None:
            raise failed
        return done


def prepare(holder: str = "realengine") -> Prepared:
    """Record nat and filter, hold ip_forward, make ``lab-docker0``: all before dockerd starts."""
    from . import ipam, links, sysctl
    subnet = ipam.free_subnet(POOL)
    p = Prepared(holder, str(subnet), str(ipam.gateway(subnet)))
    trk = tracker.default()
    try:
        p.records.append(sysctl.hold("net.ipv4.ip_forward", "1", holder=f"dockerd {holder}"))
        p.records.append(trk.add("docker-fw", f"iptables nat+filter for {p.bridge}", before=snapshot(),
                                 bridge=p.bridge, subnet=p.subnet))
        p.records.append(links.bridge(p.bridge))
        links.add_address(p.bridge, p.gateway, subnet.prefixlen)
    except BaseException:
        p.release()
        raise
    return p


@tracker.undoes("docker-fw", order=55)  # after dockerd (10) and the bridge (40), before ip_forward (60)
def _undo(rec: tracker.Record) -> str:
    bridge, subnet, before = rec.extra.get("bridge", ""), rec.extra.get("subnet", ""), rec.extra.get("before", {})
    if not bridge.startswith(tracker.PREFIX) or not subnet:
        tracker.refuse(rec, "Docker rules of a bridge that is not the lab's")
    now = snapshot()
    rules = chains = 0
    for table in TABLES:
        if not now[table]["exists"]:
            continue
        was = before.get(table, {"chains": {}, "rules": [], "exists": False})
        mine = [r for r in now[table]["rules"] if r not in was["rules"] and is_dockers(r, bridge, subnet)]
        for line in reversed([r for r in mine if not shlex.split(r)[1].startswith("DOCKER")]):
            _must(_iptables("-t", table, "-D", *shlex.split(line)[1:]), line)  # jumps and rules in built-in chains
            rules += 1
        new = [c for c in now[table]["chains"] if c.startswith("DOCKER") and c not in was["chains"]]
        for c in new:
            rules += sum(1 for r in mine if shlex.split(r)[1] == c)
            _must(_iptables("-t", table, "-F", c), f"-F {c}")
        for c in new:
            _must(_iptables("-t", table, "-X", c), f"-X {c}")
            chains += 1
        for c, policy in now[table]["chains"].items():
            old = was["chains"].get(c) or ("ACCEPT" if c in BUILTIN[table] else None)
            if c in BUILTIN[table] and policy != old:
                _must(_iptables("-t", table, "-P", c, old), f"-P {c} {old}")
        if not was["exists"]:
            _drop_if_empty(table)
    return f"removed {rules} rules and {chains} chains of Docker's"


def _drop_if_empty(table: str) -> None:
    """Delete ``ip TABLE`` that iptables-nft created for dockerd, once nothing but empty built-in chains is left."""
    left = snapshot()[table]
    if left["rules"] or any(c not in BUILTIN[table] or p != "ACCEPT" for c, p in left["chains"].items()):
        return  # someone else's rules are in it now: it stays
    from . import nft
    nft.request({"delete": {"table": {"family": "ip", "name": table}}})


def _must(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0 and "does not exist" not in done.stderr and "No chain" not in done.stderr:
        raise LabError(f"iptables could not undo {what!r}: {done.stderr.strip()[:300]}",
                       "see iptables-save; labcore cleanup tries again")


__all__ = ["Prepared", "Table", "prepare", "snapshot", "parse", "added", "is_dockers", "proxies", "BRIDGE", "TABLES"]
