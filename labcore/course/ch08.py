"""Chapter 08, containerd and runc: its quiz and exercises."""

from __future__ import annotations

import json
import os
import secrets

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("08", "containerd and runc", [
    Choice("runc-left", "`runc create` then `runc start` have returned for a container that runs `sleep 600`. "
                        "Which runc processes are left on the machine for it?",
           right="none: runc's init became `sleep` by execve, and both commands exited",
           wrong=["one `runc` per container, kept as its parent so that it can wait(2) for the exit status",
                  "one `runc` daemon for all containers, which listens on a socket under /run/runc"],
           why="Section 3: after start, /proc/PID/cmdline reads `sleep 600`; runc is a command, not a daemon. "
               "The parent that waits is the shim's job."),
    Choice("created", "`runc state` reports a container as \"created\". What is true of it at that moment?",
           right="its process exists, in its namespaces and cgroup, blocked on the exec fifo",
           wrong=["its config.json has been checked, but no process or namespace exists until start",
                  "its program is already running, frozen by the cgroup freezer until start thaws it"],
           why="Section 3 read /proc/PID/ns and the blocked fd on exec.fifo before start."),
    Choice("shim", "Why does containerd start one shim process per container?",
           right="so containerd can restart while each container keeps a parent that reaps it and holds its stdio",
           wrong=["because a pid namespace accepts new processes only from one fixed parent, chosen at creation",
                  "because runc refuses to start a container unless its parent runs in the same cgroup as it"],
           why="Section 6 killed the daemon: the shim stayed the container's parent, kept its log and recorded "
               "the exit status."),
    Choice("cri", "Where does the CRI sit between the kubelet and runc?",
           right="a gRPC API the kubelet calls; containerd serves it through its CRI plugin",
           wrong=["an OCI runtime the kubelet executes directly in place of runc, one per pod",
                  "the file format of pod specs, which containerd converts into config.json files"],
           why="Sections 1 and 5: kubelet -> CRI (gRPC) -> containerd -> shim -> runc; only the last link is the OCI "
               "runtime spec."),
    Choice("pause", "What does a pod's pause (sandbox) container do?",
           right="it holds the pod's net, ipc and uts namespaces while the app containers come and go",
           wrong=["it freezes every container of the pod in the cgroup freezer during a rolling update",
                  "it runs the pod's probes and restarts its app containers when they fail them"],
           why="Section 5: the pod's namespaces belong to the pause process; the app containers join them by path."),
    Choice("by-path", "A config.json has `{\"type\": \"network\", \"path\": \"/proc/4242/ns/net\"}`. "
                      "What does the runtime do with that entry?",
           right="setns(2) into the network namespace process 4242 is in, instead of making one",
           wrong=["make a new network namespace and bind-mount it at that path for others to join",
                  "copy the interfaces and routes of process 4242 into a new network namespace"],
           why="Section 5 and the build exercise: the web and client containers share the pause's inode."),
    Choice("interop", "Why does one bundle run unchanged under labcore's runtime, runc and crun?",
           right="each implements the OCI runtime spec: the same config.json and the same verbs",
           wrong=["each is a front end to libcontainer, the one library that makes containers",
                  "the bundle carries a static copy of the runtime, and each tool starts that copy"],
           why="Section 2: crun is written in C, ours in Python, runc in Go; only the spec is shared."),
    Recall("docker-run-chain", "On a Docker host, name every process from `docker run -d nginx` down to the "
                               "container's process, say what each does, and which of them stay afterwards.",
           model="docker (the CLI) sends REST calls to dockerd on its unix socket and exits. dockerd checks the "
                 "image and asks containerd (gRPC) to create a container and a task. dockerd mounts the "
                 "rootfs with its storage driver (containerd prepares it from a snapshot when Docker uses the "
                 "containerd image store), and containerd writes the bundle and starts "
                 "containerd-shim-runc-v2. The shim runs `runc create` and `runc start`: runc sets up "
                 "namespaces, cgroups, mounts and exits; its init execs nginx. What stays: dockerd, containerd (shared), one shim per container as the "
                 "container's parent, and nginx.",
           demo="sections 1, 3 and 6"),
    Recall("daemon-dies", "An interviewer asks: \"containerd crashes. What happens to the running containers, "
                          "and how does it find them again?\"",
           model="Nothing happens to them: they are processes of the kernel whose parent is their shim, not "
                 "containerd. The shim keeps holding their stdio and writing logs, and waits for their exit "
                 "status. A restarted containerd reconnects to each shim through the socket recorded in its "
                 "state directory. dockerd is different in its default: unless live-restore is enabled it stops "
                 "its containers at a clean stop, and at its next start those it finds still running.",
           demo="section 6"),
])


def _ns(pid, kind):
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


