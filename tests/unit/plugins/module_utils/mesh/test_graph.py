"""graph: the plan as DOT: clusters, leaders, NAT, relays, external peers, endpoints; deterministic."""

import random
import shutil
import subprocess

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import graph
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan

from .helpers import key, lab_nodes, node

OPERATOR = {"name": "operator", "allowed_ips": ["10.4.100.1/32"], "public_key": key("operator")}


def lab_dot(granularity="location", standbys=0):
    return graph.to_dot(build_plan("10.4.0.0/16", granularity, lab_nodes(), [OPERATOR], standbys=standbys).to_dict())


def test_clusters_leaders_nat_relay_and_peer_are_marked():
    dot = lab_dot()
    assert dot.startswith('graph "wiremesh" {') and dot.endswith("}\n")
    assert dot.count("subgraph \"cluster_") == 3
    assert 'label="location do-fra1"' in dot
    assert '"do1" [label="do1\\n10.4.0.2\\n[leader, forwards]", shape="box", style="rounded,bold"];' in dot
    assert '"do2" [label="do2\\n10.4.0.3", shape="box", style="rounded"];' in dot
    assert '[leader, NAT]' in dot and 'style="rounded,bold,dashed"' in dot
    assert '"aws1" [label="aws1\\n10.4.0.1\\n[leader, relay]"' in dot
    assert '"operator" [label="operator\\n10.4.100.1/32\\n[external peer]", shape="note", style="dashed"];' in dot


def test_edges_carry_endpoints_keepalive_and_relays():
    dot = lab_dot()
    assert '"aws1" -- "do1" [label="aws1 -> 203.0.113.11:51820\\ndo1 -> 203.0.113.21:51820"];' in dot
    assert '"do1" -- "do2" [label="do1 -> 10.110.0.12:51820\\ndo2 -> 10.110.0.11:51820"];' in dot
    assert '"aws1" -- "edge" [label="edge -> 203.0.113.21:51820 ka 25s"];' in dot
    assert '"edge" -- "operator" [constraint="false", label="via aws1", style="dotted"];' in dot
    # location granularity: members never peer with other locations
    assert '"do2" -- "aws1"' not in dot and '"aws1" -- "do2"' not in dot


def test_same_plan_same_bytes_whatever_the_input_order():
    nodes = lab_nodes()
    first = graph.to_dot(build_plan("10.4.0.0/16", "location", nodes, [OPERATOR]).to_dict())
    for seed in range(5):
        random.Random(seed).shuffle(nodes)
        assert graph.to_dot(build_plan("10.4.0.0/16", "location", nodes, [OPERATOR]).to_dict()) == first


def test_full_granularity_has_no_leader_marks_and_cross_draws_private_links():
    full = lab_dot("full")
    assert "leader" not in full and '"do2" -- "edge"' in full
    cross = lab_dot("cross")
    assert '"do1" -- "do2" [color="grey", label="private 10.110.0.12", style="dashed"];' in cross


def test_names_are_quoted():
    plan = build_plan("10.4.0.0/16", "full", [node("a.b-c", "l", "203.0.113.1")]).to_dict()
    assert '"a.b-c"' in graph.to_dot(plan, name='odd "name"')
    assert graph.to_dot(plan, name='odd "name"').startswith('graph "odd \\"name\\"" {')


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_graphviz_accepts_it():
    proc = subprocess.run(["dot", "-Tsvg"], input=lab_dot(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in proc.stdout and "operator" in proc.stdout


def test_standby_leader_and_its_warm_entries_are_drawn_apart():
    dot = lab_dot(standbys=1)
    assert '"do2" [label="do2\\n10.4.0.3\\n[standby, forwards]", shape="box", style="rounded"];' in dot
    edge = next(line for line in dot.splitlines() if line.startswith('  "aws1" -- "do2"'))
    assert 'style="dashed"' in edge and 'color="grey"' in edge and 'label="standby\\n' in edge
    leader = next(line for line in dot.splitlines() if line.startswith('  "aws1" -- "do1"'))
    assert "standby" not in leader and "dashed" not in leader
