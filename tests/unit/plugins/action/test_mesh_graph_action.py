"""mesh_graph through real ad-hoc runs on the controller: DOT (and SVG) written from a state file or a plan,
idempotent, check mode writes nothing, a missing state file fails clearly."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan

from ..module_utils.mesh.helpers import key, node

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ANSIBLE_BIN = os.path.join(os.path.dirname(sys.executable), "ansible")

pytestmark = pytest.mark.skipif(not os.path.exists(ANSIBLE_BIN), reason="ansible is not installed here")

PSK = key("a preshared key")


def graph(args, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run([ANSIBLE_BIN, "localhost", "-m", "wiremesh.multicloud.mesh_graph", "-a", json.dumps(args),
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120)
    return json.loads(proc.stdout[proc.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def state(tmp_path):
    plan = build_plan("10.4.0.0/16", "location", [node("a", "l1", "203.0.113.1"), node("b", "l2")]).to_dict()
    path = tmp_path / "mesh.state.json"
    path.write_text(json.dumps({"version": 1, "nodes": {}, "psks": {"a|b": PSK}, "plan": plan}))
    os.chmod(path, 0o600)
    return path


def test_dot_from_the_state_file_idempotent_and_without_secrets(state, tmp_path):
    dest = tmp_path / "out" / "mesh.dot"
    first = graph({"state_path": str(state), "dest": str(dest), "svg": "never"})
    assert first["changed"] and first["dot"] == str(dest) and first["svg"] is None
    text = dest.read_text()
    assert text.startswith('graph "wiremesh" {') and '"b" [label="b\\n10.4.0.2\\n[leader, NAT]"' in text
    assert PSK not in text
    assert not graph({"state_path": str(state), "dest": str(dest), "svg": "never"})["changed"]


def test_check_mode_writes_nothing_and_plan_can_be_given(state, tmp_path):
    plan = json.loads(state.read_text())["plan"]
    dest = tmp_path / "mesh.dot"
    result = graph({"plan": plan, "dest": str(dest), "svg": "never"}, "--check")
    assert result["changed"] and not dest.exists()


@pytest.mark.skipif(not any(os.access(os.path.join(p, "dot"), os.X_OK) for p in os.environ["PATH"].split(":")),
                    reason="graphviz is not installed")
def test_svg_next_to_the_dot_file(state, tmp_path):
    result = graph({"state_path": str(state), "dest": str(tmp_path / "mesh.dot")})
    assert result["svg"] == str(tmp_path / "mesh.svg") and "<svg" in (tmp_path / "mesh.svg").read_text()


def test_missing_state_file_and_both_sources_fail(tmp_path):
    result = graph({"state_path": str(tmp_path / "none.json"), "dest": str(tmp_path / "x.dot")})
    assert result["failed"] and "no state file" in result["msg"]
    result = graph({"state_path": "x", "plan": {}, "dest": str(tmp_path / "x.dot")})
    assert result["failed"] and "mutually exclusive" in result["msg"]
