# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh as a Graphviz DOT graph (like Kilo's ``kgctl graph``). Pure: plan dict (render.plan_dict, the
state file's ``plan``) in, text out; the same plan always gives the same bytes.

- one cluster per location, its leader drawn bold with ``leader`` in the label;
- nodes behind NAT (no endpoint) dashed, with ``NAT``; nodes that relay or forward for others marked ``relay``
  or ``forwards``;
- external peers as boxes outside the clusters;
- one solid edge per WireGuard peering, labelled with the endpoint each side dials (``a -> host:port``) and
  the keepalive; a dashed grey one, labelled ``standby``, for the entries held for a failover (no AllowedIPs
  yet); standby leaders and relays marked ``standby``; one dotted edge per relayed pair, labelled
  ``via <relay>``;
- with ``cross`` granularity, dashed grey edges for the unencrypted routes over a shared private network;
- with ``flows`` and an access policy, one blue arrow per flow the policy lets open (``tcp 8080``), from the host
  or peer that may open it to the host it reaches; the defaults by kind of source are in the title.
"""

from __future__ import annotations

from .acl import opened_flows


def _q(text):
    """A DOT double-quoted string."""
    return '"%s"' % str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _attrs(**attrs):
    return "[%s]" % ", ".join("%s=%s" % (k, _q(v)) for k, v in sorted(attrs.items()) if v is not None)


def _head(plan, segment):
    """The graph node that stands for a segment: its leader, or the external peer itself."""
    seg = plan.get("segments", {}).get(segment)
    return seg["leader"] if seg else segment


def _relay_heads(plan):
    return {_head(plan, r["via"]) for r in plan.get("relays", [])}


def _standbys(plan):
    out = {n for seg in plan.get("segments", {}).values() for n in seg.get("standbys", [])}
    for relay in plan.get("relays", []):
        out.update(_head(plan, r) for r in relay.get("standbys", []))
    return out


def _node_line(plan, name, node, relays, standbys=()):
    marks = []
    if node.get("leader") and plan.get("granularity") == "location":
        marks.append("leader")
    if name in standbys:
        marks.append("standby")
    if node.get("nat"):
        marks.append("NAT")
    if name in relays:
        marks.append("relay")
    elif node.get("forward"):
        marks.append("forwards")
    label = "%s\n%s" % (name, node["mesh_ip"])
    if marks:
        label += "\n[%s]" % ", ".join(marks)
    styles = ["rounded"]
    if node.get("leader") and plan.get("granularity") == "location":
        styles.append("bold")
    if node.get("nat"):
        styles.append("dashed")
    return "%s %s;" % (_q(name), _attrs(shape="box", style=",".join(styles), label=label))


def _peer_addresses(plan, name):
    for node in plan.get("nodes", {}).values():
        for entry in node.get("peers", []):
            if entry["name"] == name and entry.get("kind") == "peer" and not entry.get("relays"):
                return entry.get("allowed_ips", [])
    return []


def _edges(plan):
    """{(a, b): {a: entry a holds for b, b: entry b holds for a}} for every WireGuard peering, a < b."""
    edges = {}
    holders = [(n, d.get("peers", [])) for n, d in plan.get("nodes", {}).items()]
    holders += list(plan.get("peers", {}).items())
    for holder, entries in holders:
        for entry in entries:
            pair = tuple(sorted((holder, entry["name"])))
            edges.setdefault(pair, {})[holder] = entry
    return edges


def _standby_edge(sides):
    """An entry pair held for a failover: no AllowedIPs on either side yet."""
    return all(not entry.get("allowed_ips") for entry in sides.values())


def _edge_label(a, b, sides):
    parts = ["standby"] if _standby_edge(sides) else []
    for src, dst in ((a, b), (b, a)):
        entry = sides.get(src)
        if entry is None:
            continue
        text = "%s -> %s" % (src, entry["endpoint"]) if entry.get("endpoint") else None
        if entry.get("persistent_keepalive"):
            text = (text or "%s (no endpoint)" % src) + " ka %ss" % entry["persistent_keepalive"]
        if text:
            parts.append(text)
    return "\n".join(parts)


def _flow_lines(plan):
    """Blue arrows for the flows of the plan's access policy, one per source, destination and protocol."""
    merged = {}
    for src, dst, proto, ports in opened_flows(plan.get("acl") or {}):
        merged.setdefault((src, dst), []).append("%s %s" % (proto, ports) if ports else proto)
    return ["  %s -- %s %s;" % (_q(a), _q(b), _attrs(dir="forward", color="blue", fontcolor="blue",
                                                     constraint="false", label=", ".join(merged[(a, b)])))
            for a, b in sorted(merged)]


