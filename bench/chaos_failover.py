# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover scenarios (`make chaos`, bench/chaos.py -s NAME): a location leader or a relay fails and the failover
agents (roles/wireguard/files/wiremesh_failover.py) route around it, with no Ansible run. Pings every 10 ms.

  leader_down   the leader of a location with a standby loses its network (every link but lo and wg0 down):
                every other host of that location must answer every other host again within GOAL_S (10 s).
                Then its links come back: no pair of those may go quiet for more than SECOND_OUTAGE_S (1 s)
                while every agent switches back (hold time), and it must be the leader again everywhere.
  relay_down    the relay of two NAT'd locations (both mesh hosts, with a standby relay) loses its network: the
                NAT'd pair must answer again within GOAL_S, through the standby relay; then the relay comes back.
  flaky_leader  the leader's links drop FLAKY_LOSS % of the packets each way (nftables numgen, no netem on this
                kernel) for FLAKY_S s: at most one switch per host, none back and forth (the agents' own logs of
                switches, in their state files).

Victims come from the plan in the state file; a lab without such a location or relayed pair records why the
scenario does not apply (``chaos_<name>_not_applicable``) instead of failing. Figures: recovery_s, slowest_pair,
second_outage_s (the longest silence of any pair once the victim is back), victim_back_s, lost_pings, sent,
switches."""

import json
import time

import chaos
from chaos import ChaosError, IFACE, Pings

SCENARIOS = ("leader_down", "relay_down", "flaky_leader")
GOAL_S, SECOND_OUTAGE_S = 10.0, 1.0
FLAKY_S, FLAKY_LOSS = 60.0, 30
BACK_WINDOW_S = 30.0        # how long the pings run once the victim is back (agents' hold time is 10 s)
NFT_TABLE = "wiremesh_chaos"


class NotApplicable(Exception):
    """The lab has no location or relayed pair this scenario needs."""


# -- what the plan says -----------------------------------------------------------------------------------------
def plan_of(lab):
    with open(lab.state_path, encoding="utf-8") as handle:
        return json.load(handle).get("plan") or {}


def leader_victim(lab, plan):
    """(leader, [the other hosts of its location]) of the first location with a standby leader."""
    for name in sorted(plan.get("segments", {})):
        seg = plan["segments"][name]
        if seg.get("standbys") and seg["leader"] in lab.hosts and len(seg["nodes"]) > 1:
            return seg["leader"], [n for n in seg["nodes"] if n != seg["leader"]]
    raise NotApplicable("no location has a standby leader (a location of two hosts with endpoints)")


def relay_victim(lab, plan):
    """(relay host, [the two relayed hosts]) of the first pair of NAT'd locations (mesh hosts both) with a
    standby relay."""
    segments = plan.get("segments", {})
    for relay in plan.get("relays", []):
        ends = [segments.get(s, {}).get("leader") for s in relay["between"]]
        via = segments.get(relay["via"], {}).get("leader")
        if relay.get("standbys") and via in lab.hosts and all(e in lab.hosts for e in ends):
            return via, ends
    raise NotApplicable("no pair of NAT'd locations of mesh hosts talks through a relay with a standby (an external "
                        "peer's side cannot fail over: its config is static)")


def location_pairs(lab, victim, members):
    """Both directions between every other host of the victim's location and every other host."""
    others = [h for h in lab.hosts if h != victim]
    pairs = {(m, o) for m in members for o in others if o != m}
    return sorted(pairs | {(o, m) for m, o in pairs})


# -- faults -----------------------------------------------------------------------------------------------------
def links(lab, host):
    """The host's network links (all but lo and the WireGuard interface)."""
    out = json.loads(lab.run_in(host, "ip", "-j", "link", "show").stdout or "[]")
    return sorted(link["ifname"] for link in out if link["ifname"] not in ("lo", IFACE))


def links_down(lab, host):
    """Every link of host down; returns what links_up needs (its links and its routes via a gateway)."""
    routes = [r for r in json.loads(lab.run_in(host, "ip", "-j", "route", "show").stdout or "[]")
              if r.get("gateway")]
    names = links(lab, host)
    for name in names:
        done = lab.run_in(host, "ip", "link", "set", "dev", name, "down")
        if done.returncode:
            raise ChaosError("links_down", "ip link set %s down in %s: %s" % (name, host, done.stderr.strip()))
    return names, routes


