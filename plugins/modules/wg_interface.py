#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wg_interface
short_description: Apply a WireGuard interface configuration on the managed host without dropping traffic
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Renders the host's wg-quick configuration from a node config (as produced by the wiremesh planner),
    inserts the private key read B(on the host) from O(private_key_path), and writes O(config_path) with
    mode C(0600) atomically, only when its content differs.
  - When the interface does not exist, brings it up with O(up_command) and verifies the result.
  - When it exists, compares the live state with the desired one (private key, listen port, peers with their
    allowed IPs, endpoints, persistent keepalive and preshared keys, addresses, MTU, link state and the routes
    for every allowed IP range) and applies only the differences.
  - WireGuard changes are applied with C(wg syncconf) fed on stdin, which updates existing peers in place.
    The module never uses C(wg setconf), never takes the interface down and never removes and re-adds an
    existing peer, so established sessions and endpoints learnt from peers behind NAT survive.
  - A peer that comes back under a new public key (a rotated key, same name, no endpoint of its own) starts at
    the endpoint its old entry learned, so a peer behind NAT stays reachable; the old entry is removed in the
    same C(wg syncconf).
  - Private and preshared keys never appear in the result, the diff, warnings or errors.
options:
  name:
    description: Name of the WireGuard interface.
    type: str
    default: wg0
  state:
    description:
      - V(present) makes the interface match O(config).
      - V(absent) brings it down with O(down_command) and removes O(config_path).
    type: str
    choices: [present, absent]
    default: present
  config:
    description:
      - The node config dict; required with O(state=present).
      - C(interface) holds C(address) (list of CIDRs), C(listen_port) and optionally C(mtu), C(fwmark) and
        C(table); C(peers) is a list of dicts with C(name), C(public_key), C(endpoint) (V(null) for a peer
        that roams or sits behind NAT; its live endpoint is then left alone), C(allowed_ips) and
        C(persistent_keepalive).
      - An optional C(failover) table (the plan's, when the host runs the failover agent) names the peers
        whose AllowedIPs the agent moves between them when a location leader or relay dies; for those peers only
        the ranges they hold together are compared, not which of them holds which, so a run does not undo a
        failover. Without an agent running, leave C(failover) out.
    type: dict
  private_key_path:
    description:
      - Path of the private key on the managed host (see M(wiremesh.multicloud.wg_key)).
      - Defaults to C(/etc/wireguard/<name>.key).
    type: path
  next_private_key_path:
    description:
      - A staged private key (key rotation), made with
        M(wiremesh.multicloud.wg_key) and O(wiremesh.multicloud.wg_key#module:force=true).
      - When this file exists, its key is the one applied (with the rest of the changes, in the same
        C(wg syncconf)); the file is then moved over O(private_key_path). When it does not exist, it is ignored.
    type: path
  apply_at:
    description:
      - Wall-clock instant (seconds since the epoch, UTC) at which to apply the live changes. The module
        computes everything first, then waits for it, so several hosts run with the same value (for example as
        C(async) tasks) switch keys together. An instant in the past applies at once.
      - Hosts must have synchronised clocks (NTP); the skew between them is the window in which a rotated
        pair may drop packets.
    type: float
  preshared_keys:
    description:
      - Preshared keys by peer public key. This option is C(no_log); preshared keys inside O(config) are refused.
      - Removing a peer's entry removes its preshared key from the live interface.
    type: dict
  config_path:
    description:
      - Path of the wg-quick config file. Defaults to C(/etc/wireguard/<name>.conf).
      - With the default O(up_command) and O(down_command) its file name must be C(<name>.conf).
    type: path
  mtu:
    description:
      - MTU of the interface (576 to 65535); overrides C(config.interface.mtu). When neither is set, the live
        MTU is left as it is (wg-quick picks one at C(up)).
    type: int
  up_command:
    description:
      - The command that brings the interface up from O(config_path) when it does not exist, for example
        V([systemctl, start, wg-quick@wg0]).
      - The default is C(wg-quick up) run through C(setsid -w), so that wireguard-go (which daemonizes) does
        not die with the SSH session.
    type: list
    elements: str
  down_command:
    description:
      - The command that brings the interface down with O(state=absent), for example
        V([systemctl, stop, wg-quick@wg0]).
      - The default is C(wg-quick down), or C(ip link delete) when O(config_path) is already gone.
    type: list
    elements: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Everything is computed and RV(actions) lists what would be done; nothing is changed.
  diff_mode:
    support: full
    details: The diff shows the config file with the C(PrivateKey) and C(PresharedKey) values redacted.
  platform:
    platforms: posix
notes:
  - Needs root privileges (C(become)).
  - Routes are managed in the main table for every allowed IP range except C(/0) ones (wg-quick routes those
    with policy routing at C(up)). With C(config.interface.table) set to V(off) or to a table of its own,
    routes are left alone.
  - Removing a preshared key or turning persistent keepalive off is done with C(wg set), as C(wg syncconf)
    cannot clear them.
  - An existing interface is never restarted; peers, addresses, MTU and routes are changed live.
requirements:
  - wireguard-tools (C(wg), C(wg-quick)) and iproute2 on the managed host
  - wireguard-go where the kernel has no WireGuard module
seealso:
  - module: wiremesh.multicloud.wg_key
  - name: wg(8)
    description: The WireGuard configuration utility (C(syncconf) versus C(setconf)).
    link: https://man7.org/linux/man-pages/man8/wg.8.html
  - name: wg-quick(8)
    description: Set up a WireGuard interface simply.
    link: https://man7.org/linux/man-pages/man8/wg-quick.8.html
"""

EXAMPLES = r"""
- name: Apply this host's part of the mesh
  wiremesh.multicloud.wg_interface:
    name: wg0
    config: "{{ mesh_plan.nodes[inventory_hostname] }}"
  register: wg

- name: Use the service manager to bring the interface up
  wiremesh.multicloud.wg_interface:
    config: "{{ mesh_plan.nodes[inventory_hostname] }}"
    up_command: [systemctl, start, wg-quick@wg0]
    down_command: [systemctl, stop, wg-quick@wg0]

- name: With preshared keys and a fixed MTU
  wiremesh.multicloud.wg_interface:
    config: "{{ mesh_plan.nodes[inventory_hostname] }}"
    preshared_keys: "{{ mesh_psks[inventory_hostname] }}"
    mtu: 1380

- name: Switch to a staged key (key rotation) at an agreed instant, with the peers' new keys in config
  wiremesh.multicloud.wg_interface:
    config: "{{ mesh_plan.nodes[inventory_hostname] }}"
    next_private_key_path: /etc/wireguard/wg0.key.next
    apply_at: "{{ rotate_at }}"
  async: 120
  poll: 0

- name: Remove the interface and its config file
  wiremesh.multicloud.wg_interface:
    name: wg0
    state: absent
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
  description: The host's public key (V(null) with O(state=absent), or in check mode before the key exists).
  returned: always
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
peers:
  description: The configured peers (no secrets).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "aws1", "public_key": "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
            "allowed_ips": ["10.4.0.1/32"]}]
