"""diff.compare: what differs between the desired and the live state, and how it is applied."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import diff, live
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

from .fakehost import FakeHost, key, pub_of

HOST_PRIV = key("host-private")
A, B, C = key("a"), key("b"), key("c")


def config(peers=None, **iface):
    interface = {"address": ["10.4.0.2/32"], "listen_port": 51820}
    interface.update(iface)
    if peers is None:
        peers = [{"name": "a", "public_key": A, "endpoint": "203.0.113.1:51820", "allowed_ips": ["10.4.0.1/32"],
                  "persistent_keepalive": 25},
                 {"name": "b", "public_key": B, "endpoint": None, "allowed_ips": ["10.4.0.3/32", "10.9.0.0/24"],
                  "persistent_keepalive": None}]
    return {"interface": interface, "peers": peers}


def host(**link):
    """A live wg0 that matches config() exactly (b roams: its live endpoint was learnt)."""
    fake = FakeHost()
    link.setdefault("routes", [("10.4.0.1/32", "boot"), ("10.4.0.3/32", "boot"), ("10.9.0.0/24", "boot")])
    fake.add_link("wg0", private_key=HOST_PRIV, addrs=["10.4.0.2/32"], **link)
    fake.add_peer("wg0", A, ["10.4.0.1/32"], endpoint="203.0.113.1:51820", keepalive=25)
    fake.add_peer("wg0", B, ["10.4.0.3/32", "10.9.0.0/24"], endpoint="198.51.100.7:40312")
    return fake


def changes(fake, cfg=None, psks=None, names=None, resolver=diff.resolve):
    desired = diff.desired_state(cfg or config(), pub_of(HOST_PRIV), psks)
    return diff.compare("wg0", desired, live.read(fake, "wg0"), names, resolver)


def actions(fake, cfg=None, **kwargs):
    return [c.action for c in changes(fake, cfg, **kwargs)]


def test_no_changes_when_equal():
    assert changes(host()) == []


def test_add_peer_and_its_routes():
    cfg = config()
    cfg["peers"].append({"name": "c", "public_key": C, "endpoint": None, "allowed_ips": ["10.4.0.4/32"]})
    result = changes(host(), cfg)
    assert [(c.order, c.action, c.cmd) for c in result] == [
        (diff.SYNC, "add peer c", None),
        (diff.ROUTE_ADD, "add route 10.4.0.4/32", ["ip", "-4", "route", "replace", "10.4.0.4/32", "dev", "wg0"])]


def test_remove_peer_is_named_from_the_old_config_and_its_routes_go():
    cfg = config()
    cfg["peers"] = cfg["peers"][:1]
    assert actions(host(), cfg, names={B: "do2"}) == [
        "remove peer do2", "remove route 10.4.0.3/32", "remove route 10.9.0.0/24"]


def test_change_allowed_ips():
    cfg = config()
    cfg["peers"][1]["allowed_ips"] = ["10.4.0.3/32", "10.9.1.0/24"]
    assert actions(host(), cfg) == ["update allowed ips of b", "remove route 10.9.0.0/24", "add route 10.9.1.0/24"]


def test_allowed_ips_compare_as_sets_of_networks():
    cfg = config()
    cfg["peers"][1]["allowed_ips"] = ["10.9.0.77/24", "10.4.0.3/32", "10.4.0.3/32"]
    assert changes(host(), cfg) == []


def test_endpoint_ignored_when_desired_is_null_but_enforced_otherwise():
    fake = host()
    fake.peer("wg0", A).endpoint = "192.0.2.99:1234"      # a roamed to somewhere else: we want it back
    fake.peer("wg0", B).endpoint = "192.0.2.50:60000"     # b roams (endpoint null): leave it alone
    assert actions(fake) == ["update endpoint of a"]
    fake.peer("wg0", B).endpoint = None
    assert actions(fake) == ["update endpoint of a"]


def test_endpoint_with_a_name_is_compared_with_what_it_resolves_to():
    cfg = config()
    cfg["peers"][0]["endpoint"] = "aws1.example.test:51820"
    assert changes(host(), cfg, resolver=lambda h, p: {"203.0.113.1"}) == []
    assert actions(host(), cfg, resolver=lambda h, p: {"203.0.113.2"}) == ["update endpoint of a"]
    assert actions(host(), cfg, resolver=lambda h, p: set()) == ["update endpoint of a"]


def test_ipv6_endpoints():
    assert diff.endpoint_matches("[2001:db8::1]:51820", "[2001:db8:0::1]:51820")
    assert not diff.endpoint_matches("[2001:db8::1]:51820", "[2001:db8::1]:51821")
    assert not diff.endpoint_matches("203.0.113.1:51820", None)


def test_private_key_mismatch_compares_public_keys():
    fake = host()
    fake.links["wg0"]["wg"]["private"] = key("some-other-key")
    result = actions(fake)
    assert result == ["replace private key (new public key %s)" % pub_of(HOST_PRIV)]
    assert HOST_PRIV not in repr(result)


def test_listen_port_and_fwmark():
    fake = host()
    fake.links["wg0"]["wg"]["port"] = 40000
    assert actions(fake, config(fwmark="0xca6c")) == ["set listen port 51820", "set fwmark 0xca6c"]
    assert actions(fake, config(listen_port=None)) == []     # not managed: wg picks one


def test_psk_change_and_removal():
    psk1, psk2 = key("psk1"), key("psk2")
    fake = host()
    assert actions(fake, psks={A: psk1}) == ["update preshared key of a"]
    fake.peer("wg0", A).psk = psk1
    assert changes(fake, psks={A: psk1}) == []
    result = changes(fake, psks={A: psk2})
    assert [c.action for c in result] == ["update preshared key of a"]
    assert psk1 not in repr(result) and psk2 not in repr(result)
    removal = changes(fake)
    expected = ["wg", "set", "wg0", "peer", A, "preshared-key", "/dev/null"]
    assert [(c.order, c.cmd) for c in removal] == [(diff.WG_SET, expected)]


def test_keepalive_change_and_removal():
    cfg = config()
    cfg["peers"][0]["persistent_keepalive"] = 15
    assert [(c.order, c.action) for c in changes(host(), cfg)] == [(diff.SYNC, "update persistent keepalive of a")]
    cfg["peers"][0]["persistent_keepalive"] = 0
    assert [c.cmd for c in changes(host(), cfg)] == [["wg", "set", "wg0", "peer", A, "persistent-keepalive", "off"]]


def test_routes_missing_stale_and_kernel():
    fake = host(routes=[("10.4.0.1/32", "boot"), ("10.9.0.0/24", "boot"), ("10.77.0.0/16", "boot"),
                        ("fe80::/64", "kernel"), ("10.66.0.0/16", "kernel")])
    # Missing 10.4.0.3/32 is added; stale 10.77.0.0/16 goes; kernel routes are left alone.
    assert actions(fake) == ["remove route 10.77.0.0/16", "add route 10.4.0.3/32"]


def test_default_route_via_the_interface_covers_everything_and_stays():
    fake = host(routes=[("0.0.0.0/0", "boot")])
    assert changes(fake) == []


def test_a_stale_broader_route_does_not_count_as_covering():
    cfg = config()
    cfg["peers"][1]["allowed_ips"] = ["10.4.0.3/32", "10.9.1.0/24"]
    fake = host(routes=[("10.4.0.1/32", "boot"), ("10.4.0.3/32", "boot"), ("10.9.0.0/16", "boot")])
    fake.peer("wg0", B).allowed = ["10.4.0.3/32", "10.9.1.0/24"]
    assert actions(fake, cfg) == ["remove route 10.9.0.0/16", "add route 10.9.1.0/24"]


def test_route_covered_by_an_address_prefix_is_not_added():
    fake = host(routes=[("10.4.0.0/24", "kernel"), ("10.9.0.0/24", "boot")])
    fake.links["wg0"]["addrs"] = []
    # The /24 address is being added: its prefix route will cover the /32s (as wg-quick would skip them).
    assert actions(fake, config(address=["10.4.0.2/24"])) == ["add address 10.4.0.2/24"]
    # ...and when the address that provides the covering route goes, the routes must be added.
    fake.links["wg0"]["addrs"] = [(__import__("ipaddress").ip_interface("10.4.0.2/24"), "global")]
    assert actions(fake) == ["remove address 10.4.0.2/24", "add address 10.4.0.2/32",
                             "add route 10.4.0.1/32", "add route 10.4.0.3/32"]


def test_table_off_leaves_routes_alone():
    fake = host(routes=[("10.77.0.0/16", "boot")])
    assert changes(fake, config(table="off")) == []
    assert changes(fake, config(table="1234")) == []


def test_addresses_mtu_and_link_state():
    fake = host(up=False, mtu=1420)
    fake.links["wg0"]["addrs"].append((__import__("ipaddress").ip_interface("fe80::1/64"), "link"))
    fake.links["wg0"]["addrs"].append((__import__("ipaddress").ip_interface("10.5.0.9/32"), "global"))
    result = changes(fake, config(address=["10.4.0.2/32", "fd00::2/128"], mtu=1380))
    assert [c.action for c in result] == [
        "remove address 10.5.0.9/32", "add address fd00::2/128", "set mtu 1380", "set link wg0 up",
        "add route 10.4.0.1/32", "add route 10.4.0.3/32", "add route 10.9.0.0/24"]
    assert result[1].cmd == ["ip", "-6", "address", "add", "fd00::2/128", "dev", "wg0"]
    assert changes(fake, config(mtu=None, address=["10.4.0.2/32", "10.5.0.9/32"]))[0].action == "set link wg0 up"


def test_invalid_configs_name_every_problem():
    bad = config(peers=[{"name": "x", "public_key": "nope", "allowed_ips": []},
                        {"name": "y", "public_key": A, "allowed_ips": ["10.1.2.3/40"]},
                        {"name": "z", "public_key": B, "allowed_ips": [], "persistent_keepalive": "often"}],
                 listen_port="high")
    with pytest.raises(WireGuardError) as err:
        diff.desired_state(bad)
    for part in ("peer x: public_key", "peer y: allowed_ips", "peer z: persistent_keepalive", "listen_port"):
        assert part in str(err.value)
    with pytest.raises(WireGuardError, match="listed twice"):
        diff.desired_state(config(peers=[{"public_key": A}, {"public_key": A}]))
    with pytest.raises(WireGuardError, match="preshared key is not a valid"):
        diff.desired_state(config(), preshared_keys={A: "short"})


def failover_config():
    cfg = config()
    cfg["failover"] = {"self": "host", "peers": {"a": {"public_key": A, "mesh_ip": "10.4.0.1"},
                                                 "b": {"public_key": B, "mesh_ip": "10.4.0.3"}}}
    return cfg


def test_ranges_the_failover_agent_moved_between_its_peers_are_no_change():
    fake = FakeHost()
    fake.add_link("wg0", private_key=HOST_PRIV, addrs=["10.4.0.2/32"],
                  routes=[("10.4.0.1/32", "boot"), ("10.4.0.3/32", "boot"), ("10.9.0.0/24", "boot")])
    # the agent gave everything to a (b, say a standby leader's old leader, is dead)
    fake.add_peer("wg0", A, ["10.4.0.1/32", "10.4.0.3/32", "10.9.0.0/24"], endpoint="203.0.113.1:51820",
                  keepalive=25)
    fake.add_peer("wg0", B, [], endpoint="198.51.100.7:40312")
    assert changes(fake, failover_config()) == []
    # without the table the same live state is a change
    assert actions(fake) == ["update allowed ips of a", "update allowed ips of b"]


def test_a_range_missing_from_every_failover_peer_is_a_change():
    fake = host()
    cfg = failover_config()
    cfg["peers"][1]["allowed_ips"].append("10.8.0.0/24")
    assert actions(fake, cfg)[0] == "update allowed ips of the failover peers (a, b: missing 10.8.0.0/24)"


def test_failover_union_change_with_a_removed_peer_names_it_from_the_old_config():
    """A rotation: the failover peers' union changes and an old key leaves, named from the old config."""
    fake = host()
    fake.add_peer("wg0", C, ["10.4.0.9/32"])
    cfg = failover_config()
    cfg["peers"][1]["allowed_ips"].append("10.8.0.0/24")
    assert actions(fake, cfg, names={C: "old-c"})[:2] == [
        "update allowed ips of the failover peers (a, b: missing 10.8.0.0/24)", "remove peer old-c"]


