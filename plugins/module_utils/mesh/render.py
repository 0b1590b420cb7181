# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan -> plain data (JSON-ready dicts) and wg-quick INI. Deterministic: sorted keys, peers and ranges."""

from __future__ import annotations

import json
from operator import attrgetter

from . import wgconf

_by_name = attrgetter("name")   # names are unique among one node's peers


def _allowed_text(entry):
    return entry.allowed_text if entry.allowed_text is not None else [str(n) for n in entry.allowed_ips]


def peer_entry_dict(entry):
    return {
        "name": entry.name,
        "kind": entry.kind,
        "public_key": entry.public_key,
        "endpoint": str(entry.endpoint) if entry.endpoint is not None else None,
        "allowed_ips": list(_allowed_text(entry)),
        "persistent_keepalive": entry.keepalive,
        "relays": list(entry.relays),
    }


def _interface(node):
    prefix = 32 if node.mesh_ip.version == 4 else 128
    return {"address": ["%s/%d" % (node.mesh_ip, prefix)], "listen_port": node.listen_port}


def node_dict(node):
    """One node's interface config (no private key: that never leaves the host)."""
    return {
        "name": node.name,
        "location": node.location,
        "segment": node.segment,
        "mesh_ip": str(node.mesh_ip),
        "public_key": node.public_key,
        "leader": node.leader,
        "nat": node.nat,
        "forward": node.forward,
        "forward_ipv4": 4 in node.forward_families,
        "forward_ipv6": 6 in node.forward_families,
        "endpoint": str(node.endpoint) if node.endpoint is not None else None,
        "interface": _interface(node),
        "peers": [peer_entry_dict(e) for e in sorted(node.peers, key=_by_name)],
        "routes": [{"to": str(net), "via": str(via)} for net, via in node.routes],
        "failover": node.failover,
    }


def plan_dict(plan):
    spec = plan.spec
    return {
        "cidr": str(spec.cidr),
        "granularity": spec.granularity,
        "mesh_ips": {name: str(ip) for name, ip in sorted(plan.mesh_ips.items())},
        "segments": {
            seg.name: {"location": seg.location, "leader": seg.head.name, "nodes": [n.name for n in seg.nodes],
                       "standbys": [n.name for n in seg.standbys], "ips": list(seg.ips_text)}
            for seg in plan.segments if not seg.is_peer
        },
        "relays": [{"between": [a, b], "via": via, "standbys": plan.relay_standbys.get((a, b), [])}
                   for (a, b), via in sorted(plan.relays.items())],
        "nodes": {name: node_dict(node) for name, node in sorted(plan.nodes.items())},
        "peers": {name: [peer_entry_dict(e) for e in sorted(entries, key=_by_name)]
                  for name, entries in sorted(plan.peer_entries.items())},
    }


def plan_json(plan):
    return json.dumps(plan_dict(plan), indent=2, sort_keys=True) + "\n"


class _PeerTexts:
    """A plan's [Peer] sections, each formatted once per entry (topology shares one entry among the nodes
    that see a peer alike). Keyed by id(): it holds the entries too, so no id is reused while it lives.
    Nothing secret: PresharedKey lines are added per call, never stored."""

    def __init__(self):
        self.entries = {}   # id -> PeerEntry
        self.parts = {}     # id -> wgconf.peer_parts (head, tail, whole)
        self.whole = {}     # id -> the section without a PresharedKey line

    def add(self, entry):
        key = id(entry)
        if key not in self.entries:
            endpoint = str(entry.endpoint) if entry.endpoint is not None else None
            self.entries[key] = entry
            self.parts[key] = parts = wgconf.peer_parts(entry.name, entry.public_key, _allowed_text(entry),
                                                        endpoint, entry.keepalive)
            self.whole[key] = parts[2]


def node_ini(plan, name, private_key=None, preshared_keys=None):
    """wg-quick INI for node ``name``: the text of ``wgconf.render(node_dict(node), private_key,
    preshared_keys)``, with each [Peer] section formatted once per plan (node.peers come sorted by name).
    Without ``private_key`` the PrivateKey line is left out."""
    if plan.peer_texts is None:
        plan.peer_texts = _PeerTexts()
    texts = plan.peer_texts
    node = plan.nodes[name]
    ids = list(map(id, node.peers))
    out = [wgconf.interface_text(_interface(node), private_key)]
    if preshared_keys:
        for entry in node.peers:
            texts.add(entry)
        out.extend(wgconf.peer_text(texts.parts[key], preshared_keys.get(entry.public_key))
                   for key, entry in zip(ids, node.peers))
        return "".join(out)
    try:
        out.extend(map(texts.whole.__getitem__, ids))
    except KeyError:            # sections not formatted yet
        for entry in node.peers:
            texts.add(entry)
        del out[1:]
        out.extend(map(texts.whole.__getitem__, ids))
    return "".join(out)
