"""The tiny VM's pure parts: the cpio archive, QEMU's command line, /proc parsers. No QEMU runs here."""

import stat

import pytest

from labcore import initramfs, vm
from labcore.teach import checks
from labcore.errors import InvalidInputError, UnsupportedError


def test_newc_round_trip_keeps_names_modes_data_and_devices():
    members = [initramfs.Member("bin", stat.S_IFDIR | 0o755),
               initramfs.Member("bin/hello", stat.S_IFREG | 0o755, b"#!/bin/sh\necho hi\n"),
               initramfs.Member("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
               initramfs.Member("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))]
    archive = initramfs.newc(members)
    assert archive.startswith(b"070701") and len(archive) % 4 == 0
    assert b"TRAILER!!!\0" in archive
    assert initramfs.members(archive) == members


def test_newc_header_is_110_bytes_of_hex_and_names_end_aligned():
    archive = initramfs.newc([initramfs.Member("abc", stat.S_IFREG | 0o644, b"12345")])
    header = archive[:110]
    assert int(header[6:14], 16) == 1                           # inode
    assert int(header[14:22], 16) == stat.S_IFREG | 0o644       # mode
    assert int(header[54:62], 16) == 5                          # file size
    assert int(header[94:102], 16) == 4                         # name length, with its NUL
    assert archive[110:114] == b"abc\0"                         # 110 + 4 = 114: not a multiple of 4...
    assert archive[114:116] == b"\0\0" and archive[116:121] == b"12345"  # ...so padded to 116


@pytest.mark.parametrize("name", ["/init", "../etc/passwd", "a/../../b", ""])
def test_member_names_must_stay_inside_the_archive(name):
    with pytest.raises(InvalidInputError):
        initramfs.Member(name, stat.S_IFREG | 0o644)


def test_busybox_initramfs_has_console_init_and_applets(tmp_path):
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF" + b"\0" * 100)  # static enough for the check: no ld-linux
    names = {m.name: m for m in initramfs.members(initramfs.busybox_initramfs("#!/bin/sh\n", str(fake)))}
    assert names["dev/console"].rdev == (5, 1) and stat.S_ISCHR(names["dev/console"].mode)
    assert names["init"].data == b"#!/bin/sh\n" and names["init"].mode & 0o111
    assert names["bin/sh"].data == b"busybox" and stat.S_ISLNK(names["bin/sh"].mode)


def test_busybox_initramfs_refuses_a_dynamic_or_missing_busybox(tmp_path):
    dynamic = tmp_path / "busybox"
    dynamic.write_bytes(b"\x7fELF" + b"/lib64/ld-linux-x86-64.so.2")
    with pytest.raises(UnsupportedError, match="not a static"):
        initramfs.busybox_initramfs("#!/bin/sh\n", str(dynamic))
    with pytest.raises(UnsupportedError, match="busybox-static"):
        initramfs.busybox_initramfs("#!/bin/sh\n", str(tmp_path / "missing"))
    with pytest.raises(InvalidInputError, match="#!"):
        initramfs.busybox_initramfs("echo no shebang\n", str(tmp_path / "missing"))  # checked first


def test_qemu_argv_boots_the_kernel_on_a_serial_console_without_reboot():
    argv = vm.qemu_argv("/k/vmlinuz", "/proc/self/fd/5", memory_mb=128, cpus=2, drives=("/d.img",))
    assert argv[0] == "qemu-system-x86_64"
    pairs = {flag: argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag.startswith("-")}
    assert pairs["-kernel"] == "/k/vmlinuz" and pairs["-initrd"] == "/proc/self/fd/5"
    assert pairs["-m"] == "128" and pairs["-smp"] == "2" and pairs["-accel"] == "tcg"
    assert pairs["-serial"] == "stdio" and "-no-reboot" in argv
    assert pairs["-append"].startswith("console=ttyS0")
    assert "file=/d.img,format=raw,if=virtio" in argv


@pytest.mark.parametrize("kwargs", [{"accel": "hvf"}, {"memory_mb": 8}, {"cpus": 0}])
def test_qemu_argv_refuses_bad_values_before_anything_runs(kwargs):
    with pytest.raises(InvalidInputError):
        vm.qemu_argv("/k", "/i", **kwargs)


def test_meminfo_in_bytes():
    parsed = vm.meminfo("MemTotal:         223632 kB\nMemAvailable:     199704 kB\nHugePages_Total:       0\n")
    assert parsed == {"MemTotal": 223632 * 1024, "MemAvailable": 199704 * 1024, "HugePages_Total": 0}


def test_missing_guest_kernel_says_how_to_provision_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCORE_CACHE", str(tmp_path))
    monkeypatch.delenv("LABCORE_VM_KERNEL", raising=False)
    with pytest.raises(UnsupportedError) as info:
        vm.guest_kernel()
    assert "make provision" in info.value.fix
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "vmlinuz-6.1.0-9-cloud-amd64").write_bytes(b"kernel")
    assert vm.guest_kernel().release == "6.1.0-9-cloud-amd64"


def test_missing_qemu_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UnsupportedError) as info:
        vm.qemu_binary()
    assert "apt-get install qemu-system-x86" in info.value.fix
    ok, detail, fix = vm.available()
    assert not ok and "qemu-system-x86" in detail and "apt-get install qemu-system-x86" in fix
    check = checks.check_vm()  # the doctor's "vm", with the same fix
    assert not check.ok and "apt-get install qemu-system-x86" in check.fix and "(fix:" not in check.detail


def test_check_host_refuses_more_memory_or_cpus_than_the_host_can_give(tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:        2048000 kB\nMemAvailable:    1048576 kB\n")  # 1024 MiB available
    vm.check_host(1024 - vm.QEMU_OVERHEAD_MB, 2, str(info), cpu_count=2)
    with pytest.raises(InvalidInputError, match=r"memory_mb=1000 is more than this host can give: it has 1024 MiB"):
        vm.check_host(1000, 1, str(info), cpu_count=2)
    with pytest.raises(InvalidInputError, match=r"cpus=3 is more than this host's 2 CPU\(s\)"):
        vm.check_host(256, 3, str(info), cpu_count=2)


@pytest.mark.parametrize("kwargs, named", [({"memory_mb": 4096}, "memory_mb=4096 .* 1024 MiB"),
                                           ({"cpus": 3}, r"cpus=3 is more than this host's 2 CPU")])
def test_a_vm_larger_than_the_host_is_refused_before_anything_starts(monkeypatch, kwargs, named):
    monkeypatch.setattr("labcore.teach.vmlimits.read_meminfo", lambda path: {"MemAvailable": 1 << 30})
    monkeypatch.setattr(vm.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(vm, "qemu_binary", lambda: pytest.fail("the VM started"))
    with pytest.raises(InvalidInputError, match=named):
        vm.VM(**kwargs).boot()
    with pytest.raises(InvalidInputError, match=named):
        vm.boot(**kwargs)


def test_qemu_runs_in_a_cgroup_limited_a_bit_above_the_guests_ram(monkeypatch):
    made = []

    def create(name, **limits):
        made.append((name, limits))
        return "a cgroup"
    from labcore import cgroups
    monkeypatch.setattr(cgroups, "create", create)
    assert vm.vm_cgroup(256) == "a cgroup"
    (name, limits), = made
    assert name.startswith("lab-vm-") and limits["memory"] == f"{256 + vm.QEMU_OVERHEAD_MB}M"
    assert 0 < vm.QEMU_OVERHEAD_MB <= 512 and limits["pids"] > 0
