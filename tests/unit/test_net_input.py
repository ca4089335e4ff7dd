"""labcore.net without root: IPAM planning and leases, parsing, and bad input refused with its fix."""

import ipaddress

import pytest

from labcore.errors import InvalidInputError, LabError
from labcore.net import endpoint, hostsfile, ipam, links, network, nft, ports, sysctl
from labcore.tracker import Record


def net(text):
    return ipaddress.ip_network(text)


def test_pick_subnet_skips_lab_networks_and_host_routes():
    taken = [net("10.199.0.0/24")]
    routes = [net("0.0.0.0/0"), net("10.199.1.0/25"), net("192.0.2.0/24")]
    assert ipam.pick_subnet(taken, routes) == net("10.199.2.0/24")  # the default route does not count


def test_pick_subnet_reports_an_exhausted_pool():
    pool = net("10.9.0.0/23")
    with pytest.raises(LabError, match="no free /24"):
        ipam.pick_subnet([net("10.9.0.0/24")], [net("10.9.1.0/24")], pool=pool)


def test_next_address_skips_the_gateway_and_leases():
    n = net("10.199.3.0/29")
    assert ipam.gateway(n) == ipaddress.ip_address("10.199.3.1")
    assert ipam.next_address(n, {"10.199.3.2": "a"}) == ipaddress.ip_address("10.199.3.3")
    full = {str(h): "x" for h in n.hosts() if h != ipam.gateway(n)}
    with pytest.raises(LabError, match="no free address"):
        ipam.next_address(n, full)


@pytest.mark.parametrize("text, words", [
    ("10.199.7.1/24", "host bits"), ("fd00::/64", "IPv6"), ("10.0.0.0/30", "too small"),
    ("127.0.0.0/8", "reserved"), ("banana", "--subnet"),
])
def test_bad_subnets_are_refused_with_the_option_named(text, words):
    with pytest.raises(InvalidInputError) as err:
        ipam.parse_subnet(text)
    assert "--subnet" in err.value.what and words in str(err.value) and err.value.fix


def test_leases_are_handed_out_and_released(state_dir):
    from labcore import tracker
    entry, rec = ipam.add_network("t", "10.199.9.0/24", routes=[], driver="bridge")
    assert entry["gateway"] == "10.199.9.1"
    a, ra = ipam.lease("t", "a")
    b, rb = ipam.lease("t", "b")
    assert (str(a), str(b)) == ("10.199.9.2", "10.199.9.3")
    with pytest.raises(InvalidInputError, match="already has an address"):
        ipam.lease("t", "a")
    tracker.default().undo(ra)
    c, rc = ipam.lease("t", "c")
    assert str(c) == "10.199.9.2"  # the released address is handed out again
    assert ipam.networks()["t"]["leases"] == {"10.199.9.2": "c", "10.199.9.3": "b"}
    with pytest.raises(InvalidInputError, match="overlaps 10.199.9.0/24"):
        ipam.add_network("u", "10.199.9.128/25", routes=[])
    with pytest.raises(InvalidInputError, match="overlaps 192.0.2.0/24"):
        ipam.add_network("u", "192.0.2.0/25", routes=[net("192.0.2.0/24")])
    tracker.default().cleanup()
    assert ipam.networks() == {}
    assert tracker.default().records() == []


@pytest.mark.parametrize("text, port", [("8080:80", ports.Port(8080, 80, "tcp")),
                                        ("5353:53/udp", ports.Port(5353, 53, "udp"))])
def test_publish_parses(text, port):
    assert ports.parse(text) == port


@pytest.mark.parametrize("text", ["8080", "80:80/sctp", "0:80", "8080:70000", "a:b", "1.2.3.4:80:80"])
def test_bad_publish_is_refused_with_the_form(text):
    with pytest.raises(InvalidInputError) as err:
        ports.parse(text)
    assert "--publish" in err.value.what and err.value.fix


def test_a_host_port_published_twice_is_refused():
    with pytest.raises(InvalidInputError, match="given twice"):
        ports.check_unique([ports.parse("80:80"), ports.parse("80:81")])


