"""A real image registry on loopback: the distribution project's ``registry``, started by the lab.

A registry is an HTTP server that keeps two kinds of things: **blobs**
(layers, configs, manifests: bytes named by their sha256) and **tags**
(names pointing at a manifest), grouped into repositories. Docker Hub,
ghcr.io and quay.io all speak the same protocol, the OCI distribution
spec. Debian packages the reference server (``docker-registry``, version
2.8); the lab starts its own copy of it:

* listening on 127.0.0.1 only, on a port it picks (or the one given);
* its config, its storage and its logs in one lab directory under the data
  directory (``/var/tmp/labcore/lab-registry-…``), recorded by the tracker
  before it exists;
* the process recorded too (PID and start time) before it runs: it waits
  at a gate (``bash`` reading one line) until its record is on disk, then
  becomes the registry with execve(2), keeping the recorded PID;
* its **access log** (one line per HTTP request, Apache's combined format:
  method, path, status, bytes sent) in ``access.log``, and its own log
  (what it did, as key=value lines) in ``registry.log``: chapter 12 reads
  them back to show what a push and a pull really asked for;
* optionally with HTTP basic authentication from an htpasswd file (bcrypt
  hashes, made by apache2-utils' ``htpasswd -B``), to show the 401 and
  WWW-Authenticate handshake (see ``labcore.images.registry``).

The storage is plain files: ``storage/docker/registry/v2/blobs/sha256/<2
hex>/<64 hex>/data`` holds each blob once, whatever the number of
repositories using it, and ``repositories/<name>/`` holds only links to
blobs. ``blob_file()`` names the file, which is how the chapter corrupts one.

``stop()`` (or the end of a ``with``) kills the process and removes the
directory; ``labcore cleanup`` does the same after a crash. Used by 12.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import tracker
from ..errors import CommandNotFoundError, InvalidInputError, LabError
from ..fs.scratch import Scratch
from .validate import check_digest

BINARY = "docker-registry"
HOST = "127.0.0.1"
WHAT = "registry"  # the process record's mark: `labcore registry stop` finds its registries by it
GO = "go"

CONFIG = """version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {host}:{port}
  headers:
    X-Content-Type-Options: [nosniff]
{auth}"""

AUTH = """auth:
  htpasswd:
    realm: {realm}
    path: {htpasswd}
"""

# Apache's combined log format, as the registry writes it for every request.
_ACCESS = re.compile(r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" '
                     r'(?P<status>\d{3}) (?P<size>\d+|-)')


@dataclass(frozen=True)
class Request:
    """One line of the registry's access log: what a client asked for, and what it got."""

    method: str
    path: str
    status: int
    sent: int  # bytes of the response body

    def __str__(self) -> str:
        return f"{self.method:6} {self.path}  -> {self.status}, {self.sent} bytes"

    def brief(self) -> str:
        """The line without what changes from run to run: upload session ids and state, long digests."""
        path = re.sub(r"/blobs/uploads/[0-9a-f-]{36}\?[^ ]*?(digest=sha256%3A[0-9a-f]{12})?[0-9a-f]*$",
                      lambda m: "/blobs/uploads/<session>" + (f"?{m.group(1)}…" if m.group(1) else ""), self.path)
        path = re.sub(r"/blobs/uploads/[0-9a-f-]{36}", "/blobs/uploads/<session>", path)
        path = re.sub(r"(sha256(?::|%3A)[0-9a-f]{12})[0-9a-f]{52}", r"\1…", path)
        return f"{self.method:6} {path}  -> {self.status}, {self.sent:,} bytes"

    @property
    def digest(self) -> str | None:
        """The blob or manifest digest the request names (in its path or its ?digest=), if any."""
        found = re.search(r"sha256(?::|%3A)([0-9a-f]{64})", self.path)
        return f"sha256:{found.group(1)}" if found else None


def parse_access_log(text: str) -> list[Request]:
    """The requests of an access log's text (other lines are skipped)."""
    out = []
    for line in text.splitlines():
        m = _ACCESS.match(line)
        if m:
            size = m.group("size")
            out.append(Request(m.group("method"), m.group("path"), int(m.group("status")),
                               0 if size == "-" else int(size)))
    return out


