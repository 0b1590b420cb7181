# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WireGuard config file format: render wg-quick INI from a node config dict, parse it (and the output of
``wg showconf``) back, and strip it to what ``wg setconf``/``wg syncconf`` accept. Pure string work."""

from __future__ import annotations

HEADER = "# Managed by wiremesh.multicloud. Local changes are overwritten.\n"

# wg-quick keys in [Interface] that `wg` itself does not understand (removed by strip()).
_QUICK_ONLY = ("address", "dns", "mtu", "table", "preup", "postup", "predown", "postdown", "saveconfig")

_INTERFACE_KEYS = {
    "address": "Address", "listenport": "ListenPort", "privatekey": "PrivateKey", "mtu": "MTU",
    "fwmark": "FwMark", "table": "Table", "dns": "DNS", "saveconfig": "SaveConfig",
    "preup": "PreUp", "postup": "PostUp", "predown": "PreDown", "postdown": "PostDown",
}
_PEER_KEYS = {
    "publickey": "PublicKey", "presharedkey": "PresharedKey", "endpoint": "Endpoint",
    "allowedips": "AllowedIPs", "persistentkeepalive": "PersistentKeepalive",
}
_LIST_KEYS = ("address", "allowedips", "dns")


def render(config, private_key=None, preshared_keys=None):
    """Render wg-quick INI. ``config`` is a node config dict (``Plan.node_config``): ``interface`` with
    ``address``, ``listen_port``, optional ``mtu``/``fwmark``/``table``, and ``peers``. ``preshared_keys``
    maps a peer's public key to its preshared key. Secrets appear only when passed in as arguments, never
    from ``config`` (which is plain data that may be logged)."""
    psks = preshared_keys or {}
    out = [_interface_text(config.get("interface", {}), private_key)]
    for peer in sorted(config.get("peers", []), key=lambda p: (p.get("name") or "", p["public_key"])):
        out.append(_peer_text(peer, psks.get(peer["public_key"])))
    return "".join(out)


def _interface_text(iface, private_key):
    """The header comment and the [Interface] section."""
    lines = [HEADER, "[Interface]\n"]
    if iface.get("address"):
        lines.append("Address = %s\n" % ", ".join(iface["address"]))
    if iface.get("listen_port"):
        lines.append("ListenPort = %d\n" % int(iface["listen_port"]))
    if iface.get("mtu"):
        lines.append("MTU = %d\n" % int(iface["mtu"]))
    if iface.get("fwmark"):
        lines.append("FwMark = %s\n" % iface["fwmark"])
    if iface.get("table") not in (None, ""):
        lines.append("Table = %s\n" % iface["table"])
    if private_key:
        lines.append("PrivateKey = %s\n" % private_key)
    return "".join(lines)


def _peer_text(peer, preshared_key):
    """One [Peer] section, with the blank line before it."""
    name = peer.get("name")
    lines = ["\n[Peer]\n# %s\nPublicKey = %s\n" % (name, peer["public_key"]) if name
             else "\n[Peer]\nPublicKey = %s\n" % (peer["public_key"],)]
    if preshared_key:
        lines.append("PresharedKey = %s\n" % preshared_key)
    if peer.get("allowed_ips"):
        lines.append("AllowedIPs = %s\n" % ", ".join(peer["allowed_ips"]))
    if peer.get("endpoint"):
        lines.append("Endpoint = %s\n" % peer["endpoint"])
    if peer.get("persistent_keepalive"):
        lines.append("PersistentKeepalive = %d\n" % int(peer["persistent_keepalive"]))
    return "".join(lines)


def parse(text):
    """Parse wg-quick INI or ``wg showconf`` output into ``{"interface": {...}, "peers": [...]}`` with
    lower-case keys; list keys become lists. A ``# name`` comment right after ``[Peer]`` is kept as name."""
    interface, peers, current, section = {}, [], None, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            if section == "peer" and not current:
                current["name"] = line.lstrip("#").strip()
            continue
        line = line.partition("#")[0].strip()   # wg and wg-quick accept trailing comments
        if not line:
            continue
        low = line.lower()
        if low == "[interface]":
            section, current = "interface", interface
            continue
        if low == "[peer]":
            section, current = "peer", {}
            peers.append(current)
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            # never quote the line: it may hold a key
            raise ValueError("line %d is not a WireGuard config line" % number)
        key, value = key.strip().lower(), value.strip()
        known = _INTERFACE_KEYS if section == "interface" else _PEER_KEYS
        if key not in known:
            raise ValueError("line %d: unknown key %r in [%s]" % (number, key[:40], section.capitalize()))
        if key in _LIST_KEYS:
            current.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
        else:
            current[key] = value
    return {"interface": interface, "peers": peers}


def strip(text):
    """wg-quick INI -> the subset ``wg setconf``/``wg syncconf`` accept (like ``wg-quick strip``)."""
    out = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        low = line.lower()
        if low in ("[interface]", "[peer]"):
            section = low
        elif section == "[interface]" and line and not line.startswith("#"):
            if line.partition("=")[0].strip().lower() in _QUICK_ONLY:
                continue
        out.append(raw)
    return "\n".join(out) + "\n"
