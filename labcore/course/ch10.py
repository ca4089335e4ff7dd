"""Chapter 10, Security: its quiz and exercises."""

from __future__ import annotations

import os
import stat

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("10", "Security", [
    Choice("mount-cap", "In a default Docker container, root runs `mount -t tmpfs x /mnt` and gets EPERM. "
                        "Which missing capability does the kernel's own check ask for?",
           right="CAP_SYS_ADMIN, the catch-all for mounts, namespaces and much else",
           wrong=["CAP_DAC_OVERRIDE, since /mnt belongs to root and needs a file-permission bypass",
                  "CAP_SYS_RESOURCE, since a tmpfs takes memory beyond the container's limits"],
           why="Section 2: the same root with CAP_SYS_ADMIN (--privileged) mounts; seccomp refuses mount "
               "too unless the container holds CAP_SYS_ADMIN."),
    Choice("seccomp-is", "Which sentence describes seccomp correctly?",
           right="a BPF filter at system-call entry that sees the call's number and raw arguments",
           wrong=["an LSM like AppArmor that checks the paths of files a program opens",
                  "a per-call table of the capabilities the kernel consults after its file-permission checks"],
           why="Section 4: the filter cannot read memory, so not a path; LSMs hook deeper, after the "
               "permission checks (section 7)."),
    Choice("nnp", "A container runs with `--security-opt no-new-privileges`. What changes?",
           right="execve of a setuid-root program keeps the caller's uid: it gains nothing",
           wrong=["root inside can no longer call setuid() or setgid() to become another user",
                  "every child process it forks starts with empty effective and permitted sets"],
           why="Section 3: the setuid copy of id printed euid=0 without the flag and uid=1000 with it."),
    Choice("rootless-escape", "A process escapes a rootless container started by user alice (uid 1000). "
                              "As whom does the host's kernel see it?",
           right="as alice, uid 1000, the id its uid 0 was mapped to",
           wrong=["as root, uid 0, since that is the uid it had inside",
                  "as uid 100000, the first id of alice's /etc/subuid range, where her ids were shifted"],
           why="Section 6: the host read PID 1's Uid line as the uid of the user who started it (there, "
               "nobody) while `id -u` inside said 0; the subuid range maps the other ids, not uid 0."),
    Choice("remap-volume", "dockerd runs with `--userns-remap=default`, and dockremap's range in /etc/subuid is "
                           "100000:65536. A container's root writes a file into a directory mounted with `-v` "
                           "(and given to uid 100000). Who owns the file on the host?",
           right="uid 100000, the host uid that the container's uid 0 is mapped to",
           wrong=["root, uid 0, since dockerd and the shim that hold the volume run as root",
                  "nobody, uid 65534, the overflow id that unmapped owners are shown as"],
           why="The real-Docker section: `made` belonged to the first subordinate uid, while the host root's "
               "own file showed as 65534 inside, and stayed unreadable."),
    Choice("ping-bounding", "ping carries the file capability cap_net_raw+ep. In a container started with "
                            "`--cap-drop NET_RAW`, root runs ping. What happens?",
           right="execve fails with EPERM: the file wants a capability the bounding set forbids",
           wrong=["ping runs with CAP_NET_RAW anyway, since its file capability grants it at execve",
                  "ping runs without CAP_NET_RAW and falls back to an unprivileged ICMP socket"],
           why="Section 2: 'ping: Operation not permitted' came from execve itself; the bounding set caps "
               "what any execve may grant."),
    Choice("privileged", "What does `docker run --privileged` switch off?",
           right="the capability drop, the seccomp filter and the masked paths, all at once",
           wrong=["the namespaces: the container shares the host's pid and network namespaces",
                  "only the seccomp filter, keeping the default 14 capabilities"],
           why="Section 2: with the privileged policy (every capability root holds, no filter, nothing "
               "masked), mount and unshare -U worked in the same namespaces."),
    Recall("root-dangerous", "An interviewer asks: \"Why is running containers as root dangerous, when they "
                             "are isolated by namespaces?\" Answer, and name what limits the damage.",
           model="Namespaces only change what a process sees; uid 0 is the host's uid 0, and the kernel checks "
                 "capabilities, not namespaces, for most privileged acts. With all capabilities a container can "
                 "mount the host's disk, load modules or write /proc/sysrq-trigger. What limits it: Docker drops "
                 "all but 14 capabilities, a seccomp filter refuses ~50 dangerous calls, /proc paths are masked "
                 "or read-only, an LSM confines it, and a user namespace (rootless, userns-remap) makes its root "
                 "an ordinary uid outside.",
           demo="sections 1 and 2"),
    Recall("layers", "What do seccomp, capabilities and LSMs each stop? Give one example of each.",
           model="Capabilities split root's power: without CAP_SYS_ADMIN, mount fails even for uid 0. Seccomp "
                 "filters system calls by number and register arguments, before any other check: unshare or "
                 "keyctl fail with EPERM whatever the capabilities. LSMs (AppArmor, SELinux) add policy at hooks "
                 "inside the kernel, by path or label: AppArmor's docker-default forbids writing /proc/sys even "
                 "for a process allowed everything else. Seccomp is not an LSM.",
           demo="sections 2, 4 and 7"),
])

# (name, shell command) tried in a default container; the kernel decides which fail.
ATTEMPTS = {
    "mount": "mount -t tmpfs x /mnt",
    "su": "su -s /bin/true nobody",
    "hostname": "hostname lab-predicted",
    "unshare": "unshare -U true",
    "chroot": "chroot / true",
    "renice": "renice -n -5 -p $$",
}


