"""The demo's access policy (inventories/lab/group_vars/mesh.yml) on the default lab, for real: every source
(the four mesh hosts and the operator, an external peer) tries every destination's ports over the mesh, and a flow
opens exactly when the policy, read by hand (tests/acl_demo.py), allows it. That covers direct peers and flows
through a leader (the operator to do2, through do1) or a relay (the operator to the NAT'd edge, through aws1).
Then: a policy change under two running streams keeps the allowed one and cuts the denied one; --check --diff
shows the rule difference and changes nothing; a rerun changes nothing; a bad policy fails before any host is
touched. Needs root."""

import json
import os
import re
import subprocess
import threading
import time

import pytest

from tests.acl_demo import allowed, demo_policy

from .labtools import ROOT, forget_mesh_state, in_host, needs_lab, playbook, recap

LAB_ROOT = "/srv/wiremesh-lab/lab"
INVENTORY = os.path.join(ROOT, "inventories", "lab")
HOSTS = ("aws1", "do1", "do2", "edge")
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "acl")
TCP_PORTS = (22, 5201, 8080, 8081, 8082, 9000)
UDP_PORTS = (8082,)
MESH_ONLY = ("-e", "wiremesh_workloads=false")

pytestmark = needs_lab


def netns_argv(host, script, *args):
    """``script`` (tests/integration/acl/) run with the host's network only: a lab host's own mounts hide a checkout
    under /tmp (CI clones there), and these scripts need nothing of the host but its network."""
    return ["ip", "netns", "exec", "wm-" + host, "/usr/bin/python3", os.path.join(HERE, script), *args]


def must(proc, what):
    assert proc.returncode == 0, (what, proc.stdout[-6000:], proc.stderr[-2000:])
    return proc


def mesh_ips():
    with open(os.path.join(INVENTORY, ".wiremesh", "mesh.state.json"), encoding="utf-8") as handle:
        return json.load(handle)["plan"]["mesh_ips"]


def digest(host):
    proc = in_host(LAB_ROOT, host, "nft", "list", "table", "inet", "wiremesh_wg0")
    match = re.search(r'comment "wiremesh ([0-9a-f]+)"', proc.stdout)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def acl_lab():
    must(playbook("playbooks/lab_destroy.yml"), "lab_destroy")
    forget_mesh_state(INVENTORY)
    must(playbook("site.yml", *MESH_ONLY, timeout=1800), "site.yml, the mesh with the demo's policy")
    must(playbook("playbooks/operator.yml"), "the operator joins")
    ips = mesh_ips()
    listeners = []
    try:
        for host in HOSTS:
            argv = netns_argv(host, "listen.py", ips[host], "--tcp", *[str(p) for p in TCP_PORTS if p != 22],
                              "--udp", *[str(p) for p in UDP_PORTS], "--seconds", "1200")
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            listeners.append(proc)
            assert proc.stdout.readline().strip() == "listening", host
        yield ips
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait(10)
        playbook("playbooks/lab_destroy.yml")
        forget_mesh_state(INVENTORY)


def probe(source, flows):
    proc = subprocess.run(netns_argv(source, "probe.py", json.dumps(flows)), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_flow_opens_exactly_when_the_policy_allows_it(acl_lab):
    ips = acl_lab
    wrong, checked = [], 0
    for source in HOSTS + ("operator",):
        flows = [(ips[dst], proto, port) for dst in HOSTS if dst != source
                 for proto, port in [("tcp", p) for p in TCP_PORTS] + [("udp", p) for p in UDP_PORTS] + [("icmp", 0)]]
        opened = probe(source, flows)
        for dst in HOSTS:
            if dst == source:
                continue
            for proto, port in [("tcp", p) for p in TCP_PORTS] + [("udp", p) for p in UDP_PORTS] + [("icmp", 0)]:
                checked += 1
                if opened["%s %s %d" % (ips[dst], proto, port)] != allowed(source, dst, proto, port):
                    wrong.append((source, dst, proto, port, "opened" if not allowed(source, dst, proto, port)
                                  else "blocked"))
    assert checked == (4 * 3 + 4) * 8
    assert wrong == []


class Stream:
    """A TCP stream from a lab host, echoes counted as they come."""

    def __init__(self, source, address, port):
        self.proc = subprocess.Popen(netns_argv(source, "stream.py", address, str(port), "--seconds", "300"),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.echoes = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip().isdigit():
                self.echoes = int(line)

    def grows(self, seconds=4.0):
        before = self.echoes
        time.sleep(seconds)
        return self.echoes > before

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)


def test_a_policy_change_keeps_an_allowed_stream_and_cuts_a_denied_one(acl_lab):
    ips = acl_lab
    policy = demo_policy()
    wider = dict(policy, rules=[{"name": "the operator reaches do2's port 9000", "from": "peer:operator",
                                 "to": "host:do2", "proto": "tcp", "ports": [9000]}] + policy["rules"])
    before = dict((h, digest(h)) for h in HOSTS)
    # --check --diff shows the rule that would come, and changes nothing
    checked = must(playbook("playbooks/mesh.yml", "--check", "--diff", "-e", json.dumps({"wireguard_acls": wider})),
                   "mesh.yml --check --diff with a wider policy")
    assert "tcp dport { 9000 } accept  # rules[0] (the operator reaches do2's port 9000)" in checked.stdout
    assert dict((h, digest(h)) for h in HOSTS) == before
    must(playbook("playbooks/mesh.yml", "-e", json.dumps({"wireguard_acls": wider})), "mesh.yml, wider policy")
    assert all(digest(h) != before[h] for h in ("do1", "do2"))
    kept, cut = Stream("do1", ips["aws1"], 8082), Stream("operator", ips["do2"], 9000)
    try:
        assert kept.grows() and cut.grows(), (kept.echoes, cut.echoes)
        must(playbook("playbooks/mesh.yml"), "mesh.yml, back to the demo's policy")
        assert dict((h, digest(h)) for h in HOSTS) == before
        assert kept.grows(), "the allowed stream stopped"
        assert not cut.grows(), "the denied stream still flows"
        assert kept.proc.poll() is None
    finally:
        kept.stop()
        cut.stop()


def test_a_rerun_changes_nothing(acl_lab):
    rerun = must(playbook("playbooks/mesh.yml"), "mesh.yml rerun")
    assert all(stats["changed"] == 0 for stats in recap(rerun.stdout).values()), rerun.stdout[-3000:]


def test_a_bad_policy_fails_before_any_host_is_touched(acl_lab):
    before = dict((h, digest(h)) for h in HOSTS)
    bad = {"wireguard_acls": {"rules": [{"from": "group:nope", "to": "*"},
                                        {"from": "*", "to": "*", "proto": "tcp", "ports": [70000]}]}}
    proc = playbook("playbooks/mesh.yml", "-e", json.dumps(bad))
    assert proc.returncode != 0
    assert "wireguard_acls: rules[0].from: group:nope is not known" in proc.stdout
    assert "wireguard_acls: rules[1].ports: int 70000 is not a port" in proc.stdout
    assert all(stats.get("changed", 0) == 0 for stats in recap(proc.stdout).values())
    assert dict((h, digest(h)) for h in HOSTS) == before