def links_up(lab, host, saved):
    names, routes = saved
    for name in names:
        lab.run_in(host, "ip", "link", "set", "dev", name, "up")
    for route in routes:    # a link going down takes its gateway routes with it
        lab.run_in(host, "ip", "route", "replace", route["dst"], "via", route["gateway"], "dev", route["dev"])


def lossy(lab, host, percent):
    """Drop ``percent`` % of what host's links send and receive, at random (nftables numgen)."""
    names = ", ".join('"%s"' % n for n in links(lab, host))
    rules = ("table inet %s {\n"
             " chain in { type filter hook input priority -300; policy accept;"
             " iifname { %s } numgen random mod 100 < %d drop; }\n"
             " chain out { type filter hook output priority -300; policy accept;"
             " oifname { %s } numgen random mod 100 < %d drop; }\n}\n" % (NFT_TABLE, names, percent, names, percent))
    done = chaos.subprocess.run(chaos.labkit.host_argv(lab.lab_root, host, "nft", "-f", "-"), input=rules,
                                capture_output=True, text=True, timeout=30, check=False)
    if done.returncode:
        raise ChaosError("flaky_leader", "nft in %s: %s" % (host, done.stderr.strip()))


def lossless(lab, host):
    lab.run_in(host, "nft", "delete", "table", "inet", NFT_TABLE)


# -- the agents --------------------------------------------------------------------------------------------------
def switches_since(states, since):
    """{host: [switch events at or after since]} from the agents' state files."""
    return {h: [s for s in (st or {}).get("switches", []) if s.get("time", 0) >= since] for h, st in states.items()}


def wait_preferred(lab, group_of, deadline):
    """Wait until every agent's group named ``group_of`` is on its preferred (first) candidate again; returns the
    hosts that are not by the deadline."""
    while True:
        states = lab.agent_states()
        off = sorted(h for h, st in states.items() if st and any(
            g.get("name") == group_of and g.get("active") != g.get("preferred") for g in st.get("groups", [])))
        if not off or time.time() > deadline:
            return off
        time.sleep(0.5)


# -- measures ----------------------------------------------------------------------------------------------------
def longest_silence(runs, start, end):
    """The longest time between two replies (or from start to the first, or the last to end) in [start, end]."""
    stamps = sorted(t for run in runs for t in run["replies"].values() if start <= t <= end)
    edges = [start] + stamps + [end]
    return max(b - a for a, b in zip(edges, edges[1:]))


def steady(name, pings, started, lead_s, stable_s, figures):
    time.sleep(lead_s)
    while not pings.recovery(started, stable_s):
        if time.time() > started + lead_s + chaos.READY_S:
            raise ChaosError(name, "the mesh is not healthy before the fault: no steady replies on %s"
                             % ", ".join(pings.unsteady(started, stable_s)), figures)
        time.sleep(0.2)


def wait_recovery(pings, since, stable_s, bound_s):
    deadline = since + bound_s + stable_s + 1
    while True:
        found = pings.recovery(since, stable_s)
        if found is not None or time.time() > deadline:
            return found or (None, None)
        time.sleep(0.2)


