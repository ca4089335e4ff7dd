"""seccomp profiles: the JSON Docker and the OCI runtime spec use, and how it becomes a filter.

A profile says what to do with each system call a container makes::

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
     "architectures": ["SCMP_ARCH_X86_64"],          (OCI; Docker writes an archMap)
     "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_BOOT"]}}]}

``includes`` and ``excludes`` are Docker's: a rule counts only if the
container holds every capability in ``includes.caps`` (and none in
``excludes.caps``), runs on one of ``includes.arches``, on a kernel at least
``includes.minKernel``. The OCI spec has no such fields: a runtime receives
a profile already resolved, which is what ``resolve`` makes.

``compile`` turns the resolved rules into a libseccomp filter
(``labcore/kernel/seccomp.py``) and has libseccomp generate its BPF program
at once, in the runtime's parent: the container's init then only hands the
finished program to the kernel (``Kernel.load_seccomp``), instead of
generating it between ``start`` and the exec. A process compiles each
profile once for one set of capabilities, and the daemon's spare shim
compiles Docker's default ahead of need. Podman's easyseccomp does the same
with a cache keyed by profile, capabilities and architecture, and crun
loads such a program raw (its ``run.oci.seccomp_bpf_data`` annotation).

A name this host's libseccomp does not know (a syscall newer than it) is
skipped and listed in ``skipped``, as runc does: the container cannot call
it anyway, so the default action applies. ``verdicts`` answers the question
a learner asks (is ``mount`` allowed in this container?) without loading
anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import InvalidInputError
from ..kernel import seccomp as kseccomp

# Go's architecture names (Docker's includes.arches) for uname(2)'s machine names. (os.uname() rather than
# the platform module, which compiles a dozen regular expressions at import: each container's create pays it.)
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x",
           "i686": "x86", "armv7l": "arm"}
SCMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "riscv64": "SCMP_ARCH_RISCV64",
             "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "x86": "SCMP_ARCH_X86", "arm": "SCMP_ARCH_ARM"}


@dataclass(frozen=True)
class Rule:
    """One entry of ``syscalls``: names, an action, optional argument conditions and filters."""

    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[tuple[int, str, int, int], ...] = ()  # (index, op, value, valueTwo), all must hold
    includes: dict = field(default_factory=dict, hash=False)
    excludes: dict = field(default_factory=dict, hash=False)

    def applies(self, caps: set[str], arch: str, kernel: tuple[int, ...]) -> bool:
        """Whether Docker's includes/excludes keep this rule for a container with ``caps`` on ``arch``."""
        inc, exc = self.includes, self.excludes
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            return False
        if inc.get("arches") and arch not in inc["arches"]:
            return False
        if inc.get("minKernel") and kernel < _version(inc["minKernel"]):
            return False
        if exc.get("caps") and set(exc["caps"]) & caps:
            return False
        if exc.get("arches") and arch in exc["arches"]:
            return False
        return not (exc.get("minKernel") and kernel >= _version(exc["minKernel"]))


