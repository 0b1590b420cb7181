# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A plan's views, as methods of one class: its plain data, a node's config and wg-quick INI, what an external
peer must configure, and a node exported as a peer of another mesh (like Kilo's ``kgctl showconf``).

``PlanViews`` is shared by the plan computed in this run (``topology.Plan``) and the plan a state file keeps
(``StoredPlan``, what the CLI reads): a subclass gives ``to_dict()`` and ``node_config(name)``, and every other
view is made from those two, once, here. ``node_ini`` is ``wgconf.render`` of ``node_config``: the very call a
host makes on the config the role hands it.

Nothing here ever sees a private or preshared key unless a caller passes one to ``node_ini``: the plan holds
neither. Preshared keys between managed nodes are not an external peer's business; a peer keeps its own
private key.
"""

from __future__ import annotations

import ipaddress
import json

from . import wgconf


class ShowconfError(ValueError):
    """A name the plan does not know, or a request that makes no sense for it (the message says why)."""


class PlanViews:
    """The views of a plan. Subclasses implement ``to_dict`` and ``node_config``."""

    def to_dict(self):
        """The plan as plain data (JSON-ready): what the mesh_plan action returns and the state file keeps."""
        raise NotImplementedError

    def node_config(self, name):
        """Node ``name``'s config: the dict its host receives (no private key, no preshared keys)."""
        raise NotImplementedError

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def node_ini(self, name, private_key=None, preshared_keys=None):
        """Node ``name``'s wg-quick INI, rendered as its host renders it; without ``private_key`` the PrivateKey
        line is left out. ``preshared_keys`` maps a peer's public key to the pair's preshared key."""
        return wgconf.render(self.node_config(name), private_key=private_key, preshared_keys=preshared_keys)

    def shown_node_ini(self, name):
        """``node_ini`` without PrivateKey and PresharedKey lines (they stay on the host), saying so."""
        return self.node_ini(name).replace(
            "[Interface]\n", "[Interface]\n# PrivateKey: on the host only (/etc/wireguard)\n", 1)

    def peer_names(self):
        return sorted(self.to_dict().get("peers", {}))

    def peer_config(self, name):
        """What external peer ``name`` must configure: its ``peers`` ([Peer] entries, as in the plan's data), its
        own ``addresses`` (as declared in wireguard_peers) and the ``routes`` it must add (the union of the
        entries' AllowedIPs; wg-quick adds them by itself)."""
        plan = self.to_dict()
        peers = plan.get("peers", {})
        if name not in peers:
            if name in plan.get("nodes", {}):
                raise ShowconfError("%s is a managed node of the mesh, not an external peer (see: showconf node %s)"
                                    % (name, name))
            raise ShowconfError("no external peer %r in the plan (known: %s); declare it in wireguard_peers and "
                                "run playbooks/mesh.yml" % (name, ", ".join(sorted(peers)) or "none"))
        own = [e for _viewer, e in _viewers(plan) if e.get("name") == name and e.get("kind") == "peer"]
        addresses = _nets(own[0]["allowed_ips"]) if own else []
        entries = [_public_entry(e) for e in sorted(peers[name], key=lambda e: e["name"])]
        routes = _nets(ip for e in entries for ip in e["allowed_ips"])
        return {"name": name, "addresses": [str(a) for a in addresses], "peers": entries,
                "routes": [str(r) for r in routes]}

    def peer_ini(self, name, interface="wg0"):
        """The [Peer] sections of ``peer_config`` as wg-quick INI, with a comment header saying what to add to the
        peer's own [Interface] (its Address and its own PrivateKey) and which routes the sections imply."""
        config = self.peer_config(name)
        head = ["# wiremesh showconf peer %s: add these [Peer] sections to the peer's own wg-quick config." % name,
                "# Its [Interface] keeps its own PrivateKey (never shown here) and takes Address = %s."
                % (", ".join(config["addresses"]) or "(its allowed_ips)"),
                "# Routes to add (wg-quick adds them from AllowedIPs by itself):"]
        head += ["#   ip route add %s dev %s" % (r, interface) for r in config["routes"]]
        return "\n".join(head) + "\n\n" + _peer_sections(config["peers"])

    def leader_for(self, name):
        """The leader of ``name``'s location (``name`` itself when it leads, or with full granularity)."""
        return _leader_for(self.to_dict(), name)

    def as_peer(self, name, extra_allowed_ips=(), public_key=None):
        """Node ``name`` as an entry another mesh's ``wireguard_peers`` takes: ``{name, public_key, endpoint,
        allowed_ips}``, the allowed IPs being its segment's ranges plus ``extra_allowed_ips``. Only a leader (with
        location granularity) carries its location's traffic, so only a leader can be exported."""
        plan = self.to_dict()
        nodes = plan.get("nodes", {})
        if name not in nodes:
            raise ShowconfError("no node %r in the plan (known: %s)" % (name, ", ".join(sorted(nodes)) or "none"))
        leader = _leader_for(plan, name)
        if leader != name:
            raise ShowconfError("%s is not the leader of location %s (%s is): with location granularity only the "
                                "leader carries its location's traffic to other meshes; export %s instead"
                                % (name, nodes[name]["location"], leader, leader))
        key = public_key or _public_key(plan, name)
        if key is None:
            raise ShowconfError("the plan does not know %s's public key (no node peers with it); give it with the "
                                "state file's nodes" % name)
        try:
            extra = _nets(extra_allowed_ips)
        except ValueError as exc:
            raise ShowconfError("--allowed-ips: %s" % exc)
        ranges = _nets(plan["segments"][nodes[name].get("segment") or name]["ips"])
        entry = {"name": name, "public_key": key,
                 "allowed_ips": [str(n) for n in _nets([str(n) for n in ranges] + [str(n) for n in extra])]}
        if nodes[name].get("endpoint"):
            entry["endpoint"] = nodes[name]["endpoint"]
        return entry

    def as_peer_ini(self, name, extra_allowed_ips=(), public_key=None, keepalive=None):
        """``as_peer`` as one wg-quick [Peer] section."""
        entry = self.as_peer(name, extra_allowed_ips, public_key)
        return _peer_sections([dict(entry, persistent_keepalive=keepalive)])

    @staticmethod
    def _no_node(name, nodes, peers):
        """The error for a node config asked of ``name``, which is not among ``nodes``."""
        if name in peers:
            return ShowconfError("%s is an external peer, not a node (see: showconf peer %s)" % (name, name))
        return ShowconfError("no node %r in the plan (known: %s)" % (name, ", ".join(sorted(nodes)) or "none"))


class StoredPlan(PlanViews):
    """The views of a plan kept as plain data (a state file's ``plan``, or what the mesh_plan action returned)."""

    def __init__(self, data):
        self.data = data

    def to_dict(self):
        return self.data

    def node_config(self, name):
        nodes = self.data.get("nodes", {})
        if name not in nodes:
            raise self._no_node(name, nodes, self.data.get("peers", {}))
        return nodes[name]


def _nets(values):
    nets = {ipaddress.ip_network(v) for v in values}
    return sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))


