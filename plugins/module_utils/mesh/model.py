# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh model: nodes (managed hosts), external peers and the mesh itself, parsed from plain data.

Parsing never stops at the first problem: every problem of every node is collected, each naming the
node or peer and the field, so a user fixes an inventory in one go. No IO, no Ansible imports.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field

from .errors import MeshError, Problem, described, shown

DEFAULT_CIDR = "10.4.0.0/16"
DEFAULT_PORT = 51820
DEFAULT_KEEPALIVE = 25
DEFAULT_STANDBYS = 1
DEFAULT_STANDBY_KEEPALIVE = 2
GRANULARITIES = ("full", "location", "cross")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_DNS_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    text: str = field(init=False, compare=False, repr=False)   # rendered once: configs print it many times

    def __post_init__(self):
        text = "[%s]:%d" % (self.host, self.port) if ":" in self.host else "%s:%d" % (self.host, self.port)
        object.__setattr__(self, "text", text)

    def __str__(self):
        return self.text


@dataclass(frozen=True)
class Node:
    """A managed host that runs a WireGuard interface of the mesh."""

    name: str
    location: str
    endpoint: Endpoint | None = None
    private_ips: tuple = ()          # ipaddress.IPv4Interface/IPv6Interface (address + prefix of its network)
    extra_cidrs: tuple = ()          # networks routed behind this node
    public_key: str | None = None
    keepalive: int | None = None     # None: automatic (only where the node sits behind NAT); 0: never
    leader: bool = False             # preference when a location elects its leader
    mesh_ip: object = None           # pinned mesh address, or None to allocate
    listen_port: int = DEFAULT_PORT

    @property
    def private_networks(self):
        return tuple(i.network for i in self.private_ips)


@dataclass(frozen=True)
class Peer:
    """An external WireGuard peer (a laptop, an edge device, another mesh): not managed by us."""

    name: str
    allowed_ips: tuple
    public_key: str
    endpoint: Endpoint | None = None
    keepalive: int | None = None


@dataclass(frozen=True)
class MeshSpec:
    cidr: object
    granularity: str
    nodes: tuple
    peers: tuple = ()
    keepalive: int = DEFAULT_KEEPALIVE
    port: int = DEFAULT_PORT
    assigned: dict = field(default_factory=dict)   # sticky mesh IPs from a state file: name -> address
    standbys: int = DEFAULT_STANDBYS  # standby leaders per location (0: no failover)
    standby_keepalive: int = DEFAULT_STANDBY_KEEPALIVE   # PersistentKeepalive on standby entries (live, warm)
    down: frozenset = frozenset()    # nodes the controller could not reach: elected only when no other can lead

    def node(self, name):
        index = self.__dict__.get("_node_index")
        if index is None:       # built once: callers look up every node (O(n), not O(n^2))
            index = {}
            for n in self.nodes:
                index.setdefault(n.name, n)
            object.__setattr__(self, "_node_index", index)
        if name not in index:
            raise KeyError(name)
        return index[name]


class _Collector:
    """Accumulates problems while parsing one object."""

    def __init__(self, problems, subject):
        self.problems = problems
        self.subject = subject

    def add(self, fieldname, message):
        self.problems.append(Problem(self.subject, fieldname, message))


