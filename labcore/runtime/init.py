"""The container's first process, from fork to exec (runc calls it ``runc init``).

``create`` forks twice, because a new pid namespace only applies to the
*children* of the process that unshares it::

    create (runtime) ── fork ──> stage 1: join namespaces by path (setns), make the new ones
                                  (unshare; a user namespace first, while create writes its
                                  uid_map and gid_map), then fork again and exit
                                   └── fork ──> stage 2, the init: PID 1 of the new pid namespace

The init then waits for create's "go" (create has put it into its cgroups,
set its rlimits and oom_score_adj and run the createRuntime hooks), builds
the filesystem (``rootfs.py``), sets the hostname and sysctls, says "ready"
and blocks reading the **exec fifo** ``ROOT/ID/exec.fifo``, which create
opened read-write before forking (so neither pivot_root nor a user
namespace's unprivileged uid stands between the init and the file). ``create``
returns; the container is "created". ``start`` writes one byte into the
fifo: the init becomes ``process.user``, changes into ``process.cwd`` and
execs ``process.args`` with ``process.env``, keeping the stdin, stdout and
stderr that ``create`` was given.

The two processes talk to ``create`` through pipes, one line per message;
any failure before "ready" is sent up as ``error: ...`` and becomes create's
LabError. See namespaces(7), user_namespaces(7), pid_namespaces(7).
"""

from __future__ import annotations

import os
import signal
import sys

from .. import kernel
from ..kernel import flags as F
from . import hooks, rootfs
from .config import NAMESPACES

CLONE = {"pid": F.CLONE_NEWPID, "network": F.CLONE_NEWNET, "mount": F.CLONE_NEWNS, "ipc": F.CLONE_NEWIPC,
         "uts": F.CLONE_NEWUTS, "user": F.CLONE_NEWUSER, "cgroup": F.CLONE_NEWCGROUP, "time": F.CLONE_NEWTIME}
PR_SET_KEEPCAPS = 8  # prctl(2): keep the permitted capabilities across a setuid away from 0 (cleared by execve)
NOT_YET_APPLIED = ("process.capabilities", "process.noNewPrivileges", "linux.seccomp", "process.apparmorProfile",
                   "process.selinuxLabel")


class Channel:
    """One line-based pipe each way between create and a child."""

    def __init__(self):
        self.up_r, self.up_w = os.pipe()      # child -> create
        self.down_r, self.down_w = os.pipe()  # create -> child
        self._buf = b""

    def send_up(self, text: str) -> None:
        os.write(self.up_w, text.encode() + b"\n")

    def send_down(self, text: str) -> None:
        os.write(self.down_w, text.encode() + b"\n")

    def _line(self, fd: int) -> str:
        while b"\n" not in self._buf:
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""  # the other side is gone
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def from_child(self) -> str:
        return self._line(self.up_r)

    def from_create(self) -> str:
        return self._line(self.down_r)

    def child_side(self) -> None:
        os.close(self.up_r)
        os.close(self.down_w)

    def parent_side(self) -> None:
        os.close(self.up_w)
        os.close(self.down_r)


def _fail(ch: Channel, exc: BaseException) -> None:
    import traceback  # only on a failure: every create would load it (and textwrap, linecache) for nothing
    text = str(exc) if isinstance(exc, (OSError, ValueError)) or hasattr(exc, "what") else \
        "".join(traceback.format_exception_only(type(exc), exc)).strip()
    try:
        ch.send_up("error: " + text.replace("\n", " "))
    finally:
        os._exit(1)


