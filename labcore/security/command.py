"""``labcore run``'s security switches, named and meaning what ``docker run``'s do.

=====================================  =========================================
option                                 effect on the container's policy
=====================================  =========================================
(none)                                 Docker's default: 14 capabilities, the
                                       default seccomp profile, masked and
                                       read-only /proc paths
``--privileged``                       every capability, no seccomp, nothing
                                       masked: root on the host in all but name
``--cap-add NET_ADMIN``, ``--cap-drop``  one capability more or less (``ALL``)
``--security-opt seccomp=FILE``        another profile (Docker/OCI JSON);
``--security-opt seccomp=unconfined``  no filter at all
``--security-opt no-new-privileges``   setuid binaries no longer raise privileges
``--user UID[:GID]``                   run as that uid: it holds no capability
``--read-only``                        the container's / is mounted read-only
``--rootless``                         a user namespace: uid 0 inside is the
                                       caller's own uid outside (works for an
                                       ordinary user)
=====================================  =========================================
"""

from __future__ import annotations

import argparse

from ..errors import InvalidInputError


def add_arguments(run: argparse.ArgumentParser) -> None:
    """Add the security options to ``labcore run``'s parser."""
    g = run.add_argument_group("security (as docker run)")
    g.add_argument("--privileged", action="store_true",
                   help="every capability, no seccomp filter, no masked paths")
    g.add_argument("--cap-add", action="append", default=[], metavar="CAP", help="add a capability (e.g. NET_ADMIN, ALL)")
    g.add_argument("--cap-drop", action="append", default=[], metavar="CAP", help="drop a capability (e.g. NET_RAW, ALL)")
    g.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                   help="seccomp=PROFILE.json|unconfined, or no-new-privileges")
    g.add_argument("--user", "-u", metavar="UID[:GID]", help="run the command as this numeric uid (and gid)")
    g.add_argument("--read-only", action="store_true", help="mount the container's root filesystem read-only")
    g.add_argument("--rootless", action="store_true",
                   help="add a user namespace: root inside, your own uid outside (works without root)")


def policy(args):
    """The ``labcore.security.Policy`` the options ask for (bad values: InvalidInputError, nothing created)."""
    from dataclasses import replace

    from . import capabilities, seccomp
    from .policy import Policy
    base = Policy.privileged() if args.privileged else Policy.docker_default()
    sets = capabilities.adjust(base.capabilities, args.cap_add, args.cap_drop)
    pol = replace(base, capabilities=sets, readonly_rootfs=args.read_only)
    for opt in args.security_opt:
        key, _, value = opt.partition("=")
        if key == "no-new-privileges" and value in ("", "true"):
            pol = replace(pol, no_new_privileges=True)
        elif key == "seccomp" and value == "unconfined":
            pol = replace(pol, seccomp=None)
        elif key == "seccomp" and value:
            pol = replace(pol, seccomp=seccomp.Profile.from_json(value))
        else:
            raise InvalidInputError(f"unknown --security-opt {opt!r}",
                                    "use seccomp=PROFILE.json, seccomp=unconfined or no-new-privileges")
    if args.user:
        uid, _, gid = args.user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise InvalidInputError(f"--user {args.user!r}: not UID[:GID]", "give numbers, e.g. --user 1000:1000")
        pol = pol.with_user(int(uid), int(gid) if gid else None)
    return pol


def namespaces(args, kinds: str) -> str:
    """``--rootless`` puts a user namespace first in the requested kinds."""
    names = [k for k in kinds.split(",") if k.strip()]
    return ",".join(["user", *[k for k in names if k != "user"]]) if args.rootless else kinds


__all__ = ["add_arguments", "policy", "namespaces"]
