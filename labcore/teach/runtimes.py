"""Several OCI runtimes driving one bundle: labcore's, runc and crun, side by side. Chapter 08.

An OCI runtime is a command, not a library: whoever drives it (containerd's
shim, Podman's conmon, the OCI validation suite, a person at a shell) runs
``RUNTIME --root STATEDIR create --bundle DIR ID``, then ``start ID``,
``state ID``, ``kill ID SIGNAL`` and ``delete ID``, and reads the state JSON
the runtime prints. Because that command line is the interface, one bundle
can be handed to any runtime, which is what this module does::

    rts = runtimes.available(work / "roots")      # {"labcore": Runtime, "runc": ..., "crun": ...}
    b = runtimes.bundle(work / "hello", ["echo", "hi"])
    rts["runc"].run("hi-runc", b)                  # (exit status, stdout)

Two details every caller of a runtime must know, and which ``Runtime``
handles:

* a **created** container keeps the stdio ``create`` was given, so reading
  ``create``'s stdout from a pipe would wait until the container ends:
  outputs go through files here, as containerd's shim passes its own fds;
* crun refuses *hybrid* cgroups (v1 controllers plus a cgroup2 mount that
  holds none of them). On such a host it runs in a private mount namespace
  where that cgroup2 mount is unmounted (``unshare --mount``): its view
  changes, the host's does not. On a pure v1 or v2 host it runs as it is.

Containers made for runc and crun are recorded with the tracker like the
lab's own: each gets a ``cgroupsPath`` in the lab's ``labcore`` subtree,
recorded before the runtime makes it, so ``labcore cleanup`` kills what a
crashed notebook left running there and removes the groups.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from .. import tracker
from ..launch import stack_command
from ..errors import LabError

OURS = stack_command("runtime")  # as tools/labcore-runtime starts it (labcore/launch.py)
HIDE_CGROUP2 = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'umount /sys/fs/cgroup/unified && exec "$0" "$@"']


def hybrid_cgroups() -> bool:
    """Is /sys/fs/cgroup/unified a cgroup2 mount next to v1 controllers (systemd's hybrid layout)?"""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == "/sys/fs/cgroup/unified" and fields[2] == "cgroup2":
            return True
    return False


class Runtime:
    """One OCI runtime: its command line (``argv``) and a state root of its own."""

    def __init__(self, name: str, argv: list[str], root: Path):
        self.name, self.argv, self.root = name, list(argv), Path(root)
        self._outdir = self.root.parent / f"{name}-io"  # next to the root: removed with the caller's directory
        self._outdir.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, list] = {}  # container id -> its tracker records (peers' cgroups)
        self._calls = 0

    def __repr__(self) -> str:
        return f"<Runtime {self.name}: {' '.join(self.command('ID'))}>"

    def command(self, *args: str) -> list[str]:
        return [*self.argv, "--root", str(self.root), *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run one verb; stdout and stderr through files (a created container holds create's stdio)."""
        self._calls += 1  # fresh files each call: a created container keeps writing into create's
        out_path, err_path = self._outdir / f"{self._calls}.out", self._outdir / f"{self._calls}.err"
        with open(out_path, "w+") as out, open(err_path, "w+") as err:
            code = subprocess.run(self.command(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(args, code, out.read(), err.read())
        if check and code != 0:
            raise LabError(f"{self.name} {' '.join(args)} failed with status {code}: {done.stderr.strip()[:300]}",
                           "read the runtime's message; the bundle's config.json may need a change")
        return done

    # --- the five operations of the runtime spec, plus run ------------------------------------
    def create(self, cid: str, bundle: Path) -> dict:
        """``create``: returns the state JSON (status "created", the init's PID)."""
        recs = self._prepare(bundle, cid)
        try:
            self("create", "--bundle", str(bundle), cid)
        except BaseException:
            for rec in recs:
                tracker.default().undo(rec)
            raise
        self._records[cid] = recs
        return self.state(cid)

    def start(self, cid: str) -> None:
        self("start", cid)

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid).stdout)

    def kill(self, cid: str, sig: str = "KILL") -> None:
        self("kill", cid, sig)

    def delete(self, cid: str, force: bool = False) -> None:
        self("delete", *(["--force"] if force else []), cid)
        for rec in self._records.pop(cid, []):
            tracker.default().undo(rec)  # the runtime removed the groups: the records go ("already gone")

    def wait_for(self, cid: str, status: str, timeout: float = 10) -> dict:
        """Poll ``state`` until the container has ``status``."""
        deadline = time.monotonic() + timeout
        while (s := self.state(cid))["status"] != status:
            if time.monotonic() > deadline:
                raise LabError(f"{self.name}: container {cid} is {s['status']}, not {status}, after {timeout} s",
                               "look at it with the runtime's state command")
            time.sleep(0.02)
        return s

    def run(self, cid: str, bundle: Path) -> tuple[int, str]:
        """create + start + wait + delete, as separate commands; (exit status, what the container printed).

        The container's stdout is create's, so it lands in a file of ours once the container exits.
        """
        out = self._outdir / f"{cid}.out"
        recs = self._prepare(bundle, cid)
        try:
            with open(out, "w") as f:
                code = subprocess.run(self.command("run", "--bundle", str(bundle), cid), stdin=subprocess.DEVNULL,
                                      stdout=f, stderr=subprocess.STDOUT, timeout=60).returncode
        finally:
            for rec in recs:
                tracker.default().undo(rec)
        return code, out.read_text()

    def _prepare(self, bundle_dir: Path, cid: str) -> list:
        """Give the container the cgroupsPath labcore/CID; a peer's directories are recorded before it makes them
        (labcore's own runtime records its cgroups itself), so what a crash leaves, ``labcore cleanup`` removes."""
        from ..runtime import cgroups
        edit(bundle_dir, lambda c: c["linux"].update(cgroupsPath=f"/{tracker.CGROUP_NAME}/{cid}"))
        if self.name == "labcore":
            return []
        return cgroups.record_peer_groups([cid], what=f"a {self.name} container's cgroup")

    def close(self) -> None:
        """Delete what is left in this runtime's root, then its scratch files."""
        for cid in list(self._records):
            self("delete", "--force", cid, check=False)
            for rec in self._records.pop(cid):
                tracker.default().undo(rec)
        shutil.rmtree(self._outdir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def available(roots: Path) -> dict[str, Runtime]:
    """The runtimes on this machine: labcore's always, runc and crun where installed; each root under ``roots``."""
    roots = Path(roots)
    found = {"labcore": Runtime("labcore", OURS, roots / "labcore")}
    if shutil.which("runc"):
        found["runc"] = Runtime("runc", [shutil.which("runc")], roots / "runc")
    if shutil.which("crun"):
        crun = [shutil.which("crun")]
        found["crun"] = Runtime("crun", HIDE_CGROUP2 + crun if hybrid_cgroups() else crun, roots / "crun")
    return found


# --- bundles ---------------------------------------------------------------------------------
def bundle(dest: Path, args: list[str], applets: list[str] | None = None, **changes) -> Path:
    """A busybox bundle at ``dest``: ``rootfs/`` and the default ``config.json`` running ``args``.

    ``changes`` replace top-level keys of the config (``hostname=...``); ``edit()`` does the rest.
    """
    from ..images import busybox_rootfs
    from ..runtime import spec
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    busybox_rootfs(dest / "rootfs", applets=applets or ["sh", "echo", "cat", "ls", "sleep", "hostname", "ps", "true"])
    cfg = spec.default(args)
    cfg.update(changes)
    write_config(dest, cfg)
    return dest


def config(bundle_dir: Path) -> dict:
    return json.loads((Path(bundle_dir) / "config.json").read_text())


def write_config(bundle_dir: Path, cfg: dict) -> None:
    (Path(bundle_dir) / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def edit(bundle_dir: Path, fn) -> dict:
    """Apply ``fn(cfg)`` to the bundle's config.json and save it; returns the new config."""
    cfg = config(bundle_dir)
    fn(cfg)
    write_config(bundle_dir, cfg)
    return cfg


def forget_daemon(pid: int) -> list[str]:
    """Once the lab's daemon ``pid`` has exited (SIGKILLed, or stopped): undo its own records, its process
    and its log.

    The image store and the containers are left alone: the next daemon adopts them (live restore).
    """
    done = []
    for rec in tracker.default().records():
        mine = rec.owner == pid and ((rec.kind == "process" and rec.target == str(pid))
                                     or rec.extra.get("what") == "daemon log")
        if mine:
            done.append(f"{rec}: {tracker.default().undo(rec)}")
    return done


# --- timing ----------------------------------------------------------------------------------
def time_lifecycle(rt: Runtime, bundle_dir: Path, rounds: int = 5, prefix: str = "lab-t") -> list[float]:
    """Milliseconds of create + start + (wait) + delete of the bundle, ``rounds`` times: the runtime's own cost."""
    times = []
    for n in range(rounds + 1):
        cid = f"{prefix}-{rt.name}-{n}"
        t0 = time.perf_counter()
        code, _ = rt.run(cid, bundle_dir)
        took = (time.perf_counter() - t0) * 1000
        if code != 0:
            raise LabError(f"{rt.name} run {cid} exited with {code}", "run it once by hand to see why")
        if n:  # the first round warms caches: left out
            times.append(took)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- pictures --------------------------------------------------------------------------------
CHAIN = [  # (caller, callee, how they talk)
    ("kubelet", "containerd", "CRI: gRPC, served by\ncontainerd's CRI plugin"),
    ("docker CLI", "dockerd", "Docker Engine API\n(HTTP on /run/docker.sock)"),
    ("dockerd", "containerd", "containerd's gRPC API\n(namespace moby)"),
    ("containerd", "containerd-shim-runc-v2\n(one per container, or per pod)", "starts it, then\nttrpc on the shim's socket"),
    ("containerd-shim-runc-v2\n(one per container, or per pod)", "runc", "exec: runc create / start / kill / delete\n(OCI runtime spec: bundle + verbs)"),
    ("runc", "container process", "clone, setns, mount, pivot_root,\ncgroup files, execve (then runc exits)"),
]
LAB_CHAIN = [
    ("docker CLI ", "labcore daemon", "Docker Engine API\n(HTTP on a unix socket)"),
    ("labcore daemon", "labcore shim", "starts one per container"),
    ("labcore shim", "labcore runtime", "exec: create / start / delete"),
    ("labcore runtime", "container process\n(lab)", "the same system calls"),
]


def _q(text: str) -> str:
    """A DOT string whose line breaks stay line breaks (render.quote shows them as '?')."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def chain_diagram():
    """The chain from kubelet (and dockerd) to the container, each link named by its protocol (chapter 08).

    A picture of the architecture, not of this machine: the lab's own stack, drawn beside it, is what
    the chapter runs.
    """
    from .diagrams.render import Diagram, header
    quote = _q
    lines = header("chain", "Who calls whom to run a container: Kubernetes and Docker, and the lab's stack")
    names = {}

    def node(label, colour):
        if label not in names:
            names[label] = f"n{len(names)}"
            lines.append(f"  {names[label]} [label={quote(label)}, fillcolor={quote(colour)}];")
        return names[label]
    for i, (group, edges, colour) in enumerate((("real", CHAIN, "#dbe9f6"), ("lab", LAB_CHAIN, "#d7f0d2"))):
        lines.append(f"  subgraph cluster_{group} {{ label={quote('Kubernetes and Docker' if i == 0 else 'this lab')}; "
                     "style=dashed; color=\"#999999\";")
        for a, b, how in edges:
            lines.append(f"  {node(a, colour)} -> {node(b, colour)} [label={quote(how)}];")
        lines.append("  }")
    lines.append("}")
    text = "\n".join(f"{a.replace(chr(10), ' ')} -> {b.replace(chr(10), ' ')}   [{how.replace(chr(10), ' ')}]"
                      for a, b, how in CHAIN + LAB_CHAIN)
    return Diagram("\n".join(lines), "the call chain\n" + text, "the call chain")


def lifecycle_diagram(observed: dict[str, list[tuple[str, str]]]):
    """The runtime spec's state machine, each state annotated with the runtimes seen in it (chapter 08).

    ``observed``: runtime name -> [(what was just done, the status ``state`` reported)].
    """
    from .diagrams.render import Diagram, header
    quote = _q
    states = ["creating", "created", "running", "stopped", "(deleted)"]
    verbs = [("creating", "created", "create returns"), ("created", "running", "start"),
             ("running", "stopped", "the process exits\n(kill)"), ("stopped", "(deleted)", "delete")]
    seen = {s: sorted(name for name, steps in observed.items() if any(st == s for _, st in steps)) for s in states}
    lines = header("lifecycle", "A container's life, as `state` reported it here", rankdir="LR")
    for i, st in enumerate(states):
        who = ", ".join(seen[st]) or "not observed"
        lines.append(f"  s{i} [label={quote(st + chr(10) + 'seen: ' + who)}, fillcolor={quote('#fde2c8' if seen[st] else '#eeeeee')}];")
    for a, b, verb in verbs:
        lines.append(f"  s{states.index(a)} -> s{states.index(b)} [label={quote(verb)}];")
    lines.append("}")
    text = "\n".join(f"{st:10} seen: {', '.join(seen[st]) or 'not observed'}" for st in states)
    return Diagram("\n".join(lines), "a container's life, as state reported it\n" + text, "container lifecycle")


__all__ = ["Runtime", "available", "bundle", "config", "write_config", "edit", "time_lifecycle", "median",
           "hybrid_cgroups", "forget_daemon", "chain_diagram", "lifecycle_diagram", "OURS", "HIDE_CGROUP2"]
