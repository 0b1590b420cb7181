"""wiremesh-lab: build, repair and tear down a wiremesh network-namespace lab (python3 stdlib only).

  wiremesh-lab up SPEC          build the lab or repair what is missing (idempotent)
  wiremesh-lab down SPEC        tear it down, also when half-built or gone (SPEC may hold only lab_name)
  wiremesh-lab down --lab-name NAME [--lab-root DIR]
  wiremesh-lab status SPEC      report what exists and runs
  wiremesh-lab check            are the commands the lab needs installed? (exit 1 if not)
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
import glob
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root",
       "PYTHONDONTWRITEBYTECODE": "1"}
SELF = os.path.realpath(__file__)
INIT = os.path.join(os.path.dirname(SELF), "wiremesh_lab_init.py")
TOOLS = ("ip", "sshd", "socat", "unshare", "nft", "ssh-keygen", "ssh-keyscan", "mount", "umount", "sysctl")
OVERLAYS = (("/etc", "etc"), ("/root", "root"), ("/var/lib", "var-lib"), ("/var/log", "var-log"))
SYSTEM_DIRS = ("/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp",
               "/usr", "/var/lib", "/var/log", "/var/run")
NFT_TABLE = "wiremesh_lab"
LAB_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
ETC_HOSTS = ("127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


class LabError(Exception):
    pass


# -- pure helpers (unit-tested) -------------------------------------------------------------------
def is_within(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def check_lab_root(root):
    """Validate lab_root; return the directory a host hides (a tmpfs goes over it)."""
    if not isinstance(root, str) or not re.match(r"^/[A-Za-z0-9/_.-]+$", root) or os.path.normpath(root) != root:
        raise LabError(f"lab_root {root!r} must be a normalized absolute path made of letters, digits and /_.-")
    hide = os.path.dirname(root)
    if hide == "/" or any(is_within(root, d) or is_within(d, hide) for d in SYSTEM_DIRS):
        raise LabError(f"lab_root {root!r} must lie two levels below / and outside {', '.join(SYSTEM_DIRS)} "
                       f"(hosts overlay or hide those; its parent {hide} is hidden inside every host)")
    return hide


def ifname(prefix, name, suffix=""):
    """An interface name of at most 15 characters (long names are replaced by a hash)."""
    full = f"{prefix}{name}{suffix}"
    if len(full) <= 15:
        return full
    return prefix + hashlib.sha1(name.encode()).hexdigest()[:15 - len(prefix) - len(suffix)] + suffix


def mac(*parts):
    """A stable, locally administered unicast MAC for an interface (a rebuilt router keeps its MAC,
    so the neighbours' ARP caches stay right)."""
    digest = hashlib.sha1("/".join(parts).encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02,) + tuple(digest[:5]))


def nft_rules(out_if):
    """nftables table of a masquerading router: SNAT out of out_if, nothing new comes in through it."""
    body = ("\tchain lab_postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            f'\t\toifname "{out_if}" masquerade\n\t}}\n'
            "\tchain lab_forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
            f'\t\tiifname "{out_if}" ct state established,related accept\n\t\tiifname "{out_if}" drop\n\t}}\n')
    tag = "wiremesh-lab " + hashlib.sha256(body.encode()).hexdigest()[:12]
    return tag, f'table ip {NFT_TABLE} {{\n\tcomment "{tag}"\n{body}}}\n'


