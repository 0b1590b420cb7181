"""Mesh IP allocation: pins, sticky addresses, peers' ranges, exhaustion."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError

from .helpers import key, node


def ips(plan):
    return {name: str(ip) for name, ip in plan.mesh_ips.items()}


def nodes(*names):
    return [node(n, "l", "198.51.100.%d" % (i + 1)) for i, n in enumerate(names)]


def test_allocates_lowest_free_in_name_order():
    assert ips(build_plan("10.4.0.0/16", "full", nodes("b", "a", "c"))) == {
        "a": "10.4.0.1", "b": "10.4.0.2", "c": "10.4.0.3"}


def test_pins_and_sticky_addresses_win_and_are_skipped():
    ns = nodes("a", "b", "c")
    ns[2]["mesh_ip"] = "10.4.0.1"
    plan = build_plan("10.4.0.0/16", "full", ns, assigned={"b": "10.4.0.9", "gone": "10.4.0.2"})
    assert ips(plan) == {"c": "10.4.0.1", "b": "10.4.0.9", "a": "10.4.0.3"}


def test_adding_a_node_renumbers_nobody_when_addresses_are_sticky():
    first = ips(build_plan("10.4.0.0/16", "full", nodes("b", "d")))
    second = ips(build_plan("10.4.0.0/16", "full", nodes("a", "b", "c", "d"), assigned=first))
    assert {k: second[k] for k in first} == first


def test_peer_addresses_inside_the_mesh_are_never_handed_out():
    peer = {"name": "p", "allowed_ips": ["10.4.0.0/30"], "public_key": key("p")}
    assert ips(build_plan("10.4.0.0/16", "full", nodes("a"), peers=[peer])) == {"a": "10.4.0.4"}


def test_exhausted_cidr_is_an_error():
    with pytest.raises(MeshError, match="mesh: cidr: 10.4.0.0/30 has no free address left for c"):
        build_plan("10.4.0.0/30", "full", nodes("a", "b", "c"))


def test_sticky_address_outside_a_new_cidr_is_an_error():
    with pytest.raises(MeshError, match="a: mesh_ip: the state file assigns 10.9.0.1, outside"):
        build_plan("10.4.0.0/16", "full", nodes("a"), assigned={"a": "10.9.0.1"})


def test_ipv6_mesh():
    plan = build_plan("fd00:4::/64", "full", nodes("a", "b"))
    assert ips(plan) == {"a": "fd00:4::1", "b": "fd00:4::2"}


def test_a_peer_claiming_a_sticky_node_address_is_refused():
    peer = {"name": "other-mesh", "allowed_ips": ["10.4.0.2/32"], "public_key": key("o")}
    with pytest.raises(MeshError, match="peer other-mesh: allowed_ips: 10.4.0.2/32 contains the mesh IP 10.4.0.2 of b"):
        build_plan("10.4.0.0/16", "full", nodes("a", "b"), peers=[peer], assigned={"a": "10.4.0.1", "b": "10.4.0.2"})
