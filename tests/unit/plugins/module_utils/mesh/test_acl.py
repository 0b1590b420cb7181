"""The access policy (mesh/acl.py): checked with one problem per mistake, compiled per host into an nftables table
that nft accepts, and whose verdicts (read back by a small evaluator of the compiled lines) are, for every source,
destination, protocol and port, those of the policy read by hand."""

import ipaddress
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import acl
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError

from tests.acl_demo import allowed, demo_policy

from .helpers import key, node

GROUPS = {"digitalocean": ["do1", "do2"], "aws": ["aws1"], "edges": ["edge"], "gpu": ["aws1"], "empty": []}  # the lab's
OPERATOR = {"name": "operator", "allowed_ips": ["10.4.100.1/32"], "public_key": key("operator")}
DEMO = demo_policy()


def lab_plan(peers=(OPERATOR,)):
    nodes = [node("do1", "do-fra1", "203.0.113.11", ["10.110.0.11/20"]),
             node("do2", "do-fra1", "203.0.113.12", ["10.110.0.12/20"]),
             node("aws1", "aws", "203.0.113.21", ["172.31.16.21/20"]),
             node("edge", "edge", None, ["192.168.50.10/24"])]
    return build_plan("10.4.0.0/16", "location", nodes, list(peers))


def problems(policy, peers=(OPERATOR,)):
    plan = lab_plan(peers)
    with pytest.raises(MeshError) as err:
        acl.parse_policy(policy, plan.spec, GROUPS)
    return [p.render() for p in err.value.problems]


def test_no_policy_filters_nothing():
    plan = lab_plan()
    assert acl.parse_policy({}, plan.spec, GROUPS) is None and acl.parse_policy(None, plan.spec, GROUPS) is None


@pytest.mark.parametrize("rule,message", [
    ({"from": "group:nope", "to": "*"}, "rules[0].from: group:nope is not known (known groups: aws, digitalocean, "
                                        "edges, empty, gpu)"),
    ({"from": "host:do9", "to": "*"}, "rules[0].from: host:do9 is not known"),
    ({"from": "*", "to": "location:moon"}, "rules[0].to: location:moon is not known"),
    ({"from": "tag:x", "to": "*"}, "rules[0].from: tag:x is not known (known tags: none)"),
    ({"from": "*", "to": "peer:operator"}, "rules[0].to: peer:operator: an external peer is not a destination"),
    ({"from": "do1", "to": "*"}, "rules[0].from: str 'do1' is not a selector"),
    ({"from": [], "to": "*"}, "rules[0].from: must be a selector or a list of them"),
    ({"from": "*", "to": "*", "proto": "sctp"}, "rules[0].proto: must be one of tcp, udp, icmp, any, got str 'sctp'"),
    ({"from": "*", "to": "*", "proto": "tcp", "ports": [0]}, "rules[0].ports: int 0 is not a port (1-65535)"),
    ({"from": "*", "to": "*", "proto": "tcp", "ports": ["90-80"]}, "rules[0].ports: str '90-80' is not a port"),
    ({"from": "*", "to": "*", "proto": "tcp", "ports": [True]}, "rules[0].ports: bool True (YAML reads"),
    ({"from": "*", "to": "*", "proto": "icmp", "ports": [1]}, "rules[0].ports: ports go with proto tcp or udp"),
    ({"from": "*", "to": "*", "action": "reject"}, "rules[0].action: must be accept or drop"),
    ({"from": "*", "to": "*", "port": 22}, "rules[0].port: is not a known field"),
    ({"from": "*", "to": "group:empty"}, "rules[0]: can never match: its to is empty"),
    ({"from": "host:do1", "to": "host:do1"}, "rules[0]: can never match: a host's traffic to itself"),
    ({"from": "host:do1", "to": "*", "proto": "icmp", "action": "drop"}, "rules[0]: would drop ICMP between mesh "
                                                                         "hosts"),
])
def test_each_mistake_is_one_problem_naming_the_rule_and_field(rule, message):
    found = problems({"rules": [rule]})
    assert len(found) == 1 and found[0].startswith("wireguard_acls: "), found
    assert message in found[0], found


def test_a_rule_an_earlier_rule_covers_is_refused_and_problems_are_all_reported():
    found = problems({"default": {"peers": "maybe"}, "rules": [
        {"name": "all ssh", "from": "*", "to": "*", "proto": "tcp", "ports": ["1-1024"]},
        {"name": "some ssh", "from": "host:do1", "to": "host:aws1", "proto": "tcp", "ports": [22]},
        {"from": "host:nope", "to": "*"}]})
    assert found == [
        "wireguard_acls: default.peers: must be accept or drop, got str 'maybe'",
        "wireguard_acls: rules[1] (some ssh): can never match: rules[0] (all ssh) before it matches everything it does",
        "wireguard_acls: rules[2].from: host:nope is not known (known hosts: aws1, do1, do2, edge)"]


def test_a_peer_that_has_not_joined_yet_is_a_note_and_its_rule_waits():
    plan = lab_plan(peers=())
    policy = acl.parse_policy(demo_policy(), plan.spec, GROUPS)     # before the operator joined
    assert [r.label for r in policy.rules if r.src_peers] == []
    assert len(policy.notes) == 2 and "peer:operator is not among the external peers" in policy.notes[0].render()


