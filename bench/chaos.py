# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault scenarios against a running, meshed lab (`make chaos`; root). Each scenario picks a victim host, pings
every 10 ms over the mesh IPs between the victim and every other mesh host (both ways), injects its fault and
measures the time to recover and the pings lost. Nothing reruns Ansible to heal anything.

  kill_wireguard_go  SIGKILL the victim's wireguard-go (by PID): the interface dies with it
  delete_interface   `ip link del wg0` inside the victim
  restart_host       `wiremesh-lab restart`: the victim's init stops, its namespace is deleted and rebuilt, it
                     boots again from its persistent /etc (same keys, same wg0.conf)
  sshd_stopped_run   the victim's sshd (and its sessions) stopped: playbooks/mesh.yml must finish for the others,
                     name the victim unreachable, and leave its peer entry (from the state file) on the others;
                     with sshd back, the next run must change nothing on the others

Recovery: from the fault to the first reply after which every victim pair answers STABLE_S / INTERVAL (100) pings
in a row (ping sends about 63 a second on this machine rather than 100).
Every scenario checks the victim's public key and mesh IP and its peer entry on the others that peer with it
(once their failover agents moved any AllowedIPs back) afterwards, and fails
(ChaosError naming it) when recovery exceeds its bound (30 s). Figures: chaos_<scenario>_recovery_s,
_lost_pings, _sent, _victim, _slowest_pair (the last to answer again) and the sshd runs' seconds;
`python bench/chaos.py [-i INVENTORY] [-s SCENARIO]...` prints them (and bench/chaos_failover.py's) and
merges them into bench/results.json. Traffic stays inside the lab's namespaces; every loop is bounded."""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "roles", "lab", "files"))

import labkit  # noqa: E402  pylint: disable=wrong-import-position
from results_file import merge, provenance  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_lab_sys import netns_pids, ns_ident  # noqa: E402  pylint: disable=wrong-import-position

SCENARIOS = ("kill_wireguard_go", "delete_interface", "restart_host", "sshd_stopped_run")
FAILOVER_SCENARIOS = ("leader_down", "relay_down", "flaky_leader")     # bench/chaos_failover.py
# which kind of host each scenario hits by default: behind NAT (nobody can call it back) or with an endpoint
VICTIM_KIND = {"kill_wireguard_go": "public", "delete_interface": "nat", "restart_host": "nat",
               "sshd_stopped_run": "public"}
INTERVAL, BOUND_S, LEAD_S, STABLE_S = 0.01, 30.0, 2.0, 1.0
READY_S = 20.0              # how long a mesh may take to answer steadily before the fault (first handshakes)
SETTLE_S = 30.0             # how long failover agents may take to move AllowedIPs back after a fault healed
RUN_TIMEOUT = 280           # one playbook run
MAX_PING_S = 600            # a ping's sequence numbers (16 bits) must not wrap: 600 s at 10 ms is 60,000
IFACE = "wg0"
AGENT_STATE = "/run/wiremesh/failover-%s.state.json" % IFACE
STARTED_PIDS = []           # every ping this module started (tests check none is left)
_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)")
_SEQ = re.compile(r"icmp_seq=(\d+)")


class ChaosError(Exception):
    """A scenario failed; carries its name and what it measured."""

    def __init__(self, scenario, message, figures=None):
        super().__init__("%s: %s" % (scenario, message))
        self.scenario, self.figures = scenario, figures or {}


