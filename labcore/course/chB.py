"""Deep dive B, overlayfs internals: its quiz and exercises."""

from __future__ import annotations

import os

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("B", "overlayfs internals", [
    Choice("why-0-0", "Why is a whiteout a character device numbered 0/0, rather than some marker file?",
           right="no real file is one, it takes no data blocks, and a rename can leave it atomically",
           wrong=["device 0/0 is the kernel's null device, so reading a whiteout always returns zero bytes",
                  "only a device file can carry the trusted.overlay xattrs that overlay reads",
                  "a device file cannot be deleted by a process inside a container"],
           why="Section 1: renameat2(RENAME_WHITEOUT) leaves exactly this device at the old name in one step; "
               "lookups of it answer ENOENT."),
    Choice("crash", "The machine loses power in the middle of copying up a 2 GB file. What is in the upper dir "
                    "after the reboot?",
           right="no entry for the file, or its complete copy: the name appears only once the copy is whole",
           wrong=["a truncated copy under the file's own name, which hides the good file in the layer below it",
                  "a copy with a .partial suffix that overlay finishes at the next mount of the layer",
                  "a whiteout: overlay marks the name deleted until the copy-up can be retried"],
           why="Section 3: the data was written in workdir/work under a temporary name before the file "
               "appeared in the upper dir."),
    Choice("mv-dir", "With redirect_dir off, a container runs `mv /var/lib/big /var/lib/big2` on a directory "
                     "of its image. What happens?",
           right="rename(2) fails with EXDEV, and mv falls back to copying the whole tree and deleting it",
           wrong=["overlay renames the directory in place, inside the lower layer that holds it, in one atomic step",
                  "the rename is instant: overlay stores the new name in the directory's xattrs",
                  "mv fails with EROFS, since the directory belongs to a read-only layer"],
           why="Section 5: EXDEV, then shutil.move copied a, b and c into upper/data2."),
    Choice("ino", "A file of the image is copied up. What inode number does stat() report for it through the "
                  "overlay afterwards?",
           right="the lower file's, which the copy remembers in trusted.overlay.origin",
           wrong=["the new inode's in the upper dir, since that is the file being read now",
                  "a number overlay derives from the file's path, the same in every container",
                  "the merged directory's own inode plus the file's position in the listing"],
           why="Section 4: st_ino stayed the lower file's after the copy-up."),
    Choice("opaque-scope", "In the middle layer of three, /srv carries trusted.overlay.opaque=y. Which /srv "
                           "entries does the merged view show?",
           right="the middle layer's and the top layer's, none from the bottom layer",
           wrong=["only the middle layer's: the mark hides the layers above it and below it",
                  "all three layers' entries: opaque marks count only in the upper dir",
                  "only the top layer's: an opaque directory is treated as deleted by the layers above"],
           why="Section 2: the stack showed c and d, while a and b of the bottom layer stayed hidden."),
    Recall("copy-up-steps", "Walk an interviewer through a copy-up, from the open(2) to the file appearing in the "
                            "upper dir. Why the workdir?",
           model="The open for writing finds the file in a lower layer. Overlay makes sure the parent "
                 "directories exist in the upper dir (copying them up first), then creates the copy in the "
                 "workdir: an O_TMPFILE or a temporary name, data, owner, mode, times, xattrs "
                 "(trusted.overlay.origin). Only when it is complete does it link or rename it into the upper "
                 "dir, atomically, which is why the workdir must be on the upper dir's filesystem. A crash "
                 "leaves the old view or the new one, never a half file.",
           demo="section 3"),
    Recall("redirect", "Why does a storage driver that turns an upper dir into a tar layer care about "
                       "redirect_dir?",
           model="With redirect_dir=on a renamed directory of the image is an empty directory in the upper dir "
                 "carrying trusted.overlay.redirect, the old path; its content is still in the lower layers. A "
                 "tar has no way to say 'this directory is that one, renamed', so a layer made from the upper "
                 "dir as it stands would lose the content. Docker checks for it at start and then builds layers "
                 "by comparing whole trees instead (native diff off).",
           demo="section 5"),
])


