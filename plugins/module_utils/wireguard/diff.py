# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare the desired state of an interface with its live state. Pure: no IO except the resolver.

``compare`` returns Change items. A Change without ``cmd`` is applied by one ``wg syncconf`` (which updates
existing peers in place); the others are single commands (``wg set``, ``ip``) run after it, in ``order``."""

from __future__ import annotations

import collections
import ipaddress
import socket

from ..mesh.model import valid_key
from .common import WireGuardError

Change = collections.namedtuple("Change", "order action cmd")
ALLOWED_UPDATE = "update allowed ips of"
FAILOVER_UNION = ALLOWED_UPDATE + " the failover peers"   # the ranges the failover agent's peers hold together

SYNC, WG_SET, ADDRESS, MTU, LINK, ROUTE_DEL, ROUTE_ADD = range(7)


def _int_or_none(value, what):
    if value in (None, ""):
        return None
    try:
        text = str(value).strip().lower()
        return int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        raise WireGuardError("%s must be an integer, got %r" % (what, value))


def desired_state(config, public_key=None, preshared_keys=None):
    """Normalise a node config dict (plus the host's public key and PSKs) for ``compare``.

    With a failover table (``config["failover"]``, see mesh/failover.py) the peers it names belong to the host's
    failover agent, which moves AllowedIPs between them when a leader or relay dies: among those peers only the
    union of their AllowedIPs must match (``moving``), not who holds which range; on a standby leader the union it
    holds while it leads matches too (``moving_unions``), so a run never fights an agent that took the lead."""
    if not isinstance(config, dict):
        raise WireGuardError("config must be a dict with 'interface' and 'peers'")
    iface = config.get("interface") or {}
    problems, peers = [], {}
    for index, peer in enumerate(config.get("peers") or []):
        label = peer.get("name") or "#%d" % index
        pub = peer.get("public_key")
        if not valid_key(pub):
            problems.append("peer %s: public_key is not a valid WireGuard key" % label)
            continue
        if pub in peers:
            problems.append("peer %s: public key listed twice" % label)
        try:
            allowed = _nets(peer.get("allowed_ips"))
        except ValueError as exc:
            problems.append("peer %s: allowed_ips: %s" % (label, exc))
            allowed = frozenset()
        try:
            keepalive = _int_or_none(peer.get("persistent_keepalive"), "persistent_keepalive") or 0
        except WireGuardError as exc:
            problems.append("peer %s: %s" % (label, exc))
            keepalive = 0
        psk = (preshared_keys or {}).get(pub) or None
        if psk is not None and not valid_key(psk):
            problems.append("peer %s: the preshared key is not a valid WireGuard key" % label)
        peers[pub] = {"name": peer.get("name"), "psk": psk, "allowed_ips": allowed,
                      "endpoint": peer.get("endpoint") or None, "keepalive": keepalive}
    try:
        addresses = frozenset(ipaddress.ip_interface(a) for a in iface.get("address") or [])
    except ValueError as exc:
        problems.append("interface address: %s" % exc)
        addresses = frozenset()
    try:
        listen_port = _int_or_none(iface.get("listen_port"), "listen_port")
        fwmark = _int_or_none(iface.get("fwmark"), "fwmark")
        mtu = _int_or_none(iface.get("mtu"), "mtu")
    except WireGuardError as exc:
        problems.append("interface: %s" % exc)
        listen_port = fwmark = mtu = None
    if problems:
        raise WireGuardError("invalid config: " + "; ".join(problems))
    table = str(iface.get("table") or "auto").lower()
    routes = None
    if table in ("auto", "main"):
        routes = frozenset(n for p in peers.values() for n in p["allowed_ips"] if n.prefixlen != 0)
    table = config.get("failover") or {}
    moving = frozenset(p.get("public_key") for p in (table.get("peers") or {}).values()
                       if p.get("public_key") in peers)
    try:
        unions = _agent_unions(table) if moving else ()
    except (TypeError, ValueError) as exc:
        raise WireGuardError("invalid config: failover table: %s" % exc)
    return {"public_key": public_key, "listen_port": listen_port, "fwmark": fwmark, "mtu": mtu,
            "addresses": addresses, "peers": peers, "routes": routes, "moving": moving, "moving_unions": unions}


def _nets(cidrs):
    return frozenset(ipaddress.ip_network(n, strict=False) for n in cidrs or [])


def _agent_unions(table):
    """The unions of AllowedIPs the failover agent may give the table's peers, besides the plan's own: a standby
    leader (self among its location's candidates) routes like a member while an earlier candidate lives (the
    follow group's ranges) and like a leader otherwise (its static ranges and every lead group's). Moving ranges
    between peers, or a dead host's own address to its own entry, keeps a union; taking the lead changes it."""
    follow = table.get("follow") or {}
    if table.get("self") not in (follow.get("candidates") or []):
        return ()
    lead = set()
    for ranges in (table.get("static") or {}).values():
        lead |= _nets(ranges)
    for group in table.get("lead") or []:
        lead |= _nets(group.get("ranges"))
    return (_coverage(_nets(follow.get("ranges"))), _coverage(lead))


def _coverage(nets):
    """The addresses ``nets`` cover, as the fewest networks (10.4.0.0/16 plus 10.4.0.9/32 is 10.4.0.0/16)."""
    nets = list(nets)
    return frozenset(n for version in (4, 6)
                     for n in ipaddress.collapse_addresses(m for m in nets if m.version == version))


def _held(peers, keys):
    """The addresses the peers ``keys`` route together: an agent that gives a dead host's own address to its own
    entry, under a range another peer holds, moves an address between them and routes nothing new."""
    return _coverage(n for pub in keys if pub in peers for n in peers[pub]["allowed_ips"])


def split_endpoint(endpoint):
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    text = str(endpoint).strip()
    if text.startswith("["):
        host, dummy, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, dummy, port = text.rpartition(":")
    try:
        return host, int(port)
    except ValueError:
        raise WireGuardError("endpoint %r has no port" % text)


def resolve(host, port):
    """Addresses ``host`` resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        return set()
    return {info[4][0].split("%")[0] for info in infos}


def endpoint_matches(desired, live, resolver=resolve):
    if not live:
        return False
    d_host, d_port = split_endpoint(desired)
    l_host, l_port = split_endpoint(live)
    if d_port != l_port:
        return False
    try:
        live_ip = ipaddress.ip_address(l_host)
    except ValueError:
        return False
    try:
        return ipaddress.ip_address(d_host) == live_ip
    except ValueError:
        pass
    candidates = set()
    for address in resolver(d_host, d_port):
        try:
            candidates.add(ipaddress.ip_address(address))
        except ValueError:
            continue
    return live_ip in candidates


def _peer_changes(name, desired, live, names, resolver):
    changes = []

    def label(pub):
        return desired["peers"].get(pub, {}).get("name") or (names or {}).get(pub) or pub

    moving = desired.get("moving") or frozenset()
    planned, held = (_held(desired["peers"], moving), _held(live["peers"], moving)) if moving else (None, None)
    if moving and held != planned and held not in desired.get("moving_unions", ()):
        detail = ["%s %s" % (what, ", ".join(sorted(map(str, nets)))) for what, nets
                  in (("missing", planned - held), ("extra", held - planned)) if nets]
        holders = ", ".join(sorted(label(pub) for pub in moving))
        changes.append(Change(SYNC, "%s (%s: %s)" % (FAILOVER_UNION, holders, "; ".join(detail)), None))
    for pub, want in sorted(desired["peers"].items(), key=lambda kv: (kv[1]["name"] or "", kv[0])):
        have = live["peers"].get(pub)
        if have is None:
            changes.append(Change(SYNC, "add peer %s" % label(pub), None))
            continue
        if want["allowed_ips"] != have["allowed_ips"] and pub not in moving:
            changes.append(Change(SYNC, "%s %s" % (ALLOWED_UPDATE, label(pub)), None))
        if want["endpoint"] is not None and not endpoint_matches(want["endpoint"], have["endpoint"], resolver):
            changes.append(Change(SYNC, "update endpoint of %s" % label(pub), None))
        if want["keepalive"] != have["keepalive"]:
            if want["keepalive"]:
                changes.append(Change(SYNC, "update persistent keepalive of %s" % label(pub), None))
            else:
                changes.append(Change(WG_SET, "turn off persistent keepalive of %s" % label(pub),
                                      ["wg", "set", name, "peer", pub, "persistent-keepalive", "off"]))
        if want["psk"] != have["psk"]:
            if want["psk"]:
                changes.append(Change(SYNC, "update preshared key of %s" % label(pub), None))
            else:
                changes.append(Change(WG_SET, "remove preshared key of %s" % label(pub),
                                      ["wg", "set", name, "peer", pub, "preshared-key", "/dev/null"]))
    for pub in sorted(set(live["peers"]) - set(desired["peers"])):
        changes.append(Change(SYNC, "remove peer %s" % label(pub), None))
    return changes


def _family(network):
    return "-6" if network.version == 6 else "-4"


def _stale(route, desired):
    return not route["kernel"] and route["dst"].prefixlen != 0 and route["dst"] not in desired["routes"]


def _route_changes(name, desired, live, del_addrs):
    """Routes for the allowed IPs in the main table, the way wg-quick sets them up: a range already routed via
    the interface by a broader route (an address's prefix route, a default route) is not added again.
    Routes via the interface that no allowed IP range asks for are removed (never kernel or default ones)."""
    if desired["routes"] is None:
        return []
    # Routes as they will be once the changes are done: an address's prefix route comes and goes with it, stale
    # routes go, and a link that is down has none (they appear when it comes up).
    gone = set(a.network for a in del_addrs)
    kept = [r for r in live["routes"] if live["up"] and not _stale(r, desired)]
    covering = [r["dst"] for r in kept if not (r["kernel"] and r["dst"] in gone)]
    covering += [a.network for a in desired["addresses"] if a.network.prefixlen < a.network.max_prefixlen]
    changes = []
    for route in sorted(live["routes"], key=lambda r: (r["dst"].version, str(r["dst"]))):
        if live["up"] and _stale(route, desired):
            dst = route["dst"]
            changes.append(Change(ROUTE_DEL, "remove route %s" % dst,
                                  ["ip", _family(dst), "route", "del", str(dst), "dev", name]))
    for dst in sorted(desired["routes"], key=lambda n: (n.version, str(n))):
        if not any(dst.version == c.version and dst.subnet_of(c) for c in covering):
            changes.append(Change(ROUTE_ADD, "add route %s" % dst,
                                  ["ip", _family(dst), "route", "replace", str(dst), "dev", name]))
    return changes


def compare(name, desired, live, names=None, resolver=resolve):
    """Changes that turn ``live`` (see live.read) into ``desired`` (see desired_state), in apply order.

    ``names`` maps public keys of peers that are only live (about to be removed) to names for the messages.
    A desired endpoint of None ignores the live one (the peer roams or sits behind NAT)."""
    changes = []
    if desired["public_key"] is not None and desired["public_key"] != live["public_key"]:
        changes.append(Change(SYNC, "replace private key (new public key %s)" % desired["public_key"], None))
    if desired["listen_port"] is not None and desired["listen_port"] != live["listen_port"]:
        changes.append(Change(SYNC, "set listen port %d" % desired["listen_port"], None))
    if desired["fwmark"] is not None and desired["fwmark"] != (live["fwmark"] or 0):
        changes.append(Change(SYNC, "set fwmark %#x" % desired["fwmark"], None))
    changes += _peer_changes(name, desired, live, names, resolver)
    live_addrs = set(a["address"] for a in live["addresses"]
                     if a["scope"] != "link" or a["address"] in desired["addresses"])
    add_addrs = sorted(desired["addresses"] - live_addrs, key=lambda a: (a.version, str(a)))
    del_addrs = sorted(live_addrs - desired["addresses"], key=lambda a: (a.version, str(a)))
    for addr in del_addrs:
        changes.append(Change(ADDRESS, "remove address %s" % addr,
                              ["ip", _family(addr.network), "address", "del", str(addr), "dev", name]))
    for addr in add_addrs:
        changes.append(Change(ADDRESS, "add address %s" % addr,
                              ["ip", _family(addr.network), "address", "add", str(addr), "dev", name]))
    if desired["mtu"] is not None and desired["mtu"] != live["mtu"]:
        changes.append(Change(MTU, "set mtu %d" % desired["mtu"],
                              ["ip", "link", "set", "dev", name, "mtu", str(desired["mtu"])]))
    if not live["up"]:
        changes.append(Change(LINK, "set link %s up" % name, ["ip", "link", "set", "dev", name, "up"]))
    changes += _route_changes(name, desired, live, del_addrs)
    return sorted(changes, key=lambda c: c.order)
