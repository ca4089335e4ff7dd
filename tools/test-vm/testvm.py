"""make test-vm: the course's tests inside a real cgroup v2 machine, booted with QEMU.

The course is meant to run in a Debian VM (the Vagrantfile), where systemd
mounts a single cgroup2 hierarchy with every controller. The machines that
build and test the course cannot run `vagrant up` (no VirtualBox, libvirt or
KVM), and their own cgroups are hybrid. This script stands in for it:

1. debootstrap a Debian bookworm root filesystem, once (kept in the cache,
   /var/cache/labcore/test-vm, the only thing that outlives a run);
2. install the checkout into it natively, in a chroot, with the project's own
   `make setup` (provision/provision.sh, the venv, the lab kernelspec);
3. copy it into an ext4 disk image with `mkfs.ext4 -d` (no loop device, no
   mount on the host);
4. boot it with QEMU (software emulation) on its own Debian kernel: systemd
   is PID 1 and mounts cgroup2 on /sys/fs/cgroup;
5. inside, a systemd service runs inside.sh as root: the tests marked
   needs("cgroup_v2"), then nbval on every notebook whose chapter depends on
   the cgroup version (``vm_notebooks``: it sets cgroup limits, or runs
   containers through the daemon); the others run under nbval on the host, and
   an emulated VM takes minutes for each. The serial console streams here,
   prefixed with "vm|";
6. the results come back on a second virtual disk, written as a tar archive;
   with --execute-notebooks (make notebooks-vm), inside.sh executes the
   notebooks in place instead (tools/execute_notebooks.py) and the archive
   brings them back: each notebook that parses as JSON, was executed and was
   not edited in the checkout meanwhile replaces the checkout's copy;
7. the disk images and QEMU are recorded by labcore's tracker and removed at
   the end (or by `labcore cleanup` after a crash); the suite's leak check
   then compares the host with a snapshot taken first, and the cache may
   hold nothing new but the root filesystem: any difference fails the run.

Every mount the build needs (proc, sys, dev in the chroot; debootstrap's
own) is made inside a private mount namespace that dies with the build, so
none can be left on the host.

    python tools/test-vm/testvm.py            # what `make test-vm` runs
    python tools/test-vm/testvm.py --rebuild  # forget the cached root filesystem first
    python tools/test-vm/testvm.py --execute-notebooks   # make notebooks-vm: outputs from this machine
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import leakcheck  # noqa: E402
from labcore import process, tracker, vm  # noqa: E402
from labcore.errors import LabError  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = vm.cache_dir() / "test-vm"
ROOTFS = CACHE / "rootfs"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the image needs before the project's own provisioning can run in it.
INCLUDE = ["systemd-sysv", "udev", "kmod", "linux-image-amd64", "make", "ca-certificates"]
PROJECT = "/opt/lab"           # where the checkout goes inside the image
MEMORY_MB = 3072
RESULTS_MB = 64
RESULTS_NOTEBOOKS_MB = 512     # --execute-notebooks: the executed notebooks come back too (a sparse file)


def log(text: str) -> None:
    print(f"test-vm: {text}", flush=True)


def in_private_namespaces(script: str) -> None:
    """Run a shell script as PID 1 of new pid and mount namespaces (labcore.ns.process).

    Mounts it makes are private to it and vanish when it ends; its processes
    die with it. The network is the host's: apt and pip need it.
    """
    with process.spawn(["sh", "-euc", script], "pid,mnt") as proc:
        status = proc.wait()
    if status != 0:
        raise LabError(f"the build step failed with status {status}", "read its output above")


# --- 1. the root filesystem ----------------------------------------------------------

def bootstrap(rebuild: bool) -> None:
    stamp = ROOTFS / ".lab-bootstrapped"
    if stamp.exists() and not rebuild:
        log(f"root filesystem cached in {ROOTFS}")
        return
    partial = CACHE / "rootfs.partial"
    for old in (ROOTFS, partial):
        if old.exists():
            if tracker.mounts_under(old):
                raise LabError(f"{tracker.mounts_under(old)[0]} is mounted", "unmount it, then run again")
            shutil.rmtree(old)
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap {SUITE} (minbase + {', '.join(INCLUDE)}) into {partial}")
    start = time.monotonic()
    in_private_namespaces(f"debootstrap --variant=minbase --include={','.join(INCLUDE)} "
                          f"{SUITE} {shlex.quote(str(partial))} {MIRROR}")
    partial.rename(ROOTFS)
    stamp.touch()
    log(f"debootstrap took {time.monotonic() - start:.0f} s")


# --- 2. the project, installed in a chroot ------------------------------------------

def checkout_files() -> list[str]:
    """The files of the checkout under test: tracked, plus new ones git does not ignore."""
    if (ROOT / ".git").exists():
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]
    skip = {".venv", ".git", "__pycache__", ".ipynb_checkpoints"}
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def is_notebook(name: str) -> bool:
    """A notebook of the course: an .ipynb file under notebooks/, outside Jupyter's checkpoints."""
    path = PurePosixPath(name)
    return (len(path.parts) >= 2 and path.parts[0] == "notebooks" and path.suffix == ".ipynb"
            and ".ipynb_checkpoints" not in path.parts and ".." not in path.parts and not path.is_absolute())


