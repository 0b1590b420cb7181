"""wiremesh-lab: build, repair and tear down a wiremesh network-namespace lab (python3 stdlib only).

  wiremesh-lab up SPEC          build the lab or repair what is missing (idempotent)
  wiremesh-lab down SPEC        tear it down, also when half-built or gone (SPEC may hold only lab_name)
  wiremesh-lab down --lab-name NAME [--lab-root DIR]
  wiremesh-lab status SPEC      report what exists and runs
  wiremesh-lab restart (SPEC | --lab-root DIR) --host HOST
                                reboot one host: its init stops its units, its network namespace is deleted,
                                then `up` rebuilds it and boots the host from its persistent layers (same
                                /etc: same keys and config); without SPEC it uses DIR/spec.json, the SPEC of the
                                last `up`
  wiremesh-lab check            are the commands the lab needs installed? (exit 1 if not)
  wiremesh-lab exec LAB_ROOT HOST -- COMMAND...   run COMMAND inside a lab host (net, mount, uts namespaces)
  wiremesh-lab boot --lab-name NAME --lab-root DIR --host HOST   (internal: a host's first process)

SPEC is a JSON file, or '-' for stdin:
  {"lab_name": "lab", "lab_root": "/srv/wiremesh-lab/lab", "wait_timeout": 60,
   "networks": {"cloud": {}, ...},
   "routers": {"edge-nat": {"interfaces": [{"network": "isp", "address": "198.51.100.2/24"}, ...],
                            "gateway": "198.51.100.1", "masquerade_out": "isp"}, ...},
   "hosts": [{"name": "do1", "interfaces": [{"network": "cloud", "address": "203.0.113.11/24",
                                             "gateway": "203.0.113.1"}, ...]}, ...]}
Every command prints one JSON object with "changed" (and "failed"/"msg" on errors, exit 1).
Namespaces: wm-<host>, wm-<lab>-<router>, wm-<lab>-switch (one bridge per network; every interface is a
veth whose peer sits on that bridge). Each namespace carries the alias "wiremesh-lab:<lab>" on its lo.
"""
import argparse
import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

from wiremesh_lab_boot import boot
from wiremesh_lab_spec import (NFT_TABLE, LabError, is_within, load_spec, mountpoints, neighbour_room,
                               nft_rules, overlaps, plan)
from wiremesh_lab_sys import (ENV, alive, check_tools, host_exec, kill_all, links, netns_list, ns_ident, sh,
                              tagged_pids, write_if_changed)

SELF = os.path.realpath(__file__)


