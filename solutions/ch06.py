"""Chapter 06's solutions."""

import os
import stat
from pathlib import Path


def hide(upper):
    """Hide etc/issue of the layers below: a 0/0 character device under the same name (mknod needs root)."""
    etc = Path(upper) / "etc"
    etc.mkdir(exist_ok=True)
    os.mknod(etc / "issue", stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _tar_spelling(upper):
    """The OCI tar's name for a deletion, which overlay reads as an ordinary file."""
    (Path(upper) / "etc").mkdir(exist_ok=True)
    (Path(upper) / "etc" / ".wh.issue").write_text("")


def _empty_file(upper):
    (Path(upper) / "etc").mkdir(exist_ok=True)
    (Path(upper) / "etc" / "issue").write_text("")


def _opaque_etc(upper):
    """Hides etc/issue, and every other name of etc with it."""
    (Path(upper) / "etc").mkdir(exist_ok=True)
    os.setxattr(Path(upper) / "etc", "trusted.overlay.opaque", b"y")


def _delete_in_the_image(ex):
    return lambda upper: os.unlink(ex.lower / "etc" / "issue")


SOLUTIONS = {
    "deleted-read": lambda ex: "none",
    "hand-whiteout": lambda ex: hide,
}

WRONG = {
    "deleted-read": lambda ex: ["layer 1", "layer 2", "upper"],
    "hand-whiteout": lambda ex: [_tar_spelling, _empty_file, _opaque_etc, _delete_in_the_image(ex)],
}