def standby_config():
    """``host`` is its location's standby leader: it follows a (the leader) and leads when a is dead."""
    cfg = config(peers=[
        {"name": "a", "public_key": A, "endpoint": "203.0.113.1:51820", "allowed_ips": ["10.4.0.0/16"],
         "persistent_keepalive": 25},
        {"name": "b", "public_key": B, "endpoint": None, "allowed_ips": [], "persistent_keepalive": None}])
    cfg["failover"] = {"self": "host", "peers": {"a": {"public_key": A, "mesh_ip": "10.4.0.1"},
                                                 "b": {"public_key": B, "mesh_ip": "10.4.0.3"}},
                       "follow": {"name": "loc", "candidates": ["a", "host"], "ranges": ["10.4.0.0/16"]},
                       "static": {"a": ["10.4.0.1/32"], "b": ["10.4.0.3/32"]},
                       "lead": [{"name": "far", "candidates": ["b"], "ranges": ["10.9.0.0/24"]}]}
    return cfg


def standby_host(a_ranges, b_ranges):
    fake = FakeHost()
    fake.add_link("wg0", private_key=HOST_PRIV, addrs=["10.4.0.2/32"], routes=[("10.4.0.0/16", "boot")])
    fake.add_peer("wg0", A, a_ranges, endpoint="203.0.113.1:51820", keepalive=25)
    fake.add_peer("wg0", B, b_ranges, endpoint="198.51.100.7:40312")
    return fake


