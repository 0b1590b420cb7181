"""The operator joins the lab's mesh as an external peer using only `wiremesh showconf peer operator`, pings every
node's mesh IP, and leaves again. Needs root and the project venv with the CLI (make deps). It builds a lab of its
own with the mesh only (lab.yml + mesh.yml: site.yml would also join the operator through playbooks/operator.yml,
the very thing done here by hand) and destroys it at the end.

The operator's private key is made on the operator (wg_key) and never crosses the controller: its wg-quick config
loads it with PostUp from the operator's own /etc/wireguard."""

import json
import os
import re
import subprocess
import time

import pytest

from .labtools import BIN, ROOT, forget_mesh_state, lab_namespaces, needs_lab
from .labtools import playbook as run_playbook

STATE = os.path.join(ROOT, "inventories", "lab", ".wiremesh", "mesh.state.json")
INVENTORY = os.path.join(ROOT, "inventories", "lab")
ADDRESS = "10.4.100.1/32"
UNIT = "/etc/wiremesh-lab/units/wg-quick@wg0.json"
OUTPUT = os.path.join(ROOT, "tests", "output")   # what the operator got and saw, for notes (never asserted)


def keep(name, text):
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, name), "w", encoding="utf-8") as handle:
        handle.write(text)


pytestmark = [needs_lab, pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "wiremesh")),
                                            reason="needs the wiremesh CLI in the project venv (make deps)")]


def _env():
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_FORCE_COLOR="0")


def run(*argv, timeout=900, check=True, **kwargs):
    proc = subprocess.run(list(argv), cwd=ROOT, env=_env(), text=True, capture_output=True, timeout=timeout,
                          check=False, **kwargs)
    if check:
        assert proc.returncode == 0, (argv, proc.stdout[-5000:], proc.stderr[-3000:])
    return proc


# the mechanics of joining, without the demo's access policy (which lets the operator open the app's page and SSH
# only, not ping every node: tests/integration/test_acl.py checks it)
NO_POLICY = ("-e", json.dumps({"wireguard_acls": {}}))


def playbook(*args, check=True):
    proc = run_playbook(*(args + NO_POLICY if args[0] == "playbooks/mesh.yml" else args))
    if check:
        assert proc.returncode == 0, (args, proc.stdout[-5000:], proc.stderr[-3000:])
    return proc