timing:
  description:
    - With O(apply_at), C(at) is that instant, C(late_s) how late the module was for it (0 when it waited),
      and C(applied_after_s) when the live change was done, in seconds after the instant (these two are
      missing when nothing had to change).
  returned: when O(apply_at) is set
  type: dict
  sample: {"at": 1795430000.5, "late_s": 0.0, "applied_after_s": 0.004}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["write /etc/wireguard/wg0.conf", "add peer aws1", "add route 10.4.0.1/32"]
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import interface
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

NAME_PATTERN = r"^[a-zA-Z0-9_=+.-]{1,15}$"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="wg0"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            config=dict(type="dict"),
            private_key_path=dict(type="path"),
            preshared_keys=dict(type="dict", no_log=True),
            next_private_key_path=dict(type="path"),
            apply_at=dict(type="float"),
            config_path=dict(type="path"),
            mtu=dict(type="int"),
            up_command=dict(type="list", elements="str"),
            down_command=dict(type="list", elements="str"),
        ),
        required_if=[("state", "present", ["config"])],
        supports_check_mode=True,
    )
    params = dict(module.params)
    name = params["name"]
    if not re.match(NAME_PATTERN, name):
        module.fail_json(msg="name must be 1-15 characters of A-Z a-z 0-9 _ = + . -, got %r" % name)
    params["private_key_path"] = params["private_key_path"] or "/etc/wireguard/%s.key" % name
    params["config_path"] = params["config_path"] or "/etc/wireguard/%s.conf" % name
    params["setsid"] = module.get_bin_path("setsid")
    if params["mtu"] is not None and not 576 <= params["mtu"] <= 65535:
        module.fail_json(msg="mtu must be between 576 and 65535")
    for index, peer in enumerate((params["config"] or {}).get("peers") or []):
        if isinstance(peer, dict) and peer.get("preshared_key"):
            module.no_log_values.add(str(peer["preshared_key"]))
            module.fail_json(msg="config.peers[%s] has a preshared_key: pass preshared keys with the preshared_keys "
                                 "option (no_log), never inside config" % (peer.get("name") or index))
    module.get_bin_path("wg", required=params["state"] == "present")
    module.get_bin_path("ip", required=True)
    try:
        if params["state"] == "present":
            result = interface.present(module.run_command, params, check_mode=module.check_mode,
                                       on_secret=module.no_log_values.add)
        else:
            result = interface.absent(module.run_command, params, check_mode=module.check_mode)
    except WireGuardError as exc:
        module.fail_json(msg=str(exc), interface=name)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
