"""Key rotation under traffic, end to end on a lab of its own (`rot`: tests/integration/rotation/inventory,
namespaces wm-rot-*, beside the main lab): build it, mesh it, ping every ordered pair every 10 ms while
`playbooks/mesh.yml -e wiremesh_rotate=all` runs, check every key and preshared key changed, the lost pings,
no secret in the -vvv output, a rerun with changed=0, a bad request refused before anything changes; destroy.

Lost pings: every host applies its whole part in one `wg syncconf` at one agreed instant, so the loss is the
skew between the hosts' switches (wg syncconf itself takes 20-80 ms here, on 2 loaded cores). Measured on
this machine (tests/integration/rotation/experiment.py and runs like this test): 2 of 18,000 for one host by
hand; through Ansible 10 of 108,000 and 19 of 60,000 rotating all four, 8 of 72,000 rotating rot-n only; 35
of 60,000 when one host started 0.16 s late (a 5 s delay under load; the default is now 10 s). But in 2 of 8
runs a pair stayed out after an on-time switch: 353 of 72,000 (rot-c/rot-n ~1.8 s) and 1,635 of 108,000 (rot-a
with every peer, 1.7 s, and 4.8 s with rot-c: a failed first handshake waiting for its 5 s retry); not
understood yet (every host switched within 35 ms). Switching a key one task (1 s) before or after its peers
lost 340-434 of 18,000 (2.4 %) for ONE host; for all four that sequential way every pair would break for
seconds. The bound, 2 % of the pings, covers the outliers measured so far. Figures go to tests/output/rotation.json."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import rotation as rot  # noqa: E402  pylint: disable=wrong-import-position

from .labtools import recap  # noqa: E402  pylint: disable=wrong-import-position

LAB_ROOT = "/srv/wiremesh-lab/rot"
MAX_LOST_FRACTION = 0.02
SECONDS = 180     # the rotation run must end before the pings do: 117 s measured with the failover tasks
LEAD = 3.0

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("ping")
    or not os.path.exists(os.path.join(ROOT, ".venv", "bin", "ansible-playbook")),
    reason="the rotation lab needs root, iproute2, ping and the project venv (make deps)")


def changed_tasks(output):
    """["TASK NAME: host", ...] for every task that reported a change (for failure messages)."""
    found, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            found.append("%s: %s" % (task, line.split("[", 1)[1].split("]", 1)[0]))
    return found


def host_file(host, path):
    with open(os.path.join(LAB_ROOT, "hosts", host, "upper", path), encoding="utf-8") as handle:
        return handle.read()


def live_public_key(host):
    with open(os.path.join(LAB_ROOT, "hosts", host, "init.pid"), encoding="utf-8") as handle:
        pid = handle.read().strip()
    return subprocess.run(["nsenter", "-t", pid, "-m", "-n", "--", "wg", "show", "wg0", "public-key"],
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def state():
    with open(rot.STATE, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def lab():
    figures = {}
    gone = rot.playbook("playbooks/lab_destroy.yml")
    assert gone.returncode == 0, gone.stdout[-3000:]
    for leftover in (rot.STATE, rot.STATE + ".bak"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    built = rot.playbook("playbooks/lab.yml", "playbooks/mesh.yml")
    try:
        assert built.returncode == 0, built.stdout[-6000:] + built.stderr[-2000:]
        yield figures
    finally:
        destroyed = rot.playbook("playbooks/lab_destroy.yml")
        os.makedirs(os.path.join(ROOT, "tests", "output"), exist_ok=True)
        with open(os.path.join(ROOT, "tests", "output", "rotation.json"), "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2, sort_keys=True)
        assert destroyed.returncode == 0, destroyed.stdout[-3000:]
        assert not os.path.exists(LAB_ROOT)


def test_rotating_every_key_under_traffic_loses_at_most_the_switch_skew(lab):
    before = state()
    keys_before = {h: live_public_key(h) for h in rot.HOSTS}
    assert keys_before == {h: before["nodes"][h]["public_key"] for h in rot.HOSTS}
    private_before = {h: host_file(h, "etc/wireguard/wg0.key").strip() for h in rot.HOSTS}
    result, lost, sent, run_s = rot.rotate_under_pings("-vvv", seconds=SECONDS, lead=LEAD)
    lab.update(lost_pings_rotation=sum(lost.values()), pings_sent=sent, lost_by_pair=lost,
               rotation_run_s=round(run_s, 1),
               switch_timing=[{"applied_after_s": float(a), "at": float(b), "late_s": float(c)} for a, b, c in
                              re.findall(r"applied_after_s: ([\d.]+)\s+at: ([\d.]+)\s+late_s: ([\d.]+)",
                                         result.stdout)])
    assert result.returncode == 0, result.stdout[-6000:]
    after = state()
    for host in rot.HOSTS:
        assert live_public_key(host) == after["nodes"][host]["public_key"] != keys_before[host], host
        private = host_file(host, "etc/wireguard/wg0.key").strip()
        assert len(private) == 44 and private != private_before[host], host
        assert private not in result.stdout and private not in result.stderr, host
        assert not os.path.exists(os.path.join(LAB_ROOT, "hosts", host, "upper", "etc/wireguard/wg0.key.next"))
    assert sorted(after["psks"]) == sorted(before["psks"]) and len(after["psks"]) == 6
    for pair, psk in after["psks"].items():
        assert psk != before["psks"][pair], pair
        assert psk not in result.stdout and psk not in result.stderr, pair
    # every ordered pair pinged for the whole rotation: the run ended before the pings did
    assert sent == 12 * SECONDS * 100 and run_s < SECONDS - LEAD
    assert len(lab["switch_timing"]) == len(rot.HOSTS)
    assert sum(lost.values()) <= MAX_LOST_FRACTION * sent, lost


def test_rerun_after_rotation_changes_nothing(lab):
    again = rot.playbook("playbooks/mesh.yml")
    assert again.returncode == 0, again.stdout[-4000:]
    assert {h: s["changed"] for h, s in recap(again.stdout).items() if s["changed"]} == {}, \
        changed_tasks(again.stdout)


def test_rotating_an_unknown_host_fails_before_anything_changes(lab):
    confs = {h: host_file(h, "etc/wireguard/wg0.conf") for h in rot.HOSTS}
    doc = state()
    bad = rot.playbook("playbooks/mesh.yml", "-e", "wiremesh_rotate=rot-a,ghost")
    assert bad.returncode != 0
    assert "wiremesh_rotate: ghost not in the mesh group mesh" in bad.stdout
    assert all(s["changed"] == 0 for s in recap(bad.stdout).values())
    limited = rot.playbook("playbooks/mesh.yml", "-e", "wiremesh_rotate=rot-a", "--limit", "rot-a")
    assert limited.returncode != 0
    assert "every host of the mesh must take part in a rotation" in limited.stdout
    assert {h: host_file(h, "etc/wireguard/wg0.conf") for h in rot.HOSTS} == confs and state() == doc
