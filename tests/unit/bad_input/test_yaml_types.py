"""Values as YAML really delivers them: `no` read as false, numbers for names, a list or a mapping where
another type belongs, bytes that are not UTF-8, and values far too big to echo back whole.

host_vars files are written byte for byte as a user would type them (they take precedence over hosts.yml)."""

import pytest

from .harness import needs_ansible

pytestmark = needs_ansible


@pytest.mark.parametrize("host, text, message", [
    ("c", "wiremesh_location: no\n",            # the Norway problem: YAML 1.1 reads it as false
     "c: wiremesh_location: must be a string, got bool False (YAML reads unquoted yes/no/true/false/on/off as "
     "booleans: quote the value)"),
    ("a", 'wiremesh_leader: "no"\n', "a: wiremesh_leader: must be a boolean, got 'no'"),
    ("c", "wiremesh_location: 1\n", "c: wiremesh_location: must be a string, got int 1"),
    ("c", "wiremesh_endpoint: [198.51.100.3]\n",
     "c: wiremesh_endpoint: must be a string like 'host:port', got list ['198.51.100.3']"),
    ("a", "wiremesh_mesh_ip: 167772161\n", "a: wiremesh_mesh_ip: 167772161 is not an IP address"),
], ids=["no-as-location", "quoted-no-as-leader", "number-as-location", "list-as-endpoint", "number-as-address"])
def test_yaml_type_confusion(inventory, host, text, message):
    inventory.raw["host_vars/%s.yml" % host] = text.encode()
    inventory.run().assert_refused("invalid mesh: " + message)


@pytest.mark.parametrize("host, text, message", [
    ("a", "wiremesh_private_ips: {eth1: 192.168.1.2/24}\n",
     "argument 'wiremesh_private_ips' is of type dict and we were unable to convert to list"),
    ("c", "wiremesh_keepalive: 25s\n",
     "argument 'wiremesh_keepalive' is of type str and we were unable to convert to int"),
], ids=["mapping-as-list", "unit-in-integer"])
def test_yaml_type_confusion_caught_by_the_role_argument_spec(inventory, host, text, message):
    """The role's meta/argument_specs.yml types these host variables: Ansible refuses them first, for the host
    that has them."""
    inventory.raw["host_vars/%s.yml" % host] = text.encode()
    result = inventory.run()
    result.assert_refused("Validation of arguments failed: " + message)
    assert "fatal: [%s]: FAILED!" % host in result.output
    assert result.output.count(": FAILED!") == 1


def test_number_as_peer_name(inventory):
    inventory.raw["group_vars/mesh.yml"] = (
        b"wireguard_peers:\n  - name: 42\n    allowed_ips: [10.5.0.1/32]\n"
        b"    public_key: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n")
    inventory.run().assert_refused("invalid mesh: peer 42: name: must be a string, got int 42")


def test_inventory_file_that_is_not_utf8(inventory):
    """ansible.cfg's any_unparsed_is_failed turns the unreadable inventory into an error (not an empty run)."""
    inventory.raw["hosts.yml"] = b"all:\n  children:\n    mesh:\n      hosts:\n        a: {wiremesh_location: \xff}\n"
    result = inventory.run()
    result.assert_refused("Completely failed to parse inventory source %s/hosts.yml" % inventory.root)
    assert "hosts.yml' could not be decoded as 'utf-8'" in result.output


def test_host_vars_file_that_is_not_utf8(inventory):
    inventory.raw["host_vars/b.yml"] = b'wiremesh_location: "fra\xff1"\n'
    result = inventory.run()
    result.assert_refused("YAML parsing failed: 'utf-8' codec can't encode character '\\udcff'")
    assert "host_vars/b.yml' could not be decoded as 'utf-8'" in result.output


def test_value_that_is_not_utf8_on_the_command_line(inventory):
    inventory.run("-e", "wireguard_cidr=10.4.0.0/16\udcff").assert_refused(
        "invalid mesh: mesh: cidr: '10.4.0.0/16\\udcff' is not a network CIDR")


def test_huge_value_is_named_not_echoed(inventory):
    inventory.set("c", location="x" * 1_000_000)
    result = inventory.run()
    result.assert_refused("invalid mesh: c: wiremesh_location: 'xxxxxxxx",
                          "... (1000000 characters) is not a valid name")
    assert len(result.errors) < 1000


def test_huge_list_gives_one_bounded_message(inventory):
    inventory.set("b", extra_cidrs=["10.4.%d.%d/32" % (i // 250, i % 250 + 1) for i in range(5000)])
    result = inventory.run()
    result.assert_refused("b: wiremesh_extra_cidrs: 10.4.0.1/32 overlaps the mesh CIDR 10.4.0.0/16",
                          "; ... and 4980 more problems")
    assert len(result.errors) < 5000
