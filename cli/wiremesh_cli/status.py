# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``wiremesh status``: handshake age and transfer per peer, and each host's failover agent's choice (which
leader or relay it routes through, who it holds dead), from the hosts (over Ansible) or from the JSON that
playbooks/report.yml writes (then with the all-pairs ping matrix: what ``make demo`` prints).

Only keyless views of ``wg show`` are read (public-key, latest-handshakes, transfer, endpoints); never ``dump``,
which prints the private key."""

import json
import os
import re
import shutil
import subprocess
import sys

VIEWS = ("public-key", "latest-handshakes", "endpoints", "transfer")
FAILOVER_STATE = "/run/wiremesh/failover-%s.state.json"     # written by the failover agent (wireguard role)
_SEP = "@@wiremesh@@"
_RTT = re.compile(r"rtt min/avg/max/mdev = [\d.]+/([\d.]+)/")
_LOSS = re.compile(r"(\d+) received")


class StatusError(RuntimeError):
    pass


# --- gathering -----------------------------------------------------------------------------------------------

def gather_command(inventory, group, interface):
    """The ``ansible`` ad-hoc command line that reads the keyless views on every host of ``group``."""
    script = ("; echo %s; " % _SEP).join(["wg show %s %s" % (interface, view) for view in VIEWS]
                                         + ["cat %s 2>/dev/null; true" % (FAILOVER_STATE % interface)])
    binary = os.path.join(os.path.dirname(sys.executable), "ansible")
    if not os.path.exists(binary):
        binary = shutil.which("ansible") or "ansible"
    return [binary, "-i", inventory, group, "-m", "ansible.builtin.shell", "-a", script]


def parse_gathered(text):
    """{host: {view: stdout}} (or {host: {"error": msg}}) from the JSON stdout callback's output."""
    data = json.loads(text[text.index("{"):])
    hosts = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable") or result.get("rc", 0) != 0:
                    hosts[host] = {"error": (result.get("stderr") or result.get("msg") or "failed").strip()}
                    continue
                parts = result.get("stdout", "").split(_SEP)
                hosts[host] = {view: part.strip("\n") for view, part in zip(VIEWS + ("failover",), parts)}
    return hosts


def gather(inventory, group="mesh", interface="wg0", run=None):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1")
    proc = (run or subprocess.run)(gather_command(inventory, group, interface), capture_output=True, text=True, env=env, check=False)
    try:
        return parse_gathered(proc.stdout)
    except ValueError:
        raise StatusError("ansible gave no JSON (rc %d): %s" % (proc.returncode, (proc.stderr or proc.stdout)[-2000:]))


# --- formatting ----------------------------------------------------------------------------------------------

def _lines(text):
    """Rows of a ``wg show <iface> <view>`` output, split on whitespace."""
    return [line.split() for line in (text or "").splitlines() if line.strip()]


def latest_handshake(wg, now):
    """Age in seconds of the newest handshake with any peer, how many peers had one, how many peers."""
    rows = [r for r in _lines(wg.get("latest-handshakes")) if len(r) == 2]
    stamps = [int(r[1]) for r in rows if r[1].isdigit() and int(r[1]) > 0]
    return (now - max(stamps) if stamps else None), len(stamps), len(rows)


def human_bytes(count):
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % count


def age(stamp, now):
    return "never" if not stamp else "%ds ago" % max(now - stamp, 0)


def peer_rows(hosts, names, now):
    """(host, peer, endpoint, handshake, received, sent) for every peer of every host, sorted."""
    rows = []
    for host in sorted(hosts):
        wg = hosts[host].get("wg", hosts[host])
        if "error" in wg:
            rows.append((host, "-", "-", "unreachable: %s" % wg["error"].splitlines()[0][:60], "-", "-"))
            continue
        stamps = {r[0]: int(r[1]) for r in _lines(wg.get("latest-handshakes")) if len(r) == 2 and r[1].isdigit()}
        endpoints = {r[0]: r[1] for r in _lines(wg.get("endpoints")) if len(r) == 2}
        transfer = {r[0]: (int(r[1]), int(r[2])) for r in _lines(wg.get("transfer")) if len(r) == 3}
        for key in sorted(set(stamps) | set(endpoints) | set(transfer), key=lambda k: (names.get(k, "~" + k))):
            rx, tx = transfer.get(key, (0, 0))
            endpoint = endpoints.get(key, "(none)")
            rows.append((host, names.get(key, key[:10] + "..."), "(none)" if endpoint == "(none)" else endpoint,
                         age(stamps.get(key), now), human_bytes(rx), human_bytes(tx)))
    return rows


def key_names(plan, hosts=None):
    """{public key: name} from the plan's entries (nodes and external peers) and the hosts' own public-key view."""
    names = {}
    for node in plan.get("nodes", {}).values():
        for entry in node.get("peers", []):
            names[entry["public_key"]] = entry["name"]
    for entries in plan.get("peers", {}).values():
        for entry in entries:
            names[entry["public_key"]] = entry["name"]
    for host, info in (hosts or {}).items():
        key = info.get("wg", info).get("public-key", "").strip()
        if key:
            names[key] = host
    return names