def stage1(cfg: dict, ch: Channel, fifo_fd: int) -> None:
    """In the first child: namespaces, then fork the init. Never returns."""
    k = kernel.default()
    try:
        ch.child_side()
        if ch.from_create() != "go":  # create has put us into the cgroups: all we start is counted
            os._exit(1)
        namespaces = (cfg.get("linux") or {}).get("namespaces") or []
        joined = [ns for ns in namespaces if ns.get("path")]
        # A user namespace is joined first: the others are owned by it and setns into them needs its powers.
        for ns in sorted(joined, key=lambda n: n["type"] != "user"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                k.setns(fd, CLONE[ns["type"]], what=ns["path"])
            finally:
                os.close(fd)
        new = {ns["type"] for ns in namespaces if not ns.get("path")}
        if "user" in new:
            k.unshare(F.CLONE_NEWUSER)
            ch.send_up("userns")
            if ch.from_create() != "mapped":
                os._exit(1)
            k.setresgid(0, 0, 0)
            k.setresuid(0, 0, 0)
        flags = 0
        for kind in new - {"user"}:
            flags |= CLONE[kind]
        if flags:
            k.unshare(flags)
        pid = k.fork()
        if pid == 0:
            stage2(cfg, ch, fifo_fd, in_userns="user" in {n["type"] for n in namespaces})
        ch.send_up(f"pid {pid}")
        os._exit(0)
    except BaseException as exc:
        _fail(ch, exc)


def stage2(cfg: dict, ch: Channel, fifo_fd: int, in_userns: bool) -> None:
    """The init: wait for go, build the container, wait on the fifo, exec. Never returns."""
    k = kernel.default()
    try:
        if ch.from_create() != "go":
            os._exit(1)
        linux = cfg.get("linux") or {}
        kinds = {ns["type"] for ns in linux.get("namespaces") or []}
        if "mount" in kinds:
            rootfs.prepare(k, cfg, in_userns)
            hooks.run(cfg, "createContainer", _state(cfg, "created"))
            rootfs.finish(k, cfg)
        else:
            k.chroot(cfg["root"]["path"])
        if cfg.get("_console_fd") is not None:  # inside the root now: the pty is one of the container's devpts
            from . import console
            console.setup(k, cfg["_console_fd"], cfg.get("process") or {})
        if "uts" in kinds and cfg.get("hostname"):
            k.sethostname(cfg["hostname"])
        for key, value in (linux.get("sysctl") or {}).items():
            k.write("/proc/sys/" + key.replace(".", "/"), value)
        ch.send_up("ready")
        os.close(ch.up_w)
        os.close(ch.down_r)
    except BaseException as exc:
        _fail(ch, exc)
    # Created: wait here until `start` writes into the fifo.
    try:
        if os.read(fifo_fd, 1) == b"":
            os._exit(1)
        # The fifo stays open (close-on-exec): `start` takes its closing for the exec and only then runs
        # the poststart hooks, so startContainer must have run by the time it closes.
        hooks.run(cfg, "startContainer", _state(cfg, "running"))
        become(cfg, k)
    except BaseException as exc:
        print(f"labcore runtime: cannot start the container's process: {exc}", file=sys.stderr)
        os._exit(127)


def _state(cfg: dict, status: str) -> dict:
    return {"ociVersion": cfg.get("ociVersion"), "id": cfg.get("_id", ""), "status": status, "pid": os.getpid(),
            "bundle": cfg.get("_bundle", ""), "annotations": cfg.get("annotations") or {}}


def become(cfg: dict, k) -> None:
    """process.user, cwd, env, capabilities, no_new_privs, seccomp, then exec process.args.

    The last steps are ``labcore.security.apply`` (prepared by create, in the
    parent, so a bad seccomp profile failed before anything was made): the
    user, the five capability sets, no_new_privs and last the seccomp filter,
    which then only has to allow execve(2).
    """
    process = cfg.get("process") or {}
    user = process.get("user") or {}
    k.chdir(process.get("cwd") or "/")
    if user.get("umask") is not None:
        os.umask(user["umask"])
    env = dict(e.split("=", 1) for e in process.get("env") or [] if "=" in e)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # Python ignores or handles these; exec keeps ignores
        k.default_signal(sig)
    args = process.get("args") or []
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    prepared = cfg.get("_security")
    if prepared is not None:
        from .. import security
        # Keep the permitted set through setresuid to a non-root uid (it would be emptied, and then no
        # capability of process.capabilities could be given back to that user); runc does the same.
        k.prctl(PR_SET_KEEPCAPS, 1)
        security.apply(prepared, k)  # also becomes process.user
    else:
        uid, gid = user.get("uid", 0), user.get("gid", 0)
        k.setgroups([int(g) for g in user.get("additionalGids") or []])
        k.setresgid(gid, gid, gid)
        k.setresuid(uid, uid, uid)
    k.execve(args[0], args, env)


def prepare_security(cfg: dict):
    """labcore.security's Prepared for this config (paths are done by rootfs.py), or None if absent."""
    try:
        from .. import security
    except ImportError:
        return None
    # The masked and read-only paths and the read-only root are rootfs.py's; the policy does the rest.
    policy = security.Policy.from_oci(cfg)
    prepared = security.prepare(policy, mounts=False)
    # Docker empties a non-root user's sets; an OCI runtime gives exactly the five sets config.json lists
    # (the ambient set is how a non-root process keeps capabilities through execve).
    prepared.sets = policy.capabilities
    return prepared


def not_applied(cfg: dict) -> list[str]:
    """The security fields config.json asks for that this runtime does not apply (said out loud)."""
    process, linux = cfg.get("process") or {}, cfg.get("linux") or {}
    asked = {"process.capabilities": process.get("capabilities"), "process.noNewPrivileges": process.get("noNewPrivileges"),
             "linux.seccomp": linux.get("seccomp"), "process.apparmorProfile": process.get("apparmorProfile"),
             "process.selinuxLabel": process.get("selinuxLabel")}
    done = () if cfg.get("_security") is None else ("process.capabilities", "process.noNewPrivileges", "linux.seccomp")
    return [name for name in NOT_YET_APPLIED if asked.get(name) and name not in done]


__all__ = ["Channel", "stage1", "stage2", "become", "not_applied", "prepare_security", "CLONE", "NAMESPACES"]
