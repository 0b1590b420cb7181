"""Self-healing data plane, failover and partial failure, on a lab of its own with the default lab's shape (clab:
c-a, c-b and the location loc-c of c-c1 and c-c2 with endpoints, c-nat and c-nat2 behind NAT routers;
tests/integration/chaos/inventory, namespaces wm-c-*, beside the main lab).

The lab tests (root) build and mesh clab once, run bench/chaos.py's scenarios under pings every 10 ms with a
shorter lead and stability window, check recovery <= 30 s with the same keys and mesh IPs and no Ansible run,
then destroy the lab and check that no wm-c-* namespace and no process the test started remain.
The other tests need no root: ping output parsing and recovery arithmetic, and the systemd watchdog units the
wireguard role installs on real hosts (rendered, `systemd-analyze verify`, its check run against a fake
systemctl)."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from .labtools import ROOT, lab_namespaces, needs_lab, playbook, recap as labkit_recap

sys.path.insert(0, os.path.join(ROOT, "bench"))

import chaos  # noqa: E402  pylint: disable=wrong-import-position
import chaos_failover  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_lab_sys import alive, tagged_pids  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.path.join("tests", "integration", "chaos", "inventory")
STATE_DIR = os.path.join(ROOT, INVENTORY, ".wiremesh")
ROLE_FILES = os.path.join(ROOT, "roles", "wireguard", "files")
BOUND_S = 30.0
SHORT = {"lead_s": 1.0, "stable_s": 0.5}


# -- the lab scenarios ----------------------------------------------------------------------------------------
def leftovers():
    """What of clab and of this test still runs: processes tagged with the lab, pings, SSH masters to it."""
    found = ["tagged %d" % p for p in tagged_pids(b"WIREMESH_LAB=clab/")]
    found += ["ping %d" % p for p in chaos.STARTED_PIDS if alive(p)]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                if b"wm-c-" in handle.read() and int(pid) != os.getpid():
                    found.append("ssh/socat %s" % pid)
        except OSError:
            pass
    return found


def forget_state():
    if os.path.isdir(STATE_DIR):
        shutil.rmtree(STATE_DIR)


@pytest.fixture(scope="module")
def clab():
    playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")   # a lab left by an interrupted run
    forget_state()
    try:
        built = playbook("-i", INVENTORY, "playbooks/lab.yml", "playbooks/mesh.yml")
        assert built.returncode == 0, built.stdout[-4000:]
        yield chaos.Lab(INVENTORY)
    finally:
        gone = playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")
        forget_state()
        assert gone.returncode == 0, gone.stdout[-4000:]
        assert not [ns for ns in lab_namespaces() if ns.startswith("wm-c-") or ns.startswith("wm-clab-")]
        deadline = time.monotonic() + 20   # SSH control masters end once their connection is gone
        while leftovers() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert leftovers() == []


def init_pid(lab, host):
    with open(os.path.join(lab.lab_root, "hosts", host, "init.pid"), encoding="utf-8") as handle:
        return int(handle.read())


def check(lab, name, victim, figures):
    """Recovery within the bound, a real outage measured, the victim's key and mesh IP unchanged."""
    prefix = "chaos_%s_" % name
    assert figures[prefix + "victim"] == victim
    assert 0 <= figures[prefix + "recovery_s"] <= BOUND_S, figures
    assert figures[prefix + "sent"] > 0
    print(json.dumps(figures, sort_keys=True))


@needs_lab
@pytest.mark.parametrize("name, victim", [("kill_wireguard_go", "c-a"), ("kill_wireguard_go", "c-nat"),
                                          ("delete_interface", "c-nat"), ("delete_interface", "c-b")])
def test_the_interface_comes_back_by_itself(clab, name, victim):
    before, init = clab.identity(victim), init_pid(clab, victim)
    figures = chaos.scenario(clab, name, victim, bound_s=BOUND_S, **SHORT)
    check(clab, name, victim, figures)
    assert figures["chaos_%s_lost_pings" % name] > 0, "the fault did not break anything"
    assert clab.identity(victim) == before and init_pid(clab, victim) == init   # healed in place, same keys/IP


@needs_lab
@pytest.mark.parametrize("victim", ["c-nat", "c-b"])
def test_a_restarted_host_rejoins_with_its_keys_and_ip(clab, victim):
    before, init = clab.identity(victim), init_pid(clab, victim)
    figures = chaos.scenario(clab, "restart_host", victim, bound_s=BOUND_S, **SHORT)
    check(clab, "restart_host", victim, figures)
    assert figures["chaos_restart_host_lost_pings"] > 0
    assert init_pid(clab, victim) != init, "the host did not boot again"
    assert clab.identity(victim) == before


