"""Reading a bundle's ``config.json``, checked before anything is created.

A runtime that met a bad field half-way through setting up a container
would have to undo namespaces, mounts and cgroups it already made. So the
whole file is checked first, as pure code: each field has the JSON type the
runtime spec's schema gives it, namespace types are ones Linux has, the
root filesystem exists. A mistake is an ``InvalidInputError`` naming the
field (``linux.namespaces[2].type``) and how to fix it; nothing exists yet.

``load(bundle)`` returns the parsed dict with the few defaults the spec
implies filled in, and ``root`` resolved against the bundle.
"""

from __future__ import annotations

import json
import os

from ..errors import InvalidInputError

# The namespace kinds of config.json and the /proc/PID/ns file each one is.
NAMESPACES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup", "time": "time"}
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
PROPAGATION = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
MAX_CONFIG = 4 << 20


def _bad(field: str, why: str, fix: str = "see the runtime spec's config.md") -> InvalidInputError:
    return InvalidInputError(f"config.json: {field} {why}", fix)


def _type(value, kind, field: str, required: bool = False):
    """Check one field's JSON type (``kind``: a Python type or tuple); None is 'absent'."""
    if value is None:
        if required:
            raise _bad(field, "is missing")
        return value
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "an object"}
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise _bad(field, f"must be {names.get(kind, kind)}, not {type(value).__name__} {json.dumps(value)[:40]}")
    return value


def _strings(value, field: str) -> list[str]:
    for i, item in enumerate(_type(value, list, field) or []):
        _type(item, str, f"{field}[{i}]")
    return value or []


def check(cfg, bundle: str = ".") -> dict:
    """Check a parsed config (pure). Returns it, with ``root.path`` made absolute against ``bundle``."""
    if not isinstance(cfg, dict):
        raise _bad("(the document)", "must be a JSON object")
    _type(cfg.get("ociVersion"), str, "ociVersion", required=True)
    root = _type(cfg.get("root"), dict, "root", required=True)
    path = _type(root.get("path"), str, "root.path", required=True)
    _type(root.get("readonly"), bool, "root.readonly")
    full = path if os.path.isabs(path) else os.path.join(os.path.abspath(bundle), path)
    if not os.path.isdir(full):
        raise _bad("root.path", f"{path!r} is not a directory ({full})", "unpack a root filesystem there")
    root["path"] = os.path.normpath(full)
    _type(cfg.get("hostname"), str, "hostname")
    _type(cfg.get("annotations"), dict, "annotations")
    process = _type(cfg.get("process"), dict, "process")
    if process is not None:
        _check_process(process)
    for i, m in enumerate(_type(cfg.get("mounts"), list, "mounts") or []):
        _type(m, dict, f"mounts[{i}]")
        _type(m.get("destination"), str, f"mounts[{i}].destination", required=True)
        if not m["destination"].startswith("/"):
            raise _bad(f"mounts[{i}].destination", f"{m['destination']!r} is not absolute")
        _type(m.get("source"), str, f"mounts[{i}].source")
        _type(m.get("type"), str, f"mounts[{i}].type")
        _strings(m.get("options"), f"mounts[{i}].options")
    hooks = _type(cfg.get("hooks"), dict, "hooks") or {}
    for name, items in hooks.items():
        if name not in HOOKS:
            continue  # unknown hook kinds are ignored, as the spec asks of unknown properties
        for i, h in enumerate(_type(items, list, f"hooks.{name}")):
            _type(h, dict, f"hooks.{name}[{i}]")
            _type(h.get("path"), str, f"hooks.{name}[{i}].path", required=True)
            _strings(h.get("args"), f"hooks.{name}[{i}].args")
            _strings(h.get("env"), f"hooks.{name}[{i}].env")
            _type(h.get("timeout"), int, f"hooks.{name}[{i}].timeout")
    linux = _type(cfg.get("linux"), dict, "linux") or {}
    _check_linux(linux)
    cfg.setdefault("linux", linux)
    return cfg


