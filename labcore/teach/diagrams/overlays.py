"""An overlay mount drawn as the stack of layers the kernel merges, from its mountinfo line.

The kernel states an overlay's layers in the super options of its line in
/proc/self/mountinfo (``lowerdir=L1:L2,upperdir=U,workdir=W``; newer
kernels may write one ``lowerdir+=`` per layer). A lookup in the merged
directory walks them from the top: the upper dir, then each lower dir,
topmost first; the first layer holding the name answers. Two marks stop
the walk early (``labcore.fs.overlay``): a **whiteout** (a 0:0 character
device: the name was deleted) and an **opaque** directory (xattr
``trusted.overlay.opaque=y``: nothing below it shows through).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import InvalidInputError
from ...fs.overlay import is_opaque, is_whiteout
from ...proc import mountinfo
from .render import Diagram, h, header, quote, shorten

UPPER_FILL, LOWER_FILL, MERGED_FILL = "#fde2c8", "#dbe9f6", "#d7f0d2"


@dataclass
class Layers:
    """An overlay's directories, as its mountinfo line gives them."""

    merged: str
    lower: list[str]           # topmost first
    upper: str | None = None
    work: str | None = None

    def stack(self) -> list[tuple[str, str]]:
        """(role, directory) from the top of the lookup down."""
        top = [("upperdir", self.upper)] if self.upper else []
        return top + [(f"lowerdir {i + 1}", d) for i, d in enumerate(self.lower)]


def _unescape(text: str) -> str:
    # mountinfo writes a comma, '=' or a space in a path as an octal escape (\054...)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def layers(mount: mountinfo.Mount) -> Layers:
    """The layers of an overlay ``Mount`` (pure)."""
    if mount.fstype != "overlay":
        raise InvalidInputError(f"{mount.point} is a {mount.fstype} mount, not an overlay",
                                "give the merged directory of an overlay (mount | grep overlay)")
    lower, upper, work = [], None, None
    for part in mount.super_options.split(","):
        key, _, value = part.partition("=")
        if key == "lowerdir":  # L1:L2 (a ':' inside a path is written '\:'; '::' marks data-only layers)
            lower += [_unescape(p.replace("\\:", ":")) for p in re.split(r"(?<!\\):+", value) if p]
        elif key == "lowerdir+":
            lower.append(_unescape(value))
        elif key == "upperdir":
            upper = _unescape(value)
        elif key == "workdir":
            work = _unescape(value)
    return Layers(mount.point, lower, upper, work)


@dataclass
class Found:
    """Where a lookup of ``path`` stopped."""

    path: str                  # relative to the merged root: etc/hostname
    layer: int | None          # index in Layers.stack(), None: in no layer
    how: str                   # found, deleted (whiteout), hidden (opaque dir or a file above), absent


def locate(stack: list[tuple[str, str]], path: str) -> Found:
    """Look ``path`` up through the layers as overlay does, top first (reads the layer dirs)."""
    rel = path.strip("/")
    parts = [p for p in rel.split("/") if p]
    if not parts or ".." in parts:
        raise InvalidInputError(f"file {path!r} is not a path inside the overlay", "give one like 'etc/hostname'")
    for index, (_, directory) in enumerate(stack):
        here, stop_below = Path(directory), False
        for depth, name in enumerate(parts):
            here = here / name
            last = depth == len(parts) - 1
            if not os.path.lexists(here):
                break
            if is_whiteout(here):
                return Found(rel, index, "deleted")
            if last:
                return Found(rel, index, "found")
            if not here.is_dir() or here.is_symlink():
                return Found(rel, index, "hidden")  # a file named like a directory of the path hides it
            if is_opaque(here):
                stop_below = True  # this layer answers for everything under here
        if stop_below:
            return Found(rel, index, "hidden")
    return Found(rel, None, "absent")


WHAT = {"found": "found here", "deleted": "whiteout: deleted here", "hidden": "hidden from here down",
        "absent": "in no layer"}


