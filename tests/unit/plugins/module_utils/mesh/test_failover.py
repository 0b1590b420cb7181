"""Failover view of the plan: standby leaders and relays, the entries held for them, each host's failover table,
and (property tests) that the table's first choice is the plan and that any one leader or relay dying leaves a
mesh in which every other pair of hosts routes, once every host applied its table."""

import ipaddress

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import wgconf
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.state import update, empty

from .helpers import Net, key, lab_nodes, node
from .test_properties import NODE, PEER, build, planned, solvable


def assign(table, dead=frozenset()):
    """What the agent gives each peer of ``table`` when the hosts in ``dead`` and the table's own ``dead`` are dead
    (an independent reading of the documented rules: the first live candidate of each group, the host itself
    always alive; a dead host keeps its own address on its own entry)."""
    me = table["self"]
    dead = (set(dead) | set(table["dead"])) - {me}
    out = _assign(table, me, dead)
    for name in dead & set(out):
        own = "%s/%d" % (table["peers"][name]["mesh_ip"], 32 if "." in table["peers"][name]["mesh_ip"] else 128)
        for other in out:
            out[other].discard(own)
        out[name].add(own)
    return out


def _assign(table, me, dead):
    def active(group):
        return next((c for c in group["candidates"] if c == me or c not in dead), group["candidates"][0])

    out = {name: set() for name in table["peers"]}
    follow = table["follow"]
    if follow is not None and active(follow) != me:
        out[active(follow)].update(follow["ranges"])
        return out
    for name, ranges in table["static"].items():
        out[name].update(ranges)
    for group in table["lead"]:
        out[active(group)].update(group["ranges"])
    return out


def nets(texts):
    return sorted((ipaddress.ip_network(t) for t in texts), key=lambda n: (n.version, n))


def failed_over_inis(plan, dead):
    inis = {}       # the dead hosts have none: a route through one of them fails
    for name, node_plan in plan.nodes.items():
        if name in dead:
            continue
        data = plan.node_config(name)
        given_ = assign(node_plan.failover, dead)
        for peer in data["peers"]:
            if peer["name"] in given_:
                peer["allowed_ips"] = [str(n) for n in nets(given_[peer["name"]])]
        inis[name] = wgconf.render(data)
    return inis


def test_the_lab_location_holds_a_warm_standby_leader():
    plan = build_plan("10.4.0.0/16", "location", lab_nodes())
    seg = next(s for s in plan.segments if s.name == "do-fra1")
    assert [n.name for n in seg.candidates] == ["do1", "do2"]
    do2 = {e.name: e for e in plan.nodes["do2"].peers}
    # the standby leader keeps its member entry for do1 and holds, unrouted, every entry it needs to lead
    assert [str(n) for n in do2["do1"].allowed_ips] == ["10.4.0.0/16"]
    assert set(do2) == {"do1", "aws1", "edge"}
    assert do2["aws1"].allowed_ips == [] and do2["aws1"].keepalive == 2
    assert str(do2["aws1"].endpoint) == "203.0.113.21:51820"
    assert do2["edge"].endpoint is None and do2["edge"].allowed_ips == []
    # the other locations hold it too, and it forwards already: the switch is one wg set
    aws1 = {e.name: e for e in plan.nodes["aws1"].peers}
    assert aws1["do2"].allowed_ips == [] and str(aws1["do2"].endpoint) == "203.0.113.12:51820"
    assert [str(n) for n in aws1["do1"].allowed_ips] == ["10.4.0.2/32", "10.4.0.3/32"]
    assert plan.nodes["do2"].forward_families == plan.nodes["do1"].forward_families
    # every held entry has its preshared key
    psks = update(empty(), plan, new_psk=lambda: key("psk"))["psks"]
    assert {"aws1|do2", "do2|edge", "do1|do2"} <= set(psks)


