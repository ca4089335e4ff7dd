"""The daemon's network options, without root: HostConfig parsed, bad input answered 400 in Docker's words."""

import pytest

from labcore.daemon import api, containers, images, network
from labcore.errors import InvalidInputError


class FakeImage:
    id = "sha256:" + "a" * 64
    config = {"Cmd": ["sh"], "Env": ["PATH=/bin"]}

    def lowerdirs(self):
        return []


@pytest.fixture
def daemon(state_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir(mode=0o711)
    monkeypatch.setattr(images, "find", lambda ref: FakeImage())
    return api.Daemon()


def create(daemon, host=None, **body):
    req = api.Request("POST", "/v1.41/containers/create", {}, {"Image": "lab/busybox:1", "Cmd": ["true"],
                                                                "HostConfig": host or {}, **body})
    return api.handle(daemon, req)


def cli_body(*publish, mode="default"):
    """What docker run -p ... sends: one PortBindings entry and one ExposedPorts entry per -p."""
    bindings, exposed = {}, {}
    for ip, host_port, port in publish:
        bindings.setdefault(f"{port}/tcp", []).append({"HostIp": ip, "HostPort": host_port})
        exposed[f"{port}/tcp"] = {}
    return {"HostConfig": {"NetworkMode": mode, "PortBindings": bindings}, "ExposedPorts": exposed}


def test_publish_alone_asks_for_the_default_bridge():
    plan, warnings = network.plan(cli_body(("127.0.0.1", "8080", 80)))
    assert plan["NetworkMode"] == "bridge" and not plan["Legacy"] and warnings == []
    assert plan["Bindings"] == [{"port": 80, "proto": "tcp", "host_ip": "127.0.0.1", "host_port": 8080}]
    assert plan["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert plan["ExposedPorts"] == {"80/tcp": {}}


def test_no_option_keeps_the_older_behaviour_and_every_mode_is_read():
    assert network.plan({})[0] | {} == {"NetworkMode": "none", "PortBindings": {}, "ExposedPorts": None,
                                        "Bindings": [], "Legacy": True}
    assert network.plan({"HostConfig": {"NetworkMode": "default"}})[0]["Legacy"]
    for mode, kind in (("none", ("none", None)), ("host", ("host", None)), ("bridge", ("network", "bridge")),
                       ("web", ("network", "web")), ("container:db", ("container", "db"))):
        plan, _ = network.plan({"HostConfig": {"NetworkMode": mode}})
        assert plan["NetworkMode"] == mode and not plan["Legacy"] and network.mode_of(mode) == kind


def test_a_port_without_host_port_or_host_ip():
    plan, _ = network.plan({"HostConfig": {"PortBindings": {"53/udp": [{"HostIp": "", "HostPort": ""}],
                                                            "80": None}}})
    assert plan["Bindings"] == [{"port": 53, "proto": "udp", "host_ip": "", "host_port": 0},
                                {"port": 80, "proto": "tcp", "host_ip": "", "host_port": 0}]


def test_host_and_none_discard_published_ports_with_dockers_warning():
    plan, warnings = network.plan(cli_body(("", "8080", 80), mode="host"))
    assert plan["Bindings"] == [] and plan["PortBindings"] == {}
    assert warnings == ["Published ports are discarded when using host network mode"]


@pytest.mark.parametrize("body, message", [
    (cli_body(("", "8080", "abc")), 'invalid port specification: "abc"'),
    (cli_body(("", "70000", 80)), 'invalid port specification: "70000"'),
    (cli_body(("", "0", 80)), 'invalid port specification: "0"'),
    (cli_body(("nope", "8080", 80)), "invalid IP address: nope"),
    (cli_body(("::1", "8080", 80)), "invalid IP address: ::1 (IPv6)"),
    (cli_body(("", "8000-8010", 80)), 'invalid port specification: "8000-8010" (a range)'),
    (cli_body(("", "8080", 80), ("", "8080", 81)), "Bind for 0.0.0.0:8080 failed: port is already allocated"),
    ({"HostConfig": {"PortBindings": {"80/sctp": [{"HostPort": "8080"}]}}},
     'invalid port specification: "80/sctp" (protocol sctp)'),
    ({"HostConfig": {"PortBindings": ["80:80"]}}, "json: cannot unmarshal PortBindings: not an object"),
    ({"HostConfig": {"PortBindings": {"80/tcp": ["8080"]}}}, "json: cannot unmarshal PortBindings[80/tcp]"),
    ({"HostConfig": {"NetworkMode": 7}}, "json: cannot unmarshal NetworkMode: not a string"),
    ({"HostConfig": {"NetworkMode": "container:"}}, "invalid container format container:<name|id>"),
    ({"ExposedPorts": {"x/tcp": {}}}, 'invalid port specification: "x"'),
    (cli_body(("", "8080", 80), mode="container:db"),
     "conflicting options: port publishing and the container type network mode"),
])
def test_bad_input_is_refused_in_dockers_words(body, message):
    with pytest.raises(InvalidInputError) as refused:
        network.plan(body)
    assert str(refused.value.what).startswith(message)


def test_the_api_answers_400_and_makes_nothing(daemon):
    answer = create(daemon, {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "99999"}]}})
    assert (answer.status, answer.body) == (400, {"message": 'invalid port specification: "99999"'})
    answer = create(daemon, {"NetworkMode": "container:db", "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})
    assert answer.status == 400 and answer.body["message"].startswith("conflicting options")
    assert containers.every() == []


def test_create_keeps_dockers_fields_and_inspect_shows_them(daemon):
    answer = create(daemon, **cli_body(("127.0.0.1", "8080", 80)))
    assert answer.status == 201 and answer.body["Warnings"] == []
    info = api.handle(daemon, api.Request("GET", f"/containers/{answer.body['Id']}/json")).body
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert info["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert info["NetworkSettings"]["Ports"] == {} and info["NetworkSettings"]["IPAddress"] == ""  # not running
    host = create(daemon, {"NetworkMode": "host", "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})
    assert host.status == 201 and host.body["Warnings"] == [
        "Published ports are discarded when using host network mode"]
    legacy = api.handle(daemon, api.Request("GET", f"/containers/{create(daemon).body['Id']}/json")).body
    assert legacy["HostConfig"]["NetworkMode"] == "none" and "PortBindings" not in legacy["HostConfig"]
    assert "ExposedPorts" not in legacy["Config"]


def test_the_bundle_joins_the_namespace_by_path_and_binds_the_hosts_file():
    from labcore.runtime import spec
    oci = spec.default(["true"])
    oci.setdefault("mounts", [])
    joined = network.apply(oci, {"netns": "/run/netns/lab-c-dabc", "hosts": "/state/net/web.hosts"})
    spaces = joined["linux"]["namespaces"]
    assert [ns for ns in spaces if ns["type"] == "network"] == [{"type": "network", "path": "/run/netns/lab-c-dabc"}]
    assert joined["mounts"][-1] == {"destination": "/etc/hosts", "type": "bind", "source": "/state/net/web.hosts",
                                    "options": ["rbind", "rprivate", "ro"]}
    host = network.apply(spec.default(["true"]), {"mode": "host"})
    assert "network" not in {ns["type"] for ns in host["linux"]["namespaces"]}  # the host's stack
    assert network.apply(spec.default(["true"]), None) == spec.default(["true"])  # the older behaviour


def test_network_routes_and_the_predefined_modes(daemon):
    assert api.route("GET", "/v1.41/networks") == ("networks_list", {})
    assert api.route("DELETE", "/v1.41/networks/web") == ("network_remove", {"id": "web"})
    assert api.route("POST", "/v1.41/networks/create") == ("network_create", {})
    listed = api.handle(daemon, api.Request("GET", "/v1.41/networks")).body
    assert [(n["Name"], n["Driver"]) for n in listed] == [("host", "host"), ("none", "null")]  # no lab network yet
    none = api.handle(daemon, api.Request("DELETE", "/v1.41/networks/none"))
    assert (none.status, none.body["message"]) == (403, "none is a pre-defined network and cannot be removed")
    missing = api.handle(daemon, api.Request("GET", "/v1.41/networks/nosuch"))
    assert (missing.status, missing.body["message"]) == (404, "network nosuch not found")
    bad = api.handle(daemon, api.Request("POST", "/v1.41/networks/create", body={"Name": "web", "Driver": "macvlan"}))
    assert bad.status == 400 and bad.body["message"].startswith('plugin "macvlan" not found')
    taken = api.handle(daemon, api.Request("POST", "/v1.41/networks/create", body={"Name": "host"}))
    assert (taken.status, taken.body["message"]) == (409, "network with name host already exists")