def ping_cell(stdout):
    """Average RTT in ms of a ping that answered, None otherwise."""
    received = _LOSS.search(stdout or "")
    rtt = _RTT.search(stdout or "")
    if not received or int(received.group(1)) == 0 or not rtt:
        return None
    return float(rtt.group(1))


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def host_table(hosts, now):
    rows = [("HOST", "LOCATION", "MESH IP", "ENDPOINT", "LATEST HANDSHAKE")]
    for name in sorted(hosts):
        info = hosts[name]
        when, with_hs, peers = latest_handshake(info.get("wg", {}), now)
        hs = "never" if when is None else "%ds ago (%d/%d peers)" % (max(when, 0), with_hs, peers)
        rows.append((name, info.get("location") or "-", info.get("mesh_ip") or "-",
                     info.get("endpoint") or "(behind NAT)", hs))
    return table(rows)


def peers_table(hosts, names, now):
    return table([("HOST", "PEER", "ENDPOINT", "HANDSHAKE", "RECEIVED", "SENT")] + peer_rows(hosts, names, now))


def ping_matrix(hosts):
    names = sorted(hosts)
    matrix = [["from \\ to"] + names]
    failures = 0
    for src in names:
        row = [src]
        pings = hosts[src].get("pings", {})   # keyed by target host name
        for dst in names:
            if dst == src:
                row.append("-")
                continue
            rtt = ping_cell(pings.get(dst))
            failures += rtt is None
            row.append("FAIL" if rtt is None else "%.2fms" % rtt)
        matrix.append(row)
    total = len(names) * (len(names) - 1)
    text = "\n".join(["Ping matrix over the mesh (avg RTT; row pings column):", table(matrix), "",
                      "%d of %d pairs answered" % (total - failures, total)])
    return text, failures


def render_report(report, now, plan=None, peers=True):
    """The demo's text from playbooks/report.yml's JSON: host table, per-peer table, ping matrix.
    Returns (text, number of pairs that did not answer)."""
    hosts = report["hosts"]
    out = [host_table(hosts, now), ""]
    if peers:
        out += ["Peers (handshake age and transfer, as each host sees them):",
                peers_table(hosts, key_names(plan or {}, hosts), now), ""]
    matrix, failures = ping_matrix(hosts)
    out.append(matrix)
    return "\n".join(out), failures


def live_hosts(plan, gathered):
    """The host-table rows' data for live status: location, mesh IP and endpoint from the plan."""
    hosts = {}
    for name, wg in gathered.items():
        node = plan.get("nodes", {}).get(name, {})
        endpoint = node.get("endpoint")
        hosts[name] = {"location": node.get("location"), "mesh_ip": node.get("mesh_ip"),
                       "endpoint": endpoint.rsplit(":", 1)[0] if endpoint else None, "wg": wg}
    return hosts


def failover_states(hosts):
    """{host: the failover agent's state} for the hosts whose agent wrote one (unparsable ones are skipped)."""
    out = {}
    for name, info in hosts.items():
        text = (info.get("wg") or {}).get("failover") or ""
        try:
            state = json.loads(text) if text.strip() else None
        except ValueError:
            state = None
        if isinstance(state, dict):
            out[name] = state
    return out


def failover_text(states, unreachable=()):
    """Dead leaders and relays (and who holds them dead), the hosts that failed over, and every multi-candidate
    group's choice per host; "" when no agent reported."""
    if not states:
        return ""
    dead = {}
    rows = [("HOST", "MODE", "GROUP", "ACTIVE", "PREFERRED")]
    moved = []
    for host in sorted(states):
        state = states[host]
        for name in state.get("dead") or []:
            dead.setdefault(name, []).append(host)
        for group in state.get("groups") or []:
            if len(group.get("candidates") or []) < 2:
                continue
            active, preferred = group.get("active"), group.get("preferred")
            rows.append((host, state.get("mode") or "-", group.get("name") or "-", active or "-",
                         preferred or "-"))
            if active != preferred:
                moved.append("%s (%s: %s instead of %s)" % (host, group.get("name"), active, preferred))
        if state.get("isolated"):
            moved.append("%s is cut off from every peer" % host)
    lines = ["Failover (each host's agent):"]
    lines.append("dead: " + ("; ".join("%s (as %s see%s it)" % (name, ", ".join(seen), "s" if len(seen) == 1 else "")
                                       for name, seen in sorted(dead.items())) or "none"))
    lines.append("failed over: " + ("; ".join(moved) or "none"))
    if unreachable:
        lines.append("no answer: " + ", ".join(sorted(unreachable)))
    if len(rows) > 1:
        lines.append(table(rows))
    return "\n".join(lines)


def render_live(plan, gathered, now):
    hosts = live_hosts(plan, gathered)
    ok = {h: i for h, i in hosts.items() if "error" not in i["wg"]}
    out = [host_table(ok, now) if ok else "(no host answered)", "", peers_table(hosts, key_names(plan, hosts), now)]
    failover = failover_text(failover_states(ok), sorted(set(hosts) - set(ok)))
    if failover:
        out += ["", failover]
    return "\n".join(out)