def test_the_lab_tables():
    plan = build_plan("10.4.0.0/16", "location", lab_nodes())
    do2 = plan.nodes["do2"].failover
    assert do2["follow"] == {"name": "location do-fra1", "candidates": ["do1", "do2"], "ranges": ["10.4.0.0/16"]}
    assert do2["static"] == {"do1": ["10.4.0.2/32"]}
    lead = {g["name"]: g for g in do2["lead"]}
    assert lead["location aws-eu-central-1"] == {"name": "location aws-eu-central-1", "candidates": ["aws1"],
                                                 "ranges": ["10.4.0.1/32"]}
    assert plan.nodes["do1"].failover["follow"] is None
    aws1 = {g["name"]: g for g in plan.nodes["aws1"].failover["lead"]}
    assert aws1["location do-fra1"]["candidates"] == ["do1", "do2"]
    assert "relay location edge" not in aws1        # aws1 reaches edge directly
    assert set(plan.nodes["aws1"].failover["peers"]) >= {"do1", "do2", "edge"}
    assert plan.nodes["do2"].failover["peers"]["aws1"] == {"public_key": key("aws1"), "mesh_ip": "10.4.0.1"}


def test_relays_have_standbys_and_they_forward():
    nodes = [node("pub1", "a", "198.51.100.1"), node("pub2", "b", "198.51.100.2"),
             node("nat1", "n1"), node("nat2", "n2")]
    plan = build_plan("10.4.0.0/16", "location", nodes)
    assert plan.relays == {("n1", "n2"): "a"} and plan.relay_standbys == {("n1", "n2"): ["b"]}
    assert plan.nodes["pub2"].forward_families == (4,)
    groups = {g["name"]: g for g in plan.nodes["nat1"].failover["lead"]}
    assert groups["relay location n2"]["candidates"] == ["pub1", "pub2"]
    assert plan.to_dict()["relays"] == [{"between": ["n1", "n2"], "via": "a", "standbys": ["b"]}]
    none = build_plan("10.4.0.0/16", "location", nodes, standbys=0)
    assert none.relay_standbys == {("n1", "n2"): []} and none.nodes["pub2"].forward_families == ()


def test_a_location_behind_nat_has_no_standby():
    nodes = [node("a1", "a", "198.51.100.1"), node("n1", "n", private_ips=["192.168.9.1/24"]),
             node("n2", "n", private_ips=["192.168.9.2/24"])]
    plan = build_plan("10.4.0.0/16", "location", nodes)
    assert [s.standbys for s in plan.segments if s.name == "n"] == [[]]
    assert plan.nodes["n2"].failover["follow"]["candidates"] == ["n1"]


def test_standbys_follow_the_election_order_and_are_capped():
    nodes = [node("x%d" % i, "x", "198.51.100.%d" % i, private_ips=["10.9.0.%d/24" % i]) for i in range(1, 5)]
    nodes[2]["leader"] = True
    nodes.append(node("x9", "x", "10.1.0.9", private_ips=["10.9.0.9/24"]))     # a private endpoint: last
    plan = build_plan("10.4.0.0/16", "location", nodes, standbys=3)
    seg = plan.segments[0]
    assert [n.name for n in seg.candidates] == ["x3", "x1", "x2", "x4"]
    plan = build_plan("10.4.0.0/16", "location", nodes, standbys=16)
    assert [n.name for n in plan.segments[0].candidates][-1] == "x9"


def test_an_unreachable_leader_is_passed_over_and_noted():
    plan = build_plan("10.4.0.0/16", "location", lab_nodes(), down=["do1"])
    seg = next(s for s in plan.segments if s.name == "do-fra1")
    assert [n.name for n in seg.candidates] == ["do2", "do1"]
    assert any(p.subject == "do1" and "planned with leader do2" in p.message for p in plan.notes)
    # the agents prefer do1 again once it answers: the table keeps the election order and starts it out dead
    table = plan.nodes["aws1"].failover
    assert table["dead"] == ["do1"]
    assert next(g for g in table["lead"] if g["name"] == "location do-fra1")["candidates"] == ["do1", "do2"]
    aws1 = {e.name: [str(n) for n in e.allowed_ips] for e in plan.nodes["aws1"].peers}
    assert aws1["do2"] == ["10.4.0.3/32"] and aws1["do1"] == ["10.4.0.2/32"]   # do1 keeps its own address
    with pytest.raises(MeshError, match="down: 'nope' is not a node"):
        build_plan("10.4.0.0/16", "location", lab_nodes(), down=["nope"])


