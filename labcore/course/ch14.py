"""Chapter 14, Failure scenarios: its quiz and exercises."""

from __future__ import annotations

import secrets

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("14", "Failure scenarios", [
    Choice("oom-counter", "A container exited with 137 and docker inspect says OOMKilled: true. Where did the "
                          "kernel itself count that kill?",
           right="in the oom_kill line of the container cgroup's memory.events (memory.oom_control on v1)",
           wrong=["in the container's exit.json, which the kernel writes when a process of the cgroup dies",
                  "in the OOMKilled field of /proc/PID/status, which the kernel keeps after the process is gone"],
           why="The kernel counts per cgroup. The lab's shim reads that counter before the cgroup goes (section "
               "1); containerd watches the same cgroup and emits an OOM event, which dockerd turns into OOMKilled."),
    Choice("pid1-exit", "PID 1 of a container exits while two worker processes still run in it. "
                        "What happens to the workers?",
           right="the kernel sends each one SIGKILL: a pid namespace ends with its init",
           wrong=["they are re-parented to the host's PID 1 and go on running outside the container",
                  "they go on, and the oldest of them becomes the namespace's new PID 1"],
           why="zap_pid_ns_processes() kills what is left when a namespace's init exits; section 2 saw the "
               "sleepers vanish with their PID 1."),
    Choice("stop-wait", "`docker stop` always takes the full 10 seconds on a container whose PID 1 is `sleep`. "
                        "Why?",
           right="signals without a handler are dropped for a namespace's init, so SIGTERM does nothing",
           wrong=["sleep blocks every signal until its timer ends, then exits on its own with status 143",
                  "the daemon always waits the whole grace period before it looks at the process again"],
           why="Only SIGKILL and SIGSTOP from an ancestor namespace are forced on an init; section 3 measured "
               "the wait and saw a handler end it at once."),
    Choice("daemon-sigkill", "The daemon is killed with SIGKILL on a host running twenty containers. What "
                             "happens to the containers at that moment?",
           right="nothing: each one's parent is its shim, which runs on in a session of its own",
           wrong=["the kernel kills them too, since they are descendants of the daemon's process group",
                  "they are frozen by the kernel until a new daemon reattaches to their stdio"],
           why="Section 7 drew the tree before and after: the shim and its container kept running and logging; "
               "only the API was gone."),
    Choice("zombie-pids", "A container's pids.current equals its pids.max, yet its cgroup.procs lists three "
                          "single-threaded processes. What holds the other PIDs?",
           right="zombies: exited children that PID 1 never reaped with wait(2)",
           wrong=["PIDs the kernel keeps in quarantine for a minute after each exit",
                  "processes of other containers that share the same pid namespace"],
           why="A zombie has left cgroup.procs but keeps its PID, and pids.current counts it until it is "
               "reaped (section 8)."),
    Choice("enospc", "A container's writes fail with ENOSPC while `df /` on the host shows 60 % free. "
                     "What is the first thing to check?",
           right="the filesystem holding the container's upper directory, which may not be /",
           wrong=["the container's memory limit, which the kernel reports as ENOSPC on writes",
                  "the image's lower layers, which refuse writes with ENOSPC when read-only"],
           why="The writable layer lives under the engine's data directory; section 6 filled a 4 MiB one while "
               "the host had room."),
    Choice("digest", "One byte of a layer blob changes on disk. When is that noticed?",
           right="the next time it is hashed (a load, push or pull): its sha256 no longer matches",
           wrong=["at once: overlayfs compares every file it reads with the image's digest",
                  "only when a container reads the damaged file, through an EIO from the page cache"],
           why="A digest names exact bytes, so any reader that hashes them catches the change; section 5 "
               "flipped a byte and the unpack refused it."),
    Recall("oncall-137", "A service restarts every few minutes with exit code 137. Say how you confirm it is "
                         "the OOM killer, from the host, and what you change.",
           model="137 is 128 + 9: SIGKILL. docker inspect shows State.OOMKilled; the container cgroup's "
                 "memory.events shows oom_kill rising (memory.max and memory.peak tell how close it runs); "
                 "the kernel log has 'Memory cgroup out of memory: Killed process PID (name)' with the "
                 "cgroup path. If it is the OOM killer: raise --memory to what the peak shows the service "
                 "needs, or fix the leak; if not, look for docker kill, a stop that timed out, or an "
                 "orchestrator's liveness kill.",
           demo="section 1"),
    Recall("daemon-down", "Why do containers survive when dockerd dies, and what stops working until it "
                          "is back?",
           model="The containers are processes whose parent is a shim (containerd-shim-runc-v2), started "
                 "in a session of its own; neither dockerd nor containerd is in their ancestry, and the "
                 "kernel keeps their namespaces and cgroups. The shim holds their stdio and waits for "
                 "their exit status; their output goes on through FIFOs only dockerd reads, so a container "
                 "that writes more than the 64 KiB pipe buffer blocks until dockerd is back. While the daemon is down the API is gone: no docker ps, logs, exec, "
                 "new containers or restart policies. With live-restore a restarted dockerd reconnects to "
                 "the shims and finds every container as it was.",
           demo="section 7"),
])