# -- scenarios ---------------------------------------------------------------------------------------------------
def outage_and_return(lab, name, victim, pairs, group_of, bound_s, lead_s, stable_s):
    """The victim's network goes away, then comes back: the figures; raises ChaosError past the goals."""
    prefix = "chaos_%s_" % name
    figures = {prefix + "victim": victim, prefix + "pairs": len(pairs)}
    back_pairs = [(victim, h) for h in lab.hosts if h != victim]
    window = lead_s + chaos.READY_S + bound_s + stable_s + BACK_WINDOW_S + 60
    lab.settle()
    started = time.time()
    pings = Pings(lab, victim, window, pairs=pairs)
    back = None
    try:
        steady(name, pings, started, lead_s, stable_s, figures)
        saved = links_down(lab, victim)
        fault_at = time.time()
        recovery, slowest = wait_recovery(pings, fault_at, stable_s, bound_s)
        figures[prefix + "recovery_s"] = None if recovery is None else round(recovery, 3)
        figures[prefix + "slowest_pair"] = slowest
        time.sleep(1.0)
        links_up(lab, victim, saved)
        back_at = time.time()
        back = Pings(lab, victim, BACK_WINDOW_S + 10, pairs=back_pairs)
        left = wait_preferred(lab, group_of, back_at + BACK_WINDOW_S)
        time.sleep(2.0)
        end = time.time()
        silences = {p.pair(): longest_silence(p.snapshot(), back_at, end) for p in pings.pingers}
        worst = max(silences, key=silences.get)
        figures[prefix + "second_outage_s"] = round(silences[worst], 3)
        figures[prefix + "second_outage_pair"] = worst
        victim_back = back.recovery(back_at, stable_s)
        figures[prefix + "victim_back_s"] = None if victim_back is None else round(victim_back[0], 3)
        figures[prefix + "not_switched_back"] = left
        after = switches_since(lab.agent_states(), fault_at)
        figures[prefix + "switches"] = sum(len(v) for v in after.values())
    finally:
        figures[prefix + "lost_pings"], figures[prefix + "sent"] = pings.stop()
        if back is not None:
            back.stop()
    problems = []
    if recovery is None or recovery > GOAL_S:
        problems.append("recovery %s s, goal %g s" % (recovery, GOAL_S))
    if figures[prefix + "second_outage_s"] > SECOND_OUTAGE_S:
        problems.append("%s went quiet for %s s after %s came back (goal %g s)"
                        % (worst, figures[prefix + "second_outage_s"], victim, SECOND_OUTAGE_S))
    if figures[prefix + "victim_back_s"] is None:
        problems.append("%s does not answer again" % victim)
    if left:
        problems.append("%s still route around %s" % (", ".join(left), victim))
    if problems:
        raise ChaosError(name, "; ".join(problems), figures)
    return figures


def leader_down(lab, bound_s=chaos.BOUND_S, lead_s=chaos.LEAD_S, stable_s=chaos.STABLE_S):
    plan = plan_of(lab)
    victim, members = leader_victim(lab, plan)
    location = plan["nodes"][victim]["location"]
    return outage_and_return(lab, "leader_down", victim, location_pairs(lab, victim, members),
                             "location %s" % location, bound_s, lead_s, stable_s)


def relay_down(lab, bound_s=chaos.BOUND_S, lead_s=chaos.LEAD_S, stable_s=chaos.STABLE_S):
    plan = plan_of(lab)
    victim, (a, b) = relay_victim(lab, plan)
    group = "relay location %s" % plan["nodes"][b]["location"]
    return outage_and_return(lab, "relay_down", victim, [(a, b), (b, a)], group, bound_s, lead_s, stable_s)


def flaky_leader(lab, bound_s=chaos.BOUND_S, lead_s=chaos.LEAD_S, stable_s=chaos.STABLE_S, seconds=FLAKY_S):
    del bound_s
    name, prefix = "flaky_leader", "chaos_flaky_leader_"
    victim, members = leader_victim(lab, plan_of(lab))
    pairs = location_pairs(lab, victim, members)
    figures = {prefix + "victim": victim, prefix + "loss_percent": FLAKY_LOSS, prefix + "seconds": seconds}
    lab.settle()
    started = time.time()
    pings = Pings(lab, victim, lead_s + chaos.READY_S + seconds + 30, pairs=pairs)
    try:
        steady(name, pings, started, lead_s, stable_s, figures)
        lossy(lab, victim, FLAKY_LOSS)
        since = time.time()
        try:
            time.sleep(seconds)
        finally:
            lossless(lab, victim)
        per_host = switches_since(lab.agent_states(), since)
    finally:
        figures[prefix + "lost_pings"], figures[prefix + "sent"] = pings.stop()
    figures[prefix + "switches"] = sum(len(v) for v in per_host.values())
    figures[prefix + "max_switches_per_host"] = max((len(v) for v in per_host.values()), default=0)
    figures[prefix + "loss_share"] = round(figures[prefix + "lost_pings"] / max(figures[prefix + "sent"], 1), 3)
    flapping = {h: v for h, v in per_host.items() if len(v) > 1}
    if flapping:
        raise ChaosError(name, "flapping: %s" % json.dumps(flapping, sort_keys=True), figures)
    return figures


def scenario(lab, name, bound_s=chaos.BOUND_S, lead_s=chaos.LEAD_S, stable_s=chaos.STABLE_S):
    """One failover scenario's figures; {chaos_<name>_not_applicable: why} when the lab has nothing for it."""
    try:
        return {"leader_down": leader_down, "relay_down": relay_down, "flaky_leader": flaky_leader}[name](
            lab, bound_s=bound_s, lead_s=lead_s, stable_s=stable_s)
    except NotApplicable as exc:
        return {"chaos_%s_not_applicable" % name: str(exc)}
