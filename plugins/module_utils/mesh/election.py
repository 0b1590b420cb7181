# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which node leads a location, in Kilo's order: a pinned leader (``leader: true``) first, then a node with a
public endpoint, then one with any endpoint, by name; and the note a leader with a private endpoint deserves.

Private means what Kilo counts as private: an RFC 1918 (IPv4) or RFC 4193 (IPv6 unique local) address. A DNS
name counts as public: the planner does no lookups, and a name is published to be reached."""

from __future__ import annotations

import ipaddress

from .errors import Problem

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


def elect(members, problems):
    """The leader of a location's ``members`` (sorted by name): the first of the best rank (``_rank``). A location
    entirely behind NAT gets its first pinned node, else its first node. A pinned node without an endpoint while
    another node has one is a problem (appended to ``problems``)."""
    reachable = next((n for n in members if n.endpoint is not None), None)
    for node in members:
        if node.leader and node.endpoint is None and reachable is not None:
            problems.append(Problem(node.name, "leader", "is pinned as leader of location %s but has no endpoint, "
                                    "while %s has one" % (node.location, reachable.name)))
    return min(members, key=_rank)      # min keeps the first of equal ranks: the first by name


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