class OpaqueHides(Exercise):
    id = "opaque-hides"
    chapter = "B"
    kind = "predict"
    title = "predict what an opaque directory hides"
    task = """Three read-only layers, from the bottom up:
  bottom: srv/a, srv/b
  middle: srv/c, and its srv directory carries trusted.overlay.opaque=y
  top:    srv/d (its srv is a plain directory)
mounted as one overlay. Which names does `ls /srv` show in the merged view? Answer with a set of names,
such as {"a", "d"}. The checker builds the three layers, mounts them and lists /srv."""
    hint = "an opaque mark belongs to one layer: ask what it says about the layers below it, and above it"

    def verify(self, answer):
        from ..fs import Scratch, mount
        from ..fs.overlay import mark_opaque
        if isinstance(answer, str) or not hasattr(answer, "__iter__"):
            return f"give a set of names, such as {{'a', 'd'}}, not {answer!r}"
        given = {str(n).strip().strip("/").removeprefix("srv/") for n in answer}
        with Scratch("exB-opaque") as s:
            layers = {}
            for layer, names in (("bottom", "ab"), ("middle", "c"), ("top", "d")):
                srv = s.dir(layer, "srv")
                for name in names:
                    (srv / name).write_text(f"{name} from the {layer} layer\n")
                layers[layer] = s.path / layer
            mark_opaque(layers["middle"] / "srv")
            with mount([layers["top"], layers["middle"], layers["bottom"]], s.dir("merged")) as ov:
                truth = set(os.listdir(ov.merged / "srv"))
        if given == truth:
            return None
        if given == {"d"}:
            return "the opaque mark is in the middle layer: it cannot speak for a layer stacked above it"
        if {"a", "b"} <= given:
            return "the middle layer's srv is marked opaque: what does that say about the layers below it?"
        if "d" not in given:
            return "the top layer's srv is a plain directory: its entries merge with what shows below it"
        if "c" not in given:
            return "the opaque directory hides what is below it, not its own entries"
        return f"{sorted(given)} is not what the kernel lists: walk the layers from the top, stopping where told"


class TwoLowers(Exercise):
    id = "two-lowers"
    chapter = "B"
    kind = "build"
    title = "mount an image of two layers under a writable layer"
    task = """`ex.base` and `ex.app` are two extracted layers of one image, app built on top of base: both
hold etc/motd, and the app layer's must win. Write `stack(ex)` that mounts them, with labcore's
`fs.mount`, as a container's root at `ex.merged`: the two layers read-only, `ex.upper` as the writable
layer, `ex.work` as overlay's work dir. Return what fs.mount returns. The checker calls it, reads the
kernel's mountinfo line, reads /etc/motd, writes a file, and looks where it landed."""
    hint = "fs.mount(lower, merged, upper, work): in what order does overlay want the lower layers?"

    def setup(self):
        from ..fs import Scratch
        self.scratch = Scratch("exB-two")
        self.base, self.app = self.scratch.dir("base", "etc"), self.scratch.dir("app", "etc")
        (self.base / "motd").write_text("from base\n")
        (self.base / "hostname").write_text("base\n")
        (self.app / "motd").write_text("from app\n")
        self.base, self.app = self.base.parent, self.app.parent
        self.merged = self.scratch.dir("merged")
        self._fresh()

    def _fresh(self):
        import shutil
        for name in ("upper", "work"):
            shutil.rmtree(self.scratch.path / name, ignore_errors=True)
        self.upper, self.work = self.scratch.dir("upper"), self.scratch.dir("work")

    def verify(self, answer):
        from ..proc import mountinfo
        from ..teach.diagrams.overlays import layers
        if not callable(answer):
            return "pass your function itself (stack, without parentheses)"
        self._fresh()
        made = answer(self)
        try:
            mount = mountinfo.find(str(self.merged))
            if mount is None or mount.fstype != "overlay":
                return "nothing of type overlay is mounted at ex.merged"
            lay = layers(mount)
            if sorted(lay.lower) != sorted([str(self.app), str(self.base)]):
                return "the lower layers should be exactly ex.app and ex.base"
            if lay.upper is None:
                return "the overlay is read-only: a container needs a writable layer on top"
            if (self.merged / "etc" / "motd").read_text() != "from app\n":
                return "/etc/motd shows the base layer's: which layer does overlay look at first?"
            if lay.upper != str(self.upper) or lay.work != str(self.work):
                return "the writable layer is not ex.upper (with ex.work as work dir)"
            (self.merged / "etc" / "note").write_text("written in the container\n")
            if not (self.upper / "etc" / "note").is_file() or os.path.lexists(self.app / "etc" / "note"):
                return "a file written in the merged tree did not land in ex.upper"
            if getattr(made, "unmount", None) is None:
                return "it is mounted right: now return the Overlay that fs.mount gives you"
            return None
        finally:
            if getattr(made, "unmount", None) is not None:
                made.unmount()

    def close(self):
        self.scratch.remove()


EXERCISES = [OpaqueHides, TwoLowers]

__all__ = ["QUIZ", "EXERCISES", "OpaqueHides", "TwoLowers"]