def _check_process(p: dict) -> None:
    _strings(p.get("args"), "process.args")
    _strings(p.get("env"), "process.env")
    cwd = _type(p.get("cwd"), str, "process.cwd", required=True)
    if not cwd.startswith("/"):
        raise _bad("process.cwd", f"{cwd!r} is not absolute", "start it with /")
    _type(p.get("terminal"), bool, "process.terminal")
    size = _type(p.get("consoleSize"), dict, "process.consoleSize") or {}
    for key in ("height", "width"):
        _type(size.get(key), int, f"process.consoleSize.{key}")
    _type(p.get("noNewPrivileges"), bool, "process.noNewPrivileges")
    _type(p.get("oomScoreAdj"), int, "process.oomScoreAdj")
    user = _type(p.get("user"), dict, "process.user") or {}
    _type(user.get("uid"), int, "process.user.uid")
    _type(user.get("gid"), int, "process.user.gid")
    _type(user.get("umask"), int, "process.user.umask")
    for i, g in enumerate(_type(user.get("additionalGids"), list, "process.user.additionalGids") or []):
        _type(g, int, f"process.user.additionalGids[{i}]")
    for i, r in enumerate(_type(p.get("rlimits"), list, "process.rlimits") or []):
        _type(r, dict, f"process.rlimits[{i}]")
        _type(r.get("type"), str, f"process.rlimits[{i}].type", required=True)
        _type(r.get("soft"), int, f"process.rlimits[{i}].soft", required=True)
        _type(r.get("hard"), int, f"process.rlimits[{i}].hard", required=True)
    caps = _type(p.get("capabilities"), dict, "process.capabilities") or {}
    for s in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        _strings(caps.get(s), f"process.capabilities.{s}")


def _check_linux(linux: dict) -> None:
    seen = set()
    for i, ns in enumerate(_type(linux.get("namespaces"), list, "linux.namespaces") or []):
        _type(ns, dict, f"linux.namespaces[{i}]")
        kind = _type(ns.get("type"), str, f"linux.namespaces[{i}].type", required=True)
        if kind not in NAMESPACES:
            raise _bad(f"linux.namespaces[{i}].type", f"{kind!r} is not a namespace type",
                       "one of " + ", ".join(NAMESPACES))
        if kind in seen:
            raise _bad(f"linux.namespaces[{i}].type", f"{kind!r} is given twice")
        seen.add(kind)
        path = _type(ns.get("path"), str, f"linux.namespaces[{i}].path")
        if path and not os.path.exists(path):
            raise _bad(f"linux.namespaces[{i}].path", f"{path!r} does not exist",
                       "name a /proc/PID/ns/ file or a bind mount of one")
    for key in ("uidMappings", "gidMappings"):
        for i, m in enumerate(_type(linux.get(key), list, f"linux.{key}") or []):
            _type(m, dict, f"linux.{key}[{i}]")
            for f in ("containerID", "hostID", "size"):
                _type(m.get(f), int, f"linux.{key}[{i}].{f}", required=True)
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in seen:
        raise _bad("linux.uidMappings", "needs a user namespace", "add {\"type\": \"user\"} to linux.namespaces")
    for i, d in enumerate(_type(linux.get("devices"), list, "linux.devices") or []):
        _type(d, dict, f"linux.devices[{i}]")
        _type(d.get("path"), str, f"linux.devices[{i}].path", required=True)
        kind = _type(d.get("type"), str, f"linux.devices[{i}].type", required=True)
        if kind not in ("c", "b", "u", "p"):
            raise _bad(f"linux.devices[{i}].type", f"{kind!r} is not c, b, u or p")
        for f in ("major", "minor", "fileMode", "uid", "gid"):
            _type(d.get(f), int, f"linux.devices[{i}].{f}")
    _strings(linux.get("maskedPaths"), "linux.maskedPaths")
    _strings(linux.get("readonlyPaths"), "linux.readonlyPaths")
    sysctl = _type(linux.get("sysctl"), dict, "linux.sysctl") or {}
    for k, v in sysctl.items():
        _type(v, str, f"linux.sysctl.{k}")
    _type(linux.get("cgroupsPath"), str, "linux.cgroupsPath")
    _type(linux.get("resources"), dict, "linux.resources")
    prop = _type(linux.get("rootfsPropagation"), str, "linux.rootfsPropagation")
    if prop and prop not in PROPAGATION:
        raise _bad("linux.rootfsPropagation", f"{prop!r} is not a propagation", "one of " + ", ".join(PROPAGATION[1:]))
    _type(linux.get("seccomp"), dict, "linux.seccomp")


def parse(text: str | bytes, bundle: str = ".") -> dict:
    """Parse and check config.json's text."""
    try:
        cfg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"config.json is not valid JSON: {exc}", "fix the file (python3 -m json.tool shows where)") \
            from None
    return check(cfg, bundle)


def load(bundle: str) -> dict:
    """Read ``BUNDLE/config.json`` and check it."""
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):
        raise InvalidInputError(f"bundle {bundle} is not a directory", "give --bundle the directory holding config.json")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG + 1)
    except FileNotFoundError:
        raise InvalidInputError(f"config.json: {path} does not exist",
                                "write one with `labcore runtime spec` in the bundle") from None
    if len(data) > MAX_CONFIG:
        raise InvalidInputError(f"config.json: {path} is larger than {MAX_CONFIG} bytes", "this is not a config.json")
    return parse(data, bundle)


__all__ = ["load", "parse", "check", "NAMESPACES", "HOOKS"]
