# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover agent (roles/wireguard/files/wiremesh_failover.py): its Decider driven by a fake clock and
scripted probes, the `wg` parsing and command building, the prober's packets, table reloads and the state file."""

import base64
import copy
import importlib.util
import json
import os
import pathlib
import random
import shutil
import socket
import stat
import subprocess
import sys
import threading

import pytest

FILE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "wireguard" / "files" / "wiremesh_failover.py"


def _load():
    spec = importlib.util.spec_from_file_location("wiremesh_failover", str(FILE))
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ among the role's files
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


fo = _load()

NAMES = ["do1", "do2", "aws1", "aws2", "aws3", "m1"]
KEY = {n: (n.upper() + "x" * 43)[:43] + "=" for n in NAMES}
NAME_OF = {k: n for n, k in KEY.items()}
IP = {n: "10.4.0.%d" % (i + 1) for i, n in enumerate(NAMES)}
INTERVAL, MISSES, HOLD = 0.5, 10, 10.0


def doc(self_name="m1", follow=None, lead=(), static=None, peers=None, **probe):
    probe_doc = {"interval_s": INTERVAL, "misses": MISSES, "hold_s": HOLD, "standby_fresh_s": 6.0}
    probe_doc.update(probe)
    peers = [n for n in NAMES if n != self_name] if peers is None else peers
    return {"version": 1, "interface": "wg0", "self": self_name, "probe": probe_doc,
            "peers": {n: {"public_key": KEY[n], "mesh_ip": IP[n]} for n in peers},
            "follow": follow, "static": static or {}, "lead": list(lead)}


def group(name, candidates, *ranges):
    return {"name": name, "candidates": list(candidates), "ranges": list(ranges)}


FOLLOW_DO = group("location do-fra1", ["do1", "do2"], "10.4.0.0/16")
LEAD_AWS = group("location aws-eu-central-1", ["aws1", "aws2"], "10.4.0.9/32", "10.4.0.3/32")
RELAY = group("relay edge", ["do1", "do2", "aws1"], "10.4.0.40/32")


def by_name(allowed):
    return {NAME_OF[k]: v for k, v in allowed.items()}


class Sim:
    """Drives a Decider as the agent does: a tick at t=0 without probes, then one every INTERVAL; the probes sent
    after a tick are answered by the hosts in `up` (or by `answers(name, tick)`), and every host in `sending`
    sends traffic (its rx counter grows) before each tick."""

    def __init__(self, table_doc, up=None, sending=None, answers=None):
        self.decider = fo.Decider(fo.Table(table_doc), 0.0)
        peers = list(table_doc["peers"])
        self.up = set(peers) if up is None else set(up)
        self.sending = set(peers) if sending is None else set(sending)
        self.answers = answers or (lambda name, tick: name in self.up)
        self.rx = {KEY[n]: 1000 for n in peers}
        self.ticks, self.switches, self.notes, self.probes, self.missed = -1, [], [], {}, {}
        self.step()

    @property
    def now(self):
        return self.ticks * INTERVAL

    def step(self, count=1):
        for dummy in range(count):
            self.ticks += 1
            for name in self.sending:
                self.rx[KEY[name]] += 148
            decision = self.decider.tick(self.now, self.probes, dict(self.rx))
            self.switches += [(self.now,) + tuple(s) for s in decision.switches]
            self.notes += decision.notes
            for name, answered in self.probes.items():
                self.missed[name] = self.missed.get(name, 0) + (not answered)
            self.probes = {n: self.answers(n, self.ticks) for n in self.decider.targets()}
        return self

    def until(self, condition, limit=400):
        for dummy in range(limit):
            if condition():
                return self
            self.step()
        raise AssertionError("condition not reached by t=%s" % self.now)

    def active(self, i=0):
        return self.decider.active[i]


# ---- modes and the initial choice


def test_initial_lead_mode_static_plus_first_candidates():
    single = group("location do", ["do2"], "10.4.0.2/32")
    table = doc("aws3", lead=[LEAD_AWS, RELAY, single], static={"do1": ["10.4.0.1/32"], "m1": ["10.4.0.6/32"]})
    decider = fo.Decider(fo.Table(table), 0.0)
    expected = {"do1": ["10.4.0.1/32", "10.4.0.40/32"], "aws1": ["10.4.0.3/32", "10.4.0.9/32"], "aws2": [],
                "do2": ["10.4.0.2/32"], "m1": ["10.4.0.6/32"]}
    assert decider.mode == "lead" and by_name(decider.desired()) == expected
    assert by_name(decider.tick(0.0, {}, {}).allowed) == expected
    assert decider.targets() == {"aws1": IP["aws1"], "do1": IP["do1"]}  # a single candidate is not probed


