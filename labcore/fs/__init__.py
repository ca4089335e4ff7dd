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

from . import digest, extract, layers, mounts, overlay, rootfs, scratch, storage, tarsafety
from .extract import Applied, Limits, UnsafeArchiveError, apply_layer
from .layers import Layer, diff, make_layer, sha256_file
from .overlay import Overlay, container_layer, is_opaque, is_whiteout, mount
from .rootfs import Rootfs
from .scratch import Scratch

__all__ = ["digest", "extract", "layers", "mounts", "overlay", "rootfs", "scratch", "storage", "tarsafety",
           "Applied", "Limits", "UnsafeArchiveError", "apply_layer", "Layer", "diff", "make_layer", "sha256_file",
           "Overlay", "container_layer", "is_opaque", "is_whiteout", "mount", "Rootfs", "Scratch"]
