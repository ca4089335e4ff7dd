"""Processes and their pid namespaces, drawn from /proc.

A process is a node of a tree: ``/proc/PID/task/TID/children`` lists the
children each thread forked (proc(5); ``PPid:`` in /proc/PID/status is the
same edge read from the child). A process in a new pid namespace has one
PID per namespace it belongs to, outermost first, on the ``NSpid:`` line of
its status: ``NSpid: 4242 1`` is PID 4242 for the host and PID 1 inside.
The inode of ``/proc/PID/ns/KIND`` names each namespace (namespaces(7)):
the pictures group processes by pid namespace inode, and list the kinds
whose inode differs from the host's (PID 1's), which is what "in a
container" means to the kernel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ... import kernel
from ...errors import InvalidInputError
from ...kernel import flags as F
from ...proc.ns import CONTAINER, KINDS
from ...proc.status import status
from .render import PALETTE, Diagram, h, header, quote

MAX_NODES = 60  # a whiteboard holds a few dozen boxes; more become "... N more"


@dataclass
class Task:
    """One process as the pictures need it."""

    pid: int                     # in the reader's pid namespace (the host's)
    ppid: int
    comm: str
    nspid: list[int]             # outermost first; [pid] outside any new pid namespace
    ns: dict[str, int]           # kind -> namespace inode (kinds we may not read are missing)
    children: list[int] = field(default_factory=list)
    state: str = ""              # the State letter of /proc/PID/status: Z for a zombie

    @property
    def zombie(self) -> bool:
        return self.state == "Z"

    @property
    def inner(self) -> int:
        return self.nspid[-1]


def reference() -> dict[str, int]:
    """The host's namespaces: PID 1's (root may read them), else this process's."""
    for pid in (1, "self"):
        found = _inodes(pid)
        if found:
            return found
    return {}


def _inodes(pid) -> dict[str, int]:
    out = {}
    for kind in KINDS:
        try:
            out[kind] = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
        except OSError:
            continue
    return out


