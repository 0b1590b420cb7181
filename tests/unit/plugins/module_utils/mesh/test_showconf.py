"""showconf: what an external peer configures (routing checked end to end), nodes exported as peers."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import showconf, wgconf
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan, build_plan_dict
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.render import node_ini

from .helpers import Net, key, node

OPERATOR = {"name": "operator", "allowed_ips": ["10.4.100.1/32"], "public_key": key("operator")}


def lab_nodes():
    return [
        node("do1", "do-fra1", "203.0.113.11", ["10.110.0.11/20"]),
        node("do2", "do-fra1", "203.0.113.12", ["10.110.0.12/20"]),
        node("aws1", "aws-eu-central-1", "203.0.113.21", ["172.31.16.21/20"], extra_cidrs=["172.31.32.0/20"]),
        node("edge", "edge", None, ["192.168.50.10/24"]),
    ]


def peer_wg_quick(plan_data, name, address):
    """What the test's operator writes: its own [Interface] (Address; PrivateKey left out) + showconf's output."""
    return "[Interface]\nAddress = %s\n\n%s" % (address, showconf.peer_ini(showconf.peer_config(plan_data, name)))


@pytest.mark.parametrize("granularity", ["full", "location", "cross"])
def test_a_peer_configured_from_showconf_reaches_every_node_and_back(granularity):
    plan = build_plan("10.4.0.0/16", granularity, lab_nodes(), [OPERATOR])
    data = build_plan_dict("10.4.0.0/16", granularity, lab_nodes(), [OPERATOR])
    inis = {name: node_ini(plan, name) for name in plan.nodes}
    inis["operator"] = peer_wg_quick(data, "operator", "10.4.100.1/32")
    net = Net(plan, inis)
    for name in plan.nodes:
        assert net.route("operator", name)
        assert net.route(name, "operator")
    assert net.overlapping("operator") == []


def test_peer_behind_nat_keeps_alive_and_reaches_nat_edge_through_a_relay():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    config = showconf.peer_config(data, "operator")
    assert config["addresses"] == ["10.4.100.1/32"]
    assert [p["name"] for p in config["peers"]] == ["aws1", "do1"]
    assert all(p["persistent_keepalive"] == 25 and p["endpoint"] for p in config["peers"])
    relay = [p for p in config["peers"] if "10.4.0.4/32" in p["allowed_ips"]]
    assert [p["name"] for p in relay] == ["aws1"], "the NAT'd edge is reached through the relay"
    assert config["routes"] == ["10.4.0.1/32", "10.4.0.2/32", "10.4.0.3/32", "10.4.0.4/32", "172.31.32.0/20"]
    assert set(config["peers"][0]) == {"name", "public_key", "endpoint", "allowed_ips", "persistent_keepalive"}


def test_peer_ini_has_only_peer_sections_and_the_route_hints():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    text = showconf.peer_ini(showconf.peer_config(data, "operator"), interface="wm0")
    assert "\n[Interface]\n" not in text and "PresharedKey" not in text and "PrivateKey =" not in text
    assert "#   ip route add 10.4.0.4/32 dev wm0" in text
    parsed = wgconf.parse(text)
    assert [p["name"] for p in parsed["peers"]] == ["aws1", "do1"]
    assert parsed["peers"][0]["endpoint"] == "203.0.113.21:51820"
    assert parsed["peers"][0]["persistentkeepalive"] == "25"


def test_a_peer_with_its_own_endpoint_gets_no_keepalive():
    peer = dict(OPERATOR, endpoint="198.51.100.10:51820")
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes(), [peer])
    config = showconf.peer_config(data, "operator")
    assert [p["name"] for p in config["peers"]] == ["aws1", "do1", "edge"]   # edge can dial the peer itself
    assert all(p["persistent_keepalive"] is None for p in config["peers"] if p["endpoint"])


def test_unknown_peer_and_node_names_say_what_exists():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    with pytest.raises(showconf.ShowconfError, match="no external peer 'nobody'.*known: operator"):
        showconf.peer_config(data, "nobody")
    with pytest.raises(showconf.ShowconfError, match="do1 is a managed node"):
        showconf.peer_config(data, "do1")
    with pytest.raises(showconf.ShowconfError, match="operator is an external peer"):
        showconf.node_config(data, "operator")
    with pytest.raises(showconf.ShowconfError, match="no node 'x'"):
        showconf.node_as_peer(data, "x")


def test_leader_exported_as_peer_carries_its_location():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    assert showconf.node_as_peer(data, "do1", ["192.168.7.0/24"]) == {
        "name": "do1", "public_key": key("do1"), "endpoint": "203.0.113.11:51820",
        "allowed_ips": ["10.4.0.2/32", "10.4.0.3/32", "192.168.7.0/24"]}
    # aws1 relays edge <-> operator; its export is its own location only
    assert showconf.node_as_peer(data, "aws1")["allowed_ips"] == ["10.4.0.1/32", "172.31.32.0/20"]
    edge = showconf.node_as_peer(data, "edge")
    assert "endpoint" not in edge and edge["allowed_ips"] == ["10.4.0.4/32"]


def test_a_member_cannot_be_exported_and_the_message_names_the_leader():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes())
    with pytest.raises(showconf.ShowconfError, match="do2 is not the leader of location do-fra1 .do1 is.*export do1"):
        showconf.node_as_peer(data, "do2")


def test_with_full_granularity_every_node_exports_itself():
    data = build_plan_dict("10.4.0.0/16", "full", lab_nodes())
    assert showconf.node_as_peer(data, "do2")["allowed_ips"] == ["10.4.0.3/32"]


def test_exported_entry_is_accepted_by_another_mesh_and_renders_as_ini():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes())
    entry = showconf.node_as_peer(data, "do1")
    other = build_plan_dict("10.9.0.0/16", "location", [node("x1", "x", "192.0.2.1")], [entry])
    assert [p["name"] for p in other["nodes"]["x1"]["peers"]] == ["do1"]
    ini = showconf.as_peer_ini(entry, keepalive=25)
    assert ini.startswith("[Peer]\n# do1\nPublicKey = %s\n" % key("do1")) and "PersistentKeepalive = 25" in ini


def test_extra_allowed_ips_are_checked():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes())
    with pytest.raises(showconf.ShowconfError, match="allowed-ips"):
        showconf.node_as_peer(data, "do1", ["not-a-cidr"])


def test_node_ini_has_no_secret_lines():
    data = build_plan_dict("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    text = showconf.node_ini(data, "do1")
    assert "PrivateKey =" not in text and "PresharedKey" not in text
    assert wgconf.parse(text)["interface"]["address"] == ["10.4.0.2/32"]


def test_relayed_only_view_still_gives_the_segment_ranges():
    # two NAT'd sites and one public relay: every entry for a NAT'd site seen by the other lists relays
    nodes = [node("r", "hub", "203.0.113.1"), node("a", "sa", None, extra_cidrs=["192.168.1.0/24"]),
             node("b", "sb", None, extra_cidrs=["192.168.2.0/24"])]
    data = build_plan_dict("10.4.0.0/16", "location", nodes)
    assert showconf.node_as_peer(data, "r")["allowed_ips"] == ["10.4.0.3/32"]
    assert showconf.node_as_peer(data, "a")["allowed_ips"] == ["10.4.0.1/32", "192.168.1.0/24"]
