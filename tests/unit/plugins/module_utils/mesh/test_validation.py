"""Bad input: every problem is reported with the host (or peer) and the field, before anything is planned."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.model import parse_endpoint

from .helpers import key, node


def good():
    return [node("a", "l1", "198.51.100.1", ["192.168.1.2/24"]), node("b", "l2", "198.51.100.2")]


def problems(nodes=None, **kwargs):
    kwargs.setdefault("cidr", "10.4.0.0/16")
    kwargs.setdefault("granularity", "location")
    with pytest.raises(MeshError) as err:
        build_plan(nodes=good() if nodes is None else nodes, **kwargs)
    return str(err.value)


def with_change(index, **fields):
    nodes = good()
    nodes[index].update(fields)
    return nodes


@pytest.mark.parametrize("nodes, expected", [
    (with_change(1, name="a"), "a: name: 'a' is also used by a"),
    (with_change(1, public_key=key("a")), "b: public_key: "),
    (with_change(0, public_key="not-a-key"), "a: public_key: is not a WireGuard public key"),
    (with_change(0, public_key="A" * 43 + "x"), "a: public_key: is not a WireGuard public key"),
    (with_change(0, endpoint="198.51.100.1:99999"), "a: endpoint: '198.51.100.1:99999' has port 99999 outside"),
    (with_change(0, endpoint="bad host:51820"), "a: endpoint: 'bad host:51820' has an invalid host"),
    (with_change(0, endpoint="300.1.1.1"), "a: endpoint: '300.1.1.1' has an invalid host"),
    (with_change(0, endpoint="host:port"), "a: endpoint: 'host:port' has an invalid port"),
    (with_change(0, location=""), "a: location: is required"),
    (with_change(0, location=7), "a: location: must be a string"),
    (with_change(0, name=42), "42: name: must be a string, got int 42"),
    (with_change(0, name="no spaces"), "no spaces: name: 'no spaces' is not a valid name"),
    (with_change(0, private_ips=["10.4.3.2/24"]), "a: private_ips: network 10.4.3.0/24 overlaps the mesh CIDR"),
    (with_change(0, private_ips=["nope"]), "a: private_ips: 'nope' is not an address with prefix"),
    (with_change(0, extra_cidrs=["10.9.0.1/24"]), "a: extra_cidrs: '10.9.0.1/24' is not a network CIDR"),
    (with_change(0, extra_cidrs=["10.4.8.0/24"]), "a: extra_cidrs: 10.4.8.0/24 overlaps the mesh CIDR"),
    ([dict(good()[0], extra_cidrs=["10.9.1.0/24"]), dict(good()[1], extra_cidrs=["10.9.0.0/16"])],
     "a: extra_cidrs: 10.9.1.0/24 overlaps 10.9.0.0/16 of b"),
    (with_change(0, mesh_ip="10.5.0.1"), "a: mesh_ip: 10.5.0.1 is outside the mesh CIDR"),
    (with_change(0, mesh_ip="10.4.0.0"), "a: mesh_ip: 10.4.0.0 is the network or broadcast address"),
    (with_change(0, mesh_ip="x"), "a: mesh_ip: 'x' is not an IP address"),
    (with_change(0, listen_port=0), "a: listen_port: 0 is outside 1-65535"),
    (with_change(0, keepalive="no"), "a: keepalive: must be an integer, got 'no'"),
    (with_change(0, leader="yes"), "a: leader: must be a boolean, got 'yes'"),
    (with_change(0, colour="blue"), "a: colour: is not a known field"),
    ([node("a", "l1", None, ["192.168.1.2/24"], leader=True), node("b", "l1", "198.51.100.2", ["192.168.1.3/24"])],
     "a: leader: is pinned as leader of location l1 but has no endpoint, while b has one"),
    ([], "mesh: nodes: the mesh has no nodes"),
    (["just-a-string"], "<node>: a node must be a mapping"),
])
def test_bad_node_input(nodes, expected):
    assert expected in problems(nodes)


def test_same_pinned_ip_twice():
    nodes = [dict(n, mesh_ip="10.4.0.9") for n in good()]
    assert "b: mesh_ip: " in problems(nodes) and "is also used by a" in problems(nodes)


@pytest.mark.parametrize("kwargs, expected", [
    ({"cidr": "10.4.0.1/16"}, "mesh: cidr: '10.4.0.1/16' is not a network CIDR"),
    ({"cidr": "10.4.0.0/31"}, "mesh: cidr: 10.4.0.0/31 is too small"),
    ({"granularity": "star"}, "mesh: granularity: 'star' is not one of full, location, cross"),
    ({"keepalive": 0}, "mesh: keepalive: 0 is outside 1-65535"),
])
def test_bad_mesh_settings(kwargs, expected):
    assert expected in problems(**kwargs)


@pytest.mark.parametrize("peer, expected", [
    ({"name": "p", "public_key": key("p")}, "peer p: allowed_ips: is required"),
    ({"name": "p", "allowed_ips": ["10.5.0.1/32"]}, "peer p: public_key: is required"),
    ({"name": "p", "allowed_ips": ["192.168.1.0/25"], "public_key": key("p")}, None),
    ({"name": "a", "allowed_ips": ["10.5.0.1/32"], "public_key": key("p")}, "peer a: name: 'a' is also used by a"),
    ({"name": "p", "allowed_ips": ["10.4.0.0/15"], "public_key": key("p")}, "peer p: allowed_ips: 10.4.0.0/15 straddles"),
])
def test_bad_peer_input(peer, expected):
    if expected is None:
        build_plan("10.4.0.0/16", "location", good(), peers=[peer])   # a peer may route a private range
    else:
        assert expected in problems(peers=[peer])


def test_peer_claiming_a_pinned_node_ip():
    nodes = with_change(0, mesh_ip="10.4.0.7")
    peer = {"name": "p", "allowed_ips": ["10.4.0.7/32"], "public_key": key("p")}
    assert "peer p: allowed_ips: 10.4.0.7/32 contains the mesh IP 10.4.0.7 of a" in problems(nodes, peers=[peer])


def peer(name, allowed_ips, endpoint=None):
    data = {"name": name, "allowed_ips": allowed_ips, "public_key": key(name)}
    if endpoint:
        data["endpoint"] = endpoint
    return data


ROUTED = ", which the mesh routes into the tunnel: an endpoint must be an address the host has without the mesh"


@pytest.mark.parametrize("nodes, peers, expected", [
    (with_change(1, extra_cidrs=["198.51.100.0/31"]), [],
     "a: endpoint: 198.51.100.1 is inside 198.51.100.0/31, an extra CIDR of b" + ROUTED),
    (with_change(0, extra_cidrs=["198.51.100.0/31"]), [],
     "a: endpoint: 198.51.100.1 is inside 198.51.100.0/31, an extra CIDR of a" + ROUTED),
    ([dict(good()[0], endpoint="[2001:db8::1]:51820"), dict(good()[1], extra_cidrs=["2001:db8::/64"])], [],
     "a: endpoint: 2001:db8::1 is inside 2001:db8::/64, an extra CIDR of b" + ROUTED),
    (good(), [peer("p", ["198.51.100.0/31"])],
     "a: endpoint: 198.51.100.1 is inside 198.51.100.0/31, an allowed IP range of peer p" + ROUTED),
    (with_change(1, extra_cidrs=["203.0.113.0/24"]), [peer("p", ["10.5.0.1/32"], "203.0.113.9")],
     "peer p: endpoint: 203.0.113.9 is inside 203.0.113.0/24, an extra CIDR of b" + ROUTED),
])
def test_endpoint_inside_a_routed_network(nodes, peers, expected):
    assert expected in problems(nodes, peers=peers)


def test_endpoint_named_by_dns_is_not_checked_against_routed_networks():
    nodes = [dict(good()[0], endpoint="vpn.example.org"), dict(good()[1], extra_cidrs=["198.51.100.0/31"])]
    build_plan("10.4.0.0/16", "location", nodes)


def test_every_problem_is_reported_at_once():
    nodes = good()
    nodes[0]["endpoint"] = "x:0"
    nodes[1]["public_key"] = "short"
    text = problems(nodes)
    assert "a: endpoint:" in text and "b: public_key:" in text


def test_missing_keys_only_matter_when_required():
    nodes = [dict(n, public_key=None) for n in good()]
    build_plan("10.4.0.0/16", "location", nodes, require_keys=False)
    assert "a: public_key: is missing" in problems(nodes)


@pytest.mark.parametrize("text, host, port", [
    ("198.51.100.1", "198.51.100.1", 51820),
    ("198.51.100.1:4500", "198.51.100.1", 4500),
    ("vpn.example.org:51821", "vpn.example.org", 51821),
    ("[2001:db8::1]:51820", "2001:db8::1", 51820),
    ("2001:db8::1", "2001:db8::1", 51820),
])
def test_endpoint_forms(text, host, port):
    ep = parse_endpoint(text, 51820)
    assert (ep.host, ep.port) == (host, port)


@pytest.mark.parametrize("text", ["", "[2001:db8::1", "[nothex]:1", "a..b:1", "-bad-.com", 5])
def test_endpoint_rejects(text):
    with pytest.raises(ValueError):
        parse_endpoint(text, 51820)
