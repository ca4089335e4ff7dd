"""The daemon's image store: loaded images, named ``NAME:TAG``, layers ready for overlayfs.

Docker keeps images in two places: the content (manifests, configs,
compressed layers: containerd's content store, or ``/var/lib/docker/image``)
and the **unpacked layers**, one directory each, which overlay2 stacks as
lowerdirs under a container's writable layer. The lab's store is the same
two things under its data directory::

    DATA/images/layout/   one OCI image layout holding every loaded image's blobs;
                          index.json names each image "NAME:TAG" (the ref.name annotation)
    DATA/images/layers/   each layer extracted once, in overlay form, by its diff_id

``load`` copies one of chapter 06's layouts in (every blob checked against
its digest on the way) and extracts the layers it did not have yet;
``labcore image load LAYOUT[:TAG] --name NAME:TAG`` calls it. An image's
**ID**, as ``docker images`` shows it, is the digest of its config: two
images with the same config and layers are the same image whatever their names.

The store is one tracker record (kind ``path``): it persists like
Docker's, owned by the running daemon (``labcore cleanup`` spares it while
the daemon runs) or by nobody once the daemon has stopped (then cleanup
deletes it).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError, LabError
from ..fs.extract import apply_layer, remove_tree
from ..images.layout import MANIFEST, REF_NAME, Image, Layout, parse_ref

NAME = re.compile(r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def root() -> Path:
    return tracker.data_dir() / "images"


def normalize(ref: str) -> str:
    """``busybox`` -> ``busybox:latest``; ``docker.io/library/busybox`` -> ``busybox:latest``; checked."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"image name {ref!r} is empty", "name it NAME[:TAG], for example lab/busybox:1")
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if not NAME.match(name) or not TAG.match(tag):
        raise InvalidInputError(f"image name {ref!r} is not NAME[:TAG]",
                                "lower-case letters, digits, . _ - and / in the name; letters, digits, . _ - in the tag")
    return f"{name}:{tag}"


def _store(create: bool = False) -> Layout | None:
    base = root()
    if not base.exists():
        if not create:
            return None
        tracker.check_private(tracker.data_dir(), "data directory")
        with tracker.default().created("path", base) as rec:
            base.mkdir(mode=0o755)
        rec.owner, rec.owner_start = 0, None  # it persists after this process (see adopt_store)
        tracker.default().update(rec, what="image store")
    return Layout.create(base / "layout")


def adopt_store(owner: int, start: int | None) -> None:
    """Make the store the running daemon's: ``labcore cleanup`` spares it while containers may use its
    layers. Once that daemon has stopped, cleanup deletes it (as it does a store nobody adopted)."""
    for rec in tracker.default().records():
        if rec.kind == "path" and rec.target == str(root()) and (rec.owner, rec.owner_start) != (owner, start):
            rec.owner, rec.owner_start = owner, start
            tracker.default().update(rec)


def layer_dir(diff_id: str) -> Path:
    return root() / "layers" / diff_id.split(":", 1)[1][:16]  # short: overlay's options fit in a page


def load(source: str | os.PathLike, name: str | None = None) -> "StoredImage":
    """Copy an image from an OCI layout (``LAYOUT[:TAG]``) into the store under ``name``."""
    path, tag = parse_ref(os.fspath(source))
    name = normalize(name) if name is not None else None  # a bad name is refused before anything is read
    image = Layout.open(path).image(tag)
    name = name or normalize(f"{Path(path).resolve().name.lower()}:{tag or 'latest'}")
    store = _store(create=True)
    src = image.layout
    store.put_file(src.blob_path(image.manifest["config"]["digest"]), image.manifest["config"]["digest"])
    for layer, diff_id in zip(image.layers, image.diff_ids):
        store.put_file(src.blob_path(layer["digest"]), layer["digest"])
        target = layer_dir(diff_id)
        if not target.exists():
            staging = target.with_name(f".{target.name}-{os.getpid()}")
            staging.mkdir(parents=True)
            try:
                with store.open_layer(layer, diff_id) as verified:  # checked again, in the store
                    apply_layer(verified, staging, mode="overlay")
                os.rename(staging, target)
            except BaseException:
                remove_tree(staging)
                raise
    store.put_file(src.blob_path(image.digest), image.digest)
    size = os.path.getsize(store.blob_path(image.digest))
    descriptor = {"mediaType": image.manifest.get("mediaType", MANIFEST), "digest": image.digest, "size": size}
    index = store.index()
    keep = [m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != name]
    index["manifests"] = keep + [dict(descriptor, annotations={REF_NAME: name})]
    store._write_index(index)
    return find(name)


