"""``python -m labcore`` is the ``labcore`` command. The container stack runs this file by its path,
with ``python -I -S`` (labcore/launch.py says why): it then finds labcore (one directory up) and the
interpreter's site-packages itself.
"""

import os
import sys

if not __package__:  # run by its path, not with -m
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # -S also skips finding the venv (site does that), so its packages (pyseccomp, pyroute2) are looked up here
    venv = os.path.join(os.path.dirname(os.path.dirname(sys.executable)), "lib", "python%d.%d" % sys.version_info[:2],
                        "site-packages")
    import site  # with -S, importing site only defines its functions
    for directory in [venv] if os.path.isdir(venv) else site.getsitepackages():  # else: a system Python's own
        site.addsitedir(directory)  # with its .pth files, as site would have read them

from labcore.cli import main  # noqa: E402 (after the path is set)

# The container stack's short-lived processes (each runtime verb, each shim) end without the
# interpreter's teardown: their parent waits for their exit, and freeing a few hundred modules one
# by one (what the kernel does at once when the process ends) took about as long as `start` works.
# atexit handlers (the tracker's) still run and stdio is flushed, as at any exit.
FAST_EXIT = ("runtime", "shim")

status = main()
if next((word for word in sys.argv[1:] if not word.startswith("-")), None) in FAST_EXIT:
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status & 0xFF if isinstance(status, int) else 1)
sys.exit(status)
