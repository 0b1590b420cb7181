"""Cross granularity on a lab of its own (xlab: x-a and x-b share fra1's private network, x-c elsewhere):
same-location nodes route over the private network without WireGuard, other pairs peer directly; switching
back to full removes the private routes. Needs root and `ip netns`."""

import os

import pytest

from .labtools import ROOT, forget_mesh_state, in_host, needs_lab, playbook, recap

INVENTORY = os.path.join(ROOT, "tests", "integration", "cross", "inventory")
LAB_ROOT = "/srv/wiremesh-lab/xlab"
MESH = {"x-a": "10.46.0.1", "x-b": "10.46.0.2", "x-c": "10.46.0.3"}

pytestmark = needs_lab


def mesh(*extra):
    return playbook("-i", INVENTORY, "playbooks/mesh.yml", *extra)


@pytest.fixture(scope="module")
def xlab():
    built = playbook("-i", INVENTORY, "playbooks/lab.yml")
    assert built.returncode == 0, built.stdout[-4000:]
    yield
    gone = playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")
    assert gone.returncode == 0, gone.stdout[-4000:]
    forget_mesh_state(INVENTORY)


def pings_all():
    bad = []
    for src in MESH:
        for dst, ip in MESH.items():
            if src != dst and in_host(LAB_ROOT, src, "ping", "-c", "2", "-W", "2", "-q", ip).returncode != 0:
                bad.append((src, dst))
    return bad


def test_cross_then_full(xlab):
    first = mesh()
    assert first.returncode == 0, first.stdout[-5000:]
    peers = in_host(LAB_ROOT, "x-a", "wg", "show", "wg0", "peers").stdout.split()
    assert len(peers) == 1, "x-a peers only with x-c; x-b is reached over fra1"
    route = in_host(LAB_ROOT, "x-a", "ip", "route", "show", "proto", "199").stdout
    assert "10.46.0.2 via 10.110.32.2" in route and "src 10.46.0.1" in route
    assert pings_all() == []
    again = mesh()
    assert all(s["changed"] == 0 for s in recap(again.stdout).values()), again.stdout[-3000:]

    full = mesh("-e", "wireguard_granularity=full")
    assert full.returncode == 0, full.stdout[-5000:]
    assert in_host(LAB_ROOT, "x-a", "ip", "route", "show", "proto", "199").stdout.strip() == ""
    assert len(in_host(LAB_ROOT, "x-a", "wg", "show", "wg0", "peers").stdout.split()) == 2
    assert pings_all() == []
