# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reachability: which address one node (or external peer) uses to send WireGuard packets to another, and which
pairs of segments can talk directly. Shared by the topology and its failover view."""

from __future__ import annotations

from .model import Endpoint


def endpoint(target, viewer):
    """Where ``viewer`` (a Segment head or node) sends packets for ``target``: a private address when both
    sit in the same location and share a private network, else the target's public endpoint, else None."""
    if getattr(target, "private_ips", None) and getattr(viewer, "private_ips", None):  # peers have none
        address = shared_address(target, viewer)
        if address is not None:
            return Endpoint(str(address), target.listen_port)
    return target.endpoint


def linked(a, b):
    return endpoint(a.head, b.head) is not None or endpoint(b.head, a.head) is not None


def shared_address(target, viewer):
    """``target``'s address on a private network it shares with ``viewer`` in the same location, or None."""
    if target.location != viewer.location:
        return None
    shared = {i.network for i in viewer.private_ips}
    for iface in target.private_ips:
        if iface.network in shared:
            return iface.ip
    return None


def private_link(spec, a, b):
    """With ``cross``: two nodes of one location on a shared private network route, they do not peer."""
    return (spec.granularity == "cross" and not a.is_peer and not b.is_peer
            and shared_address(a.head, b.head) is not None)
