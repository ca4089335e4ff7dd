"""The daemon's containers: what ``docker create`` makes, ``start`` runs, ``rm`` removes.

A container, to Docker, is more than a process: it exists before it runs
and after it stops, with a name, a configuration, a writable layer and a
log. Each one here is a directory under the state directory::

    STATE/daemon/containers/ID/container.json   name, Config, HostConfig, image, when created and started
    STATE/daemon/containers/ID/config.json      the OCI bundle's config (written on start)
    STATE/daemon/containers/ID/rootfs/          the bundle's root: the overlay, mounted while it runs
    STATE/daemon/containers/ID/container-json.log   what it wrote (the shim writes, labcore.daemon.logs)
    STATE/daemon/containers/ID/shim.json        the shim's PID and start time (the shim writes it)
    STATE/daemon/containers/ID/exit.json        exit code, OOM kill, when (the shim writes it)
    STATE/daemon/containers/ID/shim.sock        the shim's socket while it runs: stdin, terminal size (stdio.py)
    STATE/daemon/containers/ID/network.json     its netns, address and published ports while it runs (network.py)
    DATA/lab-ctr-ID12/upper, work               the writable layer, on disk
    .removing-ID, .removing-lab-ctr-ID12        both, once removed: renamed at once, deleted by a thread

Its status is read from those files and the processes they name, never
kept in the daemon's memory: that is what lets a daemon killed with
SIGKILL and started again find every container as it was (``live
restore``). No exit.json and no shim.json: "created"; a shim alive and no
exit.json: "running"; exit.json: "exited".

``start`` mounts the overlay (the image's layers under the container's
upper dir), writes config.json (the runtime's default spec, filled in from
the image config's Env, Cmd, Entrypoint and WorkingDir and the create
request's: ``bundle.py``; with ``-p`` or ``--network``, the namespace
``network.py`` wired for it, joined by path), and hands the container to a
shim (``labcore.daemon.shim``), one started ahead in a session of its own
(``spare.py``). The tracker records of the directories and the mount pass to the
shim while it runs (``labcore cleanup`` spares a running container), and
back to the daemon when it has exited.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError, LabError
from ..proc.stat import is_running, process_start_time
from . import bundle, images, logs, restart, spare
from . import network as net
from .images import Conflict, NotFound  # 404 and 409; Conflict lives there so network.py can raise it too


def base() -> Path:
    return tracker.state_dir() / "daemon"


def containers_dir() -> Path:
    return base() / "containers"


def runtime_root() -> Path:
    """The runtime's --root for the daemon's containers (containerd uses /run/containerd/runc/NAMESPACE)."""
    return base() / "runtime"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.rename(path)  # atomic: a reader sees the old file or the new one


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


class Container:
    """One container's directory, and what its files say."""

    def __init__(self, cid: str):
        self.id = cid
        self.dir = containers_dir() / cid
        self.meta: dict = _read_json(self.dir / "container.json") or {}

    def __repr__(self) -> str:
        return f"<Container {self.id[:12]} {self.name} {self.status()}>"

    @property
    def name(self) -> str:
        return self.meta.get("Name", "")

    @property
    def log(self) -> Path:
        return self.dir / "container-json.log"

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    @property
    def layer_dir(self) -> Path:
        return tracker.data_dir() / f"{tracker.PREFIX}ctr-{self.id[:12]}"

    def exists(self) -> bool:
        return (self.dir / "container.json").exists()

    def shim(self) -> dict | None:
        return _read_json(self.dir / "shim.json")

    def exit(self) -> dict | None:
        return _read_json(self.dir / "exit.json")

    def shim_alive(self) -> bool:
        s = self.shim()
        return bool(s) and is_running(s["pid"], s.get("start_time"))

    def status(self) -> str:
        if self.exit() is not None:
            return "exited"
        if self.shim() is None:
            return "created"
        return "running" if self.shim_alive() else "dead"  # a shim killed before it could write exit.json

    def pid(self) -> int:
        s = self.shim() or {}
        return int(s.get("container_pid") or 0) if self.status() == "running" else 0

    def save(self) -> None:
        _write_json(self.dir / "container.json", self.meta)

    # --- what the API shows ------------------------------------------------------------
    def state(self) -> dict:
        status, ex = self.status(), self.exit() or {}
        return {"Status": status, "Running": status == "running", "Paused": False, "Restarting": bool(self.meta.get("Restarting")),
                "OOMKilled": bool(ex.get("OOMKilled")), "Dead": status == "dead", "Pid": self.pid(),
                "ExitCode": int(ex.get("ExitCode", 0 if status != "dead" else 255)), "Error": ex.get("Error", ""),
                "StartedAt": self.meta.get("StartedAt") or "0001-01-01T00:00:00Z",
                "FinishedAt": ex.get("FinishedAt") or "0001-01-01T00:00:00Z"}

    def inspect(self) -> dict:
        """``GET /containers/ID/json`` (``docker inspect``)."""
        m = self.meta
        return {"Id": self.id, "Created": m["Created"], "Path": m["Path"], "Args": m["Args"], "State": self.state(),
                "Image": m["Image"], "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "",
                "LogPath": str(self.log), "Name": "/" + self.name, "RestartCount": m.get("RestartCount", 0), "Driver": "overlay2",
                "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
                "ExecIDs": None, "HostConfig": m["HostConfig"], "Mounts": self.mounts(), "Config": m["Config"],
                "GraphDriver": {"Name": "overlay2", "Data": {
                    "LowerDir": ":".join(m.get("LowerDirs", [])), "UpperDir": str(self.layer_dir / "upper"),
                    "WorkDir": str(self.layer_dir / "work"), "MergedDir": str(self.rootfs)}},
                "NetworkSettings": self.network_settings()}

    def legacy_network(self) -> bool:
        """Created without --network and -p: the runtime's own empty namespace (labcore.daemon.network)."""
        return (self.meta.get("Network") or {"legacy": True}).get("legacy", False)

    def network_settings(self) -> dict:
        if self.legacy_network():
            return {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {},
                    "IPAddress": "", "Gateway": "", "MacAddress": ""}
        return net.settings(self, self.status() == "running")

    def summary(self) -> dict:
        """One entry of ``GET /containers/json`` (``docker ps``)."""
        m, status = self.meta, self.status()
        return {"Id": self.id, "Names": ["/" + self.name], "Image": m["ImageName"], "ImageID": m["Image"],
                "Command": " ".join([m["Path"]] + m["Args"]), "Created": int(m["CreatedEpoch"]),
                "Ports": net.summary_ports(self, status == "running"), "Labels": m["Config"].get("Labels") or {},
                "State": status, "Status": self.status_text(status),
                "HostConfig": {"NetworkMode": m["HostConfig"].get("NetworkMode", "none")},
                "NetworkSettings": {"Networks": {} if self.legacy_network() else
                                    net.settings(self, status == "running")["Networks"]}, "Mounts": self.mounts()}

    def mounts(self) -> list[dict]:
        """``Mounts`` in inspect and ps: its binds (-v), in Docker's shape."""
        return [{"Type": "bind", "Source": b["Source"], "Destination": b["Destination"], "Mode": b["Mode"],
                 "RW": b["RW"], "Propagation": b["Propagation"]} for b in self.meta.get("Binds") or []]

    def status_text(self, status: str) -> str:
        """``Up 3 seconds``, ``Exited (0) 2 seconds ago``: what ``docker ps`` prints."""
        if status == "running":
            return "Up " + _ago(time.time() - self.meta.get("StartedEpoch", time.time()))
        if status == "exited":
            ex = self.exit() or {}
            return f"Exited ({ex.get('ExitCode', 0)}) {_ago(time.time() - ex.get('FinishedEpoch', time.time()))} ago"
        return "Created" if status == "created" else "Dead"


