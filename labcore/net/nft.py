"""nftables: the lab's NAT and filtering rules, in tables of its own.

Netfilter is a set of hooks on a packet's path through the kernel
(prerouting, input, forward, output, postrouting). nftables hangs
*chains* on those hooks, grouped in *tables*; a chain's ``type`` says what
its rules may do: ``filter`` accepts or drops, ``nat`` rewrites addresses
(only for the first packet of a connection: conntrack remembers the
rewrite and applies it to the rest, and undoes it on the replies).

A container network needs two rewrites:

* **SNAT / masquerade** (postrouting): a container's packet leaving the
  host gets the host's address as its source, so the outside world can
  answer (it has no route to the containers' private subnet).
* **DNAT** (prerouting, and output for the host's own connections): a
  packet to a published port of the host gets the container's address as
  its destination.

Docker writes the same with iptables into the ``nat`` and ``filter``
tables (chains DOCKER, DOCKER-USER, POSTROUTING...). The lab never
touches those: each lab network and each container's published ports get
a table of their own, ``ip labcore-...``. Several tables may hook the same
point; they all see the packet, in order of priority. A table is recorded
with the tracker (kind ``nft-table``) and deleted whole, rules included.
Requests go in as libnftables JSON (libnftables-json(5)).
"""

from __future__ import annotations

import re

from .. import tracker
from ..errors import InvalidInputError
from ..kernel import nftables as libnft

PREFIX = "labcore"
NAME = re.compile(r"^labcore(-[a-z0-9][a-z0-9-]{0,60})?$")


def _check(name: str) -> str:
    if not NAME.match(name):
        raise InvalidInputError(f"bad nftables table name {name!r}", "use 'labcore-' then lowercase letters, digits, '-'")
    return name


def request(*commands) -> dict:
    """Send commands (``{"add": {...}}`` objects) to the kernel in one transaction."""
    return libnft.run({"nftables": list(commands)})


def table(name: str, family: str = "ip") -> tracker.Record:
    """Create table ``FAMILY NAME`` (recorded); chains and rules go in with ``chain`` and ``rule``."""
    _check(name)
    if exists(name, family):
        raise InvalidInputError(f"nftables table {family} {name} exists already",
                                "remove what made it (labcore network rm, labcore cleanup)")
    with tracker.default().created("nft-table", f"{family} {name}") as rec:
        request({"add": {"table": {"family": family, "name": name}}})
    return rec


def chain(table_name: str, name: str, hook: str | None = None, type: str = "filter",
          priority: int = 0, family: str = "ip") -> None:
    """A chain; with ``hook`` a *base* chain that packets enter at that hook (``type`` filter or nat)."""
    spec = {"family": family, "table": table_name, "name": name}
    if hook:
        spec.update(type=type, hook=hook, prio=priority, policy="accept")
    request({"add": {"chain": spec}})


def rule(table_name: str, chain_name: str, expr: list, family: str = "ip", comment: str | None = None) -> int:
    """Append a rule (a list of JSON statements); returns its handle."""
    spec = {"family": family, "table": table_name, "chain": chain_name, "expr": expr}
    if comment:
        spec["comment"] = comment
    answer = request({"add": {"rule": spec}})
    return next((item["add"]["rule"].get("handle") for item in answer["nftables"] if "add" in item), None)


def text_rule(table_name: str, chain_name: str, rule_text: str, family: str = "ip") -> None:
    """Append a rule written in nft's own language (``tcp dport 8080 counter accept``) to a lab table."""
    _check(table_name)
    if any(c in rule_text for c in ";\n\r#{}"):
        raise InvalidInputError(f"rule {rule_text!r} holds ';', '#', braces or a newline",
                                "write one rule's statements only, e.g. tcp dport 8080 dnat to 10.199.0.2:80")
    try:
        libnft.text(f"add rule {family} {table_name} {chain_name} {rule_text}")
    except OSError as exc:
        raise InvalidInputError(f"nft refused the rule {rule_text!r}: {str(exc).split(': ', 1)[-1]}",
                                "check it against nft(8): match first (tcp dport N), then the action") from None


def exists(name: str, family: str = "ip") -> bool:
    return any(t["name"] == name and t["family"] == family for t in tables())


def tables() -> list[dict]:
    """Every table of the host (``nft list tables``), the lab's and everybody else's."""
    answer = libnft.run({"nftables": [{"list": {"tables": {}}}]}, echo=False)
    return [item["table"] for item in answer["nftables"] if "table" in item]


def show(name: str, family: str = "ip") -> str:
    """The table in nft's own language, as ``nft list table`` prints it (for the notebooks)."""
    return _text(f"list table {family} {_check(name)}")


def _text(command: str) -> str:
    """nft's text output for a listing command (JSON is what run() asks for; this asks for text)."""
    return libnft.text(command)


def counters(name: str, family: str = "ip") -> list[dict]:
    """Each rule of the table that counts: chain, comment, packets, bytes."""
    answer = libnft.run({"nftables": [{"list": {"table": {"family": family, "name": _check(name)}}}]}, echo=False)
    out = []
    for item in answer["nftables"]:
        r = item.get("rule")
        if not r:
            continue
        for stmt in r["expr"]:
            if "counter" in stmt:
                out.append({"chain": r["chain"], "comment": r.get("comment", ""),
                            "packets": stmt["counter"]["packets"], "bytes": stmt["counter"]["bytes"]})
    return out


@tracker.undoes("nft-table", order=50)  # after links (40), before sysctls (60)
def _delete(rec: tracker.Record) -> str:
    family, _, name = rec.target.partition(" ")
    if family not in ("ip", "inet", "ip6") or not NAME.match(name):
        tracker.refuse(rec, "an nftables table that is not the lab's (labcore...)")
    if not exists(name, family):
        return "already gone"
    request({"delete": {"table": {"family": family, "name": name}}})
    return "deleted"


# --- the statements the lab writes (libnftables-json(5)) ---------------------------

def match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def payload(protocol: str, field: str) -> dict:
    return {"payload": {"protocol": protocol, "field": field}}


def meta(key: str) -> dict:
    return {"meta": {"key": key}}


def prefix(cidr: str) -> dict:
    addr, _, length = str(cidr).partition("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


COUNTER = {"counter": None}


__all__ = ["table", "chain", "rule", "text_rule", "tables", "exists", "show", "counters", "request", "match", "payload",
           "meta", "prefix", "COUNTER", "PREFIX"]
