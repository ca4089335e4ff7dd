"""labcore: the Docker Internals Lab's small container toolkit.

Everything here makes real kernel objects on the machine it runs on. The
notebooks import it as ``import labcore as lab``.

The packages, from the kernel up::

    kernel/    the only door to libc (ctypes), its recording fake, lab.trace(),
               and nsexec.c with the spawn protocol it shares with Python
    proc/      parsers of /proc and /sys: each kernel fact read in one place
    tracker/   every object the lab creates is recorded, then undone
    ns/        namespaces: plans, starting processes in them, joining them
    cgroups/   control groups, v1 and v2 behind one interface
    fs/        mounts, overlayfs, layers, root filesystems
    images/    OCI images: build, layout, store
    teach/     what teaches rather than builds: monitor, plots, diagrams, quizzes,
               exercises, the learner's progress, the tiny VM
    course/    the course map, and each chapter's quiz and exercises
    doctor/    what this machine can do, and the fix for what it cannot

Names load on first use, so ``import labcore`` costs almost nothing and the
``labcore`` command starts fast: ``lab.spawn`` imports ``labcore.ns`` only
when a notebook first touches it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The learner's short names: lab.NAME -> (module, attribute or None for the module itself).
_NAMES = {
    # packages
    "kernel": ("labcore.kernel", None),
    "proc": ("labcore.proc", None),
    "tracker": ("labcore.tracker", None),
    "ns": ("labcore.ns", None),
    "cgroups": ("labcore.cgroups", None),
    "fs": ("labcore.fs", None),
    "net": ("labcore.net", None),
    "images": ("labcore.images", None),
    "daemon": ("labcore.daemon", None),
    "security": ("labcore.security", None),
    "runtime": ("labcore.runtime", None),
    "teach": ("labcore.teach", None),
    "doctor": ("labcore.doctor", None),
    "check": ("labcore.check", None),
    "errors": ("labcore.errors", None),
    "launch": ("labcore.launch", None),
    # modules, by the names the chapters use
    "namespaces": ("labcore.ns.namespaces", None),
    "process": ("labcore.ns.process", None),
    "credentials": ("labcore.ns.credentials", None),
    "init": ("labcore.ns.init", None),
    "nscalls": ("labcore.ns.calls", None),
    "pidns": ("labcore.ns.pidns", None),
    "propagation": ("labcore.ns.propagation", None),
    "mountinfo": ("labcore.proc.mountinfo", None),
    "procnet": ("labcore.proc.net", None),
    "monitor": ("labcore.teach.monitor", None),
    "plots": ("labcore.teach.plots", None),
    "widgets": ("labcore.teach.widgets", None),
    "compare": ("labcore.teach.compare", None),
    "confinement": ("labcore.teach.confinement", None),
    "initramfs": ("labcore.teach.initramfs", None),
    "vm": ("labcore.teach.vm", None),
    "workloads": ("labcore.teach.workloads", None),
    "diagrams": ("labcore.teach.diagrams", None),
    "progress": ("labcore.teach.progress", None),
    "course": ("labcore.course", None),
    "registry": ("labcore.images.registry", None),
    "registryd": ("labcore.images.registryd", None),
    "runtimes": ("labcore.teach.runtimes", None),
    "conformance": ("labcore.teach.conformance", None),
    "apitrace": ("labcore.teach.apitrace", None),
    "realengine": ("labcore.teach.realengine", None),
    "dockerports": ("labcore.teach.dockerports", None),
    "failures": ("labcore.teach.failures", None),
    "escapes": ("labcore.teach.escapes", None),
    # the course around the lessons: a chapter's first cell, its quiz and exercises, the map
    "chapter": ("labcore.teach.chapter", "chapter"),
    "quiz": ("labcore.teach.chapter", "quiz"),
    "exercise": ("labcore.teach.chapter", "exercise"),
    "course_map": ("labcore.teach.chapter", "course_map"),
    "next_chapter": ("labcore.teach.chapter", "next_chapter"),
    "expect": ("labcore.teach.expect", "expect"),
    "expect_equal": ("labcore.teach.expect", "expect_equal"),
    "docker": ("labcore.teach.realdocker", "docker"),
    "interview": ("labcore.teach.interview", None),
    "interview_bank": ("labcore.course.ch15", "bank"),
    "mock_interview": ("labcore.course.ch15", "mock_interview"),
    # errors
    "LabError": ("labcore.errors", "LabError"),
    "PrivilegeError": ("labcore.errors", "PrivilegeError"),
    "UnsupportedError": ("labcore.errors", "UnsupportedError"),
    "InvalidInputError": ("labcore.errors", "InvalidInputError"),
    "UnknownNamespaceError": ("labcore.errors", "UnknownNamespaceError"),
    "CommandNotFoundError": ("labcore.errors", "CommandNotFoundError"),
    "CleanupError": ("labcore.errors", "CleanupError"),
    # starting processes in namespaces
    "CONTAINER": ("labcore.ns.namespaces", "CONTAINER"),
    "Namespaces": ("labcore.ns.namespaces", "Namespaces"),
    "nspid": ("labcore.ns.namespaces", "nspid"),
    "pin_netns": ("labcore.ns.netns", "pin_netns"),
    "Process": ("labcore.ns.process", "Process"),
    "Result": ("labcore.ns.process", "Result"),
    "spawn": ("labcore.ns.process", "spawn"),
    "run": ("labcore.ns.process", "run"),
    "call": ("labcore.ns.process", "call"),
    "enter": ("labcore.ns.process", "enter"),
    # every system call labcore makes in a block, one a line as strace writes them
    "trace": ("labcore.kernel", "trace"),
}


def __getattr__(name: str):
    try:
        module, attr = _NAMES[name]
    except KeyError:
        raise AttributeError(f"module 'labcore' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_NAMES))


__all__ = list(_NAMES)
