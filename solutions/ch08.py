"""Chapter 08's solutions."""


def pod_namespaces(pause_pid):
    """An app container of a pod: the pod's net, ipc and uts joined by path; its own pid and mount."""
    joined = [{"type": kind, "path": f"/proc/{pause_pid}/ns/{name}"}
              for kind, name in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"))]
    return [{"type": "pid"}, {"type": "mount"}] + joined


def _all_new(pause_pid):
    return [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]


def _short_names(pause_pid):
    return [{"type": "pid"}, {"type": "mount"}] + [{"type": k, "path": f"/proc/{pause_pid}/ns/{k}"}
                                                   for k in ("net", "ipc", "uts")]


def _the_hosts(pause_pid):
    return [{"type": "pid"}, {"type": "mount"}] + [{"type": t, "path": f"/proc/self/ns/{n}"}
                                                   for t, n in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"))]


def _shares_pid_too(pause_pid):
    return pod_namespaces(pause_pid)[1:] + [{"type": "pid", "path": f"/proc/{pause_pid}/ns/pid"}]


SOLUTIONS = {
    "created-cmdline": lambda ex: "runc init",
    "join-pod": lambda ex: pod_namespaces,
}

WRONG = {
    "created-cmdline": lambda ex: ["sleep 300", "runc create", "nothing"],
    "join-pod": lambda ex: [_all_new, _short_names, _the_hosts, _shares_pid_too, pod_namespaces(ex.pause_pid)],
}
