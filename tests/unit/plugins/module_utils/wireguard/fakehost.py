"""A fake host for the wireguard helpers: answers ``wg``/``ip``/``wg-quick`` like the real tools (output formats
recorded from wireguard-tools 1.0.20210914, iproute2 6.1 and wireguard-go on Debian 12) and keeps the state
those commands change. Every call is recorded in ``calls``."""

import base64
import hashlib
import ipaddress
import json
import os

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import wgconf


def key(name):
    """A deterministic, valid-looking WireGuard key."""
    return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


def pub_of(private):
    return key("pub:" + private)


class FakePeer(object):
    def __init__(self, public_key):
        self.public_key = public_key
        self.psk = None
        self.allowed = []
        self.endpoint = None
        self.keepalive = 0
        self.handshake = 0       # survives in-place updates, lost when a peer is removed and re-added


class FakeHost(object):
    def __init__(self):
        self.calls = []           # (args, data)
        self.links = {}           # name -> {"mtu", "up", "addrs": [(iface, scope)], "routes": [(net, proto)], "wg"}
        self.fail = {}            # tuple(args prefix) -> (rc, out, err)
        self.genkeys = 0

    # -- state helpers -------------------------------------------------------------------------------------
    def add_link(self, name, private_key=None, port=51820, mtu=1420, up=True, addrs=(), routes=()):
        self.links[name] = {
            "mtu": mtu, "up": up,
            "addrs": [(ipaddress.ip_interface(a), "global") for a in addrs],
            "routes": [(ipaddress.ip_network(n, strict=False), p) for n, p in routes] if up else [],
            "wg": {"private": private_key, "port": port, "fwmark": 0, "peers": []},
        }
        return self.links[name]

    def add_peer(self, link, public_key, allowed=(), endpoint=None, keepalive=0, psk=None, handshake=0):
        peer = FakePeer(public_key)
        peer.allowed = [str(ipaddress.ip_network(n, strict=False)) for n in allowed]
        peer.endpoint, peer.keepalive, peer.psk, peer.handshake = endpoint, keepalive, psk, handshake
        self.links[link]["wg"]["peers"].append(peer)
        return peer

    def peer(self, link, public_key):
        return [p for p in self.links[link]["wg"]["peers"] if p.public_key == public_key][0]

    def commands(self):
        return [" ".join(args) for args, dummy in self.calls]

    def mutating(self):
        readonly = ("ip -j", "wg showconf", "wg show ", "wg pubkey")
        return [c for c in self.commands() if not c.startswith(readonly)]

    # -- the run_command stand-in --------------------------------------------------------------------------
    def __call__(self, args, data=None, **kwargs):
        args = list(args)
        self.calls.append((args, data))
        assert "setconf" not in args, "wg setconf must never be used"
        for prefix, answer in self.fail.items():
            if tuple(args[:len(prefix)]) == prefix:
                return answer
        if os.path.basename(args[0]) == "setsid":
            args = args[2:] if args[1:2] == ["-w"] else args[1:]
        handler = {"wg": self._wg, "ip": self._ip, "wg-quick": self._wg_quick}.get(args[0])
        if handler is None:
            return 127, "", "%s: command not found" % args[0]
        return handler(args[1:], data)

    def _missing(self, name):
        return 1, "", 'Device "%s" does not exist.\n' % name

    def _wg(self, args, data):
        if args == ["genkey"]:
            self.genkeys += 1
            return 0, key("generated-%d" % self.genkeys) + "\n", ""
        if args == ["pubkey"]:
            private = (data or "").strip()
            if len(private) != 44:
                return 1, "", "wg: Key is not the correct length or format\n"
            return 0, pub_of(private) + "\n", ""
        name = args[1]
        if name not in self.links:
            return 1, "", "Unable to access interface: No such device\n"
        dev = self.links[name]["wg"]
        if args[0] == "showconf":
            return 0, self._showconf(dev), ""
        if args[0] == "show" and args[2:] == ["public-key"]:
            return 0, (pub_of(dev["private"]) if dev["private"] else "(none)") + "\n", ""
        if args[0] == "syncconf" and args[2] == "/dev/stdin":
            self._syncconf(dev, wgconf.parse(data), rebind=40000 + len(self.calls))
            return 0, "", ""
        if args[0] == "set" and args[2] == "peer":
            peer = self.peer(name, args[3])
            if args[4:] == ["persistent-keepalive", "off"]:
                peer.keepalive = 0
            elif args[4:] == ["preshared-key", "/dev/null"]:
                peer.psk = None
            else:
                raise AssertionError("unexpected wg set %r" % args)
            return 0, "", ""
        raise AssertionError("unexpected wg command %r" % args)

    def _showconf(self, dev):
        lines = ["[Interface]", "ListenPort = %d" % dev["port"]]
        if dev["fwmark"]:
            lines.append("FwMark = %#x" % dev["fwmark"])
        if dev["private"]:
            lines.append("PrivateKey = %s" % dev["private"])
        for peer in dev["peers"]:
            lines += ["", "[Peer]", "PublicKey = %s" % peer.public_key]
            if peer.psk:
                lines.append("PresharedKey = %s" % peer.psk)
            if peer.allowed:
                lines.append("AllowedIPs = %s" % ", ".join(peer.allowed))
            if peer.endpoint:
                lines.append("Endpoint = %s" % peer.endpoint)
            if peer.keepalive:
                lines.append("PersistentKeepalive = %d" % peer.keepalive)
        return "\n".join(lines) + "\n"

    def _syncconf(self, dev, conf, rebind=None):
        """wg syncconf: peers missing from the file are removed, the others updated in place; keys the file
        leaves out (PresharedKey, PersistentKeepalive, Endpoint) keep their live value. Without ListenPort,
        wireguard-go moves to a random port (``rebind``), as measured."""
        iface = conf["interface"]
        assert not set(iface) - {"privatekey", "listenport", "fwmark"}, "not stripped: %r" % iface
        if "privatekey" in iface:
            dev["private"] = iface["privatekey"]
        if "listenport" in iface:
            dev["port"] = int(iface["listenport"])
        elif rebind:
            dev["port"] = rebind
        wanted = dict((p["publickey"], p) for p in conf["peers"])
        dev["peers"] = [p for p in dev["peers"] if p.public_key in wanted]
        for pub, entry in wanted.items():
            existing = [p for p in dev["peers"] if p.public_key == pub]
            peer = existing[0] if existing else FakePeer(pub)
            if not existing:
                dev["peers"].append(peer)
            peer.allowed = [str(ipaddress.ip_network(n, strict=False)) for n in entry.get("allowedips", [])]
            if "presharedkey" in entry:
                peer.psk = entry["presharedkey"]
            if "endpoint" in entry:
                peer.endpoint = entry["endpoint"]
            if "persistentkeepalive" in entry:
                peer.keepalive = int(entry["persistentkeepalive"])

    def _ip(self, args, data):
        if args[0] == "-j":
            return self._ip_json(args[1:])
        family = None
        if args[0] in ("-4", "-6"):
            family, args = args[0], args[1:]
        name = args[-1] if args[-2:-1] == ["dev"] else args[args.index("dev") + 1]
        if name not in self.links:
            return self._missing(name)
        link = self.links[name]
        if args[:2] == ["link", "set"]:
            rest = args[4:]
            if rest == ["up"]:
                if not link["up"]:        # the kernel brings the address prefix routes back
                    link["routes"] = [(a.network, "kernel") for a, dummy in link["addrs"]
                                      if a.network.prefixlen < a.network.max_prefixlen]
                link["up"] = True
            elif rest[:1] == ["mtu"]:
                link["mtu"] = int(rest[1])
            return 0, "", ""
        if args[:2] == ["link", "delete"]:
            del self.links[name]
            return 0, "", ""
        if args[0] == "address":
            addr = ipaddress.ip_interface(args[2])
            assert family == ("-6" if addr.version == 6 else "-4")
            if args[1] == "add":
                link["addrs"].append((addr, "global"))
                if link["up"] and addr.network.prefixlen < addr.network.max_prefixlen:
                    link["routes"].append((addr.network, "kernel"))
            else:
                link["addrs"] = [a for a in link["addrs"] if a[0] != addr]
                link["routes"] = [r for r in link["routes"] if not (r[1] == "kernel" and r[0] == addr.network)]
            return 0, "", ""
        if args[0] == "route":
            if not link["up"] and args[1] != "del":
                return 2, "", "Error: Nexthop device is not up.\n"
            net = ipaddress.ip_network(args[2], strict=False)
            link["routes"] = [r for r in link["routes"] if r[0] != net]
            if args[1] == "replace":
                link["routes"].append((net, "boot"))
            return 0, "", ""
        raise AssertionError("unexpected ip command %r" % args)

    def _ip_json(self, args):
        if args[:2] == ["addr", "show"]:
            name = args[3]
            if name not in self.links:
                return self._missing(name)
            link = self.links[name]
            flags = ["POINTOPOINT", "MULTICAST", "NOARP"] + (["UP", "LOWER_UP"] if link["up"] else [])
            info = [{"family": "inet6" if a.version == 6 else "inet", "local": str(a.ip),
                     "prefixlen": a.network.prefixlen, "scope": scope} for a, scope in link["addrs"]]
            return 0, json.dumps([{"ifindex": 2, "ifname": name, "flags": flags, "mtu": link["mtu"],
                                   "addr_info": info}]), ""
        family, name = args[0], args[4]
        if name not in self.links:
            return self._missing(name)
        routes = []
        for net, proto in self.links[name]["routes"]:
            if (net.version == 6) != (family == "-6"):
                continue
            dst = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
            entry = {"dst": "default" if net.prefixlen == 0 else dst, "scope": "link", "flags": []}
            if proto != "boot":          # ip -j leaves out "protocol" for proto boot (what `ip route add` gives)
                entry["protocol"] = proto
            routes.append(entry)
        return 0, json.dumps(routes), ""

    def _wg_quick(self, args, data):
        action, target = args
        name = os.path.basename(target)[:-5] if target.endswith(".conf") else target
        path = target if target.endswith(".conf") else "/etc/wireguard/%s.conf" % target
        if action == "down":
            if name not in self.links:
                return 1, "", "wg-quick: `%s' is not a WireGuard interface\n" % name
            del self.links[name]
            return 0, "", ""
        with open(path) as handle:
            conf = wgconf.parse(handle.read())
        iface = conf["interface"]
        link = self.add_link(name, private_key=iface.get("privatekey"), port=int(iface.get("listenport", 0)),
                             mtu=int(iface.get("mtu", 1420)), addrs=iface.get("address", []))
        for addr, dummy in link["addrs"]:
            if addr.network.prefixlen < addr.network.max_prefixlen:
                link["routes"].append((addr.network, "kernel"))
        self._syncconf(link["wg"], {"interface": {}, "peers": conf["peers"]})
        for peer in conf["peers"]:
            for net in peer.get("allowedips", []):
                net = ipaddress.ip_network(net, strict=False)
                if net.prefixlen and not any(net.subnet_of(r) for r, dummy in link["routes"] if r.version == net.version):
                    link["routes"].append((net, "boot"))
        return 0, "[#] wireguard-go %s\n" % name, ""
