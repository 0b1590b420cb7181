#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mesh_routes
short_description: Keep the mesh's routes over private networks (cross granularity) on a host
version_added: 0.1.0
description:
  - Makes the host's routes tagged with route protocol O(protocol) exactly the O(routes) given; routes of other
    protocols are never touched.
  - With C(cross) granularity, nodes of one location that share a private network reach each other's mesh IPs
    over that network instead of WireGuard; M(wiremesh.multicloud.mesh_plan) lists those routes per node.
  - Routes are added with C(ip route replace) and the host's mesh IP as preferred source (O(src)), so that
    services bound to mesh addresses see mesh addresses.
author:
  - Wiremesh Maintainers (@wiremesh)
options:
  routes:
    description: The wanted routes, each with C(to) (a network) and C(via) (a gateway on a private network).
    type: list
    elements: dict
    default: []
  src:
    description: Preferred source address of the routes (the host's mesh IP). Must already be on an interface.
    type: str
  protocol:
    description: Route protocol number that marks the routes this module owns.
    type: int
    default: 199
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The routes are not persistent across a reboot until the next run; the WireGuard tunnels are.
requirements:
  - iproute2
seealso:
  - module: wiremesh.multicloud.mesh_plan
"""

EXAMPLES = r"""
- name: Route privately linked nodes' mesh IPs over the VPC
  wiremesh.multicloud.mesh_routes:
    routes: "{{ plan.plan.nodes[inventory_hostname].routes }}"
    src: "{{ plan.plan.nodes[inventory_hostname].mesh_ip }}"
"""

RETURN = r"""
added:
  description: Routes added (or that would be, in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"to": "10.4.0.3/32", "via": "10.110.0.12"}]
removed:
  description: Stale routes of this protocol removed.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils import routes as mesh_routes


def main():
    module = AnsibleModule(
        argument_spec=dict(routes=dict(type="list", elements="dict", default=[]), src=dict(type="str"),
                           protocol=dict(type="int", default=199)),
        supports_check_mode=True)
    try:
        desired = {mesh_routes.normalize(r) for r in module.params["routes"]}
    except (KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg="routes: each needs 'to' (a network) and 'via' (an address): %s" % exc)
    protocol = module.params["protocol"]
    try:
        current = mesh_routes.read(module.run_command, protocol)
    except (RuntimeError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    add, delete = mesh_routes.changes(current, desired)
    if not module.check_mode:
        for cmd in mesh_routes.commands(add, delete, protocol, module.params["src"]):
            rc, out, err = module.run_command(cmd)
            if rc != 0:
                module.fail_json(msg="%s failed: %s" % (" ".join(cmd), err.strip()))
    module.exit_json(changed=bool(add or delete), added=[{"to": t, "via": v} for t, v in add],
                     removed=[{"to": t, "via": v} for t, v in delete])


if __name__ == "__main__":
    main()
