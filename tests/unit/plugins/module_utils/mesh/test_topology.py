"""Topology: leaders, members, relays, endpoints and keepalives on small, readable meshes."""

import ipaddress

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import election
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.model import parse_endpoint

from .helpers import Net, assert_routes_everything, key, lab_nodes, node


def net_of(plan):
    return Net(plan, {name: plan.node_ini(name) for name in plan.nodes})


@pytest.mark.parametrize("granularity", ["full", "location", "cross"])
def test_lab_mesh_routes_every_pair(granularity):
    plan = build_plan("10.4.0.0/16", granularity, lab_nodes())
    net = net_of(plan)
    for src in plan.nodes:
        assert net.overlapping(src) == []
        for dst in plan.nodes:
            net.route(src, dst)


def test_location_leader_carries_members():
    plan = build_plan("10.4.0.0/16", "location", lab_nodes(), standbys=0)   # Kilo's topology
    do1, do2 = plan.nodes["do1"], plan.nodes["do2"]
    assert do1.leader and not do2.leader and do1.forward
    # the member's only peer is its leader, reached over the private network
    assert [(e.name, str(e.endpoint)) for e in do2.peers] == [("do1", "10.110.0.11:51820")]
    assert [str(n) for n in do2.peers[0].allowed_ips] == ["10.4.0.0/16"]
    # another location sees do-fra1 as one peer (the leader) whose AllowedIPs cover the member
    aws_view = {e.name: [str(n) for n in e.allowed_ips] for e in plan.nodes["aws1"].peers}
    assert aws_view["do1"] == ["10.4.0.2/32", "10.4.0.3/32"]
    assert "do2" not in aws_view


def test_full_mesh_uses_private_endpoint_inside_a_location():
    plan = build_plan("10.4.0.0/16", "full", lab_nodes())
    eps = {e.name: str(e.endpoint) for e in plan.nodes["do1"].peers}
    assert eps["do2"] == "10.110.0.12:51820"
    assert eps["aws1"] == "203.0.113.21:51820"
    assert eps["edge"] == "None"


def test_nat_node_keeps_alive_and_others_do_not():
    plan = build_plan("10.4.0.0/16", "location", lab_nodes(), standbys=0)
    assert plan.nodes["edge"].nat
    assert {e.name: e.keepalive for e in plan.nodes["edge"].peers} == {"aws1": 25, "do1": 25}
    assert all(e.keepalive is None for e in plan.nodes["do1"].peers)


def test_explicit_keepalive_zero_disables_it():
    nodes = lab_nodes()
    nodes[3]["keepalive"] = 0
    plan = build_plan("10.4.0.0/16", "location", nodes, standbys=0)
    assert all(e.keepalive is None for e in plan.nodes["edge"].peers)


def test_leader_preference_and_determinism():
    nodes = lab_nodes()
    nodes[1]["leader"] = True
    plan = build_plan("10.4.0.0/16", "location", nodes)
    assert plan.nodes["do2"].leader and not plan.nodes["do1"].leader
    again = build_plan("10.4.0.0/16", "location", list(reversed(nodes)))
    assert plan.to_json() == again.to_json()


def fra1_with_a_private_endpoint(**first):
    """fra1: a (endpoint on a private network, first by name) and b (public endpoint); c elsewhere."""
    return [node("a", "fra1", "10.110.0.5", ["10.110.0.5/20"], **first),
            node("b", "fra1", "198.51.100.2", ["10.110.0.6/20"]), node("c", "euc1", "198.51.100.3")]


def test_leader_prefers_a_public_endpoint_over_a_private_one():
    plan = build_plan("10.4.0.0/16", "location", fra1_with_a_private_endpoint())
    assert plan.nodes["b"].leader and not plan.nodes["a"].leader
    assert plan.notes == []
    again = build_plan("10.4.0.0/16", "location", list(reversed(fra1_with_a_private_endpoint())))
    assert plan.to_json() == again.to_json()


def test_leader_pinned_to_a_private_endpoint_wins_with_a_note():
    plan = build_plan("10.4.0.0/16", "location", fra1_with_a_private_endpoint(leader=True))
    assert plan.nodes["a"].leader and not plan.nodes["b"].leader
    assert [p.render() for p in plan.notes] == [
        "a: leader: is pinned as leader of location fra1 with the private endpoint 10.110.0.5:51820 (RFC 1918), "
        "while b has the public endpoint 198.51.100.2:51820: the other locations and external peers reach a only "
        "over a private network they share with it"]


def test_location_without_a_public_endpoint_elects_a_private_one_with_a_note():
    nodes = [node("a", "fra1", "[fd10::5]:51820", ["10.110.0.5/20"]), node("b", "fra1", None, ["10.110.0.6/20"]),
             node("c", "euc1", "198.51.100.3")]
    plan = build_plan("10.4.0.0/16", "location", nodes)
    assert plan.nodes["a"].leader
    assert [p.render() for p in plan.notes] == [
        "a: endpoint: [fd10::5]:51820 is a private address (RFC 4193) and a leads location fra1, where no host has a "
        "public endpoint: the other locations and external peers reach a only over a private network they share "
        "with it"]


