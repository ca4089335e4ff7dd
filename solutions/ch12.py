"""Chapter 12's solutions."""

import hashlib
import urllib.request


def fetch(registry, repo, digest):
    """A blob's bytes from a registry, refused unless their sha256 is the digest asked for."""
    with urllib.request.urlopen(f"http://{registry}/v2/{repo}/blobs/{digest}") as resp:
        data = resp.read()
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"blob {digest} does not match its digest")
    return data


def _trusting(registry, repo, digest):
    with urllib.request.urlopen(f"http://{registry}/v2/{repo}/blobs/{digest}") as resp:
        return resp.read()


def _refuses_everything(registry, repo, digest):
    raise ValueError("refused")


def _hashes_the_name(registry, repo, digest):
    data = _trusting(registry, repo, digest)
    if hashlib.sha256(digest.encode()).hexdigest() == digest:
        raise ValueError("mismatch")
    return data


SOLUTIONS = {
    "second-push": lambda ex: 2,
    "verified-fetch": lambda ex: fetch,
}

WRONG = {
    "second-push": lambda ex: [1, 3, 4],
    "verified-fetch": lambda ex: [_trusting, _refuses_everything, _hashes_the_name],
}
