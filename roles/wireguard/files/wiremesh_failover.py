# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wiremesh-failover: keep a WireGuard interface's AllowedIPs pointed at live location leaders and relays.

usage: wiremesh-failover [--interface IFACE] [--table PATH] [--state PATH] [--once]
  --interface IFACE  the WireGuard interface (default wg0)
  --table PATH       the planner's table (default /etc/wireguard/IFACE.failover.json)
  --state PATH       where the state is published (default /run/wiremesh/failover-IFACE.state.json)
  --once             one tick (read the table and wg, decide, apply, write the state; no probes), then exit

Runs as root on every mesh host (python3 >= 3.9, stdlib only; exit 1 when it may not open raw ICMP sockets).
SIGTERM/SIGINT: exit 0. When its own program file changes (an upgrade), it execs the new one.

Table: {"version": 1, "interface", "self", "probe": {"interval_s", "misses", "hold_s", "standby_fresh_s"},
  "peers": {NAME: {"public_key", "mesh_ip"}}, "follow": null | GROUP, "static": {NAME: [CIDR...]},
  "lead": [GROUP...], "dead": [NAME...]} (dead: hosts the controller planned around; held dead from the start),
  GROUP = {"name", "candidates": [NAME...], "ranges": [CIDR...]}; every candidate and
  static name is a peer, except self as a candidate (always alive and fresh; its ranges go to no peer); a peer
  without mesh_ip (null) cannot be probed, so it is never marked dead. Re-read when its mtime/size changes (dead/alive
  knowledge of hosts still in it is kept, groups restart at their first non-dead candidate); a table that does
  not parse (or names another interface) is reported once and the previous one kept; without one the agent waits.

Modes (only table peers that are peers of the interface are ever touched):
  follow null                   lead: each peer gets its static ranges plus the ranges of every lead group whose
                                active candidate it is
  self not in follow.candidates member: follow's active candidate gets follow.ranges, every other peer nothing
                                (lead and static are ignored)
  self in follow.candidates     standby leader: self counts as alive and fresh; lead while follow's active
                                candidate is self, member otherwise

Active candidate of each group (follow and every lead group, independently; the same on every host that sees the
same): candidates[0] at start. Every interval_s one ICMP echo (identifier + sequence) goes to the mesh_ip of the
active candidate of each group with several candidates (not self) and of each dead host; a reply counts when it
arrives before the next tick.
  - `misses` consecutive missed probes mark a host dead (globally; a tick it is not probed ends the streak). A
    group whose active candidate is dead switches to the first non-dead candidate that is fresh (its rx counter
    grew within standby_fresh_s), else to the first non-dead one; when all are dead it keeps the current one.
  - A dead host is alive again after answering every probe for hold_s s in a row (a miss restarts the clock);
    every group in which it precedes the active candidate then switches back to it. While it is dead its own
    mesh address (/32, /128) stays on its own entry, the rest of its ranges go to the one that replaced it, so
    that its replies to these probes are not dropped (they come straight from it, not through its replacement).
  - Isolation: when no peer of the interface had its rx counter grow for misses * interval_s s, the host itself
    is cut off and marks nobody dead; after it reconnects it still marks nobody dead for hold_s +
    misses * interval_s s, then the miss counters start from zero. (So live standbys must send more often than
    that: a short PersistentKeepalive.)