@pytest.mark.parametrize("text, mode", [("none", ("none", None)), ("host", ("host", None)),
                                        ("bridge", ("network", "bridge")), ("web", ("network", "web")),
                                        ("container:api", ("container", "api"))])
def test_network_modes_parse(text, mode):
    assert endpoint.parse_mode(text) == mode


@pytest.mark.parametrize("text", ["", "Web", "container:", "container:A B", "x" * 40, "a/b"])
def test_bad_network_modes_are_refused(text):
    with pytest.raises(InvalidInputError) as err:
        endpoint.parse_mode(text)
    assert ("--network" in err.value.what or "--name" in err.value.what) and err.value.fix


def test_publish_needs_a_bridge_network():
    with pytest.raises(InvalidInputError, match="--publish needs a bridge network"):
        endpoint.attach("api", "host", publish=["8080:80"])


@pytest.mark.parametrize("name", ["none", "host", "", "-x", "UPPER", "a" * 32])
def test_bad_network_names(name):
    with pytest.raises(InvalidInputError, match="bad network name"):
        network.check_name(name)


def test_bad_driver_is_refused_before_anything_is_made(state_dir):
    with pytest.raises(InvalidInputError, match="--driver 'overlay'"):
        network.create("x", driver="overlay")
    with pytest.raises(InvalidInputError, match="--subnet"):
        network.create("x", subnet="10.199.0.1/24")
    assert ipam.networks() == {}


def test_long_names_get_short_link_names():
    assert network.short("web") == "web"
    assert len(network.short("a-very-long-network-name")) == 8
    assert len(f"lab-br-{network.short('a-very-long-network-name')}") <= links.IFNAMSIZ


def test_hosts_file_lists_the_network_in_address_order():
    text = hostsfile.text({"10.199.0.10": "b", "10.199.0.2": "a"})
    assert text.startswith(hostsfile.HEADER)
    assert text.splitlines()[2:] == ["10.199.0.2\ta", "10.199.0.10\tb"]


def test_sysctls_outside_the_lab_are_refused():
    assert str(sysctl.path("net.ipv4.conf.lab-br-web.route_localnet")) == \
        "/proc/sys/net/ipv4/conf/lab-br-web/route_localnet"
    for key in ("net.ipv4.conf.eth0.route_localnet", "kernel.panic", "net.ipv4.conf.lab-x/../eth0.forwarding"):
        with pytest.raises(InvalidInputError, match="not one the lab changes"):
            sysctl.path(key)


@pytest.mark.parametrize("kind, target, extra", [
    ("link", "eth0", {}), ("link", "lab-x", {"netns": "host-ns"}), ("nft-table", "ip filter", {}),
    ("nft-table", "ip nat", {}), ("sysctl", "kernel.panic", {}),
])
def test_undo_refuses_what_is_not_the_labs(kind, target, extra):
    from labcore import tracker
    from labcore.errors import CleanupError
    with pytest.raises(CleanupError, match="refusing"):
        tracker.undo_for(kind).fn(Record(kind, target, extra))


def test_link_and_table_names_carry_the_prefix():
    with pytest.raises(InvalidInputError, match="prefix"):
        links.check_name("eth1")
    with pytest.raises(InvalidInputError, match="bad link name"):
        links.check_name("lab-" + "x" * 20)
    with pytest.raises(InvalidInputError, match="bad nftables table name"):
        nft._check("filter")


def test_cli_refuses_bad_network_input_with_status_125(state_dir, capsys):
    from labcore import cli
    assert cli.main(["run", "--publish", "80", "--", "true"]) == 125
    assert "--publish '80'" in capsys.readouterr().err
    assert cli.main(["run", "--network", "Bad!", "--", "true"]) == 125
    assert "--network" in capsys.readouterr().err
    assert cli.main(["network", "create", "x", "--subnet", "300.1.1.0/24"]) == 125
    assert "--subnet" in capsys.readouterr().err
    assert cli.main(["network", "rm", "nothere"]) == 125
    assert "no lab network 'nothere'" in capsys.readouterr().err
