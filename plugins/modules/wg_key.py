#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wg_key
short_description: Create a WireGuard key pair on the managed host and return its public key
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Generates the host's WireGuard private key with C(wg genkey) B(on the host) when it does not exist yet,
    and returns the matching public key (computed with C(wg pubkey)).
  - The private key never leaves the host and never appears in the module's result, warnings or errors.
  - The key is written to a temporary file created with mode C(0600) in the same directory and renamed into
    place, so the file is never partially written nor readable by others. A missing directory is created with
    mode C(0700).
  - An existing key file with a looser mode is fixed to C(0600). An existing file that does not hold a valid
    WireGuard key is never overwritten unless O(force=true).
options:
  path:
    description:
      - Path of the private key file on the managed host.
    type: path
    default: /etc/wireguard/wg0.key
  state:
    description:
      - V(present) creates the key if it is missing; V(absent) removes the key file.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Generate a new key even if a valid one exists (key rotation), or replace a file that is not a valid key.
      - With O(force=true) the module reports a change on every run.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written; RV(public_key) is V(null) when a key would be (re)generated.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Run this module with root privileges (C(become)) for the default path.
  - To rotate a key, run it with O(force=true), then distribute the new public key to all peers and apply
    the interface configuration again (for example with M(wiremesh.multicloud.wg_interface)).
requirements:
  - wireguard-tools (the C(wg) command) on the managed host
seealso:
  - module: wiremesh.multicloud.wg_interface
  - name: wg(8)
    description: The WireGuard configuration utility.
    link: https://man7.org/linux/man-pages/man8/wg.8.html
"""

EXAMPLES = r"""
- name: Make sure the host has a WireGuard key pair
  wiremesh.multicloud.wg_key:
    path: /etc/wireguard/wg0.key
  register: wg_key

- name: Publish the public key to the planner
  ansible.builtin.set_fact:
    wg_public_key: "{{ wg_key.public_key }}"

- name: Rotate the key
  wiremesh.multicloud.wg_key:
    path: /etc/wireguard/wg0.key
    force: true

- name: Remove the key
  wiremesh.multicloud.wg_key:
    path: /etc/wireguard/wg0.key
    state: absent
"""

RETURN = r"""
public_key:
  description:
    - The public key of the host's key pair (base64). V(null) with O(state=absent), and in check mode when a
      key would be generated.
  returned: always
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
path:
  description: The path of the private key file.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.key
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["generate private key /etc/wireguard/wg0.key"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import keyfile
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/wireguard/wg0.key"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    module.get_bin_path("wg", required=module.params["state"] == "present")
    try:
        if module.params["state"] == "present":
            result = keyfile.ensure(module.run_command, path, force=module.params["force"],
                                    check_mode=module.check_mode, on_secret=module.no_log_values.add)
        else:
            result = keyfile.absent(path, check_mode=module.check_mode)
    except WireGuardError as exc:
        module.fail_json(msg=str(exc), path=path)
    module.exit_json(path=path, **result)


if __name__ == "__main__":
    main()
