"""Validation of untrusted image documents: digests, tags, descriptors, manifests and configs.

Everything read from an image layout is untrusted: a digest is only ever used
as a file name once it matches ``sha256:<64 hex>``, and the parts of a
manifest or config the lab reads are checked for their type (pure functions).
"""

from __future__ import annotations

import re

from ..errors import InvalidInputError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """Refuse anything but ``sha256:<64 lowercase hex>`` (a digest is used as a file name)."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidInputError(f"malformed digest {digest!r}", "a digest is 'sha256:' and 64 hex digits")
    return digest


def check_tag(tag: str) -> str:
    """A tag as the distribution spec allows it: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}."""
    if not isinstance(tag, str) or not re.match(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", tag):
        raise InvalidInputError(f"bad tag {tag!r}", "letters, digits, '.', '_' and '-', at most 128 characters")
    return tag


def _check_descriptor(d, what: str) -> None:
    if not isinstance(d, dict):
        raise InvalidInputError(f"{what} is {d!r}, not a descriptor", "the image is damaged or was crafted")
    check_digest(d.get("digest"))
    if not isinstance(d.get("size"), int) or isinstance(d.get("size"), bool) or d["size"] < 0:
        raise InvalidInputError(f"{what} has size {d.get('size')!r}", "a descriptor's size is a count of bytes")
    if not isinstance(d.get("mediaType", ""), str):
        raise InvalidInputError(f"{what} has media type {d.get('mediaType')!r}", "the image is damaged")


def _check_manifest(doc: dict, digest: str) -> None:
    """The parts of a manifest the lab reads, each of the right type (pure)."""
    if "config" not in doc:
        raise InvalidInputError(f"manifest {digest} has no config", "an image manifest names its config blob")
    _check_descriptor(doc["config"], f"manifest {digest}: config")
    layers = doc.get("layers", [])
    if not isinstance(layers, list):
        raise InvalidInputError(f"manifest {digest}: layers is {layers!r}, not a list", "the image is damaged")
    for i, layer in enumerate(layers):
        _check_descriptor(layer, f"manifest {digest}: layer {i + 1}")


def _check_config(config: dict, digest: str) -> None:
    for key in ("config", "rootfs"):
        if not isinstance(config.get(key) or {}, dict):
            raise InvalidInputError(f"config {digest}: {key} is {config[key]!r}, not an object", "the image is damaged")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids", [])
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidInputError(f"config {digest}: diff_ids is {diff_ids!r}", "a list of sha256 digests")
    history = config.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise InvalidInputError(f"config {digest}: history is {history!r}", "a list of objects")


__all__ = ["check_digest", "check_tag"]