def _ago(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    if s < 3600:
        return f"{s // 60} minute{'s' if s >= 120 else ''}"
    return f"{s // 3600} hour{'s' if s >= 7200 else ''}"


# --- lookups ---------------------------------------------------------------------------
def every() -> list[Container]:
    d = containers_dir()
    found = [Container(p.name) for p in sorted(d.iterdir()) if not p.name.startswith(ASIDE)] if d.is_dir() else []
    return sorted([c for c in found if c.exists()], key=lambda c: c.meta.get("CreatedEpoch", 0), reverse=True)


def find(ref: str) -> Container:
    """A container by full ID, name (``/`` or not) or a unique ID prefix, as Docker looks them up."""
    every_one = every()
    for c in every_one:
        if c.id == ref or c.name == ref.lstrip("/"):
            return c
    hits = [c for c in every_one if ref and c.id.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InvalidInputError(f"multiple containers found with provided prefix: {ref}", "give more of the ID")
    raise NotFound(f"No such container: {ref}", "docker ps -a lists the containers")


# --- create ----------------------------------------------------------------------------
def create(body: dict, name: str | None = None) -> Container:
    """``POST /containers/create``: check the request, resolve the image, make the container's directories."""
    if not isinstance(body, dict):
        raise InvalidInputError("the request body is not a JSON object", "send the container's config")
    image = images.find(body.get("Image") or "")
    if name:
        name = name.lstrip("/")
        if not _valid_name(name):
            raise InvalidInputError(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                                    "pick another name")
        if any(c.name == name for c in every()):
            raise Conflict(f'Conflict. The container name "/{name}" is already in use', "remove it, or pick another name")
    host = body.get("HostConfig") or {}
    img = image.config
    argv = bundle.command(img, body.get("Entrypoint"), body.get("Cmd"))
    if not argv:
        raise InvalidInputError("No command specified", "give one after the image, or build the image with CMD")
    env = bundle.merge_env(img.get("Env") or [], body.get("Env") or [])
    user = body.get("User") or img.get("User", "")
    bundle.parse_user(user)  # refused now, not at start
    binds = [bundle.parse_bind(b) for b in host.get("Binds") or []]
    if host.get("Mounts"):
        raise InvalidInputError("--mount is not supported by the lab's daemon", "give -v HOST_PATH:DEST[:ro]")
    # -p and --network, checked in Docker's words. Whether the network or the container to join exists
    # is seen at start, as dockerd does (a 404 here would make the docker CLI try to pull the image).
    network, warnings = net.plan(body)
    policy = restart.parse(host.get("RestartPolicy"))  # --restart (labcore.daemon.restart)
    if policy["Name"] != "no" and host.get("AutoRemove"):
        raise InvalidInputError("can't create 'AutoRemove' container with restart policy", "use --rm or --restart")
    cid = secrets.token_hex(32)
    config = {"Hostname": cid[:12], "Domainname": "", "User": user,
              # -i: OpenStdin (the shim keeps a stdin pipe), StdinOnce (closed when the attached client's input
              # ends); -t: Tty (a pty, labcore.daemon.stdio)
              "AttachStdin": bool(body.get("AttachStdin")), "AttachStdout": bool(body.get("AttachStdout")),
              "AttachStderr": bool(body.get("AttachStderr")), "Tty": bool(body.get("Tty")),
              "OpenStdin": bool(body.get("OpenStdin")), "StdinOnce": bool(body.get("StdinOnce")),
              "Env": env, "Cmd": body.get("Cmd") or (img.get("Cmd") if body.get("Entrypoint") is None else None),
              "Image": body.get("Image"), "Volumes": None,
              "WorkingDir": body.get("WorkingDir") or img.get("WorkingDir", ""), "Entrypoint": body.get("Entrypoint") or img.get("Entrypoint"),
              "OnBuild": None, "Labels": body.get("Labels") or {}}
    if network["ExposedPorts"]:
        config["ExposedPorts"] = network["ExposedPorts"]
    hostconfig = {"AutoRemove": bool(host.get("AutoRemove")), "Memory": int(host.get("Memory") or 0),
                  "NanoCpus": int(host.get("NanoCpus") or 0), "PidsLimit": host.get("PidsLimit"),
                  "NetworkMode": "none", "LogConfig": {"Type": "json-file", "Config": {}},
                  "RestartPolicy": policy, "Privileged": bool(host.get("Privileged")),
                  "Binds": list(host.get("Binds") or []) or None}
    if not network["Legacy"]:
        hostconfig.update(NetworkMode=network["NetworkMode"], PortBindings=network["PortBindings"])
    c = Container(cid)
    now = time.time()
    c.meta = {"Id": cid, "Name": name or _random_name(), "Created": logs.timestamp(now), "CreatedEpoch": now,
              "Path": argv[0], "Args": argv[1:], "Image": image.id, "ImageName": body.get("Image"),
              "LowerDirs": [str(d) for d in image.lowerdirs()], "Config": config, "HostConfig": hostconfig,
              "Binds": binds,
              "Network": {"legacy": network["Legacy"], "bindings": network["Bindings"]}}
    c.warnings = warnings
    containers_dir().mkdir(parents=True, exist_ok=True, mode=0o711)
    made = []
    try:
        for path in (c.dir, c.layer_dir):
            with tracker.default().created("path", path, what="container", container=cid) as rec:
                path.mkdir(mode=0o711)
            made.append(rec)
        for sub in ("upper", "work"):
            (c.layer_dir / sub).mkdir()
        c.rootfs.mkdir()
        c.save()
    except BaseException:
        for rec in made:
            tracker.default().undo(rec)
        raise
    return c


def _valid_name(name: str) -> bool:
    import re
    return bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name))