@needs_lab
def test_a_public_host_calls_its_nat_peer_back_without_traffic(clab):
    """Nobody pings: c-nat sends only keepalives, which c-a's new wireguard-go cannot read. c-a's restarted
    interface must call c-nat back at its remembered endpoint; WireGuard alone waits for c-nat's next
    handshake (110 s measured here before wiremesh-wg-endpoints)."""
    nat_ip = clab.mesh_ips()["c-nat"]
    time.sleep(3)   # no traffic from the scenarios before
    killed_at = time.monotonic()
    chaos.kill_wireguard_go(clab, "c-a")
    answered = None
    while answered is None and time.monotonic() < killed_at + BOUND_S:
        ping = subprocess.run(["ip", "netns", "exec", "wm-c-a", "ping", "-c", "1", "-W", "1", "-n", "-q", nat_ip],
                              capture_output=True, text=True, timeout=10, check=False)
        if ping.returncode == 0:
            answered = time.monotonic() - killed_at
        else:
            time.sleep(0.5)
    assert answered is not None, "c-a cannot reach c-nat %g s after its wireguard-go was killed" % BOUND_S
    print("c-a -> c-nat answered %.1f s after the kill, without traffic from c-nat" % answered)


@needs_lab
def test_an_unreachable_host_leaves_the_others_converged(clab):
    figures = chaos.scenario(clab, "sshd_stopped_run", "c-b", bound_s=BOUND_S, **SHORT)
    check(clab, "sshd_stopped_run", "c-b", figures)
    assert figures["chaos_sshd_stopped_run_lost_pings"] <= figures["chaos_sshd_stopped_run_sent"] * 0.001
    assert figures["chaos_sshd_stopped_run_unreachable_run_s"] > 0
    assert figures["chaos_sshd_stopped_run_return_run_s"] > 0
    status = subprocess.run(chaos.labkit.host_argv(clab.lab_root, "c-b", "wiremesh-lab-ctl", "status", "sshd"),
                            capture_output=True, text=True, timeout=30, check=False)
    assert status.returncode == 0, "sshd is running again"


@needs_lab
def test_a_dead_leader_is_replaced_within_10_s_and_comes_back_without_a_second_outage(clab):
    figures = chaos_failover.scenario(clab, "leader_down", **SHORT)
    print(json.dumps(figures, sort_keys=True))
    assert figures["chaos_leader_down_victim"] == "c-c1"
    assert figures["chaos_leader_down_recovery_s"] <= chaos_failover.GOAL_S
    assert figures["chaos_leader_down_second_outage_s"] <= chaos_failover.SECOND_OUTAGE_S
    assert figures["chaos_leader_down_lost_pings"] > 0, "the fault did not break anything"
    assert figures["chaos_leader_down_switches"] >= 2, "nobody failed over (and back)"


@needs_lab
def test_a_dead_relay_is_replaced_within_10_s(clab):
    figures = chaos_failover.scenario(clab, "relay_down", **SHORT)
    print(json.dumps(figures, sort_keys=True))
    assert figures["chaos_relay_down_victim"] == "c-a"
    assert figures["chaos_relay_down_recovery_s"] <= chaos_failover.GOAL_S
    assert figures["chaos_relay_down_lost_pings"] > 0


@needs_lab
def test_a_flaky_leader_does_not_make_the_agents_flap(clab):
    figures = chaos_failover.scenario(clab, "flaky_leader", **SHORT)
    print(json.dumps(figures, sort_keys=True))
    assert figures["chaos_flaky_leader_max_switches_per_host"] <= 1
    assert 0.1 < figures["chaos_flaky_leader_loss_share"] < 0.8, "the loss was not injected"


