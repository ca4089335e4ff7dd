"""A container's network, from Docker's HostConfig: what dockerd asks libnetwork for.

``docker run -p 127.0.0.1:8080:80 --network web IMAGE`` reaches the daemon
as three fields of the create request::

    HostConfig.NetworkMode   "default" | "bridge" | "none" | "host" | "container:NAME" | a network's name
    HostConfig.PortBindings  {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    ExposedPorts             {"80/tcp": {}}

On ``start``, before the runtime runs, dockerd has libnetwork make the
container's *sandbox* (a named network namespace) and an *endpoint* on the
network (a veth pair, an address, a route, the DNAT of each published
port); the bundle's config.json then names that namespace by path in
``linux.namespaces``, so the runtime joins it (setns) instead of making an
empty one. The lab builds the same with ``labcore.net.endpoint``:

    bridge               a netns, veth to the network's bridge, an address from IPAM, the default
                         route, the network's hosts file bound on /etc/hosts, one nft table of DNAT
    NAME                 the same, but names come from DNS, as on Docker's user-defined networks:
                         the container's own /etc/hosts and /etc/resolv.conf (nameserver
                         127.0.0.11), and a DNS server there (labcore.net.dns), a thread of the daemon
    none                 a netns with only ``lo``, up (runc brings it up in a netns it makes)
    host                 no network namespace in config.json: the host's links and ports
    container:NAME       the namespace of NAME (running), by path

The DNS server is a thread of the daemon, as Docker's is part of dockerd:
while the daemon is down the container's names do not resolve, and a
restarted daemon starts the servers of its running containers again
(``resume``). Docker's default bridge has no DNS, and neither has the lab's.

When the container stops (its shim has exited) or is removed, the
endpoint goes, newest object first, and its address returns to the pool,
as Docker releases it. Every object is recorded by the tracker and tagged
with the container's ID: while the container runs, its shim owns them
(``labcore cleanup`` spares them, and a daemon killed with SIGKILL leaves
them working), and the daemon takes them back when the shim has gone.
What was made is kept in the container's ``network.json``, so a restarted
daemon can show it (``docker port``, ``docker inspect``) and undo it.

The lab's one departure from Docker: a container created with neither
``--network`` nor ``-p`` keeps the daemon's older behaviour (a new, empty
network namespace the runtime makes, ``NetworkMode`` "none"), where Docker
would put it on the default bridge. ``-p`` alone asks for the bridge.

``plan`` (the checks, in Docker's words) and ``apply`` (the config.json
part) are pure and tested without root.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError
from .images import Conflict, NotFound

KINDS = ("netns", "link", "ipam-lease", "nft-table")  # what an endpoint is made of, in the tracker
DEFAULT = "bridge"                                    # labcore.net.network.DEFAULT, without importing pyroute2
LAB_NETWORK = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
PROTOS = ("tcp", "udp")


# --- the request, checked (pure) -------------------------------------------------------
def _port(text, what: str) -> int:
    """A port number as Docker's nat.ParsePort takes it; its message otherwise."""
    s = str(text).strip()
    if not s.isdigit() or not 0 < int(s) < 65536:
        raise InvalidInputError(f'invalid port specification: "{text}"', f"{what}: a number from 1 to 65535")
    return int(s)


