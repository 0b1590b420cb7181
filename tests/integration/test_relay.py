"""Two NAT'd hosts reach each other through a relay the planner picks, on a lab of its own (`rlab`:
tests/integration/relay/inventory, namespaces wm-rl-*, beside the main lab). rl-n1 and rl-n2 sit behind two
different NAT routers, so neither can reach the other's WireGuard port; rl-pub is the only host with a public
endpoint. Checks the plan (the relay, forwarding on it, the relayed ranges in the NAT'd hosts' AllowedIPs),
then real pings both ways over the mesh, a rerun with changed=0, and that the lab is gone afterwards.
Needs root and `ip netns`."""

import json
import os
import time

import pytest

from .labtools import ROOT, forget_mesh_state, in_host, lab_namespaces, needs_lab, playbook, recap

INVENTORY = os.path.join(ROOT, "tests", "integration", "relay", "inventory")
LAB_ROOT = "/srv/wiremesh-lab/rlab"
STATE_DIR = os.path.join(INVENTORY, ".wiremesh")
HOSTS = ("rl-pub", "rl-n1", "rl-n2")

pytestmark = needs_lab


def must(proc, what):
    assert proc.returncode == 0, (what, proc.stdout[-5000:], proc.stderr[-2000:])
    return proc


@pytest.fixture(scope="module")
def rlab():
    must(playbook("-i", INVENTORY, "playbooks/lab_destroy.yml"), "clean start")
    forget_mesh_state(INVENTORY)
    must(playbook("-i", INVENTORY, "playbooks/lab.yml"), "lab")
    first = must(playbook("-i", INVENTORY, "playbooks/mesh.yml"), "mesh")
    with open(os.path.join(STATE_DIR, "mesh.state.json")) as handle:
        plan = json.load(handle)["plan"]
    yield {"first": first, "plan": plan}
    must(playbook("-i", INVENTORY, "playbooks/lab_destroy.yml"), "destroy")
    forget_mesh_state(INVENTORY)
    assert not [ns for ns in lab_namespaces() if ns in ["wm-%s" % h for h in HOSTS]]


def test_the_planner_relays_the_nat_pair_through_the_public_host(rlab):
    plan = rlab["plan"]
    assert plan["relays"] == [{"between": ["site-1", "site-2"], "via": "pub", "standbys": []}]
    assert plan["nodes"]["rl-pub"]["forward"] is True
    ips = plan["mesh_ips"]
    for here, there in (("rl-n1", "rl-n2"), ("rl-n2", "rl-n1")):
        peers = {p["name"]: p for p in plan["nodes"][here]["peers"]}
        assert sorted(peers) == ["rl-pub"], "a NAT'd host peers only with the host it can reach"
        assert "%s/32" % ips[there] in peers["rl-pub"]["allowed_ips"]
        assert peers["rl-pub"]["persistent_keepalive"], "it keeps its NAT mapping open"
    assert in_host(LAB_ROOT, "rl-pub", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"


def test_the_nat_pair_pings_both_ways_through_the_relay(rlab):
    ips = rlab["plan"]["mesh_ips"]
    deadline = time.monotonic() + 60     # the relay learns each NAT'd host's endpoint from its first keepalive
    pending = {("rl-n1", "rl-n2"), ("rl-n2", "rl-n1")}
    last = {}
    while pending and time.monotonic() < deadline:
        for src, dst in sorted(pending):
            done = in_host(LAB_ROOT, src, "ping", "-c", "3", "-i", "0.2", "-W", "2", ips[dst], timeout=30)
            last[(src, dst)] = done.stdout[-300:]
            if done.returncode == 0:
                pending.discard((src, dst))
        if pending:
            time.sleep(2)
    assert not pending, {pair: last[pair] for pair in pending}
    # the two NAT'd hosts never handshake with each other: each has the relay as its only peer
    for host in ("rl-n1", "rl-n2"):
        assert len(in_host(LAB_ROOT, host, "wg", "show", "wg0", "peers").stdout.split()) == 1


def relay_received():
    """Bytes the relay has received from each NAT'd host's WireGuard peer, by host."""
    keys = {in_host(LAB_ROOT, host, "wg", "show", "wg0", "public-key").stdout.strip(): host
            for host in ("rl-n1", "rl-n2")}
    out = in_host(LAB_ROOT, "rl-pub", "wg", "show", "wg0", "transfer").stdout
    return {keys[key]: int(rx) for key, rx, _tx in (line.split() for line in out.splitlines()) if key in keys}


def test_the_relay_carries_the_pair_traffic(rlab):
    """20 pings of 1,000 bytes each way: the relay receives them from both NAT'd hosts (keepalives are 32 bytes
    every 25 s, far below what is asserted)."""
    ips = rlab["plan"]["mesh_ips"]
    before = relay_received()
    done = in_host(LAB_ROOT, "rl-n1", "ping", "-c", "20", "-i", "0.05", "-s", "1000", "-W", "2", ips["rl-n2"],
                   timeout=60)
    assert done.returncode == 0, done.stdout[-500:]
    after = relay_received()
    for host in ("rl-n1", "rl-n2"):     # the requests come from rl-n1, the replies from rl-n2
        assert after[host] - before[host] >= 20 * 1000, (host, before, after)


def test_a_rerun_changes_nothing(rlab):
    again = must(playbook("-i", INVENTORY, "playbooks/mesh.yml"), "rerun")
    assert {h: s["changed"] for h, s in recap(again.stdout).items() if s["changed"]} == {}
