"""Key-rotation experiment on the `rot` lab (root only; traffic stays inside the lab's namespaces).

    python3 tests/integration/rotation/experiment.py SEQUENCE [ROTATED_HOST] [GAP_S]

Pings every 10 ms between every pair of mesh hosts (bounded: -c COUNT -W 1) while rotating the key of
ROTATED_HOST (and the preshared keys of its pairs) by hand with `wg set`, then prints the lost pings.
It changes the live interfaces only (not /etc/wireguard nor the state file): rebuild the mesh afterwards
(`ansible-playbook -i tests/integration/rotation/inventory playbooks/mesh.yml` after restoring the keys,
or destroy the lab). Sequences:

- switch_first: switch the host's private key, then on each peer in turn (GAP_S apart) replace the old
  entry by the new one (one `wg set`: add new with the endpoint and allowed IPs, remove old).
- peers_first: the peers first (GAP_S apart), then the host's key.
- staged: peers get a new entry without allowed IPs first; switch; then move the allowed IPs.
- deadline: every host applies its whole part (key, new entries, removals) in ONE `wg set` at a common
  deadline (a wall-clock instant), like the role does.
- deadline_noendpoint: as deadline, but the new entry of a peer without a configured endpoint gets no
  endpoint (the learned one is lost with the old entry).
- psk_skew: as deadline, but the peers' new entries get the old preshared key and the new one only GAP_S
  later (what a PSK mismatch costs).
"""

import base64
import json
import os
import re
import subprocess
import sys
import time

LAB_ROOT = "/srv/wiremesh-lab/rot"
STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inventory", ".wiremesh", "mesh.state.json")
HOSTS = ("rot-a", "rot-b", "rot-c", "rot-n")
ENDPOINTS = {"rot-a": "203.0.113.31:51820", "rot-b": "203.0.113.32:51820", "rot-c": "203.0.113.41:51820"}


def ns_cmd(host):
    with open(os.path.join(LAB_ROOT, "hosts", host, "init.pid")) as handle:
        pid = handle.read().strip()
    return ["nsenter", "-t", pid, "-m", "-n", "--"]


def sh(host, *args, data=None):
    return subprocess.run(ns_cmd(host) + list(args), input=data, capture_output=True, text=True, check=True).stdout


def host_tmp(host, name, content):
    """A 0600 file inside the host's own /tmp (its mount namespace), for `wg set ... FILE`."""
    path = "/tmp/" + name
    sh(host, "sh", "-c", "umask 077; cat > %s" % path, data=content + "\n")
    return path


