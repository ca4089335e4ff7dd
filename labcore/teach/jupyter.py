"""The lab's Jupyter kernel: a kernelspec named ``labcore``.

It is ordinary ipykernel, started with ``--ext labcore.ipython`` so every
notebook gets the lab's extension (short notices for ``LabError``) from its
first cell. In the course VM, Jupyter runs as the unprivileged ``vagrant``
user while the demos need root: ``sudo=True`` starts the kernel through
sudo(8), with a small explicit environment (``env -i``): nothing of the
learner's (``HOME``, ``JUPYTER_TOKEN``...) reaches root or the containers.
``sudoers()`` writes the one rule that allows exactly that command, the
connection file being the only argument that varies.

That environment names one thing of the learner's on purpose: where their
progress is kept, ``LABCORE_PROGRESS`` (``progress_file()``), in the learner's
own home (``learner_home``, by default the home of the user who installs the
kernelspec, through sudo or not), so a root kernel records it where the
learner's next session finds it, not in /root.
"""

from __future__ import annotations

import json
import os
import pwd
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
#: The learner's progress, under their home (the XDG data directory's place).
PROGRESS = ".local/share/docker-internals-lab/progress.json"


def invoking_home() -> str:
    """The home of the user installing the kernelspec: the one behind sudo when root runs through sudo."""
    user = os.environ.get("SUDO_USER", "") if os.geteuid() == 0 else ""
    if user and user != "root":
        try:
            return pwd.getpwnam(user).pw_dir
        except KeyError:
            pass  # a SUDO_USER this system does not know: fall back to our own uid's home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.path.expanduser("~")


def progress_file(learner_home: str | None = None) -> str:
    """Where the learner's progress is kept: ``<learner home>/.local/share/docker-internals-lab/progress.json``."""
    home = learner_home or invoking_home()
    if not os.path.isabs(home):
        raise ValueError(f"the learner's home must be an absolute path: {home!r}")
    return f"{home.rstrip('/')}/{PROGRESS}"


def root_environment(python: str = sys.executable, learner_home: str | None = None) -> list[str]:
    """The whole environment of the root kernel, as ``NAME=value`` words for env(1)."""
    return [f"PATH={os.path.dirname(python)}:{SYSTEM_PATH}", "HOME=/root", "LANG=C.UTF-8",
            f"IPYTHONDIR={ROOT_STATE}/ipython", f"MPLCONFIGDIR={ROOT_STATE}/matplotlib",
            f"LABCORE_PROGRESS={progress_file(learner_home)}"]


def kernelspec(sudo: bool = False, python: str = sys.executable, learner_home: str | None = None) -> dict:
    """The kernel.json; with ``sudo``, started as root with ``root_environment()`` (``learner_home``: see there)."""
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--ext", "labcore.ipython"]
    if sudo:
        argv = ["sudo", "--non-interactive", ENV, "-i", *root_environment(python, learner_home)] + argv
    return {"argv": argv, "display_name": DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": False}}


def _ere(text: str) -> str:
    """``text`` as a POSIX extended regular expression matching only itself."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def sudoers_arguments(python: str = sys.executable, learner_home: str | None = None) -> str:
    """The rule's arguments: a regular expression (sudo 1.9.10+) for the kernel command after env.

    sudo matches the arguments as one string joined by spaces; the connection
    file's pattern has no space, so no further argument can slip in.
    """
    spec = kernelspec(sudo=True, python=python, learner_home=learner_home)["argv"]
    words = spec[spec.index(ENV) + 1:]
    return "^" + " ".join(CONNECTION_FILE_RE if w == "{connection_file}" else _ere(w) for w in words) + "$"


def sudoers(user: str, python: str = sys.executable, learner_home: str | None = None) -> str:
    """The text of /etc/sudoers.d/labcore: ``user`` may start the lab kernel as root, and nothing else.

    ``learner_home`` must be the one the kernelspec was installed with: the rule names the whole environment.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", user):
        raise ValueError(f"not a user name for sudoers: {user!r}")
    if not _SAFE_PATH.fullmatch(python):
        raise ValueError(f"the kernel's Python must be an absolute path of plain characters: {python!r}")
    if not _SAFE_PATH.fullmatch(progress_file(learner_home)):
        raise ValueError(f"the learner's home must be an absolute path of plain characters: {learner_home!r}")
    return ("# Written by provision/course-vm.sh (labcore.teach.jupyter.sudoers): the lab kernel,\n"
            "# started by JupyterLab through sudo, with only the environment in the rule.\n"
            f"{user} ALL=(root) NOPASSWD: {ENV} {sudoers_arguments(python, learner_home)}\n")


def install_kernel(user: bool = False, prefix: str | None = None, sudo: bool = False,
                   learner_home: str | None = None) -> str:
    """Install the kernelspec (default: into this Python's prefix, so the venv's Jupyter sees it).

    With ``sudo``, ``learner_home`` (default: the invoking user's, see ``invoking_home()``) is where
    the root kernel keeps the learner's progress; ``sudoers()`` must be given the same.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the copy keeps these modes: every user's Jupyter must read it
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernelspec(sudo, learner_home=learner_home), indent=1))
        return KernelSpecManager().install_kernel_spec(
            tmp, KERNEL_NAME, user=user, prefix=None if user else (prefix or sys.prefix))