def valid_key(value):
    """True when ``value`` is a base64 WireGuard key (32 bytes)."""
    if not isinstance(value, str) or len(value) != 44 or not value.endswith("="):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def parse_endpoint(value, default_port):
    """Parse ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("must be a string like 'host:port', got %s" % described(value))
    if not value.strip():
        raise ValueError("must be a non-empty string like 'host:port'")
    text = value.strip()
    port = default_port
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("%s is not a valid endpoint ([ipv6]:port)" % shown(value))
        if rest:
            port = rest[1:]
        _ipv6(value, host)
    elif text.count(":") > 1:
        host = text
        _ipv6(value, host)
    else:
        host, sep, port_text = text.partition(":")
        if sep:
            port = port_text
        if not _valid_host(host):
            raise ValueError("%s has an invalid host %s" % (shown(value), shown(host)))
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ValueError("%s has an invalid port %s" % (shown(value), shown(port)))
    if not 1 <= port <= 65535:
        raise ValueError("%s has port %d outside 1-65535" % (shown(value), port))
    return Endpoint(host, port)


def _ipv6(value, host):
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError("%s is not a valid endpoint (host, host:port, [ipv6]:port or a bare ipv6 address)"
                         % shown(value))


def _valid_host(host):
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        pass
    if re.match(r"^[0-9.]+$", host):
        return False  # looks like an IPv4 address but is not one
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(_DNS_LABEL_RE.match(label) for label in labels)


def _name(col, value, what="name"):
    if not isinstance(value, str):
        col.add(what, "must be a string, got %s" % described(value))
        return None
    if not _NAME_RE.match(value):
        col.add(what, "%s is not a valid name (letters, digits, '.', '_', '-'; at most 63)" % shown(value))
        return None
    return value


def _int(col, fieldname, value, low, high, default):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        else:
            got = described(value) if isinstance(value, bool) else shown(value)
            col.add(fieldname, "must be an integer, got %s" % got)
            return default
    if not low <= value <= high:
        col.add(fieldname, "%d is outside %d-%d" % (value, low, high))
        return default
    return value


def _list(col, fieldname, value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        col.add(fieldname, "must be a list, got %s" % described(value))
        return []
    return list(value)


_IP_TYPES = (str, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)


def _ip(parse, value):
    """``parse(value)`` for text (or an ipaddress object): a number is refused, never read as an address."""
    if not isinstance(value, _IP_TYPES):
        raise ValueError("must be text, got %s" % described(value))
    return parse(value)


def _interfaces(col, fieldname, value):
    out = []
    for item in _list(col, fieldname, value):
        try:
            out.append(_ip(ipaddress.ip_interface, item))
        except (TypeError, ValueError):
            col.add(fieldname, "%s is not an address with prefix (like 10.0.0.5/24)" % shown(item))
    return tuple(out)


def _networks(col, fieldname, value):
    out = []
    for item in _list(col, fieldname, value):
        try:
            out.append(_ip(ipaddress.ip_network, item))
        except (TypeError, ValueError) as exc:
            col.add(fieldname, "%s is not a network CIDR%s" % (shown(item), _why(exc)))
    return tuple(out)


def _why(exc):
    """`` (reason)`` from an ipaddress error, left out when it would repeat a long value."""
    text = str(exc)
    return " (%s)" % text if len(text) <= 100 else ""


def _key(col, fieldname, value, required):
    if value is None or value == "":
        if required:
            col.add(fieldname, "is required")
        return None
    if not valid_key(value):
        col.add(fieldname, "is not a WireGuard public key (44 base64 characters)")
        return None
    return value


def _endpoint(col, value, port):
    if value is None or value == "":
        return None
    try:
        return parse_endpoint(value, port)
    except ValueError as exc:
        col.add("endpoint", str(exc))
        return None


def _unknown(col, data, known):
    for key in sorted(set(data) - set(known), key=str):
        col.add(str(key), "is not a known field (known: %s)" % ", ".join(sorted(known)))


def _subject(value, default):
    """How a node or peer is named in messages: its name, shortened when huge, or ``default`` without one."""
    if value is None:
        return default
    text = str(value)
    return text if len(text) <= 64 else shown(text)


_NODE_FIELDS = ("name", "location", "endpoint", "private_ips", "extra_cidrs", "public_key", "keepalive",
                "leader", "mesh_ip", "listen_port")
_PEER_FIELDS = ("name", "allowed_ips", "public_key", "endpoint", "keepalive")


def parse_node(data, problems, default_port=DEFAULT_PORT):
    subject = data.get("name") if isinstance(data, dict) else None
    col = _Collector(problems, _subject(subject, "<node>"))
    if not isinstance(data, dict):
        col.add("", "a node must be a mapping, got %s" % described(data))
        return None
    _unknown(col, data, _NODE_FIELDS)
    name = _name(col, data.get("name"))
    location = data.get("location")
    if location is None or location == "":
        col.add("location", "is required")
        location = None
    else:
        location = _name(col, location, "location")
    port = _int(col, "listen_port", data.get("listen_port"), 1, 65535, default_port)
    leader = data.get("leader", False)
    if not isinstance(leader, bool):
        col.add("leader", "must be a boolean, got %s" % shown(leader))
        leader = False
    mesh_ip = data.get("mesh_ip")
    if mesh_ip not in (None, ""):
        try:
            mesh_ip = _ip(ipaddress.ip_address, mesh_ip)
        except ValueError:
            col.add("mesh_ip", "%s is not an IP address" % shown(mesh_ip))
            mesh_ip = None
    else:
        mesh_ip = None
    node = Node(
        name=name,
        location=location,
        endpoint=_endpoint(col, data.get("endpoint"), port),
        private_ips=_interfaces(col, "private_ips", data.get("private_ips")),
        extra_cidrs=_networks(col, "extra_cidrs", data.get("extra_cidrs")),
        public_key=_key(col, "public_key", data.get("public_key"), required=False),
        keepalive=_int(col, "keepalive", data.get("keepalive"), 0, 65535, None),
        leader=leader,
        mesh_ip=mesh_ip,
        listen_port=port,
    )
    return node if name and location else None


def parse_peer(data, problems):
    subject = data.get("name") if isinstance(data, dict) else None
    col = _Collector(problems, "peer %s" % _subject(subject, "<peer>"))
    if not isinstance(data, dict):
        col.add("", "a peer must be a mapping, got %s" % described(data))
        return None
    _unknown(col, data, _PEER_FIELDS)
    name = _name(col, data.get("name"))
    if data.get("allowed_ips") in (None, "", []):
        col.add("allowed_ips", "is required (the addresses this peer uses, like 10.5.0.1/32)")
    allowed = _networks(col, "allowed_ips", data.get("allowed_ips"))
    key = _key(col, "public_key", data.get("public_key"), required=True)
    peer = Peer(name=name, allowed_ips=allowed, public_key=key,
                endpoint=_endpoint(col, data.get("endpoint"), DEFAULT_PORT),
                keepalive=_int(col, "keepalive", data.get("keepalive"), 0, 65535, None))
    return peer if name and key and allowed else None


def parse_mesh(cidr=DEFAULT_CIDR, granularity="location", nodes=(), peers=(), keepalive=DEFAULT_KEEPALIVE,
               port=DEFAULT_PORT, assigned=None, standbys=DEFAULT_STANDBYS, standby_keepalive=DEFAULT_STANDBY_KEEPALIVE,
               down=()):
    """Build a MeshSpec from plain data, or raise MeshError listing every problem."""
    problems = []
    mesh = _Collector(problems, "mesh")
    try:
        net = ipaddress.ip_network(cidr)
        if net.num_addresses < 4:
            mesh.add("cidr", "%s is too small for a mesh" % net)
    except (TypeError, ValueError) as exc:
        mesh.add("cidr", "%s is not a network CIDR%s" % (shown(cidr), _why(exc)))
        net = None
    if granularity not in GRANULARITIES:
        mesh.add("granularity", "%r is not one of %s" % (granularity, ", ".join(GRANULARITIES)))
    keepalive = _int(mesh, "keepalive", keepalive, 1, 65535, DEFAULT_KEEPALIVE)
    port = _int(mesh, "port", port, 1, 65535, DEFAULT_PORT)
    standbys = _int(mesh, "standbys", standbys, 0, 16, DEFAULT_STANDBYS)
    standby_keepalive = _int(mesh, "standby_keepalive", standby_keepalive, 1, 65535, DEFAULT_STANDBY_KEEPALIVE)
    if not nodes:
        mesh.add("nodes", "the mesh has no nodes (is the inventory group empty?)")
    parsed_nodes = [parse_node(n, problems, port) for n in _list(mesh, "nodes", nodes)]
    parsed_peers = [parse_peer(p, problems) for p in _list(mesh, "peers", peers)]
    sticky = {}
    for name, address in sorted((assigned or {}).items()):
        try:
            sticky[name] = ipaddress.ip_address(address)
        except ValueError:
            mesh.add("assigned", "%s: %s is not an IP address" % (name, shown(address)))
    down = _down(mesh, down, parsed_nodes)
    if problems:
        raise MeshError(problems)
    return MeshSpec(cidr=net, granularity=granularity,
                    nodes=tuple(sorted(parsed_nodes, key=lambda n: n.name)),
                    peers=tuple(sorted(parsed_peers, key=lambda p: p.name)),
                    keepalive=keepalive, port=port, assigned=sticky, standbys=standbys,
                    standby_keepalive=standby_keepalive, down=frozenset(down))


def _down(mesh, down, nodes):
    """The names in ``down`` (nodes the controller could not reach), each checked to be a node."""
    names = {n.name for n in nodes if n is not None}
    out = set()
    for name in _list(mesh, "down", down or ()):
        if name in names:
            out.add(name)
        else:
            mesh.add("down", "%s is not a node of the mesh" % shown(name))
    return out
