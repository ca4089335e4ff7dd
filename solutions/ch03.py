"""Chapter 03's solutions."""

import os
import stat
from pathlib import Path

from labcore.course.ch03 import rmdir_with_a_process


def _unescape(text):
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040...)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def upper_dir(pid):
    """The writable layer of the overlay mounted as the process's /, from its own mount table."""
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            fstype, _source, options = line.split(" - ")[1].split()[:3]
            if fstype == "overlay":
                for option in options.split(","):
                    if option.startswith("upperdir="):
                        return Path(_unescape(option.split("=", 1)[1]))
    return None


def changed(pid):
    """Regular files the container created or modified: what its overlay's upper directory holds."""
    upper = upper_dir(pid)
    found = set()
    for directory, _dirs, files in os.walk(upper):
        for name in files:
            path = Path(directory, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found.add("/" + str(path.relative_to(upper)))
    return found


def _whole_root(pid):
    """A typical mistake: every file under the container's /, the image's included."""
    root = f"/proc/{pid}/root"
    found = set()
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (directory == root and d in ("proc", "sys", "dev"))]
        found.update("/" + os.path.relpath(os.path.join(directory, f), root) for f in files)
    return found


def _new_names_only(pid):
    return {p for p in changed(pid) if not p.startswith("/etc/")}


def _without_slash(pid):
    return {p.lstrip("/") for p in changed(pid)}


def _truth(ex):
    if ex.truth is None:
        ex.truth = rmdir_with_a_process()
    return ex.truth


SOLUTIONS = {
    "rmdir-busy": _truth,
    "container-diff": lambda ex: changed,
}

WRONG = {
    "rmdir-busy": lambda ex: ["succeeds", "EPERM", "ENOTEMPTY", "maybe"],
    "container-diff": lambda ex: [_whole_root, _new_names_only, _without_slash, lambda pid: None],
}
