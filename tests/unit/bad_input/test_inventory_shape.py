"""The inventory as a whole: the harness's control run, empty or unreadable inventories, mesh-wide settings."""

import os

from .harness import PREFIX, assert_problem, needs_ansible, planner_problems

pytestmark = needs_ansible


def test_control_a_valid_inventory_gets_past_the_preflight_and_reaches_the_hosts(inventory):
    """Without this the suite could not tell 'refused before touching a host' from 'never tries a host'."""
    result = inventory.run()
    assert result.rc != 0
    assert "UNREACHABLE!" in result.output and "127.0.0.1 port 9" in result.output
    assert not os.path.exists(inventory.state_path)


def test_empty_mesh_group(inventory):
    inventory.hosts = {}
    inventory.run().assert_refused("the mesh group 'mesh' has no hosts")


def test_empty_inventory_file(inventory):
    inventory.raw["hosts.yml"] = b""        # written after the generated one: replaces it
    inventory.run().assert_refused("the mesh group 'mesh' has no hosts")


def test_misspelt_mesh_group(inventory):
    inventory.run("-e", "wireguard_mesh_group=mseh").assert_refused("the mesh group 'mseh' has no hosts")


def test_unknown_granularity(inventory):
    inventory.run("-e", "wireguard_granularity=star").assert_refused(
        "value of wireguard_granularity must be one of: full, location, cross, got: star")


def test_mesh_cidr_with_host_bits(inventory):
    inventory.run("-e", "wireguard_cidr=10.4.0.1/16").assert_refused(
        "invalid mesh: mesh: cidr: '10.4.0.1/16' is not a network CIDR (10.4.0.1/16 has host bits set)")
    assert_problem(planner_problems(inventory.nodes(), cidr="10.4.0.1/16"), "mesh", "cidr", "has host bits set")


def test_host_without_location(inventory):
    inventory.set("c", location=None).run().assert_refused("invalid mesh: c: wiremesh_location: is required")
    assert_problem(planner_problems(inventory.nodes()), "c", "location", "is required")


def test_location_that_is_no_name(inventory):
    inventory.set("c", location="eu central").run().assert_refused(
        "c: wiremesh_location: 'eu central' is not a valid name")


def test_host_name_wireguard_cannot_carry(inventory):
    inventory.hosts["db 1"] = {PREFIX + "location": "l3", PREFIX + "endpoint": "198.51.100.9"}
    inventory.run().assert_refused("invalid mesh: db 1: inventory_hostname: 'db 1' is not a valid name")
