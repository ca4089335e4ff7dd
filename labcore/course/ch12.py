"""Chapter 12, Image distribution and registries: its quiz, its exercises, and the images its demos push."""

from __future__ import annotations

import os

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("12", "Image distribution and registries", [
    Choice("second-push", "You change one file in the top layer of a three-layer image and push it again. "
                          "Which blobs travel to the registry?",
           right="the rebuilt top layer and the new config, then the manifest",
           wrong=["only the rebuilt top layer, since the config holds no file contents",
                  "all three layers again, because the manifest's digest has changed"],
           why="The config lists every layer's diff_id, so it changes too; HEAD finds the two lower layers "
               "already there (section 3)."),
    Choice("verify", "Who checks that a pulled layer is the one the manifest names?",
           right="the client, hashing the bytes as they arrive and comparing with the digest",
           wrong=["the registry, which signs every blob it serves with its TLS certificate",
                  "nobody by default: checking needs Docker Content Trust to be on"],
           why="A digest is a sha256 of the content; any reader can recompute it. TLS protects the "
               "channel, not a blob that was corrupted on the server's disk (section 5)."),
    Choice("tag-digest", "Why do production deployments pull `app@sha256:…` rather than `app:1.4`?",
           right="a tag can be moved to other content; a digest always names the same bytes",
           wrong=["a digest pull skips the manifest and goes straight to the layers",
                  "tags are resolved by Docker Hub only, digests by any registry"],
           why="A tag is a pointer in the registry; the digest is computed from the manifest itself "
               "(section 2)."),
    Choice("shared-base", "Two images on one registry share the same 30 MB base layer. How much space does "
                          "that base take in the registry's storage?",
           right="30 MB once: blobs are stored by digest, repositories only link to them",
           wrong=["60 MB: each repository keeps a private copy of its own layers",
                  "30 MB once, but only if both images sit in one repository"],
           why="The registry's blobs/ directory is keyed by digest; repositories hold links (section 4)."),
    Choice("accept", "A client asks the reference registry (this chapter's) for a manifest with `Accept: "
                     "application/vnd.docker.distribution.manifest.v2+json` only, and the image was pushed as "
                     "OCI. What happens?",
           right="the registry answers 404 manifest unknown, since it has no Docker-typed version",
           wrong=["the registry converts the OCI manifest to Docker's format on the fly",
                  "the registry ignores Accept and returns the OCI manifest anyway"],
           why="The two formats are the same structure under two media types; the reference registry "
               "serves a manifest only in a type the client accepts (section 2). The distribution spec leaves "
               "this to each registry: some return the stored type whatever the client asked."),
    Choice("401", "`docker pull` from a private registry: what is the first thing the registry answers?",
           right="401 with a WWW-Authenticate challenge saying how to authenticate (Basic, or Bearer with a "
                 "token server)",
           wrong=["200 with the manifest, the credentials being checked later per layer",
                  "a redirect to a login page, then a cookie for the session"],
           why="The client pings /v2/ and reads the challenge: Basic, as this chapter's registry says, means "
               "send the credentials; Bearer names a token server, from which the client gets a token for the "
               "scope it works out itself, then retries (section 6)."),
    Recall("docker-pull", "An interviewer asks: \"What happens, step by step, when you run docker pull "
                          "nginx:1.27?\"",
           model="The client resolves the name to a registry and repository (docker.io/library/nginx), pings "
                 "/v2/ and gets a token if asked. It GETs the manifest for the tag with an Accept header; for a "
                 "multi-platform index it picks its OS and architecture and GETs that manifest. It GETs the "
                 "config, then every layer it does not have, checking each blob's sha256 against its digest "
                 "while it downloads, then unpacks the layers into its store and points the tag at the image.",
           demo="sections 2 and 3"),
    Recall("manifest-config-layer", "What is the difference between a manifest, a config and a layer?",
           model="A layer is a tar (usually gzipped) of filesystem changes. The config is JSON with the "
                 "runtime settings (Env, Cmd, WorkingDir...), the history, and the diff_ids of the uncompressed "
                 "layers. The manifest is JSON naming the config and the layers by digest, size and media "
                 "type: its own digest identifies the whole image.",
           demo="section 1"),
])


# --- the images the chapter pushes: plain layers of known sizes --------------------------------

def make_image(layout_dir, tag: str, layers: list[tuple[str, bytes]], src_dir) -> "object":
    """An image in the OCI layout ``layout_dir`` whose layers each hold one file (name, content).

    Layers are uncompressed tars (their digest is their diff_id), so sizes read plainly. Used by 12.
    """
    from ..fs import make_layer
    from ..images.layout import Layout
    layout = Layout.create(layout_dir)
    made = []
    for i, (name, content) in enumerate(layers):
        src = os.path.join(src_dir, f"{tag}-{i}-{name}")
        os.makedirs(src, exist_ok=True)
        with open(os.path.join(src, name), "wb") as f:
            f.write(content)
        os.chmod(src, 0o755)  # modes go into the tar: fixed, so the digests do not depend on the umask
        os.chmod(os.path.join(src, name), 0o644)
        made.append(make_layer(src, layout.blobs, gzip_level=None, mtime=0, owner=(0, 0)))
    return layout.add_image(made, tag)


