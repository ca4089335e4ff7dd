"""The lab kernel's IPython extension.

Loaded at kernel start (the kernelspec passes ``--ext labcore.ipython``),
or by hand with ``%load_ext labcore.ipython``. A ``LabError`` is an
expected situation (no root here, a bad value, a missing tool): the
learner sees a short notice saying what happened and how to fix it,
instead of a traceback through the library. Any other exception keeps its
full traceback, because that one is a bug worth reading.

It also undoes, when the kernel is shut down or restarted, whatever this
kernel created and did not undo itself (a container left running by a cell
that failed half-way). Jupyter kills a kernel that is slow to exit, so
Python's own ``atexit`` cannot be relied on for that.
"""

from __future__ import annotations

from . import tracker
from .errors import LabError


def _show_lab_error(shell, etype, value, tb, tb_offset=None):
    notice = value.notice().splitlines()
    # The returned lines become the cell's error output (ename/evalue kept), without the stack.
    shell._showtraceback(etype, value, [f"\x1b[1;31m{notice[0]}\x1b[0m", *notice[1:]])
    return None


def _undo_at_shutdown(kernel) -> None:
    original = kernel.do_shutdown

    def do_shutdown(restart):
        tracker.default().undo_owned()
        return original(restart)

    kernel.do_shutdown = do_shutdown


def load_ipython_extension(ipython) -> None:
    ipython.set_custom_exc((LabError,), _show_lab_error)
    kernel = getattr(ipython, "kernel", None)  # None in a terminal IPython: atexit does the job there
    if kernel is not None and not getattr(kernel, "_labcore_undo", False):
        _undo_at_shutdown(kernel)
        kernel._labcore_undo = True


def unload_ipython_extension(ipython) -> None:
    ipython.set_custom_exc((), None)