@needs_lab
def test_a_run_plans_around_a_leader_the_mesh_holds_dead_and_status_shows_it(clab):
    """c-c1 loses its network (the agents fail over) and its sshd (the run cannot reach it: lab SSH goes through
    the host's loopback, not its links): status names it dead, the run plans loc-c with c-c2 and says so; once it
    is back the next run plans it as leader again."""
    saved = chaos_failover.links_down(clab, "c-c1")
    chaos.sshd(clab, "c-c1", "stop")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                "c-c1" in (st or {}).get("dead", []) for h, st in clab.agent_states().items() if h != "c-c1"):
            time.sleep(0.5)
        wiremesh = os.path.join(os.path.dirname(sys.executable), "wiremesh")
        status = subprocess.run([wiremesh, "status", "-i", INVENTORY], capture_output=True, text=True, timeout=300,
                                check=False, cwd=ROOT)
        assert "dead: c-c1 (as c-a, c-b, c-c2, c-nat, c-nat2 see it)" in status.stdout, status.stdout
        assert "c-c2 (location loc-c: c-c2 instead of c-c1)" in status.stdout, status.stdout
        assert "no answer: c-c1" in status.stdout, status.stdout
        run = playbook("-i", INVENTORY, "playbooks/mesh.yml")
        said = " ".join((run.stdout + run.stderr).split())     # warnings go to stderr, wrapped
        assert "c-c1: is unreachable in this run: location loc-c is planned with leader c-c2" in said, \
            run.stdout[-3000:] + run.stderr[-3000:]
        assert labkit_recap(run.stdout).get("c-c1", {}).get("unreachable") == 1, run.stdout[-3000:]
        with open(os.path.join(STATE_DIR, "mesh.state.json"), encoding="utf-8") as handle:
            plan = json.load(handle)["plan"]
        assert plan["segments"]["loc-c"]["leader"] == "c-c2" and plan["segments"]["loc-c"]["standbys"] == ["c-c1"]
    finally:
        chaos.sshd(clab, "c-c1", "start")
        chaos_failover.links_up(clab, "c-c1", saved)
    assert clab.settle() == [], "the agents still route around c-c1"
    back = playbook("-i", INVENTORY, "playbooks/mesh.yml")
    assert back.returncode == 0, back.stdout[-4000:]
    with open(os.path.join(STATE_DIR, "mesh.state.json"), encoding="utf-8") as handle:
        assert json.load(handle)["plan"]["segments"]["loc-c"]["leader"] == "c-c1"
    for src in ("c-nat", "c-c2", "c-b"):
        ping = subprocess.run(["ip", "netns", "exec", "wm-" + src, "ping", "-c", "3", "-W", "2", "-q",
                               clab.mesh_ips()["c-c1"]], capture_output=True, text=True, timeout=30, check=False)
        assert ping.returncode == 0, (src, ping.stdout)


# -- without a lab ---------------------------------------------------------------------------------------------
PING = """PING 10.48.0.2 (10.48.0.2) 56(84) bytes of data.
[100.000] 64 bytes from 10.48.0.2: icmp_seq=1 ttl=64 time=0.4 ms
[100.010] 64 bytes from 10.48.0.2: icmp_seq=2 ttl=64 time=0.4 ms
[100.020] no answer yet for icmp_seq=3
[100.030] no answer yet for icmp_seq=4
[100.050] 64 bytes from 10.48.0.2: icmp_seq=5 ttl=64 time=0.4 ms
[100.050] 64 bytes from 10.48.0.2: icmp_seq=5 ttl=64 time=0.5 ms (DUP!)
[100.060] 64 bytes from 10.48.0.2: icmp_seq=6 ttl=64 time=0.4 ms
[100.070] 64 bytes from 10.48.0.2: icmp_seq=7 ttl=64 time=0.4 ms

--- 10.48.0.2 ping statistics ---
8 packets transmitted, 5 received, +1 duplicates, 37.5% packet loss, time 80ms
"""
KILLED = PING.split("\n\n", maxsplit=1)[0]   # the same ping killed before its summary


def parsed(text, stopped=False):
    run = {"replies": {}, "sent": 0, "stopped": stopped}
    for line in text.splitlines(True):
        chaos.parse_line(run, line)
    return run


def test_ping_output_is_read_per_sequence_number():
    run = parsed(PING)
    assert run["replies"] == {1: 100.0, 2: 100.01, 5: 100.05, 6: 100.06, 7: 100.07} and run["sent"] == 8
    assert chaos.lost([run]) == 3                       # 3, 4 and 8 (8 was not stopped on purpose)
    assert chaos.lost([parsed(PING, stopped=True)]) == 2   # 8 was in flight when we stopped it
    killed = parsed(KILLED)                             # no summary: the last sequence number counts
    assert killed["sent"] == 7 and chaos.lost([killed]) == 2


