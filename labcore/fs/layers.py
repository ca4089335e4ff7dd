"""Image layers: a directory's content (or its changes) as a tar, named by its sha256.

A layer of an OCI image is a tar archive of the files that one build step
added, changed or deleted (the OCI image spec, "layer.md"). It is named by
two hashes:

* the **diff_id**: sha256 of the *uncompressed* tar. The image's config
  lists these (``rootfs.diff_ids``): they identify the filesystem content.
* the **digest**: sha256 of the blob as stored and sent, usually gzipped.
  The manifest lists these: they identify the bytes a registry serves.

The same layer has one diff_id but a digest per compression (or per gzip
implementation), which is why both exist.

A tar has no way to say "deleted", so the spec names a **whiteout** file:
``.wh.NAME`` means "NAME of the layers below is gone", and
``DIR/.wh..wh..opq`` means "nothing of the layers below shows in DIR" (an
*opaque* directory). overlayfs has its own marks for the same ideas (a 0/0
character device; the ``trusted.overlay.opaque`` xattr, see
``labcore.fs.overlay``). ``write_layer`` translates overlay's marks into the
tar's; ``labcore.fs.extract`` translates back.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError
from .digest import MAX_UNCOMPRESSED, uncompressed_digest
from .overlay import is_opaque, is_whiteout
from .tarsafety import CHUNK, MAX_HEADER, BoundedTarInfo, UnsafeArchiveError, open_regular

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


class HashingWriter:
    """A file-like object that hashes what goes through it (to a file, or nowhere)."""

    def __init__(self, out=None):
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        if self.out is not None:
            self.out.write(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def digest(self) -> str:
        return "sha256:" + self.sha256.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes (what ``sha256sum`` prints, with the algorithm named)."""
    with open_regular(path) as f:
        return sha256_fileobj(f)


def sha256_fileobj(f) -> str:
    """``sha256:<hex>`` of what is left to read in an open binary file."""
    h = hashlib.sha256()
    while chunk := f.read(CHUNK):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


