"""The Engine API's routing and answers, without a daemon process or root: state files made by hand."""

import json
import os
import time

import pytest

from labcore.daemon import api, bundle, containers, frames, images, logs
from labcore.errors import InvalidInputError, LabError


@pytest.fixture
def daemon(state_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path / "data"))
    return api.Daemon()


def call(daemon, method, path, query=None, body=None, headers=None):
    return api.handle(daemon, api.Request(method, path, query or {}, body, headers=headers or {}))


def streamed(answer) -> bytes:
    out = []
    answer.write(out.append)
    return b"".join(out)


@pytest.mark.parametrize("method, path, handler, params", [
    ("HEAD", "/_ping", "ping", {}),
    ("GET", "/v1.41/_ping", "ping", {}),
    ("GET", "/v1.24/version", "version", {}),
    ("GET", "/images/json", "images_list", {}),
    ("GET", "/v1.41/images/lab/busybox:1/json", "image_inspect", {"name": "lab/busybox:1"}),
    ("POST", "/v1.41/containers/create", "container_create", {}),
    ("GET", "/containers/json", "containers_list", {}),
    ("GET", "/v1.41/containers/abc123/json", "container_inspect", {"id": "abc123"}),
    ("POST", "/v1.41/containers/web/attach", "container_attach", {"id": "web"}),
    ("POST", "/v1.41/containers/web/wait", "container_wait", {"id": "web"}),
    ("DELETE", "/v1.41/containers/web", "container_remove", {"id": "web"}),
])
def test_routes(method, path, handler, params):
    assert api.route(method, path) == (handler, params)


def test_unknown_routes_and_methods_are_404_and_newer_clients_are_told_the_maximum(daemon):
    assert api.route("GET", "/containers/create") is None and api.route("PUT", "/_ping") is None
    assert api.route("GET", "/v1.41/volumes/x") is None
    answer = call(daemon, "GET", "/v1.41/volumes")
    assert (answer.status, answer.body) == (404, {"message": "page not found"})
    answer = call(daemon, "GET", "/v1.99/version")
    assert answer.status == 400 and "Maximum supported API version is 1.41" in answer.body["message"]
    assert api.split_version("/v1.41/info") == ("1.41", "/info") and api.split_version("/info") == (None, "/info")


def test_ping_and_version_name_the_api_version(daemon):
    ping = call(daemon, "HEAD", "/_ping")
    assert ping.status == 200 and ping.body is None and ping.headers["Api-Version"] == "1.41"
    assert call(daemon, "GET", "/_ping").body == b"OK"
    version = call(daemon, "GET", "/v1.41/version").body
    assert version["ApiVersion"] == "1.41" and version["Os"] == "linux"


def test_errors_carry_dockers_status_codes(daemon):
    assert api.status_of(images.NotFound("x", "y")) == 404
    assert api.status_of(containers.Conflict("x", "y")) == 409
    assert api.status_of(InvalidInputError("x", "y")) == 400
    assert api.status_of(LabError("x", "y")) == 500
    missing = call(daemon, "GET", "/v1.41/containers/nope/json")
    assert (missing.status, missing.body) == (404, {"message": "No such container: nope"})
    no_image = call(daemon, "POST", "/v1.41/containers/create", body={"Image": "lab/none:1", "Cmd": ["true"]})
    assert (no_image.status, no_image.body["message"]) == (404, "No such image: lab/none:1")
    bad = call(daemon, "POST", "/v1.41/containers/create", body={"Image": "Not A Name"})
    assert bad.status == 400 and bad.body["message"].startswith("invalid reference format")
    pull = call(daemon, "POST", "/v1.41/images/create", {"fromImage": "busybox", "tag": "latest"})
    assert pull.status == 404 and "labcore image load" in pull.body["message"]
    assert call(daemon, "GET", "/v1.41/images/json").body == []
    assert call(daemon, "GET", "/v1.41/containers/json", {"all": "1"}).body == []


