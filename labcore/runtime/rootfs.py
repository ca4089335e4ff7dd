"""The container's filesystem view, built from ``root``, ``mounts`` and ``linux``.

In its new mount namespace the container's init, before it execs anything:

1. makes every mount a slave of the host's (``rootfsPropagation``, default
   ``rslave``), so nothing it mounts leaks out, and binds the rootfs onto
   itself: pivot_root(2) needs a mount point;
2. mounts each entry of ``mounts`` under the rootfs, in order: a filesystem
   (``proc``, ``tmpfs``, ``sysfs``...) or a bind of a host path; options such
   as ``ro`` or ``nosuid`` become mount flags, the rest is data for the
   filesystem (``mode=755``); bind mounts take their flags in a second,
   remount step, as the kernel requires;
3. fills /dev: the standard devices (``null``, ``zero``, ``full``,
   ``random``, ``urandom``, ``tty``), those of ``linux.devices``, and the
   ``fd``/``stdin``/``stdout``/``stderr``/``ptmx`` symlinks; a device node
   is made with mknod(2), or bound from the host's where mknod is refused
   (inside a user namespace);
4. pivot_root(".", ".") then a lazy unmount of the old root: the host's
   tree is gone from this namespace;
5. hides ``maskedPaths`` (``/dev/null`` bound over a file, an empty read-only
   tmpfs over a directory) and makes ``readonlyPaths`` read-only binds, so
   /proc/kcore or /proc/sys stay out of reach; and finally makes / read-only
   if ``root.readonly``.

See mount(2), pivot_root(2), mount_namespaces(7); runc does the same in
libcontainer/rootfs_linux.go.
"""

from __future__ import annotations

import os
import stat

from ..kernel import flags as F

# mount(8) options that are flags of mount(2) (value: (set?, flag)).
MS_SYNCHRONOUS, MS_MANDLOCK, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME = 16, 64, 128, 1024, 2048
MS_UNBINDABLE, MS_RELATIME, MS_STRICTATIME = 1 << 17, 1 << 21, 1 << 24
OPTION_FLAGS = {
    "ro": (True, F.MS_RDONLY), "rw": (False, F.MS_RDONLY), "nosuid": (True, F.MS_NOSUID),
    "suid": (False, F.MS_NOSUID), "nodev": (True, F.MS_NODEV), "dev": (False, F.MS_NODEV),
    "noexec": (True, F.MS_NOEXEC), "exec": (False, F.MS_NOEXEC), "sync": (True, MS_SYNCHRONOUS),
    "async": (False, MS_SYNCHRONOUS), "dirsync": (True, MS_DIRSYNC), "mand": (True, MS_MANDLOCK),
    "nomand": (False, MS_MANDLOCK), "noatime": (True, MS_NOATIME), "atime": (False, MS_NOATIME),
    "nodiratime": (True, MS_NODIRATIME), "diratime": (False, MS_NODIRATIME),
    "relatime": (True, MS_RELATIME), "norelatime": (False, MS_RELATIME),
    "strictatime": (True, MS_STRICTATIME), "nostrictatime": (False, MS_STRICTATIME),
    "bind": (True, F.MS_BIND), "rbind": (True, F.MS_BIND | F.MS_REC), "remount": (True, F.MS_REMOUNT),
}
PROPAGATION_FLAGS = {
    "private": F.MS_PRIVATE, "rprivate": F.MS_PRIVATE | F.MS_REC, "slave": F.MS_SLAVE,
    "rslave": F.MS_SLAVE | F.MS_REC, "shared": F.MS_SHARED, "rshared": F.MS_SHARED | F.MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | F.MS_REC,
}
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
         "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}