def test_recovery_is_the_start_of_the_first_steady_run_of_replies():
    run = parsed(PING)
    assert chaos.recovered_at([run], 100.0, 2) == 100.0     # 1, 2 answered in a row
    assert chaos.recovered_at([run], 100.005, 2) == 100.05  # after the fault: 5, 6
    assert chaos.recovered_at([run], 100.005, 4) is None    # never 4 in a row after it
    restarted = parsed("[200.5] 64 bytes from 10.48.0.2: icmp_seq=1 ttl=64 time=0.4 ms\n"
                       "[200.6] 64 bytes from 10.48.0.2: icmp_seq=2 ttl=64 time=0.4 ms\n")
    assert chaos.recovered_at([parsed(KILLED), restarted], 100.065, 2) == 200.5


def test_the_longest_silence_counts_the_edges_of_the_window():
    run = parsed(PING)          # replies at 100.0, 100.01, 100.05, 100.06, 100.07
    assert round(chaos_failover.longest_silence([run], 100.0, 100.07), 3) == 0.04
    assert round(chaos_failover.longest_silence([run], 99.5, 100.07), 3) == 0.5      # nothing before 100.0
    assert round(chaos_failover.longest_silence([run], 100.0, 101.0), 3) == 0.93     # nothing after 100.07
    assert chaos_failover.longest_silence([], 5.0, 7.5) == 2.5


class PlanLab:
    hosts = ["a1", "a2", "b1", "n1", "n2"]


PLAN = {"segments": {"a": {"leader": "a1", "nodes": ["a1", "a2"], "standbys": ["a2"]},
                     "b": {"leader": "b1", "nodes": ["b1"], "standbys": []},
                     "n1": {"leader": "n1", "nodes": ["n1"], "standbys": []},
                     "n2": {"leader": "n2", "nodes": ["n2"], "standbys": []}},
        "relays": [{"between": ["n1", "op"], "via": "a", "standbys": ["b"]},
                   {"between": ["n1", "n2"], "via": "b", "standbys": ["a"]}]}


def test_victims_come_from_the_plan_and_a_lab_without_one_says_why():
    assert chaos_failover.leader_victim(PlanLab, PLAN) == ("a1", ["a2"])
    # the pair with the external peer "op" cannot fail over: the next pair of mesh hosts is used
    assert chaos_failover.relay_victim(PlanLab, PLAN) == ("b1", ["n1", "n2"])
    assert chaos_failover.location_pairs(PlanLab, "a1", ["a2"]) == sorted(
        [("a2", h) for h in ("b1", "n1", "n2")] + [(h, "a2") for h in ("b1", "n1", "n2")])
    bare = {"segments": {"b": PLAN["segments"]["b"]}, "relays": PLAN["relays"][:1]}
    with pytest.raises(chaos_failover.NotApplicable, match="standby leader"):
        chaos_failover.leader_victim(PlanLab, bare)
    with pytest.raises(chaos_failover.NotApplicable, match="external peer"):
        chaos_failover.relay_victim(PlanLab, bare)


def rendered_units(tmp_path, iface="wg0"):
    """The role's systemd units for iface, copied into tmp_path as a unit directory."""
    targets = {"service": "wiremesh-wg-watchdog@%s.service" % iface, "timer": "wiremesh-wg-watchdog@%s.timer" % iface,
               "dropin": "wg-quick@%s.service.d/wiremesh-endpoints.conf" % iface}
    sources = {"service": "wiremesh-wg-watchdog@.service", "timer": "wiremesh-wg-watchdog@.timer",
               "dropin": "wiremesh-endpoints.conf"}
    paths = {}
    for kind, target in targets.items():
        with open(os.path.join(ROLE_FILES, sources[kind]), encoding="utf-8") as handle:
            text = handle.read()
        paths[kind] = tmp_path / target
        paths[kind].parent.mkdir(exist_ok=True)
        paths[kind].write_text(text)
    return paths


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_watchdog_units_verify(tmp_path):
    paths = rendered_units(tmp_path)
    shipped = "/lib/systemd/system/wg-quick@.service"   # wireguard-tools'; a stand-in where it is not installed
    if os.path.exists(shipped):
        shutil.copy(shipped, tmp_path / "wg-quick@.service")
    else:
        (tmp_path / "wg-quick@.service").write_text(
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n")
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(paths["service"]), str(paths["timer"]),
                          "wg-quick@wg0.service"], capture_output=True, text=True, timeout=60, check=False,
                         cwd=tmp_path, env=dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % tmp_path))
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stdout + res.stderr
    assert "OnUnitActiveSec=5\n" in paths["timer"].read_text()
    assert "ExecStartPost=-/usr/local/sbin/wiremesh-wg-endpoints restore %i\n" in paths["dropin"].read_text()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_failover_agent_unit_verifies(tmp_path):
    with open(os.path.join(ROLE_FILES, "wiremesh-failover@.service"), encoding="utf-8") as handle:
        text = handle.read()
    (tmp_path / "wiremesh-failover@wg0.service").write_text(text)
    (tmp_path / "wg-quick@.service").write_text("[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n")
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", "wiremesh-failover@wg0.service"],
                         capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
                         env=dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % tmp_path))
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stdout + res.stderr
    assert "--table /etc/wireguard/%i.failover.json" in text and "Restart=always" in text


FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$*" in
  "-q is-active wg-quick@wg0.service") [ "$UNIT_STATE" = active ] ;;
  "-q is-failed wg-quick@wg0.service") [ "$UNIT_STATE" = failed ] ;;
  "restart wg-quick@wg0.service") exit 0 ;;
  *) exit 9 ;;
esac
"""


@pytest.mark.parametrize("unit_state, wg_rc, restarted", [
    ("active", 0, False),      # interface there: nothing to do
    ("active", 1, True),       # wireguard-go killed / `ip link del wg0`: the oneshot unit still says active
    ("inactive", 1, False),    # stopped on purpose: left alone
    ("failed", 1, True),       # its start failed: retried
])
def test_watchdog_restarts_only_a_vanished_or_failed_interface(tmp_path, unit_state, wg_rc, restarted):
    line = next(l for l in rendered_units(tmp_path)["service"].read_text().splitlines() if l.startswith("ExecStart="))
    argv = shlex.split(line.split("=", 1)[1].replace("%i", "wg0"))
    assert argv[:2] == ["/bin/sh", "-c"]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "systemctl").write_text(FAKE_SYSTEMCTL)
    (fake / "wg").write_text("#!/bin/sh\nexit %d\n" % wg_rc)
    for tool in fake.iterdir():
        tool.chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    res = subprocess.run(argv, env={"PATH": "%s:/usr/bin:/bin" % fake, "CALLS": str(calls), "UNIT_STATE": unit_state},
                         capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    assert ("restart wg-quick@wg0.service" in calls.read_text()) == restarted, calls.read_text()


FAKE_WG = """#!/bin/sh
echo "wg $*" >> "$CALLS"
case "$1 $3" in
  "show endpoints") [ -z "$GONE" ] || exit 1; printf 'PUB=\\t203.0.113.62:51820\\nNAT=\\t%s\\n' "$NAT" ;;
  "set peer") exit 0 ;;
  *) exit 9 ;;
esac
"""


def test_endpoints_are_remembered_and_given_back_to_peers_without_one(tmp_path):
    """wiremesh-wg-endpoints: `save` is the supervisors' check (exit 1 only when the interface is gone) and
    remembers learned endpoints; `restore` gives them back to the peers that have none after a restart."""
    with open(os.path.join(ROLE_FILES, "wiremesh-wg-endpoints"), encoding="utf-8") as handle:
        script = handle.read()
    (tmp_path / "bin").mkdir()
    for name, text in (("wiremesh-wg-endpoints", script), ("wg", FAKE_WG)):
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    calls, remembered = tmp_path / "calls", tmp_path / "state" / "wg0.endpoints"

    def run(action, nat="198.51.100.2:40000", gone=""):
        calls.write_text("")
        return subprocess.run(["wiremesh-wg-endpoints", action, "wg0"], capture_output=True, text=True, timeout=30,
                              check=False, env={"PATH": "%s:/usr/bin:/bin" % (tmp_path / "bin"), "CALLS": str(calls),
                                                "NAT": nat, "GONE": gone,
                                                "WIREMESH_ENDPOINTS_DIR": str(tmp_path / "state")})

    assert run("restore").returncode == 0 and "set" not in calls.read_text()   # nothing remembered yet
    assert run("save").returncode == 0
    assert remembered.read_text() == "PUB=\t203.0.113.62:51820\nNAT=\t198.51.100.2:40000\n"
    assert oct(remembered.stat().st_mode & 0o777) == "0o600"
    assert run("save", nat="(none)").returncode == 0                       # a restarted interface: kept
    assert "NAT=\t198.51.100.2:40000" in remembered.read_text()
    res = run("restore", nat="(none)")
    assert res.returncode == 0
    assert calls.read_text().splitlines()[-1] == "wg set wg0 peer NAT= endpoint 198.51.100.2:40000"
    assert run("save", gone="1").returncode == 1                           # the check fails: interface gone
    assert run("frobnicate").returncode == 2
