"""The Docker Engine API, the part of it the lab's daemon answers: routes and handlers.

``docker`` and the Python SDK are HTTP clients. Everything ``docker run``
does is a few requests on the daemon's socket (``/var/run/docker.sock``
for the real one; the version prefix ``/v1.41`` is optional)::

    HEAD /_ping                                  which API version do you speak?
    POST /v1.41/containers/create?name=N         {"Image": ..., "Cmd": [...], "HostConfig": {...}} -> {"Id": ...}
    POST /v1.41/containers/ID/attach?stream=1&stdout=1&stderr=1   upgraded to a raw stream (101)
    POST /v1.41/containers/ID/wait?condition=removed              answers when it is gone, with the exit code
    POST /v1.41/containers/ID/start              the shim starts the container
    ...the attach stream carries the output, framed (labcore.daemon.frames), and closes at exit

``docker run -i`` also attaches stdin (``&stdin=1``): what the client
writes on the upgraded connection goes to the container's stdin through
its shim (``labcore.daemon.stdio``). ``docker run -t`` makes the container
a terminal: its attach and logs streams are then raw bytes, one stream and
no frames (the client knows from ``Config.Tty``), and the CLI sends
``POST /containers/ID/resize?h=ROWS&w=COLUMNS`` at start and whenever its
own window changes.

``ROUTES`` maps a method and a path pattern to a handler; ``route()``
picks one (pure: unit-tested without a daemon). A handler gets a
``Request`` and returns a ``Response`` (JSON, or no body) or a ``Stream``
(a function that writes to the connection, for logs, attach and wait).
Errors are ``{"message": ...}`` with Docker's status codes: 404 no such
container or image, 409 a conflict with its state, 400 a bad request,
500 anything else. See https://docs.docker.com/reference/api/engine/.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import __version__
from ..errors import InvalidInputError, LabError
from ..proc.stat import process_start_time
from . import containers, detach, frames, images, logs, network, networks, restart, stdio
from .images import NotFound
from ..images.layout import goarch

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")


@dataclass
class Request:
    method: str
    path: str                      # without the version prefix
    query: dict[str, str] = field(default_factory=dict)
    body: object = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        return value.lower() in ("1", "true", "yes")


@dataclass
class Response:
    status: int = 200
    body: object = None            # JSON-able, bytes, or None (no body)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A streamed answer: ``write`` is called with the connection's write function."""
    write: Callable[[Callable[[bytes], None]], None]
    content_type: str = frames.MULTIPLEXED
    upgrade: bool = False          # attach: answer 101 and hijack the connection
    stdin: Callable[[Callable[[], bytes]], None] | None = None  # attach -i: run in a thread with the client's reads


class Daemon:
    """What the handlers share: the exit codes of auto-removed containers, the shims we started."""

    def __init__(self):
        import threading
        self.lock = threading.Lock()  # create, start, remove and auto-remove one at a time (not stop: it waits)
        self.changed = threading.Condition()  # notified when a shim has exited or a container was removed
        self.exit_codes: dict[str, int] = {}
        self.children: dict[str, object] = {}
        self.readers: dict[str, int] = {}  # container id -> attach/log streams still reading its log
        self.deleting: list = []  # threads deleting removed containers' files (containers.delete_aside)
        self.started = time.time()
        self.start_time = process_start_time(os.getpid())