def children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (/proc/PID/task/*/children), or from PPid if the
    kernel was built without that file (CONFIG_PROC_CHILDREN)."""
    found, have_file = set(), False
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
            have_file = True
        except FileNotFoundError:
            continue
    if have_file:
        return sorted(found)
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(status(entry.name).get("PPid", 0)) == pid:
                    out.append(int(entry.name))
            except (InvalidInputError, OSError, ValueError):
                continue
    return sorted(out)


def read_task(pid: int) -> Task | None:
    """``pid`` from /proc, or None if it has gone."""
    try:
        st = status(pid)
    except (InvalidInputError, OSError):
        return None
    nspid = [int(x) for x in st.get("NSpid", str(pid)).split()] or [pid]
    return Task(int(pid), int(st.get("PPid", 0)), st.get("Name", "?"), nspid, _inodes(pid), children(pid),
                st.get("State", " ")[0].strip())


def walk(pids, depth: int = 4, limit: int = MAX_NODES) -> tuple[list[Task], int]:
    """The tasks under ``pids`` to ``depth`` generations, at most ``limit``; and how many were left out."""
    tasks, seen, left_out = [], set(), 0
    queue = [(int(p), 0) for p in pids]
    while queue:
        pid, level = queue.pop(0)
        if pid in seen:
            continue
        seen.add(pid)
        task = read_task(pid)
        if task is None:
            continue
        if len(tasks) >= limit:
            left_out += 1
            continue
        if level >= depth:
            left_out += len(task.children)
            task.children = []
        tasks.append(task)
        queue += [(c, level + 1) for c in task.children]
    return tasks, left_out


# --- pure: from tasks to pictures ------------------------------------------------------

def differing(task: Task, ref: dict[str, int], kinds) -> list[str]:
    """The kinds whose namespace is not the host's."""
    return [k for k in kinds if k in task.ns and k in ref and task.ns[k] != ref[k]]


def _pids(task: Task) -> str:
    if len(task.nspid) == 1:
        return f"PID {task.pid}"
    if len(task.nspid) == 2:
        return f"host PID {task.pid}, PID {task.inner} inside"
    return "PIDs " + " / ".join(map(str, task.nspid)) + " (outermost first)"


def _ns_parents(tasks: list[Task]) -> dict[int, int | None]:
    """pid namespace inode -> the inode of the namespace it was made in, as far as the drawing shows:
    a process of a deeper namespace whose parent process is one level up."""
    by_pid = {t.pid: t for t in tasks}
    parents: dict[int, int | None] = {}
    for t in tasks:
        mine = t.ns.get("pid", 0)
        parents.setdefault(mine, None)
        up = by_pid.get(t.ppid)
        if up is not None and up.ns.get("pid", 0) != mine and len(up.nspid) == len(t.nspid) - 1:
            parents[mine] = up.ns.get("pid", 0)
    return parents


def tree_dot(tasks: list[Task], ref: dict[str, int], kinds=CONTAINER, title: str = "", left_out: int = 0) -> str:
    """DOT for a process tree: one cluster per pid namespace (nested as they nest), edges parent -> child."""
    lines = header("processes", title or "process tree")
    shown = {t.pid for t in tasks}
    parents = _ns_parents(tasks)
    colour = {inode: PALETTE[i % len(PALETTE)] for i, inode in enumerate(parents)}

    def node(t: Task) -> str:
        new = differing(t, ref, kinds)
        extra = f'<BR/><FONT POINT-SIZE="9">new: {h(" ".join(new))}</FONT>' if new else ""
        if t.zombie:  # dead, not yet reaped by its parent: drawn as a ghost
            extra += '<BR/><FONT POINT-SIZE="9">zombie: dead, not reaped</FONT>'
        style = ', style="rounded,filled,dashed", fillcolor="#eeeeee"' if t.zombie else ""
        inodes = " ".join(f"{k}:{v}" for k, v in t.ns.items())  # shown on hover in the SVG
        return f"    p{t.pid} [label=<<B>{h(t.comm)}</B><BR/>{h(_pids(t))}{extra}>, tooltip={quote(inodes)}{style}];"

    def cluster(inode: int, indent: str) -> None:
        level = next((len(t.nspid) for t in tasks if t.ns.get("pid", 0) == inode), 1)
        whose = "the host's" if inode == ref.get("pid") else f"level {level}"
        lines.append(f"{indent}subgraph cluster_pidns_{inode} {{")
        lines.append(f"{indent}  label={quote(f'pid namespace {inode} ({whose})')}; style=\"rounded,filled\"; "
                     f"fillcolor={quote(colour[inode])}; color=\"#777777\"; fontsize=10;")
        lines.extend(indent + node(t) for t in tasks if t.ns.get("pid", 0) == inode)
        for child in (c for c, p in parents.items() if p == inode):
            cluster(child, indent + "  ")
        lines.append(f"{indent}}}")

    for inode in (i for i, p in parents.items() if p is None):
        cluster(inode, "  ")
    for t in tasks:
        lines.extend(f"  p{t.pid} -> p{c};" for c in t.children if c in shown)
    if left_out:
        lines.append(f"  more [label={quote(f'... {left_out} more not drawn')}, style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tree_text(tasks: list[Task], ref: dict[str, int], kinds=CONTAINER, title: str = "", left_out: int = 0) -> str:
    """The same tree, indented as pstree draws it."""
    by_pid = {t.pid: t for t in tasks}
    out = [title or "process tree"]
    roots = [t for t in tasks if t.ppid not in by_pid or t.pid not in by_pid[t.ppid].children]

    def line(t: Task, prefix: str, branch: str) -> None:
        new = differing(t, ref, kinds)
        facts = f"{_pids(t)}, pid ns {t.ns.get('pid', '?')}" + (f", new: {' '.join(new)}" if new else "") \
            + (", zombie" if t.zombie else "")
        out.append(f"{prefix}{branch}{t.comm}  ({facts})")
        kids = [by_pid[c] for c in t.children if c in by_pid]
        below = prefix + ("" if not branch else "   " if branch.startswith("└") else "│  ")
        for i, kid in enumerate(kids):
            line(kid, below, "└─ " if i == len(kids) - 1 else "├─ ")

    for root in roots:
        line(root, "", "")
    if left_out:
        out.append(f"... {left_out} more not drawn")
    return "\n".join(out)


def process_tree(pid, depth: int = 4, kinds=CONTAINER) -> Diagram:
    """A process (or a list of them) and its descendants, ``depth`` generations down.

    Each box: the command name, its host PID and its PID inside, and which
    of ``kinds`` are namespaces other than the host's; processes sharing a
    pid namespace share a coloured cluster. Used by chapters 01 and 04:
    ``lab.diagrams.process_tree(proc.pid)``.
    """
    pids = [pid] if isinstance(pid, (int, str)) else list(pid)
    if not pids or any(not str(p).isdigit() for p in pids):
        raise InvalidInputError(f"process_tree needs PIDs, got {pid!r}", "pass proc.pid, or a list of PIDs")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InvalidInputError(f"unknown namespace kind {unknown[0]!r}", f"choose among {', '.join(KINDS)}")
    tasks, left_out = walk(pids, depth)
    if not tasks:
        raise InvalidInputError(f"no process {pids[0] if len(pids) == 1 else pids}",
                                "it has exited already: draw it while it runs")
    ref = reference()
    title = f"processes under PID {', '.join(map(str, pids))}, grouped by pid namespace"
    return Diagram(tree_dot(tasks, ref, kinds, title, left_out), tree_text(tasks, ref, kinds, title, left_out), title)


# --- one process, seen from each of its pid namespaces ------------------------------------

def pid_chain(pid: int) -> list[int | None]:
    """The inodes of ``pid``'s pid namespaces, outermost first, through ioctl_ns(2) NS_GET_PARENT
    (None where the kernel will not say: above the reader's own namespace)."""
    out: list[int | None] = []
    path = f"/proc/{pid}/ns/pid"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInputError(f"no process {pid}", "it has exited already: draw it while it runs") from None
    k = kernel.default()
    try:
        while True:
            out.append(os.fstat(fd).st_ino)
            try:
                parent = k.ns_ioctl(fd, F.NS_GET_PARENT, path)
            except OSError:  # EPERM at the reader's own namespace: the kernel shows nothing above it
                break
            os.close(fd)
            fd = parent
    finally:
        os.close(fd)
    return out[::-1]


def map_dot(comm: str, levels: list[tuple[int, int | None]], host: int | None, title: str) -> str:
    """DOT: nested boxes, outermost pid namespace first, each holding the PID it gives the process."""
    lines = header("pidmap", title, rankdir="LR")
    for depth, (number, inode) in enumerate(levels):
        pad = "  " * (depth + 1)
        name = "the host's pid namespace" if inode == host else f"pid namespace, level {depth + 1}"
        name += f" (inode {inode or '?'})"
        lines.append(f"{pad}subgraph cluster_level{depth} {{")
        lines.append(f"{pad}  label={quote(name)}; style=\"rounded,filled\"; "
                     f"fillcolor={quote(PALETTE[depth % len(PALETTE)])}; color=\"#777777\"; fontsize=10;")
        lines.append(f"{pad}  level{depth} [label=<<B>{h(comm)}</B><BR/>PID <B>{number}</B>>];")
    for depth in range(len(levels) - 1, -1, -1):
        lines.append("  " * (depth + 1) + "}")
    lines += [f"  level{i} -> level{i + 1} [style=dashed, arrowhead=none, label=\"same process\"];"
              for i in range(len(levels) - 1)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def map_text(comm: str, levels: list[tuple[int, int | None]], host: int | None, title: str) -> str:
    out = [title]
    for depth, (number, inode) in enumerate(levels):
        whose = " (the host's)" if inode == host else ""
        out.append(f"{'  ' * depth}pid namespace {inode or '?'}{whose}: {comm} is PID {number}")
    return "\n".join(out)


def pid_map(pid: int) -> Diagram:
    """One process as each pid namespace it is in numbers it (NSpid): nested boxes, host outermost.

    Used by chapter 04: ``lab.diagrams.pid_map(proc.pid)`` shows PID 4242 outside, PID 1 inside.
    """
    task = read_task(int(pid))
    if task is None:
        raise InvalidInputError(f"no process {pid}", "it has exited already: draw it while it runs")
    chain = pid_chain(task.pid)
    inodes = [None] * (len(task.nspid) - len(chain)) + chain[-len(task.nspid):]
    levels = list(zip(task.nspid, inodes))
    title = f"{task.comm} (host PID {task.pid}) in each of its {len(levels)} pid namespace(s)"
    host = reference().get("pid")
    return Diagram(map_dot(task.comm, levels, host, title), map_text(task.comm, levels, host, title), title)


__all__ = ["Task", "process_tree", "pid_map", "walk", "read_task", "children", "reference", "pid_chain",
           "tree_dot", "tree_text", "map_dot", "map_text", "differing", "MAX_NODES"]
