"""Building an image from a Dockerfile, with a layer cache keyed by a hash chain.

Each instruction is one step. COPY and RUN make a layer; ENV, WORKDIR and
CMD only change the config. Before running a step the builder computes its
**cache key**::

    key(step n) = sha256( key(step n-1) + the instruction + what it copies )

``what it copies`` is a hash of the files' names, modes and contents, so
editing a copied file changes the key even though the line did not change.
If a layer is stored under that key, it is reused: no command runs, no
file is read beyond hashing. Because every key includes the key before it,
changing one step changes the keys of **all the steps after it**, and they
are all rebuilt: that is why a Dockerfile puts what changes least (the base,
the dependencies) first and the application's code last.

A RUN step runs ``/bin/sh -c CMD`` as PID 1 of new namespaces, with its
root an overlay of the layers built so far under a fresh upper dir
(``labcore.fs.overlay``); when it exits, the upper dir *is* the new layer
(``labcore.fs.layers`` turns overlay's whiteouts into the tar's).

Layers and configs get fixed timestamps (``SOURCE_DATE_EPOCH``, or 0), so
a rebuild with the same inputs gives the very same digests: the image is
content-addressed all the way up. ``labcore image build`` calls ``build``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import posixpath
import shutil
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..ns import process
from ..errors import InvalidInputError, LabError, PrivilegeError
from ..fs import overlay as ov
from ..fs.layers import Layer, make_layer
from ..fs.rootfs import Rootfs
from ..fs.scratch import Scratch
from ..ns.namespaces import CONTAINER
from . import dockerfile
from .layout import CONFIG, MANIFEST, Image, Layout, check_tag, goarch, parse_ref
from .store import LayerStore

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RUN_MEMORY = 1 << 30   # a RUN step's memory, at most (less if the host has less available: run_limits)
RUN_PIDS = 512         # a RUN step's tasks: a make -j, not a fork bomb
_serial = itertools.count()


def run_limits(available: int | None = None) -> dict:
    """The limits a RUN step runs under, as ``lab.cgroups.create`` takes them (pure).

    Memory: ``RUN_MEMORY``, or half of what the host has available now
    (MemAvailable) if that is less, and never under 64 MiB; pids: ``RUN_PIDS``.
    """
    from ..cgroups import limits as L
    if available is None:
        available = L.ram_bytes(field="MemAvailable")
    memory = max(min(RUN_MEMORY, available // 2), 64 << 20)
    return {"memory": f"{memory >> 20}M", "pids": RUN_PIDS}


class BuildError(LabError):
    """A build step failed (a RUN command exited non-zero, a COPY source is missing...)."""


def epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "labcore" / "build-cache"


class BuildCache:
    """Layers by cache key: ``keys/<key>.json`` names a blob in ``blobs/``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        (self.root / "keys").mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(exist_ok=True)

    def get(self, key: str) -> Layer | None:
        entry = self.root / "keys" / f"{key}.json"
        if not entry.is_file():
            return None
        data = json.loads(entry.read_text())
        path = self.blobs / data["digest"].split(":", 1)[1]
        if not path.is_file() or path.stat().st_size != data["size"]:
            return None  # the blob went away: rebuild rather than trust the entry
        return Layer(path, data["diff_id"], data["digest"], data["size"], data["mediaType"])

    def put(self, key: str, layer: Layer) -> None:
        entry = self.root / "keys" / f"{key}.json"
        tmp = entry.with_suffix(".tmp")
        tmp.write_text(json.dumps({"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size,
                                   "mediaType": layer.media_type}))
        os.replace(tmp, entry)


@dataclass
class Step:
    """One instruction of a build, and what the builder did with it."""

    number: int
    instruction: dockerfile.Instruction
    key: str
    cached: bool | None = None       # None: a config-only step, no layer
    layer: Layer | None = None
    seconds: float = 0.0
    output: str = ""

    @property
    def outcome(self) -> str:
        if self.cached is None:
            return "config"
        return "cached" if self.cached else "built"


@dataclass
class Build:
    """The result of ``build``: every step, and the image written."""

    steps: list[Step]
    image: Image
    seconds: float = 0.0

    def layer_steps(self) -> list[Step]:
        return [s for s in self.steps if s.cached is not None]

    def rebuilt(self) -> list[int]:
        """Numbers of the steps whose layer was built anew (not taken from the cache)."""
        return [s.number for s in self.layer_steps() if not s.cached]

    def reused(self) -> list[int]:
        return [s.number for s in self.layer_steps() if s.cached]

    def __repr__(self) -> str:
        n = len(self.steps)
        lines = []
        for s in self.steps:
            text = s.instruction.text if len(s.instruction.text) <= 44 else s.instruction.text[:43] + "…"
            digest = f"  {s.layer.digest[:19]}…" if s.layer else ""
            lines.append(f"step {s.number}/{n}  {text:<45} {s.outcome:<6}{digest}")
        lines.append(f"image {self.image.tag}: manifest {self.image.digest[:19]}…, "
                     f"{len(self.rebuilt())} layer(s) built, {len(self.reused())} from the cache")
        return "\n".join(lines)


