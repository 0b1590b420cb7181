"""The plan's views (topology.Plan and showconf.StoredPlan, one set of methods): the computed plan and its plain
data read back give the same views, node_ini is exactly wgconf.render over the node config (what hosts run),
and the planner shares entries among the nodes that see a peer alike."""

import json

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import showconf, wgconf
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.model import parse_mesh

from .helpers import key, lab_nodes, node

PEERS = [{"name": "laptop", "allowed_ips": ["10.4.200.1/32"], "public_key": key("laptop")},
         {"name": "other", "allowed_ips": ["10.9.0.0/16"], "public_key": key("other"),
          "endpoint": "203.0.113.99:51821", "keepalive": 15}]


def mixed_nodes():
    """NAT'd nodes, shared private networks, extra CIDRs, keepalives and relays (two NAT'd locations)."""
    return lab_nodes() + [
        node("edge2", "branch", None, ["192.168.60.10/24"], extra_cidrs=["10.77.0.0/24"]),
        node("edge3", "branch", None, ["192.168.60.11/24"], keepalive=10),
        node("aws2", "aws-eu-central-1", "203.0.113.22:41000", ["172.31.16.22/20"], keepalive=0),
        node("fra3", "do-fra1", "fra3.example.com", ["10.110.0.13/20"]),
    ]


@pytest.mark.parametrize("granularity", ["full", "location", "cross"])
def test_views_of_the_computed_plan_are_those_of_its_plain_data(granularity):
    """What the CLI reads back from a state file (its JSON) gives the same views as the plan the run computed;
    node_ini is wgconf.render of the node config, the call the host makes."""
    plan = build_plan("10.4.0.0/16", granularity, mixed_nodes(), peers=PEERS)
    assert plan.relays
    data = plan.to_dict()
    stored = showconf.StoredPlan(json.loads(plan.to_json()))
    assert stored.to_dict() == data
    for name, node_plan in plan.nodes.items():
        psks = {e.public_key: key("psk-%s-%s" % (name, e.name)) for e in node_plan.peers[::2]}
        assert plan.node_config(name) == data["nodes"][name] == stored.node_config(name)
        assert plan.node_ini(name) == wgconf.render(data["nodes"][name]) == stored.node_ini(name)
        with_secrets = plan.node_ini(name, key("priv"), preshared_keys=psks)
        assert with_secrets == wgconf.render(data["nodes"][name], key("priv"), preshared_keys=psks)
        assert with_secrets.count("PresharedKey = ") == len(psks) and "PrivateKey = %s" % key("priv") in with_secrets
        assert plan.shown_node_ini(name) == stored.shown_node_ini(name)
        try:
            assert plan.as_peer(name, ["10.99.0.0/16"]) == stored.as_peer(name, ["10.99.0.0/16"])
        except showconf.ShowconfError as exc:
            assert "not the leader" in str(exc)
    for peer in ("laptop", "other"):
        assert plan.peer_config(peer) == stored.peer_config(peer)
        assert plan.peer_ini(peer) == stored.peer_ini(peer)
    assert plan.peer_names() == ["laptop", "other"]


def test_unknown_node_names_say_what_exists():
    plan = build_plan("10.4.0.0/16", "full", mixed_nodes(), peers=PEERS)
    with pytest.raises(showconf.ShowconfError, match="laptop is an external peer"):
        plan.node_config("laptop")
    with pytest.raises(showconf.ShowconfError, match="no node 'nope'"):
        plan.node_ini("nope")


def test_secrets_stay_out_of_the_plan():
    plan = build_plan("10.4.0.0/16", "full", mixed_nodes(), peers=PEERS)
    psk = key("secret")
    for name, node_plan in plan.nodes.items():
        assert psk in plan.node_ini(name, preshared_keys={e.public_key: psk for e in node_plan.peers})
        assert psk not in plan.node_ini(name)
    assert psk not in plan.to_json() and psk not in repr(plan)


@pytest.mark.parametrize("granularity", ["full", "location", "cross"])
def test_peers_come_sorted_by_name(granularity):
    """The plan's data lists them sorted; the planner keeps them so (render sorts them too)."""
    plan = build_plan("10.4.0.0/16", granularity, mixed_nodes(), peers=PEERS)
    lists = [n.peers for n in plan.nodes.values()] + list(plan.peer_entries.values())
    for entries in lists:
        names = [e.name for e in entries]
        assert names == sorted(names)


def test_full_mesh_shares_entries_between_nodes():
    """n public nodes: one entry per node for all viewers alike, not one per pair (O(n), not O(n^2))."""
    nodes = [node("n%03d" % i, "l%d" % (i % 3), "198.51.100.%d" % (i + 1)) for i in range(60)]
    nodes += [node("nat%d" % i, "l%d" % i, None) for i in range(3)]
    plan = build_plan("10.4.0.0/16", "full", nodes)
    assert sum(len(n.peers) for n in plan.nodes.values()) == 63 * 62 - 3 * 2    # NAT'd pairs go through relays
    distinct = {id(e) for n in plan.nodes.values() for e in n.peers}
    assert len(distinct) <= 2 * 63       # public and NAT'd viewers see a public peer with different keepalives
    assert plan.nodes["nat0"].peers[0].keepalive == 25 and plan.nodes["n000"].peers[0].keepalive is None


def test_location_named_like_a_peer_keeps_its_own_entries():
    peer = {"name": "do-fra1", "allowed_ips": ["10.4.200.1/32"], "public_key": key("p-fra"),
            "endpoint": "203.0.113.77"}
    plan = build_plan("10.4.0.0/16", "location", lab_nodes(), peers=[peer], standbys=0)
    assert {e.name for e in plan.nodes["aws1"].peers} == {"do1", "do-fra1", "edge"}
    assert {e.name for e in plan.nodes["do1"].peers} == {"aws1", "do-fra1", "do2", "edge"}
    assert {e.name for e in plan.peer_entries["do-fra1"]} == {"aws1", "do1", "edge"}
    for name in plan.nodes:
        assert plan.node_ini(name) == wgconf.render(plan.to_dict()["nodes"][name])


def test_spec_node_lookup():
    spec = parse_mesh(nodes=lab_nodes())
    assert spec.node("do2").name == "do2"
    with pytest.raises(KeyError):
        spec.node("nope")
