"""The shim: one small process per container, between the daemon and the container.

Docker's daemon does not run containers itself. containerd starts a
``containerd-shim-runc-v2`` for each one (Podman a ``conmon``), and the shim
calls runc. The shim exists so that the daemon can die, be upgraded or
restart without the containers noticing. It therefore:

* runs in a **session of its own** (setsid(2)): a signal sent to the
  daemon's process group or terminal does not reach it;
* asks the runtime to ``create`` then ``start`` the container, and is its
  **parent**: the runtime's own process exits once the container is
  created, and the shim has said it is a **child subreaper**
  (``prctl(PR_SET_CHILD_SUBREAPER)``), so the orphaned container init is
  re-parented to the shim rather than to PID 1. Only a parent can wait(2)
  for a process and learn its exit status;
* **holds its stdio**: the container's stdout and stderr are pipes whose
  other ends the shim reads, so a container never blocks on a full pipe and
  never gets SIGPIPE because a client went away; every chunk is appended to
  the container's log (``labcore.daemon.logs``);
* **holds its input**: with ``-i`` the write end of the container's stdin
  pipe, with ``-t`` the master of its pty (received from the runtime over a
  console socket), and answers the daemon's requests for them on a socket
  of its own (``labcore.daemon.stdio``): stdin to pass on, a new terminal
  size. A daemon that comes back after a crash finds that socket again;
* **records the exit status** in the container's state directory
  (``exit.json``: code, OOM kill, time), where a daemon, the one that
  started it or a new one, reads it;
* then deletes the container from the runtime, unmounts its root, and exits.

It starts behind a gate: it gets ready (imports, Docker's default seccomp
filter compiled), then waits for one line on stdin, the container to run
(``{"id": ..., "dir": ...}``), which the daemon writes once the shim's
record names that container (``spare.py``: the daemon starts each shim
before it has a container for it). See ``labcore shim --help``; it is not
meant to be run by hand.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from .. import kernel, tracker
from ..kernel import flags as F
from ..errors import LabError
from ..proc.stat import process_start_time
from . import logs, stdio


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.rename(path)


class Pump(threading.Thread):
    """Copy the container's stdout and stderr pipes into its log, line per chunk, until both end."""

    def __init__(self, fds: dict[int, str], log: Path):
        super().__init__(daemon=True)
        self.fds, self.log = fds, log

    def run(self) -> None:
        import select
        out = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        try:
            open_fds = dict(self.fds)
            while open_fds:
                ready, _, _ = select.select(list(open_fds), [], [])
                for fd in ready:
                    try:
                        data = os.read(fd, 16384)
                    except OSError:  # EIO: a pty's master once no process holds its slave any more
                        data = b""
                    if not data:
                        os.close(fd)
                        del open_fds[fd]
                        continue
                    os.write(out, logs.line(open_fds[fd], data))  # O_APPEND: one write, one whole line
        finally:
            os.close(out)


def oom_killed(cgroup_dirs: list[str]) -> bool:
    """Did the kernel's OOM killer act in the container's memory cgroup (v1 memory.oom_control, v2 memory.events)?"""
    for d in cgroup_dirs:
        for name in ("memory.events", "memory.oom_control"):
            try:
                text = Path(d, name).read_text()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                    return True
    return False


def _remove_cgroups(made: list[str], shim_log) -> None:
    """The runtime gives a cgroup two seconds to empty; a container the OOM killer hit on a loaded
    machine may take longer to finish exiting. Its directories are retried here for ten more."""
    from ..runtime import cgroups
    left = [d for d in made if os.path.isdir(d)]
    if left:
        cgroups.remove(left, timeout=10)
        still = [d for d in left if os.path.isdir(d)]
        print(f"{logs.timestamp()} cgroups removed late: {len(left) - len(still)}, still there: {still}", file=shim_log)


def _own_record() -> tracker.Record | None:
    me = str(os.getpid())
    return next((r for r in tracker.default().records() if r.kind == "process" and r.target == me), None)


def _tell(ready_fd: int | None) -> None:
    """One byte on the daemon's pipe: shim.json or exit.json has news (the daemon blocks reading it)."""
    if ready_fd is not None:
        try:
            os.write(ready_fd, b"1")
        except OSError:
            pass  # the daemon is gone: a new one reads the files