def content_hash(context: Path, sources: list[Path]) -> str:
    """What COPY would copy, as one hash: names, types, modes, link targets and contents."""
    h = hashlib.sha256()
    for src in sources:
        paths = [src] if not src.is_dir() or src.is_symlink() else [src] + sorted(
            p for p in src.rglob("*"))
        for path in paths:
            st = os.lstat(path)
            h.update(f"{path.relative_to(context).as_posix()}\0{stat.S_IFMT(st.st_mode)}\0"
                     f"{stat.S_IMODE(st.st_mode):o}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            h.update(b"\n")
    return h.hexdigest()


def _sources(context: Path, names: list[str], line: int) -> list[Path]:
    """COPY sources, each inside the context (its realpath too), refused otherwise."""
    real_context = context.resolve()
    out = []
    for name in names:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise InvalidInputError(f"line {line}: COPY source {name!r} leaves the build context",
                                    "only files inside the context directory can be copied")
        path = context.joinpath(*parts)
        real = path.resolve()
        if real != real_context and real_context not in real.parents:
            raise InvalidInputError(f"line {line}: COPY source {name!r} resolves outside the build context ({real})",
                                    "copy the file into the context first")
        if not os.path.lexists(path):
            raise BuildError(f"line {line}: COPY source {name!r} not found in {context}", "check the path")
        out.append(path)
    return out


class _Builder:
    def __init__(self, context: Path, layout: Layout, cache: BuildCache, gzip_level, tag: str):
        self.context, self.layout, self.cache, self.gzip_level, self.tag = context, layout, cache, gzip_level, tag
        self.layers: list[Layer] = []
        self.history: list[dict] = []
        self.env: dict[str, str] = {}
        self.cmd: list[str] | None = None
        self.workdir = "/"
        self.store: LayerStore | None = None
        self.created = datetime.fromtimestamp(epoch(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def from_(self, ins) -> str:
        ref = ins.args[0]
        if ref == "scratch":
            return hashlib.sha256(b"FROM scratch").hexdigest()
        path, tag = parse_ref(ref)
        if not path.is_absolute():
            path = self.context / path
        base = Layout.open(path).image(tag)
        for descriptor, diff_id in zip(base.layers, base.diff_ids):
            base.layout.verify_layer(descriptor, diff_id)
            self.layout.put_file(base.layout.blob_path(descriptor["digest"]), descriptor["digest"])
            self.layers.append(Layer(self.layout.blob_path(descriptor["digest"]), diff_id, descriptor["digest"],
                                     descriptor["size"], descriptor["mediaType"]))
        rt = base.runtime
        self.env = dict(e.split("=", 1) for e in rt.get("Env") or [] if "=" in e)
        self.cmd, self.workdir = rt.get("Cmd"), rt.get("WorkingDir") or "/"
        self.history = list(base.config.get("history", []))
        return hashlib.sha256(f"FROM {base.digest}".encode()).hexdigest()

    def copy(self, ins, scratch: Scratch) -> Layer:
        *names, dest = ins.args
        sources = _sources(self.context, names, ins.line)
        dest_abs = posixpath.normpath(posixpath.join(self.workdir, dest))
        to_dir = dest.endswith("/") or len(sources) > 1 or (len(sources) == 1 and sources[0].is_dir())
        owner, mtime = (0, 0), epoch()  # COPY files belong to root; fixed times make the layer reproducible
        if len(sources) == 1 and sources[0].is_dir() and not sources[0].is_symlink():
            return make_layer(sources[0], self.cache.blobs, gzip_level=self.gzip_level, owner=owner, mtime=mtime,
                              prefix=dest_abs)
        staging = scratch.dir(f"copy{ins.line}")
        for src in sources:
            target = staging / (src.name if to_dir else posixpath.basename(dest_abs))
            if src.is_dir() and not src.is_symlink():
                shutil.copytree(src, staging, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, target, follow_symlinks=False)
        prefix = dest_abs if to_dir else posixpath.dirname(dest_abs)
        return make_layer(staging, self.cache.blobs, gzip_level=self.gzip_level, owner=owner, mtime=mtime,
                          prefix=prefix)

    def run(self, ins, step: Step) -> Layer:
        if not self.layers:
            raise BuildError(f"line {ins.line}: RUN with no layers below: there is no /bin/sh to run it",
                             "COPY a root filesystem first (FROM scratch is empty)")
        if os.geteuid() != 0:
            raise PrivilegeError(f"line {ins.line}: RUN needs root: it runs a container over an overlay mount",
                                 "run the build as root (sudo), or use only COPY, ENV, WORKDIR and CMD")
        if self.store is None:
            self.store = LayerStore("build", on_disk=True)  # layers can be big: not in a RAM-backed /run
        lower = [self.store.add(self.layout, layer.descriptor(), layer.diff_id) for layer in self.layers]
        env = {**dict([DEFAULT_PATH.split("=", 1)]), **self.env}
        from .. import cgroups  # a RUN step runs in a lab cgroup: a build cannot take the host's memory or PIDs
        # The writable layer lives on disk in the lab's data directory (on_disk), not in a RAM-backed /run.
        with cgroups.create(f"lab-build-{os.getpid()}-{next(_serial)}", **run_limits()) as group, \
                ov.container_layer(list(reversed(lower)), name="run", on_disk=True) as container:
            # A RUN step is a container like any other: Docker's capabilities, seccomp filter and masked paths.
            from ..security import Policy
            result = process.run(list(ins.args), CONTAINER, hostname="lab-build", timeout=900, cgroup=group,
                                 env={k: v for k, v in env.items()}, rootfs=Rootfs(str(container.merged), self.workdir),
                                 security=Policy.docker_default())
            step.output = result.stdout + result.stderr
            if result.returncode != 0:
                tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
                raise BuildError(f"step {step.number}: {ins.text} exited with status {result.returncode}"
                                 + (f":\n{tail}" if tail else ""), "fix the command; the steps before it stay cached")
            return make_layer(container.upper, self.cache.blobs, gzip_level=self.gzip_level, mtime=None)

    def config(self) -> dict:
        runtime = {"Env": [f"{k}={v}" for k, v in ({**dict([DEFAULT_PATH.split("=", 1)]), **self.env}).items()],
                   "WorkingDir": self.workdir}
        if self.cmd:
            runtime["Cmd"] = self.cmd
        return {"created": self.created, "architecture": goarch(), "os": "linux", "config": runtime,
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]},
                "history": self.history}


def build(dockerfile_path: str | os.PathLike, context: str | os.PathLike, output: str | os.PathLike,
          tag: str = "latest", *, cache: str | os.PathLike | None = None, gzip_level: int | None = 6) -> Build:
    """Build ``dockerfile_path`` with ``context`` into the OCI layout ``output`` under ``tag``.

    Returns a ``Build`` telling which steps were built and which came from
    the cache (``cache``: a directory, by default ~/.cache/labcore/build-cache).
    Used by notebook 06 and ``labcore image build``.
    """
    started = time.perf_counter()
    dockerfile_path, context = Path(dockerfile_path), Path(context)
    if not context.is_dir():
        raise InvalidInputError(f"build context {context} is not a directory", "give the directory COPY reads from")
    try:
        text = dockerfile_path.read_bytes()  # parse() decodes it, naming the line of a bad byte
    except OSError as exc:
        raise InvalidInputError(f"cannot read {dockerfile_path}: {exc.strerror}", "check the -f path") from None
    instructions = dockerfile.parse(text)  # every line checked before anything is built
    check_tag(tag)
    layout = Layout.create(output)
    b = _Builder(context, layout, BuildCache(cache or default_cache()), gzip_level, tag)
    steps: list[Step] = []
    key = ""
    with Scratch("build-copy", on_disk=True) as scratch:
        try:
            for number, ins in enumerate(instructions, 1):
                t0 = time.perf_counter()
                if ins.keyword == "FROM":
                    key = b.from_(ins)
                    steps.append(Step(number, ins, key, seconds=time.perf_counter() - t0))
                    continue
                content = ""
                if ins.keyword == "COPY":
                    content = content_hash(context, _sources(context, list(ins.args[:-1]), ins.line))
                key = hashlib.sha256(f"{key}\n{ins.keyword} {json.dumps(ins.args)}\n{content}".encode()).hexdigest()
                step = Step(number, ins, key)
                if ins.keyword == "ENV":
                    b.env.update(dict(ins.args))
                elif ins.keyword == "WORKDIR":
                    b.workdir = posixpath.normpath(posixpath.join(b.workdir, ins.args[0]))
                elif ins.keyword == "CMD":
                    b.cmd = list(ins.args)
                else:
                    layer = b.cache.get(key)
                    step.cached = layer is not None
                    if layer is None:
                        layer = b.copy(ins, scratch) if ins.keyword == "COPY" else b.run(ins, step)
                        b.cache.put(key, layer)
                    layout.put_file(layer.path, layer.digest)
                    step.layer = Layer(layout.blob_path(layer.digest), layer.diff_id, layer.digest, layer.size,
                                       layer.media_type)
                    b.layers.append(step.layer)
                b.history.append({"created": b.created, "created_by": ins.text, "comment": "labcore build",
                                  **({} if ins.makes_layer else {"empty_layer": True})})
                step.seconds = time.perf_counter() - t0
                steps.append(step)
        finally:
            if b.store is not None:
                b.store.remove()
    config = layout.put_json(b.config(), CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config,
                "layers": [layer.descriptor() for layer in b.layers]}
    descriptor = layout.put_json(manifest, MANIFEST)
    layout.tag(descriptor, tag)
    return Build(steps, layout.image(tag), time.perf_counter() - started)


__all__ = ["build", "Build", "Step", "BuildCache", "BuildError", "content_hash", "default_cache", "DEFAULT_PATH",
           "run_limits", "RUN_MEMORY", "RUN_PIDS"]