def stack_dot(lay: Layers, found: list[Found], title: str) -> str:
    """DOT: the merged view on top, the upper dir, then the lower dirs; each file marked where it stopped."""
    lines = header("overlay", title)
    lines.append("  node [shape=box, style=filled, width=5.5];")
    stack = lay.stack()

    def files_here(index) -> str:
        rows = [f"{h(f.path)}: {WHAT[f.how]}" for f in found if f.layer == index]
        return "".join(f'<BR/><FONT POINT-SIZE="10" COLOR="#a01010"><B>{r}</B></FONT>' for r in rows)

    seen = "".join(f'<BR/><FONT POINT-SIZE="10">{h(f.path)}: '
                   f'{"visible, from the " + stack[f.layer][0] if f.how == "found" else "not there"}</FONT>'
                   for f in found)
    lines.append(f"  merged [label=<<B>merged view</B> (what the container sees)<BR/>"
                 f'<FONT POINT-SIZE="9">{h(shorten(lay.merged))}</FONT>{seen}>, fillcolor={quote(MERGED_FILL)}];')
    for index, (role, directory) in enumerate(stack):
        kind = "writable" if role == "upperdir" else "read-only" + (", topmost" if index == len(stack) - len(
            lay.lower) else "")
        fill = UPPER_FILL if role == "upperdir" else LOWER_FILL
        lines.append(f"  layer{index} [label=<<B>{h(role)}</B> ({kind})<BR/>"
                     f'<FONT POINT-SIZE="9">{h(shorten(directory))}</FONT>{files_here(index)}>, '
                     f"fillcolor={quote(fill)}];")
    chain = ["merged"] + [f"layer{i}" for i in range(len(stack))]
    lines += [f"  {a} -> {b} [label=\" looked up next\", arrowhead=vee];" for a, b in zip(chain, chain[1:])]
    if lay.work:
        lines.append(f"  work [label=<<B>workdir</B> (overlay's scratch: copy-up is prepared here)<BR/>"
                     f'<FONT POINT-SIZE="9">{h(shorten(lay.work))}</FONT>>, style="filled,dashed", '
                     f"fillcolor=white, width=3];")
        lines.append("  { rank=same; layer0; work; }")
        lines.append("  layer0 -> work [style=dotted, arrowhead=none, label=\" same filesystem\"];")
    absent = [f.path for f in found if f.layer is None]
    if absent:
        lines.append(f"  absent [label=<{h(', '.join(absent))}: in no layer>, shape=note, fillcolor=white, "
                     f"width=2];")
        lines.append(f"  layer{len(stack) - 1} -> absent [style=invis];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def stack_text(lay: Layers, found: list[Found], title: str) -> str:
    out = [title, f"merged   {lay.merged}"]
    for index, (role, directory) in enumerate(lay.stack()):
        out.append(f"{role:<12} {directory}")
        out += [f"    {f.path}: {WHAT[f.how]}" for f in found if f.layer == index]
    if lay.work:
        out.append(f"{'workdir':<12} {lay.work}")
    out += [f"{f.path}: in no layer" for f in found if f.layer is None]
    return "\n".join(out)


def overlay(target, file=None, pid: int | str = "self") -> Diagram:
    """The layers of the overlay mounted at ``target`` (its merged dir, or an ``Overlay``), top first.

    ``file="etc/hostname"`` (or a list) marks the layer where each lookup
    stops: found, deleted by a whiteout, or hidden by an opaque directory.
    Used by chapters 06 and 11 and deep dive B: ``lab.diagrams.overlay(c.merged, file="etc/passwd")``.
    """
    point = os.path.abspath(str(getattr(target, "merged", target)))
    mount = mountinfo.find(point, pid)
    if mount is None:
        raise InvalidInputError(f"nothing is mounted at {point}",
                                "give the merged directory of a mounted overlay (overlay.merged)")
    lay = layers(mount)
    files = [] if file is None else [file] if isinstance(file, (str, os.PathLike)) else list(file)
    found = [locate(lay.stack(), str(f)) for f in files]
    title = f"overlay at {shorten(point, 48)}: {len(lay.lower)} lower layer(s)" + \
        (" under a writable upper layer" if lay.upper else ", read-only")
    return Diagram(stack_dot(lay, found, title), stack_text(lay, found, title), title)


__all__ = ["Layers", "Found", "layers", "locate", "overlay", "stack_dot", "stack_text"]
