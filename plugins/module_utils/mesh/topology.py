# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Topology: who peers with whom, with which endpoint, AllowedIPs and keepalive. A pure function of the spec.

The mesh is cut into *segments*: with ``full`` granularity every node is its own segment; with ``location``
every location is one segment whose elected leader carries all WireGuard traffic to other segments (like
Kilo). With ``cross`` every node is its own segment too, but two nodes of one location that share a private
network do not peer: they route each other's mesh IPs over that network, unencrypted, as Kilo's cross
granularity does (the cloud's private network is trusted); nodes of different locations peer directly.
External peers are segments of their own that never peer with each other. Every pair of segments
peers directly when at least one side has an endpoint the other can use; when neither has (two NAT'd
segments), the pair talks through a relay segment that both can reach, chosen deterministically.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .errors import MeshError, Problem
from .ipam import allocate
from .model import Endpoint
from .validate import check_mesh


@dataclass
class Segment:
    name: str
    location: str | None
    nodes: list                      # model.Node, sorted by name; empty for an external peer
    head: object                     # the leader Node, or the model.Peer itself
    ips: list = field(default_factory=list)
    ips_text: list = field(default_factory=list)   # str() of ips, computed once (rendering is the hot path)

    @property
    def is_peer(self):
        return not self.nodes


@dataclass
class PeerEntry:
    name: str
    public_key: str | None
    endpoint: Endpoint | None
    allowed_ips: list
    keepalive: int | None = None
    kind: str = "node"               # node | peer
    relays: list = field(default_factory=list)   # segments reached through this entry
    allowed_text: list = None        # str() of allowed_ips when already known


@dataclass
class NodePlan:
    name: str
    location: str
    mesh_ip: object
    listen_port: int
    endpoint: Endpoint | None
    leader: bool
    segment: str
    public_key: str | None = None
    peers: list = field(default_factory=list)
    forward: bool = False
    routes: list = field(default_factory=list)   # (network, via address): cross granularity's private links

    @property
    def nat(self):
        return self.endpoint is None


@dataclass
class Plan:
    spec: object
    mesh_ips: dict
    segments: list
    nodes: dict                      # name -> NodePlan
    peer_entries: dict               # external peer name -> list of PeerEntry (what the peer must configure)
    relays: dict                     # (segment a, segment b) -> relay segment name


def plan(spec):
    """Validate ``spec`` (a MeshSpec) and compute every node's peers. Raises MeshError."""
    check_mesh(spec)
    mesh_ips = allocate(spec)
    segments = _segments(spec, mesh_ips)
    problems = []
    relays = _relays(spec, segments, problems)
    nodes = {}
    peer_entries = {}
    by_name = {seg.name: seg for seg in segments}
    extras = {}
    for (a, b), relay in relays.items():
        extras.setdefault(a, {}).setdefault(relay, []).append(b)
        extras.setdefault(b, {}).setdefault(relay, []).append(a)
    for seg in segments:
        entries = _segment_entries(spec, seg, segments, extras.get(seg.name, {}), by_name)
        if seg.is_peer:
            peer_entries[seg.name] = entries
            continue
        for node in seg.nodes:
            is_head = node is seg.head
            nodes[node.name] = NodePlan(
                name=node.name, location=node.location, mesh_ip=mesh_ips[node.name],
                listen_port=node.listen_port, endpoint=node.endpoint, leader=is_head, segment=seg.name,
                public_key=node.public_key,
                peers=entries + _member_entries(spec, seg, node, mesh_ips, problems) if is_head
                else _leader_entry(spec, seg, node, segments, problems),
                routes=_private_routes(spec, seg, segments))
    for (a, b), relay in relays.items():
        _mark_forward(nodes, segments, relay)
    for seg in segments:
        if not seg.is_peer and len(seg.nodes) > 1:
            nodes[seg.head.name].forward = True
    if problems:
        raise MeshError(problems)
    return Plan(spec=spec, mesh_ips=mesh_ips, segments=segments, nodes=nodes,
                peer_entries=peer_entries, relays=relays)


# --- segments and leaders ------------------------------------------------------------------------------

def _segments(spec, mesh_ips):
    groups = {}
    if spec.granularity in ("full", "cross"):
        for node in spec.nodes:
            groups[node.name] = [node]
    else:
        for node in spec.nodes:
            groups.setdefault(node.location, []).append(node)
    problems = []
    segments = []
    for name in sorted(groups):
        members = sorted(groups[name], key=lambda n: n.name)
        head = _elect(members, problems)
        ips = []
        for node in members:
            ips.append(ipaddress.ip_network(mesh_ips[node.name]))
            ips.extend(node.extra_cidrs)
        segments.append(_segment(name, members[0].location, members, head, ips))
    for peer in spec.peers:
        segments.append(_segment(peer.name, None, [], peer, peer.allowed_ips))
    if problems:
        raise MeshError(problems)
    return segments


def _segment(name, location, members, head, ips):
    ips = _sorted_nets(ips)
    return Segment(name=name, location=location, nodes=members, head=head, ips=ips, ips_text=[str(n) for n in ips])


def _elect(members, problems):
    """Leader: a preferred (``leader: true``) node with an endpoint, else the first node with an endpoint,
    else (a location entirely behind NAT) the first preferred node, else the first node by name."""
    reachable = [n for n in members if n.endpoint is not None]
    preferred = [n for n in members if n.leader]
    for node in preferred:
        if node.endpoint is None and reachable:
            problems.append(Problem(node.name, "leader", "is pinned as leader of location %s but has no endpoint, "
                                    "while %s has one" % (node.location, reachable[0].name)))
    for pool in ([n for n in preferred if n.endpoint is not None], reachable, preferred, members):
        if pool:
            return pool[0]
    raise AssertionError("a segment has at least one node")


# --- endpoints and reachability ------------------------------------------------------------------------

def _endpoint(target, viewer):
    """Where ``viewer`` (a Segment head or node) sends packets for ``target``: a private address when both
    sit in the same location and share a private network, else the target's public endpoint, else None."""
    if getattr(target, "private_ips", None) and getattr(viewer, "private_ips", None):  # peers have none
        address = _shared_address(target, viewer)
        if address is not None:
            return Endpoint(str(address), target.listen_port)
    return target.endpoint


def _linked(a, b):
    return _endpoint(a.head, b.head) is not None or _endpoint(b.head, a.head) is not None


def _shared_address(target, viewer):
    """``target``'s address on a private network it shares with ``viewer`` in the same location, or None."""
    if target.location != viewer.location:
        return None
    shared = {i.network for i in viewer.private_ips}
    for iface in target.private_ips:
        if iface.network in shared:
            return iface.ip
    return None


def _private(spec, a, b):
    """With ``cross``: two nodes of one location on a shared private network route, they do not peer."""
    return (spec.granularity == "cross" and not a.is_peer and not b.is_peer
            and _shared_address(a.head, b.head) is not None)


def _relays(spec, segments, problems):
    relays = {}
    for i, a in enumerate(segments):
        a_public = a.head.endpoint is not None
        for b in segments[i + 1:]:
            if a_public or b.head.endpoint is not None:
                continue        # a public endpoint is usable from anywhere: the pair peers directly
            if (a.is_peer and b.is_peer) or _private(spec, a, b) or _linked(a, b):
                continue
            via = [r for r in segments if not r.is_peer and r is not a and r is not b
                   and not _private(spec, r, a) and not _private(spec, r, b)
                   and _endpoint(r.head, a.head) is not None and _endpoint(r.head, b.head) is not None]
            if not via:
                problems.append(Problem(_label(a), "endpoint", "cannot reach %s: neither has an endpoint the other "
                                        "can use, and no location with a public endpoint can relay between them"
                                        % _label(b)))
                continue
            relays[(a.name, b.name)] = via[0].name
    if problems:
        raise MeshError(problems)
    return relays


def _label(seg):
    if seg.is_peer:
        return "peer %s" % seg.name
    if len(seg.nodes) == 1 and seg.name == seg.nodes[0].name:
        return seg.name
    return "location %s" % seg.name


def _keepalive(spec, own, own_ep_for_other, other_ep_for_own):
    """PersistentKeepalive on ``own``'s entry: explicit setting wins (0 disables); otherwise only when
    ``own`` can reach the other side but cannot be reached by it (it sits behind NAT)."""
    if own_ep_for_other is None:
        return None
    if own.keepalive is not None:
        return own.keepalive or None
    return spec.keepalive if other_ep_for_own is None else None


# --- entries --------------------------------------------------------------------------------------------

def _segment_entries(spec, seg, segments, extra, by_name):
    """Entries of ``seg``'s head for every other segment (direct, or with the ranges it relays added).
    ``extra`` maps a relay segment to the segments ``seg`` reaches through it."""
    head = seg.head
    cross = spec.granularity == "cross"
    entries = []
    for other in segments:
        if other is seg or (seg.is_peer and other.is_peer) or (cross and _private(spec, seg, other)):
            continue
        out_ep = _endpoint(other.head, head)
        in_ep = _endpoint(head, other.head)
        if out_ep is None and in_ep is None:
            continue
        relayed = sorted(extra.get(other.name, []))
        if relayed:
            ips = _sorted_nets(list(other.ips) + [n for name in relayed for n in by_name[name].ips])
            text = [str(n) for n in ips]
        else:
            ips, text = other.ips, other.ips_text
        entries.append(PeerEntry(name=other.head.name, public_key=other.head.public_key,
                                 endpoint=out_ep, allowed_ips=ips, keepalive=_keepalive(spec, head, out_ep, in_ep),
                                 kind="peer" if other.is_peer else "node", relays=relayed, allowed_text=text))
    return entries


def _member_entries(spec, seg, leader, mesh_ips, problems):
    entries = []
    for node in seg.nodes:
        if node is leader:
            continue
        out_ep, in_ep = _endpoint(node, leader), _endpoint(leader, node)
        if out_ep is None and in_ep is None:
            problems.append(Problem(node.name, "private_ips", "cannot reach %s, the leader of location %s: give "
                                    "both addresses on a shared private network, or an endpoint" % (leader.name, seg.name)))
        ips = [ipaddress.ip_network(mesh_ips[node.name])] + list(node.extra_cidrs)
        entries.append(PeerEntry(name=node.name, public_key=node.public_key, endpoint=out_ep,
                                 allowed_ips=_sorted_nets(ips), keepalive=_keepalive(spec, leader, out_ep, in_ep)))
    return entries


def _leader_entry(spec, seg, member, segments, problems):
    """A member's only peer is its leader, which carries the whole mesh for it."""
    leader = seg.head
    ranges = [spec.cidr]
    for other in segments:
        for node in other.nodes:
            if node is not member:
                ranges.extend(node.extra_cidrs)
        if other.is_peer:
            ranges.extend(n for n in other.ips if not (n.version == spec.cidr.version and n.subnet_of(spec.cidr)))
    out_ep, in_ep = _endpoint(leader, member), _endpoint(member, leader)
    if out_ep is None and in_ep is None:
        return []   # reported once by _member_entries
    return [PeerEntry(name=leader.name, public_key=leader.public_key, endpoint=out_ep,
                      allowed_ips=_collapse(ranges), keepalive=_keepalive(spec, member, out_ep, in_ep))]


def _private_routes(spec, seg, segments):
    """Routes to the mesh ranges of privately linked nodes, via their address on the shared network."""
    routes = []
    for other in segments:
        if other is not seg and _private(spec, seg, other):
            via = _shared_address(other.head, seg.head)
            routes.extend((net, via) for net in other.ips)
    return sorted(routes, key=lambda r: (r[0].version, r[0].network_address, r[0].prefixlen))


def _mark_forward(nodes, segments, relay_name):
    for seg in segments:
        if seg.name == relay_name and not seg.is_peer:
            nodes[seg.head.name].forward = True


def _sorted_nets(nets):
    return sorted(set(nets), key=lambda n: (n.version, n.network_address, n.prefixlen))


def _collapse(nets):
    out = []
    for version in (4, 6):
        same = [n for n in nets if n.version == version]
        if same:
            out.extend(ipaddress.collapse_addresses(same))
    return _sorted_nets(out)
