"""From Docker's container config to an OCI bundle's ``config.json``.

``docker run -e GREETING=hi -w /app --user 1000 -m 64m IMAGE cmd`` reaches
the daemon as JSON in Docker's vocabulary (``Env``, ``WorkingDir``,
``User``, ``HostConfig.Memory``...), merged with the image's own config
(its ``Env``, ``Entrypoint``, ``Cmd``, ``WorkingDir``). The runtime knows
none of that: it reads the runtime spec's ``config.json``. This module is
the translation dockerd (with containerd) does, starting from the
runtime's default spec (``labcore runtime spec``):

    Entrypoint + Cmd            process.args    (the request's Cmd replaces the image's; its Entrypoint too)
    image Env, then -e          process.env     (variable by variable, the request's last)
    WorkingDir                  process.cwd
    User "UID[:GID]"            process.user
    Tty                         process.terminal (the shim receives the pty's master), TERM=xterm
    Memory, NanoCpus, PidsLimit linux.resources.memory.limit, cpu quota/period, pids.limit
    Binds (-v HOST:DEST[:ro])   mounts: a recursive bind of the host path, private unless asked
    (Docker's defaults)         14 capabilities, the default seccomp profile, masked /proc paths
    Privileged                  every capability, no seccomp, nothing masked, /sys writable,
                                every device allowed by the devices cgroup

A dict in, a dict out, tested without root; the host is looked at twice: whether a bind's source
exists, and which capabilities this kernel has (``--privileged`` gives them all).
"""

from __future__ import annotations

import os

from .. import tracker
from ..errors import InvalidInputError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000  # microseconds: --cpus 0.5 is a quota of 50 ms every 100 ms


def merge_env(image_env: list[str], asked: list[str]) -> list[str]:
    """The image's Env, overridden variable by variable by the request's; PATH if neither sets it."""
    out: dict[str, str] = {}
    for item in list(image_env) + list(asked):
        key, _, value = item.partition("=")
        out[key] = value
    out.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in out.items()]


def command(image: dict, entrypoint, cmd) -> list[str]:
    """Docker's rule: the request's Entrypoint replaces the image's (and then drops the image's Cmd);
    the request's Cmd replaces the image's Cmd. A string is one word."""
    if entrypoint is None:
        entrypoint = image.get("Entrypoint")
        cmd = cmd or image.get("Cmd")
    words = [entrypoint] if isinstance(entrypoint, str) else list(entrypoint or [])
    return words + ([cmd] if isinstance(cmd, str) else list(cmd or []))


def parse_user(text: str | None) -> dict:
    """``"1000"`` or ``"1000:100"`` -> process.user. Names would need the image's /etc/passwd: refused."""
    parts = (text or "0").split(":")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise InvalidInputError(f"user {text!r}: only a numeric UID[:GID] is supported here",
                                "give --user 1000 or --user 1000:1000")
    return {"uid": int(parts[0]), "gid": int(parts[-1])}


PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def parse_bind(entry) -> dict:
    """One ``-v HOST:DEST[:OPTIONS]`` -> ``{"Source", "Destination", "RW", "Propagation", "Mode"}``, checked.

    Only host paths: a name where the host path goes is a named volume, which the lab's daemon does not
    manage. The host path must exist (Docker's -v would create a missing one as a directory: the lab
    changes nothing of the host on its own)."""
    fix = "give -v /path/on/the/host:/path/in/the/container[:ro]"
    parts = entry.split(":") if isinstance(entry, str) else []
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise InvalidInputError(f"invalid volume specification: {entry!r}", fix)
    source, dest = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    if not source.startswith("/"):
        raise InvalidInputError(f"-v {entry}: {source!r} names a volume; the lab's daemon binds host paths only", fix)
    if not dest.startswith("/") or dest.rstrip("/") == "":
        raise InvalidInputError(f"invalid volume specification: {entry!r}: the destination must be an absolute "
                                "path other than /", fix)
    bad = [o for o in options if o not in ("ro", "rw") + PROPAGATIONS]
    if bad or len([o for o in options if o in ("ro", "rw")]) > 1 or len([o for o in options if o in PROPAGATIONS]) > 1:
        raise InvalidInputError(f"invalid mode {parts[2]!r} in -v {entry}", "ro or rw, and one of " + ", ".join(PROPAGATIONS))
    if not os.path.exists(source):
        raise InvalidInputError(f"bind source path does not exist: {source}",
                                "create it first (the lab's daemon does not create host paths)")
    prop = next((o for o in options if o in PROPAGATIONS), "rprivate")
    return {"Source": os.path.abspath(source), "Destination": dest, "RW": "ro" not in options, "Propagation": prop,
            "Mode": ",".join(o for o in options if o not in PROPAGATIONS)}