# --- routing (pure) -----------------------------------------------------------------------
ROUTES: list[tuple[str, re.Pattern, str]] = [(m, re.compile(f"^{p}$"), h) for m, p, h in [
    ("GET", r"/_ping", "ping"), ("HEAD", r"/_ping", "ping"),
    ("GET", r"/version", "version"), ("GET", r"/info", "info"),
    ("GET", r"/images/json", "images_list"),
    ("GET", r"/images/(?P<name>.+)/json", "image_inspect"),
    ("POST", r"/images/create", "image_pull"),
    ("GET", r"/containers/json", "containers_list"),
    ("POST", r"/containers/create", "container_create"),
    ("GET", r"/containers/(?P<id>[^/]+)/json", "container_inspect"),
    ("POST", r"/containers/(?P<id>[^/]+)/start", "container_start"),
    ("POST", r"/containers/(?P<id>[^/]+)/wait", "container_wait"),
    ("GET", r"/containers/(?P<id>[^/]+)/logs", "container_logs"),
    ("POST", r"/containers/(?P<id>[^/]+)/attach", "container_attach"),
    ("POST", r"/containers/(?P<id>[^/]+)/resize", "container_resize"),
    ("POST", r"/containers/(?P<id>[^/]+)/stop", "container_stop"),
    ("POST", r"/containers/(?P<id>[^/]+)/kill", "container_kill"),
    ("DELETE", r"/containers/(?P<id>[^/]+)", "container_remove"),
    ("GET", r"/networks", "networks_list"),
    ("GET", r"/networks/(?P<id>[^/]+)", "network_inspect"),
    ("POST", r"/networks/create", "network_create"),
    ("DELETE", r"/networks/(?P<id>[^/]+)", "network_remove"),
]]


def split_version(path: str) -> tuple[str | None, str]:
    """``/v1.41/containers/json`` -> ("1.41", "/containers/json"); no prefix -> (None, path)."""
    m = VERSION_PREFIX.match(path)
    return (m.group(1), m.group(2)) if m else (None, path)


def route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The handler's name and the path's parameters, or None (the API answers 404)."""
    _, path = split_version(path)
    for m, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found and m == method:
            return handler, found.groupdict()
    return None


def error(status: int, message: str) -> Response:
    return Response(status, {"message": message})


def status_of(exc: Exception) -> int:
    """Docker's status code for an error."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, containers.Conflict):
        return 409
    if isinstance(exc, networks.Forbidden):
        return 403
    if isinstance(exc, InvalidInputError):
        return 400
    return 500


def handle(daemon: Daemon, req: Request) -> Response | Stream:
    """Route and run one request; errors become Docker's error responses."""
    version, _ = split_version(req.path)
    if version is not None and tuple(map(int, version.split("."))) > tuple(map(int, API_VERSION.split("."))):
        return error(400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
    found = route(req.method, req.path)
    if found is None:
        return error(404, "page not found")
    name, req.params = found
    try:
        return globals()["h_" + name](daemon, req)
    except LabError as exc:
        return error(status_of(exc), exc.what if hasattr(exc, "what") else str(exc))


# --- system -------------------------------------------------------------------------------
def _headers() -> dict[str, str]:
    return {"Api-Version": API_VERSION, "Docker-Experimental": "false", "Ostype": "linux", "Server": f"labcore/{__version__}"}


def h_ping(daemon, req):
    return Response(200, b"OK" if req.method == "GET" else None, _headers() | {"Content-Type": "text/plain"})


def h_version(daemon, req):
    u = os.uname()
    return Response(200, {"Version": f"labcore-{__version__}", "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                          "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
                          "Arch": goarch(), "KernelVersion": u.release, "BuildTime": "",
                          "Platform": {"Name": "Docker Internals Lab"},
                          "Components": [{"Name": "Engine", "Version": f"labcore-{__version__}",
                                          "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                                      "Os": "linux", "Arch": goarch(), "KernelVersion": u.release,
                                                      "GoVersion": f"python{platform.python_version()}"}}]},
                    _headers())


