"""The distribution API by hand: how ``docker push`` and ``docker pull`` talk to a registry.

A registry speaks plain HTTP (the OCI distribution spec), all under ``/v2/``::

    GET  /v2/                                   "do you speak v2, and who must I be?" (200, or 401)
    HEAD /v2/<repo>/blobs/<digest>              "do you have this blob?" (200: skip it; 404: send it)
    POST /v2/<repo>/blobs/uploads/              start an upload: 202 and a Location to send to
    PATCH <location>                            send a chunk (Content-Range), for large blobs
    PUT  <location>?digest=<digest>             finish: the registry hashes what it got and
                                                refuses it (400 DIGEST_INVALID) unless it matches
    POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<other repo>
                                                cross-repository mount: "you have it under another
                                                name, link it here" (201), no bytes sent
    PUT  /v2/<repo>/manifests/<tag>             the manifest, last: it names blobs that must exist
    GET  /v2/<repo>/manifests/<tag or digest>   with Accept: the manifest types the client reads
    GET  /v2/<repo>/blobs/<digest>              a blob's bytes
    GET  /v2/<repo>/tags/list                   the repository's tags

**A push** sends every blob the registry lacks (layers, then the config),
then the manifest. Asking first (``HEAD``) is why a second push of a
changed image sends only the changed layer. **A pull** reads the manifest
(by tag: a name that can move; by digest: content that cannot), then the
config, then the layers, skipping every blob already held locally: why a
second pull is fast.

**Verification** is the client's job: every blob is named by the sha256 of
its bytes, so a pull hashes each blob *while it streams* into a temporary
file, and only a blob whose hash matches its name moves into the store.
The manifest is checked the same way against the digest asked for (or the
registry's ``Docker-Content-Digest``). Nothing of an image reaches the
store until all its blobs are verified: a tampered blob raises a
``DigestMismatchError`` naming the digest, and the store stays as it was.

**Media types** matter: a registry returns a manifest only in a type the
client's ``Accept`` header lists. Docker's schema 2
(``application/vnd.docker.distribution.manifest.v2+json``) and OCI's
(``application/vnd.oci.image.manifest.v1+json``) are the same structure
under two names; a client that asks only for Docker's gets a 404 for an
OCI manifest. A push's ``Content-Type`` must be the manifest's own type.

**Authentication** starts with a 401. ``GET /v2/`` answers
``401 Unauthorized`` with a ``WWW-Authenticate`` header that says how to
log in:

* ``Basic realm="..."``: send ``Authorization: Basic base64(user:pass)``
  on every request (what the lab's registry does with an htpasswd file);
* ``Bearer realm="https://auth.example/token",service="...",scope="repository:lab/app:pull,push"``:
  what Docker Hub, ghcr.io and quay.io do. The client asks the *token
  server* named by realm (with its basic credentials, or none for public
  images) for a token good for that scope, a signed JWT valid a few
  minutes, then sends ``Authorization: Bearer <token>`` to the registry,
  which checks the signature itself without asking anyone. This module
  speaks basic only and says so when it meets a bearer challenge.

Everything goes over one kept-alive ``http.client`` connection (the
standard library), and only ever to this machine: a reference must name
127.0.0.1, localhost or [::1]. Used by 12.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, LabError, UnsupportedError
from .layout import (DOCKER_MANIFEST, INDEX, MANIFEST, MAX_JSON, DigestMismatchError, Layout, check_digest,
                     check_tag, goarch, json_object, parse_ref)

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join([MANIFEST, INDEX, DOCKER_MANIFEST, DOCKER_LIST])
CHUNK = 1 << 20           # bytes read and written at a time
PATCH_ABOVE = 64 << 20    # blobs larger than this are uploaded in PATCH chunks
PATCH_CHUNK = 32 << 20
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


# --- references: REGISTRY/REPO:TAG ------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """``127.0.0.1:5000/lab/app:v1`` as its parts: registry, repository, tag or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}" + (f"@{self.digest}" if self.digest else f":{self.tag}")

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest if pinned, else the tag."""
        return self.digest or self.tag


def parse_reference(text: str) -> Reference:
    """Split ``REGISTRY/REPO[:TAG|@sha256:…]`` (tag ``latest`` if neither), refusing non-loopback registries."""
    if not isinstance(text, str) or not text or any(c.isspace() for c in text):
        raise InvalidInputError(f"bad image reference {text!r}", "write it as 127.0.0.1:PORT/REPO:TAG")
    if "/" not in text:
        raise InvalidInputError(f"{text!r} names no registry",
                                "write it as 127.0.0.1:PORT/REPO:TAG (labcore registry start prints the address)")
    registry, rest = text.split("/", 1)
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    if host not in LOOPBACK:
        raise InvalidInputError(f"registry {registry!r} is not on this machine",
                                "the lab talks only to registries on loopback: 127.0.0.1:PORT "
                                "(start one with labcore registry start)")
    port = registry[len(host) + 1:] if len(registry) > len(host) else ""
    if registry != host and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidInputError(f"bad port in registry {registry!r}", "write it as 127.0.0.1:PORT")
    digest = tag = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        check_digest(digest)
    elif ":" in rest.rsplit("/", 1)[-1]:
        rest, tag = rest.rsplit(":", 1)
        check_tag(tag)
    else:
        tag = "latest"
    if not _REPO.match(rest) or len(rest) > 255:
        raise InvalidInputError(f"bad repository name {rest!r}",
                                "lowercase letters and digits, separated by '.', '_', '-' or '/' (lab/app)")
    return Reference(registry, rest, tag, digest)


# --- what moved --------------------------------------------------------------------------------
@dataclass
class Moved:
    """One blob (or the manifest) of a push or a pull, and what happened to it."""

    kind: str      # layer, config, manifest
    digest: str
    size: int
    action: str    # sent, fetched, skipped, mounted

    def __str__(self) -> str:
        return f"{self.kind:8} {self.digest[:19]}…  {self.size:>11,} bytes  {self.action}"


@dataclass
class Transfer:
    """What a push or a pull did: every blob, and the bytes moved and skipped."""

    verb: str                # push or pull
    ref: Reference
    manifest_digest: str = ""
    blobs: list[Moved] = field(default_factory=list)

    @property
    def moved(self) -> int:
        """Bytes that crossed the network: blobs sent or fetched, the manifest included."""
        return sum(m.size for m in self.blobs if m.action in ("sent", "fetched"))

    @property
    def skipped(self) -> int:
        return sum(m.size for m in self.blobs if m.action in ("skipped", "mounted"))

    def digests(self, action: str) -> list[str]:
        return [m.digest for m in self.blobs if m.action == action]

    def __str__(self) -> str:
        lines = [str(m) for m in self.blobs]
        lines.append(f"{self.verb} {self.ref}: {self.moved:,} bytes moved, {self.skipped:,} bytes skipped "
                     f"(manifest {self.manifest_digest})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Transfer {self.verb} {self.ref}: {self.moved} bytes moved, {self.skipped} skipped>"


# --- the client --------------------------------------------------------------------------------
class RegistryError(LabError):
    """The registry answered with an error (its JSON error codes are in the text)."""


class Client:
    """One registry, one kept-alive HTTP connection. ``Client("127.0.0.1:5000", ("user", "pw"))``."""

    def __init__(self, registry: str, credentials: tuple[str, str] | None = None, timeout: float = 60):
        host, _, port = registry.rpartition(":") if not registry.endswith("]") else (registry, "", "")
        if not host:
            host, port = registry, "80"
        self.registry = registry
        self.conn = http.client.HTTPConnection(host.strip("[]"), int(port or 80), timeout=timeout,
                                               blocksize=CHUNK)
        self.credentials = credentials
        self.authorization: str | None = None
        self._pinged = False

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- HTTP ------------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                ok: tuple[int, ...] = (200,)) -> http.client.HTTPResponse:
        """Send one request; an answer not in ``ok`` raises a ``RegistryError`` naming the request.

        The caller reads the response's body to the end (or ``drain()``s it) before the next
        request, so the connection can be used again.
        """
        if not self._pinged:
            self.ping()
        return self._send(method, path, body, headers, ok)

    def _send(self, method, path, body, headers, ok) -> http.client.HTTPResponse:
        headers = {"User-Agent": "labcore", **(headers or {})}  # the name the registry's access log shows
        if self.authorization:
            headers["Authorization"] = self.authorization
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self.conn.close()
            raise LabError(f"{method} http://{self.registry}{path} failed: {exc}",
                           "is the registry running? labcore registry start prints its address") from None
        if resp.status not in ok:
            detail = resp.read(64 << 10).decode(errors="replace")
            try:
                detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in json.loads(detail)["errors"])
            except (ValueError, KeyError, TypeError, AttributeError):
                detail = detail.strip()[:200]
            if resp.status == 401:
                raise RegistryError(f"{method} {path}: 401 unauthorized ({detail})",
                                    "give the registry's user and password (--user NAME:PASSWORD)")
            raise RegistryError(f"{method} {path}: {resp.status} {resp.reason} ({detail})",
                                "read the registry's log for the whole story")
        return resp

    @staticmethod
    def drain(resp) -> None:
        resp.read()

    def challenge(self) -> tuple[int, str]:
        """``GET /v2/`` as a client that has not logged in: (status, WWW-Authenticate). Used by 12."""
        resp = self._send("GET", "/v2/", None, None, (200, 401))
        self.drain(resp)
        return resp.status, resp.getheader("WWW-Authenticate", "")

    def ping(self) -> str:
        """``GET /v2/``: the version check, and the start of the auth handshake. Returns the scheme used."""
        self._pinged = True
        resp = self._send("GET", "/v2/", None, None, (200, 401))
        self.drain(resp)
        if resp.status == 200:
            return "none"
        challenge = resp.getheader("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "bearer":
            raise UnsupportedError(f"{self.registry} asks for a bearer token ({challenge})",
                                   "the lab's client speaks basic auth only: a token server is not on this machine")
        if scheme != "basic":
            raise RegistryError(f"{self.registry} answered 401 with the challenge {challenge!r}",
                                "a registry asks for Basic or Bearer credentials")
        if not self.credentials:
            raise RegistryError(f"{self.registry} wants credentials ({challenge})",
                                "give the registry's user and password (--user NAME:PASSWORD)")
        user, password = self.credentials
        self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.drain(self._send("GET", "/v2/", None, None, (200,)))  # refused (401) if the password is wrong
        return "basic"

    # --- blobs -----------------------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        self.drain(resp)
        return resp.status == 200

    def mount_blob(self, repo: str, digest: str, source_repo: str) -> str | None:
        """Ask the registry to link a blob it holds for ``source_repo`` into ``repo``.

        None if it did (201). Otherwise (202) the registry opened an ordinary upload instead:
        its location is returned, for ``upload_blob`` to send the bytes to.
        """
        query = urllib.parse.urlencode({"mount": digest, "from": source_repo})
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/?{query}", ok=(201, 202))
        self.drain(resp)
        return None if resp.status == 201 else self._location(resp)

    def upload_blob(self, repo: str, digest: str, path: Path, size: int, location: str | None = None) -> None:
        """POST then PUT with the digest (one request for the bytes; PATCH chunks above PATCH_ABOVE).

        ``location``: an upload the registry opened already (a mount it could not do).
        """
        if location is None:
            resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,))
            self.drain(resp)
            location = self._location(resp)
        with open(path, "rb") as f:
            if size > PATCH_ABOVE:
                offset = 0
                while offset < size:
                    n = min(PATCH_CHUNK, size - offset)
                    resp = self.request("PATCH", location, body=_Window(f, n), ok=(202,), headers={
                        "Content-Type": "application/octet-stream", "Content-Length": str(n),
                        "Content-Range": f"{offset}-{offset + n - 1}"})
                    self.drain(resp)
                    location, offset = self._location(resp), offset + n
                body, length = b"", 0
            else:
                body, length = f, size
            resp = self.request("PUT", _with_query(location, digest=digest), body=body, ok=(201,), headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(length)})
            self.drain(resp)

    def fetch_blob(self, repo: str, digest: str, size: int, dest_dir: Path) -> Path:
        """Stream a blob into a temporary file in ``dest_dir``, hashing as it comes; refuse a mismatch.

        Returns the temporary file, verified. Nothing is kept of a blob that fails.
        """
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        h = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix=".blob-", dir=dest_dir)
        got = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := resp.read(CHUNK):
                    got += len(chunk)
                    if got > size:  # more than the manifest said: stop reading, refuse it
                        self.conn.close()
                        raise DigestMismatchError(f"blob {digest} is larger than the {size} bytes its descriptor says",
                                                  "the registry's copy is corrupt or tampered with: refusing it")
                    h.update(chunk)
                    out.write(chunk)
            actual = "sha256:" + h.hexdigest()
            if actual != digest:
                raise DigestMismatchError(f"blob {digest} fetched from {self.registry}/{repo} has digest {actual}",
                                          "the registry's copy is corrupt or tampered with: nothing of it was kept")
            if got != size:
                raise DigestMismatchError(f"blob {digest} is {got} bytes, its descriptor says {size}",
                                          "the image is inconsistent")
            return Path(name)
        except BaseException:
            os.unlink(name)
            raise

    # --- manifests and tags --------------------------------------------------------------
    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{repo}/manifests/{reference}", body=data, ok=(201,),
                            headers={"Content-Type": media_type, "Content-Length": str(len(data))})
        self.drain(resp)
        return resp.getheader("Docker-Content-Digest", "")

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest, its digest checked against what was asked."""
        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
        data = resp.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            self.conn.close()
            raise InvalidInputError(f"manifest {repo}:{reference} is larger than {MAX_JSON} bytes", "this is no manifest")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        expected = reference if reference.startswith("sha256:") else resp.getheader("Docker-Content-Digest")
        if expected and expected != digest:
            raise DigestMismatchError(f"manifest {repo}:{reference} has digest {digest}, the registry said {expected}",
                                      "the registry's copy is corrupt or tampered with: refusing it")
        media = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        return data, media, digest

    def tags(self, repo: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list")
        return json.loads(resp.read(MAX_JSON)).get("tags") or []

    @staticmethod
    def _location(resp) -> str:
        location = resp.getheader("Location")
        if not location:
            raise RegistryError("the registry's answer has no Location header", "is this a registry?")
        parts = urllib.parse.urlsplit(location)  # absolute (http://host/v2/...) or a path: keep the path
        return parts.path + (f"?{parts.query}" if parts.query else "")


class _Window:
    """The next ``n`` bytes of an open file, as a body http.client can read in pieces (one PATCH chunk)."""

    def __init__(self, f, n: int):
        self.f, self.left = f, n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.f.read(size)
        self.left -= len(data)
        return data


def _with_query(location: str, **params) -> str:
    return location + ("&" if "?" in location else "?") + urllib.parse.urlencode(params)


# --- push and pull -----------------------------------------------------------------------------
def push(source: str | os.PathLike, dest: str, credentials: tuple[str, str] | None = None,
         mount_from: str | None = None) -> Transfer:
    """Push ``LAYOUT[:TAG]`` to ``REGISTRY/REPO:TAG``: missing blobs first, the manifest last.

    ``labcore image push`` calls this. Used by 12.
    """
    ref = parse_reference(dest)
    if ref.digest:
        raise InvalidInputError(f"cannot push to a digest ({dest})", "push to a tag: REGISTRY/REPO:TAG")
    path, tag = parse_ref(os.fspath(source))
    layout = Layout.open(path)
    image = layout.image(tag)   # manifest and config verified against their digests
    manifest_descriptor = _descriptor(layout, image.digest, tag)
    out = Transfer("push", ref, image.digest)
    with Client(ref.registry, credentials) as client:
        blobs = [("layer", d) for d in image.layers] + [("config", image.manifest["config"])]
        for kind, d in blobs:
            digest, size = d["digest"], d["size"]
            if client.has_blob(ref.repository, digest):
                out.blobs.append(Moved(kind, digest, size, "skipped"))
                continue
            location = client.mount_blob(ref.repository, digest, mount_from) if mount_from else None
            if mount_from and location is None:
                out.blobs.append(Moved(kind, digest, size, "mounted"))
            else:
                client.upload_blob(ref.repository, digest, layout.blob_path(digest), size, location)
                out.blobs.append(Moved(kind, digest, size, "sent"))
        with layout.open_blob(image.digest) as f:
            data = f.read(MAX_JSON + 1)
        media = image.manifest.get("mediaType") or manifest_descriptor.get("mediaType") or MANIFEST
        client.put_manifest(ref.repository, ref.tag, data, media)
        out.blobs.append(Moved("manifest", image.digest, len(data), "sent"))
    return out


def pull(source: str, dest: str | os.PathLike, credentials: tuple[str, str] | None = None,
         tag: str | None = None) -> Transfer:
    """Pull ``REGISTRY/REPO:TAG`` into the layout ``dest`` (made if missing), tagged ``tag`` (default: the same).

    Blobs the layout holds already are skipped. Every other blob streams
    through sha256 into a temporary file next to the layout; only when
    *all* are verified do they move into ``blobs/`` and the tag into
    index.json. A mismatch raises ``DigestMismatchError`` naming the digest,
    with the layout unchanged. ``labcore image pull`` calls this. Used by 12.
    """
    ref = parse_reference(source)
    dest = Path(dest)
    local_tag = check_tag(tag or ref.tag or "latest")
    layout = Layout.open(dest) if (dest / "oci-layout").exists() else None
    if layout is None and dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInputError(f"{dest} is neither an OCI layout nor an empty directory",
                                "pull into a new directory, or into an existing layout")
    out = Transfer("pull", ref)
    with Client(ref.registry, credentials) as client:
        data, media, digest = client.get_manifest(ref.repository, ref.reference)
        manifest = _json(data, f"manifest {ref}")
        if manifest.get("mediaType", media) in (INDEX, DOCKER_LIST):
            chosen = _pick_platform(manifest)
            data, media, digest = client.get_manifest(ref.repository, chosen["digest"])
            manifest = _json(data, f"manifest {chosen['digest']}")
        media = manifest.get("mediaType") or media
        if media not in (MANIFEST, DOCKER_MANIFEST):
            raise UnsupportedError(f"manifest media type {media!r}", "the lab reads OCI and Docker schema 2 images")
        out.manifest_digest = digest
        from .validate import _check_manifest
        _check_manifest(manifest, digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{dest.name}.pulling-", dir=dest.parent) as staging:
            staged = _fetch_blobs(client, ref.repository, manifest, layout, Path(staging), out)
            out.blobs.append(Moved("manifest", digest, len(data), "fetched"))
            # Everything verified: now, and only now, the store changes.
            layout = layout or Layout.create(dest)
            for blob, tmp in staged.items():
                os.replace(tmp, layout.blob_path(blob))
            if not layout.has_blob(digest):
                layout.put_bytes(data)
            layout.tag({"mediaType": media, "digest": digest, "size": len(data)}, local_tag)
    Layout.open(dest).image(local_tag)  # read back as any reader would: manifest and config checked again
    return out


def _fetch_blobs(client: Client, repo: str, manifest: dict, layout: Layout | None, staging: Path,
                 out: Transfer) -> dict[str, Path]:
    """Fetch the config and layers the layout lacks into ``staging``, each verified: digest -> file."""
    staged: dict[str, Path] = {}
    for kind, d in [("config", manifest["config"])] + [("layer", d) for d in manifest["layers"]]:
        blob = check_digest(d["digest"])
        if layout is not None and layout.has_blob(blob):
            out.blobs.append(Moved(kind, blob, d["size"], "skipped"))
        elif blob in staged:
            out.blobs.append(Moved(kind, blob, d["size"], "skipped"))  # twice in one image: fetched once
        else:
            staged[blob] = client.fetch_blob(repo, blob, d["size"], staging)
            out.blobs.append(Moved(kind, blob, d["size"], "fetched"))
    return staged


def _descriptor(layout: Layout, digest: str, tag: str | None) -> dict:
    for m in layout.index().get("manifests", []):
        if m.get("digest") == digest:
            return m
    return {}


def _json(data: bytes, what: str) -> dict:
    return json_object(data, what, "the registry sent something else")


def _pick_platform(index: dict) -> dict:
    for m in index.get("manifests", []):
        p = m.get("platform", {}) if isinstance(m, dict) else {}
        if p.get("os", "linux") == "linux" and p.get("architecture", goarch()) == goarch():
            check_digest(m.get("digest"))
            return m
    raise UnsupportedError(f"no linux/{goarch()} image in the index", "this image was built for another machine")


def parse_credentials(text: str | None) -> tuple[str, str] | None:
    """``NAME:PASSWORD`` -> (name, password); None stays None."""
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise InvalidInputError("credentials must be NAME:PASSWORD", "for example --user lab:secret")
    return user, password


__all__ = ["Reference", "parse_reference", "parse_credentials", "Client", "RegistryError", "Transfer", "Moved",
           "push", "pull", "ACCEPT"]
