"""showconf: what an external peer configures (routing checked end to end), nodes exported as peers."""

import json

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import showconf, wgconf
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan

from .helpers import Net, key, node

OPERATOR = {"name": "operator", "allowed_ips": ["10.4.100.1/32"], "public_key": key("operator")}


def lab_nodes():
    return [
        node("do1", "do-fra1", "203.0.113.11", ["10.110.0.11/20"]),
        node("do2", "do-fra1", "203.0.113.12", ["10.110.0.12/20"]),
        node("aws1", "aws-eu-central-1", "203.0.113.21", ["172.31.16.21/20"], extra_cidrs=["172.31.32.0/20"]),
        node("edge", "edge", None, ["192.168.50.10/24"]),
    ]


def stored(*args, **kwargs):
    """The plan as the CLI reads it back from a state file: its plain data, through JSON."""
    return showconf.StoredPlan(json.loads(build_plan(*args, **kwargs).to_json()))


def peer_wg_quick(plan_data, name, address):
    """What the test's operator writes: its own [Interface] (Address; PrivateKey left out) + showconf's output."""
    return "[Interface]\nAddress = %s\n\n%s" % (address, plan_data.peer_ini(name))


@pytest.mark.parametrize("granularity", ["full", "location", "cross"])
def test_a_peer_configured_from_showconf_reaches_every_node_and_back(granularity):
    plan = build_plan("10.4.0.0/16", granularity, lab_nodes(), [OPERATOR])
    data = showconf.StoredPlan(plan.to_dict())
    inis = {name: data.node_ini(name) for name in plan.nodes}
    inis["operator"] = peer_wg_quick(data, "operator", "10.4.100.1/32")
    net = Net(plan, inis)
    for name in plan.nodes:
        assert net.route("operator", name)
        assert net.route(name, "operator")
    assert net.overlapping("operator") == []


def test_peer_behind_nat_keeps_alive_and_reaches_nat_edge_through_a_relay():
    data = stored("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    config = data.peer_config("operator")
    assert config["addresses"] == ["10.4.100.1/32"]
    assert [p["name"] for p in config["peers"]] == ["aws1", "do1"]
    assert all(p["persistent_keepalive"] == 25 and p["endpoint"] for p in config["peers"])
    relay = [p for p in config["peers"] if "10.4.0.4/32" in p["allowed_ips"]]
    assert [p["name"] for p in relay] == ["aws1"], "the NAT'd edge is reached through the relay"
    assert config["routes"] == ["10.4.0.1/32", "10.4.0.2/32", "10.4.0.3/32", "10.4.0.4/32", "172.31.32.0/20"]
    assert set(config["peers"][0]) == {"name", "public_key", "endpoint", "allowed_ips", "persistent_keepalive"}


def test_peer_ini_has_only_peer_sections_and_the_route_hints():
    data = stored("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    text = data.peer_ini("operator", interface="wm0")
    assert "\n[Interface]\n" not in text and "PresharedKey" not in text and "PrivateKey =" not in text
    assert "#   ip route add 10.4.0.4/32 dev wm0" in text
    parsed = wgconf.parse(text)
    assert [p["name"] for p in parsed["peers"]] == ["aws1", "do1"]
    assert parsed["peers"][0]["endpoint"] == "203.0.113.21:51820"
    assert parsed["peers"][0]["persistentkeepalive"] == "25"


def test_a_peer_with_its_own_endpoint_gets_no_keepalive():
    peer = dict(OPERATOR, endpoint="198.51.100.10:51820")
    data = stored("10.4.0.0/16", "location", lab_nodes(), [peer])
    config = data.peer_config("operator")
    assert [p["name"] for p in config["peers"]] == ["aws1", "do1", "edge"]   # edge can dial the peer itself
    assert all(p["persistent_keepalive"] is None for p in config["peers"] if p["endpoint"])


def test_unknown_peer_and_node_names_say_what_exists():
    data = stored("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    with pytest.raises(showconf.ShowconfError, match="no external peer 'nobody'.*known: operator"):
        data.peer_config("nobody")
    with pytest.raises(showconf.ShowconfError, match="do1 is a managed node"):
        data.peer_config("do1")
    with pytest.raises(showconf.ShowconfError, match="operator is an external peer"):
        data.node_config("operator")
    with pytest.raises(showconf.ShowconfError, match="no node 'x'"):
        data.as_peer("x")


def test_leader_exported_as_peer_carries_its_location():
    data = stored("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    assert data.as_peer("do1", ["192.168.7.0/24"]) == {
        "name": "do1", "public_key": key("do1"), "endpoint": "203.0.113.11:51820",
        "allowed_ips": ["10.4.0.2/32", "10.4.0.3/32", "192.168.7.0/24"]}
    # aws1 relays edge <-> operator; its export is its own location only
    assert data.as_peer("aws1")["allowed_ips"] == ["10.4.0.1/32", "172.31.32.0/20"]
    edge = data.as_peer("edge")
    assert "endpoint" not in edge and edge["allowed_ips"] == ["10.4.0.4/32"]


def test_a_member_cannot_be_exported_and_the_message_names_the_leader():
    data = stored("10.4.0.0/16", "location", lab_nodes())
    with pytest.raises(showconf.ShowconfError, match="do2 is not the leader of location do-fra1 .do1 is.*export do1"):
        data.as_peer("do2")


def test_with_full_granularity_every_node_exports_itself():
    data = stored("10.4.0.0/16", "full", lab_nodes())
    assert data.as_peer("do2")["allowed_ips"] == ["10.4.0.3/32"]


def test_exported_entry_is_accepted_by_another_mesh_and_renders_as_ini():
    data = stored("10.4.0.0/16", "location", lab_nodes())
    entry = data.as_peer("do1")
    other = build_plan("10.9.0.0/16", "location", [node("x1", "x", "192.0.2.1")], [entry]).to_dict()
    assert [p["name"] for p in other["nodes"]["x1"]["peers"]] == ["do1"]
    ini = data.as_peer_ini("do1", keepalive=25)
    assert ini.startswith("[Peer]\n# do1\nPublicKey = %s\n" % key("do1")) and "PersistentKeepalive = 25" in ini


def test_extra_allowed_ips_are_checked():
    data = stored("10.4.0.0/16", "location", lab_nodes())
    with pytest.raises(showconf.ShowconfError, match="allowed-ips"):
        data.as_peer("do1", ["not-a-cidr"])


def test_node_ini_has_no_secret_lines():
    data = stored("10.4.0.0/16", "location", lab_nodes(), [OPERATOR])
    text = data.shown_node_ini("do1")
    assert "PrivateKey =" not in text and "PresharedKey" not in text
    assert wgconf.parse(text)["interface"]["address"] == ["10.4.0.2/32"]


def test_relayed_only_view_still_gives_the_segment_ranges():
    # two NAT'd sites and one public relay: every entry for a NAT'd site seen by the other lists relays
    nodes = [node("r", "hub", "203.0.113.1"), node("a", "sa", None, extra_cidrs=["192.168.1.0/24"]),
             node("b", "sb", None, extra_cidrs=["192.168.2.0/24"])]
    data = stored("10.4.0.0/16", "location", nodes)
    assert data.as_peer("r")["allowed_ips"] == ["10.4.0.3/32"]
    assert data.as_peer("a")["allowed_ips"] == ["10.4.0.1/32", "192.168.1.0/24"]
