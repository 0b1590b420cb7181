#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wg_node
short_description: Converge a host to its part of the WireGuard mesh in one module run
version_added: 0.2.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Does in one run what a host needs to carry its part of the mesh. Each step reads before it writes, so a
    converged host costs a single round trip and nothing changes.
  - Steps, in order. First O(files) (units, helper scripts, the failover table), and a systemd daemon-reload when a
    unit file changed.
  - Next the kernel parameters O(sysctls), set live and kept in O(sysctl_file).
  - Next the interface, exactly as M(wiremesh.multicloud.wg_interface) does it. The config file is written and
    the live interface is changed with C(wg syncconf), without a restart. When the interface is down,
    O(up_command) brings it up.
  - Next the mesh's routes over private networks (C(config.routes)), as M(wiremesh.multicloud.mesh_routes) keeps
    them.
  - Next the O(units), which are enabled and started (restarted when a file defining them changed). With the lab
    supervisor, it is reloaded instead.
  - Last the WireGuard port, opened in firewalld or ufw when one of them runs.
  - Private and preshared keys never appear in the result, the diff, warnings or errors.
options:
  name:
    description: Name of the WireGuard interface.
    type: str
    default: wg0
  config:
    description:
      - The node config from the plan (M(wiremesh.multicloud.mesh_plan)'s C(plan.nodes[host])). For the interface
        part, see the O(wiremesh.multicloud.wg_interface#module:config) option of M(wiremesh.multicloud.wg_interface).
      - C(routes) and C(mesh_ip) give the routes over private networks and their source address.
    type: dict
    required: true
  private_key_path:
    description: Path of the private key on the host. Defaults to C(/etc/wireguard/<name>.key).
    type: path
  config_path:
    description: Path of the wg-quick config file. Defaults to C(/etc/wireguard/<name>.conf).
    type: path
  preshared_keys:
    description: Preshared keys by peer public key (C(no_log)).
    type: dict
  mtu:
    description: MTU of the interface (576 to 65535); left as it is when unset.
    type: int
  up_command:
    description: The command that brings the interface up when it does not exist (default C(wg-quick up)).
    type: list
    elements: str
  files:
    description:
      - Files to keep, each a dict with C(path), C(content) (text) and C(mode) (octal string, default V("0644")).
      - Written atomically, and only when the content or the mode differs. A missing parent directory is created
        with mode C(0755). They belong to the user the module runs as (root). Never pass a secret here.
    type: list
    elements: dict
    default: []
  sysctls:
    description:
      - Kernel parameters to set, as a mapping of name to value. V(null) leaves kernel parameters alone.
      - A parameter taken out of the mapping leaves O(sysctl_file), but its live value stays as it is.
    type: dict
  sysctl_file:
    description: The sysctl.d file that keeps O(sysctls) across reboots (owned by this module).
    type: path
    default: /etc/sysctl.d/60-wiremesh.conf
  manage_routes:
    description: Keep the routes of C(config.routes), and remove the stale ones tagged with O(route_protocol).
    type: bool
    default: true
  route_protocol:
    description: Route protocol number that marks the mesh's routes.
    type: int
    default: 199
  service_manager:
    description:
      - V(systemd), V(lab) (the wiremesh lab supervisor), or V(none). With V(none), O(units) are not touched.
    type: str
    choices: [systemd, lab, none]
    default: none
  units:
    description:
      - Units to keep. Each is a dict with C(name), C(enabled) (start it at boot), C(started) (keep it running)
        and C(files) (the paths among O(files) that define it).
      - When one of its files changed in this run, systemd is reloaded and a started unit is restarted. The lab
        supervisor is reloaded once instead, and it starts the units whose file is new.
    type: list
    elements: dict
    default: []
  firewall:
    description: Where to open the WireGuard port (C(config.interface.listen_port)/udp).
    type: str
    choices: [auto, firewalld, ufw, none]
    default: auto
  nftables:
    description:
      - The mesh's access policy, the nftables table M(wiremesh.multicloud.mesh_plan) compiled (its C(plan.acl.table),
        the same for every host).
      - It is written to C(/etc/wireguard/<name>.nft) and loaded before the interface step (so the interface never
        comes up unfiltered), in one C(nft -f) transaction that replaces the whole table; flows the new policy still
        allows live on. A table that is missing or carries another digest is loaded again, and the wg-quick unit's
        drop-in loads the file at boot before the interface comes up.
      - Null (the default) means no policy; a table this module loaded earlier is deleted, with its file.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Everything is read and compared, and RV(actions) lists what would be done. Nothing is changed.
  diff_mode:
    support: full
    details: One diff per changed file. In the WireGuard config, C(PrivateKey) and C(PresharedKey) are redacted.
  platform:
    platforms: posix
notes:
  - Needs root privileges (C(become)).
requirements:
  - wireguard-tools (C(wg), C(wg-quick)) and iproute2 on the managed host
  - nftables (C(nft)) on the managed host when the mesh has an access policy
seealso:
  - module: wiremesh.multicloud.wg_host
  - module: wiremesh.multicloud.wg_interface
  - module: wiremesh.multicloud.mesh_routes
"""

EXAMPLES = r"""
- name: Converge this host to its part of the mesh
  wiremesh.multicloud.wg_node:
    name: wg0
    config: "{{ plan.plan.nodes[inventory_hostname] }}"
    up_command: [systemctl, start, wg-quick@wg0]
    sysctls: "{{ {'net.ipv4.ip_forward': 1} if plan.plan.nodes[inventory_hostname].forward_ipv4 else {} }}"
    service_manager: systemd
    files:
      - path: /etc/systemd/system/wg-quick@wg0.service.d/override.conf
        content: "[Service]\nEnvironment=WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go\n"
    units:
      - {name: wg-quick@wg0, enabled: true, started: false,
         files: [/etc/systemd/system/wg-quick@wg0.service.d/override.conf]}
"""

RETURN = r"""
interface:
  description: Name of the interface.
  returned: always
  type: str
  sample: wg0
config_path:
  description: Path of the config file.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.conf
public_key:
  description: The host's public key (V(null) in check mode before the key exists).
  returned: always
  type: str
peers:
  description: The configured peers (no secrets).
  returned: always
  type: list
  elements: dict
files_changed:
  description: The paths among O(files) that were (or would be) written.
  returned: always
  type: list
  elements: str
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["write /etc/wireguard/wg0.failover.json", "add peer aws1", "wiremesh-lab-ctl reload"]
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import node
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

NAME_PATTERN = r"^[a-zA-Z0-9_=+.-]{1,15}$"


def _check(module, params):
    if not re.match(NAME_PATTERN, params["name"]):
        module.fail_json(msg="name must be 1-15 characters of A-Z a-z 0-9 _ = + . -, got %r" % params["name"])
    if params["mtu"] is not None and not 576 <= params["mtu"] <= 65535:
        module.fail_json(msg="mtu must be between 576 and 65535")
    for index, peer in enumerate(params["config"].get("peers") or []):
        if isinstance(peer, dict) and peer.get("preshared_key"):
            module.no_log_values.add(str(peer["preshared_key"]))
            module.fail_json(msg="config.peers[%s] has a preshared_key: pass preshared keys with the preshared_keys "
                                 "option (no_log), never inside config" % (peer.get("name") or index))
    for index, spec in enumerate(params["files"]):
        if not isinstance(spec.get("path"), str) or not spec["path"].startswith("/") \
                or not isinstance(spec.get("content"), str):
            module.fail_json(msg="files[%d]: needs an absolute 'path' and a text 'content'" % index)
        if not re.match(r"^0?[0-7]{3,4}$", str(spec.get("mode", "0644"))):
            module.fail_json(msg="files[%d] (%s): mode must be an octal string such as '0644'" % (index, spec["path"]))
    for index, unit in enumerate(params["units"]):
        if not isinstance(unit.get("name"), str) or not unit["name"]:
            module.fail_json(msg="units[%d]: needs a 'name'" % index)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="wg0"),
            config=dict(type="dict", required=True),
            private_key_path=dict(type="path"),
            config_path=dict(type="path"),
            preshared_keys=dict(type="dict", no_log=True),
            mtu=dict(type="int"),
            up_command=dict(type="list", elements="str"),
            files=dict(type="list", elements="dict", default=[]),
            sysctls=dict(type="dict"),
            sysctl_file=dict(type="path", default="/etc/sysctl.d/60-wiremesh.conf"),
            manage_routes=dict(type="bool", default=True),
            route_protocol=dict(type="int", default=199),
            service_manager=dict(type="str", choices=["systemd", "lab", "none"], default="none"),
            units=dict(type="list", elements="dict", default=[]),
            firewall=dict(type="str", choices=["auto", "firewalld", "ufw", "none"], default="auto"),
            nftables=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    _check(module, params)
    name = params["name"]
    params["private_key_path"] = params["private_key_path"] or "/etc/wireguard/%s.key" % name
    params["config_path"] = params["config_path"] or "/etc/wireguard/%s.conf" % name
    params["setsid"] = module.get_bin_path("setsid")
    module.get_bin_path("wg", required=True)
    module.get_bin_path("ip", required=True)
    try:
        result = node.converge(module.run_command, module.get_bin_path, params, check_mode=module.check_mode,
                               on_secret=module.no_log_values.add)
    except WireGuardError as exc:
        module.fail_json(msg=str(exc), interface=name)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
