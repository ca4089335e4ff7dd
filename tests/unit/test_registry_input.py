"""Image references, credentials, ports and access-log lines: bad input is a LabError that names the fix."""

import http.server
import json
import threading

import pytest

from labcore.errors import InvalidInputError, LabError
from labcore.images import registry, registryd
from labcore.images.layout import DigestMismatchError
from labcore.images.registry import Reference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, want", [
    ("127.0.0.1:5000/lab/app:v1", Reference("127.0.0.1:5000", "lab/app", "v1")),
    ("127.0.0.1:5000/app", Reference("127.0.0.1:5000", "app", "latest")),
    ("localhost:80/a/b/c:1.0", Reference("localhost:80", "a/b/c", "1.0")),
    ("[::1]:5000/x", Reference("[::1]:5000", "x", "latest")),
    (f"127.0.0.1:5000/lab/app@{DIGEST}", Reference("127.0.0.1:5000", "lab/app", None, DIGEST)),
])
def test_references_split_into_their_parts(text, want):
    got = parse_reference(text)
    assert got == want
    assert parse_reference(str(got)) == got
    assert got.reference == (want.digest or want.tag)


@pytest.mark.parametrize("text, what, fix", [
    ("docker.io/library/busybox:latest", "not on this machine", "loopback"),
    ("10.0.0.1:5000/app:v1", "not on this machine", "labcore registry start"),
    ("busybox", "names no registry", "127.0.0.1:PORT/REPO:TAG"),
    ("127.0.0.1:5000/Lab/App:v1", "bad repository name", "lowercase"),
    ("127.0.0.1:5000/lab//app:v1", "bad repository name", "lowercase"),
    ("127.0.0.1:99999/app:v1", "bad port", "127.0.0.1:PORT"),
    ("127.0.0.1:port/app:v1", "bad port", "127.0.0.1:PORT"),
    ("127.0.0.1:5000/app:bad tag", "bad image reference", "127.0.0.1:PORT"),
    ("127.0.0.1:5000/app:-v1", "bad tag", "letters"),
    ("127.0.0.1:5000/app@sha256:abc", "malformed digest", "64 hex"),
    ("", "bad image reference", "127.0.0.1:PORT"),
    (None, "bad image reference", "127.0.0.1:PORT"),
])
def test_bad_references_are_refused_with_the_fix(text, what, fix):
    with pytest.raises(InvalidInputError) as err:
        parse_reference(text)
    assert what in err.value.what and fix in err.value.fix


def test_credentials():
    assert registry.parse_credentials("lab:se:cret") == ("lab", "se:cret")
    assert registry.parse_credentials(None) is None
    for bad in ("lab", ":pw", "lab:"):
        with pytest.raises(InvalidInputError, match="NAME:PASSWORD"):
            registry.parse_credentials(bad)


@pytest.mark.parametrize("port", [80, 0, 70000, "5000", True, -1])
def test_bad_ports_are_refused(port):
    with pytest.raises(InvalidInputError, match="bad registry port"):
        registryd.check_port(port)


def test_bad_user_names_are_refused_before_anything_starts():
    with pytest.raises(InvalidInputError, match="bad registry user name"):
        registryd.start(user="a b", password="x")
    with pytest.raises(InvalidInputError, match="needs a password"):
        registryd.start(user="lab")


def test_the_access_log_is_parsed():
    text = (f'127.0.0.1 - - [30/Nov/2026:05:50:52 +0000] "HEAD /v2/x/blobs/{DIGEST} HTTP/1.1" 404 157 "" "labcore"\n'
            'garbage line\n'
            f'127.0.0.1 - - [30/Nov/2026:05:50:53 +0000] "PUT /v2/x/blobs/uploads/6a8c1f52-1b1e-4c0c-9a7e-3d2f1c0b9e8a'
            f'?_state=s%3D&digest=sha256%3A{"ab" * 32} '
            'HTTP/1.1" 201 0 "" "labcore"\n')
    head, put = registryd.parse_access_log(text)
    assert (head.method, head.status, head.sent, head.digest) == ("HEAD", 404, 157, DIGEST)
    assert (put.method, put.status, put.digest) == ("PUT", 201, DIGEST)
    # what the chapter prints: no upload session ids or state, digests cut to 12 hex digits
    assert put.brief() == "PUT    /v2/x/blobs/uploads/<session>?digest=sha256%3Aabababababab…  -> 201, 0 bytes"
    assert head.brief() == "HEAD   /v2/x/blobs/sha256:abababababab…  -> 404, 157 bytes"


class _Liar(http.server.BaseHTTPRequestHandler):
    """A 'registry' that serves a manifest naming one blob, and other bytes for that blob."""

    body = b"these are not the bytes you are looking for"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": registry.MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": DIGEST, "size": len(body)}, "layers": []}).encode()

    def do_GET(self):
        data = {"/v2/": b"{}", "/v2/lab/x/manifests/v1": self.manifest}.get(self.path, self.body)
        self.send_response(200)
        self.send_header("Content-Type", registry.MANIFEST if "manifests" in self.path else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_blob_that_does_not_match_its_digest_is_refused_and_nothing_kept(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DigestMismatchError, match=DIGEST) as err:
            registry.pull(f"127.0.0.1:{server.server_port}/lab/x:v1", tmp_path / "store")
        assert isinstance(err.value, LabError) and "corrupt" in err.value.fix
    finally:
        server.shutdown()
        server.server_close()
    assert list(tmp_path.iterdir()) == []  # no layout, no temporary file


def test_a_registry_that_is_not_there_is_named():
    port = registryd.free_port()
    with pytest.raises(LabError, match=f"127.0.0.1:{port}") as err:
        registry.pull(f"127.0.0.1:{port}/lab/x:v1", "/nonexistent/never-made")
    assert "registry start" in err.value.fix
