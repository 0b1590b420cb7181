"""The state file against the inventory: damaged files, stale keys, a changed CIDR, a peer claiming a deployed
node's address, and names the state does not know (forget, rotation, showconf). The state file written by
``deploy`` is what a successful run leaves; every refusal must leave it byte for byte as it was."""

import json
import os
import subprocess

import pytest

from ..plugins.module_utils.mesh.helpers import key
from .harness import BIN, assert_problem, needs_ansible, planner_problems, snapshot

pytestmark = needs_ansible


def test_damaged_state_file(inventory):
    inventory.deploy()
    with open(inventory.state_path, "w", encoding="utf-8") as handle:
        handle.write('{"version": 1, "nodes": {"a": {"mesh_ip": "10.4.')
    inventory.run().assert_refused("the state file %s is damaged (" % inventory.state_path,
                                   "move it away to start over (that renumbers the mesh)")


def test_state_file_that_is_not_utf8(inventory):
    inventory.deploy()
    with open(inventory.state_path, "ab") as handle:
        handle.write(b"\xff\xfe")
    inventory.run().assert_refused("cannot read the state file %s: 'utf-8' codec can't decode byte 0xff"
                                   % inventory.state_path)


def test_state_file_of_another_format(inventory):
    inventory.deploy()
    with open(inventory.state_path, "w", encoding="utf-8") as handle:
        json.dump({"version": 2, "peers": {}}, handle)
    inventory.run().assert_refused("is damaged (not a wiremesh state document of version 1)")


def test_state_file_with_a_mangled_preshared_key(inventory):
    data = inventory.deploy()
    pair = sorted(data["psks"])[0]
    data["psks"][pair] = data["psks"][pair][:-4]
    with open(inventory.state_path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    result = inventory.run()
    result.assert_refused("is damaged (psks: entry %r is malformed)" % pair)
    assert data["psks"][pair] not in result.output         # the key itself is never echoed


def test_stale_state_gives_two_hosts_one_key(inventory):
    """The state remembers b with a's key (b re-imaged from a's disk, or an edited file)."""
    data = inventory.deploy()
    data["nodes"]["b"]["public_key"] = data["nodes"]["a"]["public_key"]
    with open(inventory.state_path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    inventory.run().assert_refused("invalid mesh: b: public_key remembered in the state file: %s... is also used by a"
                                   % key("a")[:10])


def test_state_from_another_mesh_cidr(inventory):
    """wireguard_cidr changed under a deployed mesh: every remembered address falls outside it."""
    data = inventory.deploy()
    inventory.group_vars["wireguard_cidr"] = "10.46.0.0/24"
    inventory.run().assert_refused("a: wiremesh_mesh_ip: the state file assigns 10.4.0.1, outside the mesh CIDR "
                                   "10.46.0.0/24 (a changed CIDR renumbers every host")
    sticky = {name: entry["mesh_ip"] for name, entry in data["nodes"].items()}
    assert_problem(planner_problems(inventory.nodes(), cidr="10.46.0.0/24", assigned=sticky),
                   "c", "mesh_ip", "the state file assigns 10.4.0.3")


def test_exported_mesh_claims_a_deployed_address(inventory):
    """`showconf node --as-peer` of a mesh that uses the same CIDR: its node holds a's address."""
    data = inventory.deploy()
    inventory.group_vars["wireguard_peers"] = [{"name": "m-b1", "allowed_ips": ["10.4.0.1/32"],
                                                "public_key": key("m-b1"), "endpoint": "203.0.113.213:51820"}]
    inventory.run().assert_refused("peer m-b1: allowed_ips: 10.4.0.1/32 contains the mesh IP 10.4.0.1 of a (do the "
                                   "two meshes use the same CIDR?)")
    sticky = {name: entry["mesh_ip"] for name, entry in data["nodes"].items()}
    assert_problem(planner_problems(inventory.nodes(), peers=inventory.group_vars["wireguard_peers"], assigned=sticky),
                   "peer m-b1", "allowed_ips", "contains the mesh IP 10.4.0.1 of a")


def test_forget_a_name_the_state_does_not_know(inventory):
    inventory.deploy()
    inventory.group_vars["wireguard_forget"] = ["zz"]
    inventory.run().assert_refused("forget: zz not in the state file %s" % inventory.state_path)


def test_forget_a_host_that_is_still_in_the_mesh(inventory):
    inventory.deploy()
    inventory.group_vars["wireguard_forget"] = ["b"]
    inventory.run().assert_refused("forget: b still in the mesh: only a host that left the inventory can be forgotten")


def test_rotate_a_host_outside_the_mesh(inventory):
    inventory.deploy()
    inventory.run("-e", "wiremesh_rotate=zz").assert_refused(
        "wiremesh_rotate: zz not in the mesh group mesh (a, b, c); nothing was changed")


def test_rotate_a_host_the_state_does_not_know(inventory):
    """d joins in this very run: it has no key to rotate yet."""
    inventory.deploy()
    inventory.hosts["d"] = {"wiremesh_location": "l2", "wiremesh_endpoint": "198.51.100.4"}
    inventory.run("-e", "wiremesh_rotate=d").assert_refused(
        "cannot rotate d: not in the mesh state (deploy the mesh first) (%s)" % inventory.state_path)


needs_cli = pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "wiremesh")),
                               reason="the wiremesh CLI is not installed next to this Python")


@needs_cli
@pytest.mark.parametrize("argv, message", [
    (["peer", "zz"], "wiremesh: no external peer 'zz' in the plan (known: none)"),
    (["node", "zz"], "wiremesh: no node 'zz' in the plan (known: a, b, c)"),
    (["peer", "a"], "wiremesh: a is a managed node of the mesh, not an external peer (see: showconf node a)"),
    (["node", "zz", "--as-peer"], "wiremesh: no node 'zz' in the plan (known: a, b, c)"),
], ids=["unknown-peer", "unknown-node", "node-as-peer-name", "unknown-node-as-peer"])
def test_showconf_of_an_unknown_name(inventory, argv, message):
    inventory.deploy()
    before = snapshot(inventory.state_dir)
    proc = subprocess.run([os.path.join(BIN, "wiremesh"), "showconf", *argv, "--state", inventory.state_path],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert snapshot(inventory.state_dir) == before
