"""The requests the DigitalOcean side sends, held to DigitalOcean's own published API description (vendored in
tests/emulators/do_api/spec/requests.json from github.com/digitalocean/openapi), not to the emulator's idea of it.

The firewall the cloud role asks for once sent its ICMP rule without ``ports``, which the spec requires on every
rule; the emulator took it. These tests check the bodies the module_utils build and every request a run of the
role's DigitalOcean task files makes, independently of what the emulator accepts."""

import copy
import json
import os

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean import droplets, firewalls
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.client import DigitalOceanError
from emulators.do_api import spec

from .conftest import PLAYBOOK_BIN, ROOT, ssh_public_key

TASKS = os.path.join(ROOT, "roles", "cloud", "tasks")
ROLE_VARS = {"_mesh": "wiremesh-demo", "cloud_admin_cidrs": ["198.51.100.10/32", "2001:db8::/48"],
             "cloud_wireguard_port": 51820}


def role_firewall_params():
    """The do_firewall arguments of roles/cloud/tasks/do_present.yml, rendered with ROLE_VARS, as the module gets
    them (options it leaves out at their defaults, rule suboptions it leaves out as None)."""
    with open(os.path.join(TASKS, "do_present.yml"), encoding="utf-8") as handle:
        block = yaml.safe_load(handle)[0]["block"]
    args = next(t["wiremesh.multicloud.do_firewall"] for t in block if "wiremesh.multicloud.do_firewall" in t)
    env = NativeEnvironment()

    def render(value):
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v) for v in value]
        return env.from_string(value).render(**ROLE_VARS) if isinstance(value, str) else value

    params = dict({"tags": [], "droplet_ids": [], "inbound_rules": [], "outbound_rules": [], "state": "present"},
                  **render(args))
    for field in ("inbound_rules", "outbound_rules"):
        params[field] = [dict({"ports": None}, **rule) for rule in params[field]]
    return params


def firewall_operations():
    return [spec.find("POST", "/v2/firewalls"), spec.find("PUT", "/v2/firewalls/bb4b2611-3d72-467b-8602-280330ecd65c")]


def test_the_vendored_spec_names_its_source():
    assert spec.SOURCE["repository"] == "https://github.com/digitalocean/openapi"
    assert len(spec.SOURCE["commit"]) == 40
    assert [op.id for op in firewall_operations()] == ["firewalls_create", "firewalls_update"]
    assert firewall_operations()[0].source == "specification/resources/firewalls/firewalls_create.yml"


def test_the_cloud_role_firewall_body_conforms_to_the_spec():
    params = role_firewall_params()
    assert any(r["protocol"] == "icmp" for r in params["outbound_rules"])  # the rule the bug was about
    body = firewalls._wanted(params)  # pylint: disable=protected-access
    for op in firewall_operations():
        assert spec.body_errors(op, body) == [], op
    icmp = [r for r in body["outbound_rules"] if r["protocol"] == "icmp"]
    assert [r["ports"] for r in icmp] == ["0"]
    assert {r["ports"] for r in body["outbound_rules"]} == {"0"}  # ports: all is sent as the API's "0"


def test_the_old_request_shape_is_refused_by_the_spec():
    """What the module sent before: an ICMP rule without ports (and "all" for every port)."""
    body = firewalls._wanted(role_firewall_params())  # pylint: disable=protected-access
    old = copy.deepcopy(body)
    for rule in old["outbound_rules"]:
        if rule["protocol"] == "icmp":
            del rule["ports"]
        else:
            rule["ports"] = "all"
    for op in firewall_operations():
        errors = spec.body_errors(op, old)
        assert errors and errors[0] == "outbound_rules[2]: 'ports' is a required property", errors


@pytest.mark.parametrize("rule, ports", [
    ({"protocol": "icmp"}, "0"),
    ({"protocol": "icmp", "ports": "22"}, "0"),
    ({"protocol": "tcp", "ports": "all"}, "0"),
    ({"protocol": "udp", "ports": "ALL"}, "0"),
    ({"protocol": "tcp", "ports": "0"}, "0"),
    ({"protocol": "udp", "ports": 51820}, "51820"),
    ({"protocol": "tcp", "ports": "8000-9000"}, "8000-9000"),
])
def test_every_rule_is_sent_with_ports(rule, ports):
    params = {"name": "fw", "tags": [], "droplet_ids": [], "state": "present", "outbound_rules": [],
              "inbound_rules": [dict(rule, sources={"addresses": ["0.0.0.0/0"]})]}
    body = firewalls._wanted(params)  # pylint: disable=protected-access
    assert body["inbound_rules"][0]["ports"] == ports
    assert spec.body_errors(firewall_operations()[0], body) == []


@pytest.mark.parametrize("name, rule, message", [
    ("x", {"protocol": "tcp", "ports": "22"}, "at least 2 characters"),
    ("-fw", {"protocol": "tcp", "ports": "22"}, "begins with a letter or digit"),
    ("fw", {"protocol": "tcp", "ports": None}, "ports is required for tcp and udp"),
    ("fw", {"protocol": "udp", "ports": "70000"}, "ports '70000' is not a port"),
    ("fw", {"protocol": "udp", "ports": "9000-8000"}, "ports '9000-8000' is not a port"),
])
def test_what_the_spec_refuses_is_refused_before_any_api_call(name, rule, message):
    params = {"name": name, "tags": [], "droplet_ids": [], "state": "present", "outbound_rules": [],
              "inbound_rules": [dict(rule, sources={"addresses": ["0.0.0.0/0"]})]}
    with pytest.raises(DigitalOceanError, match=message):
        firewalls._wanted(params)  # pylint: disable=protected-access


