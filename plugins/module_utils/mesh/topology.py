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

A location and an external peer may share a name: everything here that says which segment relays for which
is kept by segment, never by name.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from . import render
from .election import down_notes, elect, private_leader_notes, standby_leaders
from .failover import Tables, keep_own_addresses, label as _label, standby_peer_entry
from .errors import MeshError, Problem
from .ipam import allocate
from .model import Endpoint  # noqa: F401  (annotations)
from .reach import endpoint as _endpoint, linked as _linked, private_link as _private, shared_address as _shared_address
from .showconf import PlanViews
from .validate import check_mesh


@dataclass(eq=False)     # compared and hashed by identity: a location and a peer may share a name
class Segment:
    name: str
    location: str | None
    nodes: list                      # model.Node, sorted by name; empty for an external peer
    head: object                     # the leader Node, or the model.Peer itself
    ips: list = field(default_factory=list)
    ips_text: list = field(default_factory=list)   # str() of ips, computed once (rendering is the hot path)
    standbys: list = field(default_factory=list)   # model.Node: who takes over from head, best first

    @property
    def candidates(self):
        """The leader, then its standbys: the order every host fails over in."""
        return [self.head] + self.standbys

    @property
    def is_peer(self):
        return not self.nodes


@dataclass(frozen=True)
class PeerEntry:    # frozen: one entry object is shared by every node that sees the peer alike (see _Views)
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
    peers: list = field(default_factory=list)   # PeerEntry, sorted by name
    forward_families: tuple = ()     # the address families (4, 6) it forwards for others, sorted
    routes: list = field(default_factory=list)   # (network, via address): cross granularity's private links
    failover: dict = None            # its failover table (failover.py)

    @property
    def nat(self):
        return self.endpoint is None

    @property
    def forward(self):
        """Whether it routes for others (a leader, a relay, a node with extra CIDRs, when there is traffic)."""
        return bool(self.forward_families)


@dataclass
class Plan(PlanViews):
    """The plan of one mesh: every node's peers. Its views (``to_dict``, ``node_config``, ``node_ini``,
    ``peer_config``, ``as_peer``, ...) are methods, shared with a plan read back from a state file
    (showconf.PlanViews)."""

    spec: object
    mesh_ips: dict
    segments: list
    nodes: dict                      # name -> NodePlan
    peer_entries: dict               # external peer name -> PeerEntry list, by name (what the peer configures)
    relays: dict                     # (segment a name, segment b name) -> relay segment name: for reading only
    #                                  (the planner keeps relays by segment; a location and a peer may share a name)
    relay_standbys: dict = field(default_factory=dict)   # same keys: the relays that take over, best first
    notes: list = field(default_factory=list)   # Problems that change nothing but are worth a warning

    def to_dict(self):
        return render.plan_dict(self)

    def node_config(self, name):
        if name not in self.nodes:
            raise self._no_node(name, self.nodes, self.peer_entries)
        return render.node_dict(self.nodes[name])


def plan(spec):
    """Validate ``spec`` (a MeshSpec) and compute every node's peers. Raises MeshError."""
    check_mesh(spec)
    mesh_ips = allocate(spec)
    own = _own_ranges(spec, mesh_ips)
    segments = _segments(spec, own)
    problems = []
    relay_options = _relays(spec, segments, problems)
    relays = [(a, b, vias[0]) for a, b, vias in relay_options]
    nodes = {}
    peer_entries = {}
    extras = {}     # segment -> {relay segment: [segments reached through it]}
    for a, b, relay in relays:
        extras.setdefault(a, {}).setdefault(relay, []).append(b)
        extras.setdefault(b, {}).setdefault(relay, []).append(a)
    views = _Views(spec, segments)
    through_leader = _through_leader(spec, segments)
    forwards = _forwarding(spec, segments, relay_options, own)
    tables = Tables(spec, segments, relay_options, mesh_ips)
    for seg in segments:
        entries = views.entries(seg, extras.get(seg, {}))
        if seg.is_peer:
            peer_entries[seg.name] = entries
            continue
        routes = _private_routes(spec, seg, views.local)
        for node in seg.nodes:
            is_head = node is seg.head
            peers = (_head_entries(spec, seg, entries, own, problems) if is_head
                     else _leader_entry(spec, seg, node, through_leader, problems))
            table, named = tables.table(seg, node, through_leader(node)[1], entries, own)
            held = {e.name for e in peers}
            standby = [standby_peer_entry(PeerEntry, spec, t, node) for t in named if t.name not in held]
            if any(standby):
                peers = sorted(peers + [e for e in standby if e is not None], key=lambda e: e.name)
            peers = keep_own_addresses(peers, table["dead"], mesh_ips)
            nodes[node.name] = NodePlan(
                name=node.name, location=node.location, mesh_ip=mesh_ips[node.name],
                listen_port=node.listen_port, endpoint=node.endpoint, leader=is_head, segment=seg.name,
                public_key=node.public_key, peers=peers,
                forward_families=tuple(sorted(forwards.get(node.name, ()))), routes=list(routes), failover=table)
    if problems:
        raise MeshError(problems)
    return Plan(spec=spec, mesh_ips=mesh_ips, segments=segments, nodes=nodes, peer_entries=peer_entries,
                relays={(a.name, b.name): via.name for a, b, via in relays},
                relay_standbys={(a.name, b.name): [v.name for v in vias[1:]] for a, b, vias in relay_options},
                notes=down_notes(spec, segments, relay_options)
                + (private_leader_notes(segments) if spec.granularity == "location" else []))


