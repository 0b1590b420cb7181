"""Private-network routes of the cross granularity: reading, diffing, commands."""

import json

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils import routes


def fake_ip(v4, v6=()):
    def run(cmd):
        return 0, json.dumps(v4 if "-4" in cmd else list(v6)), ""
    return run


def test_read_normalizes_host_routes():
    run = fake_ip([{"dst": "10.4.0.3", "gateway": "10.110.0.12", "protocol": "199"},
                   {"dst": "10.244.0.0/24", "gateway": "10.110.0.12"}, {"dst": "10.9.0.0/24", "dev": "eth1"}])
    assert routes.read(run, 199) == {("10.4.0.3/32", "10.110.0.12"), ("10.244.0.0/24", "10.110.0.12")}


def test_changes_and_commands():
    current = {("10.4.0.3/32", "10.110.0.12"), ("10.4.0.9/32", "10.110.0.19")}
    desired = {("10.4.0.3/32", "10.110.0.12"), ("10.4.0.5/32", "10.110.0.15")}
    add, delete = routes.changes(current, desired)
    assert add == [("10.4.0.5/32", "10.110.0.15")] and delete == [("10.4.0.9/32", "10.110.0.19")]
    assert routes.commands(add, delete, 199, src="10.4.0.2") == [
        ["ip", "route", "del", "10.4.0.9/32", "via", "10.110.0.19", "proto", "199"],
        ["ip", "route", "replace", "10.4.0.5/32", "via", "10.110.0.15", "proto", "199", "src", "10.4.0.2"]]


def test_equal_sets_need_no_command():
    same = {("10.4.0.3/32", "10.110.0.12")}
    assert routes.commands(*routes.changes(same, same), protocol=199) == []


@pytest.mark.parametrize("route", [{"to": "x", "via": "10.0.0.1"}, {"to": "10.4.0.0/16"}])
def test_normalize_rejects_bad_routes(route):
    with pytest.raises((ValueError, KeyError)):
        routes.normalize(route)