def _random_name() -> str:
    return f"lab_{secrets.token_hex(3)}"  # Docker picks adjective_scientist; any unique name works


# --- start -----------------------------------------------------------------------------
def records_of(c: Container) -> list[tracker.Record]:
    """The tracker records of a container's directories and mount."""
    targets = {str(c.dir), str(c.layer_dir), str(c.rootfs)}
    return [r for r in tracker.default().records() if r.kind in ("path", "mount") and r.target in targets]


def hand(recs: list[tracker.Record], pid: int, start: int | None) -> None:
    """Make ``pid`` the owner of the records: cleanup spares them while it runs."""
    for rec in recs:
        rec.owner, rec.owner_start = pid, start
        tracker.default().update(rec)


def start(c: Container) -> subprocess.Popen:
    """Mount the root, write the bundle, start the shim; returns once the container's process runs."""
    from ..fs import overlay as ov
    status = c.status()
    if status == "running":
        raise Conflict(f"container {c.id[:12]} is already running", "stop it first")
    if status in ("exited", "dead"):
        _reset(c)  # started again (docker start): same writable layer, a new process and shim
    lower = [Path(p) for p in c.meta["LowerDirs"]]
    mounted = ov.mount(lower, c.rootfs, c.layer_dir / "upper", c.layer_dir / "work")
    try:
        network = net.attach(c, every())  # the netns wired before the runtime runs (None: the runtime makes one)
    except BaseException:
        mounted.unmount()
        raise
    try:
        _write_json(c.dir / "config.json", net.apply(bundle.config(c.meta, c.id), network))
        taken = spare.take(runtime_root())  # a shim started ahead, waiting for its container (spare.py)
    except BaseException:
        net.detach(c, every())
        mounted.unmount()
        raise
    shim, ready_r = taken.proc, taken.ready_r  # the shim writes a byte on ready_r once the container runs
    shim.news_fd = None  # set once the container runs: the watcher's, to learn when the shim is done
    try:
        started = taken.record.extra["start_time"]
        taken.record.extra["container"] = c.id  # written with its new owner, below
        hand(records_of(c) + net.records(c.id) + [taken.record], shim.pid, started)
        net.hold_default(c, shim.pid, started)  # the shim owns the container's objects while it runs
        c.meta["StartedAt"], c.meta["StartedEpoch"] = logs.timestamp(), time.time()
        c.save()
        # The gate: until this line the shim knew no container, and its record was on disk before.
        shim.stdin.write(json.dumps({"id": c.id, "dir": str(c.dir)}).encode() + b"\n")
        shim.stdin.close()
        spare.refill_later()  # the next container's shim, started while this one works
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = c.shim()
            if s and s.get("container_pid"):
                shim.news_fd, ready_r = ready_r, None
                return shim
            ex = c.exit()
            if ex is not None:
                if ex.get("Error"):
                    raise LabError(f"cannot start container {c.id[:12]}: {ex['Error']}", "see docker logs and shim.log")
                shim.news_fd, ready_r = ready_r, None
                return shim
            if shim.poll() is not None:
                raise LabError(f"the shim of {c.id[:12]} exited with {shim.returncode} before the container started",
                               f"see {c.dir / 'shim.log'}")
            # Blocked until the shim's byte, or its exit (the pipe ends); every 0.1 s at most the files are read
            # again anyway, for a shim killed while a child of its (an init not yet exec'd) still holds the pipe.
            ready = select.select([ready_r], [], [], min(0.1, max(0.0, deadline - time.monotonic())))[0]
            if ready and not os.read(ready_r, 1):
                try:
                    shim.wait(timeout=1)  # the pipe ended: the shim is exiting (the next turn says how)
                except subprocess.TimeoutExpired:
                    pass
        raise LabError(f"container {c.id[:12]} did not start within 30 s", f"see {c.dir / 'shim.log'}")
    finally:
        if ready_r is not None:
            os.close(ready_r)


