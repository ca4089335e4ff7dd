"""Chapter 06, Union filesystems and images: its quiz and exercises."""

from __future__ import annotations

import os
import shutil

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("06", "Union filesystems and images", [
    Choice("cache-chain", "Why does editing a line early in a Dockerfile rebuild every step after it, even steps "
                          "whose own lines did not change?",
           right="each step's cache key includes the previous step's key, so one change alters all later keys",
           wrong=["the builder compares the Dockerfile's modification time and drops the cache when it is newer",
                  "layers are stored as deltas of the previous layer, so a changed base makes them unreadable",
                  "the builder keys each step by line number, and an edit shifts the numbers of the lines below"],
           why="Section 4: steps 5 and 7 were rebuilt although their lines and files were the same; the keys "
               "of steps 4 to 8 all changed."),
    Choice("append-1gb", "A container appends one byte to a 1 GB file that came with its image. What does its "
                         "upper dir hold for that file afterwards?",
           right="a full copy of the file with the byte at its end",
           wrong=["a one-byte delta that overlay applies over the lower file on each read",
                  "nothing: appends are written through to the layer that holds the file",
                  "a small file recording the offset and the new byte, merged at commit time"],
           why="Section 3: the upper dir was empty after a read and held the whole /etc/passwd after one write "
               "(copy-up copies whole files)."),
    Choice("delete-both", "/etc/motd is in both layers of an image. A container deletes it. What does a later "
                          "read of /etc/motd in that container return?",
           right="no such file: the whiteout in the upper dir hides the name in every layer below",
           wrong=["the bottom layer's copy, since only the topmost copy was removed",
                  "the top layer's copy, since lower layers are read-only and cannot lose files",
                  "an empty file: overlay truncates the name in the upper dir instead of removing it"],
           why="Section 3: after rm /etc/motd, cat said 'No such file'; the upper dir held a 0/0 character "
               "device named motd."),
    Choice("ids", "An image's config lists sha256:aaa… under rootfs.diff_ids, its manifest lists sha256:bbb… for "
                  "the same layer. What do the two name?",
           right="aaa is the hash of the uncompressed tar, bbb of the compressed blob the registry serves",
           wrong=["aaa is the hash of the layer's files on disk, bbb of the tar the builder wrote for them",
                  "aaa is the layer's own hash, bbb a hash of the layer stacked on all the layers below it",
                  "aaa is the hash a registry signs on upload, bbb the one a client computes on download"],
           why="Section 1 recomputed both with hashlib: sha256 of the tar, and of the gzip blob holding it."),
    Choice("opaque", "A container runs `rm -rf /app && mkdir /app`; the image had files in /app. Why do those "
                     "files not reappear in the new /app?",
           right="the new /app in the upper dir carries the xattr trusted.overlay.opaque=y",
           wrong=["overlay writes one whiteout per old file into the new /app of the upper dir",
                  "mkdir in an overlay always makes a directory that hides the lower layers' copies",
                  "the runtime deletes /app from the lower layers when the container removes it"],
           why="Section 3: upper/app had trusted.overlay.opaque = y, and the committed layer held app/.wh..wh..opq."),
    Choice("rm-container", "What happens to an image's layers on disk when one of its containers is removed?",
           right="nothing: the container's upper and work dirs are deleted, the layers are left untouched",
           wrong=["they are deleted once no other container of that image is left on the host, running or stopped",
                  "the changes the container made are rolled back out of each of them",
                  "they are compacted into one layer, since the container no longer needs the split"],
           why="Section 3: after unmount the upper dir was gone and every layer hashed as before."),
    Recall("deterministic", "Two builds of the same Dockerfile on two machines give layers with the same "
                            "diff_id but different digests. How is that possible, and why does it matter?",
           model="The diff_id hashes the uncompressed tar, the digest the compressed blob. Same tar, different "
                 "compressed bytes: a gzip header with a time or a name in it, or another compression level or "
                 "library. Each digest still names its bytes exactly, but the two blobs are stored and "
                 "downloaded twice, and the builds are not reproducible: nobody can rebuild and compare.",
           demo="section 1"),
    Recall("walk", "Explain to an interviewer what the kernel does when a container opens /etc/passwd for "
                   "writing, where /etc/passwd is a file of its image.",
           model="overlayfs looks the name up from the top: the upper dir first, then each lower dir in order. "
                 "It is found in a lower layer, so before the open returns overlay copies the whole file (data, "
                 "owner, mode, times, xattrs) into the upper dir, preparing it in the workdir and moving it in "
                 "at once. The write then goes to the copy; the layer's file is never changed.",
           demo="section 3"),
])


def _two_layer_image(scratch):
    """Two layer directories that both hold etc/motd, as in the chapter's image v2."""
    base, top = scratch.dir("layer1"), scratch.dir("layer2")
    for layer, text in ((base, "welcome to v1\n"), (top, "welcome to v2\n")):
        (layer / "etc").mkdir()
        (layer / "etc" / "motd").write_text(text)
    return base, top