@dataclass(frozen=True)
class Profile:
    """A seccomp profile, read from Docker's or the OCI spec's JSON (``from_json``)."""

    default_action: str
    default_errno: int | None
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]
    source: str = ""

    @classmethod
    def from_json(cls, data: dict | str | os.PathLike, source: str = "") -> "Profile":
        """Read a profile from a dict, a JSON string, or a file; bad input is an InvalidInputError."""
        if isinstance(data, os.PathLike) or isinstance(data, str) and not data.lstrip().startswith("{"):
            path = Path(data)
            try:
                data, source = json.loads(path.read_text()), str(path)
            except (OSError, ValueError) as exc:
                raise InvalidInputError(f"cannot read the seccomp profile {path}: {exc}",
                                        "give a JSON file in Docker's or the OCI spec's form") from None
        elif isinstance(data, str):
            data = json.loads(data)
        where = source or "the seccomp profile"
        _need(data.get("defaultAction") in kseccomp.ACTIONS, f"{where}: defaultAction {data.get('defaultAction')!r}")
        arches = list(data.get("architectures") or [])
        native = SCMP_ARCH.get(GO_ARCH.get(os.uname().machine, ""), "")
        for entry in data.get("archMap") or []:  # Docker: the native architecture and its sub-architectures
            if entry.get("architecture") == native:
                arches = [native, *entry.get("subArchitectures", [])]
        rules = []
        for i, r in enumerate(data.get("syscalls") or []):
            names = r.get("names") or ([r["name"]] if r.get("name") else [])
            _need(names and all(isinstance(n, str) for n in names), f"{where}: syscalls[{i}] has no names")
            _need(r.get("action") in kseccomp.ACTIONS, f"{where}: syscalls[{i}].action {r.get('action')!r}")
            args = []
            for a in r.get("args") or []:
                _need(a.get("op") in kseccomp.OPERATORS and 0 <= a.get("index", -1) <= 5,
                      f"{where}: syscalls[{i}] argument condition {a}")
                args.append((a["index"], a["op"], int(a.get("value", 0)), int(a.get("valueTwo", 0))))
            rules.append(Rule(tuple(names), r["action"], r.get("errnoRet"), tuple(args),
                              dict(r.get("includes") or {}), dict(r.get("excludes") or {})))
        return cls(data["defaultAction"], data.get("defaultErrnoRet"), tuple(arches), tuple(rules), source)

    def resolve(self, caps: set[str], arch: str | None = None, kernel: tuple[int, ...] | None = None) -> list[Rule]:
        """The rules that hold for a container with capabilities ``caps`` (CAP_* names) on ``arch``."""
        arch = arch or GO_ARCH.get(os.uname().machine, os.uname().machine)
        kernel = kernel or _version(os.uname().release)
        return [r for r in self.rules if r.applies(set(caps), arch, kernel)]


def _need(ok, what: str) -> None:
    if not ok:
        raise InvalidInputError(f"bad seccomp profile: {what}",
                                "see the OCI runtime spec's linux.seccomp or Docker's seccomp-default.json")


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def verdicts(rules: list[Rule], default: str = "deny") -> dict[str, str]:
    """Each named syscall's fate under resolved ``rules``: "allow", "conditional" (only for some
    arguments) or the action's short name ("errno 38"...). Names not listed get ``default``."""
    seen: dict[str, set[str]] = {}
    for r in rules:
        if r.action == "SCMP_ACT_ALLOW":
            fate = "conditional" if r.args else "allow"
        else:
            fate = f"{r.action.removeprefix('SCMP_ACT_').lower()}{f' {r.errno_ret}' if r.errno_ret else ''}"
        for n in r.names:
            seen.setdefault(n, set()).add(fate)
    return {n: "allow" if "allow" in f else "conditional" if "conditional" in f else sorted(f)[0]
            for n, f in seen.items()}


@dataclass
class Compiled:
    """A filter ready to load, and what compiling it found."""

    filter: object                       # a kernel.seccomp.Filter (None: loaded from keep_programs_in's files)
    rules: int                           # rules given to libseccomp
    skipped: list[str]                   # names this libseccomp does not know (as runc: skipped)
    profile: Profile
    bpf: bytes = b""                     # the program libseccomp generated from it: what the init loads

    def __repr__(self) -> str:
        return (f"<seccomp filter from {self.profile.source or 'a profile'}: {self.rules} rules, "
                f"default {self.profile.default_action}, {len(self.skipped)} unknown name(s) skipped>")


_compiled: dict[tuple, Compiled] = {}  # this process's filters, by what they were compiled from
_kept_in: Path | None = None           # where programs are kept for other processes too (keep_programs_in)