def test_droplet_create_body_conforms_to_the_spec():
    params = {"name": "web-1", "region": "fra1", "size": "s-1vcpu-1gb", "image": "12345", "ssh_keys": ["512190",
              "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"], "vpc_uuid": None, "tags": ["wiremesh-mesh:x"],
              "user_data": None, "monitoring": False, "ipv6": False}
    body = droplets._create_body(params)  # pylint: disable=protected-access
    assert body["image"] == 12345 and body["ssh_keys"][0] == 512190
    assert spec.body_errors(spec.find("POST", "/v2/droplets"), body) == []


def test_the_emulator_refuses_the_old_firewall_request(emulator):
    """The emulator holds bodies to the same spec (and to the ports values its prose names)."""
    body = firewalls._wanted(role_firewall_params())  # pylint: disable=protected-access
    without_ports = copy.deepcopy(body)
    del without_ports["outbound_rules"][2]["ports"]
    all_ports = copy.deepcopy(body)
    all_ports["outbound_rules"][0]["ports"] = "all"
    for old, message in ((without_ports, "outbound_rules[2]: 'ports' is a required property"),
                         (all_ports, "outbound_rules[0]: ports 'all' is invalid")):
        status, answer = emulator.request("POST", "/v2/firewalls", dict(old, tags=[]))
        assert status == 422 and answer["id"] == "unprocessable_entity" and message in answer["message"], answer
    assert emulator.request("POST", "/v2/firewalls", dict(body, tags=[]))[0] == 202


ROLE_PLAY = """
- name: The cloud role's DigitalOcean task files against the emulator
  hosts: localhost
  gather_facts: false
  vars_files:
    - {root}/roles/cloud/defaults/main.yml
  tasks:
    - name: The plan, as roles/cloud/tasks/present.yml makes it
      wiremesh.multicloud.cloud_plan:
        mesh: "{{{{ cloud_mesh }}}}"
        groups: "{{{{ cloud_groups }}}}"
        mesh_cidr: "{{{{ cloud_mesh_cidr }}}}"
        networks:
          aws_vpc_cidr: "{{{{ cloud_aws_vpc_cidr }}}}"
          aws_subnet_cidr: "{{{{ cloud_aws_subnet_cidr }}}}"
          do_vpc_ip_range: "{{{{ cloud_do_vpc_ip_range }}}}"
        admin_cidrs: "{{{{ cloud_admin_cidrs }}}}"
        ssh_public_key: "{{{{ cloud_ssh_public_key }}}}"
      register: cloud_provision_plan
    - name: Provision
      ansible.builtin.include_tasks: {root}/roles/cloud/tasks/do_present.yml
      vars:
        cloud_provision_hosts: []
    - name: Rules changed (an update, with a rule source tag that does not exist yet)
      wiremesh.multicloud.do_firewall:
        name: "{{{{ cloud_mesh }}}}-wiremesh"
        tags: ["wiremesh-mesh:{{{{ cloud_mesh }}}}"]
        inbound_rules:
          - {{protocol: icmp, sources: {{tags: [wiremesh-probe]}}}}
          - {{protocol: tcp, ports: "8000-9000", sources: {{addresses: ["0.0.0.0/0"]}}}}
        outbound_rules:
          - {{protocol: tcp, ports: all, destinations: {{addresses: ["0.0.0.0/0", "::/0"]}}}}
    - name: VPC description changed (a patch)
      wiremesh.multicloud.do_vpc:
        name: "{{{{ cloud_mesh }}}}-fra1"
        description: changed
    - name: Tear down
      ansible.builtin.include_tasks: {root}/roles/cloud/tasks/do_absent.yml
      vars:
        cloud_teardown_plan: "{{{{ cloud_provision_plan }}}}"
"""


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed here")
def test_every_request_of_the_cloud_role_conforms_to_the_spec(emulator, playbook):
    groups = [{"name": "web", "provider": "digitalocean", "region": "fra1", "size": "s-1vcpu-1gb",
               "image": "ubuntu-24-04-x64", "count": 2}]
    extra = {"cloud_mesh": "spec", "cloud_groups": groups, "cloud_admin_cidrs": ["198.51.100.10/32"],
             "cloud_ssh_public_key": ssh_public_key(9), "cloud_wait_timeout": 60}
    proc = playbook(ROLE_PLAY.format(root=ROOT), emulator.url, extra=extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recorded = emulator.request("GET", "/_emulator/requests", token=None)[1]["requests"]
    problems = {}
    for req in recorded:
        errors = spec.request_errors(req["method"], req["path"], req["query"], req["body"])
        if errors:
            problems["%s %s %s" % (req["method"], req["path"], json.dumps(req["body"]))] = errors
    assert not problems, json.dumps(problems, indent=1)
    used = {spec.find(r["method"], r["path"]).id for r in recorded}
    assert {"sshKeys_list", "sshKeys_create", "sshKeys_delete", "vpcs_list", "vpcs_create", "vpcs_patch",
            "vpcs_delete", "droplets_list", "droplets_create", "droplets_get", "droplets_destroy", "firewalls_list",
            "firewalls_create", "firewalls_update", "firewalls_delete", "tags_get", "tags_create"} <= used, used
    created = next(r["body"] for r in recorded if r["method"] == "POST" and r["path"] == "/v2/firewalls")
    assert [r["ports"] for r in created["outbound_rules"] if r["protocol"] == "icmp"] == ["0"]
    assert emulator.resources()["droplets"] == emulator.resources()["firewalls"] == 0