def test_initial_plain_member_ignores_lead_and_static():
    table = doc("m1", follow=FOLLOW_DO, lead=[LEAD_AWS], static={"aws1": ["10.4.0.3/32"]})
    decider = fo.Decider(fo.Table(table), 0.0)
    assert decider.mode == "member"
    assert by_name(decider.desired()) == {"do1": ["10.4.0.0/16"], "do2": [], "aws1": [], "aws2": [], "aws3": []}
    assert decider.targets() == {"do1": IP["do1"]}
    assert [g["name"] for g in decider.snapshot()["groups"]] == ["location do-fra1"]


def test_initial_standby_leader_is_member_of_the_first_candidate():
    table = doc("do2", follow=FOLLOW_DO, lead=[LEAD_AWS], static={"do1": ["10.4.0.1/32"]})
    decider = fo.Decider(fo.Table(table), 0.0)
    assert decider.mode == "member"
    assert by_name(decider.desired()) == {"do1": ["10.4.0.0/16"], "aws1": [], "aws2": [], "aws3": [], "m1": []}
    first = fo.Decider(fo.Table(doc("do1", follow=FOLLOW_DO, lead=[LEAD_AWS], static={"m1": ["10.4.0.6/32"]})), 0)
    assert first.mode == "lead" and "do1" not in first.targets()
    assert by_name(first.desired())["aws1"] == ["10.4.0.3/32", "10.4.0.9/32"]
    assert by_name(first.desired())["m1"] == ["10.4.0.6/32"]


# ---- going dead, switching, coming back


def test_leader_dead_after_exactly_misses_then_next():
    sim = Sim(doc(follow=FOLLOW_DO), up={"do2"})
    sim.until(lambda: sim.missed.get("do1") == MISSES - 1)
    assert sim.active() == "do1" and not sim.decider.dead and not sim.switches
    sim.step()
    assert sim.missed["do1"] == MISSES and sim.active() == "do2" and sim.decider.dead == {"do1"}
    assert sim.switches == [(5.0, "location do-fra1", "do1", "do2", "do1 missed 10 probes in a row")]
    # the dead one keeps only its own address: the probes that tell it is back, and its replies, go straight
    assert by_name(sim.decider.desired())["do2"] == ["10.4.0.0/16"]
    assert by_name(sim.decider.desired())["do1"] == ["10.4.0.1/32"]
    assert set(sim.decider.targets()) == {"do1", "do2"}  # the dead is probed to see it come back


def test_a_dead_candidates_own_address_moves_out_of_its_replacements_ranges():
    lead = [{"name": "location do-fra1", "candidates": ["do1", "do2"], "ranges": ["10.4.0.1/32", "10.4.0.2/32"]}]
    sim = Sim(doc(follow=None, lead=lead, static={}), up={"do2"})
    sim.until(lambda: sim.decider.dead == {"do1"})
    assert by_name(sim.decider.desired())["do2"] == ["10.4.0.2/32"]
    assert by_name(sim.decider.desired())["do1"] == ["10.4.0.1/32"]


def test_misses_count_only_in_a_row_of_probes():
    decider = fo.Decider(fo.Table(doc(follow=FOLLOW_DO)), 0.0)
    rx = {KEY["do2"]: 0}
    for tick in range(1, 30):
        rx[KEY["do2"]] += 100
        probes = {} if tick == 10 else {"do1": tick == 25}  # a tick without a probe to do1; one answer
        decider.tick(tick * INTERVAL, probes, dict(rx))
        expected = {9: False, 19: False, 20: True, 25: True}.get(tick)  # 9 misses, a gap, then 10 in a row
        assert expected is None or (decider.dead == {"do1"}) == expected, tick


def test_non_fresh_standby_is_skipped_for_a_later_fresh_one():
    three = group("location aws", ["aws1", "aws2", "aws3"], "10.4.0.9/32")
    sim = Sim(doc("do1", lead=[three]), up={"aws2", "aws3", "m1"}, sending={"aws3", "m1", "do2"})
    sim.until(lambda: sim.switches)
    assert sim.switches[0][2:4] == ("aws1", "aws3") and sim.active() == "aws3"


def test_no_fresh_standby_takes_the_first_alive():
    three = group("location aws", ["aws1", "aws2", "aws3"], "10.4.0.9/32")
    sim = Sim(doc("do1", lead=[three]), up={"aws2", "aws3"}, sending={"m1"})
    sim.until(lambda: sim.switches)
    assert sim.active() == "aws2"


