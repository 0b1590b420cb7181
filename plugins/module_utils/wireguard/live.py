# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the live state of a WireGuard interface: ``ip -j addr``, ``ip -j route``, ``wg showconf``.

``wg showconf`` prints the private key: it is dropped right after parsing; the host's public key comes from
``wg show IFACE public-key``. Preshared keys are kept (to compare them) but never returned by the modules."""

from __future__ import annotations

import ipaddress
import json

from ..mesh import wgconf
from .common import WireGuardError, run_checked


def _json(out, what):
    try:
        return json.loads(out or "[]")
    except ValueError:
        raise WireGuardError("%s did not print JSON" % what)


def read_link(run, name):
    """``{"mtu", "up", "addresses": [{"address", "scope"}]}`` or None when the link does not exist."""
    rc, out, err = run(["ip", "-j", "addr", "show", "dev", name])
    if rc != 0:
        if "does not exist" in (err or "") or "Cannot find device" in (err or ""):
            return None
        raise WireGuardError("ip addr show dev %s failed (rc=%s): %s" % (name, rc, (err or "").strip()))
    links = _json(out, "ip -j addr show")
    if not links:
        return None
    link = links[0]
    addresses = []
    for info in link.get("addr_info", []):
        if info.get("family") not in ("inet", "inet6") or "local" not in info:
            continue
        addresses.append({
            "address": ipaddress.ip_interface("%s/%s" % (info["local"], info.get("prefixlen", ""))),
            "scope": info.get("scope", "global"),
        })
    flags = link.get("flags", [])
    return {"mtu": link.get("mtu"), "up": "UP" in flags, "addresses": addresses}


def read_routes(run, name):
    """Routes via ``name`` in the main table: ``[{"dst": ip_network, "kernel": bool}]`` (IPv4 and IPv6)."""
    routes = []
    for family, default in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        out = run_checked(run, ["ip", "-j", family, "route", "show", "dev", name],
                          what="ip %s route show dev %s" % (family, name))
        for route in _json(out, "ip -j route show"):
            dst = route.get("dst")
            if not dst:
                continue
            try:
                network = ipaddress.ip_network(default if dst == "default" else dst, strict=False)
            except ValueError:
                continue
            routes.append({"dst": network, "kernel": route.get("protocol") == "kernel"})
    return routes


def _int(value, default=0):
    if value in (None, "", "off"):
        return default
    text = str(value).strip().lower()
    return int(text, 16) if text.startswith("0x") else int(text)


def read_wg(run, name):
    """``{"public_key", "listen_port", "fwmark", "peers": {public_key: {...}}}`` from ``wg`` (no private key)."""
    text = run_checked(run, ["wg", "showconf", name], what="wg showconf %s" % name)
    try:
        parsed = wgconf.parse(text or "")
    except ValueError:
        raise WireGuardError("could not parse the output of wg showconf %s" % name)
    iface = parsed["interface"]
    iface.pop("privatekey", None)
    pub = run_checked(run, ["wg", "show", name, "public-key"], what="wg show %s public-key" % name).strip()
    peers = {}
    for peer in parsed["peers"]:
        peers[peer["publickey"]] = {
            "psk": peer.get("presharedkey"),
            "allowed_ips": frozenset(ipaddress.ip_network(n, strict=False) for n in peer.get("allowedips", [])),
            "endpoint": peer.get("endpoint"),
            "keepalive": _int(peer.get("persistentkeepalive")),
        }
    return {
        "public_key": pub if pub and pub != "(none)" else None,
        "listen_port": _int(iface.get("listenport"), None),
        "fwmark": _int(iface.get("fwmark"), None),
        "peers": peers,
    }


def read(run, name):
    """The whole live state of interface ``name``, or None when it does not exist."""
    link = read_link(run, name)
    if link is None:
        return None
    state = read_wg(run, name)
    state.update(link)
    state["routes"] = read_routes(run, name)
    return state
