"""Applying an untrusted layer tar to a directory, without ever leaving it.

A layer comes from whoever built the image, so its tar is hostile until
proven otherwise. What ``tar -xf`` would happily do with a crafted archive,
and what this module does instead:

=================================  ==========================================
entry                              here
=================================  ==========================================
``../../etc/passwd``, ``/etc/x``   refused (``UnsafeArchiveError`` names it)
``evil -> /etc`` then ``evil/x``   confined: ``evil`` resolves inside the
                                   root, as it would in the container, so
                                   ``x`` lands in ROOT/etc (never /etc)
hard link to ``../x`` or through   refused, or confined like a path: a link
a symlink                          never names a file outside the root
``.wh.`` of ``..``                 refused; whiteouts delete only inside
character or block device          refused (a disk's device node in a
                                   rootfs is a door to the host)
setuid / setgid bit                removed, and listed in the result
more bytes or entries than the     refused as soon as the limit is crossed
limits
a GNU long name or PAX header      refused from its size field, before tarfile
claiming gigabytes                 would read it whole into memory
a truncated or damaged gzip        refused; if the root was empty, what was
                                   written is removed (``store.unpack``
                                   stages a whole image and renames it)
a PAX mtime of 1e400 or nan        refused (a fractional one is kept to the ns)
=================================  ==========================================

An entry replaces what the layers below left at its path, as the OCI image
spec says: a directory replaces a file or a symlink (the link is removed,
never followed), a file or a symlink replaces a whole directory.

Every path is resolved one component at a time from a directory file
descriptor of the root, with ``O_NOFOLLOW`` (see openat(2) and
path_resolution(7)); a symlink met on the way is read and resolved inside
the root, ``..`` never climbs above it. Files are created with ``O_EXCL``
so nothing is written through an existing link.

Two modes: ``flat`` applies a layer onto a rootfs (``image unpack``:
whiteouts delete); ``overlay`` writes a layer into its own directory in
overlayfs's form (whiteouts become 0/0 devices, opaque dirs get the xattr).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, PrivilegeError
from .layers import OPAQUE, WHITEOUT
from .overlay import make_whiteout, mark_opaque
from .tarsafety import CHUNK, BoundedTarInfo, Limits, UnsafeArchiveError, _mtime_ns, _open_blob, clean_name

MAX_SYMLINKS = 40  # as the kernel's own path walk (ELOOP after 40)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Applied:
    """What applying a layer did."""

    entries: int = 0
    bytes: int = 0
    deleted: list[str] = field(default_factory=list)     # whiteouts applied (flat) or made (overlay)
    opaque: list[str] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)    # setuid/setgid bits removed
    confined: list[str] = field(default_factory=list)    # entries whose path went through a symlink

    def __repr__(self) -> str:
        return (f"<Applied {self.entries} entries, {self.bytes} bytes; {len(self.deleted)} whiteout(s), "
                f"{len(self.opaque)} opaque, {len(self.stripped)} setuid/setgid stripped, "
                f"{len(self.confined)} confined>")


class _Root:
    """A directory file descriptor of the target root, and confined path walks from it."""

    def __init__(self, root: Path):
        self.fd = os.open(root, _DIR_FLAGS)

    def close(self) -> None:
        os.close(self.fd)

    def parent(self, parts: list[str], create: bool, entry: str, applied: Applied) -> int | None:
        """Open the directory ``parts`` inside the root (symlinks resolved inside it).

        Missing directories are made when ``create``; otherwise None is returned.
        """
        todo = list(parts)
        stack: list[int] = []          # fds of the directories walked so far (root not included)
        hops = 0
        try:
            while todo:
                name = todo.pop(0)
                if name in ("", "."):
                    continue
                here = stack[-1] if stack else self.fd
                if name == "..":  # only from a symlink's target: clamp at the root, as chroot does
                    if stack:
                        os.close(stack.pop())
                    continue
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=here)
                except FileNotFoundError:
                    if not create:
                        return None
                    os.mkdir(name, 0o755, dir_fd=here)
                    fd = os.open(name, _DIR_FLAGS, dir_fd=here)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.stat(name, dir_fd=here, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise UnsafeArchiveError(f"{entry!r}: {name} is not a directory",
                                                 "the layer puts a file under a non-directory") from None
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        raise UnsafeArchiveError(f"{entry!r}: too many levels of symbolic links",
                                                 "a symlink loop: the archive was crafted") from None
                    target = os.readlink(name, dir_fd=here)
                    if target.startswith("/"):  # absolute: from the container's root, not the host's
                        while stack:
                            os.close(stack.pop())
                    todo = target.split("/") + todo
                    if entry not in applied.confined:
                        applied.confined.append(entry)
                    continue
                stack.append(fd)
            result = stack.pop() if stack else os.dup(self.fd)
            return result
        finally:
            for fd in stack:
                os.close(fd)


def _remove(parent: int, name: str) -> None:
    """Remove ``name`` in the directory ``parent``, a whole tree if it is one (never following links).

    A directory is made writable (0700) before it is emptied: a layer may
    have made it read-only, and without root its owner must chmod it first.
    """
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    try:
        try:
            os.fchmod(fd, 0o700)
        except PermissionError:
            pass  # not ours: removing what is inside fails with its own error
        for child in os.listdir(fd):
            _remove(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a directory and what it holds, read-only subdirectories included, never following links."""
    path = Path(path)
    fd = os.open(path.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        _remove(fd, path.name)
    finally:
        os.close(fd)


def apply_layer(blob, root: str | os.PathLike, *, mode: str = "flat",
                limits: Limits | None = None, keep_owner: bool | None = None) -> Applied:
    """Apply the layer tar ``blob`` (gzipped or not) onto the directory ``root``.

    ``blob`` is a path (a regular file: a FIFO or a symlink is refused) or
    an open binary file, read from where it is (``Layout.open_layer`` gives
    the one it verified). ``mode="flat"`` applies whiteouts by deleting
    (unpacking an image); ``mode="overlay"`` writes overlayfs's marks
    instead (a layer stored for an overlay mount; needs root). Refuses with
    ``UnsafeArchiveError`` naming the entry at the first one that would
    leave ``root``; when ``root`` was empty, what was written is removed.
    Owners are kept when we are root (``keep_owner``).
    """
    if mode not in ("flat", "overlay"):
        raise InvalidInputError(f"unknown mode {mode!r}", "use 'flat' or 'overlay'")
    limits = limits or Limits()
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        raise InvalidInputError(f"target {root} is not a directory", "create it first")
    if mode == "overlay" and os.geteuid() != 0:
        raise PrivilegeError("writing overlay whiteouts (mknod 0/0) and trusted.* xattrs needs root",
                             "run as root, or unpack flat with mode='flat'")
    keep_owner = os.geteuid() == 0 if keep_owner is None else keep_owner
    applied = Applied()
    created: set[str] = set()
    dir_modes: list[tuple[list[str], int]] = []
    owned, stream = _open_blob(blob, limits.max_bytes)
    name = stream.name
    try:
        target = _Root(root)
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    was_empty = not os.listdir(target.fd)
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo) as tar:
            for member in tar:
                applied.entries += 1
                if applied.entries > limits.max_entries:
                    raise UnsafeArchiveError(f"layer {name} has more than {limits.max_entries} entries",
                                             "an absurd archive is refused: raise Limits.max_entries if genuine")
                _apply(tar, member, target, mode, limits, keep_owner, applied, created, dir_modes)
        _set_dir_modes(target, dir_modes, applied)
    except BaseException as exc:
        if was_empty:  # leave nothing half-unpacked: the root is as empty as it came
            for child in os.listdir(target.fd):
                _remove(target.fd, child)
        if isinstance(exc, tarfile.TarError):
            raise UnsafeArchiveError(f"layer {name} is not a valid tar: {exc}", "the blob is damaged") from None
        raise
    finally:
        target.close()
        if owned is not None:
            owned.close()
    applied.bytes = stream.count
    return applied


