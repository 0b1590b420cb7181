"""The lab end to end: build it, mesh it, ping every pair, rerun with changed=0, no private key in -vvv
output, bad inventory refused before any host changes, clean leaves nothing. Needs root and `ip netns`.

Timings are written to tests/output/lab_timings.json (they are figures for notes, never asserted)."""

import json
import os
import time

import pytest

from .labtools import ROOT, comm, forget_mesh_state, lab_namespaces, needs_lab, pids_in, playbook, recap

LAB_ROOT = "/srv/wiremesh-lab/lab"
HOSTS = ("aws1", "do1", "do2", "edge")
ALL_LAB_HOSTS = HOSTS + ("operator",)
STATE = os.path.join(ROOT, "inventories", "lab", ".wiremesh", "mesh.state.json")
MESH_ONLY = ("-e", "wiremesh_workloads=false")   # the workloads on top: tests/integration/test_workloads.py

pytestmark = needs_lab


def host_file(host, path):
    """Read a file of a lab host from its overlay, from the root namespace (test-only peek)."""
    with open(os.path.join(LAB_ROOT, "hosts", host, "upper", path)) as handle:
        return handle.read()


@pytest.fixture(scope="module")
def lab():
    timings = {}
    destroyed = playbook("playbooks/lab_destroy.yml")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    forget_mesh_state(os.path.join(ROOT, "inventories", "lab"))
    start = time.monotonic()
    first = playbook("site.yml", *MESH_ONLY)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    report = playbook("playbooks/report.yml")
    assert report.returncode == 0, report.stdout[-4000:]
    timings["converge_clean_to_all_pings_s"] = round(time.monotonic() - start, 1)
    yield timings
    before = {ns: pids_in(ns) for ns in lab_namespaces()}
    wg_pids = [p for pids in before.values() for p in pids if comm(p) == "wireguard-go"]
    gone = playbook("playbooks/lab_destroy.yml")
    assert gone.returncode == 0, gone.stdout[-4000:]
    assert [ns for ns in lab_namespaces() if ns in ["wm-%s" % h for h in ALL_LAB_HOSTS]] == []
    assert [p for p in wg_pids if comm(p) == "wireguard-go"] == [], "wireguard-go survived the clean"
    assert not os.path.exists(LAB_ROOT)
    os.makedirs(os.path.join(ROOT, "tests", "output"), exist_ok=True)
    with open(os.path.join(ROOT, "tests", "output", "lab_timings.json"), "w") as handle:
        json.dump(timings, handle, indent=2)


def test_every_pair_pings_over_the_mesh(lab):
    with open(os.path.join(ROOT, ".lab", "report.json")) as handle:
        report = json.load(handle)["hosts"]
    assert sorted(report) == list(HOSTS)
    failed = [(src, dst) for src in report for dst, out in report[src]["pings"].items()
              if " 0 received" in out or "received" not in out]
    assert failed == []
    assert len({h["mesh_ip"] for h in report.values()}) == len(HOSTS)
    # the edge sits behind NAT: the others learned its endpoint from its keepalives (the NAT router's address)
    learned = report["aws1"]["wg"]["endpoints"]
    assert "198.51.100.2:" in learned


def test_rerun_changes_nothing_and_leaks_no_private_key(lab):
    start = time.monotonic()
    again = playbook("site.yml", "-vvv", *MESH_ONLY)
    lab["rerun_s"] = round(time.monotonic() - start, 1)
    assert again.returncode == 0, again.stdout[-4000:]
    stats = recap(again.stdout)
    assert set(HOSTS) <= set(stats)
    assert {h: s["changed"] for h, s in stats.items() if s["changed"]} == {}
    for host in HOSTS:
        private = host_file(host, "etc/wireguard/wg0.key").strip()
        assert len(private) == 44
        assert private not in again.stdout and private not in again.stderr, host
    with open(STATE) as handle:
        psks = json.load(handle)["psks"]
    assert psks, "preshared keys are on by default"
    for pair, psk in psks.items():
        assert psk not in again.stdout and psk not in again.stderr, pair


def test_state_file_is_private_and_limited_runs_keep_every_peer(lab):
    st = os.stat(STATE)
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, 0)
    limited = playbook("playbooks/mesh.yml", "--limit", "do2")
    assert limited.returncode == 0, limited.stdout[-4000:]
    assert recap(limited.stdout)["do2"]["changed"] == 0


def test_key_and_config_are_private_on_the_host(lab):
    for host in HOSTS:
        for name in ("wg0.key", "wg0.conf"):
            st = os.stat(os.path.join(LAB_ROOT, "hosts", host, "upper", "etc", "wireguard", name))
            assert (st.st_mode & 0o777, st.st_uid) == (0o600, 0), (host, name)


def test_bad_inventory_fails_before_any_host_changes(lab):
    confs = {h: host_file(h, "etc/wireguard/wg0.conf") for h in HOSTS}
    bad = playbook("playbooks/mesh.yml", "-e", "wireguard_cidr=10.110.0.0/16")
    assert bad.returncode != 0
    assert "do1: wiremesh_private_ips: network 10.110.0.0/20 overlaps the mesh CIDR 10.110.0.0/16" in bad.stdout
    assert all(s["changed"] == 0 for s in recap(bad.stdout).values())
    assert {h: host_file(h, "etc/wireguard/wg0.conf") for h in HOSTS} == confs