def compile(profile: Profile, caps: set[str]) -> Compiled:
    """Resolve ``profile`` for ``caps`` and this machine, build the libseccomp filter and its BPF (not loaded)."""
    key = (repr(replace(profile, source="")), frozenset(caps))
    if key not in _compiled:
        kept = _program_file(profile, caps)
        _compiled[key] = _stored(kept, profile) or _store(kept, _compile(profile, caps))
    return replace(_compiled[key], profile=profile)


def keep_programs_in(directory: str | os.PathLike | None) -> None:
    """Keep the programs this process compiles in ``directory`` too, and look there before compiling.

    The daemon's shims share one: each container's shim then loads Docker's default program from a
    file instead of compiling it (about 14 ms of CPU, and 8 ms more to load libseccomp's binding).
    A program is found by a hash of what libseccomp is given (the resolved rules, the default action,
    the architectures), and holds no filter object (``Compiled.filter`` is None): loading needs only
    the BPF. The directory must be root's or ours, writable by nobody else; the daemon empties it at
    its start, so a program never outlives the libseccomp that generated it by more than one daemon.
    """
    global _kept_in
    _kept_in = Path(directory) if directory is not None else None


def _program_file(profile: Profile, caps: set[str]) -> Path | None:
    """Where the program for these rules is kept (keep_programs_in), or None if nowhere."""
    if _kept_in is None:
        return None
    import hashlib
    given = repr((profile.default_action, profile.default_errno, profile.architectures, os.uname().machine,
                  profile.resolve(caps)))
    return _kept_in / (hashlib.sha256(given.encode()).hexdigest() + ".json")


def _stored(path: Path | None, profile: Profile) -> Compiled | None:
    """The program kept in ``path``, if one is there and its directory is trusted."""
    import base64
    if path is None:
        return None
    try:
        st = os.stat(path.parent)
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            return None  # someone else could have written it
        data = json.loads(path.read_text())
        return Compiled(None, int(data["rules"]), list(data["skipped"]), profile, base64.b64decode(data["bpf"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: compiled again (and written again)


def _store(path: Path | None, compiled: Compiled) -> Compiled:
    import base64
    if path is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps({"rules": compiled.rules, "skipped": compiled.skipped,
                                       "bpf": base64.b64encode(compiled.bpf).decode()}))
            tmp.rename(path)  # atomic: a reader sees a whole program or none
        except OSError:
            tmp.unlink(missing_ok=True)  # not kept: the next process compiles it too
    return compiled


def _compile(profile: Profile, caps: set[str]) -> Compiled:
    if kseccomp.MISSING:
        raise InvalidInputError(f"seccomp profiles need libseccomp: {kseccomp.MISSING}",
                                "pip install pyseccomp (and apt install libseccomp2), or use seccomp=unconfined")
    default = kseccomp.action(profile.default_action, profile.default_errno)
    native = kseccomp.native_arch()
    arches = [a for a in profile.architectures if a in kseccomp.ARCHES] or [native]
    if native not in arches:
        arches.insert(0, native)
    f = kseccomp.Filter(default, arches)
    skipped, count = [], 0
    for rule in profile.resolve(caps):
        act = kseccomp.action(rule.action, rule.errno_ret)
        if act == default and not rule.args:
            continue  # libseccomp refuses a rule that repeats the default action
        for name in rule.names:
            number = kseccomp.resolve(name)
            if number == -1:
                skipped.append(name)
                continue
            f.add(act, number, rule.args)
            count += 1
    return Compiled(f, count, sorted(set(skipped)), profile, f.bpf())


def load_default() -> Profile:
    """The lab's default profile (``default_profile.py``), Docker's in effect."""
    from . import default_profile
    return Profile.from_json(default_profile.profile(), "the lab's default profile")


def mode(pid: int | str = "self") -> int:
    """/proc/PID/status's ``Seccomp:`` 0 (off), 1 (strict) or 2 (filter)."""
    from ..proc.status import status
    return int(status(pid)["Seccomp"])


__all__ = ["Rule", "Profile", "Compiled", "verdicts", "compile", "load_default", "mode", "GO_ARCH"]