def start_pings(mesh_ips, count):
    procs = {}
    for src in HOSTS:
        for dst in HOSTS:
            if src != dst:
                procs[(src, dst)] = subprocess.Popen(
                    ["ip", "netns", "exec", "wm-" + src, "timeout", str(count // 100 + 15), "ping", "-q", "-n",
                     "-i", "0.01", "-W", "1", "-c", str(count), mesh_ips[dst]],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return procs


def collect(procs):
    lost, sent = {}, 0
    for pair, proc in procs.items():
        out = proc.communicate(timeout=120)[0]
        match = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        tx, rx = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        sent += tx
        if tx - rx:
            lost["%s->%s" % pair] = tx - rx
    return lost, sent


def flip_args(host, rotated, keys_new, keys_old, psks_new, priv_file, learned, with_endpoint=True):
    args = ["wg", "set", "wg0"]
    if host == rotated:
        args += ["private-key", priv_file]
    for peer in HOSTS:
        if peer == host:
            continue
        psk = psks_new.get("|".join(sorted((host, peer))))
        if peer == rotated:
            endpoint = ENDPOINTS.get(peer) or (learned.get(keys_old[peer]) if with_endpoint else None)
            args += ["peer", keys_new[peer], "preshared-key", psk, "allowed-ips", MESH_IPS[peer] + "/32"]
            if endpoint:
                args += ["endpoint", endpoint]
            if peer == "rot-n":
                args += ["persistent-keepalive", "25"]
            args += ["peer", keys_old[peer], "remove"]
        elif host == rotated:
            args += ["peer", keys_old[peer], "preshared-key", psk]
    return args


def learned_endpoints(host):
    out = sh(host, "wg", "show", "wg0", "endpoints")
    return dict(line.split("\t") for line in out.splitlines() if "\t" in line and "(none)" not in line)


def run_at(host, when, args):
    script = "import os,sys,time; time.sleep(max(0.0, %r - time.time())); os.execvp(sys.argv[1], sys.argv[1:])" % when
    return subprocess.Popen(ns_cmd(host) + ["python3", "-c", script] + args)


MESH_IPS = {}


def main():
    sequence = sys.argv[1]
    rotated = sys.argv[2] if len(sys.argv) > 2 else "rot-a"
    gap = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    with open(STATE) as handle:
        state = json.load(handle)
    MESH_IPS.update({h: state["nodes"][h]["mesh_ip"] for h in HOSTS})
    keys_old = {h: state["nodes"][h]["public_key"] for h in HOSTS}
    # the live keys may differ from the state after an earlier experiment: read them
    keys_old = {h: sh(h, "wg", "show", "wg0", "public-key").strip() for h in HOSTS}
    priv = sh(rotated, "wg", "genkey").strip()
    priv_file = host_tmp(rotated, "wg0.key.next", priv)
    keys_new = dict(keys_old, **{rotated: sh(rotated, "wg", "pubkey", data=priv + "\n").strip()})
    psks_new = {}
    for peer in HOSTS:
        if peer != rotated:
            psks_new["|".join(sorted((rotated, peer)))] = base64.b64encode(os.urandom(32)).decode()
    psk_files = {}
    for host in HOSTS:
        for pair, psk in psks_new.items():
            if host in pair.split("|"):
                psk_files.setdefault(host, {})[pair] = host_tmp(host, "psk-" + pair.replace("|", "_"), psk)

    def args_for(host, with_endpoint=True):
        learned = learned_endpoints(host)
        return flip_args(host, rotated, keys_new, keys_old, psk_files.get(host, {}), priv_file, learned,
                         with_endpoint)

    count = 1500
    procs = start_pings(MESH_IPS, count)
    time.sleep(3)
    t0 = time.time()
    peers = [h for h in HOSTS if h != rotated]
    if sequence == "switch_first":
        sh(rotated, *args_for(rotated))
        for peer in peers:
            time.sleep(gap)
            sh(peer, *args_for(peer))
    elif sequence == "peers_first":
        for peer in peers:
            sh(peer, *args_for(peer))
            time.sleep(gap)
        sh(rotated, *args_for(rotated))
    elif sequence == "staged":
        for peer in peers:  # new entry, no allowed IPs yet (they must stay unique)
            learned = learned_endpoints(peer)
            ep = ENDPOINTS.get(rotated) or learned.get(keys_old[rotated])
            sh(peer, "wg", "set", "wg0", "peer", keys_new[rotated], "preshared-key",
               psk_files[peer]["|".join(sorted((rotated, peer)))], *(["endpoint", ep] if ep else []))
        time.sleep(gap)
        sh(rotated, *args_for(rotated))
        for peer in peers:
            time.sleep(gap)
            sh(peer, *args_for(peer))
    elif sequence in ("deadline", "deadline_noendpoint"):
        when = time.time() + 1.0
        jobs = [run_at(h, when, args_for(h, sequence == "deadline")) for h in HOSTS]
        for job in jobs:
            job.wait(timeout=30)
    elif sequence == "psk_skew":
        # as deadline, but the peers' new entries get the OLD preshared key; the new one GAP_S later
        old_files = {h: {pair: host_tmp(h, "pskold-" + pair.replace("|", "_"), state["psks"][pair])
                         for pair in psk_files.get(h, {})} for h in peers}
        when = time.time() + 1.0
        jobs = [run_at(h, when, args_for(h) if h == rotated else
                       flip_args(h, rotated, keys_new, keys_old, old_files[h], priv_file, learned_endpoints(h)))
                for h in HOSTS]
        for job in jobs:
            job.wait(timeout=30)
        time.sleep(gap)
        for peer in peers:
            pair = "|".join(sorted((rotated, peer)))
            sh(peer, "wg", "set", "wg0", "peer", keys_new[rotated], "preshared-key", psk_files[peer][pair])
    else:
        raise SystemExit("unknown sequence %s" % sequence)
    t1 = time.time()
    lost, sent = collect(procs)
    for host in HOSTS:
        sh(host, "sh", "-c", "rm -f /tmp/wg0.key.next /tmp/psk-* /tmp/pskold-*")
    print(json.dumps({"sequence": sequence, "rotated": rotated, "gap_s": gap, "apply_s": round(t1 - t0, 3),
                      "pings_sent": sent, "lost_total": sum(lost.values()), "lost": lost}))


if __name__ == "__main__":
    main()