def test_all_dead_keeps_current_and_first_back_wins():
    sim = Sim(doc(follow=FOLLOW_DO), up=set(), sending={"do2", "aws1"})
    sim.until(lambda: sim.decider.dead == {"do1", "do2"})
    assert [s[2:4] for s in sim.switches] == [("do1", "do2")] and sim.active() == "do2"
    sim.step(40)
    assert sim.active() == "do2" and len(sim.switches) == 1
    sim.up = {"do1"}
    sim.until(lambda: len(sim.switches) == 2)
    assert sim.switches[1][2:] == ("do2", "do1", "do1 healthy for 10.0 s") and sim.decider.dead == {"do2"}


def test_switch_back_only_after_clean_hold_and_a_miss_restarts_it():
    sim = Sim(doc(follow=FOLLOW_DO), up={"do2"})
    sim.until(lambda: sim.switches)
    back_at = sim.ticks + 1  # do1 answers the probes sent from this tick on; the first reply is counted next tick
    hole = back_at + 12      # ... except this one
    sim.answers = lambda name, tick: name == "do2" or (name == "do1" and tick >= back_at and tick != hole)
    first_ok = (back_at + 1) * INTERVAL
    sim.until(lambda: sim.now >= first_ok + HOLD)  # would be back here without the hole
    assert sim.active() == "do2" and sim.decider.dead == {"do1"}
    restarted = (hole + 2) * INTERVAL
    sim.until(lambda: sim.now >= restarted + HOLD - INTERVAL)
    assert sim.active() == "do2"
    sim.step()
    assert sim.now == restarted + HOLD and sim.active() == "do1" and not sim.decider.dead
    assert sim.switches[-1][1:] == ("location do-fra1", "do2", "do1", "do1 healthy for 10.0 s")


@pytest.mark.parametrize("seed", [1, 7, 42])
@pytest.mark.parametrize("loss, misses, deaths", [(0.3, 10, 0), (0.6, 3, 1)])
def test_lossy_leader_does_not_flap(seed, loss, misses, deaths):
    rng = random.Random(seed)
    sim = Sim(doc(follow=FOLLOW_DO, misses=misses),
              answers=lambda name, tick: name != "do1" or rng.random() >= loss)
    sim.step(int(60 / INTERVAL))
    assert len(sim.switches) == deaths  # at most one switch: 60 % loss dies once and never holds 10 s clean


def test_relay_group_of_three():
    sim = Sim(doc("m1", lead=[RELAY]), up={"do2", "aws1"})
    sim.until(lambda: sim.switches)
    assert sim.active() == "do2"
    sim.up = {"aws1"}
    sim.until(lambda: len(sim.switches) == 2)
    assert sim.active() == "aws1" and by_name(sim.decider.desired())["aws1"] == ["10.4.0.40/32"]
    sim.up = {"aws1", "do2"}
    sim.until(lambda: len(sim.switches) == 3)
    assert sim.switches[-1][2:4] == ("aws1", "do2")
    sim.up = {"aws1", "do2", "do1"}
    sim.until(lambda: len(sim.switches) == 4)
    assert sim.switches[-1][2:4] == ("do2", "do1") and not sim.decider.dead
    assert set(sim.decider.targets()) == {"do1"}


def test_standby_leader_takes_over_and_gives_back():
    table = doc("do2", follow=FOLLOW_DO, lead=[LEAD_AWS], static={"do1": ["10.4.0.1/32"]})
    sim = Sim(table, up={"aws1", "aws2"})
    assert sim.decider.targets() == {"do1": IP["do1"]}  # while it follows, only its own leader is probed
    sim.until(lambda: sim.switches)
    assert sim.active() == "do2" and sim.decider.mode == "lead"
    assert "aws1" in sim.decider.targets()  # leading, it probes the other locations' leaders too
    allowed = by_name(sim.decider.desired())
    assert allowed["do1"] == ["10.4.0.1/32"] and allowed["aws1"] == ["10.4.0.3/32", "10.4.0.9/32"]
    assert "do2" not in sim.decider.targets()
    sim.up.add("do1")
    sim.until(lambda: len(sim.switches) == 2)
    assert sim.active() == "do1" and sim.decider.mode == "member"
    assert by_name(sim.decider.desired()) == {"do1": ["10.4.0.0/16"], "aws1": [], "aws2": [], "aws3": [], "m1": []}


# ---- isolation