def _reset(c: Container) -> None:
    """Make a stopped container startable again: what its last run left (by a killed shim too) goes;
    its writable layer and its log stay, as Docker keeps them."""
    from ..runtime import container as runtime, state
    wait_shim(c, timeout=10)  # the last shim may still be unmounting: exit.json comes before its end
    if state.Container(runtime_root(), c.id).exists():
        runtime.delete(runtime_root(), c.id, force=True)
    for rec in records_of(c):
        if rec.kind == "mount":
            tracker.default().undo(rec)
    net.detach(c, every())  # an endpoint a killed shim's container left
    for name in ("shim.json", "config.json", "exit.json"):  # in this order, a reader sees exited, then created
        (c.dir / name).unlink(missing_ok=True)


def wait_shim(c: Container, child: subprocess.Popen | None = None, timeout: float | None = None) -> None:
    """Block until the container's shim is done: its news pipe (``child.news_fd``, from ``start``) has
    ended, or it has exited.

    The shim closes its end of the pipe as its last step, once exit.json is written, the root
    unmounted and its records handed back, before its process exits: the kernel's teardown of a
    Python process took a millisecond or two more. A shim that dies ends the pipe too. The caller
    reaps the child afterwards (``child.wait()``)."""
    fd = getattr(child, "news_fd", None)
    if fd is not None:
        child.news_fd = None
        try:
            while os.read(fd, 64):  # the container's "running" byte may still be there; then the end
                pass
        finally:
            os.close(fd)
        return
    if child is not None:
        child.wait(timeout)
        return
    s = c.shim()
    if not s:
        return
    try:
        fd = os.pidfd_open(s["pid"])
    except ProcessLookupError:
        return
    try:
        if process_start_time(s["pid"]) == s.get("start_time"):
            select.select([fd], [], [], timeout)  # a pidfd is readable once its process has exited
    finally:
        os.close(fd)