def parse_bindings(bindings) -> list[dict]:
    """``HostConfig.PortBindings`` -> ``[{"port", "proto", "host_ip", "host_port"}]`` (host_port 0: pick one)."""
    if bindings in (None, {}):
        return []
    if not isinstance(bindings, dict):
        raise InvalidInputError("json: cannot unmarshal PortBindings: not an object",
                                'send {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}')
    out = []
    for key, hosts in bindings.items():
        port, _, proto = str(key).partition("/")
        proto = proto or "tcp"
        if proto not in PROTOS:
            raise InvalidInputError(f'invalid port specification: "{key}" (protocol {proto})',
                                    "the lab's daemon publishes tcp and udp ports")
        number = _port(port, "the container's port")
        for h in hosts or [{}]:
            if not isinstance(h, dict):
                raise InvalidInputError(f"json: cannot unmarshal PortBindings[{key}]: not an object",
                                        'each binding is {"HostIp": "...", "HostPort": "..."}')
            host_ip = str(h.get("HostIp") or "")
            if host_ip in ("0.0.0.0", ""):
                host_ip = ""
            else:
                try:
                    addr = ipaddress.ip_address(host_ip)
                except ValueError:
                    raise InvalidInputError(f"invalid IP address: {host_ip}",
                                            "give -p IP:HOSTPORT:PORT with an IPv4 address of this host") from None
                if addr.version != 4:
                    raise InvalidInputError(f"invalid IP address: {host_ip} (IPv6)", "the lab's networks are IPv4")
            host_port = str(h.get("HostPort") or "")
            if "-" in host_port:
                raise InvalidInputError(f'invalid port specification: "{host_port}" (a range)',
                                        "publish one host port per container port")
            out.append({"port": number, "proto": proto, "host_ip": host_ip,
                        "host_port": _port(host_port, "the host's port") if host_port else 0})
    seen = set()
    for b in out:
        key = (b["host_ip"], b["host_port"], b["proto"])
        if b["host_port"] and key in seen:
            raise InvalidInputError(f"Bind for {b['host_ip'] or '0.0.0.0'}:{b['host_port']} failed: "
                                    "port is already allocated", "publish each host port once")
        seen.add(key)
    return out


def mode_of(text) -> tuple[str, str | None]:
    """``NetworkMode`` -> ("default" | "none" | "host" | "container" | "network", argument)."""
    if text is not None and not isinstance(text, str):
        raise InvalidInputError("json: cannot unmarshal NetworkMode: not a string", 'send "bridge", "none", ...')
    text = (text or "").strip()
    if text in ("", "default"):
        return "default", None
    if text in ("none", "host"):
        return text, None
    if text.startswith("container:"):
        ref = text.split(":", 1)[1]
        if not ref:
            raise InvalidInputError("invalid container format container:<name|id>", "name the container to join")
        return "container", ref
    return "network", text


def plan(body: dict) -> tuple[dict, list[str]]:
    """Check a create request's network fields; returns what the container keeps, and warnings.

    ``{"NetworkMode", "PortBindings", "ExposedPorts"}`` for Docker's fields, ``"Bindings"`` (parsed)
    and ``"Legacy"`` (asked for nothing: the lab's departure above, NetworkMode "none")."""
    host = body.get("HostConfig") or {}
    kind, arg = mode_of(host.get("NetworkMode"))
    bindings = parse_bindings(host.get("PortBindings"))
    exposed = body.get("ExposedPorts") or {}
    if not isinstance(exposed, dict):
        raise InvalidInputError("json: cannot unmarshal ExposedPorts: not an object", 'send {"80/tcp": {}}')
    for key in exposed:
        port, _, proto = str(key).partition("/")
        if (proto or "tcp") not in PROTOS:
            raise InvalidInputError(f'invalid port specification: "{key}"', "expose tcp or udp ports")
        _port(port, "an exposed port")
    warnings = []
    if kind == "container" and bindings:
        raise InvalidInputError("conflicting options: port publishing and the container type network mode",
                                "publish the ports on the container whose network it joins")
    if kind in ("host", "none") and bindings:
        warnings.append(f"Published ports are discarded when using {kind} network mode")
        bindings = []
    if kind == "default":
        mode = DEFAULT if bindings else "none"
    else:
        mode = host.get("NetworkMode").strip()
    ports = dict(exposed)
    for b in bindings:
        ports.setdefault(f"{b['port']}/{b['proto']}", {})
    pb: dict = {}
    for b in bindings:
        pb.setdefault(f"{b['port']}/{b['proto']}", []).append(
            {"HostIp": b["host_ip"], "HostPort": str(b["host_port"]) if b["host_port"] else ""})
    legacy = kind == "default" and not bindings
    return {"NetworkMode": mode, "PortBindings": pb, "ExposedPorts": ports or None, "Bindings": bindings,
            "Legacy": legacy}, warnings


