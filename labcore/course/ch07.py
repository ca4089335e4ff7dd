"""Chapter 07, Docker's architecture: its quiz and exercises."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

IMAGE = "lab/busybox:07"

QUIZ = Quiz("07", "Docker's architecture", [
    Choice("socket", "What does the `docker` command send when you type `docker ps`?",
           right="an HTTP GET of /containers/json on the daemon's unix socket, then it prints the JSON",
           wrong=["a gRPC call to containerd, which keeps the only list of Docker's running containers",
                  "nothing on the network: it reads the container list from files under /var/lib/docker"],
           why="Section 3 recorded every request the CLI made: plain HTTP on a unix socket, nothing else."),
    Choice("create-start", "`POST /containers/create` has answered 201 with an ID. What exists now?",
           right="the container's record and configuration, but no process and no shim for it yet",
           wrong=["a process stopped before its first instruction, waiting in its namespaces for start",
                  "the shim and the runtime's init, blocked on the exec fifo until start releases it"],
           why="Section 4: inspect shows Pid 0 and no shim runs until POST /containers/ID/start."),
    Choice("attach-first", "Why does `docker run` attach to the container *before* it starts it?",
           right="so that no output is lost: a short command could finish before a later attach",
           wrong=["because the daemon refuses to start a container that has no client attached yet",
                  "because attach allocates the container's stdio pipes, which start then hands over"],
           why="Section 3: attach (101) and wait come before start; `echo hi` is over within milliseconds."),
    Choice("rm", "With `docker run --rm`, who deletes the container when it exits?",
           right="the daemon, told by the AutoRemove flag of create; the CLI waits for condition=removed",
           wrong=["the CLI, which sends DELETE /containers/ID?force=1 as soon as the wait call has answered",
                  "the shim, which removes the container's directory just after recording its exit status"],
           why="Section 3: no DELETE in the trace of `run --rm`; the wait call carried condition=removed."),
    Choice("restart", "Why can dockerd be upgraded or restarted without killing the containers (with live-restore)?",
           right="their parent is a shim, not dockerd or containerd, and their state is kept in files",
           wrong=["dockerd saves each container's memory to disk and restores it when it starts again",
                  "the kernel keeps processes of a unix socket's server alive until a new server binds it"],
           why="Sections 2 and 5: the container's parent is its shim; the real engine's shim left containerd's "
               "tree and was adopted by PID 1."),
    Choice("k8s", "Kubernetes removed dockershim in 1.24. What runs containers on such a node?",
           right="the kubelet calls containerd (or CRI-O) through the CRI; dockerd is not needed at all",
           wrong=["the kubelet itself runs runc for each of the pod's containers, with no daemon in between",
                  "dockerd still runs them: only the name of the socket the kubelet calls has changed"],
           why="Section 1: dockerd's own parts (its API, builds, networks) are not what Kubernetes needs."),
    Recall("run-flow", "Walk an interviewer through `docker run --rm busybox echo hi`, call by call, down to the "
                       "process, and say what each component does.",
           model="The CLI pings the daemon (HEAD /_ping), POSTs /containers/create with the config (image, Cmd, "
                 "AutoRemove); dockerd checks the image is there (404 -> the CLI pulls and retries), stores the "
                 "container and answers its ID. The CLI attaches (POST .../attach, answered 101: the connection "
                 "becomes a raw framed stream), asks to wait (condition=removed), then POSTs .../start. dockerd asks "
                 "containerd over gRPC to create the container and start a task (dockerd has mounted the rootfs "
                 "with its storage driver; with the containerd image store, containerd prepares a snapshot); "
                 "containerd writes the bundle, starts containerd-shim-runc-v2, which runs runc create and "
                 "start; runc makes the namespaces, cgroup and mounts and execs echo. Output goes shim -> dockerd -> the hijacked "
                 "connection; at exit the shim reports the status, dockerd removes the container and answers wait.",
           demo="sections 3 and 4"),
    Recall("why-layers", "Why is Docker split into dockerd, containerd, a shim and runc instead of one program?",
           model="Each split has a reason: the runtime (runc) is a standard (OCI) and replaceable (crun, gVisor, "
                 "Kata); containerd is a container manager reused without Docker (Kubernetes via CRI); the shim lets "
                 "containerd restart or upgrade while containers run (it is their parent and holds their stdio), "
                 "and dockerd too when live-restore is on; "
                 "dockerd keeps the user-facing parts (API, builds, networks, volumes). It also limits the damage "
                 "of a crash to one layer.",
           demo="sections 1, 2 and 5"),
])


# --- the lab's stack, for both exercises -------------------------------------------------------
class _Stack:
    """The lab's daemon with the chapter's image: started (and loaded) only if missing, undone at close."""

    def __init__(self):
        from ..daemon import images, server
        from ..fs.scratch import Scratch
        from .. import images as oci
        self.labcore = [sys.executable, "-m", "labcore"]
        self.store_existed = images.root().exists()
        self.was_running = server.status() is not None
        self.work = Scratch("ch07-ex")
        try:
            images.find(IMAGE)
        except Exception:  # not loaded yet (the notebook loads it in section 2; a test starts from nothing)
            ctx = self.work / "image"
            oci.busybox_rootfs(ctx / "rootfs", applets=["sh", "echo", "sleep"])
            (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
            oci.build(ctx / "Dockerfile", ctx, self.work / "layout", "v1", cache=self.work / "cache")
            subprocess.run(self.labcore + ["image", "load", f"{self.work / 'layout'}:v1", "--name", IMAGE],
                           check=True, capture_output=True, timeout=300)
        self.socket = Path(server.start(timeout=120))

    def connect(self) -> http.client.HTTPConnection:
        return unix_connection(self.socket)

    def close(self):
        from ..daemon import images, server
        from ..teach import runtimes
        try:
            if not self.was_running and server.status() is not None:
                pid = server.status()["pid"]
                server.stop()
                runtimes.forget_daemon(pid)
                if not self.store_existed:
                    images.remove_store()
        finally:
            self.work.remove()


def unix_connection(path: str | os.PathLike, timeout: float = 60) -> http.client.HTTPConnection:
    """An http.client connection whose socket is the unix socket ``path`` (Host: docker, as the CLI says)."""
    conn = http.client.HTTPConnection("docker", timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    conn.sock = sock
    return conn


def _call(stack: _Stack, method: str, path: str, body=None):
    c = stack.connect()
    try:
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data.strip()[:1] in (b"{", b"[") else data)
    finally:
        c.close()


def _shims_of(cid: str) -> list[int]:
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if Path(f"/proc/{p}/comm").read_text() == f"shim {cid[:10]}\n":  # its name, set once given the container
                    found.append(int(p))
            except OSError:
                pass
    return found


class WhichCall(Exercise):
    id = "which-call"
    chapter = "07"
    kind = "predict"
    title = "predict which API call makes the container's process"
    task = """`docker run` sends, among others, `POST /containers/create` and then `POST /containers/ID/start`.
