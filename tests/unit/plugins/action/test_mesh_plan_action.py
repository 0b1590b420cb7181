"""mesh_plan through real ansible-playbook runs (controller only, no managed host is contacted): inventory
variables are read, the state file keeps addresses sticky and --limit runs keep every peer."""

import json
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

from ..module_utils.mesh.helpers import key

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed here")

PLAY = """
- name: Plan
  hosts: mesh
  gather_facts: false
  tasks:
    - name: What wg_key would publish
      ansible.builtin.set_fact:
        wiremesh_public_key: "{{ test_key }}"
    - name: Plan the mesh
      wiremesh.multicloud.mesh_plan:
        hosts: "{{ groups['mesh'] }}"
        granularity: "{{ granularity | default('full') }}"
        state_path: "{{ state }}"
        forget: "{{ forget | default([]) }}"
      run_once: true
      register: planned
    - name: Save the result
      ansible.builtin.copy:
        content: "{{ planned | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
      run_once: true
"""


def inventory(names, endpoint="198.51.100.%d"):
    """Host i in location l<i> with the endpoint ``endpoint % (i + 1)``."""
    hosts = "".join("        %s: {ansible_connection: local, wiremesh_location: l%d, wiremesh_endpoint: '%s',"
                    " test_key: '%s'}\n" % (n, i, endpoint % (i + 1), key(n)) for i, n in enumerate(names))
    return "all:\n  children:\n    mesh:\n      hosts:\n" + hosts


@pytest.fixture
def run(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    state = tmp_path / "state" / "mesh.json"

    def _run(names, *args, endpoint="198.51.100.%d"):
        (tmp_path / "hosts.yml").write_text(inventory(names, endpoint))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1")
        env.pop("ANSIBLE_CONFIG", None)
        proc = subprocess.run([PLAYBOOK_BIN, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                               "-e", "state=%s out=%s" % (state, tmp_path / "out.json"), *args],
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
        result = json.loads((tmp_path / "out.json").read_text()) if proc.returncode == 0 else None
        (tmp_path / "out.json").unlink(missing_ok=True)
        return proc, result
    _run.state = state
    return _run


def test_state_is_private_sticky_and_survives_limit(run):
    proc, first = run(["b", "c"])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] and first["mesh_ips"] == {"b": "10.4.0.1", "c": "10.4.0.2"}
    assert stat.S_IMODE(os.stat(run.state).st_mode) == 0o600
    doc = json.loads(run.state.read_text())
    assert set(doc["psks"]) == {"b|c"}
    assert doc["psks"]["b|c"] not in proc.stdout

    again = run(["b", "c"])[1]
    assert not again["changed"] and again["mesh_ips"] == first["mesh_ips"]

    grown = run(["a", "b", "c"])[1]
    assert grown["mesh_ips"] == {"a": "10.4.0.3", "b": "10.4.0.1", "c": "10.4.0.2"}
    assert os.path.exists(str(run.state) + ".bak")

    # only b runs: a and c keep their keys from the state file, so b keeps both peers
    proc, limited = run(["a", "b", "c"], "--limit", "b")
    assert proc.returncode == 0, proc.stdout
    peers = {p["name"]: p["public_key"] for p in limited["plan"]["nodes"]["b"]["peers"]}
    assert peers == {"a": key("a"), "c": key("c")}
    assert not limited["changed"]


def test_removed_node_keeps_its_address_until_forgotten(run):
    run(["a", "b", "c"])
    assert run(["a", "c"])[1]["mesh_ips"] == {"a": "10.4.0.1", "c": "10.4.0.3"}
    assert json.loads(run.state.read_text())["nodes"]["b"]["reserved"] is True
    assert run(["a", "c"], "-e", '{"forget": ["b"]}')[0].returncode == 0
    assert "b" not in json.loads(run.state.read_text())["nodes"]
    proc = run(["a", "c"], "-e", '{"forget": ["zz"]}')[0]
    assert proc.returncode != 0 and "forget: zz not in the state file" in proc.stdout


def test_damaged_state_is_refused_with_the_backup_named(run):
    run(["a", "b"])
    run(["a", "b", "c"])
    run.state.write_text("{ truncated")
    proc = run(["a", "b", "c"])[0]
    assert proc.returncode != 0
    assert "is damaged" in proc.stdout and "%s.bak" % run.state in proc.stdout
    assert run.state.read_text() == "{ truncated"


def test_host_outside_the_run_without_a_remembered_key_stops_the_run(run):
    proc = run(["a", "b"], "--limit", "a")[0]
    assert proc.returncode != 0
    assert "b: wiremesh_public_key: is missing" in proc.stdout
    assert not run.state.exists()


def test_notes_are_warnings(run):
    proc, result = run(["a", "b"], "-e", "granularity=location", endpoint="10.20.0.%d")
    assert proc.returncode == 0, proc.stdout
    note = ("{0}: wiremesh_endpoint: 10.20.0.{1}:51820 is a private address (RFC 1918) and {0} leads location l{2}, "
            "where no host has a public endpoint: the other locations and external peers reach {0} only over a private "
            "network they share with it")
    assert result["notes"] == [note.format("a", 1, 0), note.format("b", 2, 1)]
    assert "[WARNING]: " + note.format("a", 1, 0) in " ".join((proc.stdout + proc.stderr).split())