def test_isolation_freezes_marking_and_the_quiet_period_after_it():
    sim = Sim(doc(follow=FOLLOW_DO), up={"do1", "do2"})
    sim.step(4)
    sim.up = set()  # cut off right after traffic was seen: the probes sent at this tick are lost already
    sim.step()
    last_growth, sim.sending = sim.now, set()
    sim.until(lambda: sim.decider.isolated)  # not later than do1's 10th miss, or do1 would be marked dead
    assert sim.now == last_growth + MISSES * INTERVAL and sim.notes[-1].startswith("isolated")
    sim.step(60)
    assert not sim.decider.dead and not sim.switches and sim.missed["do1"] > MISSES
    sim.sending = {"do2", "aws1"}  # reconnected; do1 still does not answer (its peers are switching back)
    sim.step()
    reconnected = sim.now
    assert not sim.decider.isolated and sim.notes[-1].startswith("reconnected")
    quiet_end = reconnected + HOLD + MISSES * INTERVAL
    sim.until(lambda: sim.switches)
    # nobody marked during the quiet period, and the misses before its end do not count
    assert sim.now == quiet_end + (MISSES - 1) * INTERVAL
    assert sim.switches[0][2:4] == ("do1", "do2")


# ---- wg output, commands


def test_parse_transfer_and_allowed_ips():
    transfer = "%s\t1200\t900\n%s\t0\t0\n" % (KEY["do1"], KEY["do2"])
    assert fo.parse_transfer(transfer) == {KEY["do1"]: 1200, KEY["do2"]: 0}
    text = "%s\t10.4.0.3/32 10.4.0.0/16 fd00:4::1/128\n%s\t(none)\n%s\t10.4.0.9/24\n" % (
        KEY["do1"], KEY["do2"], KEY["aws1"])
    assert fo.parse_allowed_ips(text) == {KEY["do1"]: ["10.4.0.0/16", "10.4.0.3/32", "fd00:4::1/128"],
                                          KEY["do2"]: [], KEY["aws1"]: ["10.4.0.0/24"]}
    assert fo.parse_allowed_ips("") == {} and fo.parse_transfer("") == {}


PUB1, PUB2 = bytes(range(32)), bytes(range(32, 64))
B64_1, B64_2 = base64.b64encode(PUB1).decode(), base64.b64encode(PUB2).decode()


UAPI = ("private_key=%s\nlisten_port=51820\npublic_key=%s\nendpoint=192.0.2.1:51820\nrx_bytes=1200\n"
        "allowed_ip=10.4.0.3/32\nallowed_ip=10.4.0.0/16\npublic_key=%s\nrx_bytes=0\nerrno=0\n\n")


def test_parse_uapi_reads_peers_and_skips_the_interface_lines():
    text = UAPI % ("ab" * 32, PUB1.hex(), PUB2.hex())
    assert fo.parse_uapi(text) == ({B64_1: 1200, B64_2: 0}, {B64_1: ["10.4.0.0/16", "10.4.0.3/32"], B64_2: []})


