# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A computed plan's objects as plain data (JSON-ready dicts): what ``Plan.to_dict`` and ``Plan.node_config``
return. Deterministic: sorted keys, peers and ranges. No private or preshared key is ever part of it."""

from __future__ import annotations

from operator import attrgetter

_by_name = attrgetter("name")   # names are unique among one node's peers


def _entry(entry):
    allowed = entry.allowed_text if entry.allowed_text is not None else [str(n) for n in entry.allowed_ips]
    return {
        "name": entry.name,
        "kind": entry.kind,
        "public_key": entry.public_key,
        "endpoint": str(entry.endpoint) if entry.endpoint is not None else None,
        "allowed_ips": list(allowed),
        "persistent_keepalive": entry.keepalive,
        "relays": list(entry.relays),
    }


def _entries(entries):
    return [_entry(e) for e in sorted(entries, key=_by_name)]


def node_dict(node):
    """One NodePlan as the node config a host receives (no private key: that never leaves the host)."""
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
        "forward_ipv4": 4 in node.forward_families,
        "forward_ipv6": 6 in node.forward_families,
        "endpoint": str(node.endpoint) if node.endpoint is not None else None,
        "interface": {"address": ["%s/%d" % (node.mesh_ip, prefix)], "listen_port": node.listen_port},
        "peers": _entries(node.peers),
        "routes": [{"to": str(net), "via": str(via)} for net, via in node.routes],
        "failover": node.failover,
    }


def plan_dict(plan):
    """The whole plan as plain data: what the mesh_plan action returns and the state file keeps."""
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
        "peers": {name: _entries(entries) for name, entries in sorted(plan.peer_entries.items())},
    }
