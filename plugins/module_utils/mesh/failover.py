# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover view of a plan: the standby entries every host holds ahead of time, and each host's failover table
(what its failover agent, roles/wireguard/files/wiremesh_failover.py, switches when a leader or relay dies).

A *group* is a set of ranges and the ordered hosts that may carry them: a location's ranges and its leader then
standby leaders (``Segment.candidates``), or a relayed segment's ranges and its relays' candidates, relay by relay.
The first candidate is what the plan configures; the agent moves a group's ranges to the next live candidate
with one ``wg set`` when the active one stops answering. So that the switch needs no handshake, no restart and
no secret on the host, every host already holds an entry (key, endpoint, preshared key) for every candidate it
may switch to, with no AllowedIPs until needed and a short PersistentKeepalive (``spec.standby_keepalive``) that
keeps the tunnel warm and tells the agent the standby is alive.

A host's table (JSON-ready):
    self    the host
    peers   {name: {public_key, mesh_ip}} of every entry the table names
    follow  the group of the host's own location (None for a host that always leads): the ranges its leader
            carries for it, and its location's candidates. A host that is not a candidate is a plain member: it
            gives ``follow.ranges`` to the active candidate and nothing to the other entries. A standby leader
            follows while an earlier candidate lives, and leads otherwise.
    static  {name: ranges} that never move while the host leads (the members of its location)
    lead    the groups the host routes while it leads: one per segment it peers with, one per relayed segment
    dead    the hosts the controller planned around (``spec.down``): the agent starts out holding them dead
Candidates come in the election order as if every host were up: a leader or relay the controller could not reach
is planned around (the next candidate holds its ranges, it keeps its own address, it starts out dead), and the
agents switch back to it once it answers again, as they would after any failover.
Initially (every group at its first candidate that is not ``dead``) the table gives exactly the AllowedIPs of the
plan's entries."""

from __future__ import annotations

import dataclasses
import ipaddress

from .election import failover_order
from .reach import endpoint

_NO_RANGES = []     # shared: standby entries carry no AllowedIPs


def standby_peer_entry(entry_type, spec, target, viewer):
    """``viewer``'s entry for ``target`` (a Node or a Peer), held for a failover: no AllowedIPs, warm (unless the
    viewer's keepalive is 0: never); None when neither side can reach the other."""
    out_ep = endpoint(target, viewer)                       # where viewer sends to target
    in_ep = endpoint(target=viewer, viewer=target)          # where target sends to viewer
    if out_ep is None and in_ep is None:
        return None
    return entry_type(name=target.name, public_key=target.public_key, endpoint=out_ep, allowed_ips=_NO_RANGES,
                      keepalive=spec.standby_keepalive if out_ep is not None and viewer.keepalive != 0 else None,
                      kind="node" if hasattr(target, "location") else "peer", relays=[], allowed_text=_NO_RANGES)


def label(seg):
    if seg.is_peer:
        return "peer %s" % seg.name
    if len(seg.nodes) == 1 and seg.name == seg.nodes[0].name:
        return seg.name
    return "location %s" % seg.name


class Tables:
    """Builds the tables and the standby entries of one plan; groups shared by every host that sees them alike."""

    def __init__(self, spec, segments, relay_options, mesh_ips):
        self.spec = spec
        self.mesh_ips = mesh_ips
        self.by_head = {seg.head.name: seg for seg in segments}
        self.relay_options = relay_options      # [(segment a, segment b, [relay segments, best first])]
        self._direct = {}                       # id(segment) -> its group
        self._relayed = {}                      # id(segment) -> [(relayed segment, group)]
        position = {id(seg): i for i, seg in enumerate(segments)}
        for a, b, vias in relay_options:        # in segment order: an unreachable relay is preferred once back
            vias = sorted(vias, key=lambda v: position[id(v)])
            names = _unique(c.name for via in vias for c in failover_order(via.candidates))
            self._relayed.setdefault(id(a), []).append((b, _group("relay " + label(b), names, b.ips_text)))
            self._relayed.setdefault(id(b), []).append((a, _group("relay " + label(a), names, a.ips_text)))

    def direct(self, seg):
        group = self._direct.get(id(seg))
        if group is None:
            group = self._direct[id(seg)] = _group(label(seg), [c.name for c in failover_order(seg.candidates)],
                                                   seg.ips_text)
        return group

    def table(self, seg, node, follow_ranges, head_entries, own):
        """``node``'s table and every host it names, for ``node`` of segment ``seg``. ``follow_ranges``: what its
        leader carries for it, ``head_entries``: the segment head's entries for other segments, ``own``: node name ->
        its own ranges. Returns (table, the hosts it names: Node or Peer objects)."""
        candidates = failover_order(seg.candidates)
        follow = _group(label(seg), [c.name for c in candidates], list(follow_ranges))
        if not any(c is node for c in candidates):      # a plain member: its leader carries everything for it
            return self._table(node, follow, {}, [], candidates)
        lead = [self.direct(self.by_head[e.name]) for e in head_entries]
        lead.extend(group for _other, group in self._relayed.get(id(seg), ()))
        static = {m.name: [str(n) for n in own[m.name]] for m in seg.nodes if m is not node}
        named = list(seg.nodes)
        for entry in head_entries:
            named.extend(self.by_head[entry.name].candidates)
        named.extend(c for a, b, vias in self.relay_options if seg is a or seg is b for via in vias
                     for c in via.candidates)
        return self._table(node, follow if node is not candidates[0] else None, static, lead, named)

    def _table(self, node, follow, static, lead, named):
        peers, targets = {}, []
        for target in named:
            if target is not node and target.name not in peers:
                ip = self.mesh_ips.get(target.name)
                peers[target.name] = {"public_key": target.public_key, "mesh_ip": str(ip) if ip is not None else None}
                targets.append(target)
        dead = sorted(n for n in self.spec.down if n in peers)
        return {"self": node.name, "peers": peers, "follow": follow, "static": static, "lead": lead,
                "dead": dead}, targets


def own_address(ip):
    """The host network (/32, /128) of a mesh IP."""
    return ipaddress.ip_network((ip, ip.max_prefixlen))


def keep_own_addresses(entries, dead, mesh_ips):
    """``entries`` with each host in ``dead`` (planned around: the controller could not reach it) holding its own
    mesh address on its own entry, taken out of whichever entry held exactly that range: what the failover
    agent does for a host it holds dead, so that its pings, and the host's replies when it is back, get through."""
    if not dead:
        return entries
    moves = {name: own_address(mesh_ips[name]) for name in dead if name in mesh_ips}
    owned = set(moves.values())
    out = []
    for entry in entries:
        nets = [n for n in entry.allowed_ips if n not in owned or moves.get(entry.name) == n]
        if entry.name in moves and moves[entry.name] not in nets:
            nets.append(moves[entry.name])
        if len(nets) != len(entry.allowed_ips) or set(nets) != set(entry.allowed_ips):
            nets = sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))
            entry = dataclasses.replace(entry, allowed_ips=nets, allowed_text=[str(n) for n in nets])
        out.append(entry)
    return out


def _group(name, candidates, ranges):
    return {"name": name, "candidates": list(candidates), "ranges": list(ranges)}


def _unique(names):
    seen, out = set(), []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out
