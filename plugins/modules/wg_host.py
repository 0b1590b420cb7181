#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wg_host
short_description: Read a host for the WireGuard mesh in one round trip, and make its key pair when it has none
version_added: 0.2.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Returns what the C(wiremesh.multicloud.wireguard) role needs before it can plan the mesh, read in a single
    module run, so a converged host costs one round trip here and one in M(wiremesh.multicloud.wg_node).
  - The OS, named as Ansible's facts name it (RV(distribution), RV(os_family)), from C(/etc/os-release).
  - Whether the kernel has the WireGuard module (RV(kernel_module)), and which of O(packages) are installed.
  - The service manager (RV(service_manager)). This is C(systemd), or the wiremesh lab supervisor, or none.
  - The failover agent's last state (RV(failover)), which the role uses to tell a dead host from one whose
    SSH alone is down.
  - Like M(wiremesh.multicloud.wg_key), it generates the private key B(on the host) with C(wg genkey) when
    O(private_key_path) does not exist (mode C(0600), written atomically), and returns the public key. The
    private key never appears in the result. When C(wg) is not installed yet, RV(public_key) is V(null) and
    nothing is written; install wireguard-tools, then make the key with M(wiremesh.multicloud.wg_key).
options:
  interface:
    description: Name of the WireGuard interface (names the default key path and the agent's state file).
    type: str
    default: wg0
  private_key_path:
    description: Path of the private key. Defaults to C(/etc/wireguard/<interface>.key).
    type: path
  packages:
    description: Package names whose installation to report in RV(packages) (with dpkg or rpm).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written; RV(public_key) is V(null) when the key would be generated.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs root privileges (C(become)) to read or create the key.
requirements:
  - wireguard-tools (C(wg)) for the key; the rest works without it
seealso:
  - module: wiremesh.multicloud.wg_node
  - module: wiremesh.multicloud.wg_key
"""

EXAMPLES = r"""
- name: Read the host and make its key pair
  wiremesh.multicloud.wg_host:
    interface: wg0
    packages: [wireguard-tools, wireguard-go, iproute2]
  register: host

- name: Install what is missing
  ansible.builtin.apt:
    name: "{{ host.packages | dict2items | rejectattr('value') | map(attribute='key') | list }}"
  when: host.os_family == 'Debian' and not (host.packages.values() | min(default=true))
"""

RETURN = r"""
public_key:
  description: The host's public key; V(null) in check mode before the key exists, or before C(wg) is installed.
  returned: always
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
distribution:
  description: The distribution, named like C(ansible_facts.distribution).
  returned: always
  type: str
  sample: Debian
os_family:
  description: The OS family, named like C(ansible_facts.os_family).
  returned: always
  type: str
  sample: Debian
distribution_version:
  description: C(VERSION_ID) of C(/etc/os-release).
  returned: always
  type: str
  sample: "12"
kernel_module:
  description: Whether the kernel has the WireGuard module (loaded or loadable).
  returned: always
  type: bool
packages:
  description: For each of O(packages), whether it is installed (empty when neither dpkg nor rpm answers).
  returned: always
  type: dict
  sample: {"wireguard-tools": true, "wireguard-go": false}
service_manager:
  description: V(systemd), V(lab) (the wiremesh lab supervisor) or V(none).
  returned: always
  type: str
failover:
  description: The failover agent's state file for O(interface) (V(null) when no agent runs), with C(dead), the
    hosts the agent holds dead.
  returned: always
  type: dict
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import hostinfo, keyfile
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type="str", default="wg0"),
            private_key_path=dict(type="path"),
            packages=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    interface = module.params["interface"]
    if not interface or "/" in interface or len(interface) > 15:
        module.fail_json(msg="interface must be an interface name of 1-15 characters, got %r" % interface)
    path = module.params["private_key_path"] or "/etc/wireguard/%s.key" % interface
    result = hostinfo.read(module.run_command, module.get_bin_path, interface, module.params["packages"])
    key = {"changed": False, "public_key": None, "actions": []}
    if module.get_bin_path("wg") is not None:
        try:
            key = keyfile.ensure(module.run_command, path, check_mode=module.check_mode,
                                 on_secret=module.no_log_values.add)
        except WireGuardError as exc:
            module.fail_json(msg=str(exc), path=path)
    elif os.path.exists(path):
        module.warn("%s exists but wg is not installed: its public key is read once wireguard-tools is" % path)
    module.exit_json(private_key_path=path, **dict(result, **key))


if __name__ == "__main__":
    main()