def apply(oci: dict, net: dict | None) -> dict:
    """The config.json part (pure): which network namespace the runtime joins, and /etc/hosts."""
    if not net:
        return oci  # the older behaviour: a new namespace the runtime makes
    spaces = [ns for ns in oci["linux"]["namespaces"] if ns["type"] != "network"]
    if net.get("netns"):
        spaces.append({"type": "network", "path": net["netns"]})
    oci["linux"]["namespaces"] = spaces  # host: no network entry at all, the host's stack
    # The network's shared hosts file is bound read-only, or a container could rename the others;
    # the files of a network with DNS are the container's own (or, with container:NAME, NAME's).
    shared = not net.get("resolv")
    for key, path in (("hosts", "/etc/hosts"), ("resolv", "/etc/resolv.conf")):
        if net.get(key):
            oci["mounts"].append({"destination": path, "type": "bind", "source": net[key],
                                  "options": ["rbind", "rprivate"] + (["ro"] if shared else [])})
    return oci


# --- on the host (root) -------------------------------------------------------------------
def _file(c) -> Path:
    return c.dir / "network.json"


def state(c) -> dict | None:
    """What ``attach`` made for a container (network.json), or None."""
    try:
        return json.loads(_file(c).read_text())
    except (FileNotFoundError, ValueError):
        return None


def records(cid: str) -> list[tracker.Record]:
    """The tracker records of container ``cid``'s endpoint, oldest first."""
    # and, on a network with DNS, the container's own hosts and resolv.conf (paths marked "names": the
    # daemon records other paths of the container too, which are not the endpoint's to undo)
    return [r for r in tracker.default().records() if r.extra.get("container") == cid
            and (r.kind in KINDS or (r.kind == "path" and r.extra.get("names")))]


def endpoint_name(cid: str) -> str:
    """The endpoint's name in labcore.net (its netns is lab-c-NAME): from the ID, always a valid one."""
    return f"d{cid[:12]}"