def mountpoints(mountinfo_text):
    """Mount points listed in a /proc/*/mountinfo text."""
    points = []
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def plan(spec):
    """Validate SPEC and turn it into namespaces, bridges and nodes with numbered interfaces."""
    if not isinstance(spec, dict):
        raise LabError("SPEC must be a JSON object")
    lab = spec.get("lab_name")
    if not isinstance(lab, str) or not LAB_RE.match(lab):
        raise LabError(f"lab_name {lab!r} must match {LAB_RE.pattern}")
    root = spec.get("lab_root") or f"/srv/wiremesh-lab/{lab}"
    hide = check_lab_root(root)
    networks = spec.get("networks") or {}
    if isinstance(networks, list):
        networks = {name: {} for name in networks}
    if not isinstance(networks, dict) or not all(isinstance(n, str) and NAME_RE.match(n) for n in networks):
        raise LabError("networks must map names (letters, digits, _.-) to {}")
    bridges = {net: ifname("br-", net) for net in networks}
    seen, nodes = {}, []

    def interfaces(owner, kind, name, raw_list):
        if not isinstance(raw_list, list) or not all(isinstance(r, dict) for r in raw_list):
            raise LabError(f"{owner}: interfaces (lab_interfaces) must be a list of {{network, address[, gateway]}}")
        result = []
        for idx, raw in enumerate(raw_list):
            where = f"{owner} eth{idx}"
            if raw.get("network") not in networks:
                raise LabError(f"{where}: unknown network {raw.get('network')!r} (not in lab_networks)")
            try:
                addr = ipaddress.IPv4Interface(raw.get("address"))
            except (ValueError, TypeError) as exc:
                raise LabError(f"{where}: address {raw.get('address')!r} is not an IPv4 address/prefix: {exc}")
            edges = (addr.network.network_address, addr.network.broadcast_address)
            if addr.network.prefixlen == 32 or addr.ip in edges:
                raise LabError(f"{where}: {addr} is not a usable host address")
            if str(addr.ip) in seen:
                raise LabError(f"{where}: {addr.ip} is also used by {seen[str(addr.ip)]}")
            seen[str(addr.ip)] = where
            result.append({"ifname": f"eth{idx}", "network": raw["network"], "bridge": bridges[raw["network"]],
                           "peer": ifname(kind[0] + "-", name, f"-{idx}"), "address": addr.with_prefixlen,
                           "mac": mac(lab, kind, name, f"eth{idx}"),
                           "gateway": raw.get("gateway")})
        return result

    def gateway(owner, value, candidates):
        if value is None:
            return None
        try:
            gw = ipaddress.IPv4Address(value)
        except (ValueError, TypeError):
            raise LabError(f"{owner}: gateway {value!r} is not an IPv4 address")
        if not any(gw in ipaddress.IPv4Interface(i["address"]).network and
                   str(gw) != i["address"].split("/")[0] for i in candidates):
            raise LabError(f"{owner}: gateway {gw} is not on the subnet of {'its' if len(candidates) == 1 else 'any'}"
                           " interface")
        return str(gw)

    routers = spec.get("routers") or {}
    if not isinstance(routers, dict):
        raise LabError("routers must map names to {interfaces, gateway, masquerade_out}")
    for name, router in routers.items():
        if not isinstance(name, str) or not NAME_RE.match(name) or not isinstance(router, dict):
            raise LabError(f"router {name!r}: bad name or definition")
        ifs = interfaces(f"router {name}", "router", name, router.get("interfaces") or [])
        masq = router.get("masquerade_out")
        out_if = next((i["ifname"] for i in ifs if i["network"] == masq), None)
        if masq is not None and out_if is None:
            raise LabError(f"router {name}: masquerade_out {masq!r} is not one of its networks")
        nodes.append({"kind": "router", "name": name, "ns": f"wm-{lab}-{name}", "interfaces": ifs,
                      "gateway": gateway(f"router {name}", router.get("gateway"), ifs), "masquerade": out_if})
    hosts = spec.get("hosts") or []
    if not isinstance(hosts, list):
        raise LabError("hosts must be a list of {name, interfaces}")
    for host in hosts:
        name = host.get("name") if isinstance(host, dict) else None
        if not isinstance(name, str) or not HOST_RE.match(name):
            raise LabError(f"host {name!r}: not a valid host name")
        ifs = interfaces(f"host {name}", "host", name, host.get("interfaces"))
        gws = [(i, i["gateway"]) for i in ifs if i.get("gateway") is not None]
        if len(gws) > 1:
            raise LabError(f"host {name}: only one interface may have a gateway")
        gw = gateway(f"host {name} {gws[0][0]['ifname']}", gws[0][1], [gws[0][0]]) if gws else None
        nodes.append({"kind": "host", "name": name, "ns": f"wm-{name}", "interfaces": ifs, "gateway": gw,
                      "masquerade": None})
    names = [n["ns"] for n in nodes] + [f"wm-{lab}-switch"]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise LabError(f"namespace names collide: {', '.join(dups)}")
    return {"lab_name": lab, "lab_root": root, "hide": hide, "mark": f"wiremesh-lab:{lab}",
            "switch": f"wm-{lab}-switch", "bridges": bridges, "nodes": nodes,
            "hosts": [n["name"] for n in nodes if n["kind"] == "host"],
            "wait_timeout": float(spec.get("wait_timeout") or 60)}


def overlaps(nodes, networks):
    """Lab interface addresses that fall into one of the given (root namespace) networks."""
    return [f"{n['name']} {i['ifname']} {i['address']} overlaps {net}" for n in nodes for i in n["interfaces"]
            for net in networks if ipaddress.IPv4Interface(i["address"]).network.overlaps(net)]


# -- system helpers ---------------------------------------------------------------------------------
def sh(argv, check=True, input=None, timeout=60):
    try:
        res = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=ENV, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}")
    if check and res.returncode:
        raise LabError(f"{' '.join(argv)}: exit {res.returncode}: {(res.stderr or res.stdout).strip()}")
    return res


def links(ns):
    """{ifname: link} with addresses and details, from `ip -j -d addr show` in namespace ns."""
    out = sh(["ip", "-n", ns, "-j", "-d", "addr", "show"]).stdout
    return {link["ifname"]: link for link in (json.loads(out) if out.strip() else [])}


def netns_list():
    return sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []


def ns_ident(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def netns_pids(ident):
    """PIDs of the (non-zombie) processes living in the network namespace ident."""
    if ident is None or ident in (ns_ident("/proc/1/ns/net"), ns_ident("/proc/self/ns/net")):
        return []
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and ns_ident(f"/proc/{p}/ns/net") == ident]


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tagged_pids(tag):
    """PIDs whose environment holds tag (the lab's inits pass WIREMESH_LAB=<lab>/<host> on to their units)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if any(v.startswith(tag) for v in handle.read().split(b"\0")):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def kill_all(ident, what, timeout=10):
    """SIGKILL every process of a network namespace and wait until they are gone."""
    deadline = time.monotonic() + timeout
    while True:
        pids = netns_pids(ident)
        if not pids:
            return
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} in {what} survive SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def write_if_changed(path, text, mode=0o644):
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except OSError:
        pass
    tmp = f"{path}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


class Lab:
    def __init__(self, p):
        self.p, self.actions = p, []
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
                     "/usr/bin/python3", "-I", SELF, "boot", "--lab-name", self.p["lab_name"],
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
        for host, pid in inits.items():  # graceful first: the init stops its units (wg-quick down ...)
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
            self.did(f"host {host} (init {pid}) stopped")
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in inits.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
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

    def status(self):
        existing = netns_list()
        spaces = {ns: ns in existing for ns in [self.p["switch"]] + [n["ns"] for n in self.p["nodes"]]}
        hosts = {h: {"init_pid": self.init_pid(h), "running": self.running(h)} for h in self.p["hosts"]}
        healthy = all(spaces.values()) and all(v["running"] for v in hosts.values())
        return {"healthy": healthy, "namespaces": spaces, "hosts": hosts}


def check_tools():
    missing = [t for t in TOOLS if not shutil.which(t, path=ENV["PATH"])] + \
        ([] if os.path.exists("/usr/bin/python3") else ["/usr/bin/python3"])
    if missing:
        raise LabError(f"the lab needs these commands, missing here: {', '.join(missing)} "
                       "(install the Debian packages of apt-packages.txt)")
    if os.geteuid() != 0:
        raise LabError("the lab must be built as root (network namespaces, mounts)")


# -- boot: runs as `ip netns exec wm-HOST unshare --mount --uts --propagation private -- ... boot` ----------
def boot(lab, root, host):
    hd, hide = f"{root}/hosts/{host}", check_lab_root(root)
    for target, key in OVERLAYS:
        upper, work = f"{hd}/upper/{key}", f"{hd}/work/{key}"
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        sh(["mount", "-t", "overlay", f"wiremesh-lab-{host}", "-o",
            f"lowerdir={target},upperdir={upper},workdir={work}", target])
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:  # e.g. /run/netns/*: pins other hosts
        for point in sorted(mountpoints(handle.read()), reverse=True):
            if point.startswith("/run/"):
                sh(["umount", "-l", point], check=False)
    sh(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "run", "/run"])
    sh(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmp", "/tmp"])
    for path, mode in (("/run/sshd", 0o755), ("/run/lock", 0o1777)):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
    socket.sethostname(host)
    write_if_changed("/etc/hostname", f"{host}\n")
    write_if_changed("/etc/hosts", ETC_HOSTS.format(host=host))
    if not os.path.exists(f"{hd}/upper/etc/machine-id"):
        write_if_changed("/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    if not os.path.exists(f"{hd}/upper/etc/ssh/ssh_host_ed25519_key"):  # first boot: own host keys
        for path in glob.glob("/etc/ssh/ssh_host_*"):
            os.unlink(path)
        sh(["ssh-keygen", "-A"])
    os.makedirs("/root/.ssh", mode=0o700, exist_ok=True)
    os.chmod("/root/.ssh", 0o700)
    with open(f"{root}/ssh/id_ed25519.pub", encoding="utf-8") as handle:
        write_if_changed("/root/.ssh/authorized_keys", handle.read(), 0o600)
    write_if_changed(f"{hd}/init.pid", f"{os.getpid()}\n")
    sh(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64k", "wiremesh-lab-hidden", hide])
    os.execve("/usr/bin/python3", ["/usr/bin/python3", INIT], dict(ENV, WIREMESH_LAB=f"{lab}/{host}"))


def load_spec(path):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read SPEC {path}: {exc}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="wiremesh-lab", description="wiremesh network-namespace lab")
    parser.add_argument("cmd", choices=["up", "down", "status", "check", "boot"])
    parser.add_argument("spec", nargs="?", help="SPEC.json or - (stdin)")
    parser.add_argument("--lab-name")
    parser.add_argument("--lab-root")
    parser.add_argument("--host")
    args = parser.parse_args(argv)
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
        else:
            parser.error(f"{args.cmd} needs SPEC (or, for down, --lab-name)")
        if args.cmd == "down":  # down needs only the name and root: a broken inventory must not block it
            spec = {"lab_name": spec.get("lab_name"), "lab_root": spec.get("lab_root")}
        lab = Lab(plan(spec))
        lock = os.open(f"/run/lock/wiremesh-lab-{lab.p['lab_name']}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = getattr(lab, args.cmd)()
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
