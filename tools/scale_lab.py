# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lab of any size (`make demo-scale N=100`, bench/mesh_step.py): generate its inventory, check it meshed, and
measure what its hosts cost in memory and CPU.

    python tools/scale_lab.py inventory N [--out DIR]    write DIR/hosts.yml (default .lab/scale-<N>), print DIR
    python tools/scale_lab.py ping DIR                   the NAT'd host and the first host ping each other over wg0
    python tools/scale_lab.py memory [--brief] DIR       memory of the lab's hosts, JSON (--brief: one line)
    python tools/scale_lab.py cpu DIR                    CPU its hosts burn on their own over 10 s, JSON

The lab (lab_name `scale`, lab_root /srv/wiremesh-lab/scale) has N hosts s001..sN (namespaces wm-s001...) in N/5
locations (at least 2): N-1 cloud hosts with a public address (100.72.0.0/16, behind the `internet` router) and a
private network per location (10.120.<k>.0/24, like a cloud VPC), in locations loc01..; and one host, the last,
behind a masquerading NAT router (`nat`, 100.73.0.2 on the isp network 100.73.0.0/24; LAN 192.168.90.0/24) in a
location of its own, `edge`, with no endpoint. Mesh group `mesh`, `location` granularity, wireguard_cidr
10.64.0.0/16; the mesh state file is kept in DIR/.wiremesh/. None of these ranges, names or lab names is used
by the demo lab (inventories/lab), the cloud lab or the integration and molecule labs.

