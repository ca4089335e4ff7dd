"""Chapter 11, Storage drivers: its quiz and exercises."""

from __future__ import annotations

import errno
import os

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

MiB = 1 << 20

QUIZ = Quiz("11", "Storage drivers", [
    Choice("bind-volume", "At kernel level, what tells a local named volume apart from a bind mount of a host "
                          "directory?",
           right="nothing: both are MS_BIND mounts of a host directory; only who picks and manages it differs",
           wrong=["a volume is a separate filesystem image that Docker loop-mounts, a bind mount is not",
                  "a volume's writes pass through overlay's upper dir first, a bind mount's go to the host directly",
                  "a volume is mounted with MS_MOVE from Docker's own namespace, a bind mount with MS_BIND"],
           why="Section 4: /data and /src had the host filesystem's type and device; only their root fields "
               "differed, naming the directory each shows."),
    Choice("where-written", "A container's PID 1 writes /var/web.log. Where on the host does that file land?",
           right="in the upperdir, under var/web.log",
           wrong=["in the workdir, until the container stops", "in the topmost lowerdir, the newest layer",
                  "in the merged dir, which is a directory on disk"],
           why="Section 1: the upperdir held var and var/web.log, the layers nothing new."),
    Choice("4k-of-1g", "A container changes 4 KiB in the middle of a 1 GiB file that came with its image. About "
                       "how much is written to disk?",
           right="about 1 GiB: the whole file is copied up before the 4 KiB land",
           wrong=["4 KiB: overlay writes the changed block into the upper dir",
                  "nothing until the container stops and its layer is committed",
                  "8 KiB: the changed 4 KiB block plus one block of overlay's own metadata"],
           why="Section 2: one byte written, the whole file in the upper dir, for every size."),
    Choice("workdir", "What is overlay's workdir for?",
           right="a scratch place on the upper dir's filesystem where a copy-up is built before it is renamed in",
           wrong=["the container's working directory, set by WORKDIR in the Dockerfile and by docker run -w",
                  "a cache of the files most recently read from the lower layers, to speed up later lookups",
                  "a journal of the upper dir's changes, replayed at the next mount to repair a copy-up cut short"],
           why="Section 1 showed it on disk beside the upperdir; deep dive B watches a copy-up go through it."),
    Choice("metacopy", "Why does Docker's overlay2 driver not turn on overlay's metacopy feature?",
           right="metacopy upper files broke the naive diff Docker builds layers with; the kernel default is off",
           wrong=["metacopy lets one container read files in other containers' upper dirs by following origin xattrs",
                  "metacopy makes every copy-up sync twice, which doubles the cost of a first write",
                  "metacopy needs the lower layers on a different filesystem from the upper dir"],
           why="Section 2: with metacopy a chown copies up only metadata, which left upper files whose data "
               "was still below (moby issue 38296); CONFIG_OVERLAY_FS_METACOPY is off by default."),
    Choice("database", "Why does a database's data directory belong in a volume rather than the container's layer?",
           right="its writes bypass overlay, so no copy-up, and the data outlives the container",
           wrong=["volumes are encrypted at rest, while the container's layer is stored in clear text on disk",
                  "overlay refuses files over 2 GiB, so a growing database would hit the limit",
                  "the container's layer is kept in RAM, so the data would be lost at reboot"],
           why="Section 3: small updates on the volume changed files in place; on overlay they copied each file."),
    Recall("bind-vs-volume", "An interviewer asks: \"What is the difference between a bind mount and a volume, "
                             "at kernel level?\" Answer, and say how you would prove it on a running container.",
           model="At kernel level none: both are bind mounts (mount(2) with MS_BIND) of a directory that "
                 "exists on the host, same device, same inodes, no overlay in between. The differences are "
                 "Docker's: a volume's directory is created and managed by Docker under "
                 "/var/lib/docker/volumes/NAME/_data and filled from the image on first use. Proof: "
                 "/proc/PID/mountinfo of the container shows both with the host filesystem's type and device, "
                 "and a root field naming the source directory.",
           demo="section 4"),
    Recall("enospc", "A container's one-byte append to a big file of its image fails with \"No space left on "
                     "device\", although df shows free space. Explain, and give the fix.",
           model="The append opens the file for writing, which copies the whole file up into the writable "
                 "layer first; the disk under the upper dir has less free space than the file's size, so the "
                 "copy-up fails with ENOSPC before a byte is written. Fix: keep such files in a volume "
                 "(filled from the image on first use), which bypasses overlay; or give the storage driver "
                 "more room.",
           demo="section 2 and the exercise at the end"),
])


class AppendBytes(Exercise):
    id = "append-bytes"
    chapter = "11"
    kind = "predict"
    title = "predict what a one-byte append copies up"
    task = """An image holds /var/log/app.log of exactly 12,582,912 bytes (12 MiB). A container of that image
runs `printf x >> /var/log/app.log`: one byte appended. How many bytes does the container's upper dir hold
for that file afterwards? Write a number of bytes. The checker builds that image and container and measures."""
    hint = "what does overlay do the first time a file of the image is opened for writing?"
    SIZE = 12 * MiB

    def verify(self, answer):
        from ..fs import Scratch, container_layer
        try:
            given = int(str(answer).replace(",", "").replace("_", "").strip())
        except ValueError:
            return f"{answer!r} is not a number of bytes"
        with Scratch("ex11-append", on_disk=True) as scratch:
            log = scratch.dir("layer", "var", "log") / "app.log"
            with open(log, "wb") as f:
                f.truncate(self.SIZE)
            with container_layer([scratch.path / "layer"], name="ex11-append-c") as c:
                with open(c.merged / "var" / "log" / "app.log", "ab") as f:
                    f.write(b"x")
                held = os.stat(c.upper / "var" / "log" / "app.log").st_size
        if given in (held, held - 1):  # the copy with the byte, or the bytes copied for it
            return None
        if given <= 4096:
            return "overlay keeps no block-level deltas: think of what must exist in the upper dir for the " \
                   "write to land there"
        return f"{given} bytes is not what the kernel left in the upper dir: the copy is made of the whole file"