def to_dot(plan, name="wiremesh", flows=False):
    """The plan as DOT text (an undirected graph); ``flows`` adds the access policy's allowed flows."""
    nodes = plan.get("nodes", {})
    relays, standbys = _relay_heads(plan), _standbys(plan)
    title = "%s %s (%s granularity)%s" % (name, plan.get("cidr", ""), plan.get("granularity", ""),
                                          _policy_title(plan) if flows else "")
    lines = ["graph %s {" % _q(name),
             '  graph [fontname="Helvetica", label=%s, labelloc="t", compound="true"];' % _q(title),
             '  node [fontname="Helvetica", fontsize="10"];',
             '  edge [fontname="Helvetica", fontsize="8"];']
    locations = {}
    for node_name, node in nodes.items():
        locations.setdefault(node.get("location") or node_name, []).append(node_name)
    for index, location in enumerate(sorted(locations)):
        lines.append("  subgraph %s {" % _q("cluster_%d" % index))
        lines.append("    label=%s; style=%s;" % (_q("location " + location), _q("rounded")))
        for node_name in sorted(locations[location]):
            lines.append("    " + _node_line(plan, node_name, nodes[node_name], relays, standbys))
        lines.append("  }")
    for peer in sorted(plan.get("peers", {})):
        label = "%s\n%s\n[external peer]" % (peer, ", ".join(_peer_addresses(plan, peer)))
        lines.append("  %s %s;" % (_q(peer), _attrs(shape="note", style="dashed", label=label)))
    edges = _edges(plan)
    for a, b in sorted(edges):
        standby = _standby_edge(edges[(a, b)])
        lines.append("  %s -- %s %s;" % (_q(a), _q(b), _attrs(
            label=_edge_label(a, b, edges[(a, b)]) or None, style="dashed" if standby else None,
            color="grey" if standby else None)))
    for relay in plan.get("relays", []):
        a, b = (_head(plan, s) for s in relay["between"])
        attrs = _attrs(style="dotted", constraint="false", label="via %s" % _head(plan, relay["via"]))
        lines.append("  %s -- %s %s;" % (_q(a), _q(b), attrs))
    seen = set()
    for node_name in sorted(nodes):
        for route in nodes[node_name].get("routes", []):
            owner = _route_owner(nodes, route)
            if owner and tuple(sorted((node_name, owner))) not in seen:
                seen.add(tuple(sorted((node_name, owner))))
                lines.append("  %s -- %s %s;" % (_q(node_name), _q(owner), _attrs(
                    style="dashed", color="grey", label="private %s" % route["via"])))
    if flows:
        lines += _flow_lines(plan)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _policy_title(plan):
    policy = plan.get("acl")
    if not policy:
        return "\nno access policy: every flow is allowed"
    return ("\nblue: flows the access policy opens; otherwise hosts %s, external peers %s"
            % (policy["default"]["members"], policy["default"]["peers"]))


def _route_owner(nodes, route):
    """The node whose mesh IP a private route (cross granularity) leads to."""
    to = route["to"].split("/")[0]
    for name, node in nodes.items():
        if node["mesh_ip"] == to:
            return name
    return None
