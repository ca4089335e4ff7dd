"""``labcore image build | unpack | inspect | push | pull``: the image commands of the CLI.

    labcore image build -f Dockerfile CONTEXT --output LAYOUT --tag TAG
    labcore image unpack LAYOUT[:TAG] DEST
    labcore image inspect LAYOUT[:TAG]
    labcore image push LAYOUT[:TAG] REGISTRY/REPO:TAG [--user NAME:PASSWORD] [--mount-from REPO]
    labcore image pull REGISTRY/REPO:TAG LAYOUT [--user NAME:PASSWORD]
    labcore image load LAYOUT[:TAG] [--name NAME:TAG]

``labcore.cli`` registers them with ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import os

from . import builder, dockerfile as dockerfile_, store


MAX_DOCKERFILE = 1 << 20


def check_dockerfile(path: str) -> None:
    """Read and parse a Dockerfile: unreadable, not UTF-8, a bad line is an ``InvalidInputError`` naming it."""
    from ..errors import InvalidInputError
    from ..fs.layers import open_regular
    try:
        with open_regular(path, f"Dockerfile {path}") as f:
            data = f.read(MAX_DOCKERFILE + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", "check the -f path") from None
    if len(data) > MAX_DOCKERFILE:
        raise InvalidInputError(f"{path} is larger than {MAX_DOCKERFILE} bytes", "this is not a Dockerfile")
    try:
        dockerfile_.parse(data)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc.what}", exc.fix) from None


def cmd_build(args) -> int:
    dockerfile = args.file or os.path.join(args.context, "Dockerfile")
    check_dockerfile(dockerfile)  # before anything is made: the builder reads it as text
    result = builder.build(dockerfile, args.context, args.output, args.tag, cache=args.cache,
                           gzip_level=None if args.no_compress else 6)
    for step in result.steps:
        if step.output and not args.quiet:
            print(step.output.rstrip())
    print(result)
    print(f"wrote {args.output}:{args.tag} in {result.seconds:.2f} s")
    return 0


def cmd_unpack(args) -> int:
    done = store.unpack(args.image, args.dest)
    for i, applied in enumerate(done.layers, 1):
        print(f"layer {i}: {applied.entries} entries, {len(applied.deleted)} whiteout(s)"
              + (f", setuid/setgid removed from {', '.join(applied.stripped)}" if applied.stripped else ""))
    print(f"unpacked {args.image} into {args.dest} (every blob verified against its digest)")
    return 0


def cmd_inspect(args) -> int:
    print(store.open_image(args.image).summary())
    return 0


def cmd_push(args) -> int:
    from . import registry
    done = registry.push(args.image, args.dest, registry.parse_credentials(args.user), mount_from=args.mount_from)
    print(done)
    return 0


def cmd_pull(args) -> int:
    from . import registry
    done = registry.pull(args.ref, args.layout, registry.parse_credentials(args.user))
    print(done)
    print(f"every blob verified against its digest before it reached {args.layout}")
    return 0


def cmd_load(args) -> int:
    from ..daemon import images as daemon_images
    stored = daemon_images.load(args.image, args.name)
    print(f"loaded {', '.join(stored.names)} (ID {stored.id[:19]}, {len(stored.image.layers)} layer(s)) "
          f"into {daemon_images.root()}")
    return 0


def register(sub) -> None:
    """Add ``image`` and its subcommands to the top-level parser's subparsers."""
    image = sub.add_parser("image", help="build, unpack and inspect OCI images (chapter 06)")
    isub = image.add_subparsers(dest="image_cmd", required=True, metavar="SUBCOMMAND")

    b = isub.add_parser("build", help="build a Dockerfile (FROM, COPY, RUN, ENV, WORKDIR, CMD) into an OCI layout",
                        description="Build with a layer cache keyed by the hash chain of the steps.")
    b.add_argument("-f", "--file", help="the Dockerfile (default: CONTEXT/Dockerfile)")
    b.add_argument("context", help="the directory COPY reads from")
    b.add_argument("--output", "-o", required=True, help="the OCI image layout to write (made if missing)")
    b.add_argument("--tag", "-t", default="latest", help="the tag in the layout (default: %(default)s)")
    b.add_argument("--cache", help="the layer cache directory (default: ~/.cache/labcore/build-cache)")
    b.add_argument("--no-compress", action="store_true", help="store layers as plain tar (digest = diff_id)")
    b.add_argument("--quiet", "-q", action="store_true", help="do not print what RUN steps print")
    b.set_defaults(fn=cmd_build)

    u = isub.add_parser("unpack", help="apply an image's layers in order into a new directory",
                        description="Verifies every blob's digest first; whiteouts delete; unsafe entries are refused.")
    u.add_argument("image", metavar="LAYOUT[:TAG]")
    u.add_argument("dest", metavar="DEST", help="a new or empty directory")
    u.set_defaults(fn=cmd_unpack)

    i = isub.add_parser("inspect", help="show an image's manifest, config and layers")
    i.add_argument("image", metavar="LAYOUT[:TAG]")
    i.set_defaults(fn=cmd_inspect)

    p = isub.add_parser("push", help="push an image to a registry on this machine (chapter 12)",
                        description="Sends the blobs the registry lacks (HEAD first), then the manifest.")
    p.add_argument("image", metavar="LAYOUT[:TAG]")
    p.add_argument("dest", metavar="REGISTRY/REPO:TAG", help="for example 127.0.0.1:5000/lab/app:v1")
    p.add_argument("--user", metavar="NAME:PASSWORD", help="basic auth credentials, if the registry wants them")
    p.add_argument("--mount-from", metavar="REPO", help="mount blobs the registry holds in REPO instead of sending them")
    p.set_defaults(fn=cmd_push)

    q = isub.add_parser("pull", help="pull an image from a registry on this machine into an OCI layout (chapter 12)",
                        description="Skips blobs the layout has; verifies every other blob's sha256 while it streams.")
    q.add_argument("ref", metavar="REGISTRY/REPO:TAG")
    q.add_argument("layout", metavar="LAYOUT", help="an OCI layout (made if missing)")
    q.add_argument("--user", metavar="NAME:PASSWORD", help="basic auth credentials, if the registry wants them")
    q.set_defaults(fn=cmd_pull)

    ld = isub.add_parser("load", help="put an image into the daemon's store, named NAME:TAG (chapter 07)",
                         description="Copies the blobs (each checked) and extracts the layers once, for overlayfs.")
    ld.add_argument("image", metavar="LAYOUT[:TAG]")
    ld.add_argument("--name", metavar="NAME:TAG", help="the name docker shows (default: the layout's directory name)")
    ld.set_defaults(fn=cmd_load)


__all__ = ["register", "cmd_load", "cmd_build", "cmd_unpack", "cmd_inspect", "cmd_push", "cmd_pull", "check_dockerfile"]


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="labcore")
    register(parser.add_subparsers(dest="cmd", required=True))
    ns = parser.parse_args()
    raise SystemExit(ns.fn(ns))
