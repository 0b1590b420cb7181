# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routes the mesh owns outside WireGuard (cross granularity's private links), tagged with a route protocol
number so that ours can be told from everybody else's and stale ones removed."""

from __future__ import annotations

import ipaddress
import json


def normalize(route):
    """{"to": "10.4.0.3/32", "via": "10.110.0.12"} -> ("10.4.0.3/32", "10.110.0.12"); raises ValueError."""
    return str(ipaddress.ip_network(route["to"])), str(ipaddress.ip_address(route["via"]))


def read(run, protocol):
    """Our routes on the host as a set of (to, via), from `ip -j route show proto N` (IPv4 and IPv6)."""
    found = set()
    for family in ("-4", "-6"):
        rc, out, err = run(["ip", "-j", family, "route", "show", "proto", str(protocol)])
        if rc != 0:
            raise RuntimeError("ip route show failed: %s" % err.strip())
        for entry in json.loads(out or "[]"):
            dst = entry.get("dst")
            if dst and entry.get("gateway"):
                net = ipaddress.ip_network(dst if "/" in dst else dst + ("/32" if family == "-4" else "/128"))
                found.add((str(net), entry["gateway"]))
    return found


def changes(current, desired):
    """(to add, to delete): sorted lists of (to, via)."""
    return sorted(desired - current), sorted(current - desired)


def commands(add, delete, protocol, src=None):
    """The `ip route` commands that turn the current routes into the desired ones."""
    out = []
    for to, via in delete:
        out.append(["ip", "route", "del", to, "via", via, "proto", str(protocol)])
    for to, via in add:
        cmd = ["ip", "route", "replace", to, "via", via, "proto", str(protocol)]
        if src and ipaddress.ip_address(src).version == ipaddress.ip_network(to).version:
            cmd += ["src", src]
        out.append(cmd)
    return out
