"""``python -m labcore`` is the ``labcore`` command."""

import sys

from .cli import main

# The container stack's short-lived processes (each runtime verb, each shim) end without the
# interpreter's teardown: their parent waits for their exit, and freeing a few hundred modules one
# by one (what the kernel does at once when the process ends) took about as long as `start` works.
# atexit handlers (the tracker's) still run and stdio is flushed, as at any exit.
FAST_EXIT = ("runtime", "shim")

status = main()
if next((word for word in sys.argv[1:] if not word.startswith("-")), None) in FAST_EXIT:
    import atexit
    import os
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status & 0xFF if isinstance(status, int) else 1)
sys.exit(status)