# --- the compiled tables, read back -------------------------------------------------------------------------
_LINE = re.compile(r"^(?:ip6? saddr \{ (?P<s>[^}]*) \})?(?: ip6? daddr \{ (?P<d>[^}]*) \})?"
                   r"(?: (?:meta l4proto (?P<l4>\S+)|(?P<p>tcp|udp) dport \{ (?P<ports>[^}]*) \}))?"
                   r"(?: icmp6? type echo-request| icmpv6 type echo-request)? ?(?P<v>accept|drop)")


def verdict(table, src, dst_ip, proto, port):
    """The verdict of the table's policy chain for a new flow, reading the compiled text line by line."""
    body = table.split("chain mesh_policy {")[1].split("\n\t}")[0]
    for line in body.splitlines():
        line = line.strip().split("  #")[0]
        if not line or line.startswith("ct "):
            continue
        if "echo-request" in line:
            if proto == "icmp" and _has(line.split("saddr { ")[1].split(" }")[0], src):
                return "accept"
            continue
        match = _LINE.match(line)
        assert match, line
        if match["s"] and not _has(match["s"], src):
            continue
        if match["d"] and not _has(match["d"], dst_ip):
            continue
        if match["l4"] and match["l4"] != proto:
            continue
        if match["p"] and (match["p"] != proto or not _port_in(match["ports"], port)):
            continue
        return match["v"]
    return "accept"


def _has(items, address):
    return any(ipaddress.ip_address(address) in ipaddress.ip_network(i.strip()) for i in items.split(","))


def _port_in(items, port):
    for item in items.split(","):
        low, _dash, high = item.strip().partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


FLOWS = [("tcp", p) for p in (22, 80, 8080, 8081, 8082, 8083, 5201)] + [("udp", 8082), ("icmp", 0)]


def test_the_compiled_table_gives_the_policy_verdicts_for_every_flow():
    plan = lab_plan()
    table = acl.compile_table(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips)
    # what arrives on wg0 goes to the policy chain, for the host itself (input) and for those it forwards for
    for hook in ("input", "forward"):
        chain = table.split("chain %s {" % hook)[1].split("\n\t}")[0]
        assert 'type filter hook %s priority filter; policy accept;' % hook in chain
        assert chain.strip().endswith('iifname "wg0" jump mesh_policy')
    sources = dict((name, str(plan.mesh_ips[name])) for name in plan.nodes)
    sources["operator"] = "10.4.100.1"
    private = {"do1": "10.110.0.11", "do2": "10.110.0.12", "aws1": "172.31.16.21", "edge": "192.168.50.10"}
    checked = 0
    for src, src_ip in sources.items():
        for dst in plan.nodes:
            if src == dst:
                continue
            for proto, port in FLOWS:
                want = "accept" if allowed(src, dst, proto, port) else "drop"
                for dst_ip in (str(plan.mesh_ips[dst]), private[dst]):      # its mesh IP and its private one
                    assert verdict(table, src_ip, dst_ip, proto, port) == want, (src, dst, dst_ip, proto, port)
                if src != "operator":                                       # from the source's private address
                    assert verdict(table, private[src], str(plan.mesh_ips[dst]), proto, port) == want
                checked += 1
    assert checked == (4 * 3 + 4) * 9       # every ordered pair of hosts, and the operator to each host


def test_the_compiled_table_is_deterministic_and_carries_its_digest():
    plan = lab_plan()
    one = acl.compile_table(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips, "wg0")
    two = acl.compile_table(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips, "wg0")
    assert one == two and re.search(r'comment "wiremesh [0-9a-f]{16}"', one)
    assert "table inet wiremesh_wg0 {" in one
    other = acl.compile_table(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips, "wg-b")
    assert "table inet wiremesh_wg_b {" in other and 'iifname "wg-b" jump mesh_policy' in other


def test_the_table_grows_linearly_with_the_mesh():
    nodes = [node("h%04d" % i, "l%d" % (i // 10), "198.18.%d.%d" % (i // 250, i % 250 + 1)) for i in range(1000)]
    plan = build_plan("10.4.0.0/16", "location", nodes)
    policy = acl.parse_policy({"rules": [{"from": "*", "to": "location:l0", "proto": "tcp", "ports": [443]},
                                         {"from": "*", "to": "*", "proto": "tcp", "ports": [22], "action": "drop"}]},
                              plan.spec, {})
    table = acl.compile_table(policy, plan.spec, plan.mesh_ips)
    # four lists of every host (probes, two rules, the default) and one of location l0's ten: ~16 bytes each
    assert len(table) < 1000 * 4 * 16 + 10000, len(table)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
                    reason="nft -c needs root and nftables")
def test_nft_accepts_the_compiled_table(tmp_path):
    plan = lab_plan()
    table = acl.compile_table(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips)
    namespace = "wm-acl-unit-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        path = tmp_path / "wg0.nft"
        path.write_text(table)
        proc = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-c", "-f", str(path)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def test_the_plan_summary_lists_the_flows_the_rules_open():
    plan = lab_plan()
    summary = acl.summary(acl.parse_policy(DEMO, plan.spec, GROUPS))
    assert summary["default"] == {"members": "accept", "peers": "drop"}
    assert summary["rules"][2] == {"rule": "rules[2] (nobody else opens SSH over the mesh)", "action": "drop",
                                   "from": ["aws1", "do1", "do2", "edge", "operator"],
                                   "to": ["aws1", "do1", "do2", "edge"], "proto": "tcp", "ports": "22"}
    assert acl.opened_flows(summary) == sorted(
        [("operator", h, "tcp", "22") for h in ("aws1", "do2", "edge")]
        + [("operator", "do1", "tcp", "8080,22"), ("do1", "edge", "tcp", "8081"), ("do1", "aws1", "tcp", "8082")])