Each tick the desired AllowedIPs are compared with `wg show IFACE allowed-ips`, and the peers that differ are
set with one `wg set IFACE peer K allowed-ips a,b ...` (peers gaining ranges first, then those losing some; an
empty set is ""), which also re-asserts the choice after anything else reset it. A missing interface skips the
tick (reported once when it goes, once when it is back). Preshared keys are never read (no `dump`/`showconf`).
Switches are logged to stdout (`GROUP: OLD -> NEW (REASON)`), and so are isolation, reconnection and dead/alive
marks. After each tick that changed something, and at least every 5 s, the state file is replaced atomically:
{"version": 1, "interface", "self", "updated", "mode": "lead"|"member", "isolated", "groups": [{"name",
"candidates", "active", "preferred"}], "dead": [NAME...], "switches": [last 20 {"time", "group", "from", "to",
"reason"}]}.
"""
import argparse
import base64
import collections
import ipaddress
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

DESCRIPTION = "\n\n".join(__doc__.split("\n\n")[:1] + __doc__.split("\n\n")[2:])  # all but the usage
STATE_EVERY_S = 5.0
SWITCHES_KEPT = 20
EPS = 1e-6
Probe = collections.namedtuple("Probe", "interval_s misses hold_s standby_fresh_s")
Peer = collections.namedtuple("Peer", "public_key mesh_ip")
Group = collections.namedtuple("Group", "name candidates ranges")
Switch = collections.namedtuple("Switch", "group old new reason")
Decision = collections.namedtuple("Decision", "allowed switches notes changed")


class TableError(ValueError):
    """The table is malformed or contradicts itself."""


def _need(condition, message, *args):
    if not condition:
        raise TableError(message % args)


def _net_key(cidr):
    net = ipaddress.ip_network(cidr)
    return net.version, net.network_address, net.prefixlen


def sort_cidrs(cidrs):
    """Normalised, deduplicated CIDR strings in address order."""
    return sorted({str(ipaddress.ip_network(c, strict=False)) for c in cidrs}, key=_net_key)


def own_address(mesh_ip):
    """The host route (/32, /128) of a mesh IP, or None. A dead candidate keeps it on its own entry while its
    ranges are elsewhere: the probes that tell when it is back go straight to it, and its replies, which it sends
    straight back (it still thinks it leads), are accepted. Through whoever replaced it they would be dropped:
    WireGuard accepts a packet only from the peer whose AllowedIPs hold its source."""
    if mesh_ip is None:
        return None
    address = ipaddress.ip_address(mesh_ip)
    return str(ipaddress.ip_network("%s/%d" % (address, address.max_prefixlen)))


def _cidrs(value, where):
    _need(isinstance(value, list) and all(isinstance(v, str) for v in value), "%s: expected a list of CIDRs", where)
    try:
        return tuple(sort_cidrs(value))
    except ValueError as exc:
        raise TableError("%s: %s" % (where, exc)) from exc


class Table:
    """A parsed, checked failover table (format: see the module docstring)."""

    def __init__(self, doc):
        _need(isinstance(doc, dict) and doc.get("version") == 1, "not a version 1 failover table")
        for key in ("interface", "self"):
            _need(isinstance(doc.get(key), str) and doc[key], "%s: expected a non-empty string", key)
        self.interface, self.self_name = doc["interface"], doc["self"]
        probe = doc.get("probe")
        _need(isinstance(probe, dict), "probe: expected an object")
        for key, kinds, minimum in (("interval_s", (int, float), 0.01), ("misses", int, 1),
                                    ("hold_s", (int, float), 0), ("standby_fresh_s", (int, float), 0.01)):
            value = probe.get(key)
            _need(isinstance(value, kinds) and not isinstance(value, bool) and value >= minimum,
                  "probe.%s: expected a number >= %s", key, minimum)
        self.probe = Probe(probe["interval_s"], probe["misses"], probe["hold_s"], probe["standby_fresh_s"])
        self.peers = {name: self._peer(name, peer) for name, peer in self._object(doc, "peers").items()}
        _need(len({p.public_key for p in self.peers.values()}) == len(self.peers), "peers: a public key twice")
        self.follow = None if doc.get("follow") is None else self._group(doc["follow"], "follow")
        self.static = {}
        for name, ranges in self._object(doc, "static").items():
            _need(name in self.peers, "static: %r is not a peer", name)
            self.static[name] = _cidrs(ranges, "static.%s" % name)
        _need(isinstance(doc.get("lead", []), list), "lead: expected a list")
        self.lead = [self._group(g, "lead[%d]" % i) for i, g in enumerate(doc.get("lead", []))]
        dead = doc.get("dead", [])
        _need(isinstance(dead, list) and all(n in self.peers for n in dead), "dead: expected a list of peers")
        self.dead = frozenset(dead) - {self.self_name}

    @staticmethod
    def _object(doc, key):
        _need(isinstance(doc.get(key, {}), dict), "%s: expected an object", key)
        return doc.get(key, {})

    @staticmethod
    def _peer(name, peer):
        key = peer.get("public_key") if isinstance(peer, dict) else None
        _need(isinstance(key, str) and key and not any(c.isspace() or c == "," for c in key),
              "peers.%s.public_key: not a WireGuard key", name)
        try:
            mesh_ip = peer.get("mesh_ip")
            return Peer(key, None if mesh_ip is None else str(ipaddress.ip_address(str(mesh_ip))))
        except ValueError as exc:
            raise TableError("peers.%s.mesh_ip: %s" % (name, exc)) from exc

    def _group(self, group, where):
        _need(isinstance(group, dict) and isinstance(group.get("name"), str), "%s: expected a group object", where)
        candidates = group.get("candidates")
        _need(isinstance(candidates, list) and candidates and len(set(map(str, candidates))) == len(candidates),
              "%s.candidates: expected a non-empty list of distinct names", where)
        for name in candidates:
            _need(name in self.peers or name == self.self_name, "%s: %r is not a peer", where, name)
        return Group(group["name"], tuple(candidates), _cidrs(group.get("ranges"), "%s.ranges" % where))

    def unprobed(self):
        """Candidates that cannot be probed (no mesh_ip): they are never marked dead."""
        return sorted({c for g in self.decided_groups() if len(g.candidates) > 1 for c in g.candidates
                       if c in self.peers and c != self.self_name and self.peers[c].mesh_ip is None})

    def decided_groups(self):
        """The groups this host decides: follow first (if any), then the lead groups unless it is a plain member."""
        if self.follow is None:
            return list(self.lead)
        return [self.follow] + (self.lead if self.self_name in self.follow.candidates else [])


def read_table(path, interface):
    """The Table in the file at path; TableError if it is for another interface."""
    with open(path, encoding="utf-8") as fh:
        table = Table(json.load(fh))
    _need(table.interface == interface, "the table is for %s, not %s", table.interface, interface)
    return table


class Decider:
    """The failover state machine: no IO, no clock of its own (`now` is monotonic seconds)."""

    def __init__(self, table, now):
        self.dead, self.misses, self.clean_since = set(), {}, {}
        self.rx, self.grew, self.last_growth = {}, {}, now
        self.isolated, self.quiet_until = False, None
        self.table, self.groups, self.active = None, [], []
        self.reload(table)

    def reload(self, table):
        """Take a new table: dead/alive knowledge of hosts still in it is kept; groups restart."""
        names = set(table.peers) - {table.self_name}
        self.dead = (self.dead & names) | table.dead     # the controller planned around these: dead until they answer
        self.misses = {n: c for n, c in self.misses.items() if n in names}
        self.clean_since = {n: t for n, t in self.clean_since.items() if n in self.dead}
        self.table, self.groups = table, table.decided_groups()
        self.active = [next((c for c in g.candidates if c not in self.dead), g.candidates[0]) for g in self.groups]

    @property
    def mode(self):
        follow = self.table.follow
        return "lead" if follow is None or self.active[0] == self.table.self_name else "member"

    def fresh(self, name, now):
        if name == self.table.self_name:
            return True
        grew = self.grew.get(self.table.peers[name].public_key)
        return grew is not None and now - grew <= self.table.probe.standby_fresh_s + EPS

    def targets(self):
        """{name: mesh_ip} to probe this tick: multi-candidate groups' active candidates and the dead. A host that
        follows a leader (a member, or a standby while its leader lives) routes everything through that leader,
        so it probes only its own location's group; a standby learns the other groups when it starts leading."""
        groups = list(zip(self.groups, self.active))
        names = set(self.dead)
        if self.mode == "member":
            groups = groups[:1]
            names &= set(groups[0][0].candidates)
        names.update(a for g, a in groups if len(g.candidates) > 1)
        names.discard(self.table.self_name)
        peers = self.table.peers
        return {n: peers[n].mesh_ip for n in sorted(names) if n in peers and peers[n].mesh_ip is not None}

    def desired(self):
        """{public_key: [cidr...]} for every table peer."""
        table = self.table
        allowed = {name: [] for name in table.peers}
        if self.mode == "member":
            if self.active[0] in allowed:
                allowed[self.active[0]] = list(table.follow.ranges)
        else:
            for name, ranges in table.static.items():
                allowed[name].extend(ranges)
            first = 0 if table.follow is None else 1
            for group, active in zip(self.groups[first:], self.active[first:]):
                if active in allowed:
                    allowed[active].extend(group.ranges)
        allowed = {n: sort_cidrs(r) for n, r in allowed.items()}
        for name in sorted(self.dead):   # a dead host keeps its own address on its own entry: see own_address
            own = own_address(table.peers[name].mesh_ip) if name in table.peers else None
            if own is not None:
                for other, ranges in allowed.items():
                    if own in ranges and other != name:
                        ranges.remove(own)
                allowed[name] = sort_cidrs(allowed[name] + [own])
        return {table.peers[n].public_key: r for n, r in allowed.items()}

    def tick(self, now, probes, rx):
        """Feed one tick: probes {name: answered?} of the last targets(), rx {public_key: bytes} of every peer."""
        notes = self._update_rx(now, rx)
        died, revived = self._count(now, probes, marking=not self.isolated and self.quiet_until is None)
        misses = self.table.probe.misses
        notes += ["%s dead (missed %d probes in a row)" % (n, misses) for n in died]
        notes += ["%s alive again (healthy for %.1f s)" % (n, t) for n, t in revived.items()]
        switches = self._decide(now, set(died), revived)
        return Decision(self.desired(), switches, notes, bool(notes or switches))

    def _update_rx(self, now, rx):
        for key, value in rx.items():
            if key in self.rx and value > self.rx[key]:
                self.grew[key] = self.last_growth = now
            self.rx[key] = value
        probe = self.table.probe
        window = probe.misses * probe.interval_s
        quiet = now - self.last_growth
        if not self.isolated and quiet >= window - EPS:  # at the latest when a miss streak could mark
            self.isolated, self.quiet_until = True, None
            return ["isolated: no peer sent anything for %.1f s; marking nobody dead" % quiet]
        if self.isolated and self.last_growth == now:
            self.isolated, self.quiet_until = False, now + probe.hold_s + window
            return ["reconnected: marking nobody dead for %.1f s" % (probe.hold_s + window)]
        if self.quiet_until is not None and now >= self.quiet_until - EPS:
            self.quiet_until = None
            self.misses.clear()
        return []

    def _count(self, now, probes, marking):
        probe, died, revived = self.table.probe, [], {}
        for name in [n for n in self.misses if n not in probes]:  # not probed: its streak is over
            del self.misses[name]
        for name, answered in sorted(probes.items()):
            if name not in self.table.peers or name == self.table.self_name:
                continue
            if not answered:
                self.misses[name] = self.misses.get(name, 0) + 1
                self.clean_since.pop(name, None)
                if marking and name not in self.dead and self.misses[name] >= probe.misses:
                    self.dead.add(name)
                    died.append(name)
                continue
            self.misses[name] = 0
            if name in self.dead:
                since = self.clean_since.setdefault(name, now)
                if now - since >= probe.hold_s - EPS:
                    self.dead.discard(name)
                    del self.clean_since[name]
                    revived[name] = now - since
        return died, revived

    def _decide(self, now, died, revived):
        switches = []
        for i, group in enumerate(self.groups):
            current, new, reason = self.active[i], self.active[i], ""
            if current in self.dead:
                alive = [c for c in group.candidates if c not in self.dead]
                new = next((c for c in alive if self.fresh(c, now)), alive[0] if alive else current)
                reason = "%s is dead" % current
                if current in died:
                    reason = "%s missed %d probes in a row" % (current, self.table.probe.misses)
            else:
                new = next((c for c in group.candidates[:group.candidates.index(current)] if c in revived), current)
            if new in revived:
                reason = "%s healthy for %.1f s" % (new, revived[new])
            if new != current:
                self.active[i] = new
                switches.append(Switch(group.name, current, new, reason))
        return switches

    def snapshot(self):
        return {"mode": self.mode, "isolated": self.isolated, "dead": sorted(self.dead),
                "groups": [{"name": g.name, "candidates": list(g.candidates), "active": a,
                            "preferred": g.candidates[0]} for g, a in zip(self.groups, self.active)]}


