# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloud firewalls (``/v2/firewalls``), found by name; rules compared the way the API stores them."""

from __future__ import annotations

import ipaddress
import json
import re

from .client import DigitalOceanError, find_one
from .module import absent_result

TARGET_KEYS = ("addresses", "droplet_ids", "load_balancer_uids", "kubernetes_ids", "tags")
DIRECTIONS = (("inbound_rules", "sources"), ("outbound_rules", "destinations"))
# DigitalOcean's OpenAPI description (github.com/digitalocean/openapi), specification/resources/firewalls/models/
# firewall.yml: the name pattern (so at least two characters); firewall_rule.yml: ``ports`` is required on every
# rule, "a single port, a range (e.g. "8000-9000"), or "0" when all ports are open", and "0" for ICMP.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\.-]+$")
PORTS_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
ALL_PORTS = "0"


def _address(value, where="firewall rule"):
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise DigitalOceanError("%s: address %r is not an IP address or CIDR" % (where, value)) from None


def _ports(rule, where):
    """``ports`` as the API takes it: ``"0"`` for ICMP and for all ports (``all``), else a port or a range."""
    if rule["protocol"] == "icmp":
        return ALL_PORTS
    ports = str(rule.get("ports") if rule.get("ports") is not None else "").strip()
    if ports == "":
        raise DigitalOceanError("%s: ports is required for tcp and udp (a port, a range such as 8000-9000, or"
                                " all)" % where)
    if ports.lower() == "all":
        return ALL_PORTS
    match = PORTS_RE.match(ports)
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (-1, -1)
    if low == high == 0 and not match.group(2):
        return ALL_PORTS
    if not 1 <= low <= high <= 65535:
        raise DigitalOceanError("%s: ports %r is not a port (1-65535), a range such as 8000-9000, or all"
                                % (where, rule.get("ports")))
    return "%d-%d" % (low, high) if match.group(2) else str(low)


def rule_body(rule, target_key, where):
    """A rule as the API takes it: ``ports`` on every rule (``"0"`` for ICMP and for all ports), no empty lists,
    addresses checked. ``where`` names the rule in errors."""
    targets = {k: list(v) for k, v in (rule.get(target_key) or {}).items() if k in TARGET_KEYS and v}
    for address in targets.get("addresses", []):
        _address(address, where)
    return {"protocol": rule["protocol"], "ports": _ports(rule, where), target_key: targets}


def canonical(rule, target_key):
    """A comparable form: ports ``all``/``0`` alike, ICMP without ports, addresses as CIDRs, lists sorted."""
    protocol = rule.get("protocol")
    ports = "0" if protocol == "icmp" or str(rule.get("ports")) in ("all", "0", "None", "") else str(rule["ports"])
    targets = rule.get(target_key) or {}
    normal = {k: sorted(_address(a) for a in targets[k]) if k == "addresses" else sorted(targets[k])
              for k in TARGET_KEYS if targets.get(k)}
    return json.dumps([protocol, ports, normal, rule.get("action") or "allow"], sort_keys=True)


def differences(current, wanted):
    """What differs between the firewall the API holds and the wanted body (a list of short texts)."""
    changes = []
    for field, target_key in DIRECTIONS:
        have = sorted(canonical(r, target_key) for r in current.get(field) or [])
        want = sorted(canonical(r, target_key) for r in wanted[field])
        if have != want:
            changes.append(field)
    for field in ("tags", "droplet_ids"):
        if sorted(current.get(field) or []) != sorted(wanted[field]):
            changes.append(field)
    return changes


def _wanted(params):
    """The request body for the firewall the options describe (checked before any API call)."""
    if not NAME_RE.match(params["name"]):
        raise DigitalOceanError("firewall %r: a firewall name begins with a letter or digit, is at least 2"
                                " characters long and holds only letters, digits, dots and dashes" % params["name"])
    wanted = {"name": params["name"], "tags": list(params.get("tags") or []),
              "droplet_ids": list(params.get("droplet_ids") or [])}
    for field, target_key in DIRECTIONS:
        wanted[field] = [rule_body(rule, target_key, "firewall %s: %s[%d]" % (params["name"], field, index))
                         for index, rule in enumerate(params.get(field) or [])]
    if not wanted["inbound_rules"] and not wanted["outbound_rules"]:
        raise DigitalOceanError("firewall %s: give at least one inbound or outbound rule" % params["name"])
    return wanted


def _tags(wanted):
    """Every tag the body names: the firewall's own and those in rule sources and destinations."""
    names = list(wanted["tags"])
    for field, target_key in DIRECTIONS:
        for rule in wanted[field]:
            names.extend(rule[target_key].get("tags", []))
    return list(dict.fromkeys(names))


def _create_missing_tags(api, wanted):
    """Firewalls take existing tags only (the spec's existing_tags_array): create those that do not exist yet."""
    for tag in _tags(wanted):
        if api.call("reading tag %s" % tag, api.client.tags.get, tag_id=tag, missing_ok=True) is None:
            api.call("creating tag %s" % tag, api.client.tags.create, body={"name": tag})


def ensure_firewall(api, params, check_mode):
    """Make the firewall ``params['name']`` present with exactly these rules, tags and droplets, or absent."""
    name = params["name"]
    wanted = _wanted(params) if params["state"] == "present" else None
    current = find_one(api.paged("listing firewalls", api.client.firewalls.list, "firewalls"), name, "firewall")
    if params["state"] == "absent":
        return absent_result("firewall", "firewall", current, lambda firewall_id: api.call(
            "deleting firewall %s" % name, api.client.firewalls.delete, firewall_id=firewall_id), check_mode)
    if current is None:
        actions = ["create firewall %s" % name]
        if check_mode:
            return dict(changed=True, firewall=None, actions=actions)
        _create_missing_tags(api, wanted)
        created = api.call("creating firewall %s" % name, api.client.firewalls.create, body=wanted, retry=False)
        return dict(changed=True, firewall=created["firewall"], actions=actions)
    changes = differences(current, wanted)
    if not changes:
        return dict(changed=False, firewall=current, actions=[])
    actions = ["update %s of firewall %s" % (", ".join(changes), name)]
    if check_mode:
        return dict(changed=True, firewall=current, actions=actions)
    _create_missing_tags(api, wanted)
    updated = api.call("updating firewall %s" % name, api.client.firewalls.update, firewall_id=current["id"],
                       body=wanted)
    return dict(changed=True, firewall=updated["firewall"], actions=actions)
