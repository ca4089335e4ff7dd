"""Chapter 00's solutions."""

from labcore.course.ch00 import orphan_parent


def mode(mounts):
    """'v1', 'hybrid' or 'v2', from the text of /proc/self/mounts."""
    types = {}
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] in ("cgroup", "cgroup2"):
            types[fields[1]] = fields[2]
    if types.get("/sys/fs/cgroup") == "cgroup2":
        return "v2"
    if "cgroup" in types.values():
        return "hybrid" if "cgroup2" in types.values() else "v1"
    return None


def _new_parent(ex):
    if ex.truth is None:
        ex.truth = orphan_parent()
    return ex.truth[1]


def _any_cgroup2_is_v2(mounts):
    return "v2" if " cgroup2 " in mounts else "v1"


SOLUTIONS = {
    "orphan-parent": _new_parent,
    "cgroup-mode": lambda ex: mode,
}

WRONG = {
    "orphan-parent": lambda ex: [0, _new_parent(ex) + 100000, "the host"],
    "cgroup-mode": lambda ex: [lambda mounts: "v2", lambda mounts: "hybrid", _any_cgroup2_is_v2, "v2"],
}
