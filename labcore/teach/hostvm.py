"""A throwaway host: a VM whose disk holds a secret, for escapes that must never reach the real machine.

An escape demo does to its "host" exactly what a real attacker would do:
mount the host's disk, run a program as the host's root, read files
through another process's root. None of that may happen to the learner's
machine, so deep dive D gives each escape a host of its own: a small QEMU
VM (chapter 02's machinery, ``labcore.teach.vm``) booted from a disk that
is built fresh for it and deleted afterwards. Whatever the escape does, it
does to that VM; when the demo ends, QEMU stops and the disk image goes.

The VM's disk is an ordinary root filesystem, like a real host's:

====================================  =========================================
path on the guest's disk              what it is
====================================  =========================================
/etc/lab-host-secret                  the "host secret" each escape tries to read
/bin/busybox (+ links: sh, mount...)  the host's shell tools
/usr/bin/python3.11, its libraries,   the host's Python, so the guest runs
/usr/lib/python3.11, /opt/lab/labcore  ``labcore`` itself (and its seccomp binding)
/var/tmp/labcore/rootfs               a container's root filesystem: busybox and
                                      Python, and the attack scripts in /escape
/sbin/lab-init                        the host's PID 1: mounts /proc, /sys, /dev,
                                      then runs the commands typed on the console
/sbin/apparmor_parser,                AppArmor's profile compiler and the lab's
/etc/lab-apparmor/                    profiles, where this machine has the parser
====================================  =========================================

Nothing is copied that can be linked: the tree is made of hard links to the
checkout's and the system's files in a lab scratch directory (tracked, so
``labcore cleanup`` removes it after a crash), and ``mkfs.ext4 -d`` turns it
into an ext4 image without mounting anything on the host (mke2fs(8)).

Booting: the kernel starts a tiny busybox initramfs (``initramfs.py``)
whose /init waits for the disk, mounts it and hands over with
``switch_root`` (the disk becomes ``/``, as on any installed machine; a
container's ``pivot_root(2)`` refuses to leave an initramfs, so the host
must not stay in one). The disk is attached as an NVMe drive because the
Debian cloud kernel has its NVMe and ext4 drivers built in, while virtio's
are modules the VM does not carry.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabError, UnsupportedError
from ..fs.scratch import Scratch
from . import vm as vmmod

PYTHON = Path(os.path.realpath(sys.base_prefix)) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
STDLIB = Path(os.__file__).resolve().parent               # /usr/lib/python3.11
LABCORE = Path(__file__).resolve().parents[1]             # the checkout's labcore package
SECRET_PATH = "/etc/lab-host-secret"
ROOTFS = "/var/tmp/labcore/rootfs"                          # the container's root, a lab path inside the guest
DISK = "/dev/nvme0n1"
LIBDIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu")
# Parts of the standard library no demo imports: left out to keep the disk small.
SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages",
               "dist-packages", "config-3.11-x86_64-linux-gnu", "pydoc_data", "unittest", "distutils"}
APPLETS = ("sh", "mount", "umount", "cat", "echo", "mkdir", "mknod", "sleep", "ls", "ps", "grep", "sed", "head",
           "chmod", "printf", "readlink", "id", "cut", "tr", "test", "[", "true", "false", "kill", "wc", "stat",
           "poweroff", "stty", "nsenter", "rm", "touch", "uname", "hostname", "cp", "tail", "ln", "env", "timeout",
           "strings", "dd", "od", "dmesg")

# The initramfs's /init: wait for the disk, mount it, make it / (switch_root deletes the initramfs).
BOOT = f"""#!/bin/sh
mount -t devtmpfs devtmpfs /dev
mkdir -p /newroot
n=0; while [ ! -b {DISK} ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
mount -t ext4 {DISK} /newroot || {{ echo "no host disk at {DISK}"; poweroff -f; }}
umount /dev
exec /bin/busybox switch_root /newroot /sbin/lab-init
"""

# The disk's PID 1: the tiny VM's console loop (chapter 02), with an environment for python and labcore,
# securityfs for AppArmor, and a /run and /tmp of their own.
LAB_INIT = vmmod.init_script(
    setup="export PATH=/bin:/sbin:/usr/bin PYTHONPATH=/opt/lab HOME=/root PYTHONDONTWRITEBYTECODE=1\n",
    mounts="mount -t securityfs securityfs /sys/kernel/security 2>/dev/null\n"
           "mount -t tmpfs -o mode=755 tmpfs /run\nmount -t tmpfs tmpfs /tmp\n")


def _link_tree(src: Path, dst: Path, skip=frozenset()) -> None:
    """Hard-link every file of ``src`` under ``dst`` (copy where a link is impossible: another filesystem)."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in skip]
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            _link(Path(root) / name, dst / rel / name)
        for name in list(dirs):
            if (Path(root) / name).is_symlink():
                dirs.remove(name)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        return
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _shared_libraries(binaries) -> set[Path]:
    """Every shared library the ``binaries`` load (ldd(1)), the dynamic loader included."""
    found = set()
    for b in binaries:
        out = subprocess.run(["ldd", str(b)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts else ""
            if path.startswith("/"):
                found.add(Path(path))
    return found


def _python(root: Path) -> None:
    """The host's Python 3 under ``root``: interpreter, standard library, and the libraries they load."""
    _link(PYTHON, root / "usr/bin" / PYTHON.name)
    os.symlink(PYTHON.name, root / "usr/bin/python3")
    _link_tree(STDLIB, root / STDLIB.relative_to("/"), SKIP_STDLIB)
    libs = _shared_libraries([PYTHON, *sorted((STDLIB / "lib-dynload").glob("*.so"))])
    for d in LIBDIRS:  # libseccomp, which the seccomp binding loads by name at run time
        found = sorted(Path(d).glob("libseccomp.so.2*"))
        if found:
            libs |= _shared_libraries(found[:1]) | {found[0].with_name("libseccomp.so.2")}
            break
    for lib in libs:
        real = Path(os.path.realpath(lib))
        dest = root / "usr/lib/x86_64-linux-gnu" / lib.name if "x86_64-linux-gnu" in str(lib) else \
            root / str(lib).lstrip("/").replace("lib64/", "usr/lib64/", 1)
        _link(real, dest)


def _busybox(root: Path) -> None:
    _link(Path(vmmod.initramfs.BUSYBOX), root / "bin/busybox")
    for applet in APPLETS:
        if not (root / "bin" / applet).exists():
            os.symlink("busybox", root / "bin" / applet)


def _skeleton(root: Path) -> None:
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root", "mnt", "usr/bin",
              "usr/lib/x86_64-linux-gnu", "usr/lib64"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
        if not (root / name).exists():
            os.symlink(target, root / name)


def build_tree(root: Path, secret: str, scripts: dict[str, str], profiles: dict | None = None) -> None:
    """Lay out the guest host's disk under ``root`` (see the table above). ``scripts``: /escape's files;
    ``profiles``: AppArmor profiles for /etc/lab-apparmor (with apparmor_parser, where this machine has it)."""
    profiles = profiles or {}
    _skeleton(root)
    _busybox(root)
    _python(root)
    _link(Path("/sbin/ldconfig"), root / "sbin/ldconfig")       # ctypes.util.find_library asks ldconfig -p
    parser = shutil.which("apparmor_parser") or ("/sbin/apparmor_parser" if os.path.exists("/sbin/apparmor_parser")
                                                 else None)
    if parser:  # AppArmor's compiler: loads a profile into the guest kernel (its libraries: libc only)
        _link(Path(os.path.realpath(parser)), root / "sbin/apparmor_parser")
        (root / "etc/lab-apparmor").mkdir(parents=True)
        for name, text in profiles.items():
            (root / "etc/lab-apparmor" / name).write_text(text)
    _link(Path("/etc/ld.so.cache"), root / "etc/ld.so.cache")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/hostname").write_text("lab-host\n")
    Path(root / SECRET_PATH.lstrip("/")).write_text(secret + "\n")
    os.chmod(root / SECRET_PATH.lstrip("/"), 0o600)
    _link_tree(LABCORE, root / "opt/lab/labcore")
    import pyseccomp
    _link(Path(pyseccomp.__file__), root / "opt/lab/pyseccomp.py")
    init = root / "sbin/lab-init"
    init.write_text(LAB_INIT)
    init.chmod(0o755)
    # The container's root filesystem: its own busybox and Python, and the attacker's scripts.
    rootfs = root / ROOTFS.lstrip("/")
    _skeleton(rootfs)
    _busybox(rootfs)
    _python(rootfs)
    _link(Path("/sbin/ldconfig"), rootfs / "sbin/ldconfig")
    _link(Path("/etc/ld.so.cache"), rootfs / "etc/ld.so.cache")
    (rootfs / "etc/hostname").write_text("container\n")
    (rootfs / "escape").mkdir()
    for name, text in scripts.items():
        (rootfs / "escape" / name).write_text(text)
    os.chmod(rootfs / "tmp", 0o1777)  # as in every image: anyone may write, only the owner delete
    # Traversable, not listable: a user namespace's root (uid 100000 here) must reach the rootfs to bind
    # it, as Docker's data-root is 0701 with --userns-remap.
    os.chmod(root / "var/tmp/labcore", 0o711)


def make_disk(tree: Path, image: Path, size_mb: int = 160) -> None:
    """``mkfs.ext4 -d tree image``: an ext4 filesystem holding the tree, written as an ordinary file."""
    mkfs = shutil.which("mkfs.ext4") or shutil.which("mke2fs")
    if not mkfs:
        raise UnsupportedError("mkfs.ext4 is missing: the guest host's disk is an ext4 image",
                               "apt-get install e2fsprogs")
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)  # sparse: only written blocks take space
    out = subprocess.run([mkfs, "-q", "-F", "-t", "ext4", "-L", "lab-host", "-d", str(tree), str(image)],
                         capture_output=True, text=True)
    if out.returncode:
        raise LabError(f"mkfs.ext4 -d {tree} failed: {out.stderr.strip()[-300:]}", "is the scratch disk full?")


@dataclass
class HostVM:
    """A VM playing the host, with a fresh disk: ``with HostVM(scripts) as host: host.run("...")``.

    ``secret`` is a random line written to the disk's /etc/lab-host-secret:
    an escape that prints it has read the host's disk. On exit QEMU is
    stopped and the scratch directory (tree and disk image) deleted.
    Used by deep dive D (``labcore.teach.escapes``).
    """

    scripts: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)
    memory_mb: int = 512
    secret: str = field(default_factory=lambda: f"host-secret-{secrets.token_hex(8)}")
    build_seconds: float | None = None
    vm: vmmod.VM | None = field(default=None, repr=False)
    _scratch: Scratch | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        state = "not booted" if self.vm is None else repr(self.vm)
        return f"<HostVM {state}>"

    def boot(self) -> "HostVM":
        start = time.monotonic()
        self._scratch = Scratch("escape-host", on_disk=True)
        try:
            tree, image = self._scratch / "tree", self._scratch / "disk.img"
            build_tree(tree, self.secret, self.scripts, self.profiles)
            make_disk(tree, image)
            shutil.rmtree(tree)  # the image holds it now
            self.build_seconds = time.monotonic() - start
            self.vm = vmmod.VM(memory_mb=self.memory_mb, init=BOOT, qemu_extra=(
                "-drive", f"file={image},format=raw,if=none,id=hostdisk",
                "-device", "nvme,drive=hostdisk,serial=lab-host"))
            self.vm.boot()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def boot_seconds(self) -> float | None:
        return self.vm.boot_seconds if self.vm else None

    def run(self, command: str, timeout: float = 180) -> str:
        """A shell command run by the guest host's root (its console loop); returns the output."""
        if self.vm is None:
            raise LabError("the host VM is not booted", "use it in a with block")
        return self.vm.run(command, timeout)

    def close(self) -> None:
        """Stop QEMU (if it runs) and delete the disk: nothing of this host remains."""
        try:
            if self.vm is not None and self.vm.returncode is None and self.vm._proc is not None:
                self.vm.stop()
        finally:
            if self._scratch is not None:
                self._scratch.remove()
                self._scratch = None

    def __enter__(self) -> "HostVM":
        return self.boot() if self.vm is None else self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["HostVM", "build_tree", "make_disk", "SECRET_PATH", "ROOTFS", "DISK", "BOOT", "LAB_INIT"]