def check_port(port) -> int:
    if port is None:
        return free_port()
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
        raise InvalidInputError(f"bad registry port {port!r}", "give a port number from 1024 to 65535, or none")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the registry does: TIME_WAIT is no listener
        try:
            s.bind((HOST, port))
        except OSError:
            raise InvalidInputError(f"port {port} on {HOST} is in use", "choose another port, or give none") from None
    return port


def free_port() -> int:
    """A port the kernel says is free on loopback now (bind to port 0, read it back)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    """``user:$2y$…``: one htpasswd entry with a bcrypt hash, made by apache2-utils' htpasswd."""
    if not re.match(r"^[A-Za-z0-9._-]{1,64}$", user or ""):
        raise InvalidInputError(f"bad registry user name {user!r}", "letters, digits, '.', '_' and '-'")
    if not password or "\n" in password:
        raise InvalidInputError("empty registry password", "give a password of one line")
    try:
        done = subprocess.run(["htpasswd", "-niB", user], input=password, capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise CommandNotFoundError("htpasswd is not installed", "apt install apache2-utils (provision does)") from None
    return done.stdout.strip()


@dataclass
class Registry:
    """A running registry: ``with lab.registry.start() as reg: ...``. Used by 12."""

    port: int
    dir: Path
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    pid: int | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _record: tracker.Record | None = field(default=None, repr=False)
    _scratch: Scratch | None = field(default=None, repr=False)
    _log_mark: int = field(default=0, repr=False)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Registry {self.address} ({state}) storage {self.storage}>"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the first part of an image reference on this registry."""
        return f"{HOST}:{self.port}"

    @property
    def storage(self) -> Path:
        return self.dir / "storage"

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    @property
    def log(self) -> Path:
        return self.dir / "registry.log"

    @property
    def running(self) -> bool:
        return self._record is not None and tracker.is_running(self.pid, self._record.extra.get("start_time"))

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user else None

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (once, whatever the number of repositories)."""
        hexa = check_digest(digest).split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"

    def blobs(self) -> dict[str, int]:
        """Every blob the registry stores: digest -> size in bytes."""
        root = self.storage / "docker/registry/v2/blobs/sha256"
        return {f"sha256:{d.parent.name}": d.stat().st_size for d in root.glob("*/*/data")} if root.is_dir() else {}

    # --- the access log ------------------------------------------------------
    def requests(self, since_mark: bool = True) -> list[Request]:
        """The requests logged since ``mark()`` (or all of them): the registry's own account."""
        self._settle()
        with open(self.access_log, "rb") as f:
            if since_mark:
                f.seek(self._log_mark)
            return parse_access_log(f.read().decode(errors="replace"))

    def mark(self) -> None:
        """Start counting requests from here (``requests()`` shows only what comes next)."""
        self._settle()
        self._log_mark = self.access_log.stat().st_size

    def _settle(self) -> None:
        # The registry writes a request's log line just after sending its response:
        # wait until the file stops growing (briefly) so the last request is in it.
        size, deadline = -1, time.monotonic() + 2
        while time.monotonic() < deadline:
            now = self.access_log.stat().st_size
            if now == size:
                return
            size = now
            time.sleep(0.05)

    # --- starting and stopping ---------------------------------------------
    def _write_config(self) -> Path:
        auth = ""
        if self.user:
            htpasswd = self.dir / "htpasswd"
            htpasswd.write_text(htpasswd_line(self.user, self.password) + "\n")
            htpasswd.chmod(0o600)
            auth = AUTH.format(realm="labcore-registry", htpasswd=htpasswd)
        self.storage.mkdir()
        config = self.dir / "config.yml"
        config.write_text(CONFIG.format(storage=self.storage, host=HOST, port=self.port, auth=auth))
        return config

    def _start(self, timeout: float) -> None:
        config = self._write_config()
        gate_r, gate_w = os.pipe()
        gate = f'read -r -u {gate_r} go && [ "$go" = {GO} ] && exec {gate_r}<&- && exec "$@"'
        with open(self.access_log, "ab") as out, open(self.log, "ab") as err:
            # stdout: the access log; stderr: the registry's own log. A new session: a
            # terminal's Ctrl-C to the command that started it does not reach it.
            self._proc = subprocess.Popen(["bash", "-c", gate, "lab-registry-gate", BINARY, "serve", str(config)],
                                          pass_fds=(gate_r,), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          start_new_session=True, cwd=self.dir)
        os.close(gate_r)
        try:
            self.pid = self._proc.pid
            self._record = tracker.default().add("process", self.pid, start_time=tracker.process_start_time(self.pid),
                                                 what=WHAT, address=self.address, dir=str(self.dir))
            os.write(gate_w, (GO + "\n").encode())
        except BaseException:
            self._proc.kill()
            self._proc.wait()
            raise
        finally:
            os.close(gate_w)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                raise LabError(f"the registry exited with status {self._proc.returncode}: {' | '.join(tail)}",
                               f"read {self.log}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                conn.request("GET", "/v2/")
                status = conn.getresponse().status
                conn.close()
                if status in (200, 401):  # 401: up, and asking for credentials
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise LabError(f"the registry did not answer on {self.address} within {timeout} s", f"read {self.log}")

    def stop(self) -> None:
        """Kill the registry and remove its directory (idempotent)."""
        if self._record is not None:
            tracker.default().undo(self._record)
            self._record = None
        if self._proc is not None:
            self._proc.poll()  # reaped by the undo's waitpid; this only updates Popen's view
        if self._scratch is not None:
            self._scratch.remove()
            self._scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(port: int | None = None, user: str | None = None, password: str | None = None,
          timeout: float = 15) -> Registry:
    """Start a registry on 127.0.0.1 (``port``, or a free one), with basic auth if ``user`` is given.

    ``labcore registry start`` calls this. Used by 12.
    """
    port = check_port(port)
    if (user is None) != (password is None):
        raise InvalidInputError("a registry user needs a password (and a password a user)", "give both, or neither")
    if user is not None:
        htpasswd_line(user, password)  # refuses a bad name before anything is made
    from ..check import check_tool
    if not check_tool(BINARY).ok:
        raise CommandNotFoundError(f"{BINARY} is not installed", "apt install docker-registry (provision does)")
    scratch = Scratch("registry", on_disk=True)
    reg = Registry(port, scratch.path, user, password, _scratch=scratch)
    try:
        reg._start(timeout)
    except BaseException:
        reg.stop()
        raise
    return reg


def running() -> list[tracker.Record]:
    """The records of the registries the lab has running (started here or by ``labcore registry start``)."""
    return [r for r in tracker.default().records() if r.kind == "process" and r.extra.get("what") == WHAT]


def stop_recorded(port: int | None = None) -> list[str]:
    """Stop the recorded registries (only the one on ``port`` if given), and remove their directories."""
    trk, done = tracker.default(), []
    records = trk.records()
    for rec in running():
        if port is not None and rec.extra.get("address") != f"{HOST}:{port}":
            continue
        trk.undo(rec)
        for path_rec in records:
            if path_rec.kind == "path" and path_rec.target == rec.extra.get("dir"):
                trk.undo(path_rec)
        done.append(rec.extra.get("address", "?"))
    return done


# --- `labcore registry start | stop` (labcore/cli.py hands over to these) --------------------------
def add_arguments(p) -> None:
    p.add_argument("action", choices=["start", "stop"], help="start one registry, or stop the lab's registries")
    p.add_argument("--port", type=int, help="the port on 127.0.0.1 (default: a free one; with stop: only that one)")
    p.add_argument("--user", metavar="NAME:PASSWORD", help="start with basic authentication for this user")


def command(args) -> int:
    if args.action == "stop":
        stopped = stop_recorded(args.port)
        print("stopped " + (", ".join(stopped) if stopped else "nothing: no registry of the lab is running"))
        return 0
    from .registry import parse_credentials
    creds = parse_credentials(args.user)
    reg = start(args.port, *(creds or (None, None)))
    # The registry outlives this command, as `docker run -d` does: its records stay on disk for
    # `labcore registry stop` or `labcore cleanup`, instead of being undone when this process exits.
    import atexit
    atexit.unregister(tracker.default().undo_owned)
    print(f"registry {reg.address} (PID {reg.pid}), listening on loopback only")
    print(f"storage    {reg.storage}")
    print(f"access log {reg.access_log}")
    if creds:
        print(f"basic auth user {creds[0]}")
    print("stop it with: labcore registry stop")
    return 0


__all__ = ["Registry", "Request", "start", "running", "stop_recorded", "parse_access_log", "free_port",
           "check_port", "htpasswd_line", "HOST", "add_arguments", "command"]
