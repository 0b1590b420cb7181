#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_vpc
short_description: Create or delete a DigitalOcean VPC
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Makes the VPC named O(name) present in O(region), or absent, through the official C(pydo) client.
  - VPC names are unique in a DigitalOcean account, so the name identifies the VPC.
  - The region and IP range of an existing VPC cannot change; asking for another one is an error that names
    both values. O(description) is updated in place.
  - A VPC that still has members (droplets), and a region's default VPC, cannot be deleted; the API's answer
    is reported as it is.
options:
  name:
    description:
      - Name of the VPC (letters, digits, dashes and periods).
    type: str
    required: true
  region:
    description:
      - Region slug, for example V(fra1). Required to create the VPC.
    type: str
  ip_range:
    description:
      - Private IPv4 range of the VPC in CIDR notation (a C(/16) to C(/28) inside RFC 1918 space that overlaps no
        other VPC of the account). DigitalOcean picks a free C(/20) when it is not given.
    type: str
  description:
    description:
      - Free text (at most 255 characters). Left as it is when not given.
    type: str
  state:
    description:
      - V(present) creates the VPC when it is missing; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.digitalocean
attributes:
  check_mode:
    support: full
    details: Nothing is created, updated or deleted; RV(actions) says what would be done.
seealso:
  - module: wiremesh.multicloud.do_droplet
  - name: DigitalOcean API, VPCs
    description: The endpoints this module uses.
    link: https://docs.digitalocean.com/reference/api/digitalocean/#tag/VPCs
"""

EXAMPLES = r"""
- name: Private network of the mesh in Frankfurt
  wiremesh.multicloud.do_vpc:
    name: wiremesh-fra1
    region: fra1
    ip_range: 10.40.0.0/20
    description: wiremesh nodes
  register: vpc

- name: Remove it (after its droplets)
  wiremesh.multicloud.do_vpc:
    name: wiremesh-fra1
    state: absent
"""

RETURN = r"""
vpc:
  description: The VPC as the API shows it; V(null) when there is none (absent, or would be created in check mode).
  returned: always
  type: dict
  contains:
    id:
      description: The VPC's UUID, for the C(vpc_uuid) option of M(wiremesh.multicloud.do_droplet).
      type: str
      sample: 5a4981aa-9653-4bd1-bef5-d6bff52042e4
    name:
      description: Its name.
      type: str
      sample: wiremesh-fra1
    region:
      description: Its region slug.
      type: str
      sample: fra1
    ip_range:
      description: Its private range.
      type: str
      sample: 10.40.0.0/20
    default:
      description: Whether it is the region's default VPC.
      type: bool
      sample: false
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create VPC wiremesh-fra1 in fra1"]
"""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.module import (
    STATE, new_module, run_module)
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.vpcs import ensure_vpc


def main():
    module = new_module(dict(
        name=dict(type="str", required=True),
        region=dict(type="str"),
        ip_range=dict(type="str"),
        description=dict(type="str"),
        state=STATE,
    ))
    run_module(module, lambda api: ensure_vpc(api, module.params, module.check_mode))


if __name__ == "__main__":
    main()
