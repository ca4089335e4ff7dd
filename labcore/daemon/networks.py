"""``docker network ls|inspect|create|rm`` through the daemon: the lab's networks in Docker's shape.

A Docker network is an object of the daemon with an ID, a driver and an
IPAM config (its subnet and gateway); ``docker network ls`` always lists
three that cannot be removed (``bridge``, ``host``, ``none``). The lab's
networks are ``labcore.net.network``'s (a bridge, a subnet from IPAM, a
masquerade rule), the same ones ``labcore network create`` makes, so a
network made on either side is seen on the other. ``host`` and ``none``
are listed as Docker lists them (drivers ``host`` and ``null``): they are
modes, not objects. ``bridge`` exists while a container uses it (the
daemon makes it on demand, see ``labcore.daemon.network``), or once made
with ``docker network create bridge``.

    GET    /networks              every network
    GET    /networks/ID           one, with the daemon's containers on it
    POST   /networks/create       {"Name": "web", "Driver": "bridge", "IPAM": {"Config": [{"Subnet": ...}]}}
    DELETE /networks/ID           refused (403) while a container is on it
"""

from __future__ import annotations

import hashlib

from ..errors import InvalidInputError
from . import network as endpoints
from .images import Conflict, NotFound

MODES = {"host": "host", "none": "null"}  # always listed, never removed: driver names as Docker's


def network_id(name: str) -> str:
    """A stable 64-hex ID from the name (Docker draws a random one; the lab keeps none on disk)."""
    return hashlib.sha256(f"labcore-network:{name}".encode()).hexdigest()


def _entry(name: str, info: dict | None, every) -> dict:
    driver = MODES.get(name) or (info or {}).get("driver", "bridge")
    config = [{"Subnet": info["subnet"], "Gateway": info["gateway"]}] if info else []
    on = {}
    for c in every:
        s = endpoints.state(c) if c.status() == "running" else None
        if s and s.get("network") == name:
            on[c.id] = {"Name": c.name, "EndpointID": s["endpoint"], "MacAddress": s.get("mac", ""),
                        "IPv4Address": f"{s['ip']}/{s['prefixlen']}", "IPv6Address": ""}
    options = {"com.docker.network.bridge.name": info["bridge"]} if info else {}
    return {"Name": name, "Id": network_id(name), "Created": "0001-01-01T00:00:00Z", "Scope": "local",
            "Driver": driver, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": config}, "Internal": False,
            "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Containers": on, "Options": options, "Labels": {}}


def ls(every) -> list[dict]:
    from ..net import ipam
    found = ipam.networks()
    return [_entry(n, found[n], every) for n in sorted(found)] + [_entry(m, None, every) for m in MODES]


def find(ref: str, every) -> dict:
    """A network by name, ID or unique ID prefix, as Docker finds them."""
    every_one = ls(every)
    hits = [n for n in every_one if ref in (n["Name"], n["Id"])] or [n for n in every_one if n["Id"].startswith(ref)]
    if len(hits) != 1:
        raise NotFound(f"network {ref} not found", "docker network ls lists them")
    return hits[0]


def create(body: dict) -> dict:
    """``POST /networks/create``: a lab network that outlives the daemon (until rm or labcore cleanup)."""
    from ..net import ipam, network
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise InvalidInputError("network name must not be empty", "docker network create NAME")
    name, driver = body["Name"], body.get("Driver") or "bridge"
    if driver not in network.DRIVERS:
        raise InvalidInputError(f"plugin \"{driver}\" not found: the lab's networks use bridge or vxlan",
                                "docker network create --driver bridge NAME")
    if name in MODES or name in ipam.networks():
        raise Conflict(f"network with name {name} already exists", "choose another name")
    configs = ((body.get("IPAM") or {}).get("Config") or [])
    subnet = configs[0].get("Subnet") if configs and isinstance(configs[0], dict) else None
    if len(configs) > 1:
        raise InvalidInputError("the lab's networks take one subnet", "give --subnet once")
    net = network.create(name, subnet, driver, keep=True)
    return {"Id": network_id(net.name), "Warning": ""}


def remove(ref: str, every) -> None:
    """``DELETE /networks/ID``; Docker answers 403 for a pre-defined one or one still in use."""
    from ..net import network
    found = find(ref, every)
    if found["Name"] in MODES:
        raise Forbidden(f"{found['Name']} is a pre-defined network and cannot be removed", "it is a mode, not an object")
    if found["Containers"]:
        raise Forbidden(f"error while removing network: network {found['Name']} id {found['Id']} has active endpoints",
                        "stop or remove its containers first")
    network.remove(found["Name"])


class Forbidden(InvalidInputError):
    """Answered 403, as Docker answers a removal it refuses."""


__all__ = ["ls", "find", "create", "remove", "network_id", "Forbidden"]
