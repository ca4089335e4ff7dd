"""The runtime's operations: create, start, state, kill, delete, and run, exec, list on top.

Each is one short-lived process working on the container's state directory
(``state.py``); the container's init (``init.py``) is the only process that
lives on. ``create`` is where the work is:

1. check config.json completely (``config.load``): a bad bundle makes nothing;
2. record the container (tracker kind ``container``), make its state directory and exec fifo;
3. make the cgroups of ``linux.cgroupsPath`` and write ``linux.resources``;
4. fork stage 1 (it is put into the cgroups before it unshares anything, so
   everything it starts is counted), answer its user-namespace question by
   writing uid_map and gid_map, learn the init's PID;
5. set the init's rlimits (prlimit(2)) and oom_score_adj, run the
   prestart and createRuntime hooks, tell the init to go, wait for "ready";
6. write state.json and the pid file, and hand the tracker record to the init.

Any failure undoes steps 2-4 before the error is raised.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time

from ..errors import InvalidInputError, LabError
from ..proc.stat import process_start_time
from . import state

# create's modules (config, cgroups, init, hooks, and the tracker with records) are imported by the functions
# that use them: every verb is a process of its own, and `start`, `state` or `kill` should not pay for what
# only `create` and `delete` need.

RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


def _signal_number(sig: str | int) -> int:
    """SIGTERM, TERM, 15 -> 15."""
    text = str(sig).upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidInputError(f"unknown signal {sig!r}", "a name (TERM, SIGKILL) or a number (15)") from None


def create(root, cid: str, bundle: str = ".", pid_file: str | None = None,
           console_socket: str | None = None) -> state.Container:
    """Create container ``cid`` from ``bundle``; returns once its init waits on the exec fifo.

    With ``process.terminal``, ``console_socket`` receives the master of the container's pty (console.py).
    """
    from .. import tracker
    from . import cgroups, config, console, init, records
    bundle = os.path.abspath(bundle)
    cfg = config.load(bundle)
    console.check(bool((cfg.get("process") or {}).get("terminal")), console_socket)
    if not (cfg.get("process") or {}).get("args"):
        raise InvalidInputError("config.json: process.args is missing or empty", "name the program to run")
    for i, r in enumerate((cfg.get("process") or {}).get("rlimits") or []):
        if r["type"] not in RLIMITS:
            raise InvalidInputError(f"config.json: process.rlimits[{i}].type {r['type']!r} is not a resource limit",
                                    "one of " + ", ".join(sorted(RLIMITS)))
    c = state.Container(root, cid)
    if os.path.lexists(c.dir):
        raise InvalidInputError(f"container {cid!r} exists already ({c.dir})", "delete it, or pick another id")
    cfg["_id"], cfg["_bundle"] = cid, bundle
    cfg["_security"] = init.prepare_security(cfg)  # a bad seccomp profile fails here, before anything exists
    missing = init.not_applied(cfg)
    if missing:
        print(f"labcore runtime: not applied by this runtime: {', '.join(missing)}", file=sys.stderr)
    os.makedirs(c.root, mode=0o700, exist_ok=True)
    sock = console.connect(console_socket) if console_socket else None  # the init inherits it
    if sock is not None:
        cfg["_console_fd"] = sock.fileno()
    rec = records.add(c.dir)
    made: list[str] = []
    try:
        os.mkdir(c.dir, 0o700)
        c.data = {"id": cid, "bundle": bundle, "status": "creating", "annotations": cfg.get("annotations") or {},
                  "creator": [os.getpid(), process_start_time(os.getpid())], "hooks": cfg.get("hooks") or {},
                  "created": time.time(), "record": str(rec.file), "not_applied": missing}
        c.save()
        os.mkfifo(c.fifo, 0o600)
        linux = cfg["linux"]
        paths = cgroups.plan(linux.get("cgroupsPath"), cid)
        if any(m.get("type") == "cgroup" for m in cfg.get("mounts") or []):
            cfg["_cgroup_view"] = cgroups.mount_view(paths)  # for the init's rootfs.mount_cgroups
        tracker.default().update(rec, cgroups=made)
        cgroups.make(paths, made)
        programs: list[dict] = []  # v2 device programs: detached at delete if their cgroup outlives the container
        at_root: list[str] = []  # v2 controllers enabled in the root's subtree_control: given back at delete
        cgroups.apply(paths, linux.get("resources"), linux.get("devices"), programs,
                      save=lambda: tracker.default().update(rec, cgroups=made, device_programs=programs,
                                                            root_controllers=at_root),
                      enabled_at_root=at_root)
        pid = _spawn(cfg, c, paths)
        start = process_start_time(pid)
        c.data.update(pid=pid, start_time=start, cgroups=made)
        records.hand_over(rec, pid, start, cgroups=made, device_programs=programs, root_controllers=at_root)
        _finish(cfg, c, pid)
    except BaseException:
        tracker.default().undo(rec)  # kills the init if any, removes cgroups and the state directory
        raise
    finally:
        if sock is not None:
            sock.close()  # the init has sent the master (or died): its receiver holds the pty now
    c.data["status"] = "created"
    c.save()
    if pid_file:
        with open(pid_file + ".tmp", "w") as f:
            f.write(str(pid))
        os.rename(pid_file + ".tmp", pid_file)
    return c


def _spawn(cfg: dict, c: state.Container, paths) -> int:
    from .. import kernel
    from . import cgroups, init
    ch = init.Channel()
    k = kernel.default()
    sys.stdout.flush()
    sys.stderr.flush()
    # Read-write: open(2) of a fifo blocks until the other end is opened, unless it is opened for both.
    fifo_fd = os.open(c.fifo, os.O_RDWR | os.O_CLOEXEC)
    c.data["fifo_fd"] = fifo_fd  # the init keeps this number: start watches it close at execve
    child = k.fork()
    if child == 0:
        init.stage1(cfg, ch, fifo_fd)
    os.close(fifo_fd)  # the init's copy is the one start will write into
    ch.parent_side()
    c._channel = ch
    try:
        cgroups.attach(paths, child)
        ch.send_down("go")  # stage 1 reads nothing else unless it made a user namespace
        line = ch.from_child()
        if line == "userns":
            linux = cfg["linux"]
            for key, name in (("gidMappings", "gid_map"), ("uidMappings", "uid_map")):
                lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or [])
                if lines:
                    k.write(f"/proc/{child}/{name}", lines)
            ch.send_down("mapped")
            line = ch.from_child()
        if not line.startswith("pid "):
            raise LabError(f"cannot create the container: {line[7:] if line.startswith('error: ') else 'its init died'}",
                           "see the message; check config.json's namespaces and root")
        return int(line.split()[1])
    except BaseException:
        os.kill(child, signal.SIGKILL)  # stage 1 may be waiting for us
        raise
    finally:
        os.waitpid(child, 0)  # stage 1 exits once it has forked the init


def _finish(cfg: dict, c: state.Container, pid: int) -> None:
    from .. import kernel
    from . import hooks
    process = cfg.get("process") or {}
    for r in process.get("rlimits") or []:
        resource.prlimit(pid, RLIMITS[r["type"]], (r["soft"], r["hard"]))
    if process.get("oomScoreAdj") is not None:
        kernel.default().write(f"/proc/{pid}/oom_score_adj", str(process["oomScoreAdj"]))
    st = c.state() | {"status": "creating", "pid": pid}
    hooks.run(cfg, "prestart", st)
    hooks.run(cfg, "createRuntime", st)
    ch = c._channel
    ch.send_down("go")
    line = ch.from_child()
    if line != "ready":
        raise LabError(f"cannot create the container: {line[7:] if line.startswith('error: ') else 'its init died'}",
                       "see the message; check config.json's mounts, devices and sysctls")


def load(root, cid: str) -> state.Container:
    return state.Container(root, cid).load()


def start(root, cid: str) -> None:
    """Let the init exec the process: one byte into the exec fifo, then poststart hooks."""
    c = load(root, cid)
    status = c.status()
    if status != "created":
        raise LabError(f"container {cid!r} is {status}, not created", "only a created container can be started")
    try:
        fd = os.open(c.fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise LabError(f"container {cid!r} is not waiting on its exec fifo ({exc.strerror})",
                       "delete it and create it again") from None
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    _wait_exec(c)
    os.unlink(c.fifo)
    if (c.data.get("hooks") or {}).get("poststart"):
        from . import hooks
        hooks.run({"hooks": c.data.get("hooks")}, "poststart", c.state(), fatal=False)


def _wait_exec(c: state.Container, timeout: float = 10.0) -> None:
    """Until the init has exec'd (its fifo descriptor is close-on-exec) or died: the startContainer
    hooks have run, and poststart hooks run after the process started, as the spec orders them."""
    link = f"/proc/{c.pid}/fd/{c.data.get('fifo_fd')}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(link) != str(c.fifo):
                return
        except OSError:
            return  # closed: exec'd (or gone)
        time.sleep(0.001)


def kill(root, cid: str, sig: str | int = "TERM") -> None:
    c = load(root, cid)
    number = _signal_number(sig)
    if c.status() not in ("created", "running"):
        raise LabError(f"container {cid!r} is {c.status()}: there is no process to signal", "it has stopped")
    fd = os.pidfd_open(c.pid)  # pins the process: a recycled PID is not signalled
    try:
        if process_start_time(c.pid) != c.data.get("start_time"):
            raise LabError(f"container {cid!r} has stopped", "delete it")
        signal.pidfd_send_signal(fd, number)
    finally:
        os.close(fd)


def delete(root, cid: str, force: bool = False) -> None:
    """Remove a stopped container; ``force`` kills a created or running one first."""
    from .. import tracker
    from . import records
    c = load(root, cid)
    status = c.status()
    if status in ("created", "running") and not force:
        # The runtime spec: deleting a container that is not stopped is an error, and changes nothing.
        raise LabError(f"container {cid!r} is {status}, not stopped", "kill it first, or delete --force")
    rec = next((r for r in tracker.default().records() if r.kind == "container" and r.target == str(c.dir)), None)
    if rec is not None:
        tracker.default().undo(rec)  # kills what still runs, removes the cgroups and the directory
    else:
        records.undo_container(tracker.Record("container", str(c.dir), c.data))
    if (c.data.get("hooks") or {}).get("poststop"):
        from . import hooks
        hooks.run({"hooks": c.data.get("hooks")}, "poststop", c.state() | {"status": "stopped"}, fatal=False)


def run(root, cid: str, bundle: str = ".", pid_file: str | None = None, console_socket: str | None = None) -> int:
    """create + start + wait + delete; the exit status of the process (128+N if killed by signal N)."""
    from .. import kernel
    from ..kernel import flags as F
    k = kernel.default()
    k.prctl(F.PR_SET_CHILD_SUBREAPER, 1)  # the init, orphaned by stage 1, becomes our child: we can wait for it
    c = create(root, cid, bundle, pid_file, console_socket)
    try:
        def forward(signum, frame):
            try:
                os.kill(c.pid, signum)
            except ProcessLookupError:
                pass
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, forward)
        start(root, cid)
        while True:
            try:
                _, status = os.waitpid(c.pid, 0)
                break
            except InterruptedError:
                continue
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    finally:
        delete(root, cid, force=True)


def exec_in(root, cid: str, argv: list[str], tty: bool = False, console_socket: str | None = None) -> int:
    """Run ``argv`` inside a running container: setns into each of its namespaces, fork, exec.

    ``tty``: the process gets a pty of the container's devpts, its master sent to ``console_socket``.
    """
    from . import console
    console.check(tty, console_socket, field="exec --tty")
    c = load(root, cid)
    if c.status() not in ("created", "running"):
        raise LabError(f"container {cid!r} is {c.status()}", "exec needs a running container")
    from .. import kernel
    from . import cgroups, config, init
    sock = console.connect(console_socket) if tty else None
    cfg = config.load(c.data["bundle"])
    cfg["_security"] = init.prepare_security(cfg)  # the same capabilities, no_new_privs and seccomp as the init
    k = kernel.default()
    order = ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt"]
    child = k.fork()
    if child == 0:
        try:
            cgroups.join_like(c.pid, os.getpid())  # counted and limited with the container
            for name in order:
                mine, theirs = f"/proc/self/ns/{name}", f"/proc/{c.pid}/ns/{name}"
                if os.path.exists(theirs) and os.stat(mine).st_ino != os.stat(theirs).st_ino:
                    fd = os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
                    k.setns(fd, 0, what=theirs)
                    os.close(fd)
            grandchild = k.fork()  # the pid namespace applies to children
            if grandchild == 0:
                cfg["process"]["args"] = argv
                if sock is not None:  # in the container's mount namespace: /dev/ptmx is its devpts
                    console.setup(k, sock.fileno(), cfg["process"])
                init.become(cfg, k)
            _, status = os.waitpid(grandchild, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
        except BaseException as exc:
            print(f"labcore runtime exec: {exc}", file=sys.stderr)
            os._exit(126)
    if sock is not None:
        sock.close()  # the process sends the master itself
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def listing(root) -> list[dict]:
    return [c.state() | {"created": c.data.get("created")} for c in state.all_in(root)]


__all__ = ["create", "start", "kill", "delete", "run", "exec_in", "listing", "load"]
