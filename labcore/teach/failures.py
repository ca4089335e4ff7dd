"""Failure scenarios: what an on-call engineer reads on the host when a container goes wrong.

A container is processes, a cgroup, namespaces, mounts, links and rules,
so its failures are kernel events, and the kernel leaves traces of each:

    memory limit hit       memory.events (v2) / memory.oom_control (v1): ``oom_kill N``;
                           the kernel log: "Memory cgroup out of memory: Killed process ...";
                           the runtime's exit status 128 + 9 = 137; ``OOMKilled`` in docker inspect
    PID 1 ends             the pid namespace dies with it: the kernel SIGKILLs every other
                           process in it (zap_pid_ns_processes); status 128 + N for signal N
    PID 1 ignores SIGTERM  the kernel drops signals to a namespace's init that it has no handler for,
                           so ``docker stop`` waits its grace period, then sends SIGKILL (137)
    network broken         a veth gone (``ip link``), a route gone (``ip route`` in the netns),
                           a NAT rule gone (``nft list table``, its counters)
    storage                a blob whose sha256 no longer matches its name; ENOSPC from a full
                           upper directory while the host's disks have room
    too many tasks         pids.current at pids.max, pids.events ``max N``; zombies (state Z)
                           that nobody reaps, each holding a PID

This module holds the few readers and breakers the chapter needs that the
rest of labcore has no reason to offer: the kernel log from now on
(``KernelLog``, /dev/kmsg), the members of a pid namespace, process states,
and deliberate damage to a lab network (a link, a route, a chain's rules)
with its repair. It only ever touches objects carrying the lab's names.
Used by notebook 14.
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError
from ..proc.stat import fields

KMSG = "/dev/kmsg"


# --- the kernel log --------------------------------------------------------------------------
class KernelLog:
    """The kernel's log from the moment this object is made (what ``dmesg --follow`` would print).

    /dev/kmsg gives one record per read(2): ``PRIORITY,SEQUENCE,MICROSECONDS,FLAGS;MESSAGE``.
    Opened and moved to its end, it returns only what the kernel logs afterwards.
    """

    def __init__(self):
        self.fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.seen: list[str] = []

    def read(self) -> list[str]:
        """The messages logged since the last read (or since the start)."""
        new = []
        while True:
            try:
                record = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # older records were overwritten meanwhile: go on with the next
                    continue
                raise
            if not record:
                break
            _, _, message = record.decode(errors="replace").partition(";")
            new.append(message.splitlines()[0] if message else "")
        self.seen += new
        return new

    def grep(self, *words: str) -> list[str]:
        """Every message so far holding all of ``words``."""
        self.read()
        return [m for m in self.seen if all(w in m for w in words)]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- processes ---------------------------------------------------------------------------------
def state(pid: int) -> str:
    """A process's state letter from /proc/PID/stat (R running, S sleeping, Z zombie), or "gone"."""
    found = fields(pid)
    return found[0] if found else "gone"


def pid_namespace_members(pid: int) -> list[int]:
    """Host PIDs of every process in the pid namespace of ``pid`` (same /proc/PID/ns/pid inode)."""
    try:
        wanted = os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/pid").st_ino == wanted:
                    found.append(int(entry))
            except OSError:
                continue
    return sorted(found)


def children(pid: int) -> list[int]:
    """Host PIDs of the processes whose parent is ``pid`` (field 4 of /proc/PID/stat), zombies included."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = fields(entry)
            if f and int(f[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def zombies(parent: int) -> list[int]:
    """The children of ``parent`` that are zombies: exited, each keeping its PID until the parent's wait(2).

    A zombie has left its cgroup's ``cgroup.procs`` but still counts in ``pids.current``."""
    return [p for p in children(parent) if state(p) == "Z"]


# --- a network, broken and repaired -----------------------------------------------------------
def _lab_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name.startswith(tracker.PREFIX) or "/" in name:
        raise InvalidInputError(f"{what} {name!r} is not one of the lab's", f"give a {what} named {tracker.PREFIX}...")
    return name


def delete_link(name: str) -> None:
    """``ip link del NAME`` on the host, behind the back of whoever made it (a veth takes its peer along)."""
    from ..net import netlink
    _lab_name(name, "link")

    def delete(ipr):
        idx = netlink.index(ipr, name)
        if idx is None:
            raise InvalidInputError(f"no link {name} on the host", "ip link lists the links")
        ipr.link("del", index=idx)
    netlink.call(delete)