# --- segments and leaders ------------------------------------------------------------------------------

def _own_ranges(spec, mesh_ips):
    """node name -> its mesh IP (as a host network) and its extra CIDRs, sorted."""
    out = {}
    for node in spec.nodes:
        ip = mesh_ips[node.name]
        host = (ipaddress.IPv4Network if ip.version == 4 else ipaddress.IPv6Network)(int(ip))  # int: no parsing
        out[node.name] = _sorted_nets([host] + list(node.extra_cidrs)) if node.extra_cidrs else [host]
    return out


def _segments(spec, own):
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
        head = elect(members, problems, spec.down)
        ips = [net for node in members for net in own[node.name]]
        segments.append(_segment(name, members[0].location, members, head, ips))
        if spec.granularity == "location":
            segments[-1].standbys = standby_leaders(members, head, spec.down, spec.standbys)
    for peer in spec.peers:
        segments.append(_segment(peer.name, None, [], peer, peer.allowed_ips))
    if problems:
        raise MeshError(problems)
    return segments


def _segment(name, location, members, head, ips):
    ips = _sorted_nets(ips)
    return Segment(name=name, location=location, nodes=members, head=head, ips=ips, ips_text=[str(n) for n in ips])


# --- forwarding ----------------------------------------------------------------------------------------

def _forwarding(spec, segments, relays, own):
    """node name -> the address families it forwards: as a location's leader or standby leader, those a member
    shares with any range but its own and the leader's mesh IP; as a relay (or a standby relay, or one of their
    standby leaders), those both sides of a relayed pair have; with
    extra CIDRs, theirs that some other range of the mesh has (traffic between its networks and the mesh)."""
    total = _count_families(net for seg in segments for net in seg.ips)
    out = {}
    for seg in segments:
        for node in seg.nodes:
            mine = _count_families(own[node.name])
            if node.extra_cidrs:
                out.setdefault(node.name, set()).update(
                    f for f in {net.version for net in node.extra_cidrs} if total[f] > mine[f])
            if node is not seg.head:
                families = [f for f in (4, 6) if mine[f] and total[f] - mine[f] - (f == spec.cidr.version) > 0]
                for candidate in seg.candidates:     # a standby leader forwards already: the switch is one wg set
                    out.setdefault(candidate.name, set()).update(families)
    for a, b, vias in relays:
        for via in vias:
            for candidate in via.candidates:
                out.setdefault(candidate.name, set()).update({n.version for n in a.ips} & {n.version for n in b.ips})
    return out


def _count_families(nets):
    """{address family: how many of ``nets`` are of it}."""
    out = {4: 0, 6: 0}
    for net in nets:
        out[net.version] += 1
    return out