def parse_options(options: list[str]) -> tuple[int, list[int], str]:
    """mount options -> (flags, propagation flags, data string for the filesystem)."""
    flags, propagation, data = 0, [], []
    for opt in options:
        if opt in OPTION_FLAGS:
            on, bit = OPTION_FLAGS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt in PROPAGATION_FLAGS:
            propagation.append(PROPAGATION_FLAGS[opt])
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def inside(root: str, path: str, depth: int = 0) -> str:
    """``path`` of the container as a host path under ``root``, never above it.

    Symlinks on the way are followed as the container would see them: an
    absolute target starts again at ``root``, and ``..`` stops at ``root``,
    so an image cannot point a mount at the host's /etc.
    """
    if depth > 40:  # as the kernel's ELOOP: a chain of links this long is a loop
        raise OSError(40, f"too many levels of symbolic links in {path} under {root}")
    names = [n for n in path.split("/") if n not in ("", ".")]
    parts: list[str] = []
    for i, name in enumerate(names):
        if name == "..":
            parts = parts[:-1]
            continue
        here = os.path.join(root, *parts, name)
        if os.path.islink(here):
            target = os.readlink(here)
            base = "/" if target.startswith("/") else "/" + "/".join(parts)
            return inside(root, os.path.join(base, target, *names[i + 1:]), depth + 1)
        parts.append(name)
    return os.path.join(root, *parts) if parts else root


