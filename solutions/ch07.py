"""Chapter 07's solutions."""

import json
import struct


def api_run(connect, image):
    """create, start, wait, logs, delete: the calls `docker run` makes, minus attach."""
    def call(method, path, body=None):
        c = connect()
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    _, made = call("POST", "/containers/create", {"Image": image, "Cmd": ["echo", "hello from the API"]})
    cid = json.loads(made)["Id"]
    call("POST", f"/containers/{cid}/start")
    call("POST", f"/containers/{cid}/wait")
    _, framed = call("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    out = b""
    while len(framed) >= 8:
        _, size = struct.unpack(">BxxxI", framed[:8])
        out, framed = out + framed[8:8 + size], framed[8 + size:]
    call("DELETE", f"/containers/{cid}")
    return out.decode()


def _create_only(connect, image):
    c = connect()
    c.request("POST", "/containers/create", body=json.dumps({"Image": image, "Cmd": ["echo", "hello from the API"]}),
              headers={"Content-Type": "application/json"})
    c.getresponse().read()
    return ""



def _keep_frames(connect, image):
    """Forgets to strip the headers."""
    def call(method, path, body=None):
        c = connect()
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.read()
    cid = json.loads(call("POST", "/containers/create", {"Image": image, "Cmd": ["echo", "hello from the API"]}))["Id"]
    call("POST", f"/containers/{cid}/start")
    call("POST", f"/containers/{cid}/wait")
    framed = call("GET", f"/containers/{cid}/logs?stdout=1")
    call("DELETE", f"/containers/{cid}")
    return framed.decode("latin-1")


def _leaves_it(connect, image):
    """Right output, but the container stays."""
    def call(method, path, body=None):
        c = connect()
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"Content-Type": "application/json"})
        return c.getresponse().read()
    cid = json.loads(call("POST", "/containers/create", {"Image": image, "Cmd": ["echo", "hello from the API"]}))["Id"]
    call("POST", f"/containers/{cid}/start")
    call("POST", f"/containers/{cid}/wait")
    framed = call("GET", f"/containers/{cid}/logs?stdout=1")
    return framed[8:].decode()


SOLUTIONS = {
    "which-call": lambda ex: "start",
    "api-run": lambda ex: api_run,
}

WRONG = {
    "which-call": lambda ex: ["create", "attach"],
    "api-run": lambda ex: [_create_only, _keep_frames, _leaves_it, "api_run"],
}
