"""The course itself: its chapters, and each chapter's quiz and exercises.

``CHAPTERS`` is the course map: every chapter with its notebook, the time
it takes, what to read before it, and what the machine needs to run it.
Chapter 00, ``notebooks/README.md`` and each chapter's first cell are drawn
from it.

Each chapter's questions and exercises live in a module of this package,
``labcore.course.chNN`` (``ch04a``, ``chA``...), never in the notebook: the
notebook shows ``lab.quiz("04a")`` and ``lab.exercise("04a", "...")``,
and the answers stay out of sight. Their solutions live outside the
package, in the checkout's ``solutions/`` directory, where the tests prove
that every checker accepts its solution and refuses typical mistakes.

A chapter's first cell is ``lab.chapter("04a")``: it names the chapter, its
time and the learner's progress in it; and if this machine cannot run the
chapter (no root, no namespaces), it says so once and lets every later cell
pass without running, instead of failing in each.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class Chapter:
    id: str
    notebook: str          # path under notebooks/
    title: str
    minutes: int
    after: tuple = ()      # chapters to read first
    needs: tuple = ()      # doctor features the demos need (see labcore.doctor)

    @property
    def module(self) -> str:
        return f"labcore.course.ch{self.id}"

    @property
    def ready(self) -> bool:
        return (NOTEBOOKS / self.notebook).exists()


ROOTFUL = ("root", "make_namespaces")
# The real engine a chapter starts for its last section (labcore.teach.realengine), with skopeo to load its image.
# docker.io brings the CLI with dockerd; "tool:docker" marks the chapters that drive the lab's own daemon with it.
REAL_ENGINE = ("overlayfs", "tool:dockerd", "tool:containerd", "tool:skopeo")

CHAPTERS = [
    Chapter("00", "00-start-here.ipynb", "Start here: the lab and its machine", 20, (), (*ROOTFUL, *REAL_ENGINE)),
    Chapter("01", "01-what-docker-really-is.ipynb", "What Docker really is", 25, ("00",), (*ROOTFUL, *REAL_ENGINE)),
    Chapter("02", "02-containers-vs-vms.ipynb", "Containers vs virtual machines", 35, ("01",), (*ROOTFUL, "vm", *REAL_ENGINE)),
    Chapter("03", "03-kernel-primitives.ipynb", "The kernel primitives", 30, ("01",),
            (*ROOTFUL, "cgroup_limits", *REAL_ENGINE)),
    Chapter("04a", "04a-namespaces-pid.ipynb", "Namespaces I: pid, PID 1, signals and zombies", 40, ("03",),
            (*ROOTFUL, "tool:tini", *REAL_ENGINE)),
    Chapter("04b", "04b-namespaces-the-others.ipynb", "Namespaces II: net, mnt, uts, ipc, user, cgroup, time",
            45, ("04a",), (*ROOTFUL, "userns", "cgroups", *REAL_ENGINE)),
    Chapter("05a", "05a-cgroups-cpu.ipynb", "Control groups I: the tree and the CPU", 40, ("03",),
            (*ROOTFUL, "cgroup_limits", *REAL_ENGINE)),
    Chapter("05b", "05b-cgroups-memory-pids-io.ipynb", "Control groups II: memory, PIDs, I/O", 45, ("05a",),
            (*ROOTFUL, "cgroup_limits", "cgroup_io", *REAL_ENGINE)),
    Chapter("06", "06-union-filesystems.ipynb", "Union filesystems and images", 40, ("03",),
            (*ROOTFUL, "tool:umoci", "tool:oci-image-tool", *REAL_ENGINE)),
    Chapter("07", "07-docker-architecture.ipynb", "Docker's architecture", 40, ("06",),
            (*ROOTFUL, "tool:docker", "tool:busybox", "tool:curl", *REAL_ENGINE)),
    Chapter("08", "08-containerd-and-runc.ipynb", "containerd and runc", 40, ("07",),
            (*ROOTFUL, "tool:runc", "tool:busybox", "tool:docker", "tool:ctr", *REAL_ENGINE)),
    Chapter("09", "09-networking.ipynb", "Networking", 45, ("04b",),
            (*ROOTFUL, "netns", "nftables", "tool:iperf3", *REAL_ENGINE)),
    Chapter("10", "10-security.ipynb", "Security", 45, ("04b", "05a"),
            (*ROOTFUL, "userns", *REAL_ENGINE)),
    Chapter("11", "11-storage-drivers.ipynb", "Storage drivers", 30, ("06",), (*ROOTFUL, *REAL_ENGINE)),
    Chapter("12", "12-image-distribution.ipynb", "Image distribution and registries", 40, ("06",),
            ("root", "make_namespaces", "tool:docker-registry", *REAL_ENGINE)),
    Chapter("13", "13-oci.ipynb", "The OCI specifications", 40, ("08",),
            (*ROOTFUL, "tool:runc", "tool:busybox", "tool:umoci", "tool:oci-image-tool", *REAL_ENGINE)),
    Chapter("14", "14-failure-scenarios.ipynb", "Failure scenarios", 45, ("08", "09"),
            (*ROOTFUL, "cgroup_limits", "netns", "nftables", "tool:docker", "tool:busybox", "tool:tini", *REAL_ENGINE)),
    Chapter("15", "15-interview-questions.ipynb", "Interview questions", 45, ("01",),
            (*ROOTFUL, "cgroup_limits", *REAL_ENGINE)),
    Chapter("A", "deep-dives/A-namespaces-syscalls.ipynb", "Deep dive A: the namespace system calls", 45,
            ("04b",), (*ROOTFUL, "nsexec", "userns", "tool:strace", *REAL_ENGINE)),
    Chapter("B", "deep-dives/B-overlayfs-internals.ipynb", "Deep dive B: overlayfs internals", 35, ("06",),
            ("root", "make_namespaces", *REAL_ENGINE)),
    Chapter("C", "deep-dives/C-networking-internals.ipynb", "Deep dive C: one packet's path through the kernel", 40,
            ("09",), (*ROOTFUL, "netns", "nftables", "tool:iptables", *REAL_ENGINE)),
    Chapter("D", "deep-dives/D-security-and-escapes.ipynb", "Deep dive D: security and container escapes", 45,
            ("10",), (*ROOTFUL, "vm", *REAL_ENGINE)),
    Chapter("E", "deep-dives/E-container-lifecycle.ipynb", "Deep dive E: the container lifecycle, call by call", 40,
            ("08",), (*ROOTFUL, "tool:runc", "tool:strace", "tool:busybox", *REAL_ENGINE)),
]

BY_ID = {c.id: c for c in CHAPTERS}


def find(chapter: str) -> Chapter:
    try:
        return BY_ID[chapter]
    except KeyError:
        raise InvalidInputError(f"no chapter {chapter!r}",
                                f"chapters are {', '.join(BY_ID)}") from None


def next_of(chapter: str) -> Chapter | None:
    """The next chapter that exists, in course order."""
    ready = [c for c in CHAPTERS if c.ready]
    ids = [c.id for c in ready]
    i = ids.index(find(chapter).id) if chapter in ids else -1
    return ready[i + 1] if 0 <= i < len(ready) - 1 else None


def content(chapter: str):
    """The chapter's module (QUIZ, EXERCISES)."""
    return importlib.import_module(find(chapter).module)


__all__ = ["Chapter", "CHAPTERS", "BY_ID", "find", "next_of", "content", "NOTEBOOKS"]
