# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which node leads a location, in Kilo's order: a pinned leader (``leader: true``) first, then a node with a
public endpoint, then one with any endpoint, by name; a node the controller could not reach (``spec.down``) only
when no other can lead. The same order gives the standby leaders that take over when the leader dies (see
failover.py), and the note a leader with a private endpoint deserves.

Private means what Kilo counts as private: an RFC 1918 (IPv4) or RFC 4193 (IPv6 unique local) address. A DNS
name counts as public: the planner does no lookups, and a name is published to be reached."""

from __future__ import annotations

import ipaddress

from .errors import Problem
from .reach import endpoint

_PRIVATE = {4: (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("172.16.0.0/12"),
                ipaddress.ip_network("192.168.0.0/16")),
            6: (ipaddress.ip_network("fc00::/7"),)}
_RFC = {4: "RFC 1918", 6: "RFC 4193"}


def _private_address(endpoint):
    """The endpoint's address when it is private (an IPv4-mapped IPv6 address as its IPv4 one), else None."""
    try:
        ip = ipaddress.ip_address(endpoint.host)
    except ValueError:
        return None     # a DNS name
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip if any(ip in net for net in _PRIVATE[ip.version]) else None


def is_private(endpoint):
    return _private_address(endpoint) is not None


def _rank(node):
    """0: pinned with a public endpoint, 1: pinned with a private one, 2: public, 3: private, 4: pinned without
    an endpoint, 5: the rest."""
    if node.endpoint is None:
        return 4 if node.leader else 5
    return (0 if node.leader else 2) + (1 if is_private(node.endpoint) else 0)


def elect(members, problems, down=frozenset()):
    """The leader of a location's ``members`` (sorted by name): the first of the best rank (``_rank``), a node in
    ``down`` only when all are. A location entirely behind NAT gets its first pinned node, else its first node. A
    pinned node without an endpoint while another node has one is a problem (appended to ``problems``)."""
    reachable = next((n for n in members if n.endpoint is not None), None)
    for node in members:
        if node.leader and node.endpoint is None and reachable is not None:
            problems.append(Problem(node.name, "leader", "is pinned as leader of location %s but has no endpoint, "
                                    "while %s has one" % (node.location, reachable.name)))
    return min(members, key=lambda n: (n.name in down, _rank(n)))   # min keeps the first of equal ranks: by name


def standby_leaders(members, head, down, count):
    """Up to ``count`` members that can take over from ``head`` (the elected leader), best first in the order
    ``elect`` uses: each needs an endpoint (the other locations must reach it) and a way to reach every other
    member of its location, or be reached by it. A location behind NAT has none: nobody outside could reach
    a standby, so its leader stays its only way out."""
    if count <= 0 or head.endpoint is None:
        return []
    able = [n for n in members if n is not head and n.endpoint is not None
            and all(endpoint(m, n) is not None or endpoint(n, m) is not None for m in members if m is not n)]
    return sorted(able, key=lambda n: (n.name in down, _rank(n)))[:count]   # sorted is stable: by name


def private_leader_notes(segments):
    """Notes (Problems that change nothing) for the location leaders (``segments``' heads) with a private
    endpoint, when the mesh has another segment (a location or an external peer) that must reach them."""
    if len(segments) < 2:
        return []
    notes = []
    for seg in segments:
        head = seg.head
        ip = None if seg.is_peer or head.endpoint is None else _private_address(head.endpoint)
        if ip is None:
            continue
        rest = ("the other locations and external peers reach %s only over a private network they share with it"
                % head.name)
        public = next((n for n in seg.nodes if n.endpoint is not None and not is_private(n.endpoint)), None)
        if public is not None:      # a pinned leader: only a pin outranks a public endpoint
            notes.append(Problem(head.name, "leader", "is pinned as leader of location %s with the private endpoint "
                                 "%s (%s), while %s has the public endpoint %s: %s"
                                 % (seg.name, head.endpoint, _RFC[ip.version], public.name, public.endpoint, rest)))
        else:
            notes.append(Problem(head.name, "endpoint", "%s is a private address (%s) and %s leads location %s, where "
                                 "no host has a public endpoint: %s"
                                 % (head.endpoint, _RFC[ip.version], head.name, seg.name, rest)))
    return notes


def failover_order(candidates):
    """A location's leader and standbys in the election order, as if every node were up: the order a failover
    agent prefers them in (a node the controller could not reach comes first again once it answers)."""
    if len(candidates) < 2:
        return list(candidates)
    return sorted(candidates, key=lambda n: (_rank(n), n.name))


def down_notes(spec, segments, relay_options):
    """Notes for the leaders and relays the plan passes over because the controller could not reach them."""
    if not spec.down:
        return []
    notes = []
    for seg in segments:
        if seg.is_peer or len(seg.nodes) < 2:
            continue
        natural = elect(seg.nodes, [])
        if natural.name in spec.down and natural is not seg.head:
            notes.append(Problem(natural.name, None, "is unreachable in this run: location %s is planned with "
                                 "leader %s%s" % (seg.name, seg.head.name, " (also unreachable)"
                                                  if seg.head.name in spec.down else "")))
    for a, b, vias in relay_options:
        dead = [v.head.name for v in vias if v.head.name in spec.down]
        if dead and vias[0].head.name not in spec.down:
            notes.append(Problem(dead[0], None, "is unreachable in this run: %s and %s are planned to talk "
                                 "through %s" % (a.name, b.name, vias[0].head.name)))
    return notes
