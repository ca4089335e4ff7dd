"""Whiteboard pictures of the running system: what a teacher would draw, read from the kernel.

Nothing here is drawn from memory: every box is a process, a namespace, a
layer or a cgroup that exists now, read from /proc and /sys when the
function is called. Each picture is a ``Diagram``: its Graphviz DOT source
(``.dot``, for the curious), a PNG for Jupyter, and a text form of the same
facts for readers of the raw notebook::

    lab.diagrams.process_tree(proc.pid)        processes, grouped by pid namespace  (processes.py)
    lab.diagrams.pid_map(proc.pid)             one process, numbered by each pid namespace
    lab.diagrams.overlay(c.merged, file="etc/hostname")   an overlay's layers, and where a file is (overlays.py)
    lab.diagrams.cgroup_tree(cg)               a cgroup subtree with limits and usage  (cgroups.py)
    lab.diagrams.cfs_timeline(25_000)          CPU quota per period, throttling shaded (cfs.py, a Plot)
    lab.diagrams.image_graph(layout, "v2")     an OCI image: index -> manifest -> config and layer blobs (images.py)
    lab.diagrams.image_and_bundle(layout, "v1", bundle)   an image beside the runtime bundle made from it (bundle.py)
    lab.diagrams.network_map(ep1, ep2)         network namespaces, their links, addresses, bridge ports, veth pairs (net.py)
    lab.diagrams.packet_path(hops)              one packet's hops, each with the count it measured (packet_path.py)
    lab.diagrams.capability_sets((pid, "box"))  capabilities held, seccomp mode, no_new_privs per process (caps.py)
    lab.diagrams.syscall_timeline(traces, found) every call of traced runtimes, phases of a start marked (a Figure)

The pictures need the ``dot`` program (``make provision`` installs it);
``render.py`` runs it, bounded in time and size.
"""

from .caps import capability_sets
from .cfs import cfs_timeline
from .cgroups import cgroup_tree
from .images import image_graph
from .bundle import image_and_bundle
from .net import network_map, throughput_plot
from .overlays import overlay
from .packet_path import Hop, packet_path
from .processes import pid_map, process_tree
from .syscall_timeline import syscall_timeline
from .render import Diagram

__all__ = ["Diagram", "process_tree", "pid_map", "overlay", "cgroup_tree", "cfs_timeline", "image_graph", "image_and_bundle", "capability_sets", "network_map", "throughput_plot", "packet_path", "Hop", "syscall_timeline"]
