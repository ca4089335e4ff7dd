"""Container security: what stops root inside a container from being root on the host.

Namespaces decide what a process can *see*; they do not decide what it may
*do*. A process that is uid 0 with every capability can still mount the
host's disk, load a kernel module or reboot the machine from inside a pid
namespace. A container runtime therefore closes several independent doors,
each checked by a different part of the kernel, just before it execs the
container's command:

==========================  =================================================
layer (module here)         what it stops, and who checks
==========================  =================================================
capabilities                root's powers split into ~41 bits; the kernel asks
(``capabilities.py``)       "does this process hold CAP_SYS_ADMIN?" rather than
                            "is it uid 0?". Docker keeps 14 of them.
no_new_privs                a setuid-root binary (or file capabilities) no
(``no_new_privs.py``)       longer raises privileges at execve(2); inherited
                            by every child, never cleared.
seccomp                     a BPF filter run on *every* system call: it sees the
(``seccomp.py``)            call's number and raw arguments and answers allow,
                            EPERM, kill... Docker's default allows ~360 calls.
                            It runs before any permission check, and it is
                            not an LSM.
masked / read-only paths    /proc and /sys files that describe or change the
(``paths.py``)              whole machine, hidden (/dev/null mounted over them)
                            or remounted read-only.
user namespaces             uid 0 inside is an ordinary uid outside: even an
(``userns.py``)             escape lands as nobody (rootless containers).
LSMs (``lsm.py``)           AppArmor, SELinux...: policy by path or label,
                            asked by hooks deep in the kernel after the DAC
                            and capability checks.
==========================  =================================================

The public API: one ``Policy`` describes all of it, field for field as the
OCI runtime spec's ``config.json`` does, so a runtime maps a config onto it
directly (``Policy.from_oci(config)``):

===============================================  ==============================
config.json                                      Policy
===============================================  ==============================
``process.capabilities.{bounding,effective,       ``capabilities`` (a ``CapSets``
inheritable,permitted,ambient}``                  of five sets of CAP_* names)
``process.noNewPrivileges``                      ``no_new_privileges``
``linux.seccomp`` (Docker's profile JSON is a     ``seccomp`` (a ``seccomp.Profile``,
superset of it)                                   or None: unconfined)
``linux.maskedPaths``                            ``masked_paths``
``linux.readonlyPaths``                          ``readonly_paths``
``process.user.{uid,gid,additionalGids}``        ``user`` (uid, gid, groups)
``root.readonly``                                ``readonly_rootfs``
===============================================  ==============================

``Policy.docker_default()`` is what ``docker run`` gives (and every lab
container: ``labcore run``, the image builder's RUN steps);
``Policy.privileged()`` is ``--privileged``. ``labcore.spawn(...,
security=policy)`` starts a process under a policy; without ``security``
spawn changes nothing (the namespace chapters need root's full powers).

The other modules: ``default_profile.py`` (the lab's own default seccomp
profile, Docker's in effect), ``policy.py`` (Policy, prepare, apply),
``command.py`` (``labcore run``'s switches), ``rootless.py`` (a rootless
container started by an ordinary user, seen from the host). The system
calls themselves go through ``labcore/kernel/`` (``caps.py`` for the five
capability sets, ``seccomp.py`` for libseccomp).

In the child, ``apply(prepared, k)`` carries the policy out in runc's order,
last before execve(2): paths first (mounting needs CAP_SYS_ADMIN), then the
user and the capability sets, then no_new_privs, then the seccomp filter,
which must allow whatever runs between it and execve. The filter is compiled
by libseccomp in the parent (``prepare``), so a bad profile is reported
before anything is created, and the forked child only loads it.
"""

from __future__ import annotations

from .policy import Policy, Prepared, apply, prepare

__all__ = ["Policy", "Prepared", "prepare", "apply"]
