# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an external peer must configure, and a node exported as a peer of another mesh (like Kilo's
``kgctl showconf``). Pure: works on the plain plan dict (render.plan_dict, the state file's ``plan``).

Nothing here ever sees a private or preshared key: the plan dict holds neither. Preshared keys between
managed nodes are not an external peer's business; a peer keeps its own private key.
"""

from __future__ import annotations

import ipaddress

from . import wgconf


class ShowconfError(ValueError):
    """A name the plan does not know, or a request that makes no sense for it (the message says why)."""


def _nets(values):
    nets = {ipaddress.ip_network(v) for v in values}
    return sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))


def _viewers(plan):
    """Every (viewer name, entry) pair: the nodes' entries and the external peers' entries."""
    for name, node in sorted(plan.get("nodes", {}).items()):
        for entry in node.get("peers", []):
            yield name, entry
    for name, entries in sorted(plan.get("peers", {}).items()):
        for entry in entries:
            yield name, entry


def _segment_of(plan, name):
    node = plan["nodes"][name]
    return node.get("segment") or name


def _ranges(plan, name):
    """The ranges that belong to ``name``'s segment: its nodes' mesh IPs and extra CIDRs."""
    return _nets(plan["segments"][_segment_of(plan, name)]["ips"])


def peer_names(plan):
    return sorted(plan.get("peers", {}))


def peer_config(plan, name):
    """What external peer ``name`` must configure: its ``peers`` ([Peer] entries, as render.peer_entry_dict),
    its own ``addresses`` (as declared in wireguard_peers) and the ``routes`` it must add (the union of the
    entries' AllowedIPs; wg-quick adds them by itself)."""
    peers = plan.get("peers", {})
    if name not in peers:
        if name in plan.get("nodes", {}):
            raise ShowconfError("%s is a managed node of the mesh, not an external peer (see: showconf node %s)"
                                % (name, name))
        raise ShowconfError("no external peer %r in the plan (known: %s); declare it in wireguard_peers and run "
                            "playbooks/mesh.yml" % (name, ", ".join(peer_names(plan)) or "none"))
    own = [e for _viewer, e in _viewers(plan) if e.get("name") == name and e.get("kind") == "peer"]
    addresses = _nets(own[0]["allowed_ips"]) if own else []
    entries = [_public_entry(e) for e in sorted(peers[name], key=lambda e: e["name"])]
    routes = _nets(ip for e in entries for ip in e["allowed_ips"])
    return {"name": name, "addresses": [str(a) for a in addresses], "peers": entries,
            "routes": [str(r) for r in routes]}


def _public_entry(entry):
    """An entry as a peer configures it: no relay bookkeeping, nothing secret (the plan has no secret)."""
    return {"name": entry["name"], "public_key": entry["public_key"], "endpoint": entry.get("endpoint"),
            "allowed_ips": list(entry.get("allowed_ips", [])),
            "persistent_keepalive": entry.get("persistent_keepalive")}


def peer_ini(config, interface="wg0"):
    """The [Peer] sections of ``peer_config`` as wg-quick INI, with a comment header saying what to add to the
    peer's own [Interface] (its Address and its own PrivateKey) and which routes the sections imply."""
    body = wgconf.render({"peers": config["peers"]})
    peers = body.split("\n[Interface]\n", 1)[1].lstrip("\n")
    head = ["# wiremesh showconf peer %s: add these [Peer] sections to the peer's own wg-quick config." % config["name"],
            "# Its [Interface] keeps its own PrivateKey (never shown here) and takes Address = %s."
            % (", ".join(config["addresses"]) or "(its allowed_ips)"),
            "# Routes to add (wg-quick adds them from AllowedIPs by itself):"]
    head += ["#   ip route add %s dev %s" % (r, interface) for r in config["routes"]]
    return "\n".join(head) + "\n\n" + peers


def leader_for(plan, name):
    """The leader of ``name``'s location (``name`` itself when it leads, or with full granularity)."""
    node = plan["nodes"][name]
    segment = plan.get("segments", {}).get(node.get("segment"))
    return segment["leader"] if segment else name


def node_as_peer(plan, name, extra_allowed_ips=(), public_key=None):
    """Node ``name`` as an entry another mesh's ``wireguard_peers`` takes: ``{name, public_key, endpoint,
    allowed_ips}``, the allowed IPs being its segment's ranges plus ``extra_allowed_ips``. Only a leader (with
    location granularity) carries its location's traffic, so only a leader can be exported."""
    nodes = plan.get("nodes", {})
    if name not in nodes:
        raise ShowconfError("no node %r in the plan (known: %s)" % (name, ", ".join(sorted(nodes)) or "none"))
    leader = leader_for(plan, name)
    if leader != name:
        raise ShowconfError("%s is not the leader of location %s (%s is): with location granularity only the leader "
                            "carries its location's traffic to other meshes; export %s instead"
                            % (name, nodes[name]["location"], leader, leader))
    key = public_key or _public_key(plan, name)
    if key is None:
        raise ShowconfError("the plan does not know %s's public key (no node peers with it); give it with the "
                            "state file's nodes" % name)
    try:
        extra = _nets(extra_allowed_ips)
    except ValueError as exc:
        raise ShowconfError("--allowed-ips: %s" % exc)
    entry = {"name": name, "public_key": key,
             "allowed_ips": [str(n) for n in _nets([str(n) for n in _ranges(plan, name)] + [str(n) for n in extra])]}
    if nodes[name].get("endpoint"):
        entry["endpoint"] = nodes[name]["endpoint"]
    return entry


def _public_key(plan, name):
    if plan.get("nodes", {}).get(name, {}).get("public_key"):
        return plan["nodes"][name]["public_key"]
    for _viewer, entry in _viewers(plan):     # plans stored before nodes carried their own key
        if entry.get("name") == name and entry.get("public_key"):
            return entry["public_key"]
    return None


def as_peer_ini(entry, keepalive=None):
    """A node exported as a peer, as one wg-quick [Peer] section."""
    peer = dict(entry, persistent_keepalive=keepalive)
    body = wgconf.render({"peers": [peer]})
    return body.split("\n[Interface]\n", 1)[1].lstrip("\n")


def node_config(plan, name):
    """Node ``name``'s own interface config (the plan's node dict: no private key, no preshared keys)."""
    nodes = plan.get("nodes", {})
    if name not in nodes:
        if name in plan.get("peers", {}):
            raise ShowconfError("%s is an external peer, not a node (see: showconf peer %s)" % (name, name))
        raise ShowconfError("no node %r in the plan (known: %s)" % (name, ", ".join(sorted(nodes)) or "none"))
    return nodes[name]


def node_ini(plan, name):
    """wg-quick INI of node ``name`` without PrivateKey and PresharedKey lines (they stay on the host)."""
    text = wgconf.render(node_config(plan, name))
    return text.replace("[Interface]\n", "[Interface]\n# PrivateKey: on the host only (/etc/wireguard)\n", 1)
