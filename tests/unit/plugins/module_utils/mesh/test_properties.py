"""Property tests: for random meshes, the rendered configs route every node (and peer) to every other one,
and no config has overlapping AllowedIPs."""

import ipaddress

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.render import plan_json

from .helpers import Net, key, mesh_inis

NODE = st.fixed_dictionaries({
    "location": st.integers(0, 3),
    "public": st.booleans(),
    "private": st.booleans(),
    "leader": st.booleans(),
    "extra": st.booleans(),
})
PEER = st.fixed_dictionaries({"endpoint": st.booleans(), "inside": st.booleans()})


def build(raw_nodes, raw_peers):
    nodes = []
    for i, raw in enumerate(raw_nodes):
        data = {"name": "n%02d" % i, "location": "loc%d" % raw["location"], "public_key": key("n%d" % i)}
        if raw["public"]:
            data["endpoint"] = "198.51.100.%d:%d" % (i + 1, 51820 + i)
            data["leader"] = raw["leader"]
        if raw["private"]:
            data["private_ips"] = ["192.168.%d.%d/24" % (raw["location"], i + 10)]
        if raw["extra"]:
            data["extra_cidrs"] = ["172.16.%d.0/24" % i]
        nodes.append(data)
    peers = []
    for i, raw in enumerate(raw_peers):
        ip = "10.4.200.%d/32" % (i + 1) if raw["inside"] else "10.5.0.%d/32" % (i + 1)
        peer = {"name": "p%d" % i, "allowed_ips": [ip], "public_key": key("p%d" % i)}
        if raw["endpoint"]:
            peer["endpoint"] = "203.0.113.%d:51820" % (i + 1)
        peers.append(peer)
    return nodes, peers


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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=9), st.lists(PEER, max_size=2),
       st.sampled_from(["full", "location", "cross"]))
def test_every_node_routes_to_every_node(raw_nodes, raw_peers, granularity):
    nodes, peers = build(raw_nodes, raw_peers)
    assume(peers == [] or any("endpoint" in n for n in nodes))
    if granularity == "cross":
        # no independent oracle for cross (its private links change which relays qualify): whatever is
        # planned must route, and a refusal must name an unreachable pair
        try:
            plan = build_plan("10.4.0.0/16", granularity, nodes, peers=peers)
        except MeshError as err:
            assert "cannot reach" in str(err)
            return
    else:
        assume(solvable(nodes, granularity))
        plan = build_plan("10.4.0.0/16", granularity, nodes, peers=peers)
    net = Net(plan, mesh_inis(plan))
    names = list(net.configs)
    for src in names:
        assert net.overlapping(src) == [], src
        for dst in names:
            if src in plan.nodes or dst in plan.nodes:      # peers only talk to the mesh, not to each other
                net.route(src, dst)


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
    assert plan_json(build_plan("10.4.0.0/16", "location", nodes)) == \
        plan_json(build_plan("10.4.0.0/16", "location", shuffled))


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
