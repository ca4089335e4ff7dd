"""A tiny root filesystem from a static busybox: the lab's "base image".

An image's first layer is usually a distribution's userland (Debian's is
about 30 MB compressed). A statically linked ``busybox`` is one 2 MB
program that acts as ``sh``, ``ls``, ``cat``... depending on the name it is
called by, so a directory with ``bin/busybox`` and one symlink per applet is
a complete, runnable userland: enough for RUN steps and containers. Debian's
``busybox-static`` package provides it (provision/ installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import CommandNotFoundError, InvalidInputError

BUSYBOX = "/bin/busybox"
DIRS = ("bin", "dev", "etc", "proc", "root", "tmp", "var")


def find_busybox() -> str:
    """The static busybox on this machine, or a CommandNotFoundError saying how to get it."""
    for path in (BUSYBOX, "/usr/bin/busybox", shutil.which("busybox") or ""):
        if path and os.path.isfile(path):
            with open(path, "rb") as f:
                if b"/lib64/ld-linux" not in f.read(4096):  # a dynamic one needs libc inside the rootfs
                    return path
    raise CommandNotFoundError("no static busybox found", "apt-get install busybox-static (provision/ does)")


def busybox_rootfs(dest: str | os.PathLike, applets: list[str] | None = None) -> Path:
    """Write a minimal rootfs into the empty directory ``dest``; returns it. Used by 06, 11, B.

    ``bin/busybox`` plus a symlink per applet (all of them unless
    ``applets`` names some), an ``/etc/passwd`` with root, and the empty
    directories a container expects (``/proc`` and ``/dev`` are mounted over).
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInputError(f"{dest} is not empty", "give an empty or new directory")
    busybox = find_busybox()
    for d in DIRS:
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    if applets is None:
        listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
        applets = [a for a in listed.split() if a != "busybox"]
    for name in sorted(set(applets)):
        os.symlink("busybox", dest / "bin" / name)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    return dest


__all__ = ["busybox_rootfs", "find_busybox", "BUSYBOX"]
