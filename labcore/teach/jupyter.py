"""The lab's Jupyter kernel: a kernelspec named ``labcore``.

It is ordinary ipykernel, started with ``--ext labcore.ipython`` so every
notebook gets the lab's extension (short notices for ``LabError``) from its
first cell. In the course VM, Jupyter runs as the unprivileged ``vagrant``
user while the demos need root: ``sudo=True`` starts the kernel through
``sudo -E`` (the VM's sudoers allows it without a password).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "labcore"
DISPLAY_NAME = "Docker Internals Lab"


def kernelspec(sudo: bool = False) -> dict:
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--ext", "labcore.ipython"]
    if sudo:
        argv = ["sudo", "-E", "--non-interactive"] + argv
    return {"argv": argv, "display_name": DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": False}}


def install_kernel(user: bool = False, prefix: str | None = None, sudo: bool = False) -> str:
    """Install the kernelspec (default: into this Python's prefix, so the venv's Jupyter sees it)."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the copy keeps these modes: every user's Jupyter must read it
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernelspec(sudo), indent=1))
        return KernelSpecManager().install_kernel_spec(
            tmp, KERNEL_NAME, user=user, prefix=None if user else (prefix or sys.prefix))
