# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan -> plain data (JSON-ready dicts) and wg-quick INI. Deterministic: sorted keys, peers and ranges."""

from __future__ import annotations

import json

from . import wgconf


def peer_entry_dict(entry):
    return {
        "name": entry.name,
        "kind": entry.kind,
        "public_key": entry.public_key,
        "endpoint": str(entry.endpoint) if entry.endpoint is not None else None,
        "allowed_ips": list(entry.allowed_text) if entry.allowed_text is not None
        else [str(n) for n in entry.allowed_ips],
        "persistent_keepalive": entry.keepalive,
        "relays": list(entry.relays),
    }


def node_dict(node):
    """One node's interface config (no private key: that never leaves the host)."""
    prefix = 32 if node.mesh_ip.version == 4 else 128
    return {
        "name": node.name,
        "location": node.location,
        "segment": node.segment,
        "mesh_ip": str(node.mesh_ip),
        "public_key": node.public_key,
        "leader": node.leader,
        "nat": node.nat,
        "forward": node.forward,
        "endpoint": str(node.endpoint) if node.endpoint is not None else None,
        "interface": {"address": ["%s/%d" % (node.mesh_ip, prefix)], "listen_port": node.listen_port},
        "peers": [peer_entry_dict(e) for e in sorted(node.peers, key=lambda e: e.name)],
        "routes": [{"to": str(net), "via": str(via)} for net, via in node.routes],
    }


def plan_dict(plan):
    spec = plan.spec
    return {
        "cidr": str(spec.cidr),
        "granularity": spec.granularity,
        "mesh_ips": {name: str(ip) for name, ip in sorted(plan.mesh_ips.items())},
        "segments": {
            seg.name: {"location": seg.location, "leader": seg.head.name, "nodes": [n.name for n in seg.nodes],
                       "ips": list(seg.ips_text)}
            for seg in plan.segments if not seg.is_peer
        },
        "relays": [{"between": [a, b], "via": via} for (a, b), via in sorted(plan.relays.items())],
        "nodes": {name: node_dict(node) for name, node in sorted(plan.nodes.items())},
        "peers": {name: [peer_entry_dict(e) for e in sorted(entries, key=lambda e: e.name)]
                  for name, entries in sorted(plan.peer_entries.items())},
    }


def plan_json(plan):
    return json.dumps(plan_dict(plan), indent=2, sort_keys=True) + "\n"


def node_ini(plan, name, private_key=None):
    """wg-quick INI for node ``name``; without ``private_key`` the PrivateKey line is left out."""
    return wgconf.render(node_dict(plan.nodes[name]), private_key=private_key)
