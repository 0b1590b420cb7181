"""Property tests: for random meshes, the rendered configs route every node (and peer) to every other one (peers
may share a location's name), no config has overlapping AllowedIPs, every hop forwards what it carries,
leaders prefer public endpoints and endpoints inside routed networks are refused."""

import ipaddress

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError

from .helpers import Net, assert_routes_everything, key, mesh_inis

NODE = st.fixed_dictionaries({
    "location": st.integers(0, 3),
    "endpoint": st.sampled_from([None, "public", "private"]),     # private: an RFC 1918 address
    "private": st.booleans(),
    "leader": st.booleans(),
    "extra": st.sampled_from([None, 4, 6]),                     # a network of that address family behind it
})
PEER = st.fixed_dictionaries({"endpoint": st.booleans(), "inside": st.booleans(), "like_location": st.booleans()})


def build(raw_nodes, raw_peers):
    nodes = []
    for i, raw in enumerate(raw_nodes):
        data = {"name": "n%02d" % i, "location": "loc%d" % raw["location"], "public_key": key("n%d" % i)}
        if raw["endpoint"]:
            host = "198.51.100.%d" if raw["endpoint"] == "public" else "172.30.0.%d"
            data["endpoint"] = "%s:%d" % (host % (i + 1), 51820 + i)
            data["leader"] = raw["leader"]
        if raw["private"]:
            data["private_ips"] = ["192.168.%d.%d/24" % (raw["location"], i + 10)]
        if raw["extra"]:
            data["extra_cidrs"] = [extra_cidr(i, raw["extra"])]
        nodes.append(data)
    peers = []
    for i, raw in enumerate(raw_peers):
        ip = "10.4.200.%d/32" % (i + 1) if raw["inside"] else "10.5.0.%d/32" % (i + 1)
        name = "loc%d" % i if raw["like_location"] else "p%d" % i    # loc0, loc1: often a location's name too
        peer = {"name": name, "allowed_ips": [ip], "public_key": key("p%d" % i)}
        if raw["endpoint"]:
            peer["endpoint"] = "203.0.113.%d:51820" % (i + 1)
        peers.append(peer)
    return nodes, peers


def extra_cidr(i, family):
    return "172.16.%d.0/24" % i if family == 4 else "fd00:%x::/64" % (i + 1)


def solvable(nodes, granularity):
    """The independent oracle: when can every node reach every other one?"""
    if not any("endpoint" in n for n in nodes):
        # nobody can relay: only one location whose nodes all share its private network works
        return len(nodes) == 1 or (len({n["location"] for n in nodes}) == 1 and all("private_ips" in n for n in nodes))
    if granularity == "location":
        for loc in {n["location"] for n in nodes}:
            members = [n for n in nodes if n["location"] == loc]
            # a location behind NAT: its leader has no endpoint, members must reach it privately
            if len(members) > 1 and not any("endpoint" in n for n in members) \
                    and not all("private_ips" in n for n in members):
                return False
    return True


def planned(nodes, granularity, peers=()):
    """The plan of a mesh the oracle calls solvable, or None. With ``cross`` there is no independent oracle (its
    private links change which relays qualify): whatever is planned is returned, and a refusal must name an
    unreachable pair."""
    if granularity != "cross":
        assume(solvable(nodes, granularity))
        return build_plan("10.4.0.0/16", granularity, nodes, peers=peers)
    try:
        return build_plan("10.4.0.0/16", granularity, nodes, peers=peers)
    except MeshError as err:
        assert "cannot reach" in str(err)
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=9), st.lists(PEER, max_size=2),
       st.sampled_from(["full", "location", "cross"]))
def test_every_node_routes_to_every_node(raw_nodes, raw_peers, granularity):
    nodes, peers = build(raw_nodes, raw_peers)
    assume(peers == [] or any("endpoint" in n for n in nodes))
    plan = planned(nodes, granularity, peers)
    if plan is not None:
        assert_routes_everything(plan)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=2, max_size=8), st.sampled_from(["full", "location"]))
def test_unsolvable_meshes_fail_with_a_named_problem(raw_nodes, granularity):
    nodes = build(raw_nodes, [])[0]
    assume(not solvable(nodes, granularity))
    try:
        build_plan("10.4.0.0/16", granularity, nodes)
    except MeshError as err:
        assert "cannot reach" in str(err)
    else:
        raise AssertionError("an unsolvable mesh was planned")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=9), st.randoms(use_true_random=False))