@dataclass
class Layer:
    """A layer blob on disk and its names."""

    path: Path           # the blob as stored (tar, or tar+gzip)
    diff_id: str         # sha256 of the uncompressed tar
    digest: str          # sha256 of the stored blob
    size: int            # bytes of the stored blob
    media_type: str = TAR

    def __repr__(self) -> str:
        return f"<Layer {self.digest[:19]}… diff_id {self.diff_id[:19]}… {self.size} bytes>"

    def descriptor(self) -> dict:
        """The OCI descriptor a manifest lists for this layer."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class LayerWriter:
    """Writes tar entries from files on disk, in a stable form, hashing as it goes.

    Entries get PAX headers (long names, exact sizes), no user or group
    names (ids only, as the spec wants), and the same bytes for the same
    content: a rebuilt layer has the same diff_id.
    """

    def __init__(self, out, owner: tuple[int, int] | None = None, mtime: int | None = None):
        self.hashing = HashingWriter(out)
        self.tar = tarfile.open(fileobj=self.hashing, mode="w", format=tarfile.PAX_FORMAT)
        self.tar.copybufsize = CHUNK
        self.owner = owner          # force (uid, gid), as COPY does; None keeps the files' own
        self.mtime = mtime          # force a timestamp; None keeps the files' own
        self._links: dict[tuple[int, int], str] = {}

    def _info(self, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = self.owner if self.owner else (st.st_uid, st.st_gid)
        info.uname = info.gname = ""
        info.mtime = self.mtime if self.mtime is not None else int(st.st_mtime)
        return info

    def add(self, path: str | os.PathLike, arcname: str) -> None:
        """Add one file, directory, symlink, fifo or device (not its children)."""
        st = os.lstat(path)
        info = self._info(arcname, st)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:  # a second name of a file already written
                info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
                self.tar.addfile(info)
                return
            if st.st_nlink > 1:
                self._links[key] = arcname
            info.type, info.size = tarfile.REGTYPE, st.st_size
            with open(path, "rb") as f:
                self.tar.addfile(info, f)
            return
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return  # a socket: tar has no type for it, and it means nothing once its server is gone
        self.tar.addfile(info)

    def add_whiteout(self, arcname: str, st: os.stat_result | None = None) -> None:
        """``.wh.NAME``: NAME of the layers below is deleted."""
        parent, _, name = arcname.rpartition("/")
        info = tarfile.TarInfo(f"{parent}/{WHITEOUT}{name}" if parent else WHITEOUT + name)
        info.mtime = self.mtime if self.mtime is not None else (int(st.st_mtime) if st else 0)
        info.uname = info.gname = ""
        self.tar.addfile(info)

    def add_opaque(self, dir_arcname: str) -> None:
        """``DIR/.wh..wh..opq``: nothing of the layers below shows in DIR."""
        info = tarfile.TarInfo(f"{dir_arcname}/{OPAQUE}")
        info.mtime = self.mtime or 0
        info.uname = info.gname = ""
        self.tar.addfile(info)

    def close(self) -> tuple[str, int]:
        """Finish the archive; returns (diff_id, size of the tar)."""
        self.tar.close()
        return self.hashing.digest(), self.hashing.size


def _walk_sorted(root: str | os.PathLike):
    """Every path below ``root``, depth first, names sorted: a stable order, parents first."""
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        yield Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_sorted(entry.path)


def write_tar(src: str | os.PathLike, out, *, owner=None, mtime=None, prefix: str = "") -> tuple[str, int]:
    """Write the content of directory ``src`` as a layer tar to the binary file ``out``.

    overlayfs marks are translated: a 0/0 character device becomes a
    ``.wh.`` whiteout, an opaque directory gets a ``.wh..wh..opq`` entry. So
    the upper dir of a container (or of a RUN step) becomes its layer as it
    is. ``prefix`` puts everything under a directory (COPY into /app).
    Returns (diff_id, bytes).
    """
    src = Path(src)
    if not src.is_dir():
        raise InvalidInputError(f"{src} is not a directory", "a layer is made from a directory")
    writer = LayerWriter(out, owner, mtime)
    prefix = prefix.strip("/")
    if prefix:  # the parent directories of the destination, as docker puts them in a COPY layer
        parts = prefix.split("/")
        for i in range(1, len(parts) + 1):
            writer.add(src, "/".join(parts[:i]))
    for path in _walk_sorted(src):
        rel = path.relative_to(src).as_posix()
        arcname = f"{prefix}/{rel}" if prefix else rel
        if is_whiteout(path):
            writer.add_whiteout(arcname, os.lstat(path))
            continue
        writer.add(path, arcname)
        if path.is_dir() and not path.is_symlink() and is_opaque(path):
            writer.add_opaque(arcname)
    return writer.close()


def tree_digest(src: str | os.PathLike) -> str:
    """The diff_id a directory would have as a layer, computed without writing the tar anywhere."""
    return write_tar(src, None)[0]


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_mode == b.st_mode
            and (a.st_uid, a.st_gid) == (b.st_uid, b.st_gid)
            and (stat.S_ISDIR(a.st_mode) or (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)))


def diff(old: str | os.PathLike, new: str | os.PathLike) -> list[tuple[str, str]]:
    """How directory ``new`` differs from ``old``: [(path, added|modified|deleted)], sorted (pure read).

    Files are compared by type, mode, owner, size and modification time, as
    Docker's own directory diff does; a deleted directory is listed once.
    """
    old, new = Path(old), Path(new)
    out = []
    for path in _walk_sorted(new):
        rel = path.relative_to(new).as_posix()
        try:
            before = os.lstat(old / rel)
        except FileNotFoundError:
            out.append((rel, "added"))
            continue
        if not _same(before, os.lstat(path)):
            if stat.S_ISLNK(before.st_mode) and os.readlink(old / rel) == os.readlink(path):
                continue
            out.append((rel, "modified"))
    gone_dirs: list[str] = []
    for path in _walk_sorted(old):
        rel = path.relative_to(old).as_posix()
        if any(rel.startswith(d + "/") for d in gone_dirs):
            continue
        if not os.path.lexists(new / rel):
            out.append((rel, "deleted"))
            if path.is_dir() and not path.is_symlink():
                gone_dirs.append(rel)
    return sorted(out)


def write_diff_tar(old, new, out) -> tuple[str, int]:
    """The layer that turns directory ``old`` into ``new``: changed entries plus whiteouts."""
    new = Path(new)
    changes = diff(old, new)
    writer = LayerWriter(out)
    written: set[str] = set()
    for rel, kind in changes:
        parts = rel.split("/")
        for i in range(1, len(parts)):  # parent directories first, as tar readers expect
            parent = "/".join(parts[:i])
            if parent not in written:
                writer.add(new / parent, parent)
                written.add(parent)
        if kind == "deleted":
            writer.add_whiteout(rel)
        else:
            writer.add(new / rel, rel)
        written.add(rel)
    return writer.close()


def compress(tar_path: str | os.PathLike, out_path: str | os.PathLike, level: int = 6) -> tuple[str, int]:
    """gzip a tar; returns (digest, size) of the compressed blob.

    The gzip header's timestamp and file name are left empty, so the same
    tar always gives the same blob (Docker does the same).
    """
    hashing_out = open(out_path, "wb")
    try:
        sink = HashingWriter(hashing_out)
        with open(tar_path, "rb") as src, gzip.GzipFile(filename="", mode="wb", fileobj=sink,
                                                        compresslevel=level, mtime=0) as gz:
            while chunk := src.read(CHUNK):
                gz.write(chunk)
    finally:
        hashing_out.close()
    return sink.digest(), sink.size


def make_layer(src: str | os.PathLike, blobs: str | os.PathLike, *, gzip_level: int | None = 6,
               old: str | os.PathLike | None = None, owner=None, mtime=None, prefix: str = "") -> Layer:
    """Turn a directory into a layer blob stored as ``blobs/<hex of its digest>``.

    ``old`` given: the layer holds only what changed from ``old`` to ``src``
    (with whiteouts). ``gzip_level=None`` stores the tar uncompressed, so
    the digest *is* the diff_id. Used by notebook 06 and the builder.
    """
    blobs = Path(blobs)
    blobs.mkdir(parents=True, exist_ok=True)
    tmp_tar = blobs / f".tmp-{os.getpid()}-{id(blobs)}.tar"
    try:
        with open(tmp_tar, "wb") as out:
            if old is not None:
                diff_id, size = write_diff_tar(old, src, out)
            else:
                diff_id, size = write_tar(src, out, owner=owner, mtime=mtime, prefix=prefix)
        if gzip_level is None:
            final = blobs / diff_id.split(":")[1]
            os.replace(tmp_tar, final)
            return Layer(final, diff_id, diff_id, size, TAR)
        tmp_gz = tmp_tar.with_suffix(".gz")
        digest, gz_size = compress(tmp_tar, tmp_gz, gzip_level)
        final = blobs / digest.split(":")[1]
        os.replace(tmp_gz, final)
        return Layer(final, diff_id, digest, gz_size, TAR_GZIP)
    finally:
        tmp_tar.unlink(missing_ok=True)
        tmp_tar.with_suffix(".gz").unlink(missing_ok=True)


def list_tar(blob: str | os.PathLike) -> list[str]:
    """``tar -tvf``-like lines for a layer blob (gzipped or not): what is really in it."""
    lines = []
    with open_regular(blob) as f, tarfile.open(fileobj=f, mode="r:*", tarinfo=BoundedTarInfo) as tar:
        for m in tar:
            kind = {tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l", tarfile.LNKTYPE: "h", tarfile.CHRTYPE: "c",
                    tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}.get(m.type, "-")
            extra = f" -> {m.linkname}" if m.issym() else f" link to {m.linkname}" if m.islnk() else ""
            lines.append(f"{kind}{stat.filemode(m.mode)[1:]} {m.uid}/{m.gid} {m.size:>8} {m.name}{extra}")
    return lines


__all__ = ["Layer", "LayerWriter", "HashingWriter", "write_tar", "tree_digest", "write_diff_tar", "diff", "compress",
           "make_layer", "sha256_file", "sha256_fileobj", "uncompressed_digest", "list_tar", "open_regular",
           "BoundedTarInfo", "UnsafeArchiveError", "WHITEOUT", "OPAQUE", "TAR", "TAR_GZIP", "MAX_UNCOMPRESSED",
           "MAX_HEADER"]