class FullLayer(Exercise):
    id = "full-layer"
    chapter = "11"
    kind = "break"
    title = "break a container on a full writable layer, then repair it"
    task = """This exercise holds a container whose writable layer (upper and work dirs) sits on a small disk
of 8 MiB, nearly empty. Its image holds a 16 MiB database, /data/app.db. First break it: the exercise's
`.append()` appends one byte to /data/app.db inside the container; run it and read the error. Then write
`repair(ex)`, which gets the exercise as `ex`, to make the append succeed without making the disk bigger
and without losing a byte of the database, the way Docker does it for `-v NAME:/data` with a new volume:
the volume's empty directory on the host is `ex.volume`, the container's root is `ex.merged`. Return the
mount you make. The checker builds the container again, calls repair(ex), appends, and looks at the disk,
the volume and the database."""
    hint = "which writes go through overlay, and which do not? a new named volume starts with the image's files"

    DB_SIZE, DISK_MIB = 16 * MiB, 8

    def setup(self):
        from ..fs import Scratch
        self.scratch = Scratch("ex11-full", on_disk=True)
        self.layer = self.scratch.dir("layer")
        db = self.scratch.dir("layer", "data") / "app.db"
        with open(db, "wb") as f:
            for i in range(self.DB_SIZE // MiB):
                f.write(bytes([i]) * MiB)
        self.box = None
        self._start()

    def _start(self):
        """A fresh container: the small disk, its upper and work dirs, the overlay, an empty volume."""
        from ..fs import Scratch, mount
        from ..fs.storage import SmallDisk
        self._stop()
        self.box = Scratch("ex11-box")
        self.disk = SmallDisk(self.box.dir("disk"), self.DISK_MIB)
        upper, work = self.box.dir("disk", "upper"), self.box.dir("disk", "work")
        self.overlay = mount([self.layer], self.box.dir("merged"), upper, work)
        self.merged, self.upper = self.overlay.merged, upper
        self.volume = self.scratch.dir("volume", "_data")
        for entry in self.volume.iterdir():
            entry.unlink()

    def _stop(self):
        if self.box is not None:
            self.overlay.unmount()  # a detach: mounts the learner made below it go with it
            self.disk.unmount()
            self.box.remove()
            self.box = None

    def append(self) -> str:
        """Append one byte to /data/app.db through the container's root; say what happened."""
        try:
            with open(self.merged / "data" / "app.db", "ab") as f:
                f.write(b"!")
        except OSError as exc:
            return f"append to /data/app.db failed: {errno.errorcode.get(exc.errno, exc.errno)} ({exc.strerror})"
        return f"append to /data/app.db: done, the file is now {os.stat(self.merged / 'data' / 'app.db').st_size} bytes"

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (repair, without parentheses)"
        self._start()
        if "ENOSPC" not in self.append():
            return "the container did not break as it should: run the exercise cell again"
        size_before = os.statvfs(self.disk.path).f_blocks
        made = None
        try:
            made = answer(self)
            said = self.append()
            db = self.merged / "data" / "app.db"
            if "failed" in said:
                return f"still broken: {said.split(': ', 1)[1]}"
            if os.statvfs(self.disk.path).f_blocks != size_before:
                return "the disk grew: repair the container without a bigger disk"
            if os.stat(db).st_size != self.DB_SIZE + 1 or _first_bytes(db) != bytes(range(4)):
                return "the append worked, but the database lost its data: a new volume is first filled with " \
                       "what the image holds at that path"
            if os.path.lexists(self.upper / "data" / "app.db"):
                return "the database now sits in the writable layer, on the small disk: keep it out of overlay"
            if not (self.volume / "app.db").is_file() or os.stat(self.volume / "app.db").st_size != self.DB_SIZE + 1:
                return "the byte did not land in the volume's directory, ex.volume"
            if getattr(made, "unmount", None) is None:
                return "it works: now return the mount you made (what labcore.fs.mounts.bind returns), " \
                       "so it can be undone"
            return None
        finally:
            if getattr(made, "unmount", None) is not None:
                made.unmount()

    def close(self):
        self._stop()
        self.scratch.remove()


def _first_bytes(path) -> bytes:
    """The first byte of each of the database's first four MiB (the setup wrote 0, 1, 2, 3)."""
    seen = []
    with open(path, "rb") as f:
        for i in range(4):
            f.seek(i * MiB)
            seen.append((f.read(1) or b"\xff")[0])
    return bytes(seen)


EXERCISES = [AppendBytes, FullLayer]

__all__ = ["QUIZ", "EXERCISES", "AppendBytes", "FullLayer"]