def _set_dir_modes(root: _Root, dir_modes: list[tuple[list[str], int]], applied: Applied) -> None:
    """Directories get their modes last (as tar does): a 0555 directory is still filled without root."""
    for parts, perm in reversed(dir_modes):  # children first
        try:
            fd = root.parent(parts, False, "/".join(parts), Applied())
        except UnsafeArchiveError:
            continue  # a later entry replaced the directory by a file
        if fd is not None:
            try:
                os.fchmod(fd, perm)
            finally:
                os.close(fd)


def _apply(tar, member: tarfile.TarInfo, root: _Root, mode: str, limits: Limits, keep_owner: bool,
           applied: Applied, created: set[str], dir_modes: list) -> None:
    parts = clean_name(member.name)
    if not parts:
        return  # "./": the root itself, which we never change
    rel = "/".join(parts)
    name = parts[-1]
    if name.startswith(WHITEOUT):
        # Flat: deleting below a directory that does not exist deletes nothing; make no dirs for it.
        parent = root.parent(parts[:-1], mode == "overlay", member.name, applied)
        if parent is not None:
            try:
                _whiteout(parent, parts, member.name, mode, applied, created)
            finally:
                os.close(parent)
        return
    if member.ischr() or member.isblk():
        raise UnsafeArchiveError(f"entry {member.name!r} is a device node "
                                 f"({member.devmajor}:{member.devminor})",
                                 "device nodes in a layer are refused: a container gets its devices "
                                 "from the runtime, never from the image")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk() or member.isfifo()):
        raise UnsafeArchiveError(f"entry {member.name!r} has an unknown type {member.type!r}",
                                 "the archive is malformed")
    mtime_ns = _mtime_ns(member)
    parent = root.parent(parts[:-1], True, member.name, applied)
    try:
        created.add(rel)
        existing = _lstat(parent, name)
        if existing and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            _remove(parent, name)  # replaced: a file by a dir, a link (never followed) by a dir...
            existing = None
        perm = member.mode & 0o7777
        if perm & 0o6000:
            perm &= ~0o6000
            applied.stripped.append(rel)
        if member.isreg():
            if member.size > limits.max_file:
                raise UnsafeArchiveError(f"entry {member.name!r} claims {member.size} bytes",
                                         f"more than Limits.max_file ({limits.max_file}): refused as absurd")
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
            try:
                src = tar.extractfile(member)
                while chunk := src.read(CHUNK):
                    view = memoryview(chunk)
                    while view:  # write(2) may write less than asked
                        view = view[os.write(fd, view):]
                _set_owner_and_mode(fd, member, perm, keep_owner)
            finally:
                os.close(fd)
        elif member.isdir():
            if not existing:
                os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
            try:
                _set_owner_and_mode(fd, member, perm | 0o700, keep_owner)  # its own mode at the end
            finally:
                os.close(fd)
            dir_modes.append((parts, perm))
        elif member.issym():
            # The target is stored as text and only ever resolved inside the container's root.
            os.symlink(member.linkname, name, dir_fd=parent)
            if keep_owner:
                os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            _hardlink(root, parent, name, member, applied)
        else:  # a FIFO: the only type left after the checks above
            os.mkfifo(name, perm, dir_fd=parent)
            if keep_owner:
                os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        if not member.isdir() and not member.issym():
            os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)


