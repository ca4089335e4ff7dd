"""Measuring a network path: iperf3's throughput, and the latency of one request.

``iperf3 -s`` listens; ``iperf3 -c ADDRESS -t SECONDS -J`` sends TCP as
fast as it can for that long and reports, in JSON, what the receiver got
(``end.sum_received.bits_per_second``). Run between two namespaces it
measures the path between them: loopback (no link at all), a veth pair, a
veth + bridge + veth path between two containers. Every path is in memory
on one machine, so the figures measure the kernel's per-packet work (and
this machine's CPU), not a wire. See iperf3(1).

``request_latency`` times many short TCP exchanges (connect, send a
request, read the reply until the server closes), the pattern of a
published web port: the connection set-up is where NAT and proxies cost.
"""

from __future__ import annotations

import json
import socket
import statistics
import time

from ..errors import LabError


def iperf3(server_ns, client_ns, address: str, seconds: float = 2.0) -> float:
    """Gbit/s received over ``address`` from a client in ``client_ns`` to a server in ``server_ns``.

    ``server_ns``/``client_ns``: an object with ``spawn``/``run`` (a NetNamespace or an Endpoint),
    or None for the host. Used by notebook 09 and ``bench/net.py``.
    """
    from ..ns import process
    server_argv = ["iperf3", "-s", "-1", "-B", address]
    server = (server_ns.spawn(server_argv, capture=True) if server_ns is not None
              else process.spawn(server_argv, (), capture=True))
    try:
        for _ in range(50):
            r = _run(client_ns, ["iperf3", "-c", address, "-t", str(seconds), "-J"], timeout=seconds + 20)
            try:
                report = json.loads(r.stdout)
            except ValueError:
                report = {"error": r.stderr.strip() or "no report"}
            if r.returncode == 0 and "sum_received" in report.get("end", {}):
                return report["end"]["sum_received"]["bits_per_second"] / 1e9
            if "refused" not in str(report.get("error")):
                raise LabError(f"iperf3 to {address} failed: {report.get('error')}",
                               "is iperf3 installed (make provision)?")
            time.sleep(0.1)  # the server is not listening yet
        raise LabError(f"iperf3's server on {address} never listened", "see whether iperf3 runs at all")
    finally:
        server.close()


def _run(where, argv, timeout):
    from ..ns import process
    if where is None:
        return process.run(argv, (), timeout=timeout)
    return where.run(argv, timeout=timeout)


def request_latency(host: str, port: int, rounds: int = 200) -> list[float]:
    """Microseconds per request: connect, send a small HTTP request, read until the server closes."""
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass
        out.append((time.perf_counter() - start) * 1e6)
    return out


def median(samples) -> float:
    return statistics.median(samples)


__all__ = ["iperf3", "request_latency", "median"]