def test_wg_reads_wireguard_go_through_its_socket_without_a_process(tmp_path):
    path = str(tmp_path / "wg0.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    answer = (UAPI % ("ab" * 32, PUB1.hex(), PUB2.hex())).encode()

    def serve():
        conn = server.accept()[0]
        with conn:
            request = b""
            while not request.endswith(b"\n\n"):
                request += conn.recv(100)
            assert request == b"get=1\n\n"
            conn.sendall(answer[:40])
            conn.sendall(answer[40:])
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def runner(argv):
        raise AssertionError("no command when the socket answers: %r" % argv)
    try:
        rx, allowed = fo.Wg("wg0", runner, socket_dir=str(tmp_path)).read()
    finally:
        thread.join(5)
        server.close()
    assert rx == {B64_1: 1200, B64_2: 0} and allowed[B64_1] == ["10.4.0.0/16", "10.4.0.3/32"]


def test_set_command_gainers_first_and_empty_string():
    live = {KEY["do1"]: ["10.4.0.0/16"], KEY["do2"]: [], KEY["aws1"]: ["10.4.0.3/32"], KEY["aws2"]: ["10.4.0.9/32"]}
    desired = {KEY["do1"]: [], KEY["do2"]: ["10.4.0.0/16", "10.4.0.9/32"], KEY["aws1"]: ["10.4.0.3/32"],
               KEY["aws2"]: [], KEY["aws3"]: ["10.4.0.5/32"]}  # aws3 is no peer of the interface
    argv = fo.set_command("wg0", desired, live)
    assert argv[:3] == ["wg", "set", "wg0"]
    assert argv[3:7] == ["peer", KEY["do2"], "allowed-ips", "10.4.0.0/16,10.4.0.9/32"]
    assert sorted(zip(argv[8::4], argv[10::4])) == sorted([(KEY["do1"], ""), (KEY["aws2"], "")])
    assert len(argv) == 15 and KEY["aws1"] not in argv and KEY["aws3"] not in argv
    assert fo.set_command("wg0", live, live) is None


def test_wg_runner_and_missing_interface():
    calls = []

    def runner(argv):
        calls.append(argv)
        return (1, "", "Unable to access interface: No such device\n") if argv[2] == "wg9" else (0, "", "")

    with pytest.raises(fo.WgError, match="No such device"):
        fo.Wg("wg9", runner, socket_dir="/nonexistent").read()
    assert fo.Wg("wg0", runner, socket_dir="/nonexistent").read() == ({}, {})
    assert calls == [["wg", "show", "wg9", "transfer"], ["wg", "show", "wg0", "transfer"],
                     ["wg", "show", "wg0", "allowed-ips"]]
    assert "dump" not in repr(calls) and "showconf" not in repr(calls)


# ---- probes


def test_echo_request_checksum_and_reply_parsing():
    packet = fo.echo_request(socket.AF_INET, 0x1234, 7)
    assert packet[0] == 8 and fo.icmp_checksum(packet) == 0
    reply4 = bytes([0x45]) + bytes(19) + bytes([0, 0]) + packet[2:]
    assert fo.parse_echo_reply(socket.AF_INET, reply4) == (0x1234, 7)
    assert fo.parse_echo_reply(socket.AF_INET, bytes([0x45]) + bytes(19) + packet) is None  # a request
    reply6 = bytes([129, 0, 0, 0]) + fo.echo_request(socket.AF_INET6, 0x1234, 9)[4:]
    assert fo.parse_echo_reply(socket.AF_INET6, reply6) == (0x1234, 9)
    assert fo.parse_echo_reply(socket.AF_INET6, b"\x81\x00") is None
    assert fo.parse_echo_reply(socket.AF_INET, bytes([0x46]) + bytes(23) + reply4[20:]) == (0x1234, 7)  # options


class FakeSocket:
    def __init__(self, family, kind, proto):
        self.family, self.kind, self.proto, self.sent, self.inbox = family, kind, proto, [], []

    def setblocking(self, flag):
        assert flag is False

    def sendto(self, data, address):
        self.sent.append((data, address))

    def recvfrom(self, _size):
        if not self.inbox:
            raise BlockingIOError()
        return self.inbox.pop(0), ("x", 0)


def reply_to(sock, index, ident=None):
    data = sock.sent[index][0]
    ident_bytes = data[4:6] if ident is None else ident.to_bytes(2, "big")
    icmp = bytes([0 if sock.family == socket.AF_INET else 129, 0, 0, 0]) + ident_bytes + data[6:]
    return (bytes([0x45]) + bytes(19) + icmp) if sock.family == socket.AF_INET else icmp


def test_prober_matches_replies_by_ident_and_seq_per_family():
    sockets = {}

    def factory(family, kind, proto):
        sockets[family] = FakeSocket(family, kind, proto)
        return sockets[family]

    clock = iter(range(100))
    prober = fo.Prober(ident=0x4242, socket_factory=factory, select_fn=lambda r, w, x, t: (r, [], []))
    prober.send({"do1": "10.4.0.1", "do2": "fd00:4::2", "aws1": "10.4.0.3"})
    v4, v6 = sockets[socket.AF_INET], sockets[socket.AF_INET6]
    assert v4.proto == socket.IPPROTO_ICMP and v6.proto == socket.IPPROTO_ICMPV6 and v4.kind == socket.SOCK_RAW
    assert [sent[1] for sent in v4.sent] == [("10.4.0.3", 0), ("10.4.0.1", 0)] and v6.sent[0][1] == ("fd00:4::2", 0)
    v4.inbox = [reply_to(v4, 1), reply_to(v4, 0, ident=0x4243)]  # do1 answers; aws1's reply has another ident
    v6.inbox = [reply_to(v6, 0)]
    prober.wait(2, lambda: next(clock), lambda: False)
    assert prober.results() == {"do1": True, "do2": True, "aws1": False}
    late = reply_to(v4, 0)
    prober.send({"aws1": "10.4.0.3"})
    v4.inbox = [late]  # the reply to the previous tick's probe
    prober.wait(4, lambda: next(clock), lambda: False)
    assert prober.results() == {"aws1": False} and len(sockets) == 2


def test_prober_unreachable_send_is_a_miss():
    class Unroutable(FakeSocket):
        def sendto(self, data, address):
            raise OSError(126, "Required key not available")

    prober = fo.Prober(ident=1, socket_factory=Unroutable, select_fn=lambda r, w, x, t: ([], [], []))
    prober.send({"do1": "10.4.0.1"})
    assert prober.results() == {"do1": False}


# ---- the agent: tables, applying, state


class FakeWg:
    def __init__(self, peers):
        self.allowed = {KEY[n]: [] for n in peers}
        self.rx = {KEY[n]: 0 for n in peers}
        self.missing, self.sets, self.undone = False, [], False  # undone: something resets it at once

    def _check(self):
        if self.missing:
            raise fo.WgError("Unable to access interface: No such device")

    def read(self):
        self._check()
        return dict(self.rx), copy.deepcopy(self.allowed)

    def run_set(self, argv):
        self.sets.append(argv)
        for key, value in [] if self.undone else zip(argv[4::4], argv[6::4]):
            self.allowed[key] = value.split(",") if value else []


class FakeProber:
    def __init__(self):
        self.sent, self.answer = [], set()
        self.wait = lambda deadline, clock, stopping: None

    def send(self, targets):
        self.sent.append(dict(targets))

    def results(self):
        return {n: n in self.answer for n in self.sent[-1]} if self.sent else {}


class Recorder:
    def __init__(self):
        self.docs = []

    def write(self, state):
        self.docs.append(json.loads(json.dumps(state)))


def write_table(path, table_doc, mtime=None):
    path.write_text(json.dumps(table_doc))
    if mtime is not None:
        os.utime(str(path), (mtime, mtime))


def make_agent(tmp_path, table_doc, writer=None):
    wg, prober, lines = FakeWg(["do1", "do2", "aws1", "aws2", "aws3"]), FakeProber(), []
    if table_doc is not None:
        write_table(tmp_path / "t.json", table_doc, 1000)
    agent = fo.Agent(str(tmp_path / "t.json"), str(tmp_path / "run" / "s.json"), "wg0", wg=wg, prober=prober,
                     writer=writer, wall=lambda: 1700000000.0, log=lines.append)
    return agent, wg, prober, lines


def test_agent_applies_and_reasserts(tmp_path):
    agent, wg, prober, lines = make_agent(tmp_path, doc(follow=FOLLOW_DO))
    agent.tick(0.0)
    assert wg.sets == [["wg", "set", "wg0", "peer", KEY["do1"], "allowed-ips", "10.4.0.0/16"]]
    assert prober.sent == [{"do1": IP["do1"]}]
    agent.tick(0.5)
    assert len(wg.sets) == 1  # nothing differs
    wg.allowed = {k: ["10.4.0.0/16"] if k == KEY["do2"] else [] for k in wg.allowed}  # e.g. `wg syncconf`
    agent.tick(1.0)
    assert wg.sets[-1] == ["wg", "set", "wg0", "peer", KEY["do1"], "allowed-ips", "10.4.0.0/16",
                           "peer", KEY["do2"], "allowed-ips", ""]
    assert "dump" not in repr(wg.sets) and any("AllowedIPs set for do1, do2" in line for line in lines)


def test_reasserting_every_tick_logs_once_a_minute(tmp_path):
    agent, wg, dummy, lines = make_agent(tmp_path, doc(follow=FOLLOW_DO))
    wg.undone = True
    for tick in range(241):
        agent.tick(tick * INTERVAL)
    assert len(wg.sets) == 241 and sum("AllowedIPs set" in line for line in lines) == 3  # t=0, 60, 120


def test_agent_waits_for_table_and_interface(tmp_path):
    agent, wg, dummy, lines = make_agent(tmp_path, None)
    agent.tick(0.0)
    agent.tick(0.5)
    assert lines == ["waiting for the table %s" % (tmp_path / "t.json")] and not wg.sets
    write_table(tmp_path / "t.json", doc(follow=FOLLOW_DO))
    wg.missing = True
    for now in (1.0, 1.5, 2.0):
        agent.tick(now)
    assert sum("wg0 is missing" in line for line in lines) == 1 and not wg.sets
    wg.missing = False
    agent.tick(2.5)
    agent.tick(3.0)
    assert sum(line == "wg0 is back" for line in lines) == 1 and len(wg.sets) == 1


def test_table_reload_keeps_dead_marks_and_bad_tables_are_kept_out(tmp_path):
    table = doc(follow=FOLLOW_DO, lead=[RELAY])
    agent, wg, prober, lines = make_agent(tmp_path, table)
    prober.answer = {"do2", "aws1"}
    now = 0.0
    while agent.decider is None or "do1" not in agent.decider.dead:
        wg.rx = {k: v + 100 for k, v in wg.rx.items()}
        agent.tick(now)
        now += INTERVAL
    assert agent.decider.active == ["do2"]
    write_table(tmp_path / "t.json", {"version": 1, "oops": True}, 2000)
    agent.tick(now)
    write_table(tmp_path / "t.json", {"version": 1, "oops": True}, 2000)  # unchanged: no second report
    agent.tick(now + INTERVAL)
    assert sum("keeping the previous one" in line for line in lines) == 1 and agent.decider.active == ["do2"]
    write_table(tmp_path / "t.json", doc(follow=group("location do-fra1", ["do1", "aws1", "do2"], "10.4.0.0/16")),
                3000)
    prober.answer.add("do1")  # do1 answers again, but it has to hold for hold_s
    agent.tick(now + 2 * INTERVAL)
    assert agent.decider.dead == {"do1"} and agent.decider.active == ["aws1"]  # restarted at the first non-dead
    assert "table %s loaded (self m1, mode member)" % (tmp_path / "t.json") in lines
    write_table(tmp_path / "t.json", doc(follow=FOLLOW_DO, peers=["do2", "aws1"]), 4000)
    with pytest.raises(fo.TableError):
        fo.read_table(str(tmp_path / "t.json"), "wg0")  # do1 is a candidate but no peer
    write_table(tmp_path / "t.json", doc(follow=group("g", ["do2"], "10.4.0.0/16"), peers=["do2", "aws1"]), 5000)
    agent.tick(now + 3 * INTERVAL)
    assert not agent.decider.dead  # do1 left the table, and its mark with it


def test_self_as_lead_candidate_and_peers_without_mesh_ip():
    table = doc("m1", lead=[group("relay x", ["m1", "do1"], "10.4.0.30/32"),
                            group("y", ["aws1", "aws2"], "10.4.0.31/32")])
    table["peers"]["aws1"]["mesh_ip"] = None
    assert fo.Table(table).unprobed() == ["aws1"]
    sim = Sim(table, up=set(), sending={"do2"})
    sim.step(100)
    assert not sim.switches and not sim.decider.dead and sim.decider.targets() == {}
    assert not any(ranges == ["10.4.0.30/32"] for ranges in sim.decider.desired().values())  # self carries it
    assert by_name(sim.decider.desired())["aws1"] == ["10.4.0.31/32"]


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(version=2),
    lambda d: d.update(interface="wg1"),
    lambda d: d["probe"].update(misses=0),
    lambda d: d["probe"].update(interval_s="0.5"),
    lambda d: d["peers"]["do1"].update(mesh_ip="10.4.0.300"),
    lambda d: d["peers"]["do2"].update(public_key=KEY["do1"]),
    lambda d: d.update(lead=[group("x", ["do1", "do1"], "10.4.0.3/32")]),
    lambda d: d.update(lead=[group("x", ["do1"], "10.4.0.3")]) or d["lead"][0].update(ranges=["10.4.0.0/33"]),
    lambda d: d.update(static={"nobody": ["10.4.0.3/32"]}),
])
def test_bad_tables_are_rejected(tmp_path, mutate):
    table = doc(follow=FOLLOW_DO)
    fo.Table(copy.deepcopy(table))
    mutate(table)
    write_table(tmp_path / "t.json", table)
    with pytest.raises(fo.TableError):
        fo.read_table(str(tmp_path / "t.json"), "wg0")


