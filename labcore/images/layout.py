"""The OCI image layout: an image as files in a directory, every blob named by its sha256.

The OCI image spec ("image-layout.md") stores an image like this::

    LAYOUT/oci-layout            {"imageLayoutVersion": "1.0.0"}
    LAYOUT/index.json            the entry point: which manifests, under which tags
    LAYOUT/blobs/sha256/<hex>    manifests, configs and layers, each named by its own hash

Three JSON documents chain together, each naming the next by digest:

* ``index.json`` lists manifests; the annotation
  ``org.opencontainers.image.ref.name`` is the tag.
* a **manifest** names one config and the layers, in order, by the digest
  of the blob as stored (compressed);
* the **config** holds what ``docker inspect`` shows (Env, Cmd,
  WorkingDir...), the history of build steps, and ``rootfs.diff_ids``: the
  digests of the *uncompressed* layers.

Because every name is a hash, nothing can be changed without changing the
names above it, and a reader can verify every byte. Everything read here is
untrusted: digests are checked, sizes bounded, and a digest is only ever
used as a file name once it matches ``sha256:<64 hex>``. A blob is opened
once (``O_NOFOLLOW | O_NONBLOCK``, and refused at once unless fstat(2) says
it is a regular file: a FIFO or a link to /dev/zero would never end), and
the file that was verified is the file that is then read. Blobs are
stored as copies: a hard link would share the inode with the file it came
from, which its owner can still change. Used by 06 and 12.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError, UnsupportedError
from .validate import _check_config, _check_manifest, check_digest, check_tag  # re-exported
from ..fs.layers import CHUNK, TAR, TAR_GZIP, HashingWriter, open_regular, sha256_fileobj, uncompressed_digest

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_TYPES = (TAR, TAR_GZIP, DOCKER_LAYER)
REF_NAME = "org.opencontainers.image.ref.name"
MAX_JSON = 4 << 20  # a manifest or config bigger than this is not one


class DigestMismatchError(InvalidInputError):
    """A blob's content does not match the digest it is stored under: corrupt, or tampered with."""


def goarch() -> str:
    """This machine's architecture in OCI's (Go's) words."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def canonical(doc: dict) -> bytes:
    """The bytes we store a JSON document as (compact, keys sorted: same content, same digest)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Image:
    """One image of a layout: its manifest and config, both verified against their digests."""

    layout: "Layout"
    tag: str | None
    digest: str          # of the manifest
    manifest: dict
    config: dict

    def __repr__(self) -> str:
        return f"<Image {self.tag or self.digest[:19]} in {self.layout.path}: {len(self.layers)} layer(s)>"

    @property
    def layers(self) -> list[dict]:
        return self.manifest.get("layers", [])

    @property
    def diff_ids(self) -> list[str]:
        return (self.config.get("rootfs") or {}).get("diff_ids", [])

    @property
    def runtime(self) -> dict:
        """The config's ``config`` part: Env, Cmd, WorkingDir..."""
        return self.config.get("config") or {}

    def summary(self) -> str:
        """What ``labcore image inspect`` prints."""
        rt = self.runtime
        lines = [f"image      {self.layout.path}:{self.tag or ''}",
                 f"manifest   {self.digest}",
                 f"config     {self.manifest['config']['digest']}",
                 f"platform   {self.config.get('os')}/{self.config.get('architecture')}",
                 f"env        {rt.get('Env', [])}",
                 f"cmd        {rt.get('Cmd')}",
                 f"workdir    {rt.get('WorkingDir') or '/'}",
                 f"layers     {len(self.layers)}"]
        built = [h for h in self.config.get("history", []) if not h.get("empty_layer")]
        for i, (layer, diff_id) in enumerate(zip(self.layers, self.diff_ids)):
            step = built[i].get("created_by", "") if i < len(built) else ""
            lines.append(f"  {i + 1}. digest  {layer['digest']}  {layer['size']} bytes  {layer['mediaType'].rsplit('.', 1)[-1]}")
            lines.append(f"     diff_id {diff_id}  {step}")
        return "\n".join(lines)



