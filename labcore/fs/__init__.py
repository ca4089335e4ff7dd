"""Filesystems of containers: overlay mounts, image layers, safe extraction, rootfs.

* ``overlay``  overlayfs mounts, whiteouts and opaque directories (chapters 06, 11, deep dive B)
* ``layers``   a directory (or its changes) as a tar layer, with its diff_id and digest
* ``extract``  applying an untrusted layer tar without ever leaving the target
* ``tarsafety`` hostile-archive checks: header bounds, limits, safe names and mtimes, regular blobs
* ``digest``   a blob's diff_id through gzip, decompressed in bounded chunks
* ``rootfs``   pivot_root(2) into a container's root (used by ``labcore.ns.process``)
* ``scratch``  lab-owned directories, recorded by the tracker
* ``mounts``   bind mounts (volumes) and /proc/PID/mountinfo
* ``storage``  measurements of chapter 11: copy-up cost, overlay vs volume writes
"""

import importlib

_MODULES = ("digest", "extract", "layers", "mounts", "overlay", "rootfs", "scratch", "storage", "tarsafety")
# The short names, loaded on first use (as labcore's own): a shim or runtime process that only unmounts
# (labcore.fs.mounts) should not load tarfile, gzip, hashlib and statistics for the layers it never reads.
_NAMES = {"Applied": "extract", "Limits": "extract", "UnsafeArchiveError": "extract", "apply_layer": "extract",
          "Layer": "layers", "diff": "layers", "make_layer": "layers", "sha256_file": "layers",
          "Overlay": "overlay", "container_layer": "overlay", "is_opaque": "overlay", "is_whiteout": "overlay",
          "mount": "overlay", "Rootfs": "rootfs", "Scratch": "scratch"}


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value  # the next lookup is an ordinary attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODULES) | set(_NAMES))


__all__ = [*_MODULES, *_NAMES]