def test_state_file(tmp_path):
    agent, wg, prober, lines = make_agent(tmp_path, doc("do2", follow=FOLLOW_DO, lead=[LEAD_AWS]))
    prober.answer = {"aws1"}
    now = 0.0
    while not agent.switches:
        wg.rx = {k: v + 100 for k, v in wg.rx.items()}
        agent.tick(now)
        now += INTERVAL
    path = tmp_path / "run" / "s.json"
    state = json.loads(path.read_text())
    assert state == {
        "version": 1, "interface": "wg0", "self": "do2", "updated": 1700000000.0, "mode": "lead",
        "isolated": False, "dead": ["do1"],
        "groups": [{"name": "location do-fra1", "candidates": ["do1", "do2"], "active": "do2", "preferred": "do1"},
                   {"name": "location aws-eu-central-1", "candidates": ["aws1", "aws2"], "active": "aws1",
                    "preferred": "aws1"}],
        "switches": [{"time": 1700000000.0, "group": "location do-fra1", "from": "do1", "to": "do2",
                      "reason": "do1 missed 10 probes in a row"}]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert [p.name for p in path.parent.iterdir()] == ["s.json"]  # no temporary file left
    assert "location do-fra1: do1 -> do2 (do1 missed 10 probes in a row)" in lines


def test_state_written_on_change_and_every_5_s(tmp_path):
    recorder = Recorder()
    agent, wg, prober, dummy = make_agent(tmp_path, doc(follow=FOLLOW_DO), writer=recorder)
    prober.answer = {"do1"}
    for tick in range(31):
        wg.rx = {k: v + 100 for k, v in wg.rx.items()}
        agent.tick(tick * INTERVAL)
    assert len(recorder.docs) == 4  # t=0 (AllowedIPs applied), then nothing changes: t=5, 10, 15
    assert len(agent.switches) == 0 and recorder.docs[-1]["mode"] == "member"


def test_switch_history_keeps_the_last_20(tmp_path):
    agent, wg, prober, lines = make_agent(tmp_path, doc(follow=FOLLOW_DO, hold_s=0.0, misses=1))
    now = 0.0
    for i in range(60):
        prober.answer = {"do2"} if i % 2 else {"do1", "do2"}
        wg.rx = {k: v + 100 for k, v in wg.rx.items()}
        agent.tick(now)
        now += INTERVAL
    assert sum(" -> " in line for line in lines) > 20 and len(agent.switches) == 20
    assert json.loads((tmp_path / "run" / "s.json").read_text())["switches"] == list(agent.switches)


def test_run_sleeps_to_interval_boundaries_and_stops(tmp_path):
    agent, dummy_wg, prober, dummy_lines = make_agent(tmp_path, doc(follow=FOLLOW_DO))
    clock = {"t": 100.2}
    deadlines = []

    def wait(deadline, now, stopping):
        assert now() == clock["t"] and stopping() is False
        deadlines.append(deadline)
        clock["t"] = deadline + 0.01
        agent.stopping = len(deadlines) == 3

    prober.wait = wait
    agent.clock = lambda: clock["t"]
    agent.run()
    assert deadlines == [100.5, 101.0, 101.5]


def test_run_returns_for_an_upgrade_when_its_program_file_changes(tmp_path):
    agent, dummy_wg, prober, lines = make_agent(tmp_path, doc(follow=FOLLOW_DO))
    program = tmp_path / "wiremesh-failover"
    program.write_text("old")
    ticks = []

    def wait(deadline, now, stopping):
        ticks.append(deadline)
        if len(ticks) == 2:
            program.write_text("new version")
        agent.stopping = len(ticks) > 5     # a bound: the test fails rather than hangs

    prober.wait = wait
    assert agent.run(str(program)) is True and len(ticks) == 2
    assert lines[-1] == "%s changed: restarting it" % program


def test_once_without_table_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fo.signal, "signal", lambda *args: None)  # keep pytest's handlers
    assert fo.main(["--once", "--table", str(tmp_path / "none.json"), "--state", str(tmp_path / "s.json")]) == 0
    assert "waiting for the table" in capsys.readouterr().out
    args = fo.parse_args(["--interface", "wg3"])
    assert (args.table, args.state) == ("/etc/wireguard/wg3.failover.json", "/run/wiremesh/failover-wg3.state.json")


def test_help_runs_with_a_bare_python3():
    python = shutil.which("python3") or sys.executable
    proc = subprocess.run([python, "-I", "-S", str(FILE), "--help"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--once" in proc.stdout and "--table" in proc.stdout and "standby" in proc.stdout


def test_a_host_the_controller_planned_around_starts_dead_and_is_preferred_again_once_back():
    table = dict(doc(follow=FOLLOW_DO), dead=["do1"])
    sim = Sim(table, up={"do2"})
    assert sim.active() == "do2" and sim.decider.dead == {"do1"}
    assert by_name(sim.decider.desired())["do1"] == ["10.4.0.1/32"]      # its own address, to see it answer
    assert "do1" in sim.decider.targets()
    sim.step(5)
    assert sim.active() == "do2" and not sim.switches
    sim.up.add("do1")                                                     # back: preferred after a clean hold
    sim.until(lambda: sim.active() == "do1")
    assert sim.switches[-1][1:4] == ("location do-fra1", "do2", "do1") and not sim.decider.dead
    with pytest.raises(fo.TableError, match="dead"):
        fo.Table(dict(doc(follow=FOLLOW_DO), dead=["nobody"]))