@pytest.mark.parametrize("granularity, nodes", [
    ("location", [node("a", "fra1", "10.110.0.5", ["10.110.0.5/20"]), node("b", "fra1", None, ["10.110.0.6/20"])]),
    ("full", [node("a", "fra1", "10.110.0.5"), node("b", "euc1", "198.51.100.3")]),
], ids=["only-location", "full-granularity"])
def test_private_endpoint_note_only_where_a_location_leader_faces_others(granularity, nodes):
    plan = build_plan("10.4.0.0/16", granularity, nodes)
    assert plan.notes == []


@pytest.mark.parametrize("endpoint, private", [
    ("10.0.0.1", True), ("172.16.0.1", True), ("172.31.255.254", True), ("192.168.7.1", True),
    ("[fc00::1]:51820", True), ("[fdff::1]:51820", True), ("[::ffff:10.0.0.1]:51820", True),
    ("172.32.0.1", False), ("100.64.0.1", False), ("198.51.100.2", False), ("[2001:db8::1]:51820", False),
    ("vpn.example.org", False),
])
def test_private_endpoints_are_rfc1918_and_rfc4193_like_kilo(endpoint, private):
    assert election.is_private(parse_endpoint(endpoint, 51820)) is private


def test_two_nat_locations_talk_through_a_relay():
    nodes = lab_nodes() + [node("edge2", "branch", None, ["192.168.60.10/24"])]
    plan = build_plan("10.4.0.0/16", "location", nodes)
    assert plan.relays == {("branch", "edge"): "aws-eu-central-1"}
    assert plan.nodes["aws1"].forward
    relay_entry = {e.name: e for e in plan.nodes["edge"].peers}["aws1"]
    assert relay_entry.relays == ["branch"]
    net = net_of(plan)
    assert net.route("edge", "edge2") == ["edge", "aws1", "edge2"]
    assert net.route("edge2", "do2") == ["edge2", "do1", "do2"]


def test_extra_cidrs_are_routed_to_their_node():
    nodes = lab_nodes()
    nodes[1]["extra_cidrs"] = ["10.244.1.0/24"]
    plan = build_plan("10.4.0.0/16", "location", nodes)
    aws_view = {e.name: [str(n) for n in e.allowed_ips] for e in plan.nodes["aws1"].peers}
    assert "10.244.1.0/24" in aws_view["do1"]
    leader_view = {e.name: [str(n) for n in e.allowed_ips] for e in plan.nodes["do1"].peers}
    assert leader_view["do2"] == ["10.4.0.3/32", "10.244.1.0/24"]


def test_nodes_forward_the_address_families_they_route_for_others():
    nodes = lab_nodes()
    nodes[3]["extra_cidrs"] = ["10.50.0.0/24", "fd00:50::/64"]     # edge: a network of each family behind it
    nodes[1]["extra_cidrs"] = ["fd00:12::/64"]                       # do2, a member: an IPv6 network only
    plan = build_plan("10.4.0.0/16", "location", nodes, standbys=0)
    assert plan.nodes["edge"].forward and plan.nodes["do2"].forward
    assert {name: n.forward_families for name, n in plan.nodes.items()} == \
        {"aws1": (), "do1": (4, 6), "do2": (6,), "edge": (4, 6)}
    data = plan.to_dict()["nodes"]
    assert {name: (d["forward"], d["forward_ipv4"], d["forward_ipv6"]) for name, d in data.items()} == {
        "aws1": (False, False, False), "do1": (True, True, True), "do2": (True, False, True),
        "edge": (True, True, True)}
    # a host behind do2 reaches one behind edge: do2 and edge route between their networks and the mesh,
    # do1 carries its member's traffic
    path = net_of(plan).route("do2", "edge", dst=ipaddress.ip_address("fd00:50::9"),
                              src_ip=ipaddress.ip_address("fd00:12::9"))
    assert path == ["do2", "do1", "edge"]


def test_node_alone_with_its_extra_cidrs_has_nobody_to_forward_for():
    plan = build_plan("10.4.0.0/24", "full", [node("solo", "x", "198.51.100.7", extra_cidrs=["10.50.0.0/24"])])
    assert plan.nodes["solo"].forward_families == () and not plan.nodes["solo"].forward


