"""Key rotation under traffic, on the `rot` lab (tests/integration/rotation/inventory): pings every 10 ms
between every pair of mesh hosts while `playbooks/mesh.yml -e wiremesh_rotate=all` runs; counts the lost.

`rotation()` builds the lab, meshes it, measures, destroys the lab, and returns
{"lost_pings_rotation": N, "pings_sent": M}. Needs root, iproute2 and the project venv; traffic stays inside
the lab's namespaces. tests/integration/test_rotation.py uses the helpers below.
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import labkit  # noqa: E402  pylint: disable=wrong-import-position
INVENTORY = os.path.join(ROOT, "tests", "integration", "rotation", "inventory")
STATE = os.path.join(INVENTORY, ".wiremesh", "mesh.state.json")
HOSTS = ("rot-a", "rot-b", "rot-c", "rot-n")
INTERVAL = 0.01


def playbook(*args, timeout=900):
    """ansible-playbook on the rotation lab's inventory."""
    return labkit.playbook(*args, inventory=INVENTORY, timeout=timeout)


def mesh_ips():
    with open(STATE, encoding="utf-8") as handle:
        nodes = json.load(handle)["nodes"]
    return {host: nodes[host]["mesh_ip"] for host in HOSTS}


def start_pings(ips, seconds):
    """One bounded ping per ordered pair (every 10 ms, -c and -W bound it; `timeout` backs them up)."""
    count = int(seconds / INTERVAL)
    procs = {}
    for src in HOSTS:
        for dst in HOSTS:
            if src != dst:
                procs[(src, dst)] = subprocess.Popen(
                    ["ip", "netns", "exec", "wm-" + src, "timeout", str(int(seconds * 2) + 30),
                     "ping", "-q", "-n", "-i", str(INTERVAL), "-W", "1", "-c", str(count), ips[dst]],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return procs


def collect(procs):
    """({"src->dst": lost}, pings sent) once every ping has ended."""
    lost, sent = {}, 0
    for (src, dst), proc in procs.items():
        out = proc.communicate(timeout=600)[0]
        transmitted, received = labkit.ping_counts(out)
        sent += transmitted
        lost["%s->%s" % (src, dst)] = transmitted - received
    return lost, sent


def rotate_under_pings(*extra, seconds=40, lead=3.0):
    """Start the pings, run the rotation `lead` s later; returns (playbook result, lost by pair, pings sent,
    seconds the playbook ran: it must end before the pings do)."""
    procs = start_pings(mesh_ips(), seconds)
    try:
        time.sleep(lead)
        start = time.monotonic()
        result = playbook("playbooks/mesh.yml", "-e", "wiremesh_rotate=all", *extra)
        run_s = time.monotonic() - start
    finally:
        lost, sent = collect(procs)
    return result, lost, sent, run_s


def rotation():
    built = playbook("playbooks/lab.yml", "playbooks/mesh.yml")
    try:
        if built.returncode != 0:
            raise RuntimeError(built.stdout[-3000:])
        result, lost, sent, run_s = rotate_under_pings(seconds=90)
        if result.returncode != 0 or run_s > 87:
            raise RuntimeError(result.stdout[-3000:])
        return {"lost_pings_rotation": sum(lost.values()), "pings_sent_rotation": sent}
    finally:
        playbook("playbooks/lab_destroy.yml")


if __name__ == "__main__":
    print(json.dumps(rotation()))