def test_a_standby_leader_whose_agent_took_the_lead_is_no_change():
    """Measured on a 100-host lab: an agent that held its leader dead led its location, and the next run failed on
    it with 'still differs' (the lead union is not the follow union)."""
    assert changes(standby_host(["10.4.0.0/16"], []), standby_config()) == []          # following, as planned
    assert changes(standby_host(["10.4.0.1/32"], ["10.4.0.3/32", "10.9.0.0/24"]), standby_config()) == []  # leading
    # any other union is still a change, named by what is missing and extra
    assert actions(standby_host(["10.4.0.1/32"], ["10.4.0.3/32"]), standby_config()) == [
        "update allowed ips of the failover peers (a, b: missing 10.4.0.0/16; extra 10.4.0.1/32, 10.4.0.3/32)"]
    # a plain member (not a candidate) has one union only
    member = standby_config()
    member["failover"]["follow"]["candidates"] = ["a"]
    assert actions(standby_host(["10.4.0.1/32"], ["10.4.0.3/32", "10.9.0.0/24"]), member)[:1] == [
        "update allowed ips of the failover peers (a, b: missing 10.4.0.0/16; extra 10.4.0.1/32, 10.4.0.3/32, "
        "10.9.0.0/24)"]


def test_a_failover_table_with_a_bad_range_is_one_clear_error():
    cfg = standby_config()
    cfg["failover"]["lead"][0]["ranges"] = ["10.9.0.0/33"]
    with pytest.raises(WireGuardError, match="failover table"):
        diff.desired_state(cfg, pub_of(HOST_PRIV))


def test_a_dead_hosts_own_address_on_its_own_entry_under_a_broader_range_is_no_change():
    """Measured on a 25-host lab right after its first run: agents that held a NAT'd host dead (it had not sent
    anything yet) gave its own /32 to its own entry while the leader kept the /16; the rerun called that a change."""
    fake = standby_host(["10.4.0.0/16"], ["10.4.0.3/32"])
    assert changes(fake, standby_config()) == []
    # a range outside what the plan routes into the failover peers still is one
    assert actions(standby_host(["10.4.0.0/16"], ["10.5.0.3/32"]), standby_config())[0] == (
        "update allowed ips of the failover peers (a, b: extra 10.5.0.3/32)")