def copy_checkout() -> dict[str, str]:
    """A fresh copy of the checkout in the image; returns the SHA-256 of each notebook sent, by path."""
    dest = ROOTFS / PROJECT.lstrip("/")
    old_pyproject = (dest / "pyproject.toml").read_bytes() if (dest / "pyproject.toml").exists() else None
    dest.mkdir(parents=True, exist_ok=True)
    for entry in dest.iterdir():  # a fresh copy every run; the venv stays (it is rebuilt when pyproject changes)
        if entry.name == ".venv":
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    files = checkout_files()
    sent = {}
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_notebook(name):  # the bytes hashed are the bytes sent, even if someone edits the file meanwhile
            data = (ROOT / name).read_bytes()
            target.write_bytes(data)
            shutil.copystat(ROOT / name, target)
            sent[name] = hashlib.sha256(data).hexdigest()
        else:
            shutil.copy2(ROOT / name, target)
    if old_pyproject == (dest / "pyproject.toml").read_bytes():
        os.utime(dest / "pyproject.toml", (0, 0))  # unchanged: make must not rebuild the venv
    log(f"copied {len(files)} files of {ROOT} to {PROJECT}")
    return sent


def configure_image() -> None:
    """Plain files that make the image boot into the tests."""
    etc = ROOTFS / "etc"
    (etc / "hostname").write_text("lab-test-vm\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 lab-test-vm\n")
    (etc / "fstab").write_text("/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    (etc / "apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\n"
        f"deb {MIRROR}-security {SUITE}-security main\n")
    units = etc / "systemd/system"
    # No login prompt on the serial console (the tests own it), no background apt.
    for unit in ("serial-getty@ttyS0.service", "getty@tty1.service", "apt-daily.timer",
                 "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer"):
        link = units / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Kernel modules the course uses that nothing else would load at boot (Docker would load overlay).
    (etc / "modules-load.d/lab.conf").write_text("overlay\n")
    shutil.copy(HERE / "lab-test-vm.service", units / "lab-test-vm.service")
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    link = wants / "lab-test-vm.service"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/systemd/system/lab-test-vm.service")


def install_project() -> None:
    """`make setup` inside the image, as on any Debian machine: provision.sh, the venv, the kernelspec."""
    r = shlex.quote(str(ROOTFS))
    # The host's resolver and trusted certificates are lent to the build (bind mounts in the
    # private namespace): apt and pip reach their registries as the host does; the image keeps neither.
    certs = "/etc/ssl/certs/ca-certificates.crt"
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
           "DEBIAN_FRONTEND=noninteractive", "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1",
           f"PIP_CERT={certs}", f"SSL_CERT_FILE={certs}", f"REQUESTS_CA_BUNDLE={certs}"]
    start = time.monotonic()
    in_private_namespaces(f"""
        mount -t proc proc {r}/proc
        mount --rbind /sys {r}/sys
        mount --rbind /dev {r}/dev
        mount -t tmpfs tmpfs {r}/run
        mount -t tmpfs tmpfs {r}/tmp
        rm -f {r}/etc/resolv.conf; touch {r}/etc/resolv.conf
        mount --bind /etc/resolv.conf {r}/etc/resolv.conf
        if [ -f {certs} ] && [ -f {r}{certs} ]; then mount --bind {certs} {r}{certs}; fi
        chroot {r} env -i {' '.join(env)} make -C {PROJECT} setup
        chroot {r} apt-get clean
    """)
    log(f"make setup in the image took {time.monotonic() - start:.0f} s")


# --- 3. the disk image ----------------------------------------------------------------