def json_object(data: bytes, what: str, fix: str) -> dict:
    """``data`` parsed as one JSON object (a manifest, a config, an index), or an error naming ``what``."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}", fix) from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{what} is not a JSON object", fix)
    return doc

class Layout:
    """An OCI image layout directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.blobs = self.path / "blobs" / "sha256"

    def __repr__(self) -> str:
        return f"<Layout {self.path}: tags {self.tags()}>"

    # --- creating and writing -------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike) -> "Layout":
        """Make an empty layout at ``path`` (or open the one already there)."""
        layout = cls(path)
        if layout.path.exists() and any(layout.path.iterdir()):
            return cls.open(path)
        layout.blobs.mkdir(parents=True, exist_ok=True)
        (layout.path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        layout._write_index({"schemaVersion": 2, "mediaType": INDEX, "manifests": []})
        return layout

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Layout":
        """Open an existing layout, checking that it is one."""
        layout = cls(path)
        marker = layout.path / "oci-layout"
        if not marker.is_file():
            raise InvalidInputError(f"{layout.path} is not an OCI image layout (no oci-layout file)",
                                    "give the directory that holds oci-layout, index.json and blobs/")
        with open_regular(marker) as f:
            text = f.read(4096)
        try:
            version = json.loads(text).get("imageLayoutVersion")
        except (ValueError, AttributeError):
            version = None
        if version != "1.0.0":
            raise UnsupportedError(f"{marker}: imageLayoutVersion {version!r}", "only layout version 1.0.0 exists")
        return layout

    def blob_path(self, digest: str) -> Path:
        return self.blobs / check_digest(digest).split(":", 1)[1]

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        """Store bytes as a blob; returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def put_json(self, doc: dict, media_type: str) -> dict:
        """Store a JSON document; returns its descriptor."""
        data = canonical(doc)
        return {"mediaType": media_type, "digest": self.put_bytes(data), "size": len(data)}

    def put_file(self, source: str | os.PathLike, digest: str) -> None:
        """Store a copy of a file under its digest, checked on the bytes copied.

        A copy, never a hard link: a link would be the learner's own file,
        which they (or anyone who can write it) could change after the check.
        """
        path = self.blob_path(digest)
        if path.is_file() and not path.is_symlink():
            return
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        try:
            with open_regular(source) as src, open(tmp, "xb") as out:
                sink = HashingWriter(out)
                while chunk := src.read(CHUNK):
                    sink.write(chunk)
            if sink.digest() != digest:
                raise DigestMismatchError(f"{source} has digest {sink.digest()}, not {digest}", "the file is corrupt")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _write_index(self, index: dict) -> None:
        tmp = self.path / f".index.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(index, indent=2) + "\n")
        os.replace(tmp, self.path / "index.json")  # atomic: a reader sees the old index or the new one

    def tag(self, descriptor: dict, tag: str) -> None:
        """Point ``tag`` at a manifest in index.json (replacing what it pointed at)."""
        check_tag(tag)
        index = self.index()
        keep = [m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) != tag]
        index["manifests"] = keep + [dict(descriptor, annotations={REF_NAME: tag})]
        self._write_index(index)

    def add_image(self, layers: list, tag: str, runtime: dict | None = None,
                  history: list[dict] | None = None, created: str = "1970-01-01T00:00:00Z") -> "Image":
        """Write a config and a manifest for ``layers`` (``labcore.fs.Layer``s, bottom first) and tag them.

        The blobs must already be in ``blobs/``. Used by notebook 06 to make an image by hand.
        """
        for layer in layers:
            if not self.has_blob(layer.digest):
                raise InvalidInputError(f"layer {layer.digest} is not in {self.blobs}",
                                        "make it with labcore.fs.make_layer(dir, layout.blobs)")
        config = {"created": created, "architecture": goarch(), "os": "linux", "config": runtime or {},
                  "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
                  "history": history or [{"created": created, "created_by": "labcore.fs.make_layer"}
                                         for _ in layers]}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": self.put_json(config, CONFIG),
                    "layers": [layer.descriptor() for layer in layers]}
        self.tag(self.put_json(manifest, MANIFEST), tag)
        return self.image(tag)

    # --- reading --------------------------------------------------------------
    def index(self) -> dict:
        return self._json(self.path / "index.json", "index.json")

    def tags(self) -> list[str]:
        return [m["annotations"][REF_NAME] for m in self.index().get("manifests", [])
                if REF_NAME in m.get("annotations", {})]

    def _json(self, path: Path, what: str, data: bytes | None = None) -> dict:
        if data is None:
            if not os.path.lexists(path):
                raise InvalidInputError(f"{what} missing in {self.path}", "the layout is incomplete")
            with open_regular(path, what) as f:
                data = f.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise InvalidInputError(f"{what} is larger than {MAX_JSON} bytes", "this is not a manifest")
        return json_object(data, what, "the layout is damaged")

    def open_blob(self, digest: str):
        """The blob as an open file, refused at once unless it is a regular file (not yet verified)."""
        path = self.blob_path(digest)
        if not os.path.lexists(path):
            raise InvalidInputError(f"blob {digest} missing from {self.path}", "the layout is incomplete")
        return open_regular(path, f"blob {digest}")

    def read_blob_json(self, descriptor: dict) -> dict:
        """Read a JSON blob after checking its size and digest against the descriptor (one open file)."""
        if not isinstance(descriptor, dict):
            raise InvalidInputError(f"descriptor {descriptor!r} is not a JSON object", "the layout is damaged")
        digest = check_digest(descriptor.get("digest"))
        with self.open_blob(digest) as f:
            size = os.fstat(f.fileno()).st_size
            if size != descriptor.get("size"):
                raise DigestMismatchError(f"blob {digest} is {size} bytes, the descriptor says "
                                          f"{descriptor.get('size')}", "the layout is corrupt or tampered with")
            if size > MAX_JSON:
                raise InvalidInputError(f"blob {digest} is larger than {MAX_JSON} bytes", "this is not a manifest")
            data = f.read(MAX_JSON + 1)
        self._check(digest, "sha256:" + hashlib.sha256(data).hexdigest())
        return self._json(self.blob_path(digest), f"blob {digest}", data)

    @staticmethod
    def _check(digest: str, actual: str) -> None:
        if actual != digest:
            raise DigestMismatchError(f"blob {digest} has content with digest {actual}",
                                      "the blob is corrupt or was tampered with: refusing it")

    def verify(self, digest: str) -> None:
        """Hash a blob and refuse it if it does not match its name."""
        with self.open_blob(check_digest(digest)) as f:
            self._check(digest, sha256_fileobj(f))

    def open_layer(self, descriptor: dict, diff_id: str):
        """A layer blob as an open file, checked against its digest and diff_id, rewound to its start.

        Read this file (``apply_layer`` takes it), not the path: the name
        could point at other bytes by then. Close it when done (``with``).
        """
        if not isinstance(descriptor, dict) or descriptor.get("mediaType") not in LAYER_TYPES:
            media = descriptor.get("mediaType") if isinstance(descriptor, dict) else descriptor
            raise UnsupportedError(f"layer media type {media!r}", "the lab reads tar and tar+gzip layers")
        digest = check_digest(descriptor.get("digest"))
        check_digest(diff_id)
        f = self.open_blob(digest)
        try:
            self._check(digest, sha256_fileobj(f))
            f.seek(0)
            actual = uncompressed_digest(f)
            if actual != diff_id:
                raise DigestMismatchError(f"layer {digest} uncompresses to {actual}, "
                                          f"but the config's diff_id is {diff_id}", "the image is inconsistent")
            f.seek(0)
            return f
        except BaseException:
            f.close()
            raise

    def verify_layer(self, descriptor: dict, diff_id: str) -> None:
        """Check a layer blob against its digest (stored bytes) and diff_id (uncompressed tar)."""
        self.open_layer(descriptor, diff_id).close()

    def image(self, tag: str | None = None) -> Image:
        """Resolve a tag (or the only image) to its verified manifest and config."""
        entries = self.index().get("manifests", [])
        if tag is not None:
            found = [m for m in entries if m.get("annotations", {}).get(REF_NAME) == tag]
            if not found:
                raise InvalidInputError(f"no tag {tag!r} in {self.path}", f"tags here: {', '.join(self.tags()) or 'none'}")
        else:
            found = entries
            if len(found) != 1:
                raise InvalidInputError(f"{self.path} holds {len(found)} images: which one?",
                                        f"add :TAG (tags here: {', '.join(self.tags()) or 'none'})")
        descriptor = found[-1]
        doc = self.read_blob_json(descriptor)
        if doc.get("mediaType") == INDEX or descriptor.get("mediaType") == INDEX:
            descriptor = self._pick_platform(doc)
            doc = self.read_blob_json(descriptor)
        if doc.get("mediaType", descriptor.get("mediaType")) not in (MANIFEST, DOCKER_MANIFEST):
            raise UnsupportedError(f"manifest media type {doc.get('mediaType')!r}", "the lab reads OCI image manifests")
        _check_manifest(doc, descriptor["digest"])
        config = self.read_blob_json(doc["config"])
        _check_config(config, doc["config"]["digest"])
        image = Image(self, tag, descriptor["digest"], doc, config)
        if len(image.layers) != len(image.diff_ids):
            raise InvalidInputError(f"manifest lists {len(image.layers)} layers but the config {len(image.diff_ids)} "
                                    "diff_ids", "the image is inconsistent")
        return image

    def _pick_platform(self, index: dict) -> dict:
        for m in index.get("manifests", []):
            p = m.get("platform", {})
            if p.get("os", "linux") == "linux" and p.get("architecture", goarch()) == goarch():
                return m
        raise UnsupportedError(f"no linux/{goarch()} image in the index", "this image was built for another machine")


def parse_ref(ref: str) -> tuple[Path, str | None]:
    """``LAYOUT[:TAG]`` -> (path, tag). A path that exists as given has no tag."""
    if os.path.exists(ref) or ":" not in ref:
        return Path(ref), None
    path, _, tag = ref.rpartition(":")
    if "/" in tag:
        return Path(ref), None
    return Path(path), tag or None


__all__ = ["Layout", "Image", "DigestMismatchError", "json_object", "parse_ref", "check_digest", "check_tag", "canonical", "goarch",
           "MANIFEST", "INDEX", "CONFIG", "REF_NAME", "LAYER_TYPES"]