def h_info(daemon, req):
    from ..proc.cgroup import mode
    every = containers.every()
    states = [c.status() for c in every]
    u = os.uname()
    mem = next((int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:")), 0)
    return Response(200, {
        "ID": "labcore", "Containers": len(every), "ContainersRunning": states.count("running"),
        "ContainersPaused": 0, "ContainersStopped": len(every) - states.count("running"),
        "Images": len(images.images()), "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "overlayfs"]],
        "Plugins": {"Volume": [], "Network": ["none"], "Log": ["json-file"]}, "MemoryLimit": True, "SwapLimit": False,
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "PidsLimit": True, "OomKillDisable": False, "IPv4Forwarding": False,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "NGoroutines": 0, "SystemTime": logs.timestamp(),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if mode() == "v2" else "1",
        "KernelVersion": u.release, "OperatingSystem": "Docker Internals Lab (labcore daemon)", "OSType": "linux",
        "Architecture": u.machine, "NCPU": os.cpu_count(), "MemTotal": mem,
        "DockerRootDir": str(containers.base()), "Name": u.nodename, "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": f"labcore-{__version__}", "Runtimes": {"labcore": {"path": "labcore runtime"}},
        "DefaultRuntime": "labcore", "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "SecurityOptions": [], "Swarm": {"LocalNodeState": "inactive"}, "Warnings": []}, _headers())


# --- images -------------------------------------------------------------------------------
def h_images_list(daemon, req):
    return Response(200, [i.summary() for i in images.images()])


def h_image_inspect(daemon, req):
    return Response(200, images.find(req.params["name"]).inspect())


def h_image_pull(daemon, req):
    ref = req.query.get("fromImage", "") + (":" + req.query["tag"] if req.query.get("tag") else "")
    return error(404, f"pull access denied for {ref}: the lab's daemon does not pull; "
                      "load an OCI layout with labcore image load LAYOUT[:TAG] --name NAME:TAG")


# --- containers ---------------------------------------------------------------------------
def _container(req) -> containers.Container:
    return containers.find(req.params["id"])


def h_containers_list(daemon, req):
    every = containers.every()
    if not req.flag("all"):
        every = [c for c in every if c.status() == "running"]
    limit = int(req.query.get("limit") or -1)
    if limit > 0:
        every = every[:limit]
    return Response(200, [c.summary() for c in every])


def h_container_create(daemon, req):
    from ..runtime import cgroups
    cgroups.warm_attach()  # a start usually follows: its runtime's first cgroup write then waits less
    with daemon.lock:  # two creates with one name: the second must see the first
        c = containers.create(req.body or {}, req.query.get("name") or None)
    images.adopt_store(os.getpid(), daemon.start_time)  # loaded while we ran: ours now, like the rest
    return Response(201, {"Id": c.id, "Warnings": getattr(c, "warnings", [])})


def h_container_inspect(daemon, req):
    return Response(200, _container(req).inspect())


def h_container_start(daemon, req):
    return Response(204 if _start(daemon, _container(req)) else 304)


def _start(daemon: Daemon, c: containers.Container) -> bool:
    """Start a container as ``docker start`` does, its shim watched; False if it runs already."""
    from ..runtime import cgroups
    cgroups.warm_attach()  # while the overlay mounts and the shim gets its container
    with daemon.lock:
        if c.status() == "running":
            return False
        c.meta.update(ManuallyStopped=False, RestartCount=0, RestartDelay=0)  # saved by start: a fresh policy
        try:
            shim = containers.start(c)
        except LabError:
            if c.meta.get("HostConfig", {}).get("AutoRemove") and c.status() != "running":
                containers.remove(c, force=True)  # --rm that never ran: gone, as dockerd does (the CLI waits for it)
                notify(daemon)
            raise
        daemon.children[c.id] = shim
    watch(daemon, c, shim)
    return True


def watch(daemon: Daemon, c: containers.Container, child=None) -> None:
    """A thread that waits for the container's shim to exit, takes its records back, auto-removes."""
    import threading

    pid = child.pid if child is not None else (c.shim() or {}).get("pid")

    def follow():
        containers.wait_shim(c, child)  # done: it may still be exiting
        if daemon.children.get(c.id) is child:
            daemon.children.pop(c.id, None)
        finished(daemon, c, pid, shim_done=True)
        if child is not None:
            child.wait()  # reaped once its exit is over, off the path of the client waiting for the container
    threading.Thread(target=follow, daemon=True, name=f"watch-{c.id[:12]}").start()


def finished(daemon: Daemon, c: containers.Container, shim_pid: int | None = None, live: bool = True,
             shim_done: bool = False) -> None:
    """A container whose shim is done (``shim_done``: seen by its watcher) or gone: adopt its records;
    restart it if its policy says so (an exit seen ``live``, not one found at the daemon's start); else
    remove it if it asked (--rm)."""
    notify(daemon)  # the streams following its log end now, not at their next poll
    if c.meta.get("HostConfig", {}).get("AutoRemove"):
        # `docker run --rm` is attached: its stream reads the log's last lines once the exit is written,
        # and the log goes with the container. Let the readers finish first (they end on the exit).
        with daemon.changed:
            daemon.changed.wait_for(lambda: not daemon.readers.get(c.id), timeout=5)
    aside: list = []  # a removed container's directories, deleted once the client has its answer
    with daemon.lock:
        if not c.exists():
            return  # removed meanwhile (docker rm -f)
        if c.meta.get("HostConfig", {}).get("AutoRemove") and c.status() != "running":  # --rm has no restart policy
            daemon.exit_codes[c.id] = int((c.exit() or {}).get("ExitCode", 255))
            containers.remove(c, force=True, aside=aside, shim_done=shim_done)  # the shim's records go with the rest
        else:
            containers.adopt(c, shim_pid)
            if c.status() == "running":
                return  # started again meanwhile: the new shim's watcher takes it from here
            network.detach(c, containers.every())  # stopped: its endpoint goes (address, veth, ports, netns), as Docker releases it
            ex = c.exit()
            daemon.exit_codes[c.id] = int((ex or {}).get("ExitCode", 255))
            if live:
                _restart_later(daemon, c, ex or {})
    notify(daemon)
    delete_later(daemon, aside)


def _restart_later(daemon: Daemon, c: containers.Container, ex: dict) -> None:
    """Apply the restart policy (labcore.daemon.restart) to this exit: schedule a restart if it says so."""
    import threading
    c = containers.Container(c.id)  # read again: a stop or kill may have marked it since
    policy = c.meta.get("HostConfig", {}).get("RestartPolicy") or {}
    code = int(ex.get("ExitCode", 255))
    if not restart.decide(policy, code, c.meta.get("RestartCount", 0), bool(c.meta.get("ManuallyStopped"))):
        return
    ran_for = ex.get("FinishedEpoch", time.time()) - c.meta.get("StartedEpoch", 0)
    wait = restart.delay(c.meta.get("RestartDelay", 0), ran_for)
    c.meta.update(Restarting=True, RestartDelay=wait)
    c.save()
    print(f"{c.id[:12]} exited with {code}: restart {c.meta.get('RestartCount', 0) + 1} in {wait:.1f} s "
          f"(--restart {policy.get('Name')})", file=sys.stderr, flush=True)
    threading.Thread(target=_restart, args=(daemon, c.id, wait), daemon=True, name=f"restart-{c.id[:12]}").start()


def _restart(daemon: Daemon, cid: str, wait: float) -> None:
    """After the policy's delay: start the container again, unless it was stopped, removed or started meanwhile."""
    time.sleep(wait)
    with daemon.lock:
        c = containers.Container(cid)
        if not c.exists():
            return
        c.meta["Restarting"] = False
        if c.meta.get("ManuallyStopped") or c.status() == "running":
            c.save()
            return
        c.meta["RestartCount"] = c.meta.get("RestartCount", 0) + 1
        try:
            shim = containers.start(c)  # saves the count with the new start time
        except LabError as exc:
            c.save()
            print(f"restart of {cid[:12]} failed: {exc}", file=sys.stderr)
            notify(daemon)
            return
        daemon.children[c.id] = shim
        print(f"restarted {cid[:12]} ({c.meta['RestartCount']})", file=sys.stderr)
    watch(daemon, c, shim)
    notify(daemon)


def h_container_wait(daemon, req):
    c = _container(req)
    condition = req.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidInputError(f"invalid condition: {condition!r}", "not-running, next-exit or removed")

    before = (c.exit() or {}).get("FinishedEpoch")  # next-exit: an exit after this one

    def done() -> bool:
        if condition == "next-exit":
            return exited_since(c, before)
        status = c.status() if c.exists() else "removed"
        return status == "removed" if condition == "removed" else status != "running"

    def body(write):
        pause = Backoff(daemon)
        while not done():
            pause.sleep()
        ex = c.exit()
        # This run's exit.json first: the remembered code is the last run's until the watcher has seen this
        # exit (docker start -a of a stopped container); it is all that is left of one removed (--rm).
        code = int(ex.get("ExitCode", 0)) if ex else daemon.exit_codes.get(c.id, 0)
        write(json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n")
    return Stream(body, "application/json")


def exited_since(c: containers.Container, before: float | None) -> bool:
    """True once the container has ended after the exit stamped ``before``: a newer exit.json, a shim that
    died without writing one, or the container removed.

    exit.json is read once. ``docker start`` removes the last one while it starts the container again,
    so a status read and then a second read of the file could see an exit that is gone: an attach would
    end before the new run's output."""
    if not c.exists():
        return True
    ex = c.exit()
    if ex is not None:
        return ex.get("FinishedEpoch") != before
    return c.status() == "dead"


class Backoff:
    """Polling that starts fast (a short container's output is there at once) and slows down to 50 ms
    while nothing happens, so a client attached to a quiet container costs almost nothing."""

    def __init__(self, daemon: Daemon, first: float = 0.002, most: float = 0.05):
        self.changed, self.first, self.most, self.next = daemon.changed, first, most, first

    def reset(self) -> None:
        self.next = self.first

    def sleep(self) -> None:
        with self.changed:  # woken at once when a container exits or goes
            self.changed.wait(self.next)
        self.next = min(self.next * 1.5, self.most)


def notify(daemon: Daemon) -> None:
    with daemon.changed:
        daemon.changed.notify_all()


RESTART_WAIT = 60  # s: an attach to a stopped container waits this long for `docker start` to follow it


def _follow(daemon: Daemon, c: containers.Container, offset: int, follow: bool, want: set[str],
            timestamps: bool = False, tail: int | None = None, stop=None):
    """A streamer of the container's log from ``offset``, framed (raw for a Tty); following until its next exit,
    or until the event ``stop`` is set.

    ``docker start -a`` attaches to a stopped container, then starts it: the old exit does not end
    the stream, the next one does (or RESTART_WAIT seconds without a start)."""
    raw = bool(c.meta.get("Config", {}).get("Tty"))  # a terminal's one stream, as the client expects it
    pack = (lambda stream, data: data) if raw else frames.frame
    old_exit = (c.exit() or {}).get("FinishedEpoch")
    given_up = time.monotonic() + RESTART_WAIT

    def ended() -> bool:
        return exited_since(c, old_exit) or (time.monotonic() > given_up and c.status() in ("exited", "dead"))

    if follow:  # counted from the request on: `docker run` attaches before it starts the container
        with daemon.changed:
            daemon.readers[c.id] = daemon.readers.get(c.id, 0) + 1

    def body(write):
        try:
            _read(write)
        finally:
            if follow:
                with daemon.changed:
                    daemon.readers[c.id] -= 1
                    if not daemon.readers[c.id]:
                        daemon.readers.pop(c.id, None)
                        daemon.changed.notify_all()  # finished() may be waiting for the last reader

    def _read(write):
        off = offset
        first = True
        pause = Backoff(daemon)
        while True:
            entries, off = logs.read_from(c.log, off)
            if entries:
                pause.reset()
            if first and tail is not None:
                entries = entries[-tail:] if tail > 0 else []
            first = False
            for e in entries:
                if e["stream"] in want:
                    data = e["log"].encode()
                    if timestamps:
                        data = e["time"].encode() + b" " + data
                    write(pack(e["stream"], data))
            if not follow or (stop is not None and stop.is_set()):
                return
            if ended():
                entries, off = logs.read_from(c.log, off)  # what came between the last read and the exit
                for e in entries:
                    if e["stream"] in want:
                        write(pack(e["stream"], e["log"].encode()))
                return
            pause.sleep()
    return body


def _streams(req) -> set[str]:
    want = {s for s in ("stdout", "stderr") if req.flag(s)}
    return want


def h_container_logs(daemon, req):
    c = _container(req)
    want = _streams(req)
    if not want:
        raise InvalidInputError("Bad parameters: you must choose at least one stream", "ask for stdout, stderr or both")
    tail = req.query.get("tail", "all")
    tail_n = None if tail in ("all", "") else int(tail)
    follow = req.flag("follow") and c.status() in ("created", "running")
    return Stream(_follow(daemon, c, 0, follow, want, req.flag("timestamps"), tail_n), _content_type(c))


def _content_type(c: containers.Container) -> str:
    return frames.RAW if c.meta.get("Config", {}).get("Tty") else frames.MULTIPLEXED


def h_container_attach(daemon, req):
    import threading
    c = _container(req)
    want = _streams(req) or {"stdout", "stderr"}
    offset = 0 if req.flag("logs") else logs.size(c.log)
    follow = req.flag("stream")
    ended = threading.Event()  # the output is over: the container exited, or (with -t) the client's input ended
    output = _follow(daemon, c, offset, follow, want, stop=ended)

    def body(write):
        try:
            output(write)
        finally:
            ended.set()
    upgrade = "upgrade" in req.headers.get("connection", "").lower()
    keys = detach.parse(req.query.get("detachKeys"))  # a bad sequence is refused before the upgrade
    feed = (_feed_stdin(daemon, c, ended, keys) if req.flag("stdin") and upgrade and c.meta["Config"].get("OpenStdin")
            else None)
    return Stream(body, _content_type(c), upgrade=upgrade, stdin=feed)


def _feed_stdin(daemon: Daemon, c: containers.Container, ended, keys: bytes):
    """The attach's input side: the client's bytes, framed, to the shim's socket (labcore.daemon.stdio).

    ``docker run`` attaches before it starts the container: until a shim listens, nothing is read
    (the client's bytes wait in the connection). The client's real end of input is passed on as the
    end mark; a connection cut because the output ended is not. The detach keys (``detach.py``) end
    this client's attach and nothing else: the container's stdin stays open."""
    config = c.meta["Config"]
    scanner = detach.Scanner(keys)

    def feed(read: Callable[[], bytes]) -> None:
        pause, shim = Backoff(daemon), None
        while shim is None:
            if ended.is_set() or not c.exists():
                return
            shim = stdio.connect(c.dir) if c.status() == "running" else None
            if shim is None:
                pause.sleep()
        with shim:
            shim.settimeout(None)
            try:
                shim.sendall(stdio.STDIN)
                while data := read():
                    data, detached = scanner.feed(data)
                    if data:
                        shim.sendall(stdio.stdin_chunks(data))
                    if detached:
                        ended.set()  # the output side ends too, and with it the connection
                        notify(daemon)  # now, not at its next poll
                        return
                if not ended.is_set():
                    shim.sendall(stdio.END)
            except OSError:
                return  # the shim has gone: the container exited
        if config.get("Tty") or not config.get("StdinOnce"):
            ended.set()  # dockerd's rule: this client's input is over, so is its attach (the container goes on)
    return feed


def h_container_resize(daemon, req):
    """``POST /containers/ID/resize?h=ROWS&w=COLUMNS``: the container's terminal takes the client's size."""
    c = _container(req)
    rows, columns = stdio.window_size(req.query.get("h"), req.query.get("w"))
    if c.status() != "running":
        raise containers.Conflict(f"Container {c.id} is not running", "start it first")
    if c.meta["Config"].get("Tty"):
        stdio.resize(c.dir, rows, columns)
    return Response(200)  # no terminal: nothing to size, as dockerd answers


def _stopped_by_user(c: containers.Container) -> None:
    """docker stop and docker kill: the restart policy leaves the container stopped."""
    c.meta["ManuallyStopped"] = True
    c.save()


def h_container_stop(daemon, req):
    c = _container(req)
    _stopped_by_user(c)
    if c.status() != "running":
        return Response(304)
    grace = float(req.query.get("t") or req.query.get("timeout") or 10)
    containers.stop(c, grace)
    return Response(204)


def h_container_kill(daemon, req):
    c = _container(req)
    from ..runtime.container import _signal_number
    _stopped_by_user(c)
    containers.signal_container(c, _signal_number(req.query.get("signal") or "KILL"))
    return Response(204)


def h_container_remove(daemon, req):
    c = _container(req)
    aside: list = []
    with daemon.lock:
        if not c.exists():
            raise NotFound(f"No such container: {req.params['id']}", "it was removed meanwhile")
        containers.remove(c, force=req.flag("force"), aside=aside)
    daemon.exit_codes.pop(c.id, None)
    notify(daemon)
    delete_later(daemon, aside)
    return Response(204)


def delete_later(daemon: Daemon, aside: list) -> None:
    """Delete a removed container's files in a thread (containers.delete_aside): nobody waits for it."""
    import threading
    if not aside:
        return
    t = threading.Thread(target=containers.delete_aside, args=(aside,), daemon=True, name="delete")
    with daemon.changed:
        daemon.deleting = [d for d in daemon.deleting if d.is_alive()] + [t]
    t.start()


def finish_deleting(daemon: Daemon, timeout: float = 60) -> None:
    """At the daemon's end: the deletions still under way finish (what cannot keeps its record)."""
    with daemon.changed:
        pending = list(daemon.deleting)
    for t in pending:
        t.join(timeout)


# --- networks (labcore.daemon.networks) ---------------------------------------------------
def h_networks_list(daemon, req):
    return Response(200, networks.ls(containers.every()))


def h_network_inspect(daemon, req):
    return Response(200, networks.find(req.params["id"], containers.every()))


def h_network_create(daemon, req):
    with daemon.lock:  # one network at a time, and never while a container joins one
        return Response(201, networks.create(req.body))


def h_network_remove(daemon, req):
    with daemon.lock:
        networks.remove(req.params["id"], containers.every())
    return Response(204)


def restore(daemon: Daemon) -> list[str]:
    """At start: find every container again from the state directory (live restore). Returns what was found."""
    found = []
    for c in containers.every():
        status = c.status()
        if status == "running":
            watch(daemon, c)  # its shim is not our child: waited for through a pidfd
            try:
                network.resume(c)  # its DNS server was a thread of the daemon that died
            except OSError as exc:
                print(f"{c.id[:12]}: no DNS server: {exc}", file=sys.stderr, flush=True)
        elif status in ("exited", "dead"):
            if c.meta.get("Restarting"):  # a restart the last daemon had scheduled when it died: not done
                c.meta["Restarting"] = False
                c.save()
            finished(daemon, c, live=False)
            if c.exists() and _start_at_daemon_start(daemon, c):
                status = "restarted"
        found.append(f"{c.id[:12]} {c.name} {status}")
    return found


def _start_at_daemon_start(daemon: Daemon, c: containers.Container) -> bool:
    """Start a stopped container again if its restart policy says so at the daemon's start (restart.py).
    Only one that has run before, as dockerd; started as by ``docker start``: a fresh count, no user stop."""
    policy = c.meta.get("HostConfig", {}).get("RestartPolicy") or {}
    code = int((c.exit() or {}).get("ExitCode", 255))
    if not c.meta.get("StartedAt") or not restart.at_daemon_start(
            policy, code, c.meta.get("RestartCount", 0), bool(c.meta.get("ManuallyStopped"))):
        return False
    try:
        return _start(daemon, c)
    except LabError as exc:
        print(f"{c.id[:12]}: not started again: {exc}", file=sys.stderr, flush=True)
        return False


__all__ = ["Request", "Response", "Stream", "Daemon", "ROUTES", "route", "handle", "split_version", "restore",
           "API_VERSION", "status_of", "error"]
