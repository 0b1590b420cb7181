#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mesh_graph
short_description: Draw the WireGuard mesh as a Graphviz graph (DOT, and SVG when Graphviz is installed)
version_added: 0.1.0
description:
  - Writes the mesh that M(wiremesh.multicloud.mesh_plan) planned as a Graphviz DOT file on the controller, and an
    SVG next to it when Graphviz's C(dot) is installed there (Debian package C(graphviz)).
  - One cluster per location with its leader drawn bold, nodes behind NAT dashed, relays marked, external peers as
    separate shapes, one edge per WireGuard peering labelled with the endpoint each side dials and its keepalive,
    dotted edges for pairs that talk through a relay. The same plan always gives the same bytes.
  - Reads only the C(plan) of the state file (no secret is in it); the preshared keys in the same file are never
    read into the graph.
  - Runs on the controller only (an action plugin); it never contacts the managed hosts.
author:
  - Wiremesh Maintainers (@wiremesh)
options:
  state_path:
    description:
      - The state file of M(wiremesh.multicloud.mesh_plan) (its O(wiremesh.multicloud.mesh_plan#module:state_path))
        whose last plan is drawn.
      - Exactly one of O(state_path), O(state_s3) and O(plan) is required.
    type: path
  plan:
    description:
      - A plan as M(wiremesh.multicloud.mesh_plan) returns it (its C(plan) result), instead of a state file.
    type: dict
  dest:
    description: Path of the DOT file to write on the controller. Its directory is created when missing.
    type: path
    required: true
  svg:
    description:
      - V(auto) also writes C(<dest without .dot>.svg) when C(dot) is on the controller's PATH, V(always) fails when
        it is not, V(never) writes only the DOT file.
    type: str
    choices: [auto, always, never]
    default: auto
  name:
    description: Name of the graph (shown in its title).
    type: str
    default: wiremesh
  flows:
    description:
      - Also draw the flows the mesh's access policy (M(wiremesh.multicloud.mesh_plan)'s O(wiremesh.multicloud.mesh_plan#module:acls))
        lets open, as blue arrows from the host or external peer that may open them to the host they reach,
        labelled with protocol and ports. The defaults for everything else are in the title.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.state_s3
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written; C(changed) says whether a file would change.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - The C(wiremesh graph) command of the collection's CLI (C(cli/) in the source tree) prints the same graph.
seealso:
  - module: wiremesh.multicloud.mesh_plan
"""

EXAMPLES = r"""
- name: Draw the lab's mesh
  wiremesh.multicloud.mesh_graph:
    state_path: "{{ inventory_dir }}/.wiremesh/mesh.state.json"
    dest: "{{ playbook_dir }}/../.lab/mesh.dot"
  run_once: true

- name: Draw a plan just made, DOT only
  wiremesh.multicloud.mesh_graph:
    plan: "{{ mesh.plan }}"
    dest: /tmp/mesh.dot
    svg: never
"""

RETURN = r"""
dot:
  description: Path of the DOT file.
  returned: success
  type: str
  sample: /srv/project/.lab/mesh.dot
svg:
  description: Path of the SVG file, or null when none was written (O(svg=never), or O(svg=auto) without C(dot)).
  returned: success
  type: str
  sample: /srv/project/.lab/mesh.svg
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_graph_args import ARGUMENT_SPEC, SOURCES


def main():
    # Reached only when the task is sent to a host without the action plugin: the graph is a controller matter.
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[SOURCES], required_one_of=[SOURCES],
                           supports_check_mode=True)
    module.fail_json(msg="mesh_graph runs on the controller (its action plugin); it cannot run on a managed host")


if __name__ == "__main__":
    main()
