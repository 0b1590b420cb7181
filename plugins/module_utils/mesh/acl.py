# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may reach what over the mesh (pure: no IO). A policy from the inventory, checked against the plan and the
inventory's groups, compiled into one nftables table that every host loads.

    {"default": {"members": "accept", "peers": "drop"},     # when no rule matches, by kind of source
     "tags": {"cameras": ["host:edge"]},                     # named sets of selectors
     "rules": [{"from": ["peer:operator"], "to": ["group:digitalocean"], "proto": "tcp", "ports": [8080]}, ...]}

Selectors: ``host:NAME``, ``group:NAME`` (inventory group, its mesh hosts), ``location:NAME``, ``peer:NAME``
(an external peer, sources only), ``tag:NAME`` and ``*`` (every host and peer as a source, every host as a
destination). Rules are tried in order, the first that matches decides (``action``: accept or drop).

What a host filters: what arrives on its WireGuard interface, for itself (input) and for others it forwards
(a leader for its location, a relay for NAT'd pairs, a host with extra CIDRs). Replies of flows the host opened
and ICMP errors pass; every other packet is held against the policy, so a policy change that still allows a flow
keeps it alive and one that denies it cuts it at its next packet. The mesh's own traffic always passes: WireGuard
itself travels outside the interface, and the failover agents' pings between mesh hosts are accepted before any
rule (a rule that would drop them is refused)."""

from __future__ import annotations

import hashlib
import ipaddress

from .errors import MeshError, Problem, described

ACTIONS = ("accept", "drop")
PROTOS = ("tcp", "udp", "icmp", "any")
KINDS = ("host", "group", "location", "peer", "tag")
_POLICY_FIELDS = ("default", "tags", "rules")
_RULE_FIELDS = ("name", "from", "to", "proto", "ports", "action")
SUBJECT = "wireguard_acls"


class Rule:
    """One checked rule: the member and peer names it matches as sources, the member names as destinations."""

    __slots__ = ("label", "src_members", "src_peers", "dst", "proto", "ports", "action")

    def __init__(self, label, src_members, src_peers, dst, proto, ports, action):
        self.label = label
        self.src_members, self.src_peers, self.dst = src_members, src_peers, dst
        self.proto, self.ports, self.action = proto, ports, action

    def covers(self, other):
        """Whether this rule matches every packet ``other`` matches (``other`` then never decides anything)."""
        return (other.src_members <= self.src_members and other.src_peers <= self.src_peers
                and other.dst <= self.dst and self.proto in ("any", other.proto)
                and (self.ports is None or (other.ports is not None and _within(other.ports, self.ports))))


class Policy:
    """A checked policy: its rules in order and the default verdict per kind of source."""

    def __init__(self, rules, members_default, peers_default, notes=()):
        self.rules = rules
        self.members_default = members_default
        self.peers_default = peers_default
        self.notes = list(notes)    # Problems that change nothing now (a peer that has not joined yet)


def _ports_text(ports):
    return ",".join(str(lo) if lo == hi else "%d-%d" % (lo, hi) for lo, hi in ports or ())


def summary(policy):
    """The policy as plain data for the plan (names, no addresses; linear in the hosts): its defaults and its
    rules in order, each with the hosts and peers it matches."""
    rules = [{"rule": r.label, "from": sorted(r.src_members | r.src_peers), "to": sorted(r.dst), "proto": r.proto,
              "ports": _ports_text(r.ports), "action": r.action} for r in policy.rules]
    return {"default": {"members": policy.members_default, "peers": policy.peers_default}, "rules": rules}


def _span(text):
    """(low, high) of a port ("22") or a range ("8000-8100"); ValueError when it is neither."""
    low, _dash, high = text.partition("-")
    return int(low), int(high or low)


def _parsed_ports(text):
    return [_span(item) for item in text.split(",")] if text else None


def opened_flows(plan_acl):
    """[(from, to, proto, ports)] every flow an accept rule of the plan's policy summary opens (per port or range
    it names) that no earlier drop rule closes, sorted; for drawing (it grows with hosts times hosts)."""
    flows, drops = {}, []
    for rule in plan_acl.get("rules", []):
        if rule["action"] == "drop":
            drops.append((set(rule["from"]), set(rule["to"]), rule["proto"], _parsed_ports(rule["ports"])))
            continue
        for item in (rule["ports"].split(",") if rule["ports"] else [""]):
            ports = _parsed_ports(item)
            closing = [(src, dst) for src, dst, proto, covered in drops if proto in ("any", rule["proto"])
                       and (covered is None or (ports is not None and _within(ports, covered)))]
            for a in rule["from"]:
                for b in rule["to"]:
                    if a != b and not any(a in src and b in dst for src, dst in closing):
                        flows.setdefault((a, b, rule["proto"]), []).append(item)
    return sorted((a, b, proto, ",".join(items)) for (a, b, proto), items in flows.items())


def _within(inner, outer):
    return all(any(lo <= a and b <= hi for lo, hi in outer) for a, b in inner)


def _listed(value):
    return [value] if isinstance(value, str) else value


def _ports(problems, where, value, proto):
    """[(low, high), ...] or None (every port)."""
    if value is None:
        return None
    if proto not in ("tcp", "udp"):
        problems.append(Problem(SUBJECT, where + ".ports", "ports go with proto tcp or udp, not %s" % proto))
        return None
    items = _listed(value) if isinstance(value, (str, list)) else [value]
    if not items:
        problems.append(Problem(SUBJECT, where + ".ports", "is empty: leave it out for every port"))
        return None
    out = []
    for item in items:
        text = str(item) if isinstance(item, (int, str)) and not isinstance(item, bool) else ""
        try:
            span = _span(text)
        except ValueError:
            span = None
        if span is None or not 1 <= span[0] <= span[1] <= 65535:
            problems.append(Problem(SUBJECT, where + ".ports", "%s is not a port (1-65535) or a range such as "
                                                               "8000-8100" % described(item)))
            continue
        out.append(span)
    return sorted(set(out)) or None


class _Resolver:
    """Selectors -> (member names, peer names), with a problem for each unknown name."""

    def __init__(self, spec, groups, tags, problems):
        self.members = sorted(n.name for n in spec.nodes)
        self.peers = sorted(p.name for p in spec.peers)
        locations = {}
        for node in spec.nodes:
            locations.setdefault(node.location, set()).add(node.name)
        # kind -> name -> (member names, peer names): built once, every selector looks it up
        self.table = {"host": dict((n, ({n}, set())) for n in self.members),
                      "peer": dict((p, (set(), {p})) for p in self.peers),
                      "location": dict((loc, (hosts, set())) for loc, hosts in locations.items()),
                      "group": dict((g, (set(hosts or ()) & set(self.members), set()))
                                    for g, hosts in (groups or {}).items())}
        self.tags = tags
        self.problems = problems
        self.notes = []             # one per selector naming a peer that is not (yet) an external peer

    def resolve(self, where, selectors, destination=False, seen=()):
        members, peers = set(), set()
        if not isinstance(selectors, (str, list)) or not selectors:
            self.problems.append(Problem(SUBJECT, where, "must be a selector or a list of them (host:NAME, "
                                                         "group:NAME, location:NAME, peer:NAME, tag:NAME, *), got %s"
                                         % described(selectors)))
            return members, peers
        for selector in _listed(selectors):
            found = self._one(where, selector, destination, seen)
            members |= found[0]
            peers |= found[1]
        return members, peers

    def _one(self, where, selector, destination, seen):
        if selector == "*":
            return set(self.members), (set() if destination else set(self.peers))
        kind, _colon, name = str(selector).partition(":") if isinstance(selector, str) else ("", "", "")
        table = self.table
        if kind == "tag" and name in self.tags:
            if name in seen:
                self.problems.append(Problem(SUBJECT, where, "tag:%s refers to itself" % name))
                return set(), set()
            return self.resolve("tags.%s" % name, self.tags[name], destination, seen + (name,))
        if kind not in KINDS or not name:
            self.problems.append(Problem(SUBJECT, where, "%s is not a selector (host:NAME, group:NAME, "
                                                         "location:NAME, peer:NAME, tag:NAME or *)" % described(selector)))
            return set(), set()
        if kind == "peer" and destination:
            self.problems.append(Problem(SUBJECT, where, "peer:%s: an external peer is not a destination (the "
                                                         "policy filters on the mesh hosts; a peer filters itself)"
                                         % name))
            return set(), set()
        if kind == "peer" and name not in table[kind]:
            # an external peer joins after the mesh exists (playbooks/operator.yml): its rules wait for it
            self.notes.append(Problem(SUBJECT, where, "peer:%s is not among the external peers (wireguard_peers) "
                                                      "yet: its rules match nothing until it joins" % name))
            return set(), set()
        if kind == "tag" or name not in table[kind]:
            known = sorted(self.tags if kind == "tag" else table[kind])
            self.problems.append(Problem(SUBJECT, where, "%s:%s is not known (known %ss: %s)"
                                         % (kind, name, kind, ", ".join(known) or "none")))
            return set(), set()
        members, peers = table[kind][name]
        return set(members), set(peers)


def parse_policy(data, spec, groups=None):
    """The checked Policy of ``data`` (``wireguard_acls``) for the mesh ``spec``; None for no policy (nothing is
    filtered). Raises MeshError with one problem per mistake."""
    if data in (None, {}):
        return None
    problems = []
    if not isinstance(data, dict):
        raise MeshError(Problem(SUBJECT, "", "must be a mapping with rules (and default, tags), got %s"
                                % described(data)))
    for key in sorted(set(data) - set(_POLICY_FIELDS), key=str):
        problems.append(Problem(SUBJECT, str(key), "is not a known field (known: %s)" % ", ".join(_POLICY_FIELDS)))
    default = data.get("default") or {}
    verdicts = {}
    for kind, fallback in (("members", "accept"), ("peers", "drop")):
        verdicts[kind] = default.get(kind, fallback) if isinstance(default, dict) else fallback
        if verdicts[kind] not in ACTIONS:
            problems.append(Problem(SUBJECT, "default.%s" % kind, "must be accept or drop, got %s"
                                    % described(verdicts[kind])))
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        problems.append(Problem(SUBJECT, "tags", "must map tag names to selectors, got %s" % described(tags)))
        tags = {}
    resolver = _Resolver(spec, groups, tags, problems)
    rules = []
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.append(Problem(SUBJECT, "rules", "must be a list, got %s" % described(raw_rules)))
        raw_rules = []
    for index, raw in enumerate(raw_rules):
        rule = _parse_rule(problems, resolver, index, raw)
        if rule is not None:
            _check_rule(problems, rule, rules)
            rules.append(rule)
    if problems:
        raise MeshError(problems)
    return Policy(rules, verdicts["members"], verdicts["peers"], resolver.notes)


def _parse_rule(problems, resolver, index, raw):
    where = "rules[%d]" % index
    if not isinstance(raw, dict):
        problems.append(Problem(SUBJECT, where, "must be a mapping with from, to and proto, got %s" % described(raw)))
        return None
    if raw.get("name"):
        where = "rules[%d] (%s)" % (index, raw["name"])
    before = len(problems)
    for key in sorted(set(raw) - set(_RULE_FIELDS), key=str):
        problems.append(Problem(SUBJECT, "%s.%s" % (where, key), "is not a known field (known: %s)"
                                % ", ".join(_RULE_FIELDS)))
    waiting = len(resolver.notes)
    src_members, src_peers = resolver.resolve(where + ".from", raw.get("from"))
    pending = len(resolver.notes) > waiting       # names a peer that has not joined yet
    dst, _none = resolver.resolve(where + ".to", raw.get("to"), destination=True)
    proto = raw.get("proto", "any")
    if proto not in PROTOS:
        problems.append(Problem(SUBJECT, where + ".proto", "must be one of %s, got %s"
                                % (", ".join(PROTOS), described(proto))))
    ports = _ports(problems, where, raw.get("ports"), proto)
    action = raw.get("action", "accept")
    if action not in ACTIONS:
        problems.append(Problem(SUBJECT, where + ".action", "must be accept or drop, got %s" % described(action)))
    if len(problems) > before or (pending and not (src_members | src_peers)):
        return None     # a rule of a peer still to join is checked, and kept out until it joins
    return Rule(where, frozenset(src_members), frozenset(src_peers), frozenset(dst), proto, ports, action)


def _check_rule(problems, rule, earlier):
    """A rule that can never match, or that would drop the mesh's own traffic, is refused."""
    if not rule.dst or not (rule.src_members | rule.src_peers):
        problems.append(Problem(SUBJECT, rule.label, "can never match: its %s is empty"
                                % ("to" if not rule.dst else "from")))
        return
    if not rule.src_peers and rule.src_members == rule.dst and len(rule.dst) == 1:
        problems.append(Problem(SUBJECT, rule.label, "can never match: a host's traffic to itself does not cross "
                                                     "the mesh"))
        return
    for other in earlier:
        if other.covers(rule):
            problems.append(Problem(SUBJECT, rule.label, "can never match: %s before it matches everything it does"
                                    % other.label))
            return
    if rule.action == "drop" and rule.proto == "icmp" and rule.src_members:
        problems.append(Problem(SUBJECT, rule.label, "would drop ICMP between mesh hosts: the failover agents "
                                                     "ping their leaders and relays over the mesh, and those pings "
                                                     "always pass; limit it to external peers (peer:NAME)"))


