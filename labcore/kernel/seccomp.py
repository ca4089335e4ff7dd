"""seccomp: the door to libseccomp, which turns rules into a BPF program.

seccomp(2) in filter mode attaches a small classic-BPF program to the
calling thread. The kernel runs it at the entry of *every* system call,
with a ``struct seccomp_data`` to look at (the call's number, the
architecture it was made for, the six raw argument registers) and obeys its
answer: allow, fail with an errno, kill, trap, log, or ask a tracer. The
filter cannot read memory (so not a path, nor clone3's flags), only
registers. Filters are kept across fork and execve and can only be added
to, never removed: ``Seccomp: 2`` in /proc/PID/status.

Writing the BPF by hand means knowing every architecture's syscall numbers;
libseccomp (seccomp_init(3), seccomp_rule_add(3), seccomp_export_bpf(3))
does that. This module is the only place that calls it, through PyPI's
``pyseccomp`` (a ctypes binding with libseccomp's own Python API). The
program is loaded by ``Kernel.load_seccomp`` (prctl(2), what seccomp_load(3)
does last). Loading a filter needs no_new_privs or CAP_SYS_ADMIN: a process
that could gain privileges through a setuid binary must not be able to fool
it with a filter.
"""

from __future__ import annotations

import os

LIBSECCOMP = "libseccomp.so.2"  # libseccomp 2.x's soname: the name the dynamic linker looks for
LIBC = "libc.so.6"              # glibc's

_scmp = None  # the pyseccomp module, once loaded (_binding)


def _import_pyseccomp():
    """Import pyseccomp without the two ``ldconfig -p`` processes its import would start.

    pyseccomp looks up libc and libseccomp with ``ctypes.util.find_library``,
    which on Linux runs ``ldconfig -p`` and searches its output: a fork and
    an exec per library, paid by every process that loads a filter (each
    container's create). A shared library's soname is fixed by its ABI, so
    the names are given here instead; dlopen(3) finds them as for any
    program, and a missing libseccomp fails with its soname in the error.
    """
    import ctypes
    import ctypes.util
    ctypes.CDLL(LIBSECCOMP)  # OSError "libseccomp.so.2: cannot open shared object file" if it is not installed
    sonames = {"c": LIBC, "seccomp": LIBSECCOMP}
    find = ctypes.util.find_library
    ctypes.util.find_library = lambda name: sonames.get(name) or find(name)
    try:
        import pyseccomp
    finally:
        ctypes.util.find_library = find
    return pyseccomp


def _binding():
    """pyseccomp, imported on first use (a config without seccomp never pays for it); sets MISSING."""
    global _scmp, MISSING
    if "MISSING" not in globals():
        try:
            _scmp, MISSING = _import_pyseccomp(), None
        except (ImportError, OSError) as exc:  # no binding, or no libseccomp.so.2 on this machine
            MISSING = f"pyseccomp cannot be loaded: {exc}"
    return _scmp


def __getattr__(name: str):
    """``MISSING`` (None, or why libseccomp cannot be used) is known once the binding was tried."""
    if name == "MISSING":
        _binding()
        return MISSING
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# OCI/Docker action names -> libseccomp's action values (the errno/trace value is added by action()).
ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
           "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
             "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ARCHES = {"SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X32": "X32", "SCMP_ARCH_ARM": "ARM",
          "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_RISCV64": "RISCV64", "SCMP_ARCH_PPC64LE": "PPC64LE",
          "SCMP_ARCH_S390": "S390", "SCMP_ARCH_S390X": "S390X"}
EPERM = 1


def _lib():
    if _binding() is None:
        raise OSError(38, MISSING)
    return _scmp


def action(name: str, errno_ret: int | None = None) -> int:
    """libseccomp's value for an OCI action name, e.g. SCMP_ACT_ERRNO with 1 (EPERM)."""
    s = _lib()
    values = {"SCMP_ACT_KILL": s.KILL_THREAD, "SCMP_ACT_KILL_THREAD": s.KILL_THREAD,
              "SCMP_ACT_KILL_PROCESS": s.KILL_PROCESS, "SCMP_ACT_TRAP": s.TRAP, "SCMP_ACT_ALLOW": s.ALLOW,
              "SCMP_ACT_LOG": s.LOG, "SCMP_ACT_NOTIFY": s.NOTIFY}
    if name == "SCMP_ACT_ERRNO":
        return s.ERRNO(EPERM if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_TRACE":
        return s.TRACE(EPERM if errno_ret is None else errno_ret)
    return values[name]


def native_arch() -> str:
    """This machine's architecture in libseccomp's words, e.g. ``SCMP_ARCH_X86_64``."""
    value = _lib().system_arch()
    return next((n for n, attr in ARCHES.items() if getattr(_scmp.Arch, attr) == value), str(value))


def resolve(name: str, arch: str | None = None) -> int:
    """The number of syscall ``name`` on ``arch`` (default native); -1 if libseccomp does not know it.

    A name libseccomp knows that this architecture lacks (``stat64`` on x86_64) gets a negative
    "pseudo-syscall" number below -1, which rules accept: it then applies to the other arches of the filter.
    """
    s = _lib()
    return s.resolve_syscall(getattr(s.Arch, ARCHES[arch]) if arch else s.Arch.NATIVE, name)


def version() -> str:
    """libseccomp's version, e.g. ``2.5.4`` (older ones know fewer syscall names)."""
    import ctypes  # the binding does not expose seccomp_version(3); libseccomp's struct is three uints
    lib = ctypes.CDLL(LIBSECCOMP)
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
    major, minor, micro = lib.seccomp_version().contents
    return f"{major}.{minor}.{micro}"


class Filter:
    """A libseccomp filter being built: ``add`` rules, then ``bpf`` for the program to load."""

    def __init__(self, default: int, arches: list[str]):
        s = _lib()
        self._f = s.SyscallFilter(default)
        for arch in arches:
            value = getattr(s.Arch, ARCHES[arch])
            if not self._f.exist_arch(value):
                self._f.add_arch(value)

    def add(self, act: int, number: int, conditions=()) -> None:
        """One rule: ``conditions`` are (index, operator name, value, value_two), all ANDed."""
        s = _lib()
        args = [s.Arg(i, OPERATORS[op], a, b) for i, op, a, b in conditions]
        self._f.add_rule(act, number, *args)

    def bpf(self) -> bytes:
        """The BPF program libseccomp made (8 bytes per instruction), as seccomp_export_bpf(3) writes it."""
        fd = os.memfd_create("labcore-seccomp-bpf")
        try:
            with os.fdopen(os.dup(fd), "wb") as out:
                self._f.export_bpf(out)
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


__all__ = ["MISSING", "ACTIONS", "OPERATORS", "ARCHES", "action", "native_arch", "resolve", "version", "Filter"]
