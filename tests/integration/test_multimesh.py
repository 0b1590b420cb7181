"""Two meshes with different CIDRs route to each other: each exports its leader with
`wiremesh showconf node NAME --as-peer` and the other takes it in `wireguard_peers` (Kilo's multi-cluster act).
A lab of its own (mmlab): mesh A = m-a1 (leader) + m-a2 (member behind it), mesh B = m-b1. Needs root."""

import json
import os
import subprocess

import pytest

from .labtools import BIN, ROOT, in_host, needs_lab, playbook

INVENTORY = os.path.join(ROOT, "tests", "integration", "multimesh", "inventory")
LAB_ROOT = "/srv/wiremesh-lab/mmlab"

pytestmark = needs_lab


def state(group):
    return os.path.join(INVENTORY, ".wiremesh", "%s.state.json" % group)


def mesh(group, peers=None):
    extra = {"wireguard_mesh_group": group, "wireguard_peers": peers or []}
    result = playbook("-i", INVENTORY, "playbooks/mesh.yml", "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout[-5000:]
    return result


def export(node, group):
    proc = subprocess.run([os.path.join(BIN, "wiremesh"), "showconf", "node", node, "--as-peer", "--format", "json",
                           "--state", state(group)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def mmlab():
    built = playbook("-i", INVENTORY, "playbooks/lab.yml")
    assert built.returncode == 0, built.stdout[-4000:]
    yield
    gone = playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")
    assert gone.returncode == 0, gone.stdout[-4000:]
    for group in ("mesha", "meshb"):
        for suffix in ("", ".bak", ".lock"):
            if os.path.exists(state(group) + suffix):
                os.unlink(state(group) + suffix)


def test_two_meshes_route_to_each_other(mmlab):
    mesh("mesha")
    mesh("meshb")
    peer_a, peer_b = export("m-a1", "mesha"), export("m-b1", "meshb")
    assert peer_a["allowed_ips"] == ["10.46.0.1/32", "10.46.0.2/32"]
    mesh("mesha", [peer_b])
    mesh("meshb", [peer_a])
    # the member of mesh A goes through its leader to mesh B, and back
    assert in_host(LAB_ROOT, "m-a2", "ping", "-c", "3", "-W", "2", "-q", "10.47.0.1").returncode == 0
    assert in_host(LAB_ROOT, "m-b1", "ping", "-c", "3", "-W", "2", "-q", "10.46.0.2").returncode == 0


def test_an_export_that_collides_with_the_local_mesh_is_refused(mmlab):
    clash = dict(export("m-b1", "meshb"), name="clash", allowed_ips=["10.46.0.2/32"])
    extra = {"wireguard_mesh_group": "mesha", "wireguard_peers": [clash]}
    result = playbook("-i", INVENTORY, "playbooks/mesh.yml", "-e", json.dumps(extra))
    assert result.returncode != 0
    assert "peer clash: allowed_ips: 10.46.0.2/32 contains the mesh IP 10.46.0.2 of m-a2" in result.stdout
