"""Chapter 04b, Namespaces II: net, mnt, uts, ipc, user, cgroup, time: its quiz and exercises."""

from __future__ import annotations

import secrets

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("04b", "Namespaces II: net, mnt, uts, ipc, user, cgroup, time", [
    Choice("ports", "Two containers and the host each bind a server to 127.0.0.1:8080. What happens?",
           right="all three bind: each network namespace has its own ports",
           wrong=["the second and third binds fail with EADDRINUSE, as on one machine",
                  "the host's bind wins and the containers' binds wait behind it"],
           why="Section 1: the host bound the very address and port the container was listening on."),
    Choice("fresh-netns", "What does a brand-new network namespace contain?",
           right="one loopback device, and it is down",
           wrong=["a loopback and a veth already linked to the host's bridge",
                  "no device at all until the runtime creates one"],
           why="Section 1: only lo was listed, and a client failed with 'Network is unreachable' until "
               "lo was brought up."),
    Choice("slave", "The host's / is shared. A runtime wants the host's later mounts to appear in a container, "
                    "and the container's never to reach the host. What does it make the container's / ?",
           right="a recursive slave of the host's peer group",
           wrong=["a shared member of the host's own peer group",
                  "a private copy, in no peer group at all"],
           why="Section 2: the slave container saw the host's tmpfs; its own stayed inside."),
    Choice("uts-fields", "Which fields of uname(2) does a uts namespace make private?",
           right="the hostname and the NIS domain name",
           wrong=["the kernel release, so an image can report its own",
                  "the machine type, so arm64 images can run on amd64"],
           why="Section 3: the hostname and domain name changed inside; chapter 01 showed the release "
               "stays the host's."),
    Choice("ipc-exit", "A container made a System V shared-memory segment, and its last process exits. "
                       "What becomes of the segment?",
           right="the kernel destroys it along with the ipc namespace",
           wrong=["it stays until reboot or ipcrm, as any segment on the host",
                  "it moves into the host's ipc namespace, now owned by root"],
           why="Section 4: each ipc namespace has its own tables, freed when the namespace goes."),
    Choice("shadow", "A container runs in a user namespace mapping 0-65535 to 100000-165535. Its root opens the "
                     "host's /etc/shadow, bind-mounted in. What happens?",
           right="EACCES: on the host it is uid 100000, an ordinary user",
           wrong=["it reads it: uid 0 inside holds CAP_DAC_OVERRIDE everywhere",
                  "it reads it, as the bind mount maps the file's owner to 0"],
           why="Section 5: 'read /etc/shadow' was refused with EACCES; capabilities count only over what "
               "the user namespace owns."),
    Choice("timens", "What may a time namespace change for the processes inside?",
           right="the offsets of the monotonic and boot-time clocks",
           wrong=["the wall clock, so each container can keep its own date",
                  "the time zone, so each container reports its own local time"],
           why="Section 7: uptime moved ten days; the wall clock (CLOCK_REALTIME) is never namespaced."),
    Recall("user-root", "What can root inside a user namespace do, and what not? Give the rule, then two "
                        "examples of each.",
           model="Every namespace is owned by a user namespace, and a capability counts only over objects "
                 "owned by the process's user namespace or its descendants. So it may mount in its own mount "
                 "namespace, set the hostname of its own uts namespace, configure its own network; it may not "
                 "read root's files on the host, signal host processes, create device nodes, load modules, or "
                 "give files to uids its map cannot express. On the host it is an ordinary uid (100000).",
           demo="section 5"),
    Recall("propagation", "Why does a runtime change the propagation of a container's mounts before it mounts "
                          "anything, and to what?",
           model="A new mount namespace starts as a copy whose mounts are peers of the host's when those are "
                 "shared (systemd makes / shared). A mount inside would then propagate to the host: a leaked "
                 "/proc or volume. runc makes the container's / a recursive slave (host mounts come in, none "
                 "go out); private cuts both ways. Docker and Kubernetes let a volume choose rshared, rslave "
                 "or rprivate (mountPropagation).",
           demo="section 2"),
])


class SysfsDevices(Exercise):
    id = "sysfs-devices"
    chapter = "04b"
    kind = "predict"
    title = "predict what /sys/class/net lists in a new network namespace"
    task = """Before reading "The sysfs trap" in section 1, predict. A process gets a new network namespace
and nothing else: it still uses the host's mount table, so the /sys it sees is the sysfs the host
mounted at boot. It runs `ls /sys/class/net`. Which names does it print?
Write them as a list of strings, e.g. ["eth0", "lo"]. The checker runs the command in a
new network namespace and compares."""
    hint = "/proc/PID/net follows the process that reads it; ask whose namespace a sysfs shows"

    def verify(self, answer):
        if isinstance(answer, str) or not all(isinstance(name, str) for name in answer):
            return "write a list of device names, like [\"eth0\", \"lo\"]"
        from ..ns import namespaces
        from ..ns.process import run
        listed = set(run(["ls", "/sys/class/net"], namespaces.usable("net")).stdout.split())
        predicted = {name.strip() for name in answer}
        if predicted == listed:
            return None
        if predicted == {"lo"}:
            return ("lo is indeed all the new namespace holds, and /proc/PID/net says so; but sysfs is not "
                    "/proc: whose network namespace does a sysfs instance belong to?")
        if predicted < listed:
            return "some names the process printed are missing from your list"
        return "your list names devices the process did not print"


class StopTheLeak(Exercise):
    id = "stop-the-leak"
    chapter = "04b"
    kind = "build"
    title = "stop a container's mounts from leaking to the host"
    task = """A badly configured runtime starts containers whose mounts are *shared* with the host: a mount
made inside shows up on the host. Write `fix(pid)`, which, from the host, changes the mount
propagation of the running container `pid` so that
  * what the container mounts from now on stays inside it;
  * what the host mounts from now on still appears inside the container (it needs the host's new volumes).
The checker starts such a container below a shared lab directory, calls your function,
then mounts a tmpfs on each side and looks at both mount tables."""
    hint = "lab.enter(pid, [...]) runs a command in the container's namespaces; mount(8) has --make-* options"

    def setup(self):
        from ..ns.propagation import SharedDir
        self.shared = SharedDir(f"lab-ex-leak-{secrets.token_hex(3)}").open()
        self.tries = 0

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (fix, without parentheses)"
        from ..ns.process import spawn
        self.tries += 1
        inside, outside = f"from-box-{self.tries}", f"from-host-{self.tries}"
        with spawn(["sleep", "600"], "mnt", propagation="shared") as box:
            answer(box.pid)
            self.shared.mount(inside, box.pid)
            self.shared.mount(outside)
            leaked = self.shared.sees(inside)
            came_in = self.shared.sees(outside, box.pid)
        if leaked:
            return "the container's new mount still showed up in the host's mount table"
        if not came_in:
            return "the container's mounts stay inside now, but the host's new mount no longer reaches it"
        return None

    def close(self):
        shared = getattr(self, "shared", None)
        if shared is not None:
            shared.close()  # the mounts below it, its bind mount, then the directory


EXERCISES = [SysfsDevices, StopTheLeak]


__all__ = ["QUIZ", "EXERCISES"]
