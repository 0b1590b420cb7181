#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_ssh_key
short_description: Upload an SSH public key to a DigitalOcean account, or remove it
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Makes the SSH key named O(name) present with O(public_key), or absent, through the official C(pydo) client.
  - The key is found by name. A key of that name with another public key is an error (DigitalOcean cannot
    change the public key of an uploaded key); so is a public key that is already uploaded under another name
    (DigitalOcean keeps each public key once per account).
  - Droplets take the returned RV(ssh_key.fingerprint) or RV(ssh_key.id) in their C(ssh_keys) option.
options:
  name:
    description:
      - Display name of the key; it identifies the key for this module.
    type: str
    required: true
  public_key:
    description:
      - The OpenSSH public key (C(<type> <base64> [comment]), as in an C(.pub) file). Required with
        O(state=present).
    type: str
  state:
    description:
      - V(present) uploads the key when it is missing; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.digitalocean
attributes:
  check_mode:
    support: full
    details: Nothing is uploaded or removed; RV(actions) says what would be done.
seealso:
  - module: wiremesh.multicloud.do_droplet
  - name: DigitalOcean API, SSH keys
    description: The endpoints this module uses.
    link: https://docs.digitalocean.com/reference/api/digitalocean/#tag/SSH-Keys
"""

EXAMPLES = r"""
- name: Upload the operators' key
  wiremesh.multicloud.do_ssh_key:
    name: wiremesh-admin
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
  register: admin_key

- name: Remove it
  wiremesh.multicloud.do_ssh_key:
    name: wiremesh-admin
    state: absent
"""

RETURN = r"""
ssh_key:
  description: The key as the API shows it; V(null) when there is none (absent, or would be created in check mode).
  returned: always
  type: dict
  contains:
    id:
      description: The key's id.
      type: int
      sample: 512190
    fingerprint:
      description: MD5 fingerprint of the key.
      type: str
      sample: "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"
    name:
      description: The display name.
      type: str
      sample: wiremesh-admin
    public_key:
      description: The public key.
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1... admin@example
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create SSH key wiremesh-admin (3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa)"]
"""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.module import (
    STATE, new_module, run_module)
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.keys import ensure_ssh_key


def main():
    module = new_module(dict(
        name=dict(type="str", required=True),
        public_key=dict(type="str", no_log=False),
        state=STATE,
    ), required_if=[("state", "present", ["public_key"])])
    run_module(module, lambda api: ensure_ssh_key(api, module.params, module.check_mode))


if __name__ == "__main__":
    main()