def _viewers(plan):
    """Every (viewer name, entry) pair: the nodes' entries and the external peers' entries."""
    for name, node in sorted(plan.get("nodes", {}).items()):
        for entry in node.get("peers", []):
            yield name, entry
    for name, entries in sorted(plan.get("peers", {}).items()):
        for entry in entries:
            yield name, entry


def _leader_for(plan, name):
    segment = plan.get("segments", {}).get(plan["nodes"][name].get("segment"))
    return segment["leader"] if segment else name


def _public_entry(entry):
    """An entry as a peer configures it: no relay bookkeeping, nothing secret (the plan has no secret)."""
    return {"name": entry["name"], "public_key": entry["public_key"], "endpoint": entry.get("endpoint"),
            "allowed_ips": list(entry.get("allowed_ips", [])),
            "persistent_keepalive": entry.get("persistent_keepalive")}


def _public_key(plan, name):
    if plan.get("nodes", {}).get(name, {}).get("public_key"):
        return plan["nodes"][name]["public_key"]
    for _viewer, entry in _viewers(plan):     # plans stored before nodes carried their own key
        if entry.get("name") == name and entry.get("public_key"):
            return entry["public_key"]
    return None


def _peer_sections(entries):
    """[Peer] sections alone, as ``wgconf.render`` writes them."""
    body = wgconf.render({"peers": entries})
    return body.split("\n[Interface]\n", 1)[1].lstrip("\n")