ANSWERS = {"upper": "upper", "upper dir": "upper", "layer 2": "layer 2", "layer2": "layer 2", "top": "layer 2",
           "layer 1": "layer 1", "layer1": "layer 1", "base": "layer 1", "none": "none", "nothing": "none"}


class DeletedRead(Exercise):
    id = "deleted-read"
    chapter = "06"
    kind = "predict"
    title = "predict which layer answers a read after a delete"
    task = """Image v2 has /etc/motd in both of its layers: layer 1 (the bottom) says "welcome to v1",
layer 2 (above it) says "welcome to v2". A container of v2 runs `rm /etc/motd`, then `cat /etc/motd`.
Which layer does the read come from? Answer with one of "upper", "layer 2", "layer 1", or "none" (the
read fails). The checker mounts such an image, deletes the file in a container layer, and reads."""
    hint = "think about what overlay can write, and where: the layers are read-only"

    def verify(self, answer):
        from ..fs import Scratch, container_layer
        given = ANSWERS.get(str(answer).strip().lower())
        if given is None:
            return f"{answer!r} is not one of 'upper', 'layer 2', 'layer 1', 'none'"
        with Scratch("ex06-read") as scratch:
            base, top = _two_layer_image(scratch)
            with container_layer([top, base], name="ex06-read-c") as c:
                os.unlink(c.merged / "etc" / "motd")
                try:
                    text = (c.merged / "etc" / "motd").read_text()
                except FileNotFoundError:
                    text = None
        truth = {None: "none", "welcome to v1\n": "layer 1", "welcome to v2\n": "layer 2"}.get(text, "upper")
        if given == truth:
            return None
        if given == "layer 1":
            return "the delete did not stop at the topmost copy: one mark in the upper dir answers for all layers"
        if given == "layer 2":
            return "rm succeeded: the name no longer resolves to the file it did before"
        if given == "upper":
            return "the upper dir does gain an entry for the delete, but it is not a file anyone can read"
        return "the kernel disagrees: look again at how a lookup walks the layers from the top"


class HandWhiteout(Exercise):
    id = "hand-whiteout"
    chapter = "06"
    kind = "build"
    title = "write a whiteout by hand"
    task = """You are the storage driver. A layer to apply says `etc/.wh.issue`: "etc/issue of the layers below
is deleted". Write `hide(upper)` that puts into the directory `upper` (a layer directory, not mounted)
what overlayfs itself needs to hide /etc/issue of the image, and nothing else: /etc/motd and /etc/hostname
must still show, and the image's own layer directory (the exercise's `.lower`) must not change. Use os calls (or
labcore.fs). The checker calls hide() on a fresh directory, mounts it as the upper layer above ex.lower,
and looks at the merged tree."""
    hint = "overlay does not read tar names such as .wh.issue: it has its own mark for 'deleted', made with mknod"

    FILES = {"etc/issue": "Lab Linux \\n \\l\n", "etc/motd": "welcome\n", "etc/hostname": "image\n"}

    def setup(self):
        from ..fs import Scratch
        self.scratch = Scratch("ex06-whiteout")
        self.lower = self.scratch.dir("lower")
        self._restore()

    def _restore(self):
        for name, text in self.FILES.items():
            path = self.lower / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def _lower_intact(self) -> bool:
        for name, text in self.FILES.items():
            path = self.lower / name
            if path.is_symlink() or not path.is_file() or path.read_text() != text:
                return False
        return sorted(os.listdir(self.lower / "etc")) == sorted(n.split("/")[1] for n in self.FILES)

    def verify(self, answer):
        from ..fs import Scratch, mount
        if not callable(answer):
            return "pass your function itself (hide, without parentheses)"
        with Scratch("ex06-whiteout-try") as attempt:
            upper, work, merged = attempt.dir("upper"), attempt.dir("work"), attempt.dir("merged")
            answer(str(upper))
            if not self._lower_intact():
                self._restore()
                return "the image's layer changed: a storage driver never edits a lower layer, only the new one"
            with mount([self.lower], merged, upper, work):
                etc = sorted(os.listdir(merged / "etc"))
                motd = (merged / "etc" / "motd").read_text() if (merged / "etc" / "motd").is_file() else None
            if "issue" in etc:
                stray = [n for n in etc if n.startswith(".wh.")]
                if stray:
                    return f"the merged /etc shows {stray[0]}: that is the tar spelling, which overlay does not read"
                return "/etc/issue still shows in the merged tree: an ordinary file in the upper dir is a file"
            if motd != self.FILES["etc/motd"] or "hostname" not in etc:
                return "/etc/issue is gone, but so is more of /etc: hide one name, not the whole directory"
            if etc != ["hostname", "motd"]:
                return f"the merged /etc shows {etc}: hide /etc/issue and add nothing else"
        return None

    def close(self):
        self.scratch.remove()


EXERCISES = [DeletedRead, HandWhiteout]

__all__ = ["QUIZ", "EXERCISES", "DeletedRead", "HandWhiteout"]
