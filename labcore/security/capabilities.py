"""Capabilities of a container: which of root's ~41 powers its processes keep.

Root in a container is still uid 0, and the kernel's permission checks ask
for capabilities, not for uid 0: take CAP_SYS_ADMIN away and ``mount``
fails with EPERM for root as for anyone. Docker keeps 14 capabilities, the
ones an ordinary program run as root in an image expects (chown a file,
bind port 80, send a ping, setuid to a service user...), and drops the
powers over the machine: mount and namespaces (SYS_ADMIN), modules
(SYS_MODULE), raw I/O, the clock, tracing other processes, the network's
configuration (NET_ADMIN).

``CapSets`` holds the five sets (see ``labcore/kernel/caps.py``) as sets of
names, as OCI's ``process.capabilities`` does; ``docker_default()`` and
``full()`` are Docker's two cases. Reading and changing them goes through
the kernel object (capget/capset and prctl): ``current(k)`` and ``apply``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInputError
from ..kernel import caps as kcaps
from ..proc.status import status

SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")  # OCI's order
STATUS_FIELDS = {"inheritable": "CapInh", "permitted": "CapPrm", "effective": "CapEff",
                 "bounding": "CapBnd", "ambient": "CapAmb"}

# Docker's default set (moby's oci/caps/defaults.go), in capability-number order.
DOCKER_DEFAULT = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
                  "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
                  "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP")


def canonical(text: str) -> str:
    """``NET_RAW``, ``net_raw`` or ``CAP_NET_RAW`` -> ``CAP_NET_RAW``; unknown names are refused."""
    try:
        return kcaps.name(kcaps.number(text))
    except ValueError:
        raise InvalidInputError(f"unknown capability {text!r}",
                                "use a name from capabilities(7), e.g. NET_RAW or CAP_SYS_ADMIN") from None


def every() -> tuple[str, ...]:
    """Every capability this kernel knows (0..cap_last_cap), as names."""
    return tuple(kcaps.name(n) for n in range(min(kcaps.last_cap(), len(kcaps.CAP_NAMES) - 1) + 1))


@dataclass(frozen=True)
class CapSets:
    """The five capability sets of a process, each a frozenset of CAP_* names."""

    bounding: frozenset
    effective: frozenset
    inheritable: frozenset
    permitted: frozenset
    ambient: frozenset

    @classmethod
    def of(cls, names, inheritable=(), ambient=()) -> "CapSets":
        """What Docker gives a root process: ``names`` in bounding, effective and permitted."""
        names = frozenset(canonical(n) for n in names)
        return cls(names, names, frozenset(canonical(n) for n in inheritable), names,
                   frozenset(canonical(n) for n in ambient))

    @classmethod
    def from_oci(cls, caps: dict) -> "CapSets":
        """From config.json's ``process.capabilities`` (a missing set is empty, as in runc)."""
        return cls(**{s: frozenset(canonical(n) for n in caps.get(s, ())) for s in SETS})

    def to_oci(self) -> dict:
        return {s: sorted(getattr(self, s), key=kcaps.number) for s in SETS}

    def masks(self) -> dict[str, int]:
        return {s: kcaps.mask(getattr(self, s)) for s in SETS}

    def for_user(self, uid: int) -> "CapSets":
        """Docker's rule for a non-root ``--user``: it keeps the bounding set, and holds nothing."""
        if uid == 0:
            return self
        return CapSets(self.bounding, frozenset(), self.inheritable & self.bounding, frozenset(), frozenset())

    def __repr__(self) -> str:
        return f"<CapSets effective {kcaps.mask(self.effective):016x}: {len(self.effective)} capabilities>"


def docker_default() -> CapSets:
    return CapSets.of(DOCKER_DEFAULT)


def full() -> CapSets:
    """``--privileged``: every capability the kernel knows."""
    return CapSets.of(every())


def adjust(base: CapSets, add=(), drop=()) -> CapSets:
    """``--cap-add``/``--cap-drop`` on top of ``base`` ("ALL" as Docker accepts it)."""
    names = set(base.effective)
    if any(d.upper() == "ALL" for d in drop):
        names.clear()
    names -= {canonical(d) for d in drop if d.upper() != "ALL"}
    names |= set(every()) if any(a.upper() == "ALL" for a in add) else {canonical(a) for a in add}
    return CapSets.of(names, base.inheritable & names, base.ambient & names)


def of_process(pid: int | str = "self") -> CapSets:
    """The five sets of process ``pid``, read from /proc/PID/status."""
    st = status(pid)
    return CapSets(**{s: frozenset(kcaps.names(int(st[f], 16))) for s, f in STATUS_FIELDS.items()})


def current(k) -> CapSets:
    """Our own five sets, asked of the kernel (capget and prctl), not read from /proc."""
    return CapSets(**{s: frozenset(kcaps.names(m)) for s, m in kcaps.read_all(k).items()})


def apply(sets: CapSets, k) -> None:
    """Make this process's five sets ``sets`` (see kernel/caps.set_all for the order)."""
    m = sets.masks()
    kcaps.set_all(k, m["effective"], m["permitted"], m["inheritable"], m["bounding"], m["ambient"])


__all__ = ["SETS", "DOCKER_DEFAULT", "CapSets", "canonical", "every", "docker_default", "full", "adjust",
           "of_process", "current", "apply"]
