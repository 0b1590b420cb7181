"""A bad access policy (wireguard_acls) stops mesh.yml in the pre-flight check, before any host is touched, with
one message naming the rule and field of each mistake."""

import pytest

from .harness import needs_ansible

pytestmark = needs_ansible

CASES = [
    pytest.param({"rules": [{"from": "group:web", "to": "*"}]},
                 ["wireguard_acls: rules[0].from: group:web is not known (known groups: all, mesh, ungrouped)"],
                 id="unknown-group"),
    pytest.param({"rules": [{"name": "ssh", "from": "host:a", "to": "location:l2", "proto": "tcp", "ports": [0, 22]}]},
                 ["wireguard_acls: rules[0] (ssh).ports: int 0 is not a port (1-65535)"], id="bad-port"),
    pytest.param({"rules": [{"from": "*", "to": "*", "proto": "tcp"},
                            {"from": "host:a", "to": "host:c", "proto": "tcp", "ports": [22]}]},
                 ["wireguard_acls: rules[1]: can never match: rules[0] before it matches everything it does"],
                 id="rule-that-can-never-match"),
    pytest.param({"rules": [{"from": "location:l1", "to": "*", "proto": "icmp", "action": "drop"}]},
                 ["wireguard_acls: rules[0]: would drop ICMP between mesh hosts"], id="cuts-the-failover-probes"),
    pytest.param({"default": {"members": "reject"}, "rules": [{"from": "*", "to": "peer:x"}]},
                 ["wireguard_acls: default.members: must be accept or drop",
                  "wireguard_acls: rules[0].to: peer:x: an external peer is not a destination"],
                 id="two-mistakes-both-named"),
]


@pytest.mark.parametrize("policy,messages", CASES)
def test_a_bad_policy_is_refused_before_any_host(inventory, policy, messages):
    inventory.group_vars["wireguard_acls"] = policy
    run = inventory.run()
    run.assert_refused(*messages)
    run.assert_state_unchanged()