def test_the_controller_notes_an_unreachable_relay():
    nodes = [node("pub1", "a", "198.51.100.1"), node("pub2", "b", "198.51.100.2"),
             node("nat1", "n1"), node("nat2", "n2")]
    plan = build_plan("10.4.0.0/16", "location", nodes, down=["pub1"])
    assert plan.relays == {("n1", "n2"): "b"} and plan.relay_standbys == {("n1", "n2"): ["a"]}
    assert any(p.subject == "pub1" and "through pub2" in p.message for p in plan.notes)


# -- properties -----------------------------------------------------------------------------------------------
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=1, max_size=9), st.lists(PEER, max_size=2),
       st.sampled_from(["full", "location", "cross"]))
def test_the_tables_first_choice_is_the_plan(raw_nodes, raw_peers, granularity):
    nodes, peers = build(raw_nodes, raw_peers)
    assume(peers == [] or any("endpoint" in n for n in nodes))
    plan = planned(nodes, granularity, peers)
    if plan is None:
        return
    for name, node_plan in plan.nodes.items():
        given_ = assign(node_plan.failover)
        held = {e.name: e for e in node_plan.peers}
        assert set(given_) <= set(held), name
        for peer, ranges in given_.items():
            assert nets(ranges) == nets(map(str, held[peer].allowed_ips)), (name, peer)


def assert_routes_the_living(plan, dead):
    """Every pair of hosts not in ``dead`` routes, once every living host applied its table with ``dead`` dead;
    no address is given to two entries of one host (overlapping ranges are fine: longest prefix wins)."""
    net = Net(plan, failed_over_inis(plan, dead))
    for src in plan.nodes:
        if src in dead:
            continue
        given_ = [str(n) for _peer, ns in net.entries(src) for n in ns]
        assert len(given_) == len(set(given_)), (src, given_)
        for dst in plan.nodes:
            if dst not in dead:
                net.route(src, dst)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=2, max_size=8), st.sampled_from(["full", "location"]), st.data())
def test_a_plan_around_unreachable_hosts_is_its_tables_first_choice_and_routes_the_rest(raw_nodes, granularity, data):
    nodes, _peers = build(raw_nodes, [])
    assume(solvable(nodes, granularity))
    down = data.draw(st.sets(st.sampled_from([n["name"] for n in nodes]), max_size=2))
    try:
        plan = build_plan("10.4.0.0/16", granularity, nodes, down=sorted(down))
    except MeshError:
        return
    for name, node_plan in plan.nodes.items():
        assert set(node_plan.failover["dead"]) <= down
        if name in down:        # unreachable: this run cannot configure it anyway
            continue
        held = {e.name: e for e in node_plan.peers}
        for peer, ranges in assign(node_plan.failover).items():
            assert nets(ranges) == nets(map(str, held[peer].allowed_ips)), (name, peer)
    # a host planned around is passed over only where another could take its place: when it still leads or
    # relays (nobody else could), the mesh needs it
    needed = {s.head.name for s in plan.segments if s.head.name in down}
    needed |= {h for pair, via in plan.relays.items() for h in [next(s.head.name for s in plan.segments
                                                                     if s.name == via)] if h in down}
    assume(not needed)
    assert_routes_the_living(plan, down)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.lists(NODE, min_size=2, max_size=9), st.sampled_from(["full", "location"]), st.data())
def test_any_one_leader_or_relay_dying_leaves_the_others_routed(raw_nodes, granularity, data):
    nodes, _peers = build(raw_nodes, [])
    plan = planned(nodes, granularity)
    if plan is None:
        return
    heads = {s.name: s.head.name for s in plan.segments}
    replaceable = {s.head.name for s in plan.segments if s.standbys and not s.is_peer} \
        | {heads[plan.relays[pair]] for pair, standbys in plan.relay_standbys.items() if standbys}
    # a host with one role nobody can take over (the leader of NAT'd members with no standby, a relay with none)
    # leaves those cut off whatever the others do: only hosts whose every role has a standby are killed here
    irreplaceable = {s.head.name for s in plan.segments if not s.standbys and not s.is_peer and len(s.nodes) > 1} \
        | {heads[plan.relays[pair]] for pair in plan.relays if not plan.relay_standbys.get(pair)}
    replaceable = sorted(replaceable - irreplaceable)
    assume(replaceable)
    dead = data.draw(st.sampled_from(replaceable))
    assert_routes_the_living(plan, {dead})