def _relays(spec, segments, problems):
    """[(segment a, segment b, [relay segments])] for the pairs that neither can reach directly: the relay first,
    then up to ``spec.standbys`` standby relays, in segment order (those whose head the controller could not
    reach last)."""
    relays = []
    # a public endpoint is usable from anywhere: only pairs of segments without one may need a relay
    hidden = [seg for seg in segments if seg.head.endpoint is None]
    for i, a in enumerate(hidden):
        for b in hidden[i + 1:]:
            if (a.is_peer and b.is_peer) or _private(spec, a, b) or _linked(a, b):
                continue
            vias = [r for r in segments if not r.is_peer and r is not a and r is not b
                    and not _private(spec, r, a) and not _private(spec, r, b)
                    and _endpoint(r.head, a.head) is not None and _endpoint(r.head, b.head) is not None]
            if not vias:
                problems.append(Problem(_label(a), "endpoint", "cannot reach %s: neither has an endpoint the other "
                                        "can use, and no location with a public endpoint can relay between them"
                                        % _label(b)))
                continue
            vias.sort(key=lambda r: r.head.name in spec.down)     # stable: segment order otherwise
            relays.append((a, b, vias[:1 + spec.standbys]))
    if problems:
        raise MeshError(problems)
    return relays


def _keepalive(spec, own, own_ep_for_other, other_ep_for_own):
    """PersistentKeepalive on ``own``'s entry: explicit setting wins (0 disables); otherwise only when
    ``own`` can reach the other side but cannot be reached by it (it sits behind NAT)."""
    if own_ep_for_other is None:
        return None
    return _reaching_keepalive(spec, own, other_ep_for_own)


def _reaching_keepalive(spec, own, other_ep_for_own):
    """``_keepalive`` where ``own`` has an endpoint for the other side."""
    if own.keepalive is not None:
        return own.keepalive or None
    return spec.keepalive if other_ep_for_own is None else None


# --- entries --------------------------------------------------------------------------------------------

class _Views:
    """Every segment head's entries, one per other segment it peers with. Most pairs have nothing of their
    own (no shared private network, no relayed ranges): such a pair's entry depends on the viewer only
    through its keepalive, reachability and kind, so all viewers alike share one row of entries (and one
    PeerEntry object per peer: n nodes make O(n) entries, not O(n^2)). The other pairs get entries of their
    own from ``_entry``."""

    def __init__(self, spec, segments):
        self.spec = spec
        self.order = sorted(segments, key=lambda seg: seg.head.name)    # entries come sorted by name
        self.index = {id(seg): i for i, seg in enumerate(self.order)}
        self.rows = {}      # (viewer behind NAT, keepalive, viewer is a peer) -> entries aligned with order
        self.shared = {}    # (segment index, keepalive) -> PeerEntry
        self.local = {}     # location -> node segments whose head has private addresses, in segment order
        for seg in segments:
            if not seg.is_peer and seg.head.private_ips:
                self.local.setdefault(seg.location, []).append(seg)

    def entries(self, seg, extra):
        """``seg``'s entries, by name; ``extra`` maps a relay segment to the segments reached through it (segments,
        not names: a location and an external peer may share a name)."""
        head = seg.head
        kind = (head.endpoint is None, _reaching_keepalive(self.spec, head, head.endpoint), seg.is_peer)
        row = self.rows.get(kind)
        if row is None:
            row = self.rows[kind] = [self._shared(i, other, kind) for i, other in enumerate(self.order)]
        row = list(row)
        row[self.index[id(seg)]] = None
        for other in self._own_pairs(seg, extra):
            row[self.index[id(other)]] = _entry(self.spec, seg, other, extra)
        return list(filter(None, row))     # PeerEntry objects are always true

    def _own_pairs(self, seg, extra):
        """The segments ``seg`` sees in a way of its own: through a shared private network, or as a relay."""
        out = list(extra)
        if not seg.is_peer and seg.head.private_ips:
            out.extend(other for other in self.local.get(seg.location, ())
                       if other is not seg and _shared_address(other.head, seg.head) is not None)
        return out

    def _shared(self, i, other, kind):
        """``_entry`` for a viewer of ``kind`` with nothing of its own to ``other``."""
        nat, keepalive, viewer_is_peer = kind
        out_ep = other.head.endpoint
        if (viewer_is_peer and other.is_peer) or (out_ep is None and nat):
            return None
        keepalive = keepalive if out_ep is not None else None
        entry = self.shared.get((i, keepalive))
        if entry is None:
            entry = self.shared[(i, keepalive)] = PeerEntry(
                name=other.head.name, public_key=other.head.public_key, endpoint=out_ep, allowed_ips=other.ips,
                keepalive=keepalive, kind="peer" if other.is_peer else "node", relays=[],
                allowed_text=other.ips_text)
        return entry