def fails_in_default_container() -> set[str]:
    """Which ATTEMPTS fail in a container under Docker's default policy (measured now)."""
    from ..ns.process import run
    from ..security import Policy
    pol = Policy.docker_default()
    return {name for name, cmd in ATTEMPTS.items()
            if run(["sh", "-c", cmd], ("pid", "mnt", "uts", "ipc", "net"), security=pol).returncode != 0}


class WhatFails(Exercise):
    id = "what-fails"
    chapter = "10"
    kind = "predict"
    title = "predict which acts root may still do in a default container"
    task = """Before the demo below, predict which of these commands fail when root runs them in a container
with Docker's defaults (14 capabilities, the default seccomp profile):

    mount     mount -t tmpfs x /mnt
    su        su -s /bin/true nobody       (become another user)
    hostname  hostname lab-predicted       (in its own uts namespace)
    unshare   unshare -U true              (make a user namespace)
    chroot    chroot / true
    renice    renice -n -5 -p $$           (raise its own priority)

Answer with the set of names that FAIL, e.g. {"mount", "su"}. The checker runs all six for real."""
    hint = "for each, ask which capability the kernel checks, and whether it is among Docker's 14"

    def verify(self, answer):
        if not isinstance(answer, (set, list, tuple, frozenset)):
            return 'answer with a set of names, e.g. {"mount"}'
        guess = {str(a).strip().lower() for a in answer}
        unknown = guess - set(ATTEMPTS)
        if unknown:
            return f"{sorted(unknown)} are not among the six: {', '.join(ATTEMPTS)}"
        truth = fails_in_default_container()
        if guess == truth:
            return None
        wrong_fail, wrong_work = sorted(guess - truth), sorted(truth - guess)
        parts = []
        if wrong_fail:
            parts.append(f"{len(wrong_fail)} you expect to fail still work{'s' if len(wrong_fail) == 1 else ''}: "
                         f"{', '.join(wrong_fail)} (that capability is among the 14)")
        if wrong_work:
            parts.append(f"{len(wrong_work)} you expect to work fail{'s' if len(wrong_work) == 1 else ''}")
        return "; ".join(parts)


CHMOD_CALLS = ("chmod", "fchmod", "fchmodat", "fchmodat2")


class DenyChmod(Exercise):
    id = "deny-chmod"
    chapter = "10"
    kind = "build"
    title = "write a seccomp profile that forbids changing file modes"
    task = """Write a seccomp profile, as a Python dict in Docker's JSON form, under which a container can
do everything as usual except change a file's mode: any way of changing a mode must fail with EPERM
(errno 1), while reading, writing and listing files still work. The checker starts containers with your
profile: `chmod 600` on a file of its own must fail and leave the mode as it was (seen from the host),
and `ls` and `cat` must still work; from Python, both os.chmod (a path) and os.fchmod (an open
descriptor) must fail with EPERM."""
    hint = "chmod(1) is not the only door: list the system calls that change a mode (man 2 chmod, and its newer sibling)"

    def setup(self):
        from ..fs.scratch import Scratch
        self.scratch = Scratch("deny-chmod", on_disk=True)
        self.file = self.scratch.path / "target"
        self.file.write_text("keep my mode\n")
        self.file.chmod(0o644)

    def _run(self, profile, command):
        from dataclasses import replace

        from ..ns.process import run
        from ..security import Policy, seccomp
        pol = replace(Policy.docker_default(), seccomp=seccomp.Profile.from_json(profile, "your profile"))
        return run(["sh", "-c", command], ("pid", "mnt", "uts", "ipc", "net"), security=pol)

    def verify(self, answer):
        if not isinstance(answer, dict):
            return "give the profile as a dict: {'defaultAction': ..., 'syscalls': [...]}"
        from ..errors import LabError
        try:
            listed = self._run(answer, f"ls {self.scratch.path} && cat {self.file}")
        except LabError as exc:
            return f"the profile was refused: {exc.what}"
        if listed.returncode != 0 or "keep my mode" not in listed.stdout:
            return "with your profile even ls and cat fail: allow what an ordinary program needs"
        shell = self._run(answer, f"chmod 600 {self.file}")
        mode = stat.S_IMODE(os.stat(self.file).st_mode)
        if shell.returncode == 0 or mode != 0o644:
            self.file.chmod(0o644)
            return "chmod(1) still changed the mode: which system call does it really make? (strace -f chmod ...)"
        if "not permitted" not in shell.stderr:
            return f"chmod failed, but not with EPERM: {shell.stderr.strip()}"
        for call, code in (("fchmod", "os.fchmod(os.open(p, os.O_RDONLY), 0o600)"), ("chmod", "os.chmod(p, 0o600)")):
            probe = self._run(answer, f"python3 -c 'import os; p = \"{self.file}\"; {code}'")
            mode = stat.S_IMODE(os.stat(self.file).st_mode)
            if probe.returncode == 0 or mode != 0o644:
                self.file.chmod(0o644)
                return "one way of changing a mode is still open: a program may also change it through an open descriptor"
        return None

    def close(self):
        self.scratch.remove()


EXERCISES = [WhatFails, DenyChmod]


__all__ = ["QUIZ", "EXERCISES", "ATTEMPTS", "fails_in_default_container"]
