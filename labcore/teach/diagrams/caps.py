"""What a process may do: its capabilities, seccomp mode and no_new_privs, side by side for several.

Each process is one box: a grid of every capability the kernel knows,
coloured by the sets that hold it (effective: the kernel grants it now;
bounding only: gone for now, but a setuid or file-capability program could
still get it back; neither: gone for good), with its seccomp mode and
no_new_privs on top. Read from /proc/PID/status when drawn. Used by
chapter 10: ``lab.diagrams.capability_sets((host_pid, "host"), (box.pid, "container"))``.
"""

from __future__ import annotations

from ...errors import InvalidInputError
from ...kernel import caps as kcaps
from ...proc.status import status
from .render import FONT, Diagram, h, header, quote

COLUMNS = 6
HELD, BOUNDING_ONLY, GONE = "#9fd89a", "#fff3bf", "#eeeeee"
SECCOMP_MODES = {"0": "no seccomp", "1": "seccomp strict", "2": "seccomp filter"}


def _facts(pid: int) -> dict:
    try:
        st = status(pid)
    except (FileNotFoundError, ProcessLookupError, InvalidInputError):
        raise InvalidInputError(f"no process {pid}", "draw it while it runs") from None
    return {"eff": int(st["CapEff"], 16), "bnd": int(st["CapBnd"], 16), "prm": int(st["CapPrm"], 16),
            "seccomp": SECCOMP_MODES.get(st.get("Seccomp", "0"), st.get("Seccomp")),
            "nnp": st.get("NoNewPrivs") == "1", "uid": st["Uid"].split()[1]}


def _label(name: str, f: dict, last: int) -> str:
    rows, cells = [], []
    for n in range(last + 1):
        colour = HELD if f["eff"] >> n & 1 else BOUNDING_ONLY if f["bnd"] >> n & 1 else GONE
        cells.append(f'<TD BGCOLOR="{colour}">{h(kcaps.CAP_NAMES[n].upper())}</TD>')
        if len(cells) == COLUMNS:
            rows.append("<TR>" + "".join(cells) + "</TR>")
            cells = []
    if cells:
        rows.append("<TR>" + "".join(cells) + f'<TD COLSPAN="{COLUMNS - len(cells)}"></TD></TR>')
    title = (f"<B>{h(name)}</B>: uid {h(f['uid'])}, CapEff {f['eff']:016x}<BR/>"
             f"{h(f['seccomp'])}, no_new_privs {'on' if f['nnp'] else 'off'}")
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
            f'<TR><TD COLSPAN="{COLUMNS}">{title}</TD></TR>{"".join(rows)}</TABLE>>')


def capability_sets(*processes) -> Diagram:
    """Boxes for each ``pid`` or ``(pid, label)``: which capabilities it holds, and its seccomp mode."""
    if not processes:
        raise InvalidInputError("no process to draw", "give one or more PIDs, or (pid, 'label') pairs")
    last = min(kcaps.last_cap(), len(kcaps.CAP_NAMES) - 1)
    title = "Capabilities: green = effective, yellow = bounding only, grey = dropped"
    dot, text = header("caps", title, rankdir="TB"), [title]
    dot[-2] = dot[-2].replace('style="rounded,filled", fillcolor=white', "shape=plain")
    for i, item in enumerate(processes):
        pid, name = item if isinstance(item, tuple) else (item, f"PID {item}")
        f = _facts(int(pid))
        dot.append(f"  p{i} [label={_label(name, f, last)}, fontname={quote(FONT)}, fontsize=10];")
        held = sorted(kcaps.names(f["eff"]), key=kcaps.number)
        text.append(f"{name}: uid {f['uid']}, {f['seccomp']}, no_new_privs {'on' if f['nnp'] else 'off'}, "
                    f"CapEff {f['eff']:016x} ({len(held)} of {last + 1}): "
                    + (", ".join(c.removeprefix("CAP_") for c in held) or "none"))
    dot += [f"  p{i} -> p{i + 1} [style=invis];" for i in range(len(processes) - 1)]  # in the order given, top down
    dot.append("}")
    return Diagram("\n".join(dot), "\n".join(text), title)


__all__ = ["capability_sets"]