def fake_container(cid="f" * 64, name="web", exited=True) -> containers.Container:
    """A container's state directory as the daemon and the shim leave it, written by hand."""
    c = containers.Container(cid)
    c.dir.mkdir(parents=True)
    c.meta = {"Id": cid, "Name": name, "Created": logs.timestamp(0), "CreatedEpoch": 0, "Path": "sh",
              "Args": ["-c", "echo"], "Image": "sha256:" + "a" * 64, "ImageName": "lab/busybox:1", "LowerDirs": [],
              "Config": {"Env": [], "Labels": {}}, "HostConfig": {"AutoRemove": False}}
    c.save()
    c.log.write_bytes(logs.line("stdout", b"out\n") + logs.line("stderr", b"err\n") + logs.line("stdout", b"more\n"))
    if exited:
        (c.dir / "shim.json").write_text(json.dumps({"pid": 1, "start_time": 0}))
        (c.dir / "exit.json").write_text(json.dumps({"ExitCode": 3, "OOMKilled": True, "FinishedEpoch": 0}))
    return c


def test_logs_are_framed_by_stream_and_filtered(daemon):
    fake_container()
    both = call(daemon, "GET", "/v1.41/containers/web/logs", {"stdout": "1", "stderr": "1"})
    assert isinstance(both, api.Stream) and both.content_type == frames.MULTIPLEXED
    data = streamed(both)
    assert data.startswith(frames.frame("stdout", b"out\n"))
    assert frames.demux(data) == {1: b"out\nmore\n", 2: b"err\n"}
    only_err = streamed(call(daemon, "GET", "/containers/web/logs", {"stderr": "true"}))
    assert frames.demux(only_err) == {2: b"err\n"}
    last = streamed(call(daemon, "GET", "/containers/web/logs", {"stdout": "1", "tail": "1"}))
    assert frames.demux(last) == {1: b"more\n"}
    stamped = streamed(call(daemon, "GET", "/containers/web/logs", {"stdout": "1", "timestamps": "1", "tail": "1"}))
    assert frames.demux(stamped)[1].endswith(b"Z more\n")
    none = call(daemon, "GET", "/containers/web/logs", {})
    assert none.status == 400 and "at least one stream" in none.body["message"]


def test_attach_upgrades_and_wait_answers_with_the_exit_code(daemon, monkeypatch):
    fake_container()
    monkeypatch.setattr(api, "RESTART_WAIT", 0.2)  # a stopped container: the attach waits for a start this long
    attach = call(daemon, "POST", "/v1.41/containers/web/attach", {"stream": "1", "stdout": "1", "stderr": "1"},
                  headers={"connection": "Upgrade", "upgrade": "tcp"})
    start = time.monotonic()
    assert attach.upgrade and streamed(attach) == b""  # nothing new after the attach, and no start came
    assert 0.2 <= time.monotonic() - start < 5
    with_logs = call(daemon, "POST", "/containers/web/attach", {"logs": "1", "stdout": "1"})
    assert not with_logs.upgrade and frames.demux(streamed(with_logs)) == {1: b"out\nmore\n"}
    wait = call(daemon, "POST", "/v1.41/containers/web/wait")  # not-running: a stopped container answers at once
    assert json.loads(streamed(wait)) == {"StatusCode": 3, "Error": None}
    bad = call(daemon, "POST", "/v1.41/containers/web/wait", {"condition": "soon"})
    assert bad.status == 400 and "invalid condition" in bad.body["message"]


def restarted_between_reads(monkeypatch, c):
    """``docker start`` of a stopped container, timed at its worst for a reader: the last exit.json is read
    once more, and goes right after that read; three reads later the new run has logged a line and exited."""
    real, reads = containers.Container.exit, []

    def exit(self):
        reads.append(1)
        if len(reads) == 4:  # the new run: its output, then its exit
            with c.log.open("ab") as log:
                log.write(logs.line("stdout", b"again\n"))
            (c.dir / "exit.json").write_text(json.dumps({"ExitCode": 2, "FinishedEpoch": 1}))
        seen = real(self)
        if len(reads) == 1:  # the start's reset, just after this read
            (c.dir / "shim.json").unlink()
            (c.dir / "exit.json").unlink()
        return seen
    monkeypatch.setattr(containers.Container, "exit", exit)


def test_an_attach_follows_the_new_run_though_the_old_exit_went_between_two_reads(daemon, monkeypatch):
    c = fake_container()
    attach = call(daemon, "POST", "/containers/web/attach", {"stream": "1", "stdout": "1", "stderr": "1"},
                  headers={"connection": "Upgrade", "upgrade": "tcp"})  # docker start -a: attach, then start
    restarted_between_reads(monkeypatch, c)
    assert frames.demux(streamed(attach)) == {1: b"again\n"}  # not ended by the exit that was gone