def payload(n: int, seed: int) -> bytes:
    """n bytes that depend only on the seed (the same layer twice has the same digest). Used by 12."""
    import hashlib
    block = hashlib.sha256(str(seed).encode()).digest() * 32
    return (block * (n // len(block) + 1))[:n]


class _WithRegistry:
    """An exercise that needs its own registry and scratch directory."""

    def _start(self):
        from ..fs.scratch import Scratch
        from ..images import registryd
        self.scratch = Scratch("ch12-exercise", on_disk=True)
        self.registry = registryd.start()

    def close(self):
        for name in ("registry", "scratch"):
            thing = getattr(self, name, None)
            if thing is not None:
                (thing.stop if name == "registry" else thing.remove)()
                setattr(self, name, None)


class PredictSecondPush(_WithRegistry, Exercise):
    id = "second-push"
    chapter = "12"
    kind = "predict"
    title = "predict how many blobs a second push uploads"
    task = """An image has three layers. It is pushed as v1. Then one file in its TOP layer changes,
the image is rebuilt (same two lower layers) and pushed as v2 to the same repository.
Before section 3, predict: how many blobs does the second push upload (POST/PUT under /blobs/uploads/)?
The manifest goes to /manifests/, so it does not count. Write a number. The checker pushes both
images to a real registry and counts the uploads in its access log."""
    hint = "list what the v2 manifest names, and ask for each: did the registry have it already?"

    def verify(self, answer):
        from ..images import registry
        try:
            guess = int(str(answer).strip())
        except ValueError:
            return f"{answer!r} is not a number: write how many blobs"
        self._start()
        try:
            base = [("base", payload(300_000, 1)), ("lib", payload(200_000, 2))]
            v1 = make_image(self.scratch / "v1", "v1", base + [("app", payload(50_000, 3))], self.scratch / "src")
            v2 = make_image(self.scratch / "v2", "v2", base + [("app", payload(50_000, 4))], self.scratch / "src")
            dest = f"{self.registry.address}/lab/predict"
            registry.push(f"{v1.layout.path}:v1", f"{dest}:v1")
            self.registry.mark()
            registry.push(f"{v2.layout.path}:v2", f"{dest}:v2")
            uploads = [r for r in self.registry.requests() if r.method == "PUT" and "/blobs/uploads/" in r.path]
            truth = len(uploads)
        finally:
            self.close()
        if guess == truth:
            return None
        if guess == 1:
            return "one is too few: the layer changed, and so did a JSON document that lists every layer's diff_id"
        if guess == 3:
            return "the manifest goes to /manifests/, not /blobs/uploads/: count only blobs"
        if guess >= 4:
            return "the registry already has some of v2's blobs, and the client asks before sending"
        return f"{guess} is not what the registry's access log counted"


class VerifiedFetch(_WithRegistry, Exercise):
    id = "verified-fetch"
    chapter = "12"
    kind = "build"
    title = "fetch a blob by hand, and refuse one that does not match its digest"
    task = """Write `fetch(registry, repo, digest)`: GET http://REGISTRY/v2/REPO/blobs/DIGEST with
urllib.request and return the blob's bytes, but only if their sha256 matches DIGEST; otherwise raise
ValueError. The checker runs a real registry holding an image (this exercise object's
`registry_address`, repository `repo`, layer digests `digests`) in which it has corrupted one blob on
disk, and calls your function for each layer."""
    hint = "hashlib.sha256(data).hexdigest(), and a digest is written 'sha256:' + that"

    def setup(self):
        from ..images import registry
        self._start()
        img = make_image(self.scratch / "img", "v1", [("a", payload(100_000, 5)), ("b", payload(80_000, 6))],
                         self.scratch / "src")
        self.registry_address, self.repo = self.registry.address, "lab/fetch"
        registry.push(f"{img.layout.path}:v1", f"{self.registry_address}/{self.repo}:v1")
        self.digests = [d["digest"] for d in img.layers]
        self.good = {d: img.layout.blob_path(d).read_bytes() for d in self.digests}
        self.bad = self.digests[1]
        path = self.registry.blob_file(self.bad)
        data = bytearray(path.read_bytes())
        data[100] ^= 0x01  # one bit, on the registry's disk
        path.write_bytes(bytes(data))

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (fetch, without parentheses)"
        good = self.digests[0]
        try:
            got = answer(self.registry_address, self.repo, good)
        except NotImplementedError:
            return "fetch() is not written yet: replace the raise with your code"
        except Exception as exc:
            return f"an intact blob raised {type(exc).__name__}: only a mismatch should be refused"
        if got != self.good[good]:
            return f"fetch() of an intact blob returned {type(got).__name__} of {len(got or b'')} bytes, not its content"
        try:
            got = answer(self.registry_address, self.repo, self.bad)
        except ValueError:
            return None
        except Exception as exc:
            return f"the corrupted blob raised {type(exc).__name__}: raise ValueError for a mismatch"
        return "the corrupted blob was returned: compare its sha256 with the digest before returning it"


EXERCISES = [PredictSecondPush, VerifiedFetch]


__all__ = ["QUIZ", "EXERCISES", "make_image", "payload"]
