"""Chapter 09's solutions."""


def rule(host_port, ip, port):
    """DNAT: connections to the host's port go to the container's address and port."""
    return f"tcp dport {host_port} dnat to {ip}:{port}"


SOLUTIONS = {
    "source-seen": lambda ex: "198.18.0.1",
    "publish-by-hand": lambda ex: rule,
}

WRONG = {
    "source-seen": lambda ex: ["10.199.0.2", "10.199.0.1", "127.0.0.1"],
    "publish-by-hand": lambda ex: [
        lambda hp, ip, p: f"tcp dport {hp} snat to {ip}",               # rewrites the wrong end
        lambda hp, ip, p: f"tcp dport {p} dnat to {ip}:{hp}",           # ports swapped
        lambda hp, ip, p: f"tcp dport {hp} accept; flush ruleset",      # not one rule
        "tcp dport 8080 dnat to 10.0.0.1:80",                           # not a function
    ],
}