def _free_port(host_ip: str, proto: str) -> int:
    """An ephemeral port of the host, as Docker picks one for ``-p 80`` (its port allocator)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host_ip or "0.0.0.0", 0))
        return s.getsockname()[1]


def _check_free(c, b: dict, others: list[dict]) -> None:
    """Refuse a host port another container publishes, or a host process listens on (Docker's message)."""
    where = f"{b['host_ip'] or '0.0.0.0'}:{b['host_port']}"
    for o in others:
        if o["host_port"] == b["host_port"] and o["proto"] == b["proto"] and \
                (not o["host_ip"] or not b["host_ip"] or o["host_ip"] == b["host_ip"]):
            raise Conflict(f"driver failed programming external connectivity on endpoint {c.name}: "
                           f"Bind for {where} failed: port is already allocated", "choose another host port")
    kind = socket.SOCK_STREAM if b["proto"] == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((b["host_ip"] or "0.0.0.0", b["host_port"]))
        except OSError as exc:
            raise Conflict(f"driver failed programming external connectivity on endpoint {c.name}: "
                           f"Error starting userland proxy: listen {b['proto']} {where}: bind: {exc.strerror}",
                           "a process of the host has that port: choose another host port") from None


def attach(c, every) -> dict | None:
    """Make container ``c``'s network before its runtime starts (daemon, as root); None: the older way.

    ``every`` lists the daemon's containers (for container:NAME and ports in use)."""
    host, mine = c.meta["HostConfig"], c.meta.get("Network") or {"legacy": True}
    if mine.get("legacy"):
        return None
    kind, arg = mode_of(host.get("NetworkMode"))
    if kind == "host":
        return _save(c, {"mode": "host"})
    if kind == "container":
        target = _find(every, arg)
        if target.status() != "running":
            raise Conflict(f"cannot join network of a non running container: {target.id}", f"start {arg} first")
        t = state(target) or {}
        if t.get("mode") == "host":
            return _save(c, {"mode": "container", "container": target.id})
        path = t.get("netns") or f"/proc/{target.pid()}/ns/net"
        files = {k: t[k] for k in ("hosts", "resolv") if t.get("resolv") and t.get(k)}  # its names, as Docker
        return _save(c, {"mode": "container", "container": target.id, "netns": path, **files})
    from ..net import endpoint, ipam, network, ports
    bindings = [dict(b) for b in mine.get("bindings") or []]
    if kind == "network" and arg != DEFAULT and (not LAB_NETWORK.match(arg) or arg not in ipam.networks()):
        raise NotFound(f"network {arg} not found", f"create it: labcore network create {arg}")
    others = [b for o in every if o.id != c.id and o.status() == "running" for b in (state(o) or {}).get("ports", [])]
    for b in bindings:  # checked before anything is made
        if not b["host_port"]:
            b["host_port"] = _free_port(b["host_ip"], b["proto"])
        _check_free(c, b, others)
    if kind == "network" and arg == DEFAULT and arg not in ipam.networks():
        network.create(DEFAULT, keep=True)  # made when first needed; goes with its last container
        for r in tracker.default().records():
            if r.extra.get("network") == DEFAULT:
                tracker.default().update(r, made_by="daemon")
    publish = [ports.Port(b["host_port"], b["port"], b["proto"], b["host_ip"] or None) for b in bindings]
    name = endpoint_name(c.id)
    try:
        ep = endpoint.attach(name, "none" if kind == "none" else arg, publish, hostname=c.name, holder=False)
    except BaseException:
        _drop_default(kind, arg, every)
        raise
    try:
        if kind == "network" and arg != DEFAULT:
            endpoint.serve_names(ep, (c.meta.get("Config") or {}).get("Hostname") or c.name, holder=False)
            _SERVERS[c.id] = ep.dns
        for r in ep._records:
            tracker.default().update(r, container=c.id, **({"names": True} if r.kind == "path" else {}))
        net = {"mode": kind, "netns": ep.netns, "endpoint": name}
        if ep.ip:
            n = network.get(ep.network)
            net.update(network=ep.network, ip=ep.ip, gateway=n.gateway, prefixlen=n.prefixlen, hosts=ep.hosts,
                       host_link=ep.host_link, mac=_mac(ep.netns), ports=bindings)
            if ep.resolv:
                net.update(resolv=ep.resolv, dns=True)
        return _save(c, net)
    except BaseException:
        _stop_dns(c.id)
        ep.remove()
        _drop_default(kind, arg, every)
        raise


# The DNS servers of this daemon's running containers (threads: they end with the process).
_SERVERS: dict = {}


def _stop_dns(cid: str) -> None:
    server = _SERVERS.pop(cid, None)
    if server is not None:
        server.stop()


def resume(c) -> None:
    """At the daemon's start: the DNS server of a running container found again (live restore)."""
    net = state(c) or {}
    if net.get("dns") and net.get("netns") and c.id not in _SERVERS:
        from ..net import dns
        _SERVERS[c.id] = dns.Server(net["netns"], net["network"]).start()


def _find(every, ref: str):
    """A container by ID, name or unique ID prefix (containers.find, on the list given)."""
    hits = [o for o in every if o.id == ref or o.name == ref.lstrip("/")] or \
        [o for o in every if o.id.startswith(ref)]
    if len(hits) != 1:
        raise NotFound(f"No such container: {ref}", "docker ps lists the containers to join")
    return hits[0]


def _mac(netns_path: str) -> str:
    try:
        from ..net import netlink
        name = os.path.basename(netns_path)
        return netlink.call(lambda ipr: ipr.get_links(netlink.index(ipr, "eth0"))[0].get_attr("IFLA_ADDRESS"), name)
    except Exception:
        return ""


def _save(c, net: dict) -> dict:
    tmp = _file(c).with_suffix(".tmp")
    tmp.write_text(json.dumps(net))
    tmp.rename(_file(c))
    return net


def detach(c, every=()) -> list[tuple[str, str]]:
    """Undo container ``c``'s endpoint, newest first; its name leaves the network's hosts file.

    ``every``: the daemon's containers, one of which may take over the default network."""
    net = state(c)
    recs = records(c.id)
    _stop_dns(c.id)  # before its namespace goes
    if net is None and not recs:
        return []  # nothing was made (the older behaviour, host, container:): no pyroute2 to import
    trk = tracker.default()
    done = [(r.describe(), trk.undo(r)) for r in sorted(recs, key=lambda r: -r.seq)]
    if net and net.get("network"):
        from ..net import hostsfile, ipam
        leases = ipam.networks().get(net["network"], {}).get("leases")
        if leases is not None:
            hostsfile.write(net["network"], leases)
        _drop_default("network", net["network"], every, leaving=c)
    _file(c).unlink(missing_ok=True)
    return done


def _default_records() -> list[tracker.Record]:
    return [r for r in tracker.default().records()
            if r.extra.get("network") == DEFAULT and r.extra.get("made_by") == "daemon"]


def _hand(recs: list[tracker.Record], pid: int, start: int | None) -> None:
    for r in recs:
        r.owner, r.owner_start = pid, start
        tracker.default().update(r)


def hold_default(c, shim_pid: int, shim_start: int | None) -> None:
    """The default network the daemon made is held by the shim of a container on it.

    Its records need a live owner, or ``labcore cleanup`` run while the
    daemon is down would take the bridge from under running containers:
    the shim just started takes them unless another live shim holds them."""
    if (state(c) or {}).get("network") != DEFAULT:
        return
    recs = _default_records()
    if recs and not any(r.owner not in (0, os.getpid()) and tracker.owner_alive(r) for r in recs):
        _hand(recs, shim_pid, shim_start)


def _drop_default(kind: str, name: str | None, every=(), leaving=None) -> None:
    """The default network goes with its last container, if the daemon made it; while others run
    on it, one of their shims holds it (not the shim of ``leaving``, which may be finishing still)."""
    if kind != "network" or name != DEFAULT:
        return
    from ..net import ipam, network
    entry, recs = ipam.networks().get(DEFAULT), _default_records()
    if entry is None or not recs:
        return
    if not entry["leases"]:
        network.remove(DEFAULT)
        return
    gone = (leaving.shim() or {}).get("pid") if leaving is not None else None
    if any(r.owner not in (0, os.getpid(), gone) and tracker.owner_alive(r) for r in recs):
        return
    for o in every:
        s = o.shim() or {}
        if o is not leaving and o.id != getattr(leaving, "id", None) and o.status() == "running" \
                and (state(o) or {}).get("network") == DEFAULT:
            _hand(recs, s["pid"], s.get("start_time"))
            return
    _hand(recs, os.getpid(), tracker.process_start_time(os.getpid()))  # no shim left: the daemon's


# --- what the API shows ---------------------------------------------------------------------
def settings(c, running: bool) -> dict:
    """``NetworkSettings`` of ``docker inspect``, as Docker fills it."""
    net = (state(c) if running else None) or {}
    host = c.meta["HostConfig"]
    out = {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
           "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": net.get("netns") or "",
           "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "",
           "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0,
           "IPv6Gateway": "", "MacAddress": "", "Networks": {}}
    mode = host.get("NetworkMode", "none")
    if net.get("ip"):
        ports = {k: None for k in (c.meta["Config"].get("ExposedPorts") or {})}
        for b in net.get("ports", []):
            ports.setdefault(f"{b['port']}/{b['proto']}", None)
            ports[f"{b['port']}/{b['proto']}"] = (ports[f"{b['port']}/{b['proto']}"] or []) + [
                {"HostIp": b["host_ip"] or "0.0.0.0", "HostPort": str(b["host_port"])}]
        out["Ports"] = ports
        ep = {"IPAMConfig": None, "Links": None, "Aliases": [c.name, c.id[:12]], "NetworkID": net["network"],
              "EndpointID": net["endpoint"], "Gateway": net["gateway"], "IPAddress": net["ip"],
              "IPPrefixLen": net["prefixlen"], "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
              "MacAddress": net.get("mac", ""), "DriverOpts": None}
        out["Networks"] = {net["network"]: ep}
        if net["network"] == DEFAULT:  # Docker fills the top-level fields for the default bridge only
            out.update(EndpointID=net["endpoint"], Gateway=net["gateway"], IPAddress=net["ip"],
                       IPPrefixLen=net["prefixlen"], MacAddress=net.get("mac", ""))
    elif mode in ("none", "host") and not (c.meta.get("Network") or {"legacy": True}).get("legacy"):
        out["Networks"] = {mode: {"NetworkID": mode, "EndpointID": "", "Gateway": "", "IPAddress": "",
                                  "IPPrefixLen": 0, "MacAddress": ""}}
    return out


def summary_ports(c, running: bool) -> list[dict]:
    """``Ports`` of one ``docker ps`` entry."""
    net = (state(c) if running else None) or {}
    return [{"IP": b["host_ip"] or "0.0.0.0", "PrivatePort": b["port"], "PublicPort": b["host_port"], "Type": b["proto"]}
            for b in net.get("ports", [])]


__all__ = ["plan", "apply", "attach", "detach", "state", "records", "settings", "summary_ports", "parse_bindings",
           "mode_of", "endpoint_name", "KINDS", "resume"]