def _entry(spec, seg, other, extra):
    """The entry of ``seg``'s head for ``other`` (direct, or with the ranges of the segments it relays for ``seg``
    added: ``extra``, by relay segment), or None."""
    head = seg.head
    if (seg.is_peer and other.is_peer) or (spec.granularity == "cross" and _private(spec, seg, other)):
        return None
    out_ep = _endpoint(other.head, head)
    in_ep = _endpoint(head, other.head)
    if out_ep is None and in_ep is None:
        return None
    relayed = extra.get(other, ())
    if relayed:
        ips = _sorted_nets(list(other.ips) + [n for through in relayed for n in through.ips])
        text = [str(n) for n in ips]
    else:
        ips, text = other.ips, other.ips_text
    return PeerEntry(name=other.head.name, public_key=other.head.public_key, endpoint=out_ep, allowed_ips=ips,
                     keepalive=_keepalive(spec, head, out_ep, in_ep), kind="peer" if other.is_peer else "node",
                     relays=sorted(through.name for through in relayed), allowed_text=text)


def _head_entries(spec, seg, entries, own, problems):
    """The head's entries for other segments and, as a location's leader, for its members; by name."""
    if len(seg.nodes) == 1:
        return entries
    return sorted(entries + _member_entries(spec, seg, seg.head, own, problems), key=lambda e: e.name)


def _member_entries(spec, seg, leader, own, problems):
    entries = []
    for node in seg.nodes:
        if node is leader:
            continue
        out_ep, in_ep = _endpoint(node, leader), _endpoint(leader, node)
        if out_ep is None and in_ep is None:
            problems.append(Problem(node.name, "private_ips", "cannot reach %s, the leader of location %s: give "
                                    "both addresses on a shared private network, or an endpoint" % (leader.name, seg.name)))
        ips = own[node.name]
        entries.append(PeerEntry(name=node.name, public_key=node.public_key, endpoint=out_ep, allowed_ips=ips,
                                 keepalive=_keepalive(spec, leader, out_ep, in_ep), allowed_text=[str(n) for n in ips]))
    return entries


def _through_leader(spec, segments):
    """member -> the ranges its leader carries for it: the mesh CIDR, the other nodes' extra CIDRs and the
    external peers' ranges outside the mesh CIDR, collapsed, with their text (shared by members without extra
    CIDRs)."""
    common = [spec.cidr]
    extra = []      # (node, network)
    for seg in segments:
        extra.extend((node, net) for node in seg.nodes for net in node.extra_cidrs)
        if seg.is_peer:
            common.extend(n for n in seg.ips if not (n.version == spec.cidr.version and n.subnet_of(spec.cidr)))
    cache = {}

    def ranges(member):
        key = id(member) if member.extra_cidrs else None
        if key not in cache:
            nets = _collapse(common + [net for node, net in extra if node is not member])
            cache[key] = nets, [str(n) for n in nets]
        return cache[key]
    return ranges


def _leader_entry(spec, seg, member, through_leader, problems):
    """A member's only peer is its leader, which carries the whole mesh for it."""
    leader = seg.head
    out_ep, in_ep = _endpoint(leader, member), _endpoint(member, leader)
    if out_ep is None and in_ep is None:
        return []   # reported once by _member_entries
    nets, text = through_leader(member)
    return [PeerEntry(name=leader.name, public_key=leader.public_key, endpoint=out_ep, allowed_ips=nets,
                      keepalive=_keepalive(spec, member, out_ep, in_ep), allowed_text=text)]


def _private_routes(spec, seg, local):
    """Routes to the mesh ranges of privately linked nodes, via their address on the shared network.
    ``local``: location -> node segments whose head has private addresses (the only ones linked so)."""
    routes = []
    if spec.granularity != "cross" or seg.is_peer:
        return routes
    for other in local.get(seg.location, ()):
        if other is not seg and _private(spec, seg, other):
            via = _shared_address(other.head, seg.head)
            routes.extend((net, via) for net in other.ips)
    return sorted(routes, key=lambda r: (r[0].version, r[0].network_address, r[0].prefixlen))


def _sorted_nets(nets):
    return sorted(set(nets), key=lambda n: (n.version, n.network_address, n.prefixlen))


def _collapse(nets):
    out = []
    for version in (4, 6):
        same = [n for n in nets if n.version == version]
        if same:
            out.extend(ipaddress.collapse_addresses(same))
    return _sorted_nets(out)