# --- compiling ----------------------------------------------------------------------------------------------
def member_addresses(spec, mesh_ips, name):
    """The addresses traffic of a mesh host carries over the mesh: its mesh IP, its private addresses, the
    networks routed behind it."""
    node = spec.node(name)
    nets = [ipaddress.ip_network(mesh_ips[name])]
    nets += [ipaddress.ip_network(i.ip) for i in node.private_ips]
    nets += [ipaddress.ip_network(c) for c in node.extra_cidrs]
    return nets


def _set(nets, version):
    chosen = sorted({str(n) for n in nets if n.version == version},
                    key=ipaddress.ip_network)
    return "{ %s }" % ", ".join(chosen) if chosen else None


def _families(nets):
    """[(nft family, address set)] for each IP version ``nets`` has addresses of."""
    found = [(family, _set(nets, version)) for family, version in (("ip", 4), ("ip6", 6))]
    return [(family, text) for family, text in found if text]


def compile_table(policy, spec, mesh_ips, interface="wg0"):
    """The policy as one nftables table, the same on every host (``nft -f`` text; same policy, same bytes).

    Both base chains (input: for the host itself; forward: for the hosts it forwards for) send what arrives on
    the WireGuard interface to one ``mesh_policy`` chain, whose rules match source and destination addresses: on a
    host, the rules whose destinations include it decide what reaches it, and the others what it forwards. One
    text for the whole mesh keeps the plan's size linear in the hosts."""
    member = dict((n.name, member_addresses(spec, mesh_ips, n.name)) for n in spec.nodes)
    peer = dict((p.name, [ipaddress.ip_network(n) for n in p.allowed_ips]) for p in spec.peers)

    def addresses(members, peers=()):
        return [n for m in sorted(members) for n in member[m]] + [n for p in sorted(peers) for n in peer[p]]

    everyone = addresses(member)
    lines = ["ct state established ct direction reply accept  # replies of flows opened from here",
             "ct state related accept  # ICMP errors"]
    for family, saddr in _families(everyone):
        lines.append("%s saddr %s %s type echo-request accept  # failover probes"
                     % (family, saddr, "icmp" if family == "ip" else "icmpv6"))
    for rule in policy.rules:
        targets = dict(_families(addresses(rule.dst)))
        for family, saddr in _families(addresses(rule.src_members, rule.src_peers)):
            if family in targets:
                match = "%s saddr %s %s daddr %s" % (family, saddr, family, targets[family])
                lines.append("%s%s %s  # %s" % (match, _l4(rule, family), rule.action, rule.label))
    for kind, nets, verdict in (("members", everyone, policy.members_default),
                                ("peers", addresses((), peer), policy.peers_default)):
        for family, saddr in _families(nets):
            lines.append("%s saddr %s %s  # default for %s" % (family, saddr, verdict, kind))
    lines.append("drop  # no mesh host or peer has this address")
    table = "wiremesh_%s" % interface.replace("-", "_")
    text = ["table inet %s {" % table]
    for hook in ("input", "forward"):
        text += ["\tchain %s {" % hook, "\t\ttype filter hook %s priority filter; policy accept;" % hook,
                 '\t\tiifname "%s" jump mesh_policy' % interface, "\t}"]
    text += ["\tchain mesh_policy {"] + ["\t\t" + line for line in lines] + ["\t}", "}"]
    rendered = "\n".join(text) + "\n"
    digest = hashlib.sha256(rendered.encode()).hexdigest()[:16]
    return rendered.replace("table inet %s {" % table, 'table inet %s {\n\tcomment "wiremesh %s"' % (table, digest), 1)


def _l4(rule, family):
    """The layer-4 part of a rule's match."""
    if rule.proto == "any":
        return ""
    if rule.proto == "icmp":
        return " meta l4proto %s" % ("icmp" if family == "ip" else "ipv6-icmp")
    if not rule.ports:
        return " meta l4proto %s" % rule.proto
    return " %s dport { %s }" % (rule.proto, _ports_text(rule.ports).replace(",", ", "))
