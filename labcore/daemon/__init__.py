"""The daemon and the shim: the layers of Docker above the runtime.

``docker run`` crosses four programs, each with one job::

    docker (client) ──HTTP on a unix socket──> dockerd ──> containerd ──> shim ──> runc ──> container
                                               (the API)   (images,       (one per  (create, then
                                                            tasks)         container) exits)

The lab builds the same stack, folding containerd's part into the daemon:

    client (docker, the docker SDK) ──> labcore daemon ──> labcore shim ──> labcore runtime ──> container

The modules, one concept each:

    frames.py      Docker's 8-byte frame headers: stdout and stderr on one connection (pure)
    logs.py        the json-file log: one JSON line per chunk the container wrote
    images.py      the image store: OCI layouts loaded under NAME:TAG, layers extracted for overlayfs
    bundle.py      Docker's container config -> the OCI bundle's config.json (pure)
    containers.py  a container's directory and status; create, start (overlay, bundle, shim), stop, rm
    restart.py     --restart: which exits start the container again, and after how long (pure)
    shim.py        one per container: its parent and subreaper, its stdio and log, its exit status
    spare.py       the next container's shim, started ahead: docker run does not wait for a Python to start
    stdio.py       the shim's socket: the daemon's way to a running container's stdin and terminal (-i, -t)
    detach.py      detach keys (ctrl-p ctrl-q): a client leaves an attached container running (pure)
    network.py     a container's network from HostConfig (-p, --network): made before start, gone at stop
    networks.py    docker network ls|inspect|create|rm: the lab's networks in Docker's shape
    api.py         the Engine API's routes and handlers (routing is pure)
    server.py      HTTP on the unix socket, hijacked streams; start, stop, status of the daemon process
    cli.py         ``labcore daemon start|stop|status`` and ``labcore shim``

The daemon keeps nothing in memory that it cannot read back from the
state directory, so it can be killed with SIGKILL while containers run:
they run on under their shims, and a new daemon finds them (live restore).
"""

import importlib

__all__ = ["api", "bundle", "cli", "containers", "detach", "frames", "images", "logs", "network", "networks", "restart", "server",
           "shim", "spare", "stdio"]


def __getattr__(name: str):
    """The modules load on first use: ``labcore shim`` starts without the HTTP server's imports."""
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