def disk_size_mb() -> int:
    used = int(subprocess.run(["du", "-s", "--block-size=1M", str(ROOTFS)], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    return used + 2048  # room for what the tests and notebooks write


def kernel_and_initrd() -> tuple[Path, Path]:
    kernels = sorted((ROOTFS / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise LabError(f"no kernel in {ROOTFS}/boot", "run again with --rebuild")
    release = kernels[-1].name.removeprefix("vmlinuz-")
    return kernels[-1], ROOTFS / "boot" / f"initrd.img-{release}"


# --- 4 to 6. boot, stream the console, read the results ----------------------------------

def boot(disk: Path, results: Path, timeout: float) -> None:
    kernel, initrd = kernel_and_initrd()
    # A network card plugged into nothing (a QEMU hub with no other port): the machine has a NIC,
    # as the course VM does, and no traffic can leave it.
    nic = ("-netdev", "hubport,id=lab0,hubid=0", "-device", "virtio-net-pci,netdev=lab0")
    argv = vm.qemu_argv(kernel, str(initrd), MEMORY_MB, 2, "tcg,thread=multi",
                        "root=/dev/vda rw quiet systemd.show_status=0", drives=(str(disk), str(results)), extra=nic)
    argv[0] = vm.qemu_binary()
    log(f"booting {kernel.name} with {MEMORY_MB} MiB and 2 CPUs (software emulation)")
    log(shlex.join(argv))
    start = time.monotonic()
    proc, record = vm.start_qemu(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # The deadline holds even if the guest hangs without a word: a timer kills QEMU, which ends the read.
    watchdog = threading.Timer(timeout, lambda: (log(f"timeout after {timeout:.0f} s: stopping the VM"),
                                                 proc.kill()))
    watchdog.start()
    try:
        for raw in proc.stdout:  # one line of the guest's serial console at a time
            print("vm| " + raw.decode(errors="replace").rstrip("\r\n"), flush=True)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        tracker.default().forget(record)
    log(f"the VM ran for {time.monotonic() - start:.0f} s (QEMU exit status {proc.returncode})")


def read_results(results: Path) -> tuple[int, dict[str, bytes]]:
    """The status inside.sh wrote (1 if none) and every regular file of the archive, by path."""
    try:
        with tarfile.open(results) as tar:
            files = {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, EOFError) as exc:
        log(f"no results came back from the VM ({exc}): it did not finish (see its console above)")
        return 1, {}
    logs = sorted(name for name in files if not is_notebook(name))
    log("results from the VM: " + ", ".join(logs) + (f" and {len(files) - len(logs)} notebook(s)"
                                                      if len(files) > len(logs) else ""))
    print(files.get("summary", b"(no summary)").decode(errors="replace"), flush=True)
    try:
        return int(files.get("status", b"1").strip() or 1), files
    except ValueError:
        return 1, files


def bring_back_notebooks(files: dict[str, bytes], sent: dict[str, str], root: Path = ROOT) -> tuple[list, list]:
    """Write the executed notebooks over the checkout's; returns (written, skipped with the reason).

    Only a notebook that was sent, is listed in "executed" (execute_notebooks.py --done: it ran to the
    end and was written), parses as a JSON notebook, and whose checkout copy is still the one sent
    (nobody edited it during the run) is written, atomically, with the mode and owner of the file it
    replaces. Nothing outside root/notebooks/ is ever written.
    """
    executed = {str(PurePosixPath(line)) for line in files.get("executed", b"").decode(errors="replace").split("\n")
                if line.strip()}
    written, skipped = [], []
    for name in sorted(files):
        if not is_notebook(name):
            continue
        data = files[name]
        if name not in sent:
            skipped.append((name, "not a notebook of the checkout sent"))
            continue
        if name not in executed:
            skipped.append((name, "not executed to the end in the VM"))
            continue
        try:
            nb = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            skipped.append((name, f"not JSON: {exc}"))
            continue
        if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list) and isinstance(nb.get("nbformat"), int)):
            skipped.append((name, "JSON, but not a notebook"))
            continue
        target = root / name
        if not target.resolve().is_relative_to((root / "notebooks").resolve()):
            skipped.append((name, "outside the checkout's notebooks/"))
            continue
        try:
            now = hashlib.sha256(target.read_bytes()).hexdigest()
        except FileNotFoundError:
            now = None
        if now != sent[name]:
            skipped.append((name, "edited or removed in the checkout during the run: yours kept"))
            continue
        st = target.stat()
        tmp = target.with_name(f".{target.name}.notebooks-vm-{os.getpid()}")
        try:
            tmp.write_bytes(data)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, st.st_mode & 0o7777)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(name)
    return written, skipped


def cache_files() -> set[str]:
    return {p.name for p in CACHE.iterdir()} - {ROOTFS.name} if CACHE.is_dir() else set()


def host_changes(before: dict, cached: set[str]) -> list[str]:
    """What this run left on the host: kernel objects (the suite's leak check), new files in the cache."""
    changes = leakcheck.compare(before, leakcheck.snapshot())
    changes += [f"left in {CACHE}: {name}" for name in sorted(cache_files() - cached)]
    return changes


# A chapter whose demos set cgroup limits, or run containers through the daemon (which sets
# them), behaves differently on cgroup v2: those are the notebooks worth the VM's minutes.
VM_NEEDS = {"cgroups", "cgroup_limits", "cgroup_io", "cgroup_v2", "tool:docker"}


# Known to fail in this VM, each with the reason; run them here with --notebooks while fixing them.
VM_KNOWN_BROKEN: dict[str, str] = {}  # chapter -> why its notebook is not run in the VM (none today)


def vm_notebooks() -> list[str]:
    """The notebooks nbval checks inside the VM by default (see VM_NEEDS), in course order."""
    from labcore import course
    return [f"notebooks/{c.notebook}" for c in course.CHAPTERS
            if c.ready and VM_NEEDS & set(c.needs) and c.id not in VM_KNOWN_BROKEN]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rebuild", action="store_true", help="debootstrap the cached root filesystem again")
    ap.add_argument("--notebooks", help="run nbval on (or execute) these notebooks (space-separated); by default nbval runs on "
                         "the cgroup-dependent ones (vm_notebooks) and --execute-notebooks executes all")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--execute-notebooks", action="store_true",
                      help="instead of the tests, execute the notebooks in place in the VM and copy them back "
                           "into the checkout's notebooks/ (make notebooks-vm)")
    mode.add_argument("--command", help="debugging: run this shell command in the VM (in /opt/lab) instead of the tests")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("LAB_TEST_VM_TIMEOUT", 3600)),
                    help="seconds the VM may run (default %(default)s)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("test-vm: run as root (sudo make test-vm): it builds a root filesystem", file=sys.stderr)
        return 1
    for tool in ("debootstrap", "mkfs.ext4", "chroot"):
        if not shutil.which(tool):
            print(f"test-vm: {tool} is missing: run provision/maintainer.sh (make test-vm does)", file=sys.stderr)
            return 1
    # make notebooks-vm stores every notebook's outputs; the tests check the cgroup-dependent ones.
    notebooks = args.notebooks or ("" if args.execute_notebooks else " ".join(vm_notebooks()))
    for chapter, why in VM_KNOWN_BROKEN.items():
        if not args.notebooks and not args.execute_notebooks:
            log(f"not run in the VM: chapter {chapter}: {why}")
    start = time.monotonic()
    before, cached = leakcheck.snapshot(), cache_files()
    bootstrap(args.rebuild)
    sent = copy_checkout()
    configure_image()
    # What inside.sh should do, for this run only (the copy of the checkout is fresh every run).
    (ROOTFS / PROJECT.lstrip("/") / ".test-vm.env").write_text(
        f"NOTEBOOKS={shlex.quote(notebooks)}\nCOMMAND={shlex.quote(args.command or '')}\n"
        f"EXECUTE={'1' if args.execute_notebooks else ''}\n")
    install_project()
    track = tracker.default()
    disk = CACHE / f"lab-test-vm-disk-{os.getpid()}.img"
    results = CACHE / f"lab-test-vm-results-{os.getpid()}.tar"
    with track.track("path", disk), track.track("path", results):
        size = disk_size_mb()
        t = time.monotonic()
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "lab-root", "-d", str(ROOTFS), str(disk), f"{size}M"],
                       check=True)
        log(f"ext4 disk image of {size} MiB made in {time.monotonic() - t:.0f} s")
        with open(results, "wb") as f:  # zeros: an empty tar archive until the VM writes one
            f.truncate((RESULTS_NOTEBOOKS_MB if args.execute_notebooks else RESULTS_MB) * 2**20)
        boot(disk, results, args.timeout)
        status, files = read_results(results)
    if args.execute_notebooks:
        written, skipped = bring_back_notebooks(files, sent)
        for name, why in skipped:
            log(f"not copied back: {name}: {why}")
        log(f"{len(written)} executed notebook(s) copied back into {ROOT / 'notebooks'}"
            + "".join(f"\n  {name}" for name in written))
        if not written or any(not why.startswith("edited") for _, why in skipped):
            status = status or 1
    changes = host_changes(before, cached)
    if changes:
        log("the host differs from before the run:\n  " + "\n  ".join(changes))
        status = status or 1
    else:
        log("host unchanged: no mounts, loop devices, processes, records or new files outside the root filesystem's cache")
    log(f"{'PASS' if status == 0 else 'FAIL'} in {time.monotonic() - start:.0f} s (the cache stays in {CACHE})")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print(f"test-vm: {exc.notice()}", file=sys.stderr)
        sys.exit(1)