def on_operator(module, args, check=True):
    """One ad-hoc task on the operator (``args``: a dict, or a command line); returns its result (JSON callback)."""
    env = dict(_env(), ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    if isinstance(args, dict):
        args = json.dumps(args)
    proc = subprocess.run([os.path.join(BIN, "ansible"), "operator", "-m", module, "-a", args], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=300, check=False)
    result = json.loads(proc.stdout[proc.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"]["operator"]
    if check:
        assert not result.get("failed") and not result.get("unreachable"), result
    return result


def lab_is_up():
    return {"wm-do1", "wm-do2", "wm-aws1", "wm-edge", "wm-operator"} <= set(lab_namespaces())


def peers_var(public_key):
    return json.dumps({"wireguard_peers": [{"name": "operator", "allowed_ips": [ADDRESS], "public_key": public_key}]})


def forget_the_mesh():
    playbook("playbooks/lab_destroy.yml")
    forget_mesh_state(INVENTORY)


@pytest.fixture(scope="module")
def lab():
    forget_the_mesh()
    playbook("playbooks/lab.yml")
    playbook("playbooks/mesh.yml")
    assert lab_is_up()
    yield
    forget_the_mesh()


@pytest.fixture(scope="class")
def joined(lab):
    """The operator joined as an external peer; removed again (unit, keys, config, mesh peer) afterwards."""
    try:
        key = on_operator("wiremesh.multicloud.wg_key", {"path": "/etc/wireguard/wg0.key"})
        public_key = key["public_key"]
        playbook("playbooks/mesh.yml", "-e", peers_var(public_key))
        showconf = run(os.path.join(BIN, "wiremesh"), "showconf", "peer", "operator")
        keep("external_peer_showconf.ini", showconf.stdout)
        config = ("[Interface]\nAddress = %s\nPostUp = wg set %%i private-key /etc/wireguard/wg0.key\n\n%s"
                  % (ADDRESS, showconf.stdout))
        on_operator("ansible.builtin.copy", {"dest": "/etc/wireguard/wg0.conf", "mode": "0600", "content": config})
        unit = {"type": "oneshot", "description": "operator's wg0 (test_external_peer)",
                "start": ["wg-quick", "up", "wg0"], "stop": ["wg-quick", "down", "wg0"], "check": ["wg", "show", "wg0"],
                "interval": 5}
        on_operator("ansible.builtin.copy", {"dest": UNIT, "mode": "0644", "content": json.dumps(unit) + "\n"})
        on_operator("ansible.builtin.command", "/usr/local/sbin/wiremesh-lab-ctl reload --wait 30")
        yield {"public_key": public_key, "showconf": showconf.stdout}
    finally:
        on_operator("ansible.builtin.file", {"path": UNIT, "state": "absent"}, check=False)
        on_operator("ansible.builtin.command", "/usr/local/sbin/wiremesh-lab-ctl reload", check=False)
        on_operator("ansible.builtin.command", "ip link del wg0", check=False)
        for name in ("wg0.conf", "wg0.key", "wg0.pub"):
            on_operator("ansible.builtin.file", {"path": "/etc/wireguard/" + name, "state": "absent"}, check=False)
        playbook("playbooks/mesh.yml", check=False)


class TestOperatorJoined:
    """The operator as an external peer of the running mesh."""

    def test_showconf_is_what_a_natd_peer_needs(self, joined):
        text = joined["showconf"]
        assert "PrivateKey =" not in text and "PresharedKey" not in text
        sections = text.split("\n[Peer]\n")[1:]
        assert len(sections) >= 2
        assert all("PersistentKeepalive = 25" in s and "Endpoint = 203.0.113." in s for s in sections)
        with open(STATE) as handle:
            psks = json.load(handle)["psks"]
        assert psks and not any(psk in text for psk in psks.values())

    def test_operator_pings_every_mesh_node(self, joined):
        with open(STATE) as handle:
            nodes = json.load(handle)["plan"]["mesh_ips"]
        assert sorted(nodes) == ["aws1", "do1", "do2", "edge"]
        failed = {}
        deadline = time.monotonic() + 60
        pending = dict(nodes)
        while pending and time.monotonic() < deadline:
            for name, address in sorted(pending.items()):
                result = on_operator("ansible.builtin.command", "ping -c 2 -i 0.3 -W 2 %s" % address, check=False)
                if result.get("rc") == 0:
                    del pending[name]
                else:
                    failed[name] = result.get("stdout", "")[-300:]
            if pending:
                time.sleep(2)
        assert not pending, {n: failed[n] for n in pending}

    def test_status_names_the_operator_and_graph_draws_it(self, joined, tmp_path):
        status = run(os.path.join(BIN, "wiremesh"), "status")
        keep("external_peer_status.txt", status.stdout)
        assert re.search(r"^aws1\s+operator\s+198\.51\.100\.10:\d+\s+\d+s ago", status.stdout, re.M), status.stdout
        svg = tmp_path / "mesh.svg"
        run(os.path.join(BIN, "wiremesh"), "graph", "--format", "svg", "-o", str(svg))
        assert "operator" in svg.read_text()


def test_the_operator_left_the_mesh_again(lab):
    """Runs after the class: its fixture's teardown removed the peer from the mesh and the operator."""
    proc = run(os.path.join(BIN, "wiremesh"), "showconf", "peer", "operator", check=False)
    assert proc.returncode == 2 and "no external peer 'operator'" in proc.stderr
    assert "wg0" not in on_operator("ansible.builtin.command", "ip -br link")["stdout"]
    gone = on_operator("ansible.builtin.stat", {"path": "/etc/wireguard/wg0.key"})
    assert not gone["stat"]["exists"]