def test_a_wait_for_the_next_exit_answers_with_the_new_runs_code_though_the_old_exit_went(daemon, monkeypatch):
    c = fake_container()
    wait = call(daemon, "POST", "/containers/web/wait", {"condition": "next-exit"})
    restarted_between_reads(monkeypatch, c)
    assert json.loads(streamed(wait)) == {"StatusCode": 2, "Error": None}  # not the old run's 3, nor a guess


def test_a_removed_containers_directory_is_set_aside_under_a_new_record_then_deleted(daemon):
    from labcore import tracker
    c = fake_container()
    rec = tracker.default().add("path", str(c.dir), what="container", container=c.id)
    moved = containers.set_aside(rec)
    assert moved.target == str(c.dir.with_name(containers.ASIDE + c.id)) and moved.extra["container"] == c.id
    assert not c.dir.exists() and (c.dir.with_name(containers.ASIDE + c.id) / "container.json").exists()
    assert [r.target for r in tracker.default().records()] == [moved.target]  # the old name's record went
    assert containers.every() == [] and call(daemon, "GET", "/containers/json", {"all": "1"}).body == []
    containers.delete_aside([moved])
    assert not os.path.exists(moved.target) and tracker.default().records() == []
    gone = tracker.default().add("path", str(c.dir))
    assert containers.set_aside(gone) is None  # nothing there: left to its undo, which says so
    assert tracker.default().undo(gone) == "already gone"


def test_create_and_start_warm_the_cgroup_attach_lock_first(daemon, monkeypatch):
    """docker run sends create then start some 15 ms before the shim's runtime makes the container's
    cgroups: both warm the lock (runtime.cgroups.warm_attach), even when they then fail or do nothing."""
    from labcore.proc.stat import process_start_time
    from labcore.runtime import cgroups
    warmed = []
    monkeypatch.setattr(cgroups, "warm_attach", lambda: warmed.append(1))
    assert call(daemon, "POST", "/v1.41/containers/create", body={"Image": "lab/none:1"}).status == 404
    assert len(warmed) == 1
    c = fake_container(exited=False)
    (c.dir / "shim.json").write_text(json.dumps({"pid": os.getpid(), "start_time": process_start_time(os.getpid())}))
    assert call(daemon, "POST", f"/v1.41/containers/{c.id}/start").status == 304  # running already
    assert len(warmed) == 2


def test_a_shim_is_done_when_its_news_pipe_ends_before_its_process_does(daemon):
    """The shim closes its end of the pipe as its last step: the watcher goes on at once, and reaps the
    process later, instead of waiting for a Python process's exit."""
    import threading

    class Child:  # a shim process that has not exited yet
        def __init__(self, fd):
            self.news_fd, self.waited = fd, False

        def wait(self, timeout=None):
            self.waited = True

    r, w = os.pipe()
    child = Child(r)
    os.write(w, b"1")  # "the container runs", unread by start
    threading.Timer(0.1, os.close, [w]).start()
    start = time.monotonic()
    containers.wait_shim(fake_container(), child)
    assert time.monotonic() - start >= 0.09 and not child.waited  # returned at the pipe's end, not by wait()
    assert child.news_fd is None
    with pytest.raises(OSError):
        os.fstat(r)  # closed: the daemon keeps no descriptor per finished container


def test_list_and_inspect_read_the_state_files(daemon):
    c = fake_container()
    fake_container("e" * 64, "fresh", exited=False)
    assert call(daemon, "GET", "/containers/json").body == []  # without all: running ones only
    listed = call(daemon, "GET", "/containers/json", {"all": "1"}).body
    assert {(e["Names"][0], e["State"]) for e in listed} == {("/web", "exited"), ("/fresh", "created")}
    state = call(daemon, "GET", f"/containers/{c.id[:6]}/json").body["State"]  # a unique ID prefix finds it
    assert (state["Status"], state["ExitCode"], state["OOMKilled"], state["Pid"]) == ("exited", 3, True, 0)
    assert call(daemon, "GET", "/containers/web/json").body["Name"] == "/web"
    stop = call(daemon, "POST", "/containers/web/stop")
    assert stop.status == 304  # stopping a stopped container changes nothing
    kill = call(daemon, "POST", "/containers/web/kill")
    assert kill.status == 409 and "is not running" in kill.body["message"]


