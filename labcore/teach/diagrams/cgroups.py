"""A cgroup subtree: each group with the limits it enforces and what its processes use now.

The tree is the directory tree of the cgroup filesystem (cgroups(7)). The
limits and counters are read through ``labcore.cgroups`` (``read_limits()``
and ``stats()``), so v1 and v2 give the same picture; the boxes name each
version's own files (``memory.max`` on v2, ``memory.limit_in_bytes`` on
v1). A limit holds for the whole subtree below its group: a child can
never use more than its parent allows, whatever its own files say.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...cgroups import Cgroup, V1Cgroup, V2Cgroup, version
from ...cgroups.limits import PERIOD_US, human_bytes
from ...cgroups.v1 import HIERARCHIES
from ...cgroups.v2 import CONTROLLERS as V2_CONTROLLERS
from ...errors import InvalidInputError
from ...proc.cgroup import CGROUP_ROOT
from .render import Diagram, h, header, quote

MAX_GROUPS = 40
# The limit files behind each field of Limits, as each version names them.
FILES = {"v2": {"cpus": "cpu.max", "memory": "memory.max", "memory_high": "memory.high", "pids": "pids.max"},
         "v1": {"cpus": "cpu.cfs_quota_us", "memory": "memory.limit_in_bytes",
                "memory_high": "memory.soft_limit_in_bytes", "pids": "pids.max"}}
USAGE = {"v2": {"memory": "memory.current", "pids": "pids.current", "cpu": "cpu.stat usage_usec"},
         "v1": {"memory": "memory.usage_in_bytes", "pids": "pids.current", "cpu": "cpuacct.usage"}}


@dataclass
class Group:
    """One cgroup as the picture needs it: limits and usage already in words."""

    path: str                                      # relative to the root: labcore/lab-web ("" for the root)
    limits: dict[str, str] = field(default_factory=dict)   # file -> value ("max": no limit)
    usage: dict[str, str] = field(default_factory=dict)    # file -> value
    children: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/ (root)"

    @property
    def limited(self) -> bool:
        return any(v != "max" for v in self.limits.values())


def _view(rel: str, root: Path, ver: str) -> Cgroup:
    """A read-only Cgroup for the group at ``rel`` (as lab.cgroups.of builds one)."""
    if ver == "v2":
        path = root / rel
        offered = set((path / "cgroup.controllers").read_text().split()) if (path / "cgroup.controllers").exists() \
            else set()
        return V2Cgroup("/" + rel, root, {c: path for c in V2_CONTROLLERS if c in offered} or {"": path}, owned=False)
    paths = {c: (root / d).resolve() / rel for d, c in HIERARCHIES.items() if ((root / d).resolve() / rel).is_dir()}
    return V1Cgroup("/" + rel, root, paths, owned=False)


def cpu_quota(cg: Cgroup) -> tuple[int | None, int]:
    """(quota, period) in µs, as the group's files hold them (None: no quota)."""
    files = {k.rsplit("/", 1)[-1]: v for k, v in cg.files().items()}
    if "cpu.max" in files:
        quota, _, period = files["cpu.max"].partition(" ")
        return (None if quota == "max" else int(quota)), int(period or PERIOD_US)
    quota = int(files.get("cpu.cfs_quota_us", "-1"))
    return (None if quota < 0 else quota), int(files.get("cpu.cfs_period_us", PERIOD_US))


def read_group(rel: str, root: Path, ver: str) -> Group:
    """Limits (read_limits) and usage (stats) of one group, worded."""
    view = _view(rel, root, ver)
    lim, st = view.read_limits(), view.stats()
    names, used = FILES[ver], USAGE[ver]
    quota, period = cpu_quota(view) if "cpu" in view.paths else (None, PERIOD_US)
    values = {"cpus": "max" if quota is None else f"{quota} per {period} µs = {quota / period:g} CPU",
              "memory": "max" if lim.memory is None else human_bytes(lim.memory),
              "memory_high": "max" if lim.memory_high is None else human_bytes(lim.memory_high),
              "pids": "max" if lim.pids is None else str(lim.pids)}
    usage = {}
    if st.memory_current is not None:
        usage[used["memory"]] = human_bytes(st.memory_current)
    if st.pids_current is not None:
        usage[used["pids"]] = str(st.pids_current)
    if st.cpu_usage_usec is not None:
        usage[used["cpu"]] = f"{st.cpu_usage_usec / 1e6:.2f} s"
    return Group(rel, {names[k]: v for k, v in values.items()}, usage)