def adopt(c: Container, shim_pid: int | None = None) -> None:
    """After shim ``shim_pid`` has exited: its record goes, and the container's records belong to the
    daemon again, unless a newer shim runs the container by now (docker start right after an exit)."""
    current = (c.shim() or {}).get("pid")
    shim_pid = shim_pid or current
    for rec in tracker.default().records():  # the shim's own record, if it could not drop it itself
        if rec.kind == "process" and rec.extra.get("container") == c.id and rec.target == str(shim_pid):
            tracker.default().undo(rec)
    if current in (None, shim_pid):
        recs = [r for r in records_of(c) + net.records(c.id) if r.owner != os.getpid()]
        hand(recs, os.getpid(), process_start_time(os.getpid()))


# --- stop, kill, remove ----------------------------------------------------------------
def signal_container(c: Container, sig: int) -> None:
    from ..runtime import container as runtime
    if c.status() != "running":
        raise Conflict(f"Container {c.id} is not running", "start it first")
    try:
        runtime.kill(runtime_root(), c.id, sig)
    except LabError as exc:
        if c.status() == "running":
            raise
        raise Conflict(f"Container {c.id} is not running", "it has just stopped") from exc


def wait_exit(c: Container, timeout: float | None) -> bool:
    """Poll for exit.json: True once the container has exited."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while c.status() == "running":
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def stop(c: Container, grace: float = 10) -> None:
    """SIGTERM, ``grace`` seconds to exit, then SIGKILL: ``docker stop``."""
    if c.status() != "running":
        return  # Docker answers 304 Not Modified; stopping a stopped container is no error
    try:
        signal_container(c, signal.SIGTERM)
    except Conflict:
        return
    if not wait_exit(c, grace):
        try:
            signal_container(c, signal.SIGKILL)
        except Conflict:
            pass
        wait_exit(c, None)


def remove(c: Container, force: bool = False, aside: list | None = None, shim_done: bool = False) -> None:
    """``docker rm``: a running container only with ``force`` (killed first); its directories go.

    With a list ``aside``, each directory is only renamed out of every lookup (``set_aside``) and its
    record appended there, for ``delete_aside`` to delete after the client has its answer: the
    container is gone at once, its files a moment later, as containerd's snapshotter removes a
    snapshot's files after the fact."""
    if c.status() == "running":
        if not force:
            raise Conflict(f"You cannot remove a running container {c.id}. Stop the container before "
                           "attempting removal or force remove", "docker stop it, or rm -f")
        signal_container(c, signal.SIGKILL)
        wait_exit(c, None)
    # exit.json comes before the shim's last steps (unmount, drop its own record): let it finish them
    # (``shim_done``: the caller saw it finish), then take any record a shim could not drop, so no dead
    # shim stays recorded.
    if not shim_done:
        wait_shim(c, timeout=10)
    for rec in tracker.default().records():
        if rec.kind == "process" and rec.extra.get("container") == c.id:
            tracker.default().undo(rec)
    from ..runtime import container as runtime, state
    if state.Container(runtime_root(), c.id).exists():  # the shim was killed before it could delete it
        runtime.delete(runtime_root(), c.id, force=True)
    net.detach(c, every())  # if its exit was not seen yet (no daemon then): the endpoint goes now
    recs = records_of(c)
    for rec in sorted(recs, key=lambda r: r.kind != "mount"):  # a mount left by a killed shim first
        moved = set_aside(rec) if aside is not None and rec.kind == "path" else None
        if moved is not None:
            aside.append(moved)
        else:
            tracker.default().undo(rec)
    for path in (c.dir, c.layer_dir):
        if path.exists() and not tracker.mounts_under(path):
            shutil.rmtree(path)  # no record (cleanup took it, or it was never written): remove it all the same