def _set_owner_and_mode(fd: int, member: tarfile.TarInfo, perm: int, keep_owner: bool) -> None:
    """fchown(2) then fchmod(2), in that order: chown clears setuid bits, so mode goes last."""
    if keep_owner:
        os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, perm)


def _lstat(parent: int, name: str):
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _hardlink(root: _Root, parent: int, name: str, member: tarfile.TarInfo, applied: Applied) -> None:
    lparts = clean_name(member.linkname, f"hard link {member.name!r} ->")
    if not lparts:
        raise UnsafeArchiveError(f"hard link {member.name!r} names the root", "the archive was crafted")
    lparent = root.parent(lparts[:-1], False, member.name, applied)
    if lparent is None:
        raise UnsafeArchiveError(f"hard link {member.name!r} -> {member.linkname!r}: no such directory in this root",
                                 "a hard link may only name a file that the layers hold")
    try:
        st = _lstat(lparent, lparts[-1])
        if st is None:
            raise UnsafeArchiveError(f"hard link {member.name!r} -> {member.linkname!r}: no such file in this root",
                                     "a hard link may only name a file that the layers hold")
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeArchiveError(f"hard link {member.name!r} -> {member.linkname!r} names a directory",
                                     "hard links to directories do not exist")
        os.link(lparts[-1], name, src_dir_fd=lparent, dst_dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(lparent)


def _whiteout(parent: int, parts: list[str], entry: str, mode: str, applied: Applied, created: set[str]) -> None:
    name = parts[-1]
    dir_rel = "/".join(parts[:-1])
    if name == OPAQUE:
        applied.opaque.append(dir_rel or "/")
        if mode == "overlay":
            mark_opaque(parent)
            return
        for child in os.listdir(parent):  # hide what the layers below put here; keep this layer's own
            if f"{dir_rel}/{child}".lstrip("/") not in created:
                _remove(parent, child)
        return
    hidden = name[len(WHITEOUT):]
    if hidden in ("", ".", "..") or hidden.startswith(WHITEOUT):
        raise UnsafeArchiveError(f"whiteout {entry!r} names {hidden or 'nothing'!r}",
                                 "a whiteout may only delete a plain name inside the root")
    rel = f"{dir_rel}/{hidden}".lstrip("/")
    if rel in created:
        return  # a whiteout hides the layers below, never this layer's own entries
    applied.deleted.append(rel)
    _remove(parent, hidden)
    if mode == "overlay":
        make_whiteout(hidden, dir_fd=parent)


__all__ = ["apply_layer", "Applied", "Limits", "UnsafeArchiveError", "clean_name", "remove_tree", "MAX_SYMLINKS"]
