# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks on the running lab (root; `make demo` first): lost pings while a peer is added and removed,
and iperf3 throughput of the mesh against a hand-configured WireGuard link and plain veth, side by side.
Traffic stays inside the lab's namespaces; every ping and iperf run is bounded in count and time."""

import base64
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from labkit import host_argv, ping_counts, playbook  # noqa: E402  pylint: disable=wrong-import-position

LAB_ROOT = "/srv/wiremesh-lab/lab"


def in_host(host, *argv):
    """argv run inside a host of the main lab."""
    return host_argv(LAB_ROOT, host, *argv)


def run_in(host, *argv, timeout=60):
    return subprocess.run(in_host(host, *argv), capture_output=True, text=True, timeout=timeout, check=False)


def mesh_ip(host):
    out = json.loads(run_in(host, "ip", "-j", "-4", "addr", "show", "dev", "wg0").stdout)
    return out[0]["addr_info"][0]["local"]


def lost_pings_during(src, dst_ip, action, max_seconds=120):
    """Ping every 10 ms from src to dst_ip while action() runs; returns (sent, lost). A ping that printed no summary
    (it died, or never ran) lost every ping of its time: sent is then what 10 ms pings over that time make."""
    started = time.monotonic()
    ping = subprocess.Popen(in_host(src, "ping", "-i", "0.01", "-W", "1", "-w", str(max_seconds), dst_ip),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)
    try:
        action()
        time.sleep(1.0)
    finally:
        ping.send_signal(signal.SIGINT)
        out = ping.communicate(timeout=30)[0]
    sent, received = ping_counts(out)
    if sent == 0:
        sent, received = int((time.monotonic() - started) / 0.01), 0
    return sent, sent - received


def peer_add_remove():
    key = base64.b64encode(os.urandom(32)).decode()   # a peer that never shows up: only its entry matters
    peers = json.dumps({"wireguard_peers": [{"name": "bench-peer", "allowed_ips": ["10.5.77.1/32"], "public_key": key}]})
    target = mesh_ip("aws1")
    results = {}

    def add():
        assert playbook("playbooks/mesh.yml", "-e", peers).returncode == 0, "adding the bench peer failed"

    def remove():
        assert playbook("playbooks/mesh.yml").returncode == 0, "removing the bench peer failed"
    results["pings_sent_peer_add"], results["lost_pings_peer_add"] = lost_pings_during("do2", target, add)
    results["pings_sent_peer_remove"], results["lost_pings_peer_remove"] = lost_pings_during("do2", target, remove)
    return results


def iperf(client, server, server_ip, seconds=5):
    """Mbit/s from client to server_ip (a one-shot iperf3 server in the server host)."""
    srv = subprocess.Popen(in_host(server, "iperf3", "-s", "-1", "-B", server_ip, "-p", "5299"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = run_in(client, "iperf3", "-c", server_ip, "-p", "5299", "-t", str(seconds), "-J",
                     timeout=seconds + 30).stdout
        return round(json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6, 1)
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait(timeout=30)


def hand_link(a, b, a_pub, b_pub):
    """A WireGuard link configured by hand between a and b (wireguard-go, wg-quick's MTU for a 1500 link)."""
    procs, keys = [], {}
    for host in (a, b):
        keys[host] = run_in(host, "wg", "genkey").stdout.strip()
    pubs = {h: subprocess.run(["wg", "pubkey"], input=k, capture_output=True, text=True, check=True).stdout.strip()
            for h, k in keys.items()}
    plan = {a: ("10.250.0.1/30", b, b_pub), b: ("10.250.0.2/30", a, a_pub)}
    for host in plan:
        procs.append(subprocess.Popen(in_host(host, "env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", "wgb"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)
    for host, (address, other, other_pub) in plan.items():
        conf = "[Interface]\nPrivateKey = %s\nListenPort = 51999\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.250.0.0/30\n" \
               "Endpoint = %s:51999\n" % (keys[host], pubs[other], other_pub)
        subprocess.run(in_host(host, "wg", "setconf", "wgb", "/dev/stdin"), input=conf, text=True, check=True)
        for argv in (("ip", "addr", "add", address, "dev", "wgb"), ("ip", "link", "set", "wgb", "mtu", "1420", "up")):
            subprocess.run(in_host(host, *argv), check=True)
    return procs


def interval(values, z=2.0):
    """(mean, half-width of its ~95 % interval: z standard errors) of ``values``; half-width None under 2 values."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, z * (var / len(values)) ** 0.5


def throughput(rounds=5):
    """``rounds`` interleaved runs of each path (a busy moment hurts every path of its round alike): per path the
    median Mbit/s; per ratio the mean of the rounds' ratios with a ~95 % interval (t ≈ 2.8 at 5 rounds would be
    wider: the interval says how steady the rounds were, not a proof)."""
    aws1 = mesh_ip("aws1")
    paths = {"iperf_mesh_mbps": ("do1", aws1), "iperf_hand_wg_mbps": ("do1", "10.250.0.2"),
             "iperf_leader_hop_mbps": ("do2", aws1), "iperf_veth_mbps": ("do1", "203.0.113.21")}
    runs = {name: [] for name in paths}
    procs = hand_link("do1", "aws1", "203.0.113.11", "203.0.113.21")
    try:
        for _round in range(rounds):
            for name, (client, address) in paths.items():
                runs[name].append(iperf(client, "aws1", address))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    results = {name: sorted(values)[len(values) // 2] for name, values in runs.items()}
    results.update({name.replace("_mbps", "_rounds_mbps"): values for name, values in runs.items()})
    for ratio, top, bottom in (("wg_tuned_ratio", "iperf_mesh_mbps", "iperf_hand_wg_mbps"),
                               ("wg_veth_ratio", "iperf_mesh_mbps", "iperf_veth_mbps"),
                               ("leader_hop_ratio", "iperf_leader_hop_mbps", "iperf_mesh_mbps")):
        values = [a / b for a, b in zip(runs[top], runs[bottom]) if b]
        if values:
            mean, half = interval(values)
            results[ratio] = round(mean, 4)
            results[ratio + "_ci95"] = None if half is None else round(half, 4)
            results[ratio + "_rounds"] = len(values)
    results["wg_implementation"] = "kernel" if os.path.exists("/sys/module/wireguard") else "wireguard-go"
    return results


def run_all():
    """Lab figures, or {"lab_skipped": reason} when the lab is not there."""
    if os.geteuid() != 0:
        return {"lab_skipped": "needs root"}
    if not os.path.exists(os.path.join(LAB_ROOT, "hosts", "do1", "init.pid")):
        return {"lab_skipped": "the lab is not running: run `make demo` first"}
    results = peer_add_remove()
    results.update(throughput())
    return results
