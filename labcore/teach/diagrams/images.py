"""An OCI image drawn as the chain of documents that name each other by digest.

An image in an OCI layout (``images.Layout``) is three kinds of blob,
each named by the sha256 of its bytes (the OCI image spec,
``image-layout.md``, ``manifest.md``, ``config.md``)::

    index.json --tag--> manifest --config--> config (Cmd, Env, rootfs.diff_ids)
                                 --layers--> layer blobs (gzip tars), bottom first

The manifest names every layer by its **digest** (the blob as stored,
compressed); the config names the same layers by **diff_id** (the
uncompressed tar). The picture draws both names on each layer, read from
the layout on disk when the function is called, and verified on the way
(``Layout.image`` checks the manifest's and the config's digests).
"""

from __future__ import annotations

import os

from ...images.layout import REF_NAME, Layout
from .render import Diagram, h, header, quote, shorten

INDEX_FILL, MANIFEST_FILL, CONFIG_FILL, LAYER_FILL = "#eadcf3", "#fde2c8", "#fff3bf", "#dbe9f6"


def short(digest: str, n: int = 12) -> str:
    """``sha256:0123456789ab…``: enough of a digest to tell two apart."""
    algo, _, hexpart = str(digest).partition(":")
    return f"{algo}:{hexpart[:n]}…" if hexpart else str(digest)


def size(n) -> str:
    n = int(n or 0)
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


def _history(config: dict) -> list[str]:
    """The created_by of each history entry that made a layer, bottom first."""
    return [e.get("created_by", "") for e in config.get("history", []) if not e.get("empty_layer")]


def graph_dot(tag: str, digest: str, manifest: dict, config: dict, title: str) -> str:
    """DOT: index.json -> manifest -> config, and the manifest -> each layer (pure)."""
    lines = header("image", title, rankdir="LR")
    lines.append("  node [shape=box, style=\"rounded,filled\"];")
    lines.append(f"  index [label=<<B>index.json</B><BR/>"
                 f'<FONT POINT-SIZE="10">tag {h(tag or "(none)")}</FONT>>, fillcolor={quote(INDEX_FILL)}];')
    cfg = manifest.get("config", {})
    lines.append(f"  manifest [label=<<B>manifest</B><BR/>"
                 f'<FONT POINT-SIZE="10">{h(short(digest))}<BR/>'
                 f"{len(manifest.get('layers', []))} layer(s)</FONT>>, fillcolor={quote(MANIFEST_FILL)}];")
    runtime = config.get("config") or {}
    cmd = " ".join(runtime.get("Cmd") or []) or "(none)"
    lines.append(f"  config [label=<<B>config</B><BR/>"
                 f'<FONT POINT-SIZE="10">{h(short(cfg.get("digest", "")))}<BR/>'
                 f"{h(config.get('os', '?'))}/{h(config.get('architecture', '?'))}, Cmd {h(shorten(cmd, 30))}<BR/>"
                 f"rootfs.diff_ids: {len((config.get('rootfs') or {}).get('diff_ids', []))}</FONT>>, "
                 f"fillcolor={quote(CONFIG_FILL)}];")
    lines.append("  index -> manifest [label=\" manifests[].digest\"];")
    lines.append("  manifest -> config [label=\" config.digest\"];")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids", [])
    steps = _history(config)
    layers = manifest.get("layers", [])
    for i, layer in enumerate(layers):
        diff_id = diff_ids[i] if i < len(diff_ids) else "?"
        step = steps[i] if i < len(steps) else ""
        media = str(layer.get("mediaType", "")).rsplit(".", 1)[-1]
        where = " bottom" if i == 0 and len(layers) > 1 else " top" if i == len(layers) - 1 and i else ""
        lines.append(f"  layer{i} [label=<<B>layer {i + 1}</B>{where} ({h(media)}, {size(layer.get('size'))})<BR/>"
                     f'<FONT POINT-SIZE="10">digest  {h(short(layer.get("digest", "")))}<BR/>'
                     f"diff_id {h(short(diff_id))}"
                     + (f'<BR/><I>{h(shorten(step, 40))}</I>' if step else "")
                     + f"</FONT>>, fillcolor={quote(LAYER_FILL)}];")
        lines.append(f"  manifest -> layer{i} [label=\" layers[{i}].digest\"];")
        lines.append(f"  config -> layer{i} [style=dashed, arrowhead=none, color=\"#999999\", "
                     f"label=\" diff_ids[{i}]\"];")
    if layers:  # the layers in one column, bottom layer last
        lines.append("  { rank=same; " + " ".join(f"layer{i};" for i in range(len(layers))) + " }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_text(tag: str, digest: str, manifest: dict, config: dict, title: str) -> str:
    diff_ids = (config.get("rootfs") or {}).get("diff_ids", [])
    out = [title, f"index.json  tag {tag or '(none)'} -> manifest {short(digest)}",
           f"manifest    config -> {short(manifest.get('config', {}).get('digest', ''))}"]
    for i, layer in enumerate(manifest.get("layers", [])):
        out.append(f"            layer {i + 1} -> digest {short(layer.get('digest', ''))} "
                   f"({size(layer.get('size'))}), diff_id {short(diff_ids[i]) if i < len(diff_ids) else '?'}")
    return "\n".join(out)


def image_graph(layout_dir, ref: str | None = None) -> Diagram:
    """The image ``ref`` (a tag; None: the layout's only image) of the OCI layout at ``layout_dir``.

    Draws index.json, the manifest, the config and each layer blob, with the
    digest that links each to the next. Used by chapter 06:
    ``lab.diagrams.image_graph(layout.path, "v2")``.
    """
    layout = Layout.open(os.fspath(getattr(layout_dir, "path", layout_dir)))
    image = layout.image(ref)
    tag = image.tag
    if tag is None:
        entries = layout.index().get("manifests", [])
        tag = next((m.get("annotations", {}).get(REF_NAME) for m in entries
                    if m.get("digest") == image.digest), None)
    title = f"image {tag or short(image.digest)}: {len(image.layers)} layer(s), every link a sha256"
    return Diagram(graph_dot(tag, image.digest, image.manifest, image.config, title),
                   graph_text(tag, image.digest, image.manifest, image.config, title), title)


__all__ = ["image_graph", "graph_dot", "graph_text", "short"]