def test_bundle_config_takes_the_image_and_the_request(daemon):
    c = fake_container()
    c.meta["Config"] = {"Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/tmp", "User": "1000:100",
                        "Hostname": "ffffffffffff"}
    c.meta["HostConfig"] = {"Memory": 64 << 20, "NanoCpus": 500_000_000, "PidsLimit": 20}
    oci = bundle.config(c.meta, c.id)
    assert oci["process"]["args"] == ["sh", "-c", "echo"] and oci["process"]["cwd"] == "/tmp"
    assert "GREETING=hi" in oci["process"]["env"] and "HOSTNAME=ffffffffffff" in oci["process"]["env"]
    assert oci["process"]["user"] == {"uid": 1000, "gid": 100} and oci["root"] == {"path": "rootfs", "readonly": False}
    assert len(oci["process"]["capabilities"]["effective"]) == 14 and "CAP_SYS_ADMIN" not in \
        oci["process"]["capabilities"]["bounding"]
    assert oci["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    r = oci["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20} and r["cpu"] == {"quota": 50000, "period": 100000}
    assert r["pids"] == {"limit": 20}
    assert oci["linux"]["cgroupsPath"] == "/labcore/docker-ffffffffffff"
    for bad in ("www-data", "1:2:3", "-1"):
        with pytest.raises(InvalidInputError, match="only a numeric"):
            bundle.parse_user(bad)


def test_binds_become_private_recursive_binds_and_privileged_opens_everything(daemon, tmp_path):
    c = fake_container()
    c.meta["Config"] = {"Env": [], "Hostname": "ffffffffffff"}
    c.meta["HostConfig"] = {"Privileged": True}
    c.meta["Binds"] = [bundle.parse_bind(f"{tmp_path}:/data:ro"), bundle.parse_bind(f"{tmp_path}/:/more:shared")]
    oci = bundle.config(c.meta, c.id)
    assert oci["mounts"][-2:] == [
        {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["rbind", "rprivate", "ro"]},
        {"destination": "/more", "type": "bind", "source": str(tmp_path), "options": ["rbind", "shared"]}]
    assert "seccomp" not in oci["linux"] and oci["linux"]["maskedPaths"] == oci["linux"]["readonlyPaths"] == []
    assert "CAP_SYS_ADMIN" in oci["process"]["capabilities"]["effective"]
    assert oci["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "ro" not in next(m for m in oci["mounts"] if m["type"] == "sysfs")["options"]
    for bad, said in (("/a", "invalid volume"), ("vol:/data", "names a volume"), (f"{tmp_path}:data", "absolute"),
                      (f"{tmp_path}:/d:ro,rw", "invalid mode"), (f"{tmp_path}/none:/d", "does not exist")):
        with pytest.raises(InvalidInputError, match=said):
            bundle.parse_bind(bad)


def test_entrypoint_and_cmd_follow_dockers_rule():
    image = {"Entrypoint": ["/entry"], "Cmd": ["default"]}
    assert bundle.command(image, None, None) == ["/entry", "default"]
    assert bundle.command(image, None, ["mine"]) == ["/entry", "mine"]
    assert bundle.command(image, ["sh", "-c"], None) == ["sh", "-c"]  # a new entrypoint drops the image's Cmd
    assert bundle.command({"Cmd": "echo hi"}, None, None) == ["echo hi"]
    assert bundle.merge_env(["PATH=/bin", "A=1"], ["A=2", "B=3"]) == ["PATH=/bin", "A=2", "B=3"]
    assert bundle.merge_env([], [])[0].startswith("PATH=/usr/local/sbin")


def test_image_names_are_normalized_as_docker_does():
    assert images.normalize("busybox") == "busybox:latest"
    assert images.normalize("docker.io/library/busybox:1.36") == "busybox:1.36"
    assert images.normalize("localhost:5000/lab/app") == "localhost:5000/lab/app:latest"
    for bad in ("", "Upper/case", "a b", "x:bad tag"):
        with pytest.raises(InvalidInputError):
            images.normalize(bad)