class CreatedCmdline(Exercise):
    id = "created-cmdline"
    chapter = "08"
    kind = "predict"
    title = "predict what a created container's process is running"
    task = """A bundle's config.json says process.args = ["sleep", "300"]. `runc create` returns, and
`runc state` prints a PID. Before section 3, predict what `cat /proc/PID/cmdline` shows for that PID
(write the arguments separated by spaces, as `tr '\\0' ' '` would print them; a program's directory
does not matter). The checker creates a real container with runc and reads the file."""
    hint = "ask which system call turns a process into the program of config.json, and when it is made"

    def verify(self, answer):
        from ..fs.scratch import Scratch
        from ..teach import runtimes
        if answer is None or not str(answer).strip():
            return "write the command line as text, for example \"ls -l\""
        work = Scratch("ch08-predict")
        try:
            rt = runtimes.available(work / "roots")["runc"]
            b = runtimes.bundle(work / "b", ["sleep", "300"])
            cid = f"lab-predict-{secrets.token_hex(3)}"
            pid = rt.create(cid, b)["pid"]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                seen = f.read().rstrip(b"\0").split(b"\0")
            rt.delete(cid, force=True)
            rt.close()
        finally:
            work.remove()
        truth = [os.path.basename(seen[0].decode())] + [a.decode() for a in seen[1:]]
        said = str(answer).replace("\0", " ").split()
        said = [os.path.basename(said[0])] + said[1:] if said else said
        if said == truth:
            return None
        if said[:1] == ["sleep"]:
            return "the program of config.json is not running yet: what is the process waiting for?"
        if said[:1] == ["runc"]:
            return "right program, not the right arguments: which subcommand does runc run as a container's init?"
        return f"{' '.join(said)!r} is not what /proc/PID/cmdline shows: the process exists, so it runs something"


class JoinPod(Exercise):
    id = "join-pod"
    chapter = "08"
    kind = "build"
    title = "write the namespaces of a container that joins a pod"
    task = """A pod's pause container runs (its host PID is this exercise object's `pause_pid`). Write
`pod_namespaces(pause_pid)`: it returns the list to put in config.json's `linux.namespaces` for an app container of that pod, as a
Kubernetes runtime writes it: the pod's network, ipc and uts namespaces joined by path, and a pid and a
mount namespace of the container's own. The checker runs a container with your list under labcore's
runtime and compares its namespaces with the pause container's from the host."""
    hint = "the runtime spec's type names are pid, network, mount, ipc, uts, user, cgroup; a path names "\
           "the /proc/PID/ns file of a process already in that namespace"

    def setup(self):
        from ..fs.scratch import Scratch
        from ..teach import runtimes
        self.work = Scratch("ch08-pod")
        self.rt = runtimes.available(self.work / "roots")["labcore"]
        b = runtimes.bundle(self.work / "pause", ["sleep", "3600"], hostname="ex-pod")
        self.pause = f"lab-ex-pause-{secrets.token_hex(3)}"
        self.pause_pid = self.rt.create(self.pause, b)["pid"]
        self.rt.start(self.pause)
        self.app = runtimes.bundle(self.work / "app", ["sleep", "3600"])

    def verify(self, answer):
        from ..errors import LabError
        from ..teach import runtimes
        if not callable(answer):
            return "pass your function itself (pod_namespaces, without parentheses)"
        try:
            entries = answer(self.pause_pid)
        except NotImplementedError:
            return "pod_namespaces() is not written yet: replace the raise with your code"
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return f"pod_namespaces() returned {type(entries).__name__}: return a list of dicts like {{'type': 'pid'}}"
        def put(cfg):
            cfg["linux"]["namespaces"] = json.loads(json.dumps(entries))
            cfg.pop("hostname", None)  # a container that joins a uts namespace must not rename it
        runtimes.edit(self.app, put)
        cid = f"lab-ex-app-{secrets.token_hex(3)}"
        try:
            pid = self.rt.create(cid, self.app)["pid"]
        except LabError as exc:
            return f"the runtime refused your list: {str(exc).split(': ', 1)[-1][:300]}"
        try:
            me = os.getpid()
            for kind in ("net", "ipc", "uts"):
                if _ns(pid, kind) != _ns(self.pause_pid, kind):
                    if _ns(pid, kind) == _ns(me, kind):
                        return f"the container's {kind} namespace is the host's: whose /proc/PID/ns did you name?"
                    return f"the container's {kind} namespace is not the pod's: it must be joined by path"
            for kind in ("pid", "mnt"):
                if _ns(pid, kind) == _ns(self.pause_pid, kind):
                    return f"the container shares the pause container's {kind} namespace: it needs its own"
                if _ns(pid, kind) == _ns(me, kind):
                    return f"the container runs in the host's {kind} namespace: give it a new one"
            return None
        finally:
            self.rt.delete(cid, force=True)

    def close(self):
        try:
            self.rt.close()
        finally:
            self.work.remove()


EXERCISES = [CreatedCmdline, JoinPod]


__all__ = ["QUIZ", "EXERCISES"]
