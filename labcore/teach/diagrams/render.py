"""A diagram: Graphviz DOT text, the picture ``dot`` draws from it, and the same facts as text.

Graphviz (graphviz.org) lays out graphs described in its DOT language:
nodes, edges, and *clusters* (subgraphs whose name starts with
``cluster``, drawn as boxes around their nodes). Each picture function of
``labcore.teach.diagrams`` reads the running system, writes DOT, and hands
it to a ``Diagram``; the ``dot`` program (Debian package ``graphviz``)
turns it into PNG or SVG. ``.dot`` stays readable: a learner may print it,
change it, and draw it again with ``Diagram(text_of_their_own)``.

Jupyter shows a Diagram as a PNG; the notebook file also keeps a plain
text form (an indented tree or a stack listing) so a reader of the raw
``.ipynb`` or of a diff sees the same facts.
"""

from __future__ import annotations

import base64
import html
import os
import selectors
import shutil
import subprocess
import time

from ...errors import InvalidInputError, LabError

MAX_DOT = 256 << 10      # the DOT text handed to dot: a lab picture is a few KiB
MAX_IMAGE = 16 << 20     # what dot may write back
TIMEOUT = 20             # seconds: a lab graph is laid out in well under one
FONT = "DejaVu Sans"     # installed with graphviz's own dependencies on Debian
PALETTE = ["#dbe9f6", "#fde2c8", "#d7f0d2", "#eadcf3", "#fbe3e8", "#fff3bf", "#d5f0ef", "#e8e8e8"]


def h(text) -> str:
    """Text made safe inside an HTML-like DOT label: escaped, control characters shown as '?'."""
    return html.escape("".join(c if c.isprintable() else "?" for c in str(text)), quote=True)


def quote(text) -> str:
    """A DOT quoted string ("..."): backslashes and quotes escaped, so no \\N or \\l surprises."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shorten(path: str, width: int = 56) -> str:
    """A long path with its middle elided: the start says where, the end says what."""
    path = str(path)
    if len(path) <= width:
        return path
    keep = width - 1
    return path[:keep // 3] + "…" + path[-(keep - keep // 3):]


def header(name: str, title: str, rankdir: str = "TB") -> list[str]:
    """The first lines of every lab graph: a title on top, one font, boxes."""
    return [f"digraph {name} {{",
            f"  graph [label={quote(title)}, labelloc=t, fontsize=16, fontname={quote(FONT)}, "
            f"rankdir={rankdir}, nodesep=0.3, ranksep=0.45, newrank=true];",
            f"  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname={quote(FONT)}, fontsize=11];",
            f"  edge [fontname={quote(FONT)}, fontsize=9, color=\"#555555\"];"]


def dot_program() -> str:
    """The path of ``dot``, from $PATH as it is now."""
    found = shutil.which("dot")
    if not found:
        raise LabError("the Graphviz program `dot`, which draws the lab's diagrams, is not installed",
                       "run make provision (it installs the graphviz package); the text form still works: "
                       "print(diagram)")
    return found


def run_dot(source: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` on ``source``: input and output bounded, a timeout, errors that say which."""
    data = source.encode()
    if len(data) > MAX_DOT:
        raise InvalidInputError(f"the DOT text is {len(data)} bytes, more than the {MAX_DOT} a lab diagram may have",
                                "draw a smaller part: a lower depth, or one subtree")
    proc = subprocess.Popen([dot_program(), f"-T{fmt}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + TIMEOUT
    pending = memoryview(data)
    # One selector over the three pipes: dot may start writing before it has read everything.
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        try:
            while len(sel.get_map()) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"dot took more than {TIMEOUT} s to draw the diagram", "draw a smaller part")
                for key, _ in sel.select(left):
                    if key.fileobj is proc.stdin:
                        try:
                            n = os.write(proc.stdin.fileno(), pending[:65536])
                        except BrokenPipeError:  # dot gave up early: its stderr says why
                            n = len(pending)
                        pending = pending[n:]
                        if not pending:
                            sel.unregister(proc.stdin)
                            proc.stdin.close()
                        continue
                    chunk = os.read(key.fileobj.fileno(), 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                    elif len(key.data) + len(chunk) > MAX_IMAGE:
                        raise LabError(f"dot wrote more than {MAX_IMAGE >> 20} MiB", "draw a smaller part")
                    else:
                        key.data.extend(chunk)
            proc.wait(max(0.1, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if not stream.closed:
                    stream.close()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise LabError(f"dot could not draw this DOT text: {message[0] if message else f'exit {proc.returncode}'}",
                       "print(diagram.dot) and look at the line it names")
    return bytes(out)


class Diagram:
    """A picture of the running system: ``.dot`` (its source), ``.text``, ``.png()``, ``.svg()``.

    ``print(d)`` shows the text form; Jupyter shows the PNG, and stores the
    text beside it. ``save("tree.png")`` (or ``.svg``) writes a file.
    """

    def __init__(self, dot: str, text: str = "", title: str = "diagram"):
        self.dot = dot
        self.text = text or title
        self.title = title

    def __repr__(self) -> str:
        return f"<Diagram: {self.title}>"

    def __str__(self) -> str:
        return self.text

    def png(self) -> bytes:
        return run_dot(self.dot, "png")

    def svg(self) -> str:
        return run_dot(self.dot, "svg").decode()

    def save(self, path: str) -> None:
        data = self.svg().encode() if str(path).endswith(".svg") else self.png()
        with open(path, "wb") as f:
            f.write(data)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": self.text}
        try:
            bundle["image/png"] = base64.b64encode(self.png()).decode()
        except LabError as exc:  # a missing dot should not hide the facts: say so under them
            bundle["text/plain"] = f"{self.text}\n\n(no picture: {exc.notice()})"
        return bundle


__all__ = ["Diagram", "run_dot", "dot_program", "h", "quote", "shorten", "header", "PALETTE",
           "MAX_DOT", "MAX_IMAGE", "TIMEOUT"]
