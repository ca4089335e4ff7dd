"""Deep dive D, Security and container escapes: its quiz and exercises."""

from __future__ import annotations

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("D", "Security and container escapes", [
    Choice("privileged-disk", "A `--privileged` container reads a file on the host's root disk. Which "
                              "powers did the attack use?",
           right="CAP_MKNOD to make the disk's device node and CAP_SYS_ADMIN to mount it",
           wrong=["CAP_DAC_OVERRIDE to open the file past its mode bits on the host",
                  "a syscall that seccomp lets through only when the container is privileged",
                  "CAP_SYS_PTRACE to follow the host init's /proc/1/root link"],
           why="Section 2: /proc/partitions names the disk, mknod makes the node, mount(2) needs CAP_SYS_ADMIN."),
    Choice("socket-profile", "A container runs with Docker's default profile and `-v /var/run/docker.sock:"
                             "/var/run/docker.sock`. What stops it from taking the host?",
           right="nothing in the container: the engine, root on the host, does what the socket asks",
           wrong=["seccomp, which refuses connect(2) on unix sockets to containers",
                  "the missing CAP_SYS_ADMIN, which the engine checks on every client before it starts a container",
                  "AppArmor's docker-default profile, which denies a container any write to docker.sock"],
           why="Section 3: the misconfigured run had all the default layers and still read the secret."),
    Choice("release-agent-who", "Who runs the program named in a cgroup v1 hierarchy's `release_agent`?",
           right="the kernel, as a usermode helper with full root in the host's namespaces",
           wrong=["the process that wrote release_agent, inside its own namespaces and with its own capabilities",
                  "systemd, which watches every mounted hierarchy for cgroups that have just become empty",
                  "the container runtime's shim, which owns the cgroups it created for the container"],
           why="Section 4: the path is resolved in the host's mount namespace, so the container names its "
               "script by its host path, found in mountinfo."),
    Choice("ptrace-needed", "With `--pid host` but no extra capability, reading `/proc/1/root/etc/...` "
                            "fails. Why?",
           right="following another process's root is a ptrace access check, and PID 1 holds more capabilities",
           wrong=["the pid namespace still hides PID 1's /proc entries from a container that joined it late",
                  "seccomp's default profile blocks open(2) on every path under /proc/*/root and /proc/*/cwd",
                  "/proc/1/root is one of Docker's masked paths, so the container sees /dev/null there"],
           why="Section 5: ptrace_may_access wants CAP_SYS_PTRACE when the target's capabilities are not a "
               "subset of the caller's."),
    Choice("seccomp-first", "The default container calls mount(2). Which check answers first?",
           right="the seccomp filter, at syscall entry, before the kernel runs mount's own code",
           wrong=["the capability check inside mount's code, which then consults the seccomp filter",
                  "the LSM hook (AppArmor or SELinux), which runs before seccomp on every system call",
                  "the mount namespace, which refuses any mount made from a process of another namespace"],
           why="Sections 2 and 4: seccomp runs at syscall entry; with it off, the capability check still says EPERM."),
    Choice("cgroupv2-release", "This guest uses cgroup v2. How did the release_agent escape still work?",
           right="a named cgroup v1 hierarchy without controllers can sit next to v2, and it has release_agent",
           wrong=["cgroup v2 keeps a release_agent file in its root cgroup for compatibility with v1 tools",
                  "the container mounted cgroup v2 again with the release_agent= mount option, which v2 accepts",
                  "the kernel falls back to v1's release logic when a v2 cgroup with no processes is removed"],
           why="Section 4: `mount -t cgroup -o none,name=...` (CVE-2022-0492 used the same road)."),
    Choice("userns-mknod", "Rootless Podman runs a `--privileged` container: every capability, in a user namespace "
                           "whose root is uid 100000 on the host. It tries section 2's attack. What happens?",
           right="mknod fails with EPERM: a device node needs CAP_MKNOD in the host's user namespace",
           wrong=["the attack works: --privileged gives every capability, whichever namespace holds them",
                  "mknod works, and only the ext4 mount fails, because seccomp is on even when privileged",
                  "the container does not start: the kernel refuses all capabilities inside a user namespace"],
           why="Section 7: capabilities of a user namespace count for objects that namespace owns; a block "
               "device is the host's."),
    Choice("remap-privileged", "dockerd runs with `--userns-remap=default`. A user types "
                               "`docker run --privileged --pid host busybox sh`. What happens?",
           right="dockerd refuses it: with remapping on, those switches need `--userns host` too",
           wrong=["it starts with every capability, but of the remapped user namespace, so the host is safe",
                  "it starts with the host's pid namespace, but as uid 100000, so /proc/1/root is refused",
                  "runc refuses it: the kernel cannot join the host's pid namespace from a user namespace"],
           why="The real engine at the end: `--privileged`, `--pid host` and `--network host` each came back "
               "with exit status 125 and \"...when user namespaces are enabled\", from dockerd."),
    Recall("root-danger", "An interviewer asks: \"Why is running as root inside a container dangerous, if it "
                          "is isolated?\" Answer with the layers that make it safe and one misconfiguration "
                          "that undoes them.",
           model="Root in a container is the host's uid 0 unless a user namespace maps it: the same kernel "
                 "checks it. What keeps it contained is a stack of layers: namespaces (what it sees), the "
                 "dropped capabilities (no CAP_SYS_ADMIN, CAP_SYS_PTRACE...), seccomp (no mount, no kexec...), "
                 "masked /proc paths, no devices, LSMs. One switch undoes them: --privileged gives every "
                 "capability, no filter, all devices, and the container mounts the host's disk.",
           demo="sections 2 and 6"),
    Recall("socket-advice", "A team wants CI jobs in containers to build images, and proposes mounting "
                            "the Docker socket. What do you tell them?",
           model="Access to the socket is root on the host: the job can ask the engine for a privileged "
                 "container with / bind-mounted, and no profile on the job's own container stops it. Use a "
                 "rootless engine or a rootless builder (BuildKit rootless, kaniko, buildah), a separate "
                 "throwaway VM per job, or at least an authorization plugin.",
           demo="section 3"),
])