def run_command(argv, timeout=10):
    """(rc, stdout, stderr) of argv; rc 127 when it cannot run."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def parse_transfer(text):
    """`wg show IFACE transfer` -> {public_key: rx_bytes}."""
    rx = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].isdigit():
            rx[fields[0]] = int(fields[1])
    return rx


def parse_allowed_ips(text):
    """`wg show IFACE allowed-ips` -> {public_key: [cidr...]} (normalised, sorted)."""
    allowed = {}
    for line in text.splitlines():
        fields = line.split()
        if fields:
            allowed[fields[0]] = sort_cidrs(c for c in fields[1:] if c != "(none)")
    return allowed


def parse_uapi(text):
    """A userspace WireGuard's `get=1` answer (wireguard-go's UAPI) -> ({public_key: rx_bytes}, {public_key:
    [cidr...]}). Keys come in hex; the interface's own lines (its private key among them) come before the first
    public_key and are skipped unread."""
    rx, allowed, key = {}, {}, None
    for line in text.splitlines():
        name, dummy, value = line.partition("=")
        if name == "public_key":
            key = base64.b64encode(bytes.fromhex(value)).decode()
            rx[key], allowed[key] = 0, []
        elif key is None:
            continue
        elif name == "rx_bytes" and value.isdigit():
            rx[key] = int(value)
        elif name == "allowed_ip":
            allowed[key].append(value)
    return rx, {k: sort_cidrs(v) for k, v in allowed.items()}


def set_command(interface, desired, live):
    """One `wg set` argv for the peers of the interface whose AllowedIPs differ (gainers first), or None."""
    gainers, losers = [], []
    for key in sorted(desired):
        if key in live and set(desired[key]) != set(live[key]):
            (gainers if set(desired[key]) - set(live[key]) else losers).append(key)
    argv = ["wg", "set", interface]
    for key in gainers + losers:
        argv += ["peer", key, "allowed-ips", ",".join(desired[key])]
    return argv if len(argv) > 3 else None


class WgError(RuntimeError):
    """A `wg` command failed (usually: the interface is missing)."""


class Wg:
    """What the agent reads and sets on the interface. It reads through wireguard-go's UAPI socket when there is one
    (no process per tick: the agent reads every 0.25 s on every host), else with `wg show IFACE transfer` and
    `allowed-ips` (never `dump`, which prints the private key). Commands run through an injectable
    runner(argv) -> (rc, stdout, stderr)."""

    SOCKET_DIR = "/run/wireguard"

    def __init__(self, interface, runner=run_command, socket_dir=None):
        self.interface, self.runner = interface, runner
        self.socket_path = os.path.join(socket_dir or self.SOCKET_DIR, interface + ".sock")

    def _run(self, argv):
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise WgError((err or out).strip() or "%s exited %d" % (" ".join(argv[:3]), rc))
        return out

    def _uapi(self):
        """The UAPI answer, or None when there is no socket (kernel WireGuard) or it does not answer."""
        if not os.path.exists(self.socket_path):
            return None
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(self.socket_path)
                sock.sendall(b"get=1\n\n")
                chunks = []
                while not b"".join(chunks[-2:]).endswith(b"\n\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError:
            return None
        text = b"".join(chunks).decode("ascii", "replace")
        return text if "errno=0" in text else None

    def read(self):
        """({public_key: rx_bytes}, {public_key: [allowed cidrs]}) of every peer; WgError when the interface is
        missing."""
        text = self._uapi()
        if text is not None:
            return parse_uapi(text)
        return (parse_transfer(self._run(["wg", "show", self.interface, "transfer"])),
                parse_allowed_ips(self._run(["wg", "show", self.interface, "allowed-ips"])))

    def run_set(self, argv):
        self._run(argv)


ECHO = {socket.AF_INET: (8, 0), socket.AF_INET6: (128, 129)}  # (request type, reply type)


def icmp_checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family, ident, seq, payload=b"wiremesh-failover"):
    """An ICMP(v6) echo request; the kernel fills in the ICMPv6 checksum."""
    header = struct.pack("!BBHHH", ECHO[family][0], 0, 0, ident, seq)
    checksum = icmp_checksum(header + payload) if family == socket.AF_INET else 0
    return struct.pack("!BBHHH", ECHO[family][0], 0, checksum, ident, seq) + payload


def parse_echo_reply(family, data):
    """(ident, seq) of an echo reply read from a raw socket (IPv4 ones start with the IP header), else None."""
    if family == socket.AF_INET:
        data = data[(data[0] & 0x0F) * 4:] if data else b""
    if len(data) < 8 or data[0] != ECHO[family][1]:
        return None
    return struct.unpack("!HH", data[4:8])


class Prober:
    """ICMP echo over raw sockets (one per address family), replies matched by identifier and sequence."""

    def __init__(self, ident=None, socket_factory=socket.socket, select_fn=select.select, log=print):
        self.ident = (os.getpid() if ident is None else ident) & 0xFFFF
        self.socket_factory, self.select_fn, self.log = socket_factory, select_fn, log
        self.sockets, self.pending, self.answered, self.seq = {}, {}, set(), 0

    def _socket(self, family):
        if family not in self.sockets:
            proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
            try:
                sock = self.socket_factory(family, socket.SOCK_RAW, proto)
                sock.setblocking(False)
            except PermissionError:
                raise
            except OSError as exc:  # e.g. IPv6 disabled: its probes count as missed
                self.log("cannot open an ICMP socket for IPv%d: %s" % (4 if family == socket.AF_INET else 6, exc))
                sock = None
            self.sockets[family] = sock
        return self.sockets[family]

    def send(self, targets):
        """Probe every {name: ip} once; the replies to earlier probes no longer count."""
        self.pending, self.answered = {}, set()
        for name, ip in sorted(targets.items()):
            family = socket.AF_INET if ipaddress.ip_address(ip).version == 4 else socket.AF_INET6
            self.seq = (self.seq + 1) & 0xFFFF
            self.pending[(family, self.seq)] = name
            sock = self._socket(family)
            try:
                if sock is not None:
                    sock.sendto(echo_request(family, self.ident, self.seq), (ip, 0))
            except OSError:  # no route, no WireGuard peer for it...: a miss
                pass

    def wait(self, deadline, clock, stopping):
        """Collect replies until the monotonic deadline (or stopping() turns true); sleeps in slices <= 0.25 s."""
        while not stopping():
            left = deadline - clock()
            if left <= 0:
                return
            socks = {s: f for f, s in self.sockets.items() if s is not None}
            for sock in self.select_fn(list(socks), [], [], min(left, 0.25))[0]:
                self._drain(sock, socks[sock])

    def _drain(self, sock, family):
        while True:
            try:
                data = sock.recvfrom(4096)[0]
            except OSError:  # BlockingIOError when empty
                return
            reply = parse_echo_reply(family, data)
            if reply and reply[0] == self.ident and (family, reply[1]) in self.pending:
                self.answered.add((family, reply[1]))

    def results(self):
        """{name: answered?} for the last send()."""
        return {name: key in self.answered for key, name in self.pending.items()}


class StateWriter:
    """Replaces the state file atomically (tmp + rename, 0644; its directory made 0755)."""

    def __init__(self, path):
        self.path = path

    def write(self, doc):
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
            os.chmod(directory, 0o755)
        tmp = "%s.%d.tmp" % (self.path, os.getpid())
        try:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), 0o644)
                json.dump(doc, fh, indent=1, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def log_line(message):
    print(message, flush=True)


class Agent:
    """Ties table, Decider, Wg, Prober and StateWriter together, one tick at a time."""

    def __init__(self, table_path, state_path, interface, wg=None, prober=None, writer=None,
                 clock=time.monotonic, wall=time.time, log=log_line):
        self.table_path, self.interface, self.clock, self.wall, self.log = table_path, interface, clock, wall, log
        self.wg = wg or Wg(interface)
        self.prober = prober or Prober(log=log)
        self.writer = writer or StateWriter(state_path)
        self.decider, self.table_sig, self.last_state, self.last_set, self.stopping = None, None, None, None, False
        self.switches = collections.deque(maxlen=SWITCHES_KEPT)
        self.said = set()

    def once(self, key, message):
        if key not in self.said:
            self.said.add(key)
            self.log(message)

    def over(self, key, message=None):
        if key in self.said:
            self.said.discard(key)
            if message:
                self.log(message)

    def load_table(self, now):
        """Read the table when it is new or changed; True when a new one was taken."""
        try:
            st = os.stat(self.table_path)
        except OSError:
            self.once("table", "waiting for the table %s" % self.table_path if self.decider is None
                      else "the table %s is gone; keeping the previous one" % self.table_path)
            return False
        self.over("table")
        if (st.st_mtime_ns, st.st_size, st.st_ino) == self.table_sig:
            return False
        self.table_sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        try:
            table = read_table(self.table_path, self.interface)
        except (OSError, ValueError) as exc:
            self.log("table %s: %s; %s" % (self.table_path, exc, "keeping the previous one" if self.decider
                                           else "waiting for a valid one"))
            return False
        if self.decider is None:
            self.decider = Decider(table, now)
        else:
            self.decider.reload(table)
        self.log("table %s loaded (self %s, mode %s)" % (self.table_path, table.self_name, self.decider.mode))
        if table.unprobed():
            self.log("no mesh_ip for %s: never probed, never marked dead" % ", ".join(table.unprobed()))
        return True

    def tick(self, now, probe=True):
        changed = self.load_table(now)
        if self.decider is None:
            return
        try:
            rx, live = self.wg.read()
        except WgError as exc:
            self.once("iface", "%s is missing (%s); waiting for it" % (self.interface, exc))
            self.prober.send({})
            return
        self.over("iface", "%s is back" % self.interface)
        decision = self.decider.tick(now, self.prober.results(), rx)
        for note in decision.notes:
            self.log(note)
        for switch in decision.switches:
            self.log("%s: %s -> %s (%s)" % switch)
            self.switches.append({"time": round(self.wall(), 3), "group": switch.group, "from": switch.old,
                                  "to": switch.new, "reason": switch.reason})
        changed = self.apply(now, decision.allowed, live) or decision.changed or changed
        if probe:
            self.prober.send(self.decider.targets())
        if changed or self.last_state is None or now - self.last_state >= STATE_EVERY_S - EPS:
            self.write_state(now)

    def apply(self, now, desired, live):
        """Make the interface's AllowedIPs the desired ones; True when a `wg set` ran."""
        names = {p.public_key: n for n, p in self.decider.table.peers.items()}
        for key in desired:
            if key not in live:
                self.once("peer " + key, "%s (%s) is not a peer of %s; left alone" % (names[key], key, self.interface))
            else:
                self.over("peer " + key)
        argv = set_command(self.interface, desired, live)
        if argv is None:
            return False
        try:
            self.wg.run_set(argv)
        except WgError as exc:
            self.once("set", "wg set %s failed: %s" % (self.interface, exc))
            return False
        self.over("set")
        if self.last_set is None or self.last_set[0] != argv or now - self.last_set[1] >= 60:  # no log flood
            self.log("%s: AllowedIPs set for %s" % (self.interface, ", ".join(names[k] for k in argv[4::4])))
            self.last_set = (argv, now)
        return True

    def write_state(self, now):
        doc = {"version": 1, "interface": self.interface, "self": self.decider.table.self_name,
               "updated": round(self.wall(), 3), "switches": list(self.switches)}
        doc.update(self.decider.snapshot())
        try:
            self.writer.write(doc)
            self.over("state")
        except OSError as exc:
            self.once("state", "cannot write the state file: %s" % exc)
        self.last_state = now

    def run(self, program=None):
        """Tick until stopped; True when the program file changed (an upgrade: main() execs the new one)."""
        program_sig = file_signature(program)
        while not self.stopping:
            if program is not None and file_signature(program) != program_sig:
                self.log("%s changed: restarting it" % program)
                return True
            self.tick(self.clock())
            interval = self.decider.table.probe.interval_s if self.decider else 1.0
            deadline = (math.floor(self.clock() / interval) + 1) * interval
            self.prober.wait(deadline, self.clock, lambda: self.stopping)
        return False


