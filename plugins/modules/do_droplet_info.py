#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_droplet_info
short_description: List DigitalOcean droplets with their addresses, optionally those of one tag
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Lists the droplets of the account (GPU droplets included), or those that carry O(tag_name), through the
    official C(pydo) client, all pages of them.
  - Each droplet comes with C(public_ipv4), C(private_ipv4) and C(public_ipv6) next to the API's own fields.
options:
  tag_name:
    description:
      - Only the droplets with this tag.
    type: str
  name:
    description:
      - Only the droplets with this name (exact, case-insensitive).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.digitalocean
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: N/A
seealso:
  - module: wiremesh.multicloud.do_droplet
"""

EXAMPLES = r"""
- name: The droplets of the mesh
  wiremesh.multicloud.do_droplet_info:
    tag_name: wiremesh
  register: mesh

- name: Their public addresses
  ansible.builtin.debug:
    msg: "{{ mesh.droplets | map(attribute='public_ipv4') | list }}"
"""

RETURN = r"""
droplets:
  description:
    - The droplets, by id, each as M(wiremesh.multicloud.do_droplet) returns one - the API's fields (C(id),
      C(name), C(status), C(tags), C(vpc_uuid), C(networks), ...) plus C(public_ipv4), C(private_ipv4) and
      C(public_ipv6) (V(null) while not assigned).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 3164445
      name: do-fra1-a
      status: active
      tags: [wiremesh]
      public_ipv4: 203.0.113.2
      private_ipv4: 10.40.0.2
      public_ipv6: null
"""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.module import (
    new_module, run_module)
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.droplets import list_droplets


def main():
    module = new_module(dict(
        tag_name=dict(type="str"),
        name=dict(type="str"),
    ))
    run_module(module, lambda api: dict(changed=False, droplets=list_droplets(
        api, tag_name=module.params["tag_name"], name=module.params["name"])))


if __name__ == "__main__":
    main()
