# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh state kept between runs, as plain data (pure; reading and writing the file is done elsewhere).

    {"version": 1,
     "nodes": {"do1": {"mesh_ip": "10.4.0.2", "public_key": "...", "reserved": false,
                       "inputs": {"location": "do", "endpoint": "...", ...}}, ...},
     "psks": {"do1|do2": "<preshared key>", ...},
     "plan": {...}}      # the last plan (render.plan_dict: no secrets), for the CLI's showconf/graph/status

- ``mesh_ip`` makes addresses sticky: adding or removing nodes never renumbers the others. A node that left
  the inventory keeps its address (``reserved``) until it is forgotten on purpose.
- ``public_key`` lets a run limited to some hosts (``--limit``) keep every other host as a peer.
- ``inputs`` (what the inventory said of the node: location, endpoint, ...) lets a run that sees only part of
  the mesh (an AWX sliced job, ``partial_inventory``) keep the rest as it was.
- ``psks`` holds one preshared key per pair of managed nodes that peer directly.
"""

from __future__ import annotations

import ipaddress

from .model import valid_key

VERSION = 1


def empty():
    return {"version": VERSION, "nodes": {}, "psks": {}}


def check(data):
    """Raise ValueError naming what is wrong with a loaded state document."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("not a wiremesh state document of version %d" % VERSION)
    nodes, psks = data.get("nodes"), data.get("psks")
    if not isinstance(nodes, dict) or not isinstance(psks, dict) or not isinstance(data.get("plan", {}), dict):
        raise ValueError("'nodes', 'psks' and 'plan' must be mappings")
    for name, entry in nodes.items():
        if not isinstance(entry, dict):
            raise ValueError("node %s: not a mapping" % name)
        try:
            ipaddress.ip_address(entry.get("mesh_ip"))
        except ValueError:
            raise ValueError("node %s: mesh_ip %r is not an address" % (name, entry.get("mesh_ip")))
        if entry.get("public_key") is not None and not valid_key(entry["public_key"]):
            raise ValueError("node %s: public_key is not a WireGuard key" % name)
    for pair, psk in psks.items():
        if pair.count("|") != 1 or not valid_key(psk):
            raise ValueError("psks: entry %r is malformed" % pair)
    return data


def pair_id(a, b):
    return "|".join(sorted((a, b)))


def known_keys(state):
    return {name: entry["public_key"] for name, entry in state["nodes"].items() if entry.get("public_key")}


def assigned(state, forget=()):
    return {name: entry["mesh_ip"] for name, entry in state["nodes"].items() if name not in forget}


def unknown_names(state, names):
    return sorted(set(names) - set(state["nodes"]))


def absent_members(state, names, forget=()):
    """Planner nodes for the members the state remembers (with their inputs and key) that are not among
    ``names`` nor forgotten, sorted by name: the rest of a mesh a partial run does not see."""
    out = []
    for name, entry in sorted(state["nodes"].items()):
        if name in names or name in forget or entry.get("reserved") or not isinstance(entry.get("inputs"), dict):
            continue
        node = dict(entry["inputs"], name=name)
        if entry.get("public_key"):
            node["public_key"] = entry["public_key"]
        out.append(node)
    return out


def update(state, plan, forget=(), new_psk=None, plan_data=None, inputs=None):
    """The state after ``plan`` (a topology.Plan): addresses and keys of planned nodes, reservations of nodes
    that left (unless forgotten), and a preshared key for every directly peered pair of managed nodes when
    ``new_psk`` (a function returning a fresh key) is given; without it no preshared keys are kept. ``inputs``
    ({name: planner node}) is remembered per node, without its name and key."""
    nodes = {}
    for name, entry in sorted(state["nodes"].items()):
        if name not in plan.nodes and name not in forget:
            nodes[name] = dict(entry, reserved=True)
    for name, node in sorted(plan.nodes.items()):
        nodes[name] = {"mesh_ip": str(node.mesh_ip), "public_key": plan.spec.node(name).public_key,
                       "reserved": False}
        given = (inputs or {}).get(name)
        if given:
            nodes[name]["inputs"] = dict((field, value) for field, value in sorted(given.items())
                                         if field not in ("name", "public_key") and value is not None)
    psks = {}
    if new_psk is not None:
        for name, node in sorted(plan.nodes.items()):
            for entry in node.peers:
                if entry.kind == "node":
                    pair = pair_id(name, entry.name)
                    psks[pair] = state["psks"].get(pair) or psks.get(pair) or new_psk()
    out = {"version": VERSION, "nodes": nodes, "psks": psks}
    if plan_data is not None:
        out["plan"] = plan_data
        if "acl" in plan_data:      # without the compiled nftables table (rebuilt every run): the CLI needs none
            out["plan"] = dict(plan_data, acl=dict((k, v) for k, v in plan_data["acl"].items() if k != "table"))
    return out


def rotate(state, names):
    """The state with the preshared keys of every pair that involves one of ``names`` dropped, so that the next
    ``update`` draws new ones (key rotation). Raises ValueError naming hosts the state does not know."""
    unknown = unknown_names(state, names)
    if unknown:
        raise ValueError("cannot rotate %s: not in the mesh state (deploy the mesh first)" % ", ".join(unknown))
    names = set(names)
    psks = dict((pair, psk) for pair, psk in state["psks"].items() if not names & set(pair.split("|")))
    return dict(state, psks=psks)


def psks_for(state, name):
    """{peer public key: preshared key} for node ``name``: what it must configure, and nothing else."""
    keys = known_keys(state)
    out = {}
    for pair, psk in state["psks"].items():
        a, b = pair.split("|")
        other = b if a == name else a if b == name else None
        if other is not None and other in keys:
            out[keys[other]] = psk
    return out