class StoredImage:
    """One image of the store: its names, its verified manifest and config, its layer directories."""

    def __init__(self, image: Image, names: list[str]):
        self.image, self.names = image, names

    def __repr__(self) -> str:
        return f"<StoredImage {', '.join(self.names)} {self.id[:19]}>"

    @property
    def id(self) -> str:
        return self.image.manifest["config"]["digest"]

    @property
    def config(self) -> dict:
        return self.image.runtime

    def lowerdirs(self) -> list[Path]:
        """The layers as overlay lowerdirs, topmost first."""
        dirs = [layer_dir(d) for d in self.image.diff_ids]
        for d in dirs:
            if not d.is_dir():
                raise InvalidInputError(f"layer directory {d} is missing", "load the image again")
        return list(reversed(dirs))

    def size(self) -> int:
        return sum(int(layer.get("size", 0)) for layer in self.image.layers)

    def created(self) -> str:
        return self.image.config.get("created") or "1970-01-01T00:00:00Z"

    def summary(self) -> dict:
        """One entry of ``GET /images/json`` (``docker images``)."""
        return {"Id": self.id, "ParentId": "", "RepoTags": self.names, "RepoDigests": [],
                "Created": _epoch(self.created()), "Size": self.size(), "VirtualSize": self.size(),
                "SharedSize": -1, "Labels": self.config.get("Labels") or {}, "Containers": -1}

    def inspect(self) -> dict:
        """``GET /images/NAME/json`` (``docker image inspect``)."""
        cfg = self.image.config
        return {"Id": self.id, "RepoTags": self.names, "RepoDigests": [], "Parent": "", "Comment": "",
                "Created": self.created(), "Container": "", "DockerVersion": "", "Author": cfg.get("author", ""),
                "Config": _docker_config(self.config), "Architecture": cfg.get("architecture"), "Os": cfg.get("os"),
                "Size": self.size(), "VirtualSize": self.size(),
                "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": ":".join(map(str, self.lowerdirs()))}},
                "RootFS": {"Type": "layers", "Layers": list(self.image.diff_ids)},
                "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}


def _docker_config(rt: dict) -> dict:
    out = {"Hostname": "", "Domainname": "", "User": rt.get("User", ""), "AttachStdin": False, "AttachStdout": False,
           "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": rt.get("Env") or [],
           "Cmd": rt.get("Cmd"), "Image": "", "Volumes": rt.get("Volumes"), "WorkingDir": rt.get("WorkingDir", ""),
           "Entrypoint": rt.get("Entrypoint"), "OnBuild": None, "Labels": rt.get("Labels")}
    return out


def _epoch(text: str) -> int:
    """RFC 3339 (an image config's ``created``) -> seconds since 1970, fractions dropped."""
    import calendar
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


def images() -> list[StoredImage]:
    """Every image of the store, one entry per image ID with all its names."""
    store = _store()
    if store is None:
        return []
    by_digest: dict[str, list[str]] = {}
    for m in store.index().get("manifests", []):
        ref = (m.get("annotations") or {}).get(REF_NAME)
        if ref:
            by_digest.setdefault(m["digest"], []).append(ref)
    out, seen = [], {}
    for digest, names in by_digest.items():
        image = store.image(names[0])
        cid = image.manifest["config"]["digest"]
        if cid in seen:
            seen[cid].names += names
            continue
        seen[cid] = StoredImage(image, sorted(names))
        out.append(seen[cid])
    return out


def find(ref: str) -> StoredImage:
    """An image by name (``busybox``, ``busybox:latest``) or ID (``sha256:...`` or a prefix of 4+ hex digits)."""
    every = images()
    hexpart = ref.removeprefix("sha256:")
    if re.fullmatch(r"[0-9a-f]{4,64}", hexpart):
        hits = [i for i in every if i.id.split(":", 1)[1].startswith(hexpart)]
        if len(hits) == 1:
            return hits[0]
    try:
        name = normalize(ref)
    except InvalidInputError as exc:
        raise InvalidInputError(f"invalid reference format: {exc.what}", exc.fix) from None
    for image in every:
        if name in image.names:
            return image
    raise NotFound(f"No such image: {ref}", "load it: labcore image load LAYOUT[:TAG] --name NAME:TAG")


class NotFound(InvalidInputError):
    """An image or container that is not there (the API answers 404)."""


class Conflict(LabError):
    """The request does not fit the container's state (the API answers 409)."""


def remove_store() -> None:
    """Delete the whole store (its record undone)."""
    for rec in tracker.default().records():
        if rec.kind == "path" and rec.target == str(root()):
            tracker.default().undo(rec)


__all__ = ["adopt_store", "load", "find", "images", "normalize", "root", "layer_dir", "StoredImage", "NotFound", "remove_store"]
