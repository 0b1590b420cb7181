"""The do_* modules through real ansible-playbook runs against the emulator: provision, a second run and check
mode change nothing, state=absent leaves nothing; each failure is one message naming DigitalOcean; the token never
appears in the output, even with -vvv."""

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import PLAYBOOK_BIN, ROOT, TOKEN, ssh_public_key

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed here")

MESH = """
- name: DigitalOcean side of the mesh
  hosts: localhost
  gather_facts: false
  vars:
    state: present
  tasks:
    - name: Admin key
      wiremesh.multicloud.do_ssh_key:
        name: wiremesh-admin
        public_key: "{{ public_key }}"
        state: "{{ state }}"
      register: key
      when: state == 'present'
    - name: VPC
      wiremesh.multicloud.do_vpc:
        name: wiremesh-fra1
        region: fra1
        ip_range: 10.40.0.0/20
        description: mesh nodes
      register: vpc
      when: state == 'present'
    - name: Nodes
      wiremesh.multicloud.do_droplet:
        name: "do-fra1-{{ item }}"
        region: fra1
        size: s-1vcpu-1gb
        image: ubuntu-24-04-x64
        ssh_keys: "{{ [key.ssh_key.fingerprint] if state == 'present' else [] }}"
        vpc_uuid: "{{ vpc.vpc.id if state == 'present' else omit }}"
        tags: [wiremesh, "wiremesh-{{ item }}"]
        state: "{{ state }}"
      loop: [web, gpu]
      register: nodes
    - name: Firewall
      wiremesh.multicloud.do_firewall:
        name: wiremesh
        tags: [wiremesh]
        inbound_rules:
          - {protocol: tcp, ports: "22", sources: {addresses: ["198.51.100.10/32", "192.0.2.0/24"]}}
          - {protocol: udp, ports: "51820", sources: {addresses: ["0.0.0.0/0", "::/0"]}}
        outbound_rules:
          - {protocol: tcp, ports: all, destinations: {addresses: ["0.0.0.0/0", "::/0"]}}
          - {protocol: udp, ports: all, destinations: {addresses: ["0.0.0.0/0", "::/0"]}}
          - {protocol: icmp, destinations: {addresses: ["0.0.0.0/0", "::/0"]}}
        state: "{{ state }}"
    - name: Teardown of the key and the VPC, after the droplets
      when: state == 'absent'
      block:
        - name: No key
          wiremesh.multicloud.do_ssh_key:
            name: wiremesh-admin
            state: absent
        - name: No VPC
          wiremesh.multicloud.do_vpc:
            name: wiremesh-fra1
            state: absent
    - name: What the account holds
      wiremesh.multicloud.do_droplet_info:
        tag_name: wiremesh
      register: info
    - name: Save it
      ansible.builtin.copy:
        content: "{{ {'nodes': nodes.results | map(attribute='droplet') | list, 'info': info.droplets} | to_json }}"
        dest: "{{ out_dir }}/out.json"
        mode: "0600"
      check_mode: false
      changed_when: false
"""

ONE_TASK = """
- name: One DigitalOcean task
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The task
      {module}:
{args}
"""


def recap_changed(stdout):
    match = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", stdout)
    assert match, stdout
    return int(match.group(1)), int(match.group(2))


def one_task(module, **args):
    lines = "".join("        %s: %s\n" % (k, json.dumps(v)) for k, v in args.items())
    return ONE_TASK.format(module="wiremesh.multicloud." + module, args=lines)


