# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mesh_psk
short_description: The preshared keys one mesh node must configure, from the mesh state file
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Reads the controller-side state file that M(wiremesh.multicloud.mesh_plan) keeps and returns, for each node
    named, a mapping of peer public key to preshared key covering only that node's direct peers.
  - Pass the result to the C(preshared_keys) option of M(wiremesh.multicloud.wg_interface), which is C(no_log);
    never print it.
options:
  _terms:
    description: Names of mesh nodes.
    required: true
    type: list
    elements: str
  state_path:
    description:
      - Path of the mesh state file on the controller.
      - Exactly one of O(state_path) and O(state_s3) is required.
    type: path
extends_documentation_fragment:
  - wiremesh.multicloud.state_s3
notes:
  - A node absent from the state file gets an empty mapping.
seealso:
  - module: wiremesh.multicloud.mesh_plan
  - module: wiremesh.multicloud.wg_interface
"""

EXAMPLES = r"""
- name: Apply the interface with this host's preshared keys
  wiremesh.multicloud.wg_interface:
    name: wg0
    config: "{{ plan.plan.nodes[inventory_hostname] }}"
    preshared_keys: "{{ query('wiremesh.multicloud.mesh_psk', inventory_hostname, state_path=state_file) | first }}"
"""

RETURN = r"""
_raw:
  description: One mapping per term, of peer public key to preshared key.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import state as mesh_state
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import StateError, Vault
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_store import open_store


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        path, s3 = self.get_option("state_path"), self.get_option("state_s3")
        if not path and not s3:
            raise AnsibleError("mesh_psk: give state_path or state_s3 (where the mesh state is)")
        try:
            state = open_store(path, s3, Vault.of(self._loader)).load()
        except StateError as exc:
            raise AnsibleError(str(exc))
        return [mesh_state.psks_for(state, str(term)) for term in terms]
