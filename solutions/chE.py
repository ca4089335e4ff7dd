"""Deep dive E's solutions."""

import re

# The /proc/PID/ns name of each CLONE_NEW* flag.
NS_NAMES = {"CLONE_NEWNS": "mnt", "CLONE_NEWUTS": "uts", "CLONE_NEWIPC": "ipc", "CLONE_NEWPID": "pid",
            "CLONE_NEWNET": "net", "CLONE_NEWCGROUP": "cgroup", "CLONE_NEWUSER": "user", "CLONE_NEWTIME": "time"}


def asked_namespaces(trace):
    """Every CLONE_NEW* flag carried by an unshare, clone or clone3 that succeeded, as /proc/PID/ns names it."""
    found = set()
    for ev in trace:
        if ev.name in ("unshare", "clone", "clone3") and ev.ok:
            found |= {NS_NAMES[flag] for flag in re.findall(r"CLONE_NEW[A-Z]+", ev.args)}
    return found


def _dockers_default(trace):
    return {"mnt", "uts", "ipc", "pid", "net"}


def _flag_names(trace):
    return {flag for ev in trace if ev.name == "unshare" for flag in re.findall(r"CLONE_NEW[A-Z]+", ev.args)}


def _ns_for_mount(trace):
    return {n if n != "mnt" else "ns" for n in asked_namespaces(trace)}


def _only_clone(trace):
    found = set()
    for ev in trace:
        if ev.name in ("clone", "clone3"):
            found |= {NS_NAMES[flag] for flag in re.findall(r"CLONE_NEW[A-Z]+", ev.args)}
    return found


# runc 1.1 (Debian bookworm): runc itself; `runc init` through /proc/self/exe; runc init again through
# execveat(2) of its binary opened via a read-only bind mount (its guard against CVE-2019-5736); then `true`.
RUNC_EXECS = 4

SOLUTIONS = {
    "runc-execs": lambda ex: RUNC_EXECS,
    "asked-namespaces": lambda ex: asked_namespaces,
}

WRONG = {
    "runc-execs": lambda ex: [1, 2, "two", 3],
    "asked-namespaces": lambda ex: [_dockers_default, _flag_names, _ns_for_mount, _only_clone, "mnt,pid"],
}