class WhichReadsTheHost(Exercise):
    id = "which-reads-the-host"
    chapter = "D"
    kind = "predict"
    title = "predict which of three containers reads the host's files through /proc"
    ROWS = (("--pid host", ("--pid", "host")),
            ("--pid host --cap-add SYS_PTRACE", ("--pid", "host", "--cap-add", "SYS_PTRACE")),
            ("--cap-add SYS_PTRACE", ("--cap-add", "SYS_PTRACE")))
    task = """Before running section 5, predict for each container below whether the attack of section 5
(find the host's init in /proc, read /etc/lab-host-secret through /proc/PID/root) reads the host's secret.
  1. labcore run --pid host
  2. labcore run --pid host --cap-add SYS_PTRACE
  3. labcore run --cap-add SYS_PTRACE
Answer with three words, yes or no, in that order, e.g. "no no no". The checker runs the three
containers in a fresh throwaway host VM (about half a minute) and compares."""
    hint = "two different layers are involved: one decides what the container can see, the other what it may follow"

    def setup(self):
        self.truth = None

    def measure(self) -> list[bool]:
        if self.truth is None:
            from ..teach import escapes
            out = escapes.demonstrate("pid", runs=[(n, f, None) for n, f in self.ROWS])
            self.truth = [r.escaped for r in out.runs]
        return self.truth

    def verify(self, answer):
        words = answer.lower().replace(",", " ").split() if isinstance(answer, str) else [
            ("yes" if a is True else "no" if a is False else str(a).lower()) for a in answer]
        if len(words) != 3 or any(w not in ("yes", "no") for w in words):
            return "give three words, each yes or no, e.g. \"no no no\""
        truth = self.measure()
        wrong = [i + 1 for i, (w, t) in enumerate(zip(words, truth)) if (w == "yes") != t]
        if not wrong:
            return None
        return (f"container(s) {', '.join(map(str, wrong))} behaved otherwise: ask for each whether the host's "
                "init is visible at all, then whether the container may follow its root")


class RawDisk(Exercise):
    id = "raw-disk"
    chapter = "D"
    kind = "break"
    title = "read the host's secret from a privileged container that cannot mount"
    task = """An operator "hardens" a privileged container: `labcore run --privileged --cap-drop SYS_ADMIN`.
Without CAP_SYS_ADMIN it can mount nothing. Break it anyway: write a shell script (a Python string) that,
run as root in that container inside a throwaway host VM, prints the host's secret, the line stored in
/etc/lab-host-secret on the host's disk (it starts with "host-secret-"). The container has busybox
(sh, grep, head, mknod, cat...) and its /proc shows /proc/partitions. The checker boots a fresh VM, runs
your script there with exactly those flags, and looks for that VM's secret in the output."""
    hint = "a file system is only a way of reading a block device; the device's bytes can be read without one"
    FLAGS = ("--privileged", "--cap-drop", "SYS_ADMIN")

    def verify(self, answer):
        if not isinstance(answer, str):
            return "give the script as one string of shell commands"
        from ..teach import escapes
        run = escapes.attack(answer, self.FLAGS)
        if run.escaped:
            return None
        said = run.last_line() or "(nothing)"
        if "mount" in said.lower():
            return f"mount is refused here (no CAP_SYS_ADMIN); your script ended with: {said[:120]}"
        return f"the secret did not appear; your script ended with: {said[:160]}"


EXERCISES = [WhichReadsTheHost, RawDisk]


__all__ = ["QUIZ", "EXERCISES"]
