"""The daemon's process: HTTP on a unix socket, started, stopped and found again by the lab.

dockerd listens on a **unix socket**, ``/var/run/docker.sock``: a file
whose permissions decide who may talk to it (whoever can write to it
controls the machine: it can start a privileged container). Clients speak
plain HTTP/1.1 over it; ``DOCKER_HOST=unix://PATH`` tells them where. The
lab's daemon listens on ``STATE/daemon/docker.sock`` (mode 0600: root only).

Two HTTP details matter for real clients:

* **hijacking**: ``docker run`` and ``docker attach`` ask to turn the
  request's connection into a raw byte stream (``Connection: Upgrade``,
  ``Upgrade: tcp``); the daemon answers ``101 UPGRADED`` and from then on
  writes the container's framed output straight onto the socket, closing
  it when the container ends. With ``-i`` the client writes its stdin on
  the same connection, read by a second thread while the first writes
  (and half-closes it, ``CloseWrite``, when its input ends);
* **long requests**: ``wait`` answers only when the container has exited;
  ``logs --follow`` streams until it does. Every connection therefore gets
  a thread of its own (``ThreadingMixIn``).

``start()`` runs ``labcore daemon serve`` in a new session, behind a gate
(it waits for "go" on stdin until its tracker record is written: kind
``process``, owned by itself, so ``labcore cleanup`` spares it while it
runs and ``--force`` stops it). ``stop()`` sends SIGTERM: the daemon closes
its socket and exits, **leaving the containers running** under their shims
(dockerd's ``--live-restore``). A daemon killed with SIGKILL leaves its
socket file behind; the next one checks that nobody answers there, removes
it and finds the containers again (``api.restore``).
"""

from __future__ import annotations

import atexit
import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from .. import tracker
from ..errors import LabError
from ..proc.stat import process_start_time
from . import api, containers, spare

WHAT = "daemon"  # the process record's mark, as the registry's


def socket_path() -> Path:
    return containers.base() / "docker.sock"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Go's client expects
    server_version = "labcore"
    daemon: api.Daemon  # set on the class by serve()

    def log_message(self, fmt, *args):  # a unix socket has no client address to print
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {fmt % args}\n")

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body = self._body()
        except ValueError:
            body = None
        req = api.Request(self.command, urllib.parse.unquote(url.path), query, body,
                          headers={k.lower(): v for k, v in self.headers.items()})
        if isinstance(body, bytes):
            answer = api.error(400, "the request body is not JSON")
        else:
            answer = api.handle(self.daemon, req)
        if isinstance(answer, api.Stream):
            self._stream(answer)
        else:
            self._respond(answer)

    def _respond(self, r: api.Response):
        data = r.body if isinstance(r.body, (bytes, type(None))) else json.dumps(r.body).encode()
        self.send_response(r.status)
        for k, v in r.headers.items():
            self.send_header(k, v)
        if data is not None and "Content-Type" not in r.headers:
            self.send_header("Content-Type", "application/json")
        if r.status not in (204, 304):
            self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, s: api.Stream):
        if s.upgrade:
            self.send_response(101, "UPGRADED")
            self.send_header("Content-Type", s.content_type)
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
        else:
            self.send_response(200)
            self.send_header("Content-Type", s.content_type)
            self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

        def write(data: bytes):
            self.wfile.write(data)
            self.wfile.flush()
        reader = None
        if s.stdin is not None:  # attach -i: the client's bytes, read while the output is written
            reader = threading.Thread(target=s.stdin, args=(lambda: self.rfile.read1(65536),), daemon=True,
                                      name="attach-stdin")
            reader.start()
        try:
            s.write(write)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; the container goes on
        finally:
            if reader is not None:
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RD)  # the reader's read returns: the output is over
                reader.join(timeout=5)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _dispatch


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # listen(2)'s backlog. socketserver's default is 5, and a unix socket whose backlog is full refuses
    # at once (no retry as TCP has): `docker rm -f` of 15 containers sends 15 requests together.
    request_queue_size = 128


