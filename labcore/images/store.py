"""Unpacking images: flat into one rootfs, or layer by layer for overlayfs.

Two ways to turn an image's layers into files:

* **flat** (``unpack``): apply every layer in order onto one directory,
  whiteouts deleting what they name. This is what ``umoci unpack`` does,
  and gives a rootfs for a runtime such as runc.
* **one directory per layer** (``LayerStore``): what Docker's overlay2
  driver keeps under /var/lib/docker/overlay2/<id>/diff. Each layer is
  extracted once, with whiteouts written in overlayfs's form, and a
  container mounts them all as lowerdirs under its own upper dir. Ten
  containers of one image share the same layer directories.

Either way, every blob is checked against its digest (and its diff_id)
*before* anything is extracted: a corrupt or tampered layer is refused. The
file that was checked is the one extracted (never the name opened again),
and a layer that fails halfway leaves nothing: ``unpack`` fills a staging
directory next to DEST and renames it to DEST only when every layer is in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError
from ..fs import overlay as ov
from ..fs.extract import Applied, Limits, apply_layer, remove_tree
from ..fs.scratch import Scratch
from .layout import Image, Layout, parse_ref


@dataclass
class Unpacked:
    """A rootfs unpacked from an image, and what each layer did to it."""

    image: Image
    rootfs: Path
    layers: list[Applied] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Unpacked {len(self.layers)} layer(s) of {self.image.tag or self.image.digest[:19]} into {self.rootfs}>"


def open_image(ref: str | os.PathLike, tag: str | None = None) -> Image:
    """``LAYOUT[:TAG]`` (or a path and a tag) -> the verified Image."""
    path, parsed = parse_ref(os.fspath(ref))
    return Layout.open(path).image(tag if tag is not None else parsed)


def unpack(ref: str | os.PathLike | Image, dest: str | os.PathLike, *, limits: Limits | None = None) -> Unpacked:
    """Apply an image's layers in order onto ``dest`` (new or empty), verifying every blob first.

    ``labcore image unpack LAYOUT[:TAG] DEST`` calls this. Used by 06.
    """
    image = ref if isinstance(ref, Image) else open_image(ref)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInputError(f"{dest} exists and is not an empty directory",
                                "unpack into a new directory: nothing of yours gets overwritten")
    files = []
    try:
        for descriptor, diff_id in zip(image.layers, image.diff_ids):
            files.append(image.layout.open_layer(descriptor, diff_id))  # all of them, before writing anything
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.with_name(f".{dest.name}.unpacking-{os.getpid()}")
        staging.mkdir()
        try:
            result = Unpacked(image, dest)
            for f in files:
                result.layers.append(apply_layer(f, staging, mode="flat", limits=limits))
            os.replace(staging, dest)  # rename(2): replaces an empty directory, or makes DEST
        except BaseException:
            remove_tree(staging)
            raise
    finally:
        for f in files:
            f.close()
    return result


class LayerStore:
    """Layers extracted one directory each, keyed by diff_id, ready to be overlay lowerdirs."""

    def __init__(self, name: str = "layers", on_disk: bool = True):
        # On disk by default (the lab's data directory): an image's layers can be large, and
        # /run, where the state directory lives, is a small tmpfs taken from RAM.
        self.scratch = Scratch(name, on_disk=on_disk)
        self.dirs: dict[str, Path] = {}    # diff_id -> directory

    def __repr__(self) -> str:
        return f"<LayerStore {len(self.dirs)} layer(s) in {self.scratch.path}>"

    def add(self, layout: Layout, descriptor: dict, diff_id: str) -> Path:
        """Verify and extract one layer (once) in overlay form; returns its directory."""
        if diff_id not in self.dirs:
            with layout.open_layer(descriptor, diff_id) as verified:
                target = self.scratch.dir(f"l{len(self.dirs)}")  # short names: mount options fit in a page
                try:
                    apply_layer(verified, target, mode="overlay")
                except BaseException:
                    remove_tree(target)  # a layer that failed halfway is not kept
                    raise
            self.dirs[diff_id] = target
        return self.dirs[diff_id]

    def lowerdirs(self, image: Image) -> list[Path]:
        """The image's layers as overlay lowerdirs: **topmost first**, as overlayfs wants them."""
        dirs = [self.add(image.layout, d, i) for d, i in zip(image.layers, image.diff_ids)]
        return list(reversed(dirs))

    def container(self, image: Image, name: str = "container") -> ov.Overlay:
        """A container's root: the image's layers under a fresh writable layer. Used by 06, 11, B."""
        lower = self.lowerdirs(image)
        if len(lower) == 0:
            raise InvalidInputError("the image has no layers", "build one with COPY or RUN first")
        return ov.container_layer(lower, name=name)

    def remove(self) -> None:
        self.scratch.remove()
        self.dirs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


__all__ = ["unpack", "open_image", "Unpacked", "LayerStore"]