Before section 4, predict: after which of the two does the container's process exist on the machine
(a PID the kernel knows, a shim as its parent)? Answer "create" or "start". The checker sends both calls
to the lab's daemon itself and looks for the process after each."""
    hint = "think of what a client may still change, or never use, between the two calls"

    def setup(self):
        self.stack = _Stack()

    def verify(self, answer):
        said = str(answer or "").strip().lower().removeprefix("post").strip().strip("/")
        if said not in ("create", "start", "containers/create", "containers/id/start"):
            return 'answer "create" or "start"'
        said = "create" if "create" in said else "start"
        status, made = _call(self.stack, "POST", "/containers/create", {"Image": IMAGE, "Cmd": ["sleep", "30"]})
        if status != 201:
            return f"the daemon refused create ({status}): is the image {IMAGE} loaded?"
        cid = made["Id"]
        try:
            after_create = _call(self.stack, "GET", f"/containers/{cid}/json")[1]["State"]["Pid"] or _shims_of(cid)
            _call(self.stack, "POST", f"/containers/{cid}/start")
            after_start = _call(self.stack, "GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
        finally:
            _call(self.stack, "DELETE", f"/containers/{cid}?force=1")
        truth = "create" if after_create else "start" if after_start else None
        if said == truth:
            return None
        return ("after create the daemon reported no PID and no shim ran: the container was only a record"
                if said == "create" else "measured otherwise: look at what inspect says after each call")

    def close(self):
        self.stack.close()


class ApiRun(Exercise):
    id = "api-run"
    chapter = "07"
    kind = "build"
    title = "run a container with your own HTTP requests"
    task = f"""Write `api_run(connect, image)`: it runs `echo hello from the API` in a new container of `image`
through the Engine API, the way the docker CLI does, and returns what the container printed (a str).
`connect()` gives a fresh http.client.HTTPConnection on the daemon's socket (one per request is simplest).
Create, start, wait until it exits, read its logs (`GET /containers/ID/logs?stdout=1`: each piece of output
comes after an 8-byte header, the stream number then the length, big-endian, in bytes 4-7), and remove it.
The checker passes a connection through a recording relay and looks at the calls and at the daemon's
containers afterwards. The image here is `{IMAGE}`."""
    hint = "create answers JSON with an Id; start and wait take that Id in their path; a JSON body needs "\
           "Content-Type: application/json"

    def setup(self):
        from ..teach.apitrace import Trace
        self.stack = _Stack()
        self.trace = Trace(self.stack.socket, self.stack.work / "relay.sock").start()

    def verify(self, answer):
        from ..teach.apitrace import in_order
        if not callable(answer):
            return "pass your function itself (api_run, without parentheses)"
        self.trace.clear()
        before = {c["Id"] for c in _call(self.stack, "GET", "/containers/json?all=1")[1]}
        try:
            got = answer(lambda: unix_connection(self.trace.listen), IMAGE)
        except NotImplementedError:
            return "api_run() is not written yet: replace the raise with your code"
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            return f"your function raised {type(exc).__name__}: {str(exc)[:200]}"
        calls = self.trace.calls()
        status, listed = _call(self.stack, "GET", "/containers/json?all=1")
        left = [c["Id"] for c in listed if c["Id"] not in before] if isinstance(listed, list) else []
        for cid in left:
            _call(self.stack, "DELETE", f"/containers/{cid}?force=1")
        if not in_order(calls, [("POST", "/containers/create")]):
            return "no POST /containers/create reached the daemon"
        if not in_order(calls, [("POST", "/containers/create"), ("POST", "/containers/ID/start")]):
            return "the container was created but never started: which call makes its process?"
        if isinstance(got, bytes):
            if got.endswith(b"hello from the API\n"):
                return "you returned the raw bytes of the logs: strip each 8-byte header and decode the text"
            got = got.decode("utf-8", "replace")
        if not isinstance(got, str):
            return f"api_run() returned {type(got).__name__}: return the container's output as a str"
        if got != "hello from the API\n":
            if "hello from the API" in got:
                return "close: the text still carries the frames' headers (8 bytes before each piece)"
            return f"the output was {got[:80]!r}: did you wait for the exit before reading the logs?"
        if left:
            return "the container is still there afterwards: remove it (DELETE /containers/ID)"
        return None

    def close(self):
        try:
            self.trace.close()
        finally:
            self.stack.close()


EXERCISES = [WhichCall, ApiRun]


__all__ = ["QUIZ", "EXERCISES", "IMAGE", "unix_connection"]