def _receive_master(console) -> int:
    """The pty master the container's init sent over the console socket (SCM_RIGHTS), during create."""
    console.settimeout(10)  # create has returned: the init has sent it, it waits in the socket's queue
    conn, _ = console.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    if not fds:
        raise OSError("the runtime sent no terminal over the console socket")
    return fds[0]


def _warm(programs: str | None = None) -> None:
    """While no container waits: load the modules create loads on its way, and compile Docker's default
    seccomp profile for its default capabilities (create then finds the program ready:
    labcore.security.seccomp compiles a profile once), or load it from ``programs``, where the
    daemon's shims keep what they compiled (the first shim compiles it, the next ones read it)."""
    from ..runtime import cgroups, console, init, records  # noqa: F401
    if programs is not None:
        try:
            from ..security import seccomp
            seccomp.keep_programs_in(programs)
        except ImportError:
            pass
    from ..tracker import registry
    from . import bundle
    if "" in cgroups.hierarchies():
        from ..runtime import devices_v2  # noqa: F401 (device rules are an eBPF program on cgroup v2)
    registry.undo_for("mount")  # the root's mount, undone when the container has exited
    defaults = bundle.security()
    try:
        init.prepare_security({"process": {"capabilities": defaults["capabilities"]},
                               "linux": {"seccomp": defaults["seccomp"]}})
    except LabError:
        pass  # no libseccomp here: the container's own create says so, if its config asks for seccomp


