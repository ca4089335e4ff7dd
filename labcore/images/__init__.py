"""Container images: the OCI image layout, unpacking, and a cached builder.

* ``layout``      index.json -> manifest -> config and layers, every blob verified by sha256
* ``store``       unpack an image flat, or keep its layers one directory each for overlayfs
* ``dockerfile``  the Dockerfile subset the builder reads (pure parser)
* ``builder``     build steps, RUN in a container, the layer cache keyed by a hash chain
* ``base``        a tiny busybox root filesystem, the lab's base "image"
* ``cli``         ``labcore image build | unpack | inspect``
"""

from . import base, builder, dockerfile, layout, store
from .base import busybox_rootfs
from .builder import Build, BuildCache, BuildError, build
from .layout import DigestMismatchError, Image, Layout
from .store import LayerStore, Unpacked, open_image, unpack

__all__ = ["base", "builder", "dockerfile", "layout", "store", "busybox_rootfs", "Build", "BuildCache",
           "BuildError", "build", "DigestMismatchError", "Image", "Layout", "LayerStore", "Unpacked",
           "open_image", "unpack"]
