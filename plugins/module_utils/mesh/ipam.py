# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mesh IP allocation: pinned addresses first, then sticky ones from earlier runs, then the lowest free
address for each remaining node in name order. Deterministic; never moves an address that is taken."""

from __future__ import annotations

import ipaddress

from .errors import MeshError, Problem


def allocate(spec):
    """Return {node name: ip_address} for every node of ``spec`` (a MeshSpec). Raises MeshError."""
    mesh = spec.cidr
    problems = []
    taken = {}          # int(ip) -> owner name (nodes, peers, and sticky entries of absent nodes)
    result = {}

    def claim(ip, owner, subject, fieldname):
        key = int(ip)
        if key in taken and taken[key] != owner:
            problems.append(Problem(subject, fieldname, "%s is already used by %s" % (ip, taken[key])))
            return False
        taken[key] = owner
        return True

    peer_ranges = sorted((int(net.network_address), int(net.broadcast_address))
                         for peer in spec.peers for net in peer.allowed_ips
                         if net.version == mesh.version and net.subnet_of(mesh))
    for node in spec.nodes:
        if node.mesh_ip is not None and claim(node.mesh_ip, node.name, node.name, "mesh_ip"):
            result[node.name] = node.mesh_ip
    names = {n.name for n in spec.nodes}
    for name, ip in sorted(spec.assigned.items()):
        if ip.version != mesh.version or ip not in mesh:
            problems.append(Problem(name, "mesh_ip", "the state file assigns %s, outside the mesh CIDR %s (a changed "
                                    "CIDR renumbers every host: that needs a new state file)" % (ip, mesh)))
            continue
        if name in result:
            continue  # a pin overrides the sticky address
        if claim(ip, name, name, "mesh_ip") and name in names:
            result[name] = ip
    if problems:
        raise MeshError(problems)

    first, last = _usable_range(mesh)
    cursor = first
    for node in spec.nodes:
        if node.name in result:
            continue
        cursor = _next_free(cursor, last, taken, peer_ranges)
        if cursor > last:
            raise MeshError(Problem("mesh", "cidr", "%s has no free address left for %s" % (mesh, node.name)))
        taken[cursor] = node.name
        result[node.name] = ipaddress.ip_address(cursor)
    _check_peers_claim_no_node(spec, result)
    return result


def _check_peers_claim_no_node(spec, result):
    """A peer (another mesh exported as a peer, say) must not claim a node's address, sticky ones included."""
    problems = []
    by_name = sorted(result.items())
    for peer in spec.peers:
        for net in peer.allowed_ips:
            for name, ip in by_name:
                if ip.version == net.version and ip in net:
                    problems.append(Problem("peer %s" % peer.name, "allowed_ips",
                                            "%s contains the mesh IP %s of %s (do the two meshes use the same CIDR?)"
                                            % (net, ip, name)))
    if problems:
        raise MeshError(problems)


def _usable_range(net):
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, last - 1
    if net.version == 6:
        return first + 1, last
    return first, last


def _next_free(cursor, last, taken, ranges):
    moved = True
    while moved and cursor <= last:
        moved = False
        while cursor in taken:
            cursor += 1
        for low, high in ranges:
            if low <= cursor <= high:
                cursor, moved = high + 1, True
    return cursor
