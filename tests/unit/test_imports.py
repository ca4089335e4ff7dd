"""labcore's import graph: no cycles, and only labcore/kernel/ touches ctypes.

Every module under labcore/ is parsed with ``ast`` (nothing is imported), and
every import of a labcore module is collected, including the ones inside
functions: a function-level import that closes a cycle only hides it until
the function runs. Each import points at the most precise module it names:

* ``import labcore.ns.process`` and ``from labcore.ns import process`` (a
  submodule) both point at labcore.ns.process;
* ``from labcore.ns import spawn`` (a name) and ``from .. import doctor`` (a
  package) point at the package's __init__.

Importing a submodule also runs its parent packages' __init__ first; that
implicit step is not an edge here (otherwise every package whose __init__
re-exports a submodule would be a cycle with it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "labcore"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(known: dict[str, Path], name: str) -> str | None:
    """The longest prefix of dotted ``name`` that is a labcore module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The labcore modules that module ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[:-(node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from PKG import x``: x is the submodule PKG.x if there is one, else a name of PKG.
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "labcore" or target.startswith("labcore."):
                resolved = _resolve(known, target)
                if resolved and resolved != name:
                    found.add(resolved)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(edges, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if colour.get(nxt, BLACK) == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(edges):
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def all_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of modules that import each other (Tarjan), for the message."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return groups


def test_the_graph_sees_function_level_and_relative_imports():
    edges = graph()
    assert "labcore.proc.stat" in edges["labcore.tracker"]        # from ..proc.stat import ...
    assert "labcore.proc.mountinfo" in edges["labcore.tracker.paths"]  # from ..proc import mountinfo
    assert "labcore.teach.jupyter" in edges["labcore.cli"]        # inside cmd_install_kernel


def test_find_cycle_reports_the_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    edges = graph()
    cycle = find_cycle(edges)
    if cycle:
        groups = "\n".join("  " + ", ".join(g) for g in all_cycles(edges))
        pytest.fail("import cycle: " + " -> ".join(cycle) + "\nmodules that import each other:\n" + groups)


def test_only_the_kernel_package_imports_ctypes():
    offenders = []
    for name, path in modules().items():
        if name == "labcore.kernel" or name.startswith("labcore.kernel."):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n == "ctypes" or n.startswith("ctypes.") for n in names):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, "only labcore/kernel/ may use ctypes (CONTRIBUTING.md): " + ", ".join(offenders)


def test_the_command_line_loads_only_what_its_subcommand_uses():
    # `labcore --help` and `--version` (started once per container by a runtime) load argparse and
    # the table of namespace kinds; doctor, ns, cgroups, images and the kernel wait for their subcommand.
    probe = ("import sys, contextlib, io, labcore.cli\n"
             "for argv in (['--help'], ['--version']):\n"
             "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
             "        labcore.cli.main(argv)\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'labcore')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["labcore", "labcore.cli", "labcore.errors", "labcore.proc", "labcore.proc.ns"]


def test_version():
    import labcore
    done = subprocess.run([sys.executable, "-m", "labcore", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == f"labcore {labcore.__version__}\n" == "labcore 0.1.0\n"


def test_only_the_plots_need_an_extra_to_be_imported():
    # `import labcore` needs its dependencies only (pyproject.toml); Jupyter, widgets and matplotlib
    # are the "lab" extra, imported where a notebook uses them (the plots module, inside functions).
    extras = {"jupyterlab", "jupyter_client", "ipywidgets", "IPython", "ipykernel", "matplotlib", "nbclient",
              "nbval", "pytest"}
    offenders = []
    for name, path in modules().items():
        for node in ast.parse(path.read_text(), str(path)).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n.split(".")[0] in extras for n in names) and name != "labcore.teach.plots":
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, "imports an optional dependency at module level: " + ", ".join(offenders)
