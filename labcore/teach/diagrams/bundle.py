"""An OCI image next to the runtime bundle made from it: what each spec's documents become.

The image spec describes what is stored and shipped; the runtime spec what
a runtime runs. Unpacking an image into a bundle joins them (the image
spec's ``conversion.md``)::

    layers (bottom first) --unpacked in order--> rootfs/
    config: Entrypoint + Cmd, Env, WorkingDir, User --> config.json: process.args, env, cwd, user
    config: Labels, os, architecture --> config.json: annotations

Everything else in ``config.json`` (namespaces, mounts, capabilities) is
the converter's own default: an image cannot ask for it. Both sides are read
from disk when the function is called: the layout (verified by digest) and
the bundle's ``config.json`` and root directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...images.layout import Layout
from .images import CONFIG_FILL, INDEX_FILL, LAYER_FILL, MANIFEST_FILL, short, size
from .render import Diagram, h, header, quote, shorten

BUNDLE_FILL, ROOTFS_FILL = "#d7f0d2", "#d5f0ef"
MAPPING = [("Entrypoint + Cmd", "process.args"), ("Env", "process.env"), ("WorkingDir", "process.cwd"),
           ("User", "process.user")]


def _image_fields(runtime: dict) -> dict[str, str]:
    entry, cmd = runtime.get("Entrypoint") or [], runtime.get("Cmd") or []
    return {"Entrypoint + Cmd": json.dumps(entry) + " + " + json.dumps(cmd),
            "Env": f"{len(runtime.get('Env') or [])} variable(s)",
            "WorkingDir": runtime.get("WorkingDir") or "(none)", "User": runtime.get("User") or "(none)"}


def _bundle_fields(process: dict) -> dict[str, str]:
    user = process.get("user") or {}
    extra = f", groups {user['additionalGids']}" if user.get("additionalGids") else ""
    return {"process.args": json.dumps(process.get("args") or []),
            "process.env": f"{len(process.get('env') or [])} variable(s)", "process.cwd": process.get("cwd", "?"),
            "process.user": f"uid {user.get('uid')}, gid {user.get('gid')}{extra}"}


def image_and_bundle(layout_dir, ref: str | None, bundle_dir) -> Diagram:
    """The image ``ref`` of the OCI layout ``layout_dir`` beside the bundle ``bundle_dir`` made from it.

    Used by chapter 13: ``lab.diagrams.image_and_bundle(layout, "v1", bundle)``.
    """
    image = Layout.open(os.fspath(getattr(layout_dir, "path", layout_dir))).image(ref)
    bundle = Path(os.fspath(bundle_dir))
    cfg = json.loads((bundle / "config.json").read_text())
    rootfs = bundle / (cfg.get("root") or {}).get("path", "rootfs")
    entries = sorted(p.name for p in rootfs.iterdir()) if rootfs.is_dir() else []
    img, run = _image_fields(image.runtime), _bundle_fields(cfg.get("process") or {})
    namespaces = [n.get("type") for n in (cfg.get("linux") or {}).get("namespaces", [])]
    title = f"image {image.tag or short(image.digest)} (image spec) and the bundle made from it (runtime spec)"

    lines = header("bundle", title, rankdir="TB")
    lines.append('  subgraph cluster_image { label="OCI image layout"; style=dashed; color="#999999";')
    lines.append(f'  index [label=<<B>index.json</B><BR/><FONT POINT-SIZE="10">tag {h(image.tag or "")}</FONT>>, '
                 f"fillcolor={quote(INDEX_FILL)}];")
    lines.append(f'  manifest [label=<<B>manifest</B><BR/><FONT POINT-SIZE="10">{h(short(image.digest))}</FONT>>, '
                 f"fillcolor={quote(MANIFEST_FILL)}];")
    rows = "".join(f"<BR/>{h(k)}: {h(shorten(v, 44))}" for k, v in img.items())
    lines.append(f'  config [label=<<B>config</B> {h(short(image.manifest["config"]["digest"]))}'
                 f'<FONT POINT-SIZE="10">{rows}</FONT>>, fillcolor={quote(CONFIG_FILL)}];')
    lines.append("  index -> manifest; manifest -> config;")
    for i, layer in enumerate(image.layers):
        lines.append(f'  layer{i} [label=<<B>layer {i + 1}</B> ({size(layer.get("size"))})<BR/>'
                     f'<FONT POINT-SIZE="10">digest {h(short(layer["digest"]))}<BR/>diff_id '
                     f'{h(short(image.diff_ids[i]))}</FONT>>, fillcolor={quote(LAYER_FILL)}];')
        lines.append(f"  manifest -> layer{i};")
    lines.append("  }")
    lines.append('  subgraph cluster_bundle { label="runtime bundle"; style=dashed; color="#999999";')
    rows = "".join(f"<BR/>{h(k)}: {h(shorten(v, 44))}" for k, v in run.items())
    lines.append(f'  cfgjson [label=<<B>config.json</B><FONT POINT-SIZE="10">{rows}<BR/>linux.namespaces: '
                 f'{h(", ".join(namespaces))}</FONT>>, fillcolor={quote(BUNDLE_FILL)}];')
    lines.append(f'  rootfs [label=<<B>{h(rootfs.name)}/</B><BR/><FONT POINT-SIZE="10">'
                 f'{"<BR/>".join(h(" ".join(entries[i:i + 6])) for i in range(0, len(entries), 6))}</FONT>>, '
                 f"fillcolor={quote(ROOTFS_FILL)}];")
    lines.append('  cfgjson -> rootfs [label=" root.path"];')
    lines.append("  }")
    lines.append('  config -> cfgjson [label=" conversion.md", color="#2b7a2b", fontcolor="#2b7a2b", penwidth=1.6];')
    for i in range(len(image.layers)):
        lines.append(f'  layer{i} -> rootfs [label=" unpacked {i + 1}", color="#2b7a2b", fontcolor="#2b7a2b"];')
    lines.append("}")

    text = [title, "image config -> config.json (conversion.md):"]
    for a, b in MAPPING:
        text.append(f"  {a:17} {img[a]:40} -> {b:13} {run[b]}")
    text.append(f"layers -> {rootfs.name}/: " + ", ".join(f"{i + 1}. {short(l['digest'])}" for i, l in
                                                        enumerate(image.layers)) + f" -> {' '.join(entries)}")
    text.append(f"the converter's own defaults: linux.namespaces {', '.join(namespaces)}")
    return Diagram("\n".join(lines) + "\n", "\n".join(text), title)


__all__ = ["image_and_bundle"]
