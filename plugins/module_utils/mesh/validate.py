# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that need the whole mesh: duplicates and address overlaps. Pure; raises MeshError."""

from __future__ import annotations

import ipaddress

from .errors import MeshError, Problem


def _duplicates(problems, items, attr, fieldname, subject_of):
    seen = {}
    for item in items:
        value = getattr(item, attr)
        if value is None:
            continue
        if value in seen:
            problems.append(Problem(subject_of(item), fieldname,
                                    "%s is also used by %s" % (_short(value), subject_of(seen[value]))))
        else:
            seen[value] = item


def _short(value):
    text = str(value)
    return text[:10] + "..." if len(text) == 44 else repr(text)


def _node_subject(n):
    return n.name


def _peer_subject(p):
    return "peer %s" % p.name


def check_mesh(spec):
    """Raise MeshError listing every cross-object problem of ``spec`` (a MeshSpec)."""
    problems = []
    members = list(spec.nodes) + list(spec.peers)

    def subject(item):
        return _peer_subject(item) if item in spec.peers else _node_subject(item)

    _duplicates(problems, members, "name", "name", subject)
    _duplicates(problems, members, "public_key", "public_key", subject)
    _duplicates(problems, members, "endpoint", "endpoint", subject)
    _check_private_addresses(problems, spec.nodes)

    mesh = spec.cidr
    routed = []   # (network, subject, field) that must not overlap each other or the mesh range
    for node in spec.nodes:
        for net in node.private_networks:
            if net.version == mesh.version and net.overlaps(mesh):
                problems.append(Problem(node.name, "private_ips",
                                        "network %s overlaps the mesh CIDR %s" % (net, mesh)))
        for net in node.extra_cidrs:
            if net.version == mesh.version and net.overlaps(mesh):
                problems.append(Problem(node.name, "extra_cidrs", "%s overlaps the mesh CIDR %s" % (net, mesh)))
            routed.append((net, node.name, "extra_cidrs"))
        if node.mesh_ip is not None:
            _check_pinned(problems, node, mesh)
    for peer in spec.peers:
        for net in peer.allowed_ips:
            routed.append((net, _peer_subject(peer), "allowed_ips"))
    _check_overlaps(problems, routed)
    _check_endpoints_outside(problems, members, mesh, routed, subject)
    _check_peer_vs_nodes(problems, spec)
    _duplicates(problems, [n for n in spec.nodes if n.mesh_ip is not None], "mesh_ip", "mesh_ip", _node_subject)
    if problems:
        raise MeshError(problems)


_WITHOUT_MESH = "an endpoint must be an address the host has without the mesh"
_ROUTED_AS = {"extra_cidrs": "an extra CIDR", "allowed_ips": "an allowed IP range"}


def _check_endpoints_outside(problems, members, mesh, routed, subject):
    """An endpoint is where WireGuard sends the tunnel's own packets: an address inside the mesh, or inside a
    network the mesh routes (``routed``: a node's extra CIDRs, a peer's allowed IPs, its own included), would
    route them into the tunnel they carry."""
    by_prefix = {}      # (version, prefix length) -> {network: (network, owner, field)}: a few lookups per endpoint
    for item in routed:
        by_prefix.setdefault((item[0].version, item[0].prefixlen), {}).setdefault(item[0], item)
    prefixes = sorted(by_prefix)
    for item in members:
        if item.endpoint is None:
            continue
        try:
            ip = ipaddress.ip_address(item.endpoint.host)
        except ValueError:
            continue        # a DNS name: resolved by WireGuard on the host
        if ip.version == mesh.version and ip in mesh:
            problems.append(Problem(subject(item), "endpoint", "%s is inside the mesh CIDR %s: %s"
                                    % (ip, mesh, _WITHOUT_MESH)))
        for version, prefixlen in prefixes:
            found = version == ip.version and by_prefix[(version, prefixlen)].get(
                ipaddress.ip_network((ip, prefixlen), strict=False))
            if found:
                net, owner, fieldname = found
                problems.append(Problem(subject(item), "endpoint", "%s is inside %s, %s of %s, which the mesh routes "
                                        "into the tunnel: %s" % (ip, net, _ROUTED_AS[fieldname], owner, _WITHOUT_MESH)))


def _check_private_addresses(problems, nodes):
    """Two nodes of one location with the same address on the same private network (a copied host_vars file)."""
    seen = {}
    for node in nodes:
        for iface in node.private_ips:
            owner = seen.setdefault((node.location, iface.ip), node.name)
            if owner != node.name:
                problems.append(Problem(node.name, "private_ips", "%s is also the private address of %s in location %s"
                                        % (iface.ip, owner, node.location)))


def _check_pinned(problems, node, mesh):
    ip = node.mesh_ip
    if ip.version != mesh.version or ip not in mesh:
        problems.append(Problem(node.name, "mesh_ip", "%s is outside the mesh CIDR %s" % (ip, mesh)))
    elif mesh.num_addresses > 2 and ip in (mesh.network_address, mesh.broadcast_address):
        problems.append(Problem(node.name, "mesh_ip", "%s is the network or broadcast address of %s" % (ip, mesh)))


def _check_overlaps(problems, routed):
    ordered = sorted(routed, key=lambda r: (r[0].version, r[0].network_address, r[0].prefixlen, r[1]))
    for i, (net, who, _field) in enumerate(ordered):
        for other, other_who, other_field in ordered[i + 1:]:
            if other.version != net.version:
                continue
            if other.network_address > net.broadcast_address:
                break
            if net.overlaps(other):
                problems.append(Problem(other_who, other_field, "%s overlaps %s of %s" % (other, net, who)))


def _check_peer_vs_nodes(problems, spec):
    pinned = {n.mesh_ip: n.name for n in spec.nodes if n.mesh_ip is not None}
    for peer in spec.peers:
        for net in peer.allowed_ips:
            for ip, owner in sorted(pinned.items(), key=lambda kv: kv[1]):
                if ip.version == net.version and ip in net:
                    problems.append(Problem(_peer_subject(peer), "allowed_ips",
                                            "%s contains the mesh IP %s of %s" % (net, ip, owner)))
            if net.version != spec.cidr.version or not net.overlaps(spec.cidr):
                continue
            if not net.subnet_of(spec.cidr):
                problems.append(Problem(_peer_subject(peer), "allowed_ips",
                                        "%s straddles the mesh CIDR %s" % (net, spec.cidr)))
            elif net == spec.cidr:
                problems.append(Problem(_peer_subject(peer), "allowed_ips",
                                        "%s is the whole mesh CIDR: no address would be left for the nodes (is this "
                                        "an export of another mesh that uses the same CIDR?)" % net))