def mounts(binds: list) -> list[dict]:
    """config.json's entries for the parsed binds, as dockerd writes them: rbind, then the propagation."""
    return [{"destination": b["Destination"], "type": "bind", "source": b["Source"],
             "options": ["rbind", b["Propagation"]] + ([] if b["RW"] else ["ro"])} for b in binds]


def privileged(oci: dict) -> None:
    """``--privileged``: what Docker gives, in config.json (the host's device nodes are not added to /dev:
    mknod may make them, as the devices cgroup allows every device)."""
    from ..security import capabilities
    caps = list(capabilities.every())
    oci["process"]["capabilities"] = {s: list(caps) for s in ("bounding", "effective", "permitted")}
    linux = oci["linux"]
    linux.pop("seccomp", None)
    linux["maskedPaths"], linux["readonlyPaths"] = [], []
    linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    for m in oci["mounts"]:
        if m["type"] == "sysfs":
            m["options"] = [o for o in m["options"] if o != "ro"]


def security() -> dict:
    """Docker's defaults: its 14 capabilities, and its seccomp profile (the lab's copy of it)."""
    from ..security import capabilities, default_profile
    caps = list(capabilities.DOCKER_DEFAULT)
    return {"capabilities": {s: list(caps) for s in ("bounding", "effective", "permitted")},
            "seccomp": default_profile.profile()}


def config(meta: dict, cid: str) -> dict:
    """The container's config.json (``meta``: what the daemon keeps in container.json)."""
    from ..runtime import spec
    cfg, host = meta["Config"], meta["HostConfig"]
    oci = spec.default([meta["Path"]] + meta["Args"])
    process = oci["process"]
    env = list(cfg["Env"]) + [f"HOSTNAME={cfg['Hostname']}"]
    if cfg.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")  # dockerd's default for a terminal: programs look it up to draw
    process.update(env=env, cwd=cfg.get("WorkingDir") or "/", terminal=bool(cfg.get("Tty")),
                   user=parse_user(cfg.get("User")), noNewPrivileges=False)
    sec = security()
    process["capabilities"] = sec["capabilities"]
    oci["linux"]["seccomp"] = sec["seccomp"]
    oci["root"] = {"path": "rootfs", "readonly": False}
    oci["hostname"] = cfg["Hostname"]
    resources = oci["linux"]["resources"]
    if host.get("Memory"):
        resources["memory"] = {"limit": int(host["Memory"])}
    if host.get("NanoCpus"):
        resources["cpu"] = {"quota": int(host["NanoCpus"]) * CPU_PERIOD // 10**9, "period": CPU_PERIOD}
    if host.get("PidsLimit"):
        resources["pids"] = {"limit": int(host["PidsLimit"])}
    oci["mounts"] += mounts(meta.get("Binds") or [])
    if host.get("Privileged"):
        privileged(oci)
    oci["linux"]["cgroupsPath"] = f"/{tracker.CGROUP_NAME}/docker-{cid[:12]}"
    oci["annotations"] = {"org.labcore.daemon.container": cid}
    return oci


__all__ = ["config", "command", "merge_env", "parse_user", "parse_bind", "mounts", "privileged", "security", "DEFAULT_PATH"]