Only one scale lab exists at a time: every size shares lab_name `scale` and the host names, so building one size
where another runs turns that lab into this one (the lab builder removes the hosts that no longer belong).
`make clean` tears down every .lab/scale-*/ lab and removes the folders. The failover agents probe once a second
(6 misses: the default's 6 s detection at a quarter of its pings), since all N hosts share this machine's CPUs.
"""

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_NAME = "scale"
PREFIX = "s"
PER_LOCATION = 5
PUBLIC = ipaddress.ip_network("100.72.0.0/16")       # the "internet" segment of the cloud hosts
ISP = ipaddress.ip_network("100.73.0.0/24")          # the NAT router's uplink
EDGE_LAN = ipaddress.ip_network("192.168.90.0/24")   # behind the NAT router
PRIVATE = "10.120.{}.0/24"                           # one private network per cloud location
MESH_CIDR = "10.64.0.0/16"
FAILOVER_INTERVAL_S, FAILOVER_MISSES = 1.0, 6
POPULAR_CIDR = ipaddress.ip_network("10.65.0.0/16")  # addresses of the popular role's baseline (bench/popular_role)
POPULAR_KEEPALIVE = 25
MAX_HOSTS = 1000


def default_dir(count):
    return os.path.join(ROOT, ".lab", "scale-%d" % count)


def host_names(count, prefix=PREFIX):
    width = max(3, len(str(count)))
    return ["%s%0*d" % (prefix, width, i) for i in range(1, count + 1)]


def layout(count, per_location=PER_LOCATION):
    """[(host, location)] in host order: the last host is `edge` (behind NAT), the others fill count/per_location
    - 1 cloud locations in blocks of about per_location hosts (count/per_location locations in all, at least 2)."""
    if not 2 <= count <= MAX_HOSTS:
        raise ValueError("a scale lab has 2 to %d hosts, not %r" % (MAX_HOSTS, count))
    locations = max(2, round(count / per_location))
    cloud = locations - 1
    names = host_names(count)
    width = max(2, len(str(cloud)))
    placed = [(name, "loc%0*d" % (width, 1 + i * cloud // (count - 1))) for i, name in enumerate(names[:-1])]
    return placed + [(names[-1], "edge")]


def inventory(count, lab_name=LAB_NAME, lab_root=None, per_location=PER_LOCATION):
    """The inventory (a dict, YAML-ready) of a scale lab of ``count`` hosts."""
    placed = layout(count, per_location)
    locations = sorted({loc for name, loc in placed if loc != "edge"})
    index = {loc: k for k, loc in enumerate(locations, start=1)}
    if len(locations) > 254:
        raise ValueError("too many locations for 10.120.<k>.0/24: %d" % len(locations))
    networks = {"pub": {}, "isp": {}, "edge-lan": {}}
    networks.update({"l%d" % index[loc]: {} for loc in locations})
    router_pub, isp_internet, isp_nat = PUBLIC.network_address + 1, ISP.network_address + 1, ISP.network_address + 2
    lan_gateway = EDGE_LAN.network_address + 1
    hosts, members = {}, {}
    for i, (name, loc) in enumerate(placed):
        popular = {"pop_address": "%s/32" % (POPULAR_CIDR.network_address + 1 + i)}
        if loc == "edge":
            lan = "%s/%d" % (EDGE_LAN.network_address + 10, EDGE_LAN.prefixlen)
            hosts[name] = {"lab_interfaces": [{"network": "edge-lan", "address": lan, "gateway": str(lan_gateway)}],
                           "wiremesh_location": loc, "wiremesh_private_ips": [lan],
                           "pop_endpoint": "", "pop_persistent_keepalive": POPULAR_KEEPALIVE, **popular}
            continue
        public = PUBLIC.network_address + 10 + i
        members[loc] = members.get(loc, 0) + 1
        net = ipaddress.ip_network(PRIVATE.format(index[loc]))
        private = "%s/%d" % (net.network_address + 9 + members[loc], net.prefixlen)
        interfaces = [{"network": "pub", "address": "%s/%d" % (public, PUBLIC.prefixlen), "gateway": str(router_pub)},
                      {"network": "l%d" % index[loc], "address": private}]
        hosts[name] = {"lab_interfaces": interfaces, "wiremesh_location": loc, "wiremesh_endpoint": str(public),
                       "wiremesh_private_ips": [private], "pop_endpoint": str(public), **popular}
    root = lab_root or "/srv/wiremesh-lab/%s" % lab_name
    return {"all": {
        "vars": {
            "lab_name": lab_name,
            "lab_root": root,
            # every host boots at once; under load a hundred take minutes (ssh-keygen -A each)
            "lab_wait_timeout": max(120, 3 * count),
            "lab_networks": networks,
            "lab_routers": {
                "internet": {"interfaces": [
                    {"network": "pub", "address": "%s/%d" % (router_pub, PUBLIC.prefixlen)},
                    {"network": "isp", "address": "%s/%d" % (isp_internet, ISP.prefixlen)}]},
                "nat": {"interfaces": [
                    {"network": "isp", "address": "%s/%d" % (isp_nat, ISP.prefixlen)},
                    {"network": "edge-lan", "address": "%s/%d" % (lan_gateway, EDGE_LAN.prefixlen)}],
                    "gateway": str(isp_internet), "masquerade_out": "isp"},
            },
        },
        "children": {
            "lab": {
                "vars": {
                    "ansible_host": "wm-{{ inventory_hostname }}",
                    "ansible_user": "root",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "ansible_ssh_private_key_file": "{{ lab_root }}/ssh/id_ed25519",
                    "ansible_ssh_common_args": (
                        '-o ProxyCommand="ip netns exec %h socat STDIO TCP:127.0.0.1:22" '
                        "-o UserKnownHostsFile={{ lab_root }}/ssh/known_hosts -o StrictHostKeyChecking=yes"),
                    "ansible_ssh_use_tty": False,
                },
                "children": {
                    "mesh": {
                        "vars": {
                            "wireguard_granularity": "location",
                            "wireguard_cidr": MESH_CIDR,
                            # this inventory's own mesh state, inside its folder (removed with it)
                            "wireguard_state_path": "{{ inventory_dir }}/.wiremesh/mesh.state.json",
                            # every host shares this machine's 2 cores: each leader and standby probes every other
                            # location's leader, so the agents' own pings grow with N^2 (at the default 0.25 s they
                            # burned 70 % of a core at 50 hosts idle and saturated both at 100, and starved agents
                            # then held live leaders dead). Once a second with 6 misses keeps the 6 s detection.
                            "wireguard_failover_interval": FAILOVER_INTERVAL_S,
                            "wireguard_failover_misses": FAILOVER_MISSES,
                        },
                        "hosts": hosts,
                    },
                },
            },
        },
    }}


HEADER = """\
# Generated by tools/scale_lab.py ({count} hosts; do not edit: regenerate). A lab of its own (lab_name {lab_name}):
# {count} hosts in {locations} locations, the last one behind the NAT router `nat`. Build and mesh it:
#   ansible-playbook -i {rel} playbooks/lab.yml playbooks/mesh.yml
# Tear it down: ansible-playbook -i {rel} playbooks/lab_destroy.yml (or make clean). pop_*: the addresses of
# the popular role's baseline (bench/popular_role), not used by the wireguard role.
"""


def write(count, out_dir=None, **kwargs):
    """Write out_dir/hosts.yml (JSON is YAML); return out_dir. Keeps out_dir/.wiremesh (the mesh state)."""
    out_dir = os.path.abspath(out_dir or default_dir(count))
    data = inventory(count, **kwargs)
    locations = len({h["wiremesh_location"] for h in data["all"]["children"]["lab"]["children"]["mesh"]["hosts"]
                     .values()})
    os.makedirs(out_dir, exist_ok=True)
    text = HEADER.format(count=count, lab_name=data["all"]["vars"]["lab_name"], locations=locations,
                         rel=os.path.relpath(out_dir, ROOT)) + json.dumps(data, indent=1) + "\n"
    path = os.path.join(out_dir, "hosts.yml")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)
    return out_dir


def read(out_dir):
    """The inventory dict that write() put into out_dir."""
    with open(os.path.join(out_dir, "hosts.yml"), encoding="utf-8") as handle:
        text = handle.read()
    return json.loads(text[text.index("{"):])


def mesh_hosts(data):
    return data["all"]["children"]["lab"]["children"]["mesh"]["hosts"]


# --- on the built lab -------------------------------------------------------------------------------------
def _netns_inode(name):
    try:
        return os.stat("/run/netns/" + name).st_ino
    except OSError:
        return None


def _status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _kind(pid):
    """What a lab host's process is: init, sshd, wireguard-go, failover (the steady ones), ssh session and ssh
    proxy (an Ansible connection, kept open by ControlPersist for a minute after a run), or its program name."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
        with open("/proc/%d/comm" % pid, encoding="utf-8") as handle:
            comm = handle.read().strip()
    except OSError:
        return "?"
    words = [os.path.basename(a) for a in argv]
    if comm == "sshd" or (words and words[0] == "sshd"):
        return "sshd" if any("listener" in a or a == "-D" for a in argv) else "ssh session"
    if comm == "socat":
        return "ssh proxy"
    if any(w.startswith("wiremesh_lab_init") or w == "wiremesh-lab-init" for w in words[:3]):
        return "init"
    if any(w.startswith("wiremesh-failover") for w in words[:3]):
        return "failover"
    if comm.startswith("python") and len(words) > 1:
        return words[1]
    return comm or "?"


SESSION_KINDS = ("ssh session", "ssh proxy")


def host_processes(hosts):
    """{host: [(pid, what, rss_kib, pss_kib)]}: every process living in each host's network namespace
    (the init, sshd, wireguard-go, the failover agent, and whatever else runs there right now)."""
    inodes = {}
    for host in hosts:
        ino = _netns_inode("wm-" + host)
        if ino is not None:
            inodes[ino] = host
    found = {host: [] for host in hosts}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            ino = os.stat("/proc/%d/ns/net" % pid).st_ino
        except OSError:
            continue
        host = inodes.get(ino)
        if host is not None:
            found[host].append((pid, _kind(pid), _status_kib(pid, "VmRSS"), _pss_kib(pid)))
    return found


def memory(out_dir):
    """Memory of the scale lab's hosts, from /proc, per host: RSS (counts the shared python and sshd pages once
    per process, an upper bound) and PSS (shares them out), summed over its steady processes (init, sshd,
    wireguard-go, failover agent; not the SSH sessions an Ansible run leaves open for a minute, reported apart);
    and by process kind."""
    hosts = list(mesh_hosts(read(out_dir)))
    procs = host_processes(hosts)
    up = [h for h in hosts if procs[h]]
    per = len(up) or 1
    kinds = {}
    for ps in procs.values():
        for _pid, what, rss, pss in ps:
            kind = kinds.setdefault(what, {"count": 0, "rss_kib": 0, "pss_kib": 0})
            kind["count"] += 1
            kind["rss_kib"] += rss
            kind["pss_kib"] += pss

    def per_host(field, session):
        return round(sum(v[field] for k, v in kinds.items() if (k in SESSION_KINDS) == session) / per / 1024, 1)
    steady = {h: sum(p[2] for p in ps if p[1] not in SESSION_KINDS) for h, ps in procs.items()}
    return {"hosts": len(hosts), "hosts_running": len(up),
            "steady_processes_per_host": round(sum(v["count"] for k, v in kinds.items() if k not in SESSION_KINDS)
                                               / per, 2),
            "rss_mib_per_host": per_host("rss_kib", False), "pss_mib_per_host": per_host("pss_kib", False),
            "rss_mib_max_host": round(max(steady.values() or [0]) / 1024, 1),
            "session_rss_mib_per_host": per_host("rss_kib", True),
            "session_pss_mib_per_host": per_host("pss_kib", True),
            "by_process": {k: {"count": v["count"], "rss_mib_each": round(v["rss_kib"] / v["count"] / 1024, 1),
                               "pss_mib_each": round(v["pss_kib"] / v["count"] / 1024, 1)}
                           for k, v in sorted(kinds.items())}}


def _cpu_ticks(procs):
    ticks = {}
    for ps in procs.values():
        for pid, what, _rss, _pss in ps:
            try:
                with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                ticks[pid] = (what, int(fields[11]) + int(fields[12]))
            except (OSError, IndexError, ValueError):
                pass
    return ticks


def idle_cpu(out_dir, seconds=10.0):
    """CPU the lab's hosts burn on their own (no Ansible run), in % of one CPU over ``seconds``: in all and by
    process kind (the failover agents ping every 0.25 s, wireguard-go sends the standby entries' keepalives)."""
    hosts = list(mesh_hosts(read(out_dir)))
    before, start = _cpu_ticks(host_processes(hosts)), time.monotonic()
    time.sleep(seconds)
    after, elapsed = _cpu_ticks(host_processes(hosts)), time.monotonic() - start
    hertz = os.sysconf("SC_CLK_TCK")
    kinds = {}
    for pid, (what, ticks) in after.items():
        if pid in before:
            kinds[what] = kinds.get(what, 0.0) + (ticks - before[pid][1]) / hertz / elapsed * 100
    return {"total_pct": round(sum(kinds.values()), 1), "by_process": {k: round(v, 1) for k, v in sorted(kinds.items())}}


def mem_available_mib():
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


def mesh_ip(out_dir, host):
    with open(os.path.join(out_dir, ".wiremesh", "mesh.state.json"), encoding="utf-8") as handle:
        return json.load(handle)["nodes"][host]["mesh_ip"]


def ping(out_dir, count=3, deadline=20):
    """The NAT'd host and the first host ping each other over the mesh: {"a->b": replies received, of count}.
    Each ping waits up to ``deadline`` seconds for its replies (a fresh mesh may take a few seconds for its first
    handshakes)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import labkit  # pylint: disable=import-outside-toplevel
    data = read(out_dir)
    hosts = list(mesh_hosts(data))
    root = data["all"]["vars"]["lab_root"]
    first, nat = hosts[0], hosts[-1]
    result = {}
    for src, dst in ((nat, first), (first, nat)):
        argv = labkit.host_argv(root, src, "ping", "-n", "-q", "-c", str(count), "-i", "0.3", "-w", str(deadline),
                                mesh_ip(out_dir, dst))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=deadline + 30, check=False)
        result["%s->%s" % (src, dst)] = labkit.ping_counts(done.stdout)[1]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("inventory", help="write the inventory of N hosts; prints its folder")
    gen.add_argument("count", type=int, metavar="N")
    gen.add_argument("--out", help="folder (default .lab/scale-N)")
    chk = sub.add_parser("ping", help="the NAT'd host and the first host ping each other over the mesh")
    chk.add_argument("dir")
    mem = sub.add_parser("memory", help="memory of the lab's hosts (JSON)")
    mem.add_argument("--brief", action="store_true", help="one line")
    mem.add_argument("dir")
    cpu = sub.add_parser("cpu", help="CPU the lab's hosts burn on their own over 10 s (JSON)")
    cpu.add_argument("dir")
    args = parser.parse_args(argv)
    if args.cmd == "inventory":
        try:
            print(write(args.count, args.out))
        except ValueError as exc:
            parser.error(str(exc))
        return 0
    if args.cmd == "memory":
        mem = memory(args.dir)
        if args.brief:
            print("memory per lab host: RSS %.1f MiB, PSS %.1f MiB (%g processes: init, sshd, wireguard-go, failover "
                  "agent; %d of %d hosts running)" % (mem["rss_mib_per_host"], mem["pss_mib_per_host"],
                                                      mem["steady_processes_per_host"], mem["hosts_running"],
                                                      mem["hosts"]))
        else:
            print(json.dumps(mem, indent=1))
        return 0
    if args.cmd == "cpu":
        print(json.dumps(idle_cpu(args.dir), indent=1))
        return 0
    result = ping(args.dir)
    print(" ".join("%s %d/3" % item for item in result.items()))
    return 0 if all(result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
