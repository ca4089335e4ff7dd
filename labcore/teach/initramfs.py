"""An initramfs: the first root filesystem a Linux kernel runs.

When a boot loader (or QEMU's ``-initrd``) hands the kernel an initramfs,
the kernel unpacks it into a fresh tmpfs, the *rootfs*, and executes
``/init`` from it as PID 1. Distributions use it to load the drivers that
are needed to find the real root disk; the lab's tiny VM never leaves it:
its whole userland is one static ``busybox`` and a shell script.

The format is an old one: a **cpio archive in the "newc" layout** (man 5
cpio; the kernel's Documentation/driver-api/early-userspace/
buffer-format.rst). Each member is a 110-byte ASCII header (the magic
``070701`` and thirteen 8-digit hexadecimal numbers: inode, mode, uid, gid,
links, mtime, size, device numbers, name length, checksum), then the NUL-
terminated name, then the data, each padded to a multiple of 4 bytes. The
archive ends with a member named ``TRAILER!!!``.

A cpio header carries the mode and device numbers of a special file, so an
ordinary user can put ``/dev/console`` (character device 5:1) in an archive
without the right to create one on disk: the *kernel* creates it while
unpacking. Without ``/dev/console`` the kernel prints "unable to open an
initial console" and ``/init`` starts with no stdin, stdout or stderr.

Everything here is pure: it builds bytes, writes no file.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError, UnsupportedError

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
BUSYBOX = "/bin/busybox"

# The busybox applets the tiny VM's /init and the notebook's commands use.
APPLETS = ("sh", "mount", "umount", "cat", "echo", "uname", "poweroff", "stty", "sleep", "ps", "free",
           "grep", "head", "ls", "dmesg", "hostname", "id", "nproc", "mkdir", "true", "uptime", "wc")


@dataclass
class Member:
    """One file of the archive: a directory, a regular file, a symlink or a device node."""

    name: str
    mode: int                   # file type bits and permissions, as in st_mode
    data: bytes = b""           # file content, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)  # (major, minor) of a device node

    def __post_init__(self):
        if self.name.startswith("/") or ".." in self.name.split("/") or not self.name:
            raise InvalidInputError(f"bad initramfs member name {self.name!r}",
                                    "use a relative path without '..', for example 'bin/sh'")


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def newc(members: list[Member]) -> bytes:
    """The cpio "newc" archive of ``members``, ending with the trailer."""
    out = bytearray()
    for ino, m in enumerate([*members, Member(TRAILER, 0)], start=1):
        name = m.name.encode() + b"\0"
        fields = (ino if m.name != TRAILER else 0, m.mode, 0, 0,  # ino, mode, uid, gid: root owns all
                  2 if stat.S_ISDIR(m.mode) else 1, 0,           # nlink, mtime
                  len(m.data), 0, 0, m.rdev[0], m.rdev[1],       # size, dev (major, minor), rdev
                  len(name), 0)                                  # name length with its NUL, check
        out += MAGIC + b"".join(b"%08x" % f for f in fields) + name
        out += _pad(len(out))  # header + name end on a 4-byte boundary
        out += m.data + _pad(len(m.data))
    return bytes(out)


def members(archive: bytes) -> list[Member]:
    """Parse a newc archive back into members (to inspect one, or to test ``newc``)."""
    found, pos = [], 0
    while True:
        if archive[pos:pos + 6] != MAGIC:
            raise InvalidInputError(f"no newc header at offset {pos}", "is this an uncompressed newc cpio archive?")
        f = [int(archive[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name_at = pos + 110
        name = archive[name_at:name_at + namesize - 1].decode()
        data_at = name_at + namesize + (-(name_at + namesize) % 4)
        if name == TRAILER:
            return found
        found.append(Member(name, mode, archive[data_at:data_at + size], (f[9], f[10])))
        pos = data_at + size + (-size % 4)


def busybox_initramfs(init: str, busybox: str = BUSYBOX, applets=APPLETS) -> bytes:
    """A complete initramfs: a static busybox, links to its applets, /dev/console and ``init``.

    ``init`` is the text of the /init shell script. Used by ``labcore.teach.vm``
    (the tiny VM of notebook 02).
    """
    if not init.startswith("#!"):
        raise InvalidInputError("the init script has no #! line", "start it with #!/bin/sh")
    path = Path(busybox)
    try:
        binary = path.read_bytes()
    except FileNotFoundError:
        raise UnsupportedError(f"{busybox} not found: the tiny VM's userland is a static busybox",
                               "apt-get install busybox-static (provision/ does)") from None
    if b"\x7fELF" != binary[:4] or b"ld-linux" in binary[:4096]:
        raise UnsupportedError(f"{busybox} is not a static executable: it would need libraries the VM lacks",
                               "apt-get install busybox-static")
    dirs = ["bin", "dev", "proc", "sys", "tmp", "root"]
    out = [Member(d, stat.S_IFDIR | 0o755) for d in dirs]
    out.append(Member("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    out.append(Member("bin/busybox", stat.S_IFREG | 0o755, binary))
    out += [Member(f"bin/{a}", stat.S_IFLNK | 0o777, b"busybox") for a in applets]
    out.append(Member("init", stat.S_IFREG | 0o755, init.encode()))
    return newc(out)


__all__ = ["Member", "newc", "members", "busybox_initramfs", "APPLETS"]
