#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_droplet
short_description: Create or delete one DigitalOcean droplet, identified by its name within a tag
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Makes one droplet named O(name) present or absent through the official C(pydo) client, and waits until it
    is C(active) with its addresses.
  - With O(unique_name=true) (the default) the droplet is identified by its name among the droplets that carry
    the first tag of O(tags) (the mesh tag), or among all droplets of the account when O(tags) is empty. An
    existing droplet is left as it is (V(changed=false)) apart from missing O(tags), which are added. A
    different region, size or image is reported as a warning; such a droplet is never rebuilt.
  - Two droplets with the same name in that scope are an error that names their ids.
  - With O(unique_name=false) and O(state=present) a new droplet is created on every run.
options:
  name:
    description:
      - Name (host name) of the droplet; letters, digits, dots and dashes.
    type: str
    required: true
  region:
    description:
      - Region slug, for example V(fra1). Required to create the droplet.
    type: str
  size:
    description:
      - Size slug, for example V(s-1vcpu-1gb). Required to create the droplet.
    type: str
  image:
    description:
      - Image slug (for example V(ubuntu-24-04-x64)) or image id. Required to create the droplet.
    type: str
  ssh_keys:
    description:
      - Ids or fingerprints of account SSH keys (see M(wiremesh.multicloud.do_ssh_key)) installed for root.
      - Only used when the droplet is created.
    type: list
    elements: str
    default: []
  vpc_uuid:
    description:
      - UUID of the VPC to place the droplet in (see M(wiremesh.multicloud.do_vpc)); it must be in O(region).
        The region's default VPC when not given.
    type: str
  tags:
    description:
      - Tags of the droplet (letters, digits, V(:), V(-) and V(_)). Missing tags are added to an existing droplet;
        tags it has beyond these are left alone.
      - The first tag scopes the name (see O(unique_name)).
    type: list
    elements: str
    default: []
  user_data:
    description:
      - Cloud-init user data (plain text, at most 64 KiB), used when the droplet is created.
      - It may carry secrets, so it is never shown in the output (C(no_log)); the API does not return it either.
    type: str
  monitoring:
    description:
      - Install the DigitalOcean metrics agent (at creation).
    type: bool
    default: false
  ipv6:
    description:
      - Give the droplet a public IPv6 address (at creation).
    type: bool
    default: false
  unique_name:
    description:
      - Identify the droplet by O(name) within the first tag of O(tags); see the description.
    type: bool
    default: true
  wait:
    description:
      - Wait until a new droplet is C(active) with a public IPv4 address; with O(state=absent), until it is gone.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait (see O(wait)).
    type: int
    default: 300
  state:
    description:
      - V(present) creates the droplet when it is missing; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.digitalocean
attributes:
  check_mode:
    support: full
    details: Nothing is created, tagged or deleted; RV(actions) says what would be done, and RV(droplet) is V(null)
      for a droplet that would be created.
notes:
  - A droplet is billed from the moment it is created; O(state=absent) is the way to stop that.
seealso:
  - module: wiremesh.multicloud.do_droplet_info
  - module: wiremesh.multicloud.do_firewall
  - name: DigitalOcean API, droplets
    description: The endpoints this module uses.
    link: https://docs.digitalocean.com/reference/api/digitalocean/#tag/Droplets
"""

EXAMPLES = r"""
- name: A mesh node in Frankfurt
  wiremesh.multicloud.do_droplet:
    name: do-fra1-a
    region: fra1
    size: s-1vcpu-1gb
    image: ubuntu-24-04-x64
    ssh_keys: ["{{ admin_key.ssh_key.fingerprint }}"]
    vpc_uuid: "{{ vpc.vpc.id }}"
    tags: [wiremesh, wiremesh-web]
  register: node

- name: Its addresses
  ansible.builtin.debug:
    msg: "{{ node.droplet.public_ipv4 }} / {{ node.droplet.private_ipv4 }}"

- name: Delete it
  wiremesh.multicloud.do_droplet:
    name: do-fra1-a
    tags: [wiremesh]
    state: absent
"""

RETURN = r"""
droplet:
  description:
    - The droplet as the API shows it, plus RV(droplet.public_ipv4), RV(droplet.private_ipv4) and
      RV(droplet.public_ipv6).
    - V(null) when there is none (absent, or would be created in check mode), and after deleting several droplets
      with O(unique_name=false).
  returned: always
  type: dict
  contains:
    id:
      description: The droplet's id.
      type: int
      sample: 3164445
    name:
      description: Its name.
      type: str
      sample: do-fra1-a
    status:
      description: C(new), C(active), C(off) or C(archive).
      type: str
      sample: active
    public_ipv4:
      description: Public IPv4 address (V(null) until the droplet is active).
      type: str
      sample: 203.0.113.2
    private_ipv4:
      description: Address in the droplet's VPC (V(null) until the droplet is active).
      type: str
      sample: 10.40.0.2
    public_ipv6:
      description: Public IPv6 address when O(ipv6=true).
      type: str
      sample: "2001:db8:2::2"
    tags:
      description: Its tags.
      type: list
      elements: str
      sample: [wiremesh, wiremesh-web]
    vpc_uuid:
      description: UUID of its VPC.
      type: str
      sample: 5a4981aa-9653-4bd1-bef5-d6bff52042e4
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create droplet do-fra1-a in fra1 (s-1vcpu-1gb, ubuntu-24-04-x64)"]
"""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.module import (
    STATE, new_module, run_module)
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.droplets import ensure_droplet


def main():
    module = new_module(dict(
        name=dict(type="str", required=True),
        region=dict(type="str"),
        size=dict(type="str"),
        image=dict(type="str"),
        ssh_keys=dict(type="list", elements="str", default=[], no_log=False),
        vpc_uuid=dict(type="str"),
        tags=dict(type="list", elements="str", default=[]),
        user_data=dict(type="str", no_log=True),
        monitoring=dict(type="bool", default=False),
        ipv6=dict(type="bool", default=False),
        unique_name=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        state=STATE,
    ))
    run_module(module, lambda api: ensure_droplet(api, module.params, module.check_mode))


if __name__ == "__main__":
    main()