def routes(netns: str | None = None) -> list[str]:
    """The IPv4 routes of a network namespace (a name in /run/netns), as ``ip route`` prints them."""
    from ..net import netlink

    def read(ipr):
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
        out = []
        for r in ipr.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            text = f"{dst}/{r['dst_len']}" if dst else "default"
            if r.get_attr("RTA_GATEWAY"):
                text += f" via {r.get_attr('RTA_GATEWAY')}"
            out.append(f"{text} dev {names.get(r.get_attr('RTA_OIF'), '?')}")
        return out
    return netlink.call(read, _lab_name(netns, "network namespace") if netns else None)


def ping(ep, address: str, wait: int = 1):
    """One ping from container endpoint ``ep`` to ``address``, as a fresh flow: the result of ``ep.run``.

    Each ping gets an ICMP identifier of its own (``ping -e``). A ping started as PID 1 of a new pid
    namespace would otherwise use the same identifier every time, so conntrack would see one flow and
    keep applying the NAT decision it made earlier, even after the rule that made it is gone."""
    ident = str(1 + secrets.randbelow(65534))
    return ep.run(["ping", "-n", "-c", "1", "-W", str(wait), "-e", ident, str(address)])


def delete_default_route(netns: str) -> None:
    """``ip -n NETNS route del default``: the container keeps its address and loses its way out."""
    from ..net import netlink
    netlink.call(lambda ipr: ipr.route("del", dst="0.0.0.0/0"), _lab_name(netns, "network namespace"))


def flush_chain(table: str, chain: str, family: str = "ip") -> list[dict]:
    """``nft flush chain FAMILY TABLE CHAIN`` on a lab table; returns the rules it held (to restore them)."""
    from ..net import nft
    nft._check(table)
    listed = nft.libnft.run({"nftables": [{"list": {"chain": {"family": family, "table": table, "name": chain}}}]},
                            echo=False)
    rules = [item["rule"] for item in listed["nftables"] if "rule" in item]
    nft.request({"flush": {"chain": {"family": family, "table": table, "name": chain}}})
    return rules


def restore_rules(rules: list[dict]) -> int:
    """Append the rules ``flush_chain`` returned, as they were (counters start again at 0)."""
    from ..net import nft
    for r in rules:
        nft._check(r["table"])
        spec = {k: r[k] for k in ("family", "table", "chain", "expr") if k in r}
        if r.get("comment"):
            spec["comment"] = r["comment"]
        nft.request({"add": {"rule": spec}})
    return len(rules)


def rewire(ep) -> tracker.Record:
    """Give endpoint ``ep`` (labcore.net.endpoint) a new veth to its network, as it had: the repair
    after ``delete_link``. Recorded and added to the endpoint's objects, so ``ep.remove()`` undoes it."""
    from ..net import links, network
    net = network.get(ep.network)
    ns = Path(ep.netns).name
    rec = links.veth(ep.host_link, "eth0", peer_netns=ns)
    ep._records.append(rec)
    links.set_master(ep.host_link, net.bridge)
    links.add_address("eth0", ep.ip, net.prefixlen, netns=ns)
    links.up("eth0", netns=ns)
    links.add_route("default", net.gateway, netns=ns)
    return rec


# --- storage -------------------------------------------------------------------------------------
@dataclass
class Corruption:
    """One byte of a file changed on disk, as a bad sector or a bit flip would; ``undo()`` puts it back."""

    path: Path
    offset: int
    original: int

    def undo(self) -> None:
        with open(self.path, "r+b") as f:
            f.seek(self.offset)
            f.write(bytes([self.original]))


def flip_byte(path, offset: int | None = None) -> Corruption:
    """Invert one byte of a file under the lab's directories (the middle one by default)."""
    path = Path(path)
    if not tracker.is_lab_path(str(path)):
        raise InvalidInputError(f"{path} is not under the lab's directories", "corrupt only the lab's own files")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError(f"{path} is empty", "pick a file with content")
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([old ^ 0xFF]))
    return Corruption(path, offset, old)


__all__ = ["KernelLog", "state", "pid_namespace_members", "children", "zombies", "delete_link", "routes", "ping",
           "delete_default_route", "flush_chain", "restore_rules", "rewire", "Corruption", "flip_byte"]