def test_external_peer_attaches_to_every_leader():
    peer = {"name": "laptop", "allowed_ips": ["10.5.0.1/32"], "public_key": key("laptop")}
    plan = build_plan("10.4.0.0/16", "location", lab_nodes(), peers=[peer], standbys=0)
    for name in ("do1", "aws1"):
        assert "laptop" in [e.name for e in plan.nodes[name].peers]
    assert "laptop" not in [e.name for e in plan.nodes["do2"].peers]
    # the member reaches the peer through its leader
    assert "10.5.0.1/32" in [str(n) for n in plan.nodes["do2"].peers[0].allowed_ips]
    # the peer (no endpoint) reaches the NAT'd edge through a relay
    assert plan.relays[("edge", "laptop")] == "aws-eu-central-1"
    laptop = {e.name: e for e in plan.peer_entries["laptop"]}
    assert "edge" not in laptop
    assert laptop["aws1"].relays == ["edge"]
    assert "10.4.0.4/32" in [str(n) for n in laptop["aws1"].allowed_ips]


@pytest.mark.parametrize("endpoint", [None, "203.0.113.77"], ids=["peer-behind-nat", "peer-with-endpoint"])
@pytest.mark.parametrize("name", ["branch", "aws-eu-central-1", "do-fra1"],
                         ids=["nat-location", "relay-location", "location-with-members"])
def test_external_peer_named_like_a_location_keeps_relays_apart(name, endpoint):
    # two NAT'd locations (edge, branch) relayed by aws-eu-central-1; the peer shares a location's name
    nodes = lab_nodes() + [node("edge2", "branch", None, ["192.168.60.10/24"])]
    peer = {"name": name, "allowed_ips": ["10.4.200.1/32"], "public_key": key("peer")}
    if endpoint:
        peer["endpoint"] = endpoint
    plan = build_plan("10.4.0.0/16", "location", nodes, peers=[peer])
    assert_routes_everything(plan)
    # the relay hands each NAT'd location the other's ranges, and the peer's only where the peer needs a relay
    relayed = {e.name: e.relays for e in plan.nodes["edge"].peers}
    assert relayed["aws1"] == (sorted(["branch", name]) if endpoint is None else ["branch"])
    assert [str(n) for n in {e.name: e for e in plan.peer_entries[name]}["aws1"].allowed_ips] == \
        (["10.4.0.1/32", "10.4.0.4/32", "10.4.0.5/32"] if endpoint is None else ["10.4.0.1/32"])


def test_single_node_mesh_has_no_peers():
    plan = build_plan("10.4.0.0/24", "full", [node("solo", "x", "198.51.100.7")])
    assert plan.nodes["solo"].peers == []


def test_unreachable_pair_without_relay_is_an_error():
    nodes = [node("a", "l1", None, ["192.168.1.2/24"]), node("b", "l2", None, ["192.168.2.2/24"])]
    with pytest.raises(MeshError) as err:
        build_plan("10.4.0.0/16", "location", nodes)
    assert "location l1: endpoint: cannot reach location l2" in str(err.value)


def test_member_that_cannot_reach_its_leader_is_named():
    nodes = [node("a", "l1", None), node("b", "l1", None), node("c", "l2", "198.51.100.9")]
    with pytest.raises(MeshError) as err:
        build_plan("10.4.0.0/16", "location", nodes)
    assert "b: private_ips: cannot reach a, the leader of location l1" in str(err.value)


def test_plan_dict_has_no_private_material():
    data = build_plan("10.4.0.0/16", "location", lab_nodes()).to_dict()
    text = build_plan("10.4.0.0/16", "location", lab_nodes()).to_json()
    assert "PrivateKey" not in text and "private_key" not in text
    assert data["segments"]["do-fra1"] == {"location": "do-fra1", "leader": "do1", "nodes": ["do1", "do2"],
                                           "standbys": ["do2"], "ips": ["10.4.0.2/32", "10.4.0.3/32"]}


def test_cross_routes_privately_inside_a_location_and_peers_across():
    plan = build_plan("10.4.0.0/16", "cross", lab_nodes())
    do1 = plan.nodes["do1"]
    assert "do2" not in [e.name for e in do1.peers]
    assert [(str(n), str(v)) for n, v in do1.routes] == [("10.4.0.3/32", "10.110.0.12")]
    assert sorted(e.name for e in plan.nodes["aws1"].peers) == ["do1", "do2", "edge"]
    assert plan.nodes["aws1"].routes == []
    net = net_of(plan)
    assert net.route("do1", "do2") == ["do1", "do2"]
    for src in plan.nodes:
        assert net.overlapping(src) == []
        for dst in plan.nodes:
            net.route(src, dst)


def test_cross_never_picks_a_privately_linked_relay():
    # n1 (NAT'd) shares fra1's network with p1; n2 is NAT'd elsewhere: only q (public, another location) can relay
    nodes = [node("n1", "fra1", None, ["10.110.0.5/20"]), node("p1", "fra1", "198.51.100.1", ["10.110.0.6/20"]),
             node("n2", "euc1", None, ["172.31.0.5/20"]), node("q", "nyc1", "198.51.100.9")]
    plan = build_plan("10.4.0.0/16", "cross", nodes)
    assert plan.relays == {("n1", "n2"): "q"}
    net = net_of(plan)
    assert net.route("n1", "n2") == ["n1", "q", "n2"]
