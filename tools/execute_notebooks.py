"""Execute notebooks with the lab kernel, as a learner would, cell by cell.

    python tools/execute_notebooks.py --inplace notebooks/*.ipynb   # make notebooks: store real outputs
    python tools/execute_notebooks.py notebooks/*.ipynb             # only check they run to the end
    python tools/execute_notebooks.py --inplace --done LIST ...     # make notebooks-vm: LIST names those written

Each notebook runs in its own directory with the ``labcore`` kernel. Any
cell that raises stops that notebook and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

KERNEL = "labcore"
CONTEXT = 12   # lines of a failing cell's traceback shown under its FAIL line
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def execute(path: Path, inplace: bool, timeout: int) -> str | None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        # Which cell, what it raised, and the end of its traceback: enough to act on from a console
        # log (make notebooks-vm shows only the VM's serial console).
        where = next((f"cell {i + 1}" for i, cell in enumerate(nb.cells) if cell.get("cell_type") == "code"
                      and any(o.get("output_type") == "error" for o in cell.get("outputs", []))), "a cell")
        tail = [line for line in _ANSI.sub("", str(exc)).rstrip().splitlines() if line.strip()][-CONTEXT:]
        return f"{where}: {exc.ename}: {exc.evalue}".rstrip(": ") + "".join(f"\n    | {line}" for line in tail)
    if inplace:
        nbformat.write(nb, path)
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--inplace", action="store_true", help="write the outputs back into the notebooks")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell (default %(default)s)")
    ap.add_argument("--done", type=Path, help="append the path of each notebook that ran to the end to this "
                                              "file, one a line, as given (the test VM copies those back)")
    args = ap.parse_args(argv)
    if not os.environ.get("LABCORE_PROGRESS"):
        # Displaying a quiz draws the learner's shuffle seed into their progress file: a maintainer's
        # run writes a scratch one instead (the kernel inherits this environment).
        scratch = tempfile.mkdtemp(prefix="lab-progress-")
        os.environ["LABCORE_PROGRESS"] = os.path.join(scratch, "progress.json")
        try:
            return _run(args)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return _run(args)


def _run(args) -> int:
    failed = 0
    for path in args.notebooks:
        start = time.monotonic()
        error = execute(path, args.inplace, args.timeout)
        took = time.monotonic() - start
        if error:
            failed += 1
            print(f"FAIL {path} ({took:.1f} s): {error}", flush=True)
        else:
            print(f"ok   {path} ({took:.1f} s)", flush=True)
            if args.done:
                with open(args.done, "a") as done:
                    done.write(f"{path}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