def _make_target(target: str, like_file: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if like_file:
        open(target, "a").close()
    else:
        os.makedirs(target, exist_ok=True)


def mount_one(k, root: str, m: dict) -> None:
    """One entry of config.json's ``mounts``, under ``root`` (before pivot_root)."""
    flags, propagation, data = parse_options(m.get("options") or [])
    kind = m.get("type") or ""
    if kind == "bind":
        flags |= F.MS_BIND
    target = inside(root, m["destination"])
    source = m.get("source") or kind or "none"
    if flags & F.MS_BIND:
        _make_target(target, not os.path.isdir(source))
        k.mount(source, target, None, flags & (F.MS_BIND | F.MS_REC))
        extra = flags & ~(F.MS_BIND | F.MS_REC | F.MS_REMOUNT)
        if extra:  # a bind mount ignores its other flags: they take a remount
            k.mount(None, target, None, F.MS_REMOUNT | F.MS_BIND | extra)
    else:
        _make_target(target, False)
        k.mount(source, target, kind or None, flags, data or None)
    for p in propagation:
        k.mount(None, target, None, p)


def mount_cgroups(k, root: str, m: dict, view: dict) -> None:
    """A mount of type ``cgroup``: the container's own cgroups at its destination, as runc makes it.

    Mounting the cgroup filesystem itself does not work on v1: every
    controller is bound to a hierarchy of the host's already, and a new
    mount asking for all of them fails with EBUSY. So, as runc does, each
    hierarchy's *container directory* is bound instead (``view``, from
    cgroups.mount_view): one bind on pure v2; on v1 and hybrid a tmpfs
    with one bind per hierarchy, named as on the host (``cpu``, ``pids``,
    ``unified``), and the host's symlinks beside them. A bind shows the
    container its own subtree only, with or without a cgroup namespace;
    the options (``ro``, ``nosuid``...) go on every bind and on the tmpfs.
    """
    flags, _, _ = parse_options(m.get("options") or [])
    target = inside(root, m["destination"])
    _make_target(target, False)

    def bind(source: str, at: str) -> None:
        k.mount(source, at, None, F.MS_BIND | F.MS_REC)
        k.mount(None, at, None, F.MS_REMOUNT | F.MS_BIND | flags)  # a bind takes its flags in a remount

    dirs = view.get("dirs") or {}
    if list(dirs) == [""]:
        bind(dirs[""], target)
        return
    k.mount("tmpfs", target, "tmpfs", flags & ~F.MS_RDONLY, "mode=755")  # read-only once filled
    for name, source in dirs.items():
        os.makedirs(os.path.join(target, name), exist_ok=True)
        bind(source, os.path.join(target, name))
    for name, to in (view.get("links") or {}).items():
        k.symlink(to, os.path.join(target, name))
    if flags & F.MS_RDONLY:
        k.mount(None, target, None, F.MS_REMOUNT | flags)


def populate_dev(k, root: str, devices: list[dict], in_userns: bool) -> None:
    """The standard devices and ``linux.devices``, plus /dev's symlinks."""
    dev = inside(root, "/dev")
    os.makedirs(dev, exist_ok=True)
    wanted = [{"path": f"/dev/{n}", "type": "c", "major": a, "minor": b, "fileMode": 0o666, "uid": 0, "gid": 0}
              for n, (a, b) in DEVICES.items()]
    given = {d["path"] for d in devices}
    for d in [w for w in wanted if w["path"] not in given] + list(devices):
        target = inside(root, d["path"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d["type"]]
        mode = d.get("fileMode", 0o666) & 0o7777
        try:
            if in_userns:
                raise PermissionError  # mknod of a device is never allowed in a user namespace
            k.mknod(target, kind | mode, os.makedev(d.get("major", 0), d.get("minor", 0)))
            os.chmod(target, mode)  # mknod's mode went through the umask
            os.chown(target, d.get("uid") or 0, d.get("gid") or 0)
        except PermissionError:
            open(target, "a").close()
            k.mount(d["path"], target, None, F.MS_BIND)
    for name, to in LINKS.items():
        link = os.path.join(dev, name)
        if not os.path.lexists(link):
            k.symlink(to, link)


def pivot(k, root: str) -> None:
    k.chdir(root)
    k.pivot_root(".", ".")
    k.umount2(".", F.MNT_DETACH)  # the old root, stacked on the new one, goes
    k.chdir("/")


def mask(k, paths: list[str]) -> None:
    """After pivot_root: make each path unreadable (a missing one is skipped)."""
    for p in paths:
        if not os.path.exists(p):
            continue
        if os.path.isdir(p):
            k.mount("tmpfs", p, "tmpfs", F.MS_RDONLY, None)
        else:
            k.mount("/dev/null", p, None, F.MS_BIND)


def make_readonly(k, paths: list[str]) -> None:
    for p in paths:
        if not os.path.exists(p):
            continue
        k.mount(p, p, None, F.MS_BIND | F.MS_REC)
        k.mount(None, p, None, F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY | F.MS_REC)


def prepare(k, cfg: dict, in_userns: bool) -> None:
    """Steps 1-3 (before pivot_root)."""
    linux = cfg.get("linux") or {}
    root = cfg["root"]["path"]
    prop = PROPAGATION_FLAGS.get(linux.get("rootfsPropagation") or "rslave", F.MS_SLAVE | F.MS_REC)
    k.mount(None, "/", None, prop if prop & (F.MS_SLAVE | F.MS_PRIVATE) else F.MS_SLAVE | F.MS_REC)
    k.mount(root, root, None, F.MS_BIND | F.MS_REC)
    for m in cfg.get("mounts") or []:
        if m.get("type") == "cgroup":
            mount_cgroups(k, root, m, cfg.get("_cgroup_view") or {})
        else:
            mount_one(k, root, m)
    populate_dev(k, root, linux.get("devices") or [], in_userns)


def finish(k, cfg: dict) -> None:
    """Steps 4-5 (pivot_root and after)."""
    linux = cfg.get("linux") or {}
    pivot(k, cfg["root"]["path"])
    prop = linux.get("rootfsPropagation")
    if prop in ("shared", "rshared", "private", "rprivate", "unbindable", "runbindable"):
        k.mount(None, "/", None, PROPAGATION_FLAGS[prop])
    mask(k, linux.get("maskedPaths") or [])
    make_readonly(k, linux.get("readonlyPaths") or [])
    if cfg["root"].get("readonly"):
        k.mount(None, "/", None, F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY)


__all__ = ["prepare", "finish", "parse_options", "inside", "mount_one", "mount_cgroups", "populate_dev", "mask", "make_readonly"]
