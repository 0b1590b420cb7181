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


def verdict(table, chain, src, dst_ip, proto, port):
    """The verdict of ``chain`` (input/forward) for a new flow, reading the compiled text line by line."""
    body = table.split("chain %s {" % chain)[1].split("\n\t}")[0]
    for line in body.splitlines()[3:]:
        line = line.strip().split("  #")[0]
        if line.startswith("ct "):
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


def test_the_compiled_tables_give_the_policy_verdicts_for_every_flow():
    plan = lab_plan()
    policy = acl.parse_policy(DEMO, plan.spec, GROUPS)
    compiler = acl.Compiler(policy, plan.spec, plan.mesh_ips)
    tables = dict((name, compiler.render(name)) for name in plan.nodes)
    sources = dict((name, str(plan.mesh_ips[name])) for name in plan.nodes)
    sources["operator"] = "10.4.100.1"
    checked = 0
    for src, src_ip in sources.items():
        for dst in plan.nodes:
            if src == dst:
                continue
            for proto, port in [("tcp", p) for p in (22, 80, 8080, 8081, 8082, 8083, 5201)] + [("udp", 8082),
                                                                                                 ("icmp", 0)]:
                want = "accept" if allowed(src, dst, proto, port) else "drop"
                # on arrival at the destination (input), and at any host forwarding for it (a leader, a relay)
                assert verdict(tables[dst], "input", src_ip, None, proto, port) == want, (src, dst, proto, port)
                for hop in plan.nodes:
                    if hop not in (src, dst):
                        dst_ip = str(plan.mesh_ips[dst])
                        assert verdict(tables[hop], "forward", src_ip, dst_ip, proto, port) == want, (hop, src, dst)
                checked += 1
    assert checked == (4 * 3 + 4) * 9       # every ordered pair of hosts, and the operator to each host


def test_compiled_tables_are_deterministic_and_carry_their_digest():
    plan = lab_plan()
    policy = acl.parse_policy(DEMO, plan.spec, GROUPS)
    one = acl.Compiler(policy, plan.spec, plan.mesh_ips, "wg0").render("aws1")
    two = acl.Compiler(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips, "wg0").render("aws1")
    assert one == two and re.search(r'comment "wiremesh [0-9a-f]{16}"', one)
    assert 'iifname != "wg0" accept' in one and "table inet wiremesh_wg0 {" in one


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
                    reason="nft -c needs root and nftables")
def test_nft_accepts_every_compiled_table(tmp_path):
    plan = lab_plan()
    compiler = acl.Compiler(acl.parse_policy(DEMO, plan.spec, GROUPS), plan.spec, plan.mesh_ips)
    namespace = "wm-acl-unit-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        for name in plan.nodes:
            path = tmp_path / ("%s.nft" % name)
            path.write_text(compiler.render(name))
            proc = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-c", "-f", str(path)],
                                  capture_output=True, text=True, check=False)
            assert proc.returncode == 0, (name, proc.stderr)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def test_the_plan_summary_lists_the_flows_the_rules_open():
    plan = lab_plan()
    summary = acl.summary(acl.parse_policy(DEMO, plan.spec, GROUPS))
    assert summary["default"] == {"members": "accept", "peers": "drop"}
    assert sorted((f["from"], f["to"], f["proto"], f["ports"]) for f in summary["flows"]) == sorted(
        [("operator", h, "tcp", "22") for h in ("aws1", "do1", "do2", "edge")]
        + [("operator", "do1", "tcp", "8080"), ("do1", "edge", "tcp", "8081"), ("do1", "aws1", "tcp", "8082")])
