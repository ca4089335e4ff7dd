"""The real Docker Engine, started by the lab next to its own, and leaving nothing behind.

Debian's ``docker.io`` installs ``dockerd`` and ``containerd``; the lab never
lets them start as services. To put the real stack next to the lab's, this
module starts one ``dockerd`` for a chapter, everything in a lab directory:

    dockerd --data-root DIR/data --exec-root DIR/exec --pidfile DIR/dockerd.pid
            -H unix://DIR/docker.sock --config-file DIR/daemon.json
            --bridge=none --iptables=false --ip-masq=false --ip-forward=false --ip6tables=false
            --cgroup-parent /labcore/lab-realengine-ctr

dockerd then starts its own ``containerd`` (its child), which starts one
``containerd-shim-runc-v2`` per container, which runs ``runc``.

What a default dockerd changes on a host, and how this one avoids each:

* **network**: the ``docker0`` bridge, ``DOCKER*`` iptables chains and
  ``net.ipv4.ip_forward=1``. The flags above turn all three off; containers
  then get only a loopback (network "none"), which is all a chapter needs.
  ``Engine(iptables=True)`` turns them on for chapter 09's published port,
  on a lab bridge, with Docker's rules recorded first and removed at stop
  (``labcore.net.dockerfw``). A user-defined network (``docker network
  create``) still gets a bridge on the host, even with these flags:
  ``reserve_network`` names it ``lab-NAME``, recorded before dockerd makes
  it, and picks a subnet free of the lab's networks and the host's routes;
  ``stop`` removes the networks, and after a crash ``labcore cleanup``
  deletes the bridge.
* **cgroups**: a ``docker`` group in every hierarchy. ``--cgroup-parent``
  puts the containers in a lab cgroup instead; the daemons themselves run
  in another (``lab-realengine``). Both are recorded by the tracker, whose
  undo kills whatever still runs inside, so even after a crash
  ``labcore cleanup`` stops the whole engine: daemons, shims, containers.
* **mounts**: a bind mount of its data-root (made private), one overlay per
  running container, and nsfs mounts. dockerd runs in a **mount namespace
  of its own** (``unshare --mount --propagation private``): every mount it
  makes lives and dies with that namespace and never shows on the host.
* **files outside its directories**: ``/etc/docker/key.json`` (its identity
  key), ``/run/docker/plugins``, ``/run/containerd/s`` (the shims' sockets)
  and ``/opt/containerd``. In its namespace ``/etc``, ``/run`` and ``/opt``
  are overlays whose upper directories are in the lab directory: it reads
  the host's files and writes into ours.
* **users**: ``Engine(userns_remap=True)`` runs ``dockerd
  --userns-remap=default``, which adds a user ``dockremap`` and its
  subordinate ids (``/etc/passwd``, ``/etc/group``, ``/etc/subuid``,
  ``/etc/subgid``) with ``useradd``: into the ``/etc`` overlay, so the host
  never has that user.

Measured on the development machine with the defaults (and no such care),
a stopped dockerd had left exactly those files and cgroup directories. The
process is recorded (PID and start time) like every lab process.

A crash, for chapter 14: ``kill_daemon()`` SIGKILLs dockerd (containerd
dies with it, the shims and containers do not) and ``restart()`` starts it
again in the mount namespace the shims still hold, so the new containerd
finds their sockets. With ``Engine(live_restore=True)`` the new dockerd
adopts the running containers; without, it stops them.

Used by the notebooks whose last section runs the real engine
(``lab.realengine.Engine``; with ``lab.docker(..., on=engine)``) and by
tests/integration/test_realengine.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from .. import tracker
from ..errors import InvalidInputError, LabError, UnsupportedError

TOOLS = ("dockerd", "containerd", "containerd-shim-runc-v2", "runc", "unshare", "nsenter", "docker")
OVERLAID = ("etc", "opt", "run")  # where dockerd and containerd write outside the directories they are given
FLAGS = ["--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--ip6tables=false"]
# cgroupfs, not systemd: where systemd runs on cgroup v2, dockerd picks the systemd driver, which only takes a
# "NAME.slice" as --cgroup-parent; the lab's groups are plain directories in its labcore subtree.
FLAGS += ["--exec-opt", "native.cgroupdriver=cgroupfs"]
DATA_ROOT_REMAPPED = "/run/lab-docker-data"


def missing() -> list[str]:
    """The programs this machine lacks to run the real engine (empty: it can)."""
    return [t for t in TOOLS if shutil.which(t) is None]


class Engine:
    """One real dockerd (and its containerd) in ``Scratch("realengine")``; ``with Engine() as e: e.docker(...)``."""

    def __init__(self, name: str = "realengine", iptables: bool = False, live_restore: bool = False,
                 userns_remap: bool = False):
        if missing():
            raise UnsupportedError(f"the real Docker Engine needs {', '.join(missing())}",
                                   "install docker.io, containerd and runc (provision/provision.sh does)")
        self.name = name
        self.work = None
        self._scratch = None
        self.pid: int | None = None
        self._records: list[tracker.Record] = []
        self._groups = []
        self._cgroup_records: list[tracker.Record] = []
        self._proc = None
        self.iptables = iptables  # True: Docker's own bridge, NAT and published ports (labcore.net.dockerfw)
        self.live_restore = live_restore  # daemon.json's "live-restore": a restarted dockerd adopts running containers
        self.userns_remap = userns_remap  # --userns-remap=default: container root is a subordinate uid of "dockremap"
        self._net = None
        self._argv: list[str] = []
        self._reserved: list[tracker.Record] = []

    # --- where things are ---------------------------------------------------------------------
    @property
    def socket(self) -> Path:
        return self.work / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """Run the docker CLI against this engine."""
        done = subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise LabError(f"docker {' '.join(args)} exited with {done.returncode}: {done.stderr.strip()[:400]}",
                           f"the engine's log is {self.work / 'dockerd.log'}")
        return done

    @property
    def network(self):
        """With ``iptables=True``: its bridge, subnet and recorded rules (``dockerfw.Prepared``); else None."""
        return self._net

    def containerd_pid(self) -> int | None:
        """containerd, started by dockerd as its child."""
        for child in _children(self.pid):
            if _comm(child) == "containerd":
                return child
        return None

    def remapped(self) -> tuple[int, int]:
        """With ``userns_remap``: the first host uid and the count of ids dockerd gave its containers, the
        range of the ``dockremap`` user it made in its /etc/subuid (the overlay's upper file: not the host's)."""
        from ..security import userns
        if not self.userns_remap:
            raise LabError("this engine does not remap user ids", "start it with Engine(..., userns_remap=True)")
        ranges = userns.subordinate_ranges("dockremap", str(self.work / "upper" / "etc" / "subuid"))
        if not ranges:
            raise LabError("dockerd gave dockremap no subordinate uids", f"see {self.work / 'dockerd.log'}")
        return ranges[0].start, ranges[0].count

    def reserve_network(self, name: str) -> "Reserved":
        """A bridge name, recorded before dockerd makes it, and a free subnet for ``docker network create
        NAME``: pass both, ``--subnet SUBNET -o com.docker.network.bridge.name=BRIDGE``.

        Left to itself, dockerd names the bridge ``br-`` and 12 hex digits of the network's ID and picks
        a subnet from its own pools (172.18.0.0/16, then 172.19...): after a crash the lab could not
        tell that bridge from one of another engine's."""
        from ..net import ipam, links
        bridge = f"{tracker.PREFIX}{name}"
        links.check_name(bridge)
        if os.path.exists(f"/sys/class/net/{bridge}"):  # dockerd would take it over, and stop would delete it
            raise InvalidInputError(f"link {bridge} exists already",
                                    "choose another network name, or run labcore cleanup if a crash left it")
        subnet = ipam.free_subnet()
        # Not created here: dockerd makes it. Recorded so that an undo deletes it if it is there.
        self._reserved.append(tracker.default().add("link", bridge, what=f"bridge of docker network {name}"))
        return Reserved(bridge, str(subnet), str(ipam.gateway(subnet)))

    # --- start and stop -----------------------------------------------------------------------
    def start(self, timeout: float = 180) -> "Engine":
        from ..cgroups import create
        from ..fs.scratch import Scratch
        from ..fs.scratch import data_dir
        longest = f"{data_dir()}/{tracker.PREFIX}{self.name}-12345678/exec/containerd/containerd.sock.ttrpc"
        if len(longest.encode()) > 107:  # a unix socket's path must fit sun_path (108 bytes with the NUL)
            raise LabError(f"containerd's socket would be {longest} ({len(longest.encode())} bytes, at most 107)",
                           "point LABCORE_DATA_DIR at a shorter directory (the default, /var/tmp/labcore, fits)")
        self._scratch = Scratch(self.name, on_disk=True)
        self.work = self._scratch.path
        try:
            for d in OVERLAID:
                (self.work / "upper" / d).mkdir(parents=True)
                (self.work / "wd" / d).mkdir(parents=True)
            if self.userns_remap:  # bound at DATA_ROOT_REMAPPED in dockerd's mount namespace (data_root)
                (self.work / "data").mkdir()
            # not the host's /etc/docker/daemon.json
            (self.work / "daemon.json").write_text(json.dumps({"live-restore": True} if self.live_restore else {}) + "\n")
            daemons = create("lab-realengine")
            self._groups.append(daemons)
            self._container_parent()
            flags = FLAGS
            if self.iptables:  # recorded before dockerd writes a rule: the undo knows what was there
                from ..net import dockerfw
                self._net = dockerfw.prepare(self.name)
                flags = self._net.flags(FLAGS)
            if self.userns_remap:
                flags = [*flags, "--userns-remap=default"]
            self._argv = ["dockerd", "--config-file", str(self.work / "daemon.json"), "--data-root", self.data_root,
                    "--exec-root", str(self.work / "exec"), "--pidfile", str(self.work / "dockerd.pid"),
                    "-H", self.host, *flags, "--cgroup-parent", f"/{tracker.CGROUP_NAME}/lab-realengine-ctr"]
            self._launch(self._in_new_namespace(), timeout)
            return self
        except BaseException:
            self.stop()
            raise

    @property
    def data_root(self) -> str:
        """dockerd's --data-root, as dockerd sees it.

        With ``userns_remap`` every directory above it must be searchable by the remapped root, or dockerd
        refuses to start ("a subdirectory in your graphroot path ... restricts access to the remapped root",
        measured with LABCORE_DATA_DIR in root's 0700 home). So its mount namespace gets the data directory
        bound at DATA_ROOT_REMAPPED, with only / and /run above it, wherever the lab's data directory is."""
        return DATA_ROOT_REMAPPED if self.userns_remap else str(self.work / "data")

    def _in_new_namespace(self) -> list[str]:
        """unshare makes the mount namespace; in it the shell mounts the overlays, then becomes dockerd."""
        mounts = "; ".join(f"mount -t overlay lab-realengine-{d} -o lowerdir=/{d},upperdir={self.work}/upper/{d},"
                           f"workdir={self.work}/wd/{d} /{d}" for d in OVERLAID)
        if self.userns_remap:  # the mount point is made in /run's overlay: nothing on the host
            mounts += f"; mkdir -p {DATA_ROOT_REMAPPED}; mount --bind {self.work}/data {DATA_ROOT_REMAPPED}"
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'set -e; {mounts}; exec "$@"', "sh",
                *self._argv]

    def _launch(self, argv: list[str], timeout: float) -> None:
        """Start ``argv`` (it becomes dockerd), recorded and in the daemons' cgroup before it does anything;
        return once dockerd answers on its socket."""
        from ..proc.stat import process_start_time
        log = open(self.work / "dockerd.log", "ab")
        with log:
            # The shell waits for "go", so the process is recorded and in its cgroup first.
            proc = subprocess.Popen(["sh", "-c", 'read go && exec "$@"', "sh", *argv],
                                    stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True)
        with tracker.default().created("process", proc.pid, start_time=process_start_time(proc.pid),
                                       what="real dockerd") as rec:
            self._records.append(rec)
        self.pid, self._proc = proc.pid, proc
        self._groups[0].attach(proc.pid)
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"dockerd exited with status {proc.returncode} at start; its log ends:\n"
                               f"{self._log_tail()}", "the last lines of its log say why")
            if self.socket.exists() and self.docker("version", "--format", "{{.Server.Version}}", timeout=30,
                                                    check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise LabError(f"dockerd did not answer on {self.socket} within {timeout:.0f} s; its log ends:\n"
                       f"{self._log_tail()}", "the last lines of its log say why")

    # --- a crash and a restart ---------------------------------------------------------------
    def kill_daemon(self, timeout: float = 30) -> None:
        """SIGKILL dockerd, as a crash or the OOM killer would. Its containerd dies with it (dockerd starts
        containerd with a parent-death signal, SIGKILL); the shims, in sessions of their own, and the
        containers under them live on. The mount namespace lives on too: the shims are in it."""
        rec = self._records.pop()
        containerd = self.containerd_pid()
        # The undo of a process record is that crash: SIGKILL through a pidfd checked against the start
        # time, then the wait (labcore.ns.kill); and the record goes with the process.
        tracker.default().undo(rec)
        self._proc.wait(timeout=5)  # reaped by the undo already: this only tells Popen
        # Until PID 1 reaps it, containerd is a zombie that kill(pid, 0) still finds, and a new dockerd would
        # take its PID file for a live containerd and wait for it (measured here: reaped 1.2 s after the kill).
        deadline = time.monotonic() + timeout
        while containerd is not None and os.path.exists(f"/proc/{containerd}") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid, self._proc = None, None

    def restart(self, timeout: float = 180) -> "Engine":
        """Start dockerd again after ``kill_daemon``, with the same directories and flags.

        It must see the mounts the first one made (the overlays on /run hold containerd's and the shims'
        sockets), so it joins the mount namespace a surviving process of the engine is in; with none left,
        it makes a new one, as ``start`` does."""
        if self.pid is not None:
            raise LabError("dockerd is still running", "kill_daemon() first, or stop()")
        holders = self._groups[0].procs()  # the shims, left in the daemons' group
        if holders:
            self._launch(["nsenter", f"--mount=/proc/{holders[0]}/ns/mnt", "--", *self._argv], timeout)
        else:
            self._launch(self._in_new_namespace(), timeout)
        return self

    def _log_tail(self, lines: int = 8) -> str:
        """The end of dockerd's log, for an error: the log itself goes with the scratch directory at stop."""
        try:
            text = (self.work / "dockerd.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        # Its error lines first: a failed start ends with a few lines of shutdown chatter.
        worst = [line for line in text.splitlines() if "level=error" in line or "level=fatal" in line]
        return "\n".join(worst[-3:] + text.splitlines()[-lines:])

    def _container_parent(self) -> None:
        """``labcore/lab-realengine-ctr`` in *every* mounted hierarchy, recorded before runc makes it.

        runc makes the containers' groups in each hierarchy it finds (on a v1 or hybrid machine also
        freezer, devices, cpuset and the named systemd one) and, at delete, removes only the leaf.
        """
        from ..runtime.cgroups import record_peer_groups
        self._cgroup_records = record_peer_groups(["lab-realengine-ctr"], what="real engine's containers")

    def load(self, layout: str | os.PathLike, tag: str, name: str) -> None:
        """Put one OCI image layout (chapter 06's) into this engine's store, as ``name`` (skopeo: no registry)."""
        if shutil.which("skopeo") is None:
            raise UnsupportedError("loading an OCI layout into dockerd needs skopeo", "apt-get install skopeo")
        done = subprocess.run(["skopeo", "copy", "--dest-daemon-host", self.host, f"oci:{layout}:{tag}",
                               f"docker-daemon:{name}"], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise LabError(f"skopeo could not load {layout}:{tag} into dockerd: {done.stderr.strip()[:400]}",
                           "check the layout with oci-image-tool validate")

    def load_busybox(self, applets: list[str] | None = None, name: str = "busybox:latest") -> None:
        """Build a one-layer busybox image (``applets``: which commands; None: all) in this engine's
        directory and load it as ``name`` (with its tag): a chapter's ``docker run ... busybox`` then runs as printed,
        with no registry and no download."""
        from .. import images
        ctx = self.work / "busybox-image"
        images.busybox_rootfs(ctx / "rootfs", applets=applets)
        (ctx / "rootfs" / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                                       "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        (ctx / "rootfs" / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        for d in ("mnt", "home", "sys", "srv"):  # as in Docker Hub's busybox: mount points a command may name
            (ctx / "rootfs" / d).mkdir(exist_ok=True)
        (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
        images.build(ctx / "Dockerfile", ctx, ctx / "layout", "v1", cache=ctx / "cache")
        self.load(ctx / "layout", "v1", name)

    def stop(self, timeout: float = 60) -> list[str]:
        """Remove every container, stop dockerd (it stops containerd), then undo every record. Idempotent."""
        from ..cgroups.base import undo_parents
        done = []
        if self.pid is not None and tracker.is_running(self.pid) and self.socket.exists():
            ids = self.docker("ps", "-aq", check=False, timeout=60).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False, timeout=120)
            # A stopped dockerd leaves its user-defined networks' bridges on the host: remove them first.
            nets = self.docker("network", "ls", "-q", "--filter", "type=custom", check=False, timeout=60).stdout.split()
            if nets:
                self.docker("network", "rm", *nets, check=False, timeout=60)
            self._terminate(timeout)
        for rec in self._records:
            done.append(f"{rec}: {tracker.default().undo(rec)}")  # SIGKILL if it did not exit
        self._records = []
        shared = [d for group in self._groups for d in group.directories()]  # their labcore parents, retried below
        for group in reversed(self._groups):  # kills what may still run there (shims, containers), removes them
            group.remove()
            done.append(f"cgroup {group.name}: removed")
        self._groups = []
        for rec in self._reserved:  # a bridge dockerd did not remove
            done.append(f"{rec}: {tracker.default().undo(rec)}")
        self._reserved = []
        for rec in self._cgroup_records:  # the containers' parent group, then any labcore parent made
            done.append(f"{rec}: {tracker.default().undo(rec)}")
        self._cgroup_records = []
        # The groups above left their labcore parent where the containers' group was still inside it: now
        # that it has gone, the parent goes too, unless other lab groups are in it (the undo keeps it then).
        done += undo_parents(shared)
        if self._net is not None:  # Docker's chains, rules and policies, then the bridge and ip_forward
            done += self._net.release()
            self._net = None
        if self._scratch is not None:  # its mounts died with its mount namespace: plain files are left
            self._scratch.remove()
            done.append(f"{self.work}: removed")
            self._scratch = None
        self.pid = None
        return done

    def _terminate(self, timeout: float) -> None:
        """SIGTERM dockerd through a pidfd, and wait for it and its containerd to exit."""
        from ..ns.kill import terminate
        children = _descendants(self.pid)
        terminate(self.pid, self._records[0].extra["start_time"], timeout)
        try:
            self._proc.wait(timeout=5)  # our child: reap it
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + timeout
        while any(tracker.is_running(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return f"Engine(dockerd PID {self.pid}, {self.host})" if self.pid else "Engine(not running)"


class Reserved(NamedTuple):
    """What ``Engine.reserve_network`` recorded for one user-defined network."""

    bridge: str
    subnet: str
    gateway: str

    def create_args(self, name: str) -> str:
        """``docker network create`` with the reserved subnet and bridge name."""
        return f"network create --subnet {self.subnet} -o com.docker.network.bridge.name={self.bridge} {name}"


def _children(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        return [int(p) for t in os.listdir(f"/proc/{pid}/task")
                for p in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except OSError:
        return []


def _descendants(pid: int | None) -> list[int]:
    out, todo = [], _children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def info(engine: Engine) -> dict:
    """What ``docker info`` says about the engine's runtime side, for the chapter's comparison."""
    got = engine.docker("info", "--format", "{{json .}}").stdout
    seen = json.loads(got)
    return {k: seen.get(k) for k in ("ServerVersion", "Driver", "CgroupDriver", "CgroupVersion", "DefaultRuntime",
                                      "LiveRestoreEnabled")}


__all__ = ["Engine", "Reserved", "missing", "info", "TOOLS", "FLAGS"]
