"""Test helpers: deterministic fake keys and a cryptokey-routing simulator over rendered configs."""

import base64
import hashlib
import ipaddress

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import wgconf


def key(name):
    """A valid-looking WireGuard public key derived from a name (tests never need real key pairs)."""
    return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


def peer_ini(plan, name):
    """Render what an external peer must configure (its view of the mesh) as INI."""
    peer = [p for p in plan.spec.peers if p.name == name][0]
    entries = plan.to_dict()["peers"][name]
    return wgconf.render({"interface": {"address": [str(n) for n in peer.allowed_ips]}, "peers": entries})


def mesh_inis(plan):
    inis = {name: plan.node_ini(name) for name in plan.nodes}
    inis.update({p.name: peer_ini(plan, p.name) for p in plan.spec.peers})
    return inis


def node(name, location, endpoint=None, private_ips=(), **extra):
    data = {"name": name, "location": location, "public_key": key(name), "private_ips": list(private_ips)}
    if endpoint:
        data["endpoint"] = endpoint
    data.update(extra)
    return data


class Net:
    """The mesh as the rendered INI files describe it, for routing checks."""

    def __init__(self, plan, ini_by_node):
        self.plan = plan
        self.by_key = {}
        self.configs = {}
        keys = {m.name: m.public_key for m in list(plan.spec.nodes) + list(plan.spec.peers)}
        for name, text in ini_by_node.items():
            self.configs[name] = wgconf.parse(text)
            self.by_key[keys[name]] = name
        self.addresses = {name: ipaddress.ip_interface(cfg["interface"]["address"][0]).ip
                          for name, cfg in self.configs.items()}
        # cross granularity: routes over a private network, and who owns which private address
        data = plan.to_dict()["nodes"]
        self.routes = {name: [(ipaddress.ip_network(r["to"]), ipaddress.ip_address(r["via"]))
                              for r in data[name]["routes"]] for name in data}
        self.private_owner = {iface.ip: n.name for n in plan.spec.nodes for iface in n.private_ips}

    def entries(self, name):
        for peer in self.configs[name]["peers"]:
            yield peer, [ipaddress.ip_network(a) for a in peer.get("allowedips", [])]

    def entry_for(self, name, peer_name):
        for peer, nets in self.entries(name):
            if self.by_key.get(peer["publickey"]) == peer_name:
                return peer, nets
        return None, None

    def overlapping(self, name):
        nets = [(n, p["publickey"]) for p, ns in self.entries(name) for n in ns]
        nets += [(n, "via %s" % via) for n, via in self.routes.get(name, [])]
        found = []
        for i, (a, ka) in enumerate(nets):
            for b, kb in nets[i + 1:]:
                if a.version == b.version and a.overlaps(b):
                    found.append((str(a), str(b)))
        return found

    def next_hop(self, name, dst):
        """(peer entry or None, network, private next hop or None) by longest prefix."""
        best = None
        for peer, nets in self.entries(name):
            for net in nets:
                if dst in net and (best is None or net.prefixlen > best[1].prefixlen):
                    best = (peer, net, None)
        for net, via in self.routes.get(name, []):
            if dst in net and (best is None or net.prefixlen > best[1].prefixlen):
                best = (None, net, self.private_owner[via])
        return best

    def link_up(self, a, b):
        """A handshake can happen when at least one side knows an endpoint for the other."""
        pa = self.entry_for(a, b)[0]
        pb = self.entry_for(b, a)[0]
        if pa is None or pb is None:
            return False
        return bool(pa.get("endpoint") or pb.get("endpoint"))

    def route(self, src, dst_name, max_hops=4, dst=None, src_ip=None):
        """Follow cryptokey routing from src to dst's mesh IP (or ``dst``, an address of dst's, like one in its
        extra CIDRs) with src's mesh IP (or ``src_ip``) as source; return the path or raise AssertionError."""
        dst = self.addresses[dst_name] if dst is None else dst
        src_ip = self.addresses[src] if src_ip is None else src_ip
        path = [src]
        here = src
        while here != dst_name:
            assert len(path) <= max_hops, "routing loop %s" % path
            hop = self.next_hop(here, dst)
            assert hop is not None, "%s has no route to %s (%s)" % (here, dst_name, dst)
            if hop[2] is not None:          # plain routing over a shared private network: no WireGuard
                path.append(hop[2])
                here = hop[2]
                continue
            nxt = self.by_key.get(hop[0]["publickey"])
            assert nxt is not None, "%s routes %s to an unknown key" % (here, dst)
            assert self.link_up(here, nxt), "no handshake possible between %s and %s" % (here, nxt)
            back, nets = self.entry_for(nxt, here)
            assert any(src_ip in n for n in nets), \
                "%s drops %s's packets from %s (source not in AllowedIPs of %s)" % (nxt, src, src_ip, here)
            path.append(nxt)
            here = nxt
        return path


def assert_routes_everything(plan):
    """No rendered config (nodes' and external peers') has overlapping AllowedIPs, so no address is given to two
    peers, and every node routes to every node and peer, and every peer to every node (peers do not talk to
    each other). Returns the Net."""
    net = Net(plan, mesh_inis(plan))
    for src in net.configs:
        assert net.overlapping(src) == [], src
        for dst in net.configs:
            if src in plan.nodes or dst in plan.nodes:
                net.route(src, dst)
    return net


def lab_nodes():
    """The lab's four mesh hosts (inventories/lab) as planner input."""
    return [
        node("do1", "do-fra1", "203.0.113.11", ["10.110.0.11/20"]),
        node("do2", "do-fra1", "203.0.113.12", ["10.110.0.12/20"]),
        node("aws1", "aws-eu-central-1", "203.0.113.21", ["172.31.16.21/20"]),
        node("edge", "edge", None, ["192.168.50.10/24"]),
    ]
