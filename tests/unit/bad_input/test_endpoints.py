"""Where packets go: endpoints without a port after the colon, with a bad host or port, shared by two hosts;
a leader pinned to a host nobody can reach; locations that cannot reach each other at all.

Each case: host variable changes (without the ``wiremesh_`` prefix), the message the run must stop with, and
the problem (subject, field, fragment) the planner raises for the same input."""

import pytest

from .harness import assert_refused, needs_ansible

pytestmark = needs_ansible


def endpoint(value, message, case_id):
    return pytest.param({"c": {"endpoint": value}}, "c: wiremesh_endpoint: " + message,
                        ("c", "endpoint", message), id=case_id)


CASES = [
    endpoint("198.51.100.3:", "'198.51.100.3:' has an invalid port ''", "empty-port"),
    endpoint("[2001:db8::3]:", "'[2001:db8::3]:' has an invalid port ''", "ipv6-empty-port"),
    endpoint("vpn_host.example.org:51820", "'vpn_host.example.org:51820' has an invalid host 'vpn_host.example.org'",
             "underscore-in-host"),
    endpoint("300.1.1.3", "'300.1.1.3' has an invalid host '300.1.1.3'", "not-an-ipv4-address"),
    endpoint("udp://198.51.100.3:51820", "'udp://198.51.100.3:51820' is not a valid endpoint", "url"),
    endpoint("198.51.100.3:70000", "'198.51.100.3:70000' has port 70000 outside 1-65535", "port-out-of-range"),
    pytest.param({"a": {"listen_port": 70000}}, "a: wiremesh_listen_port: 70000 is outside 1-65535",
                 ("a", "listen_port", "70000 is outside 1-65535"), id="listen-port-out-of-range"),
    # a copied host_vars file: WireGuard would send b's packets to a
    pytest.param({"b": {"endpoint": "198.51.100.1"}}, "b: wiremesh_endpoint: '198.51.100.1:51820' is also used by a",
                 ("b", "endpoint", "is also used by a"), id="two-hosts-with-one-endpoint"),
    pytest.param({"a": {"endpoint": None, "leader": True}},
                 "a: wiremesh_leader: is pinned as leader of location l1 but has no endpoint, while b has one",
                 ("a", "leader", "is pinned as leader of location l1 but has no endpoint"),
                 id="leader-pinned-to-a-host-without-endpoint"),
    pytest.param({"a": {"endpoint": None}, "b": {"endpoint": None}, "c": {"endpoint": None}},
                 "location l1: wiremesh_endpoint: cannot reach location l2: neither has an endpoint the other can use",
                 ("location l1", "endpoint", "cannot reach location l2"), id="all-behind-nat-no-relay"),
]


@pytest.mark.parametrize("hosts, message, problem", CASES)
def test_unusable_endpoints(inventory, hosts, message, problem):
    assert_refused(inventory.change(hosts), message, problem)
