"""The wiremesh CLI from cli/ (importable without installing it) and a lab-like state file."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "cli"))

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan  # noqa: E402

from ..plugins.module_utils.mesh.helpers import key, node  # noqa: E402

PSK = key("a secret preshared key")
OPERATOR = {"name": "operator", "allowed_ips": ["10.4.100.1/32"], "public_key": key("operator")}


def lab_plan():
    nodes = [node("do1", "do-fra1", "203.0.113.11", ["10.110.0.11/20"]),
             node("do2", "do-fra1", "203.0.113.12", ["10.110.0.12/20"]),
             node("aws1", "aws-eu-central-1", "203.0.113.21", ["172.31.16.21/20"]),
             node("edge", "edge", None, ["192.168.50.10/24"])]
    return build_plan("10.4.0.0/16", "location", nodes, [OPERATOR]).to_dict()


@pytest.fixture
def inventory(tmp_path):
    """An inventory directory whose .wiremesh/mesh.state.json holds the lab's plan and a preshared key."""
    state = tmp_path / ".wiremesh" / "mesh.state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"version": 1, "nodes": {}, "psks": {"do1|do2": PSK}, "plan": lab_plan()}))
    return tmp_path