ASIDE = ".removing-"  # the name of a removed container's directory while it is deleted: every() skips it


def set_aside(rec: tracker.Record) -> tracker.Record | None:
    """Rename the directory of path record ``rec`` to ``.removing-NAME`` beside it; the new name's record,
    or None where it stays (not a directory, a mount in it, a rename refused): its undo then says why.

    The new name is recorded before the rename and the old record dropped after it: a crash in
    between leaves a record of whichever name exists, for ``labcore cleanup``."""
    path = Path(rec.target)
    if not path.is_dir() or path.is_symlink() or tracker.mounts_under(path):
        return None
    moved = path.with_name(ASIDE + path.name)
    new = tracker.default().add("path", str(moved), **rec.extra)
    try:
        os.rename(path, moved)
    except OSError:
        tracker.default().forget(new)
        return None
    tracker.default().forget(rec)
    return new


def delete_aside(recs: list[tracker.Record]) -> None:
    """Delete what ``remove`` set aside; what cannot be deleted keeps its record (``labcore cleanup``)."""
    for rec in recs:
        try:
            tracker.default().undo(rec)
        except Exception as exc:
            print(f"cannot delete {rec.target}: {exc}", file=sys.stderr)


__all__ = ["Container", "Conflict", "NotFound", "create", "start", "stop", "remove", "find", "every", "adopt",
           "wait_shim", "wait_exit", "signal_container", "runtime_root", "containers_dir", "set_aside",
           "delete_aside", "ASIDE"]