def test_provision_rerun_check_and_delete_everything(emulator, playbook):
    key = {"public_key": ssh_public_key(1)}
    proc = playbook(MESH, emulator.url, extra=key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap_changed(proc.stdout) == (4, 0)
    out = json.loads((playbook.out / "out.json").read_text())
    web, gpu = out["nodes"]
    assert web["status"] == gpu["status"] == "active"
    assert web["public_ipv4"] != gpu["public_ipv4"] and web["public_ipv4"].startswith("203.0.113.")
    assert {web["private_ipv4"], gpu["private_ipv4"]} == {"10.40.0.2", "10.40.0.3"}
    assert [d["name"] for d in out["info"]] == ["do-fra1-web", "do-fra1-gpu"]
    assert emulator.resources() == {"droplets": 2, "ssh_keys": 1, "vpcs": 1, "default_vpcs": 0, "firewalls": 1,
                                    "tags": 3, "tags_in_use": 3, "actions": 2}

    proc = playbook(MESH, emulator.url, extra=key)
    assert recap_changed(proc.stdout) == (0, 0), proc.stdout
    assert json.loads((playbook.out / "out.json").read_text())["nodes"] == out["nodes"]
    proc = playbook(MESH, emulator.url, "--check", extra=key)
    assert recap_changed(proc.stdout) == (0, 0), proc.stdout

    teardown = dict(key, state="absent")
    assert recap_changed(playbook(MESH, emulator.url, "--check", extra=teardown).stdout) == (4, 0)
    assert emulator.resources()["droplets"] == 2
    proc = playbook(MESH, emulator.url, extra=teardown)
    assert recap_changed(proc.stdout) == (4, 0), proc.stdout
    left = emulator.resources()
    assert {k: left[k] for k in ("droplets", "ssh_keys", "vpcs", "firewalls", "tags_in_use")} == dict.fromkeys(
        ("droplets", "ssh_keys", "vpcs", "firewalls", "tags_in_use"), 0)
    assert recap_changed(playbook(MESH, emulator.url, extra=teardown).stdout) == (0, 0)


def test_bad_token_fails_naming_digitalocean_and_never_shows_the_token(emulator, playbook):
    wrong = "dop_v1_" + "0badc0ffee" * 6
    proc = playbook(one_task("do_droplet_info", tag_name="wiremesh"), emulator.url, "-vvv",
                    env={"DIGITALOCEAN_ACCESS_TOKEN": wrong})
    assert proc.returncode != 0
    assert ("DigitalOcean: 401 Unauthorized: Unable to authenticate you (listing droplets tagged wiremesh); check the"
            " token option or the environment variables DIGITALOCEAN_ACCESS_TOKEN") in proc.stdout
    assert wrong not in proc.stdout + proc.stderr


def test_token_given_as_an_option_is_hidden_even_with_vvv(emulator, playbook):
    play = one_task("do_ssh_key", name="k1", public_key=ssh_public_key(2), token="{{ do_token }}")
    proc = playbook(play, emulator.url, "-vvv", env={"DIGITALOCEAN_ACCESS_TOKEN": None}, extra={"do_token": TOKEN})
    assert proc.returncode == 0, proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in proc.stdout
    proc = playbook(one_task("do_droplet_info"), emulator.url, env={"DIGITALOCEAN_ACCESS_TOKEN": None})
    assert proc.returncode != 0 and ("DigitalOcean: no API token: set the token option or one of the environment"
                                     " variables DIGITALOCEAN_ACCESS_TOKEN, DIGITALOCEAN_TOKEN, DO_API_TOKEN") in proc.stdout


def test_unknown_region_is_the_api_s_422(emulator, playbook):
    play = one_task("do_droplet", name="n1", region="mars1", size="s-1vcpu-1gb", image="ubuntu-24-04-x64")
    proc = playbook(play, emulator.url)
    assert proc.returncode != 0
    assert ("DigitalOcean: 422 unprocessable_entity: You specified an invalid region for Droplet creation."
            " (creating droplet n1)") in proc.stdout
    assert emulator.resources()["droplets"] == 0


def test_duplicate_ssh_keys_are_refused_with_the_existing_key_named(emulator, playbook):
    public_key = ssh_public_key(4)
    assert playbook(one_task("do_ssh_key", name="admin", public_key=public_key), emulator.url).returncode == 0
    proc = playbook(one_task("do_ssh_key", name="other", public_key=public_key), emulator.url)
    assert proc.returncode != 0
    assert "DigitalOcean: SSH key other: this public key (fingerprint" in proc.stdout
    assert "is already uploaded as 'admin'" in proc.stdout
    proc = playbook(one_task("do_ssh_key", name="admin", public_key=ssh_public_key(5)), emulator.url)
    assert proc.returncode != 0 and "DigitalOcean: SSH key admin exists with another public key" in proc.stdout
    assert emulator.resources()["ssh_keys"] == 1


def test_droplet_limit_from_the_command_line_emulator(playbook, tmp_path):
    emulator = subprocess.Popen([sys.executable, "-m", "tests.emulators.do_api", "--port", "0", "--token", TOKEN,
                                 "--droplet-limit", "1", "--boot-seconds", "0.2"], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True)
    try:
        url = emulator.stdout.readline().split()[-1]
        args = dict(region="ams3", size="s-1vcpu-1gb", image="debian-12-x64", tags=["wiremesh"])
        assert playbook(one_task("do_droplet", name="n1", **args), url).returncode == 0
        proc = playbook(one_task("do_droplet", name="n2", **args), url)
        assert proc.returncode != 0
        assert ("DigitalOcean: 422 unprocessable_entity: creating this/these droplet(s) will exceed your droplet"
                " limit (creating droplet n2)") in proc.stdout
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def test_two_droplets_of_one_name_in_the_scope_are_an_error(emulator, playbook):
    for dummy in range(2):
        emulator.request("POST", "/v2/droplets", {"name": "twin", "region": "fra1", "size": "s-1vcpu-1gb",
                                                  "image": "debian-12-x64", "tags": ["wiremesh"]})
    proc = playbook(one_task("do_droplet", name="twin", tags=["wiremesh"], state="absent"), emulator.url)
    assert proc.returncode != 0
    assert "DigitalOcean: 2 droplets are named twin with tag wiremesh (ids " in proc.stdout
    assert emulator.resources()["droplets"] == 2


def test_missing_tags_are_added_to_an_existing_droplet_and_drift_is_warned(emulator, playbook):
    args = dict(name="n1", region="fra1", image="ubuntu-24-04-x64", wait=False)
    assert playbook(one_task("do_droplet", tags=["wiremesh"], size="s-1vcpu-1gb", **args), emulator.url).returncode == 0
    more = one_task("do_droplet", tags=["wiremesh", "wiremesh-gpu"], size="s-2vcpu-4gb", **args)
    proc = playbook(more, emulator.url, "--check")
    assert recap_changed(proc.stdout) == (1, 0), proc.stdout
    droplet = emulator.request("GET", "/v2/droplets")[1]["droplets"][0]
    assert droplet["tags"] == ["wiremesh"]
    proc = playbook(more, emulator.url)
    assert recap_changed(proc.stdout) == (1, 0), proc.stdout
    assert "droplet n1 exists with size s-1vcpu-1gb, not s-2vcpu-4gb; it is left as it is" in proc.stderr
    tags = emulator.request("GET", "/v2/droplets/%d" % droplet["id"])[1]["droplet"]["tags"]
    assert tags == ["wiremesh", "wiremesh-gpu"]
    assert emulator.resources()["droplets"] == 1


def test_firewall_changed_by_hand_is_put_back(emulator, playbook):
    rules = {"inbound_rules": [{"protocol": "udp", "ports": "51820", "sources": {"addresses": ["0.0.0.0/0"]}}],
             "outbound_rules": [{"protocol": "icmp", "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}}]}
    play = one_task("do_firewall", name="wiremesh", tags=["wiremesh"], **rules)
    assert recap_changed(playbook(play, emulator.url).stdout) == (1, 0)
    firewall = emulator.request("GET", "/v2/firewalls")[1]["firewalls"][0]
    firewall["inbound_rules"][0]["ports"] = "51821"
    assert emulator.request("PUT", "/v2/firewalls/" + firewall["id"], firewall)[0] == 200
    proc = playbook(play, emulator.url, "--check", "-v")
    assert recap_changed(proc.stdout) == (1, 0) and "update inbound_rules of firewall wiremesh" in proc.stdout
    assert recap_changed(playbook(play, emulator.url).stdout) == (1, 0)
    assert emulator.request("GET", "/v2/firewalls")[1]["firewalls"][0]["inbound_rules"][0]["ports"] == "51820"
    assert recap_changed(playbook(play, emulator.url).stdout) == (0, 0)