# -- the lab under test ---------------------------------------------------------------------------------------
class Lab:
    """The mesh hosts of a lab inventory, read with ansible-inventory; commands run inside them."""

    def __init__(self, inventory):
        self.inventory = os.path.join(ROOT, inventory)
        out = subprocess.run([os.path.join(labkit.BIN, "ansible-inventory"), "-i", self.inventory, "--list"],
                             capture_output=True, text=True, timeout=120, check=True,
                             env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))).stdout
        data = json.loads(out)
        hostvars = data["_meta"]["hostvars"]
        group = next(iter(hostvars.values()), {}).get("wireguard_mesh_group", "mesh")
        self.hosts = sorted(set(members(data, group)))
        if not self.hosts:
            raise ChaosError("setup", "no host in group %s of %s" % (group, self.inventory))
        self.lab_root = hostvars[self.hosts[0]]["lab_root"]
        self.public = [h for h in self.hosts if hostvars[h].get("wiremesh_endpoint")]
        self.nat = [h for h in self.hosts if h not in self.public]
        self.state_path = os.path.join(self.inventory, ".wiremesh", "%s.state.json" % group)

    def missing(self):
        """Why the lab cannot be used now, or None."""
        if os.geteuid() != 0:
            return "needs root"
        down = [h for h in self.hosts if not os.path.exists(os.path.join(self.lab_root, "hosts", h, "init.pid"))]
        if down:
            return "lab hosts %s are not running: build and mesh the lab first" % ", ".join(down)
        if not os.path.exists(self.state_path):
            return "no mesh state %s: run playbooks/mesh.yml first" % self.state_path
        return None

    def mesh_ips(self):
        with open(self.state_path, encoding="utf-8") as handle:
            nodes = json.load(handle)["nodes"]
        return {h: nodes[h]["mesh_ip"] for h in self.hosts}

    def run_in(self, host, *argv, timeout=60):
        return subprocess.run(labkit.host_argv(self.lab_root, host, *argv), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def identity(self, host):
        """{"public_key", "mesh_ip"} of host's live interface (keyless views only)."""
        key = self.run_in(host, "wg", "show", IFACE, "public-key").stdout.strip()
        addrs = json.loads(self.run_in(host, "ip", "-j", "-4", "addr", "show", "dev", IFACE).stdout or "[]")
        ips = [a["local"] for link in addrs for a in link.get("addr_info", [])]
        return {"public_key": key, "mesh_ip": ips[0] if ips else None}

    def peer_entry(self, host, public_key):
        """{"endpoint", "allowed_ips"} of host's peer public_key, or None when host has no such peer."""
        entry = {}
        for view, field in (("endpoints", "endpoint"), ("allowed-ips", "allowed_ips")):
            for line in self.run_in(host, "wg", "show", IFACE, view).stdout.splitlines():
                parts = line.split("\t")
                if parts[0] == public_key and len(parts) == 2:
                    entry[field] = parts[1]
        return entry or None

    def agent_states(self):
        """{host: its failover agent's state (roles/wireguard/files/wiremesh_failover.py), or None}."""
        out = {}
        for host in self.hosts:
            try:
                out[host] = json.loads(self.run_in(host, "cat", AGENT_STATE).stdout)
            except ValueError:
                out[host] = None
        return out

    def settle(self, timeout=SETTLE_S):
        """Wait until no failover agent holds anyone dead or routes around anyone (a scenario starts from the
        planned mesh); returns the hosts that still do at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            off = sorted(h for h, st in self.agent_states().items() if st and (st.get("dead") or any(
                g.get("active") != g.get("preferred") for g in st.get("groups", []))))
            if not off or time.monotonic() > deadline:
                return off
            time.sleep(0.5)

    def victim(self, scenario, wanted=None):
        if wanted:
            if wanted not in self.hosts:
                raise ChaosError(scenario, "victim %s is not a mesh host (%s)" % (wanted, ", ".join(self.hosts)))
            return wanted
        pool = self.nat if VICTIM_KIND[scenario] == "nat" else self.public
        return (pool or self.hosts)[0]


def members(inventory_list, group):
    """Hosts of group and of its children, from `ansible-inventory --list` output."""
    entry = inventory_list.get(group, {})
    found = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        found += members(inventory_list, child)
    return found


# -- pings ----------------------------------------------------------------------------------------------------
class PairPinger(threading.Thread):
    """Pings dst_ip from lab host src every INTERVAL (timestamped replies) until stopped or `seconds` are up.
    A ping that ends early (its namespace went away in a restart, no route yet) is started again, so each run
    is a list entry {"replies": {seq: time}, "sent": N, "stopped": bool}."""

    def __init__(self, src, dst, dst_ip, seconds):
        super().__init__(daemon=True)
        self.src, self.dst, self.dst_ip = src, dst, dst_ip
        self.deadline, self.runs = time.monotonic() + seconds, []
        self.stopping, self.proc = threading.Event(), None

    def run(self):
        while not self.stopping.is_set() and time.monotonic() < self.deadline - 1:
            left = self.deadline - time.monotonic()
            proc = subprocess.Popen(["ip", "netns", "exec", "wm-" + self.src, "ping", "-D", "-O", "-n",
                                     "-i", str(INTERVAL), "-W", "1", "-c", str(int(left / INTERVAL)),
                                     "-w", str(int(left)), self.dst_ip],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
            STARTED_PIDS.append(proc.pid)
            self.proc, run = proc, {"replies": {}, "sent": 0, "stopped": False}
            self.runs.append(run)
            if self.stopping.is_set():     # stop() came between the loop's check and Popen: it missed this one
                proc.send_signal(signal.SIGINT)
            for line in proc.stdout:
                parse_line(run, line)
            proc.wait()
            run["stopped"] = self.stopping.is_set()
            self.stopping.wait(0.1)

    def stop(self):
        self.stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.join(timeout=30)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.join(timeout=10)

    def pair(self):
        return "%s->%s" % (self.src, self.dst)

    def snapshot(self):
        """The runs so far, copied (this thread keeps adding replies)."""
        return [dict(run, replies=dict(run["replies"])) for run in list(self.runs)]


def parse_line(run, line):
    """Fold one line of `ping -D -O` output into run: replies by sequence number, and how many were sent."""
    reply = _REPLY.match(line)
    if reply and "DUP!" not in line:
        run["replies"].setdefault(int(reply.group(2)), float(reply.group(1)))
    seen = _SEQ.search(line)
    if seen:
        run["sent"] = max(run["sent"], int(seen.group(1)))
    transmitted = labkit.ping_counts(line)[0]
    if transmitted:
        run["sent"] = transmitted


def recovered_at(runs, since, stable):
    """Time of the first reply at or after `since` that starts `stable` answered pings in a row, or None."""
    for run in runs:
        start = prev = None
        for seq in sorted(run["replies"]):
            stamp = run["replies"][seq]
            if stamp < since:
                continue
            if prev is None or seq != prev + 1:
                start = (seq, stamp)
            prev = seq
            if seq - start[0] + 1 >= stable:
                return start[1]
    return None


def lost(runs):
    """Pings without a reply; those in flight when a ping was stopped on purpose do not count."""
    total = 0
    for run in runs:
        last = max(run["replies"], default=0)
        total += last - len(run["replies"]) + (0 if run["stopped"] else max(run["sent"] - last, 0))
    return total


class Pings:
    """One PairPinger per ordered pair: ``pairs``, or those between the victim and every other host."""

    def __init__(self, lab, victim, seconds, pairs=None):
        ips = lab.mesh_ips()
        if pairs is None:
            pairs = [(victim, h) for h in lab.hosts if h != victim] + [(h, victim) for h in lab.hosts if h != victim]
        self.pingers = [PairPinger(src, dst, ips[dst], seconds) for src, dst in pairs]
        for pinger in self.pingers:
            pinger.start()

    def unsteady(self, since, stable):
        """Pairs that have not answered `stable` s of pings in a row since `since`."""
        return [p.pair() for p in self.pingers if recovered_at(p.snapshot(), since, int(stable / INTERVAL)) is None]

    def recovery(self, since, stable):
        """(seconds from `since` until every pair answers again, the pair that took longest); None while some
        pair has not."""
        stamps = {p.pair(): recovered_at(p.snapshot(), since, int(stable / INTERVAL)) for p in self.pingers}
        if None in stamps.values():
            return None
        last = max(stamps, key=stamps.get)
        return max(stamps[last] - since, 0.0), last

    def stop(self):
        for pinger in self.pingers:
            pinger.stop()
        return sum(lost(p.runs) for p in self.pingers), sum(r["sent"] for p in self.pingers for r in p.runs)


# -- faults ---------------------------------------------------------------------------------------------------
def wireguard_go_pid(lab, host):
    """PID of the wireguard-go process serving IFACE in host's namespace."""
    for pid in netns_pids(ns_ident("/run/netns/wm-" + host)):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"wireguard-go" and IFACE.encode() in argv[1:]:
            return pid
    raise ChaosError("kill_wireguard_go", "no wireguard-go for %s runs in %s (kernel WireGuard?)" % (IFACE, host))


def kill_wireguard_go(lab, victim):
    os.kill(wireguard_go_pid(lab, victim), signal.SIGKILL)
    return {}


def delete_interface(lab, victim):
    done = lab.run_in(victim, "ip", "link", "del", IFACE)
    if done.returncode:
        raise ChaosError("delete_interface", "ip link del %s in %s: %s" % (IFACE, victim, done.stderr.strip()))
    return {}


def restart_host(lab, victim):
    done = subprocess.run(["/usr/bin/python3", labkit.LAB_TOOL, "restart", "--lab-root", lab.lab_root,
                           "--host", victim], capture_output=True, text=True, timeout=300, check=False)
    actions = json.loads(done.stdout or "{}").get("actions", []) if done.stdout.startswith("{") else []
    rebuilt = {"namespace wm-%s deleted" % victim, "namespace wm-%s created" % victim, "host %s booted" % victim}
    if done.returncode or not rebuilt <= set(actions):
        output = (done.stdout + done.stderr)[-2000:]
        raise ChaosError("restart_host", "wiremesh-lab restart %s failed: %s" % (victim, output))
    return {}


def sshd(lab, victim, action):
    done = lab.run_in(victim, "wiremesh-lab-ctl", action, "sshd", "--wait", "20")
    if done.returncode:
        raise ChaosError("sshd_stopped_run", "%s sshd in %s: %s" % (action, victim, done.stderr.strip()))


def sshd_stopped_run(lab, victim):
    """sshd stopped -> a run that must finish for the others and keep the victim's peer; sshd back -> a run that
    changes nothing on the others."""
    others = [h for h in lab.hosts if h != victim]
    key = lab.identity(victim)["public_key"]
    entries = {h: lab.peer_entry(h, key) for h in others}
    figures = {}
    sshd(lab, victim, "stop")
    try:
        start = time.monotonic()
        first = labkit.playbook("playbooks/mesh.yml", inventory=lab.inventory, timeout=RUN_TIMEOUT)
        figures["chaos_sshd_stopped_run_unreachable_run_s"] = round(time.monotonic() - start, 2)
        stats = labkit.recap(first.stdout)
        problems = ["%s not named unreachable" % victim] if stats.get(victim, {}).get("unreachable", 0) < 1 else []
        problems += ["%s: %s" % (h, stats.get(h)) for h in others
                     if not stats.get(h) or stats[h].get("failed") or stats[h].get("unreachable")]
        kept = {h: lab.peer_entry(h, key) for h in others}
        problems += ["%s lost or changed its peer entry of %s: %s -> %s" % (h, victim, entries[h], kept[h])
                     for h in others if kept[h] != entries[h]]
        if problems:
            raise ChaosError("sshd_stopped_run", "run with sshd stopped: %s\n%s"
                             % ("; ".join(problems), first.stdout[-3000:]), figures)
    finally:
        sshd(lab, victim, "start")
    start = time.monotonic()
    second = labkit.playbook("playbooks/mesh.yml", inventory=lab.inventory, timeout=RUN_TIMEOUT)
    figures["chaos_sshd_stopped_run_return_run_s"] = round(time.monotonic() - start, 2)
    stats = labkit.recap(second.stdout)
    figures["chaos_sshd_stopped_run_return_changed"] = stats.get(victim, {}).get("changed")
    changed = {h: stats.get(h, {}).get("changed") for h in others}
    if second.returncode or any(changed.values()) or stats.get(victim, {}).get("unreachable", 1):
        raise ChaosError("sshd_stopped_run", "run with sshd back (rc %d, changed on the others %s)\n%s"
                         % (second.returncode, changed, second.stdout[-3000:]), figures)
    return figures


FAULTS = {"kill_wireguard_go": kill_wireguard_go, "delete_interface": delete_interface,
          "restart_host": restart_host, "sshd_stopped_run": sshd_stopped_run}


# -- scenarios ------------------------------------------------------------------------------------------------
def scenario(lab, name, victim=None, bound_s=BOUND_S, lead_s=LEAD_S, stable_s=STABLE_S):
    """Run one scenario under pings; returns its figures, raises ChaosError when it fails."""
    victim = lab.victim(name, victim)
    others = [h for h in lab.hosts if h != victim]
    lab.settle()        # an earlier fault's failover has switched back: the entries below are the plan's
    before = lab.identity(victim)
    entries = {h: lab.peer_entry(h, before["public_key"]) for h in others}
    prefix = "chaos_%s_" % name
    figures = {prefix + "victim": victim}
    window = MAX_PING_S if name == "sshd_stopped_run" else lead_s + bound_s + stable_s + 30
    started, pings, recovery, slowest = time.time(), Pings(lab, victim, window + READY_S), None, None
    try:
        time.sleep(lead_s)
        while not pings.recovery(started, stable_s):   # every pair answering steadily (first handshakes)
            if time.time() > started + lead_s + READY_S:
                raise ChaosError(name, "the mesh is not healthy before the fault: no steady replies on %s"
                                 % ", ".join(pings.unsteady(started, stable_s)), figures)
            time.sleep(0.2)
        fault_at = time.time()
        figures.update(FAULTS[name](lab, victim))
        deadline = fault_at + bound_s + stable_s + 1
        while True:  # looked at least once (the sshd runs take longer than the bound, the mesh must not break)
            recovery, slowest = pings.recovery(fault_at, stable_s) or (None, None)
            if recovery is not None or time.time() > deadline:
                break
            time.sleep(0.2)
    finally:
        figures[prefix + "lost_pings"], figures[prefix + "sent"] = pings.stop()
    figures[prefix + "recovery_s"] = None if recovery is None else round(recovery, 3)
    figures[prefix + "slowest_pair"] = slowest
    if recovery is None or recovery > bound_s:
        raise ChaosError(name, "%s did not recover within %g s (recovery %s)" % (victim, bound_s, recovery), figures)
    after = lab.identity(victim)
    if after != before:
        raise ChaosError(name, "%s came back as %s, was %s" % (victim, after, before), figures)
    fields = ("endpoint", "allowed_ips") if victim in lab.public else ("allowed_ips",)  # NAT'd: learned anew
    for host in others:     # those that peer with the victim (with location granularity, not every host does)
        entry = settled_entry(lab, host, before["public_key"], entries[host], fields)
        if entries[host] is not None and (entry is None or any(entry.get(f) != entries[host].get(f) for f in fields)):
            raise ChaosError(name, "%s's peer entry of %s: %s, was %s" % (host, victim, entry, entries[host]),
                             figures)
    return figures


def settled_entry(lab, host, public_key, wanted, fields, settle_s=SETTLE_S):
    """host's peer entry of public_key once it has ``wanted``'s fields again, or as it is after settle_s: a
    failover agent that moved AllowedIPs away from a victim moves them back only after its hold time."""
    deadline = time.monotonic() + settle_s
    while True:
        entry = lab.peer_entry(host, public_key)
        if wanted is None or (entry is not None and all(entry.get(f) == wanted.get(f) for f in fields)) \
                or time.monotonic() > deadline:
            return entry
        time.sleep(0.5)


def run(inventory="inventories/lab", scenarios=SCENARIOS + FAILOVER_SCENARIOS, victim=None, bound_s=BOUND_S,
        lead_s=LEAD_S, stable_s=STABLE_S):
    """Every scenario in turn on the running lab of `inventory`: {figure: value}, {"chaos_skipped": why} when the
    lab is not there. A scenario that fails records chaos_<name>_error and the next one runs; at the end a
    ChaosError carries every figure when any failed."""
    lab = Lab(inventory)
    why = lab.missing()
    if why:
        return {"chaos_skipped": why}
    results, failed = dict(provenance("chaos"), chaos_inventory=inventory), []
    for name in scenarios:
        try:
            if name in FAILOVER_SCENARIOS:
                # chaos_failover imports this module: imported here, not at the top
                import chaos_failover  # pylint: disable=import-outside-toplevel
                results.update(chaos_failover.scenario(lab, name, bound_s, lead_s, stable_s))
            else:
                results.update(scenario(lab, name, victim, bound_s, lead_s, stable_s))
            results["chaos_%s_inventory" % name] = inventory
        except ChaosError as exc:
            results["chaos_%s_inventory" % name] = inventory
            results.update(exc.figures)
            results["chaos_%s_error" % name] = str(exc)
            failed.append(str(exc))
    if failed:
        raise ChaosError("chaos", "; ".join(failed), results)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("-i", "--inventory", default="inventories/lab")
    parser.add_argument("-s", "--scenario", action="append", choices=SCENARIOS + FAILOVER_SCENARIOS,
                        help="repeatable; default: all")
    parser.add_argument("--victim", help="hit this mesh host in every scenario")
    args = parser.parse_args(argv)
    try:
        figures, failure = run(args.inventory, args.scenario or SCENARIOS + FAILOVER_SCENARIOS, args.victim), None
    except ChaosError as exc:
        figures, failure = exc.figures, exc
    print(json.dumps(figures, indent=2, sort_keys=True))
    if "chaos_skipped" in figures:
        sys.stderr.write("chaos: skipped: %s\n" % figures["chaos_skipped"])
        return 2
    merge(figures, kind="chaos")
    if failure:
        sys.stderr.write("chaos: scenario %s\n" % failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