def _subdirs(rel: str, root: Path, ver: str) -> list[str]:
    bases = [root] if ver == "v2" else [(root / d).resolve() for d in HIERARCHIES if (root / d).is_dir()]
    names = set()
    for base in bases:
        try:
            names.update(e.name for e in os.scandir(base / rel) if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return sorted(names)


def relative(group, root: Path, ver: str) -> str:
    """A Cgroup, a directory under the root, or a cgroup path ('/labcore/web') -> 'labcore/web'."""
    if isinstance(group, Cgroup):
        directory = group.directories()[0].resolve()
        base = root.resolve()
        parts = directory.relative_to(base).parts
        return "/".join(parts if ver == "v2" else parts[1:])  # v1: the first part names the hierarchy
    text = os.path.normpath(str(group))
    if text.startswith(str(root) + "/") or text == str(root):
        parts = Path(text).relative_to(root).parts
        if ver == "v1" and parts:
            parts = parts[1:]
        return "/".join(parts)
    return "" if text == "." else text.strip("/")


def walk(rel: str, root: Path, ver: str, depth: int, limit: int = MAX_GROUPS) -> tuple[list[Group], int]:
    groups, left_out, queue = [], 0, [(rel, 0)]
    while queue:
        path, level = queue.pop(0)
        if len(groups) >= limit:
            left_out += 1
            continue
        group = read_group(path, root, ver)
        kids = [f"{path}/{n}" if path else n for n in _subdirs(path, root, ver)]
        if level >= depth:
            left_out += len(kids)
            kids = []
        group.children = kids
        groups.append(group)
        queue += [(k, level + 1) for k in kids]
    return groups, left_out


# --- pure --------------------------------------------------------------------------------------

def tree_dot(groups: list[Group], title: str, left_out: int = 0) -> str:
    lines = header("cgroups", title)
    lines.append("  node [shape=plain, style=\"\"];")
    shown = {g.path for g in groups}
    for i, g in enumerate(groups):
        head = "#f6c6c6" if g.limited else "#dbe9f6"
        rows = [f'<TR><TD COLSPAN="2" BGCOLOR="{head}"><B>{h(g.name)}</B></TD></TR>']
        rows += [f'<TR><TD ALIGN="LEFT">{h(k)}</TD><TD ALIGN="LEFT"><B>{h(v)}</B></TD></TR>'
                 for k, v in g.limits.items()]
        rows += [f'<TR><TD ALIGN="LEFT"><I>{h(k)}</I></TD><TD ALIGN="LEFT"><I>{h(v)}</I></TD></TR>'
                 for k, v in g.usage.items()]
        table = '<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="white">'
        lines.append(f"  g{i} [label=<{table}{''.join(rows)}</TABLE>>];")
    index = {g.path: i for i, g in enumerate(groups)}
    for g in groups:
        lines += [f"  g{index[g.path]} -> g{index[c]};" for c in g.children if c in shown]
    if left_out:
        lines.append(f"  more [label={quote(f'... {left_out} more groups not drawn')}, shape=box, style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tree_text(groups: list[Group], title: str, left_out: int = 0) -> str:
    out = [title]
    by_path = {g.path: g for g in groups}

    def show(g: Group, depth: int) -> None:
        pad = "  " * depth
        facts = ", ".join(f"{k} {v}" for k, v in g.limits.items())
        used = ", ".join(f"{k} {v}" for k, v in g.usage.items())
        out.append(f"{pad}{g.name}: {facts}" + (f"; now {used}" if used else ""))
        for c in g.children:
            if c in by_path:
                show(by_path[c], depth + 1)

    if groups:
        show(groups[0], 0)
    if left_out:
        out.append(f"... {left_out} more groups not drawn")
    return "\n".join(out)


def cgroup_tree(group="/", depth: int = 3, root: str | os.PathLike | None = None) -> Diagram:
    """A cgroup and the groups below it (``depth`` levels), each with its limits and its usage now.

    ``group``: a Cgroup (``lab.cgroups.create(...)``), a cgroup path as
    /proc/PID/cgroup writes it (``"/labcore"``), or a directory under
    /sys/fs/cgroup. Limited groups have a red header. Used by chapter 05.
    """
    base = Path(root or CGROUP_ROOT)
    ver = version(base)
    rel = relative(group, base, ver)
    if ".." in rel.split("/"):
        raise InvalidInputError(f"cgroup path {group!r} leaves the cgroup tree", "give a path under the root")
    probe = base / rel if ver == "v2" else None
    if (probe is not None and not probe.is_dir()) or (ver == "v1" and not _view(rel, base, ver).paths):
        raise InvalidInputError(f"no cgroup {'/' + rel} under {base}",
                                "list them with: ls " + str(base if ver == "v2" else base / "memory"))
    groups, left_out = walk(rel, base, ver, depth)
    title = f"cgroup {'/' + rel} ({ver}): limits, and usage now"
    return Diagram(tree_dot(groups, title, left_out), tree_text(groups, title, left_out), title)


__all__ = ["Group", "cgroup_tree", "read_group", "walk", "relative", "tree_dot", "tree_text", "FILES", "USAGE"]