def test_output_does_not_depend_on_input_order(raw_nodes, rnd):
    nodes = build(raw_nodes, [])[0]
    assume(solvable(nodes, "location"))
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    assert build_plan("10.4.0.0/16", "location", nodes).to_json() == \
        build_plan("10.4.0.0/16", "location", shuffled).to_json()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=9), st.integers(0, 8))
def test_sticky_addresses_survive_adding_nodes(raw_nodes, cut):
    nodes = build(raw_nodes, [])[0]
    assume(solvable(nodes, "full") and 0 < cut < len(nodes) and solvable(nodes[:cut], "full"))
    first = build_plan("10.4.0.0/16", "full", nodes[:cut]).mesh_ips
    second = build_plan("10.4.0.0/16", "full", nodes, assigned={k: str(v) for k, v in first.items()}).mesh_ips
    assert all(second[k] == v for k, v in first.items())
    assert len(set(second.values())) == len(second)
    assert all(ip in ipaddress.ip_network("10.4.0.0/16") for ip in second.values())


def addresses(plan, name):
    """(address, behind the node) pairs: the node's mesh IP, and a host in each of its extra CIDRs."""
    return [(plan.mesh_ips[name], False)] + [(net.network_address + 9, True) for net in plan.spec.node(name).extra_cidrs]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=7), st.sampled_from(["full", "location", "cross"]))
def test_every_hop_forwards_the_address_family_it_carries(raw_nodes, granularity):
    """Packets between any two nodes' addresses of one family (mesh IPs, hosts behind them in extra CIDRs) find
    forwarding of that family on every node that routes them: those in between, the sender's node for a host
    behind it, the receiver's node for a host behind it."""
    plan = planned(build(raw_nodes, [])[0], granularity)
    if plan is None:
        return
    net = Net(plan, mesh_inis(plan))
    for src in plan.nodes:
        for dst in plan.nodes:
            for src_ip, from_behind in addresses(plan, src):
                for dst_ip, to_behind in addresses(plan, dst):
                    if src == dst or src_ip.version != dst_ip.version:
                        continue
                    path = net.route(src, dst, dst=dst_ip, src_ip=src_ip)
                    for hop in path[1:-1] + path[:1] * from_behind + path[-1:] * to_behind:
                        assert src_ip.version in plan.nodes[hop].forward_families, (path, str(src_ip), str(dst_ip))


def endpoint_kind(node):
    if "endpoint" not in node:
        return None
    return "private" if node["endpoint"].startswith("172.30.") else "public"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=9), st.lists(PEER, max_size=1))
def test_leaders_prefer_pinned_then_public_endpoints_and_private_ones_are_noted(raw_nodes, raw_peers):
    nodes, peers = build(raw_nodes, raw_peers)
    assume(peers == [] or any("endpoint" in n for n in nodes))
    plan = planned(nodes, "location", peers)
    noted = {p.subject for p in plan.notes}
    segments = [seg for seg in plan.segments if not seg.is_peer]
    for seg in segments:
        members = [n for n in nodes if n["location"] == seg.name]
        leader = [n for n in members if n["name"] == seg.head.name][0]
        pool = [n for n in members if n.get("leader")] or members      # a pinned leader wins
        best = "public" if any(endpoint_kind(n) == "public" for n in pool) else \
            "private" if any(endpoint_kind(n) for n in pool) else None
        assert leader in pool and endpoint_kind(leader) == best, (seg.name, leader, members)
        assert (leader["name"] in noted) == (best == "private" and len(plan.segments) > 1), plan.notes
    assert len(noted) == len(plan.notes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=6), st.sampled_from(["full", "location", "cross"]), st.data())
def test_an_endpoint_inside_a_routed_network_is_refused(raw_nodes, granularity, data):
    nodes = build(raw_nodes, [])[0]
    owners = [n for n in nodes if "extra_cidrs" in n]
    assume(owners)
    owner = data.draw(st.sampled_from(owners))
    victim = data.draw(st.sampled_from(nodes))      # the owner itself too
    net = ipaddress.ip_network(owner["extra_cidrs"][0])
    ip = net.network_address + data.draw(st.integers(1, 254))
    victim["endpoint"] = str(ip) if ip.version == 4 else "[%s]:51820" % ip
    with pytest.raises(MeshError) as err:
        build_plan("10.4.0.0/16", granularity, nodes)
    assert [(p.subject, p.field) for p in err.value.problems
            if "is inside %s, an extra CIDR of %s" % (net, owner["name"]) in p.message] == [(victim["name"], "endpoint")]
