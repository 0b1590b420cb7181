"""The lab's pure part: reading and validating SPEC, the plan of namespaces/links/addresses, names, MACs, nft
rules. No side effects; unit-tested directly."""
import hashlib
import ipaddress
import json
import os
import re
import sys

SYSTEM_DIRS = ("/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp",
               "/usr", "/var/lib", "/var/log", "/var/run")
NFT_TABLE = "wiremesh_lab"
LAB_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


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


def load_spec(path):
    """SPEC from a JSON file, or from stdin for '-'."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read SPEC {path}: {exc}")


def neighbour_room(nodes, current):
    """The kernel's ARP-table limits a lab of these nodes needs: {"gc_thresh2": n, "gc_thresh3": n}, never below
    ``current``. The table and its limits are one for all network namespaces (kernel default: soft 512, hard
    1,024 entries); each node may hold an entry for every other node on its network, so 100 hosts on one network
    need 9,900. Past the hard limit sends fail with ENOBUFS ("neighbor table overflow!") and WireGuard
    handshakes are lost at random."""
    members = {}
    for node in nodes:
        for i in node["interfaces"]:
            members[i["network"]] = members.get(i["network"], 0) + 1
    pairs = sum(n * (n - 1) for n in members.values())
    return {"gc_thresh2": max(current.get("gc_thresh2", 0), 512 + pairs),
            "gc_thresh3": max(current.get("gc_thresh3", 0), 1024 + pairs)}


def overlaps(nodes, networks):
    """Lab interface addresses that fall into one of the given (root namespace) networks."""
    return [f"{n['name']} {i['ifname']} {i['address']} overlaps {net}" for n in nodes for i in n["interfaces"]
            for net in networks if ipaddress.IPv4Interface(i["address"]).network.overlaps(net)]
