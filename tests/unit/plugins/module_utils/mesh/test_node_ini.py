"""render.node_ini (the planner's fast path, per-plan [Peer] sections shared by the nodes that see a peer alike)
gives exactly the text of wgconf.render over the plan's plain data, which is what the hosts render."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import render, wgconf
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
def test_node_ini_is_wgconf_render_of_the_node_dict(granularity):
    plan = build_plan("10.4.0.0/16", granularity, mixed_nodes(), peers=PEERS)
    assert plan.relays
    for name, node_plan in plan.nodes.items():
        psks = {e.public_key: key("psk-%s-%s" % (name, e.name)) for e in node_plan.peers[::2]}
        data = render.node_dict(node_plan)
        assert render.node_ini(plan, name) == wgconf.render(data)
        assert render.node_ini(plan, name, private_key=key("priv")) == wgconf.render(data, private_key=key("priv"))
        with_secrets = render.node_ini(plan, name, key("priv"), preshared_keys=psks)
        assert with_secrets == wgconf.render(data, key("priv"), preshared_keys=psks)
        assert with_secrets.count("PresharedKey = ") == len(psks)


def test_preshared_keys_are_never_cached():
    plan = build_plan("10.4.0.0/16", "full", mixed_nodes(), peers=PEERS)
    psk = key("secret")
    for name, node_plan in plan.nodes.items():
        assert psk in render.node_ini(plan, name, preshared_keys={e.public_key: psk for e in node_plan.peers})
        assert psk not in render.node_ini(plan, name)
    cached = [text for parts in plan.peer_texts.parts.values() for text in parts]
    assert cached and not any(psk in text for text in cached)


@pytest.mark.parametrize("granularity", ["full", "location", "cross"])
def test_peers_come_sorted_by_name(granularity):
    """render.node_ini relies on it (it does not sort)."""
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
    for name, node_plan in plan.nodes.items():
        assert render.node_ini(plan, name) == wgconf.render(render.node_dict(node_plan))


def test_spec_node_lookup():
    spec = parse_mesh(nodes=lab_nodes())
    assert spec.node("do2").name == "do2"
    with pytest.raises(KeyError):
        spec.node("nope")
