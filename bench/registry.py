"""Push and pull of one ~200 MB image through labcore's registry client, against ``skopeo copy``.

Both talk to the same real registry (Debian's docker-registry on 127.0.0.1),
each into a fresh registry or a fresh layout so neither can skip a blob;
rounds interleave the two so a busy moment of the machine hits both.
Prints ``name: value`` lines; run alone with ``python bench/registry.py``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

import labcore as lab

IMAGE_MB = 200
LAYERS = 4
ROUNDS = 3


def _image(scratch):
    """A gzip'd image of LAYERS layers of incompressible files, IMAGE_MB in all, in an OCI layout."""
    import os
    from labcore.images.layout import Layout
    layout = Layout.create(scratch.dir("image"))
    layers = []
    for i in range(LAYERS):
        src = scratch.dir(f"src{i}")
        for j in range(IMAGE_MB // LAYERS // 5):
            (src / f"f{j}").write_bytes(os.urandom(5 << 20))
        layers.append(lab.fs.make_layer(src, layout.blobs, gzip_level=1))
        shutil.rmtree(src)
    layout.add_image(layers, "v1")
    return layout


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    if not (lab.doctor.has("root") and lab.doctor.has("tool:docker-registry") and lab.doctor.has("tool:skopeo")):
        print("registry: skipped:", lab.doctor.why_not("root") or lab.doctor.why_not("tool:docker-registry")
              or lab.doctor.why_not("tool:skopeo"))
        return
    times = {"push_labcore": [], "push_skopeo": [], "pull_labcore": [], "pull_skopeo": []}
    with lab.fs.Scratch("bench-registry", on_disk=True) as scratch:
        layout = _image(scratch)
        size = sum(p.stat().st_size for p in layout.blobs.iterdir())
        for r in range(ROUNDS):
            for who in ("labcore", "skopeo") if r % 2 == 0 else ("skopeo", "labcore"):
                with lab.registryd.start() as reg:   # a fresh registry: nothing to skip
                    dest = f"{reg.address}/bench/img:v1"
                    if who == "labcore":
                        times["push_labcore"].append(_timed(lambda: lab.registry.push(f"{layout.path}:v1", dest)))
                        out = scratch.path / f"pulled-{r}"
                        times["pull_labcore"].append(_timed(lambda: lab.registry.pull(dest, out)))
                    else:
                        times["push_skopeo"].append(_timed(lambda: subprocess.run(
                            ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
                             f"docker://{dest}"], check=True, capture_output=True)))
                        out = scratch.path / f"skopeo-{r}"
                        times["pull_skopeo"].append(_timed(lambda: subprocess.run(
                            ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{dest}", f"oci:{out}:v1"],
                            check=True, capture_output=True)))
                    shutil.rmtree(out)
    med = {k: statistics.median(v) for k, v in times.items()}
    mb = size / 1e6
    print(f"registry_image_mb: {mb:.0f}")
    for verb in ("push", "pull"):
        print(f"registry_{verb}_labcore_s: {med[f'{verb}_labcore']:.2f}")
        print(f"registry_{verb}_skopeo_s: {med[f'{verb}_skopeo']:.2f}")
        print(f"registry_{verb}_speed_ratio: {med[f'{verb}_skopeo'] / med[f'{verb}_labcore']:.2f}x the speed of "
              f"skopeo copy (target: at least 0.9x)")


if __name__ == "__main__":
    sys.path.insert(0, ".")
    main()