class Lab:
    def __init__(self, p, spec=None):
        self.p, self.actions, self.spec = p, [], spec
        self.root = p["lab_root"]

    def did(self, message):
        self.actions.append(message)

    def hostdir(self, host):
        return f"{self.root}/hosts/{host}"

    def marker(self, ns):
        try:
            return links(ns).get("lo", {}).get("ifalias")
        except LabError:
            return None

    def ours(self):
        return [ns for ns in netns_list() if ns.startswith("wm-") and self.marker(ns) == self.p["mark"]]

    def init_pid(self, host):
        """PID of host's init (or its boot) when it runs, checked by its environment, else None."""
        try:
            with open(f"{self.hostdir(host)}/init.pid", encoding="utf-8") as handle:
                pid = int(handle.read().strip())
            with open(f"/proc/{pid}/environ", "rb") as handle:
                env = handle.read().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if f"WIREMESH_LAB={self.p['lab_name']}/{host}".encode() in env and alive(pid) else None

    def running(self, host):
        """host's init runs, in host's current namespace."""
        pid = self.init_pid(host)
        return bool(pid) and ns_ident(f"/proc/{pid}/ns/net") == ns_ident(f"/run/netns/wm-{host}")

    # -- up ------------------------------------------------------------------------------------
    def ensure_ns(self, ns, existing):
        if ns in existing:
            mark = self.marker(ns)
            if mark != self.p["mark"]:
                raise LabError(f"namespace {ns} exists but belongs to {mark or 'no wiremesh lab'}: "
                               f"remove it (ip netns delete {ns}) or rename this lab's hosts")
            return
        sh(["ip", "netns", "add", ns])
        sh(["ip", "-n", ns, "link", "set", "lo", "alias", self.p["mark"]])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        if ns == self.p["switch"]:  # a switch has no L3 at all
            for key in ("all", "default"):
                sh(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        self.did(f"namespace {ns} created")

    def ensure_neighbour_room(self):
        """Raise this machine's ARP-table limits (one table for every namespace) to what the lab needs; never
        lowers them, and `down` leaves them (another lab may need them)."""
        for family in ("ipv4", "ipv6"):
            base = f"/proc/sys/net/{family}/neigh/default"
            current = {}
            for key in ("gc_thresh2", "gc_thresh3"):
                with open(f"{base}/{key}", encoding="ascii") as handle:
                    current[key] = int(handle.read())
            for key, value in neighbour_room(self.p["nodes"], current).items():
                if value != current[key]:
                    with open(f"{base}/{key}", "w", encoding="ascii") as handle:
                        handle.write(f"{value}\n")
                    self.did(f"net.{family}.neigh.default.{key} {current[key]} -> {value}")

    def ensure_switch(self):
        sw, have = self.p["switch"], links(self.p["switch"])
        for net, br in self.p["bridges"].items():
            if br not in have:
                sh(["ip", "-n", sw, "link", "add", br, "type", "bridge"])
                sh(["ip", "-n", sw, "link", "set", br, "alias", f"network {net}"])
                self.did(f"bridge {br} for network {net}")
            if br not in have or "UP" not in have[br]["flags"]:
                sh(["ip", "-n", sw, "link", "set", br, "up"])
        wanted = set(self.p["bridges"].values()) | {i["peer"] for n in self.p["nodes"] for i in n["interfaces"]}
        for name, link in have.items():
            if name != "lo" and name not in wanted:
                sh(["ip", "-n", sw, "link", "del", name])
                self.did(f"stale {sw}:{name} removed")

    def ensure_node(self, node):
        ns, sw = node["ns"], self.p["switch"]
        have, swl = links(ns), links(sw)
        want = {i["ifname"] for i in node["interfaces"]}
        for name, link in have.items():
            if re.match(r"^eth\d+$", name) and name not in want and link.get("linkinfo", {}).get("info_kind") == "veth":
                sh(["ip", "-n", ns, "link", "del", name])
                self.did(f"stale {ns}:{name} removed")
        if "UP" not in have["lo"]["flags"]:
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        for i in node["interfaces"]:
            dev, peer = i["ifname"], i["peer"]
            link, plink = have.get(dev), swl.get(peer)
            if not (link and plink and link.get("linkinfo", {}).get("info_kind") == "veth"):
                if link:
                    sh(["ip", "-n", ns, "link", "del", dev])
                if plink:
                    sh(["ip", "-n", sw, "link", "del", peer])
                sh(["ip", "-n", sw, "link", "add", peer, "type", "veth", "peer", "name", dev, "address", i["mac"],
                    "netns", ns])
                self.did(f"{ns}:{dev} <-> {sw}:{peer} ({i['network']})")
                link, plink = {"flags": [], "addr_info": []}, {"flags": []}
            if plink.get("master") != i["bridge"]:
                sh(["ip", "-n", sw, "link", "set", peer, "master", i["bridge"]])
            for space, name, flags in ((sw, peer, plink["flags"]), (ns, dev, link["flags"])):
                if "UP" not in flags:
                    sh(["ip", "-n", space, "link", "set", name, "up"])
            current = {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]
                       if a.get("family") == "inet" and a.get("scope") == "global"}
            if i["address"] not in current:
                sh(["ip", "-n", ns, "addr", "add", i["address"], "brd", "+", "dev", dev])
                self.did(f"{ns}:{dev} address {i['address']}")
            for extra in sorted(current - {i["address"]}):
                sh(["ip", "-n", ns, "addr", "del", extra, "dev", dev])
                self.did(f"{ns}:{dev} stale address {extra} removed")
        if node["gateway"]:
            out = sh(["ip", "-n", ns, "-j", "-4", "route", "show", "default"]).stdout
            if not any(r.get("gateway") == node["gateway"] for r in (json.loads(out) if out.strip() else [])):
                sh(["ip", "-n", ns, "route", "replace", "default", "via", node["gateway"]])
                self.did(f"{ns}: default via {node['gateway']}")
        if node["kind"] == "router":
            self.ensure_router(node)

    def ensure_router(self, node):
        ns = node["ns"]
        run = ["ip", "netns", "exec", ns]
        if sh(run + ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() != "1":
            sh(run + ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            self.did(f"{ns}: ip_forward=1")
        listed = sh(run + ["nft", "list", "table", "ip", NFT_TABLE], check=False)
        if node["masquerade"]:
            tag, rules = nft_rules(node["masquerade"])
            if listed.returncode or f'comment "{tag}"' not in listed.stdout:
                sh(run + ["nft", "-f", "-"], input=f"table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\n{rules}")
                self.did(f"{ns}: masquerade out of {node['masquerade']}, no new connections in")
        elif listed.returncode == 0:
            sh(run + ["nft", "delete", "table", "ip", NFT_TABLE])
            self.did(f"{ns}: nftables table removed")

    def ensure_key(self):
        key = f"{self.root}/ssh/id_ed25519"
        if not os.path.exists(key):
            sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"wiremesh-lab-{self.p['lab_name']}", "-f", key])
            self.did(f"SSH key {key}")
            return True
        if not os.path.exists(key + ".pub"):
            write_if_changed(key + ".pub", sh(["ssh-keygen", "-y", "-f", key]).stdout)
            self.did(f"SSH public key {key}.pub")
        return False

    def boot(self, hosts):
        """(Re)start the given hosts: kill what is left of them, start their init, wait for init.pid."""
        procs = {}
        for host in hosts:
            ns, hd = f"wm-{host}", self.hostdir(host)
            old = self.init_pid(host)
            for ident in (ns_ident(f"/proc/{old}/ns/net") if old else None, ns_ident(f"/run/netns/{ns}")):
                kill_all(ident, f"host {host}")
            os.makedirs(hd, mode=0o700, exist_ok=True)
            if os.path.exists(f"{hd}/init.pid"):
                os.unlink(f"{hd}/init.pid")
            with open(f"{hd}/console.log", "ab") as console:
                procs[host] = subprocess.Popen(
                    ["ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--propagation", "private", "--",
                     "/usr/bin/python3", "-E", "-s", SELF, "boot", "--lab-name", self.p["lab_name"],
                     "--lab-root", self.root, "--host", host],
                    stdin=subprocess.DEVNULL, stdout=console, stderr=console, start_new_session=True,
                    env=dict(ENV, WIREMESH_LAB=f"{self.p['lab_name']}/{host}"))
            self.did(f"host {host} booted")
        deadline = time.monotonic() + self.p["wait_timeout"]
        for host, proc in procs.items():
            while self.init_pid(host) != proc.pid:
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(f"{self.hostdir(host)}/console.log", encoding="utf-8", errors="replace") as handle:
                        log = "".join(handle.readlines()[-15:])
                    raise LabError(f"host {host} did not boot (exit {proc.poll()}); console.log:\n{log}")
                time.sleep(0.05)

    def scan_keys(self):
        """Wait until every host's sshd answers; return {host: 'ssh-ed25519 KEY'}."""
        keys, deadline = {}, time.monotonic() + self.p["wait_timeout"]
        while True:
            procs = {h: subprocess.Popen(["ip", "netns", "exec", f"wm-{h}", "ssh-keyscan", "-T", "3", "-t", "ed25519",
                                          "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                         env=ENV) for h in self.p["hosts"] if h not in keys}
            for host, proc in procs.items():
                for line in proc.communicate(timeout=30)[0].splitlines():
                    fields = line.split()
                    if len(fields) == 3 and fields[1] == "ssh-ed25519":
                        keys[host] = f"{fields[1]} {fields[2]}"
            missing = [h for h in self.p["hosts"] if h not in keys]
            if not missing:
                return keys
            if time.monotonic() > deadline:
                raise LabError(f"sshd of {', '.join(missing)} not answering after {self.p['wait_timeout']:g} s; see "
                               f"{self.root}/hosts/HOST/console.log and upper/var-log/wiremesh-lab/sshd.log")
            time.sleep(0.2)

    def up(self):
        check_tools()
        root_nets = [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
                     for link in json.loads(sh(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
                     for a in link.get("addr_info", []) if link.get("ifname") != "lo"]
        clash = overlaps(self.p["nodes"], root_nets)
        if clash:
            raise LabError("lab addresses overlap this machine's networks: " + "; ".join(clash))
        for path, mode in ((self.root, 0o755), (f"{self.root}/hosts", 0o700), (f"{self.root}/ssh", 0o700)):
            if not os.path.isdir(path):
                os.makedirs(path, mode=mode)
                self.did(f"directory {path}")
        if self.spec is not None:  # what `restart --lab-root` rebuilds from (bookkeeping, not a lab change)
            write_if_changed(f"{self.root}/spec.json", json.dumps(self.spec, indent=1, sort_keys=True) + "\n", 0o600)
        rekeyed = self.ensure_key()
        existing = netns_list()
        wanted = [self.p["switch"]] + [n["ns"] for n in self.p["nodes"]]
        for ns in wanted:
            self.ensure_ns(ns, existing)
        for ns in sorted(set(self.ours()) - set(wanted)):
            kill_all(ns_ident(f"/run/netns/{ns}"), ns)
            sh(["ip", "netns", "delete", ns])
            self.did(f"stale namespace {ns} deleted")
        self.ensure_switch()
        self.ensure_neighbour_room()
        for node in self.p["nodes"]:
            self.ensure_node(node)
        stale = [h for h in self.p["hosts"] if rekeyed or not self.running(h)]
        if stale:
            self.boot(stale)
        keys = self.scan_keys()
        known = "".join(f"wm-{h} {keys[h]}\n" for h in self.p["hosts"])
        if write_if_changed(f"{self.root}/ssh/known_hosts", known):
            self.did(f"{self.root}/ssh/known_hosts")
        return {"hosts": {h: {"namespace": f"wm-{h}", "init_pid": self.init_pid(h)} for h in self.p["hosts"]},
                "private_key": f"{self.root}/ssh/id_ed25519", "known_hosts": f"{self.root}/ssh/known_hosts"}

    # -- down / status -----------------------------------------------------------------------------
    def down(self):
        namespaces = self.ours()
        hosts = sorted(os.listdir(f"{self.root}/hosts")) if os.path.isdir(f"{self.root}/hosts") else []
        inits = {h: pid for h in hosts if (pid := self.init_pid(h))}
        idents = {ns_ident(f"/run/netns/{ns}") for ns in namespaces}
        strays = tagged_pids(f"WIREMESH_LAB={self.p['lab_name']}/".encode())  # also hosts whose namespace is gone
        idents |= {ns_ident(f"/proc/{pid}/ns/net") for pid in list(inits.values()) + strays} - {None}
        self.stop_inits(inits)
        for ident in idents:
            kill_all(ident, "a lab namespace")
        for ns in namespaces:
            sh(["ip", "netns", "delete", ns])
            self.did(f"namespace {ns} deleted")
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for point in sorted(mountpoints(handle.read()), reverse=True):
                if is_within(point, self.root):
                    sh(["umount", "-l", point])
                    self.did(f"unmounted {point}")
        if os.path.lexists(self.root):
            shutil.rmtree(self.root)
            self.did(f"removed {self.root}")
        deadline = time.monotonic() + 5  # best effort: let PID 1 reap the inits (they were its orphans)
        while any(os.path.exists(f"/proc/{pid}") for pid in inits.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return {}

    def stop_inits(self, inits):
        """SIGTERM the inits of {host: pid} (graceful: each stops its units, e.g. wg-quick down), wait up to 30 s."""
        for host, pid in inits.items():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
            self.did(f"host {host} (init {pid}) stopped")
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in inits.values()) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self, host):
        """Reboot one host: stop its init, kill what is left in its namespace, delete the namespace (its veths and
        their switch ports go with it), then `up` rebuilds what is missing and boots it again."""
        if host not in self.p["hosts"]:
            raise LabError(f"restart: {host!r} is not a host of lab {self.p['lab_name']} "
                           f"(hosts: {', '.join(self.p['hosts'])})")
        ns, pid = f"wm-{host}", self.init_pid(host)
        idents = {ns_ident(f"/proc/{pid}/ns/net") if pid else None, ns_ident(f"/run/netns/{ns}")} - {None}
        if pid:
            self.stop_inits({host: pid})
        for ident in idents:
            kill_all(ident, f"host {host}")
        if ns in netns_list():
            self.ensure_ns(ns, [ns])  # refuses a namespace that is not this lab's
            sh(["ip", "netns", "delete", ns])
            self.did(f"namespace {ns} deleted")
        ports = {i["peer"] for n in self.p["nodes"] if n["ns"] == ns for i in n["interfaces"]}
        deadline = time.monotonic() + 10  # the kernel frees a deleted namespace's veths asynchronously
        while self.p["switch"] in netns_list() and ports & set(links(self.p["switch"])) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.up()

    def status(self):
        existing = netns_list()
        spaces = {ns: ns in existing for ns in [self.p["switch"]] + [n["ns"] for n in self.p["nodes"]]}
        hosts = {h: {"init_pid": self.init_pid(h), "running": self.running(h)} for h in self.p["hosts"]}
        healthy = all(spaces.values()) and all(v["running"] for v in hosts.values())
        return {"healthy": healthy, "namespaces": spaces, "hosts": hosts}


def _sync(path, data, mode, check, actions):
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data and stat.S_IMODE(os.fstat(handle.fileno()).st_mode) == mode
    except FileNotFoundError:
        same = False
    if same:
        return
    actions.append(f"install {path}")
    if not check:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(tmp, path)


def install(programs, commands, lib_dir, bin_dir, check=False):
    """The lab's programs (next to this file) into lib_dir, and a command in bin_dir for each NAME=PROGRAM of
    commands; only what differs is written. One run instead of one Ansible task per file."""
    check_tools()
    here, actions = os.path.dirname(os.path.abspath(__file__)), []
    if not os.path.isdir(lib_dir):
        actions.append(f"create {lib_dir}")
        if not check:
            os.makedirs(lib_dir, 0o755)
    for name in programs:
        with open(os.path.join(here, name), "rb") as handle:
            _sync(os.path.join(lib_dir, name), handle.read(), 0o644, check, actions)
    for entry in commands:
        command, program = entry.split("=", 1)
        text = (f"#!/bin/sh\n# Installed by the wiremesh.multicloud lab role: runs {lib_dir}/{program}\n"
                f'exec /usr/bin/python3 {lib_dir}/{program} "$@"\n')
        _sync(os.path.join(bin_dir, command), text.encode(), 0o755, check, actions)
    return {"changed": bool(actions), "actions": actions}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install"]:     # wiremesh-lab install --lib DIR --bin DIR --program P... --command N=P...
        parser = argparse.ArgumentParser(prog="wiremesh-lab install")
        parser.add_argument("--lib", required=True)
        parser.add_argument("--bin", required=True)
        parser.add_argument("--program", action="append", default=[])
        parser.add_argument("--command", action="append", default=[])
        parser.add_argument("--check", action="store_true")
        args = parser.parse_args(argv[1:])
        try:
            print(json.dumps(install(args.program, args.command, args.lib, args.bin, args.check)))
        except LabError as exc:
            sys.stderr.write(f"wiremesh-lab: {exc}\n")
            return 1
        return 0
    if argv[:1] == ["exec"]:        # wiremesh-lab exec LAB_ROOT HOST -- COMMAND...
        if len(argv) < 5 or argv[3] != "--":
            sys.stderr.write("usage: wiremesh-lab exec LAB_ROOT HOST -- COMMAND [ARG...]\n")
            return 2
        try:
            host_exec(argv[1], argv[2], argv[4:])
        except LabError as exc:
            sys.stderr.write(f"wiremesh-lab: {exc}\n")
            return 1
    parser = argparse.ArgumentParser(prog="wiremesh-lab", description="wiremesh network-namespace lab")
    parser.add_argument("cmd", choices=["up", "down", "status", "restart", "check", "boot"])
    parser.add_argument("spec", nargs="?", help="SPEC.json or - (stdin)")
    parser.add_argument("--lab-name")
    parser.add_argument("--lab-root")
    parser.add_argument("--host")
    args = parser.parse_args(argv)
    if args.cmd == "restart" and not args.host:
        parser.error("restart needs --host HOST")
    started, lab = time.monotonic(), None
    try:
        if args.cmd == "boot":
            return boot(args.lab_name, args.lab_root, args.host)
        if args.cmd == "check":
            check_tools()
            print(json.dumps({"changed": False, "ok": True}))
            return 0
        if args.spec:
            spec = load_spec(args.spec)
        elif args.cmd == "down" and args.lab_name:
            spec = {"lab_name": args.lab_name, "lab_root": args.lab_root}
        elif args.cmd == "restart" and args.lab_root:
            spec = load_spec(f"{args.lab_root}/spec.json")
        else:
            parser.error(f"{args.cmd} needs SPEC (or, for down, --lab-name; for restart, --lab-root)")
        if args.cmd == "down":  # down needs only the name and root: a broken inventory must not block it
            spec = {"lab_name": spec.get("lab_name"), "lab_root": spec.get("lab_root")}
        lab = Lab(plan(spec), spec)
        lock = os.open(f"/run/lock/wiremesh-lab-{lab.p['lab_name']}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = lab.restart(args.host) if args.cmd == "restart" else getattr(lab, args.cmd)()
        result.update(changed=bool(lab.actions), actions=lab.actions, lab_name=lab.p["lab_name"],
                      lab_root=lab.root, seconds=round(time.monotonic() - started, 2))
        print(json.dumps(result, indent=1))
        return 0
    except LabError as exc:
        print(json.dumps({"changed": bool(lab and lab.actions), "failed": True, "msg": str(exc),
                          "actions": lab.actions if lab else []}))
        sys.stderr.write(f"wiremesh-lab: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