def run(root: str, ready_fd: int | None = None, programs: str | None = None) -> int:
    """The shim's life: get ready, wait for a container, create and start it, pump its output, wait,
    record, clean up."""
    if ready_fd is not None:
        os.set_inheritable(ready_fd, False)  # not the container's: closed when its init execs
    # Getting ready on CPU time nobody else wants (SCHED_IDLE): a spare must not slow down the container
    # being started meanwhile. The daemon gives it the normal policy back when it takes it (spare.take).
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    k = kernel.default()
    k.prctl(F.PR_SET_CHILD_SUBREAPER, 1)  # orphans below us (the container's init) become our children
    # Done before the gate, while no container waits for us (spare.py): the runtime's imports, and the
    # filter of Docker's default seccomp profile.
    from ..runtime import container as runtime
    _warm(programs)
    given = sys.stdin.readline()
    if not given.strip():
        return 1  # the daemon stopped or died before giving us a container: do nothing
    given = json.loads(given)
    # The normal policy again. spare.take has set it already, unless it took us before we had lowered it.
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    cid, cdir = given["id"], Path(given["dir"])
    # Our command line was written before we knew the container: the process name says it (ps -e, pstree).
    k.set_name(f"shim {cid[:10]}")
    shim_log = open(cdir / "shim.log", "a", buffering=1)
    for fd in (1, 2):
        os.dup2(shim_log.fileno(), fd)  # what Python writes there itself (a crash's traceback) goes there too
    config = (_read_json(cdir / "container.json") or {}).get("Config") or {}
    tty, open_stdin = bool(config.get("Tty")), bool(config.get("OpenStdin"))
    me = {"pid": os.getpid(), "start_time": process_start_time(os.getpid())}
    # Listening before shim.json says "running": a daemon that sees us running can connect at once (its
    # requests wait in the queue until the container exists).
    (cdir / stdio.SOCKET).unlink(missing_ok=True)  # a killed shim's, from the container's last run
    listener = stdio.listen(cdir, stdio.SOCKET)
    _write_json(cdir / "shim.json", me)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if open_stdin and not tty else (None, None)
    console = stdio.listen(cdir, stdio.CONSOLE) if tty else None
    master = None
    devnull = os.open("/dev/null", os.O_RDWR)
    exit_info: dict = {}
    pump = Pump({out_r: "stdout", err_r: "stderr"}, cdir / "container-json.log")
    c = relay = None
    try:
        if not tty:
            # Without a terminal every end is known before create: the relay and the pump start now,
            # while create works (a thread's start waits until the thread runs: about a millisecond each).
            relay, in_w = _relay(listener, in_w, None, config, k), None
            pump.start()
        # The init keeps the stdio of the process that forks it: make it the pipes for the time of create.
        # With a terminal, the init replaces all three with its pty's slave before it execs.
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        sys.stdout, sys.stderr = shim_log, shim_log  # what the runtime prints goes to our log, not the container's
        os.dup2(in_r if in_r is not None else devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        try:
            dir_fd = os.open(cdir, os.O_PATH | os.O_DIRECTORY)
            try:
                c = runtime.create(root, cid, str(cdir),
                                   console_socket=stdio.short_path(dir_fd, stdio.CONSOLE) if tty else None)
            finally:
                os.close(dir_fd)
            if console is not None:
                master = _receive_master(console)
        finally:
            for fd, old in zip((0, 1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            os.close(out_w)
            os.close(err_w)
            if in_r is not None:
                os.close(in_r)  # the container's copy is its stdin; ours would hide the end of it
            if console is not None:
                console.close()
                (cdir / stdio.CONSOLE).unlink(missing_ok=True)
        if master is not None:
            # A terminal has one output: what the container's programs write to it. The pump closes what it
            # reads at its end; the master itself stays ours, for the relay, until the relay has stopped.
            pump.fds[os.dup(master)] = "stdout"
            relay = _relay(listener, master if open_stdin else None, master, config, k)
            pump.start()
        runtime.start(root, cid)
        _write_json(cdir / "shim.json", me | {"container_pid": c.pid})
        _tell(ready_fd)
        print(f"{logs.timestamp()} container {cid[:12]} started, init PID {c.pid}", file=shim_log)
        status = _wait(c.pid)
        code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        pump.join()
        exit_info = {"ExitCode": code, "OOMKilled": oom_killed(c.data.get("cgroups") or [])}
    except BaseException as exc:
        print(f"{logs.timestamp()} error: {exc}", file=shim_log)
        exit_info = {"ExitCode": 128, "Error": str(exc), "OOMKilled": False}
        if pump.is_alive():
            pump.join(timeout=5)
    finally:
        if c is not None:
            try:
                runtime.delete(root, cid, force=True)
            except Exception as exc:  # recorded; `labcore cleanup` or docker rm removes the rest
                print(f"{logs.timestamp()} runtime delete: {exc}", file=shim_log)
            _remove_cgroups(c.data.get("cgroups") or [], shim_log)
        listener.close()  # before exit.json: a daemon that sees the exit finds no socket of ours
        (cdir / stdio.SOCKET).unlink(missing_ok=True)
        if relay is not None:
            relay.close()
        for fd in (in_w, master):
            if fd is not None:
                os.close(fd)
        now = time.time()
        _write_json(cdir / "exit.json", exit_info | {"FinishedAt": logs.timestamp(now), "FinishedEpoch": now})
        _tell(ready_fd)  # a container that failed to start (or ended at once): the daemon need not wait longer
        print(f"{logs.timestamp()} container {cid[:12]} exited: {exit_info}", file=shim_log)
        for rec in tracker.default().records():
            if rec.kind == "mount" and rec.target == str(cdir / "rootfs"):
                tracker.default().undo(rec)  # the root is unmounted when the container stops, as Docker does
        own = _own_record()
        if own is not None:
            tracker.default().forget(own)  # we are exiting: our record goes with us
        # What we still own (the container's directories) is handed back to the daemon, not undone at exit.
        atexit.unregister(tracker.default().undo_owned)
        if ready_fd is not None:
            os.close(ready_fd)  # the end of our news: the daemon need not wait for this process's exit
    return 0


def _relay(listener, stdin_fd: int | None, master: int | None, config: dict, k) -> stdio.Relay:
    """The thread that answers the daemon on our socket: stdin to pass on (``stdin_fd``, which it owns
    from now on), a new size for the terminal ``master``."""
    relay = stdio.Relay(listener, stdin_fd, master, close_at_end=bool(config.get("StdinOnce")) and master is None,
                        resize_fn=k.set_window_size)
    relay.start()
    return relay


def _wait(pid: int) -> int:
    """Reap children until ``pid``'s status comes; others (re-parented orphans) are reaped on the way."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255 << 8  # not our child after all: nothing more to learn
        if got == pid:
            return status


def add_arguments(p) -> None:
    p.add_argument("--root", required=True, help="the runtime's state root")
    p.add_argument("--ready-fd", type=int, help="a pipe to the daemon: one byte once the container runs, or has ended")
    p.add_argument("--seccomp-programs", metavar="DIR", help="the compiled seccomp programs the daemon's shims share")


def command(args) -> int:
    return run(args.root, args.ready_fd, args.seccomp_programs)


__all__ = ["run", "oom_killed", "Pump", "add_arguments", "command"]
