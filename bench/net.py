"""Container networking's costs: throughput over bridge+veth, and a published port's request latency.

Throughput (iperf3, TCP, 2 s per run, median of 3 runs each, interleaved):
loopback on the host (the peer: no link at all), a container in host mode
talking to the host (the same path, from inside namespaces), and two
containers on one lab network (veth -> bridge -> veth).

Latency of a published port: a tiny HTTP server in a container on a lab
network, reached from the host on 127.0.0.1 through the lab's path (DNAT
at output, masquerade of the loopback source) against Docker's userland
proxy (``docker-proxy`` where installed; otherwise a Python proxy of its
design: accept, connect to the container, copy both ways). Rounds
interleave. Prints ``name: value`` lines; run alone with ``python bench/net.py``.
"""

from __future__ import annotations

import os
import socket
import shutil
import statistics
import sys
import threading

import labcore as lab

SERVER = ("import socket\n"
          "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0',80)); s.listen(128)\n"
          "print('listening', flush=True)\n"
          "while True:\n"
          "  c,_=s.accept(); c.recv(4096); c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\nhello'); c.close()\n")


def python_proxy(listen_port: int, ip: str, port: int) -> socket.socket:
    """docker-proxy's design in a few lines: a thread per connection, copying both ways."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(128)

    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def serve():
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            upstream = socket.create_connection((ip, port))
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return ls


def throughput() -> None:
    from labcore.net import endpoint, network, throughput as tp
    with network.create("bench") as net, endpoint.attach("iperf-a", "bench") as a, \
            endpoint.attach("iperf-b", "bench") as b:
        host_mode = endpoint.attach("iperf-h", "host")
        runs = {"loopback": [], "host_mode": [], "bridge_veth": []}
        for _ in range(3):
            runs["loopback"].append(tp.iperf3(None, None, "127.0.0.1"))
            runs["host_mode"].append(tp.iperf3(None, _HostMode(host_mode), "127.0.0.1"))
            runs["bridge_veth"].append(tp.iperf3(a, b, a.ip))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"net_throughput_loopback_gbit_s: {med['loopback']:.2f} (peer: iperf3 over lo on the host, median of 3)")
    print(f"net_throughput_host_mode_gbit_s: {med['host_mode']:.2f}")
    print(f"net_throughput_bridge_veth_gbit_s: {med['bridge_veth']:.2f} (container to container over veth+bridge+veth)")
    print(f"net_host_mode_vs_loopback: {med['host_mode'] / med['loopback']:.2f}x (target: about 1.0x, the same path)")
    print(f"net_bridge_veth_vs_loopback: {med['bridge_veth'] / med['loopback']:.2f}x "
          "(target: at least 0.3x; veth and bridge add per-packet work, no copy)")


class _HostMode:
    """A client started in new pid/mnt/uts/ipc namespaces but the host's network (--network host)."""

    def __init__(self, ep):
        self.ep = ep

    def run(self, argv, timeout):
        return lab.process.run(argv, ("pid", "mnt", "uts", "ipc"), timeout=timeout)


def latency(rounds: int = 300) -> None:
    from labcore.net import endpoint, network, throughput as tp
    lab_port, proxy_port = 20080 + os.getpid() % 1000, 21080 + os.getpid() % 1000
    with network.create("bench") as net, endpoint.attach("lat", "bench", publish=[f"{lab_port}:80"]) as ep:
        server = ep.spawn([sys.executable, "-c", SERVER], capture=True)
        proxy = None
        try:
            assert server.stdout.readline().strip() == b"listening"
            docker_proxy = shutil.which("docker-proxy") or ("/usr/sbin/docker-proxy" if os.path.exists("/usr/sbin/docker-proxy") else None)
            if docker_proxy:
                # dockerd hands docker-proxy a pipe as descriptor 3, where it writes "0" once it listens.
                proxy = lab.process.spawn(["sh", "-c", 'exec "$@" 3>&1', "sh", docker_proxy, "-proto", "tcp",
                                           "-host-ip", "127.0.0.1", "-host-port", str(proxy_port),
                                           "-container-ip", ep.ip, "-container-port", "80"], (), capture=True)
                if proxy.stdout.readline().strip() != b"0":
                    raise SystemExit("docker-proxy did not start: " + proxy.stderr.read1(4096).decode())
                peer = "docker-proxy"
            else:
                proxy = python_proxy(proxy_port, ep.ip, 80)
                peer = "a Python proxy of docker-proxy's design"
            tp.request_latency("127.0.0.1", proxy_port, 5)  # warm up both paths
            tp.request_latency("127.0.0.1", lab_port, 5)
            lab_s, proxy_s = [], []
            for _ in range(rounds // 50):
                lab_s += tp.request_latency("127.0.0.1", lab_port, 50)
                proxy_s += tp.request_latency("127.0.0.1", proxy_port, 50)
        finally:
            server.close()
            if proxy is not None:
                proxy.close()
    a, b = statistics.median(lab_s), statistics.median(proxy_s)
    print(f"net_published_port_dnat_us: {a:.0f} (127.0.0.1:{lab_port} -> DNAT -> container, median of {len(lab_s)})")
    print(f"net_published_port_proxy_us: {b:.0f} (peer: {peer}, median of {len(proxy_s)})")
    print(f"net_dnat_vs_proxy: {a / b:.2f}x (target: below 1.0x: no user-space hop)")


def main() -> None:
    if not (lab.doctor.has("root") and lab.doctor.has("nftables")):
        print("net: skipped:", lab.doctor.why_not("root") or lab.doctor.why_not("nftables"))
        return
    if shutil.which("iperf3"):
        throughput()
    else:
        print("net_throughput: skipped: iperf3 is missing (make provision)")
    latency()


if __name__ == "__main__":
    main()
