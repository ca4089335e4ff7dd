"""The lab's Jupyter kernel: a kernelspec named ``labcore``.

It is ordinary ipykernel, started with ``--ext labcore.ipython`` so every
notebook gets the lab's extension (short notices for ``LabError``) from its
first cell. In the course VM, Jupyter runs as the unprivileged ``vagrant``
user while the demos need root: ``sudo=True`` starts the kernel through
sudo(8), with a small explicit environment (``env -i``): nothing of the
learner's (``HOME``, ``JUPYTER_TOKEN``...) reaches root or the containers.
``sudoers()`` writes the one rule that allows exactly that command, the
connection file being the only argument that varies.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "labcore"
DISPLAY_NAME = "Docker Internals Lab"
ENV = "/usr/bin/env"
#: What the root kernel's IPython and matplotlib keep (course-vm.sh makes it, mode 0700).
ROOT_STATE = "/var/lib/labcore"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The connection file jupyter_client hands the kernel: an absolute path, no spaces.
CONNECTION_FILE_RE = r"/[A-Za-z0-9/._-]+\.json"
_SAFE_PATH = re.compile(r"/[A-Za-z0-9/._+-]+")


def root_environment(python: str = sys.executable) -> list[str]:
    """The whole environment of the root kernel, as ``NAME=value`` words for env(1)."""
    return [f"PATH={os.path.dirname(python)}:{SYSTEM_PATH}", "HOME=/root", "LANG=C.UTF-8",
            f"IPYTHONDIR={ROOT_STATE}/ipython", f"MPLCONFIGDIR={ROOT_STATE}/matplotlib"]


def kernelspec(sudo: bool = False, python: str = sys.executable) -> dict:
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--ext", "labcore.ipython"]
    if sudo:
        argv = ["sudo", "--non-interactive", ENV, "-i", *root_environment(python)] + argv
    return {"argv": argv, "display_name": DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": False}}


def _ere(text: str) -> str:
    """``text`` as a POSIX extended regular expression matching only itself."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def sudoers_arguments(python: str = sys.executable) -> str:
    """The rule's arguments: a regular expression (sudo 1.9.10+) for the kernel command after env.

    sudo matches the arguments as one string joined by spaces; the connection
    file's pattern has no space, so no further argument can slip in.
    """
    spec = kernelspec(sudo=True, python=python)["argv"]
    words = spec[spec.index(ENV) + 1:]
    return "^" + " ".join(CONNECTION_FILE_RE if w == "{connection_file}" else _ere(w) for w in words) + "$"


def sudoers(user: str, python: str = sys.executable) -> str:
    """The text of /etc/sudoers.d/labcore: ``user`` may start the lab kernel as root, and nothing else."""
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", user):
        raise ValueError(f"not a user name for sudoers: {user!r}")
    if not _SAFE_PATH.fullmatch(python):
        raise ValueError(f"the kernel's Python must be an absolute path of plain characters: {python!r}")
    return ("# Written by provision/course-vm.sh (labcore.teach.jupyter.sudoers): the lab kernel,\n"
            "# started by JupyterLab through sudo, with only the environment in the rule.\n"
            f"{user} ALL=(root) NOPASSWD: {ENV} {sudoers_arguments(python)}\n")


def install_kernel(user: bool = False, prefix: str | None = None, sudo: bool = False) -> str:
    """Install the kernelspec (default: into this Python's prefix, so the venv's Jupyter sees it)."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the copy keeps these modes: every user's Jupyter must read it
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernelspec(sudo), indent=1))
        return KernelSpecManager().install_kernel_spec(
            tmp, KERNEL_NAME, user=user, prefix=None if user else (prefix or sys.prefix))