class OomCount(Exercise):
    id = "oom-count"
    chapter = "14"
    kind = "predict"
    title = "predict the oom_kill counter after three memory hogs in a row"
    task = """Before running section 1, predict: a container limited to 32 MiB runs
`sh -c 'for i in 1 2 3; do tail /dev/zero; done; echo done'` (each `tail /dev/zero` grows without
bound). What does its cgroup's oom_kill counter read when the shell prints "done"? Answer with a
number. The checker runs exactly that, in a container of its own, and reads the counter."""
    hint = "the OOM killer picks one process to kill; think about which one, and what its parent does next"

    def verify(self, answer):
        from ..cgroups import create
        from ..ns import namespaces
        from ..ns.process import spawn
        try:
            guess = int(str(answer).strip())
        except ValueError:
            return f"{answer!r} is not a number: give how many kills the counter shows"
        name = f"lab-ex14-{secrets.token_hex(3)}"
        with create(name, memory="32M", pids=20) as cg:
            box = spawn(["busybox", "sh", "-c", "for i in 1 2 3; do busybox tail /dev/zero; done; echo done"],
                        namespaces.usable(namespaces.CONTAINER), cgroup=cg, capture=True, hostname="hog")
            try:
                said = box.stdout.read().decode()
                box.wait(timeout=60)
            finally:
                box.close()
            kills = cg.stats().oom_kills
        if "done" not in said:
            return "the shell did not get to 'done' on this machine: run the check again"
        if guess == kills:
            return None
        if guess == 1:
            return "the first kill did not end the container: the shell was not the process that was killed"
        if guess == 0:
            return "each tail really goes past 32 MiB: the limit is enforced, not just reported"
        return f"{guess} is not what the counter shows: count the processes that were killed"


class RepairNetwork(Exercise):
    id = "repair-network"
    chapter = "14"
    kind = "break"
    title = "diagnose and repair a container's broken network from the host"
    task = """Write `repair(ep, network)`: `ep` is a container's endpoint (ep.netns is its namespace's path,
ep.ip its address, ep.host_link its veth on the host) and `network` its lab network (network.bridge,
network.gateway, network.subnet, network.table). The checker breaks the container's way out in one of
the ways section 4 showed (a route, a NAT rule), calls your function, and pings a server outside from
the container; then it breaks it the other way and does it again. Your function must find out from the
host which part is missing and put it back. Tools: lab.failures.routes(netns_name),
lab.net.links.add_route(dst, gateway, netns=netns_name), lab.net.nft.show(table),
lab.net.nft.text_rule(table, chain, "nft rule text"). The namespace's name is the last part of ep.netns."""
    hint = "look before you fix: compare ip route inside the namespace and the network's nft table with "\
           "what the start of section 4 printed while everything worked (the default route, the masquerade rule)"

    def setup(self):
        from ..net import endpoint, internet, network
        tag = secrets.token_hex(2)
        self.network = network.create(f"x14{tag}")
        try:
            self.internet = internet.create(f"lab-in14{tag}", f"lab-up14{tag}")
            self.ep = endpoint.attach(f"x14{tag}", self.network.name)
        except BaseException:
            self.close()
            raise

    def _ping(self) -> bool:
        from ..teach import failures
        return failures.ping(self.ep, self.internet.server).returncode == 0

    def verify(self, answer):
        from ..net import links
        from ..teach import failures
        from pathlib import Path
        if not callable(answer):
            return "pass your function itself (repair, without parentheses)"
        ns = Path(self.ep.netns).name
        if not self._ping():
            return "the network was already broken before the check (an earlier try?): run ex.close() and reopen"
        for fault in ("route", "nat"):
            saved = []
            if fault == "route":
                failures.delete_default_route(ns)
            else:
                saved = failures.flush_chain(self.network.table, "postrouting")
            try:
                answer(self.ep, self.network)
            finally:
                works = self._ping()
                if not works:  # put it back, so the next try starts from a working network
                    if fault == "route" and not any(r.startswith("default") for r in failures.routes(ns)):
                        links.add_route("default", self.network.gateway, netns=ns)
                    if fault == "nat":
                        failures.flush_chain(self.network.table, "postrouting")
                        failures.restore_rules(saved)
            if not works:
                where = "its routes" if fault == "route" else "what rewrites its packets on their way out"
                return f"after one of the breaks the container still could not reach the server: look at {where}"
        return None

    def close(self):
        for thing in ("ep", "internet"):
            obj = getattr(self, thing, None)
            if obj is not None:
                obj.remove()
                setattr(self, thing, None)
        if getattr(self, "network", None) is not None:
            from ..net import network
            network.remove(self.network.name)
            self.network = None


EXERCISES = [OomCount, RepairNetwork]


__all__ = ["QUIZ", "EXERCISES"]
