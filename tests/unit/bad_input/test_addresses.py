"""Addresses that clash: overlapping CIDRs, the mesh range over a private network, a peer claiming a node's
mesh IP, an exported mesh with the same CIDR, endpoints inside the mesh or another host's extra CIDR, one private
address on two hosts.

Each case: host variable changes (without the ``wiremesh_`` prefix), external peers, the message the run must
stop with, and the problem (subject, field, fragment) the planner raises for the same input."""

import pytest

from ..plugins.module_utils.mesh.helpers import key
from .harness import assert_refused, needs_ansible

pytestmark = needs_ansible


def peer(name, *allowed_ips):
    return {"name": name, "allowed_ips": list(allowed_ips), "public_key": key(name)}


CASES = [
    pytest.param({"c": {"private_ips": ["10.4.3.2/24"]}}, None,
                 "invalid mesh: c: wiremesh_private_ips: network 10.4.3.0/24 overlaps the mesh CIDR 10.4.0.0/16",
                 ("c", "private_ips", "overlaps the mesh CIDR"), id="mesh-cidr-over-a-private-network"),
    pytest.param({"a": {"extra_cidrs": ["10.9.1.0/24"]}, "c": {"extra_cidrs": ["10.9.0.0/16"]}}, None,
                 "a: wiremesh_extra_cidrs: 10.9.1.0/24 overlaps 10.9.0.0/16 of c",
                 ("a", "extra_cidrs", "overlaps 10.9.0.0/16 of c"), id="routed-cidrs-of-two-hosts-overlap"),
    pytest.param({"b": {"extra_cidrs": ["10.4.8.0/24"]}}, None,
                 "b: wiremesh_extra_cidrs: 10.4.8.0/24 overlaps the mesh CIDR 10.4.0.0/16",
                 ("b", "extra_cidrs", "overlaps the mesh CIDR"), id="routed-cidr-inside-the-mesh"),
    pytest.param(None, [peer("p1", "10.5.0.0/24"), peer("p2", "10.5.0.128/25")],
                 "peer p2: allowed_ips: 10.5.0.128/25 overlaps 10.5.0.0/24 of peer p1",
                 ("peer p2", "allowed_ips", "overlaps 10.5.0.0/24 of peer p1"), id="two-peers-overlap"),
    pytest.param({"c": {"extra_cidrs": ["172.20.0.0/16"]}}, [peer("laptop", "172.20.5.0/24")],
                 "peer laptop: allowed_ips: 172.20.5.0/24 overlaps 172.20.0.0/16 of c",
                 ("peer laptop", "allowed_ips", "overlaps 172.20.0.0/16 of c"), id="peer-claims-a-routed-cidr"),
    pytest.param({"a": {"mesh_ip": "10.5.0.1"}}, None,
                 "a: wiremesh_mesh_ip: 10.5.0.1 is outside the mesh CIDR 10.4.0.0/16",
                 ("a", "mesh_ip", "is outside the mesh CIDR"), id="pinned-ip-outside-the-mesh"),
    pytest.param({"a": {"mesh_ip": "10.4.0.9"}, "b": {"mesh_ip": "10.4.0.9"}}, None,
                 "b: wiremesh_mesh_ip: '10.4.0.9' is also used by a",
                 ("b", "mesh_ip", "is also used by a"), id="one-ip-pinned-on-two-hosts"),
    pytest.param({"a": {"mesh_ip": "10.4.0.7"}}, [peer("laptop", "10.4.0.7/32")],
                 "peer laptop: allowed_ips: 10.4.0.7/32 contains the mesh IP 10.4.0.7 of a",
                 ("peer laptop", "allowed_ips", "contains the mesh IP 10.4.0.7 of a"),
                 id="peer-claims-a-nodes-mesh-ip"),
    # `wiremesh showconf node X --as-peer` of another mesh that also uses 10.4.0.0/16, exported whole
    pytest.param(None, [peer("other-mesh", "10.4.0.0/16")],
                 "peer other-mesh: allowed_ips: 10.4.0.0/16 is the whole mesh CIDR",
                 ("peer other-mesh", "allowed_ips", "is the whole mesh CIDR"), id="export-of-a-mesh-with-our-cidr"),
    pytest.param(None, [peer("wide", "10.4.0.0/15")],
                 "peer wide: allowed_ips: 10.4.0.0/15 straddles the mesh CIDR 10.4.0.0/16",
                 ("peer wide", "allowed_ips", "straddles"), id="peer-range-straddles-the-mesh"),
    pytest.param({"c": {"endpoint": "10.4.0.50:51820"}}, None,
                 "c: wiremesh_endpoint: 10.4.0.50 is inside the mesh CIDR 10.4.0.0/16",
                 ("c", "endpoint", "is inside the mesh CIDR"), id="endpoint-inside-the-mesh"),
    # wg-quick on a and b would route 203.0.113.0/24, c's endpoint with it, into the tunnel to a
    pytest.param({"a": {"extra_cidrs": ["203.0.113.0/24"]}, "c": {"endpoint": "203.0.113.30"}}, None,
                 "c: wiremesh_endpoint: 203.0.113.30 is inside 203.0.113.0/24, an extra CIDR of a, which the mesh "
                 "routes into the tunnel",
                 ("c", "endpoint", "is inside 203.0.113.0/24, an extra CIDR of a"),
                 id="endpoint-inside-another-hosts-extra-cidr"),
    pytest.param({"b": {"private_ips": ["192.168.1.2/24"]}}, None,
                 "b: wiremesh_private_ips: 192.168.1.2 is also the private address of a in location l1",
                 ("b", "private_ips", "is also the private address of a"), id="private-address-on-two-hosts"),
]


@pytest.mark.parametrize("hosts, peers, message, problem", CASES)
def test_clashing_addresses(inventory, hosts, peers, message, problem):
    assert_refused(inventory.change(hosts, peers), message, problem)