def file_signature(path):
    """(mtime, size, inode) of path, or None."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return None if st is None else (st.st_mtime_ns, st.st_size, st.st_ino)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="wiremesh-failover", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interface", default="wg0", metavar="IFACE", help="WireGuard interface (default: wg0)")
    parser.add_argument("--table", metavar="PATH", help="table file (default: /etc/wireguard/IFACE.failover.json)")
    parser.add_argument("--state", metavar="PATH", help="state file (default: /run/wiremesh/failover-IFACE.state.json)")
    parser.add_argument("--once", action="store_true", help="run one tick (no probes) and exit")
    args = parser.parse_args(argv)
    args.table = args.table or "/etc/wireguard/%s.failover.json" % args.interface
    args.state = args.state or "/run/wiremesh/failover-%s.state.json" % args.interface
    return args


def main(argv=None):
    args = parse_args(argv)
    agent = Agent(args.table, args.state, args.interface)

    def stop(*_):
        agent.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.once:
        agent.tick(agent.clock(), probe=False)
        return 0
    program = os.path.abspath(__file__)
    try:
        upgraded = agent.run(program)
    except PermissionError as exc:
        print("wiremesh-failover: cannot open a raw ICMP socket (run as root): %s" % exc, file=sys.stderr)
        return 1
    if upgraded:     # a new version installed (on the lab, /usr is shared: one host's copy upgrades them all)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, program] + list(argv if argv is not None else sys.argv[1:]))
    agent.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
