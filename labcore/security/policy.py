"""A security policy: everything a runtime takes away from a container, and the order it does it in.

``Policy`` mirrors the OCI runtime spec's fields (see the package
docstring for the table). ``prepare`` does the work that may fail on bad
input, in the parent, before any process exists: names checked, the seccomp
profile resolved for the container's capabilities and compiled by
libseccomp. ``apply`` runs in the container's PID 1, after its namespaces,
mounts and hostname are set up, as the last steps before execve(2):

1. fresh /sys, masked paths, read-only paths, read-only root: mounts need
   CAP_SYS_ADMIN, so they come while we still hold it;
2. seccomp now if no_new_privs is *not* asked: loading a filter without
   no_new_privs needs CAP_SYS_ADMIN, which step 4 takes away (runc's order);
3. the bounding set is cut (needs CAP_SETPCAP), then the uid/gid switch
   (``--user``; a switch away from uid 0 empties the permitted set);
4. capset of effective/permitted/inheritable, then the ambient set;
5. no_new_privs;
6. seccomp now if no_new_privs is asked: the filter then covers as little
   of the runtime's own code as possible.

Whatever runs between the filter and execve must be allowed by the filter
(Docker's default allows capset, setresuid, prctl, close and execve).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import InvalidInputError
from ..kernel import caps as kcaps
from . import capabilities, no_new_privs, paths
from . import seccomp as scmp
from .capabilities import CapSets


@dataclass(frozen=True)
class Policy:
    """What a container keeps. ``Policy.docker_default()`` is ``docker run``'s."""

    capabilities: CapSets = field(default_factory=capabilities.docker_default)
    no_new_privileges: bool = False
    seccomp: scmp.Profile | None = None           # None: unconfined
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    user: tuple[int, int, tuple[int, ...]] | None = None  # (uid, gid, additional gids); None: stay root
    readonly_rootfs: bool = False

    @classmethod
    def docker_default(cls) -> "Policy":
        """14 capabilities, the default seccomp profile, Docker's masked and read-only paths."""
        return cls(capabilities.docker_default(), False, scmp.load_default(), paths.MASKED, paths.READONLY)

    @classmethod
    def privileged(cls) -> "Policy":
        """``--privileged``: every capability, no seccomp, nothing masked. Root on the host, in effect."""
        return cls(capabilities.full(), False, None, (), ())

    @classmethod
    def from_oci(cls, config: dict) -> "Policy":
        """From a config.json: process.capabilities/noNewPrivileges/user, linux.seccomp/maskedPaths/readonlyPaths, root.readonly."""
        process, linux = config.get("process") or {}, config.get("linux") or {}
        user = process.get("user")
        return cls(CapSets.from_oci(process.get("capabilities") or {}),
                   bool(process.get("noNewPrivileges")),
                   scmp.Profile.from_json(linux["seccomp"], "config.json's linux.seccomp") if linux.get("seccomp") else None,
                   tuple(linux.get("maskedPaths") or ()), tuple(linux.get("readonlyPaths") or ()),
                   (int(user.get("uid", 0)), int(user.get("gid", 0)), tuple(user.get("additionalGids") or ()))
                   if user else None,
                   bool((config.get("root") or {}).get("readonly")))

    def with_user(self, uid: int, gid: int | None = None) -> "Policy":
        if uid < 0 or (gid is not None and gid < 0):
            raise InvalidInputError(f"bad user {uid}:{gid}", "give --user UID[:GID] with numbers >= 0")
        return replace(self, user=(uid, uid if gid is None else gid, ()))

    def __repr__(self) -> str:
        sec = "unconfined" if self.seccomp is None else (self.seccomp.source or "a profile")
        return (f"<Policy {len(self.capabilities.effective)} capabilities, seccomp {sec}, "
                f"no_new_privs {self.no_new_privileges}, {len(self.masked_paths)} masked, "
                f"{len(self.readonly_paths)} read-only paths>")


@dataclass
class Prepared:
    """A policy checked and compiled, ready for ``apply`` in the child."""

    policy: Policy
    sets: CapSets                          # the capabilities the command starts with (after --user)
    filter: scmp.Compiled | None
    fresh_sysfs: bool = False              # a new net and mnt namespace: mount a sysfs that shows ours
    mounts: bool = True                    # a mount namespace of its own: the path steps may mount

    @property
    def skipped(self) -> list[str]:
        """Syscall names of the profile this libseccomp does not know (skipped, as runc does)."""
        return self.filter.skipped if self.filter else []


def prepare(policy: Policy, fresh_sysfs: bool = False, mounts: bool = True) -> Prepared:
    """Check the policy and compile its seccomp filter (in the parent: errors before anything exists).

    ``mounts`` False (no mount namespace of its own): the masked and read-only paths are left
    out, since they would be mounted on the host.
    """
    uid = policy.user[0] if policy.user else 0
    sets = policy.capabilities.for_user(uid)
    compiled = None
    if policy.seccomp is not None:
        # Docker resolves includes.caps against the container's capabilities (its effective set).
        compiled = scmp.compile(policy.seccomp, set(policy.capabilities.effective))
    return Prepared(policy, sets, compiled, fresh_sysfs and mounts, mounts)


def apply(prep: Prepared, k) -> None:
    """In the container's PID 1, just before execve: take away what the policy says (module docstring)."""
    pol = prep.policy
    if prep.fresh_sysfs:
        paths.fresh_sysfs(k, readonly=bool(pol.readonly_paths))
    for path in pol.masked_paths if prep.mounts else ():
        paths.mask(path, k)
    for path in pol.readonly_paths if prep.mounts else ():
        paths.read_only(path, k)
    if pol.readonly_rootfs and prep.mounts:
        paths.readonly_root(k)
    if prep.filter and not pol.no_new_privileges:
        k.load_seccomp(prep.filter.bpf)
    # A process cannot grant what it does not hold: --privileged means "all of ours" (a host may lack some).
    held = k.capget(0)[1]
    masks = {s: m & held if s != "bounding" else m for s, m in prep.sets.masks().items()}
    kcaps.drop_bounding(k, masks["bounding"])
    if pol.user:
        uid, gid, groups = pol.user
        k.setgroups(list(groups))
        k.setresgid(gid, gid, gid)
        k.setresuid(uid, uid, uid)
    kcaps.set_all(k, masks["effective"], masks["permitted"], masks["inheritable"], masks["bounding"], masks["ambient"])
    if pol.no_new_privileges:
        no_new_privs.set_no_new_privs(k)
    if prep.filter and pol.no_new_privileges:
        k.load_seccomp(prep.filter.bpf)


__all__ = ["Policy", "Prepared", "prepare", "apply"]