def _answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def serve() -> int:
    """The daemon itself (``labcore daemon serve``, started by ``start()``)."""
    if sys.stdin.readline().strip() != "go":
        return 1  # whoever started us died before recording us
    path = socket_path()
    if os.path.lexists(path):
        if _answers(path):
            print(f"another daemon answers on {path}", file=sys.stderr)
            return 1
        for rec in tracker.default().records():  # a SIGKILLed daemon's socket: nobody answers there
            if rec.kind == "path" and rec.target == str(path):
                tracker.default().forget(rec)
        path.unlink()
    daemon = api.Daemon()
    Handler.daemon = daemon
    with tracker.default().created("path", path, what="daemon socket") as rec:
        old = os.umask(0o177)  # the socket is made 0600: root only, as docker.sock is root's and the docker group's
        try:
            server = Server(str(path), Handler)
        finally:
            os.umask(old)
    from . import images
    images.adopt_store(os.getpid(), process_start_time(os.getpid()))  # ours while we run: the containers' lowerdirs
    spare.forget_stale()  # the records of a killed daemon's spare shims
    for line in api.restore(daemon):
        print(f"restored {line}", file=sys.stderr)
    programs = _programs_dir()
    spare.keep_one(containers.runtime_root(), Path(programs.target))  # the next container's shim, started now

    def on_term(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()  # shutdown() waits for serve_forever
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(f"listening on {path}, pid {os.getpid()}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        api.finish_deleting(daemon)
        spare.stop()
        tracker.default().undo(programs)
        tracker.default().undo(rec)  # the socket file goes; the containers stay (live restore)
        atexit.unregister(tracker.default().undo_owned)  # what the daemon owns (stopped containers) persists
    return 0


def _programs_dir() -> tracker.Record:
    """The seccomp programs the shims share (labcore.security.seccomp.keep_programs_in): made empty at
    each start, as a program should not outlive the libseccomp that generated it by long."""
    path = containers.base() / "seccomp"
    for rec in tracker.default().records():  # a killed daemon's
        if rec.kind == "path" and rec.target == str(path):
            tracker.default().undo(rec)
    if path.exists():
        shutil.rmtree(path)  # one left without its record: emptied all the same
    with tracker.default().created("path", path, what="seccomp programs") as rec:
        path.mkdir(mode=0o700)
    return rec


# --- start, stop, status: run by the `labcore daemon` command ----------------------------------
def running() -> list[tracker.Record]:
    """The daemon's process records whose process is alive."""
    return [r for r in tracker.default().records()
            if r.kind == "process" and r.extra.get("what") == WHAT and tracker.is_running(int(r.target),
                                                                                       r.extra.get("start_time"))]


def start(timeout: float = 15) -> Path:
    """Start the daemon (or find the one running); returns its socket once it answers."""
    path = socket_path()
    if running():
        return path
    containers.base().mkdir(parents=True, exist_ok=True, mode=0o711)
    log_path = containers.base() / "daemon.log"
    for rec in tracker.default().records():  # a previous daemon's, left by SIGKILL or stop: ours replace them
        if rec.extra.get("what") in (WHAT, "daemon log") and not tracker.owner_alive(rec):
            tracker.default().forget(rec) if rec.kind == "path" else tracker.default().undo(rec)
    with tracker.default().created("path", log_path, what="daemon log") as log_rec:
        log = open(log_path, "ab")
    with log:
        proc = subprocess.Popen([sys.executable, "-m", "labcore", "daemon", "serve"], stdin=subprocess.PIPE,
                                stdout=log, stderr=log, start_new_session=True, close_fds=True)
    started = process_start_time(proc.pid)
    with tracker.default().created("process", proc.pid, start_time=started, what=WHAT, socket=str(path)) as rec:
        pass
    containers.hand([rec, log_rec], proc.pid, started)  # it owns itself and its log: cleanup spares it while it runs
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"the daemon exited with status {proc.returncode} at start", f"see {log_path}")
        if path.exists() and _answers(path):
            return path
        time.sleep(0.01)
    raise LabError(f"the daemon did not answer on {path} within {timeout:.0f} s", f"see {log_path}")


def stop(timeout: float = 10) -> list[int]:
    """SIGTERM each running daemon, wait for it, drop its record; the containers keep running."""
    from ..ns.kill import terminate
    done = []
    for rec in running():
        pid = int(rec.target)
        terminate(pid, rec.extra.get("start_time"), timeout)
        tracker.default().undo(rec)  # SIGKILL if it did not exit; drops the record
        done.append(pid)
    return done


@contextlib.contextmanager
def session():
    """``with lab.daemon.server.session() as host:`` runs the block with a daemon answering on ``host``
    (``unix://PATH``, what DOCKER_HOST takes); stops it afterwards if the block started it. For notebooks."""
    was_running = bool(running())
    path = start()
    try:
        yield f"unix://{path}"
    finally:
        if not was_running:
            stop()


def status() -> dict | None:
    found = running()
    if not found:
        return None
    rec = found[0]
    return {"pid": int(rec.target), "socket": rec.extra.get("socket")}


__all__ = ["serve", "start", "stop", "status", "session", "running", "socket_path", "Handler", "Server"]
