# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of wiremesh.multicloud.mesh_plan: reads the mesh hosts' variables from the inventory and
plans in-process (the planner is pure; nothing runs on a managed host)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_plan_args import (
    ARGUMENT_SPEC, NODE_VARS, run)

_MISSING = object()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        prefix = params["var_prefix"]
        if not params["nodes"]:
            hosts = params["hosts"] or task_vars.get("ansible_play_hosts_all") or []
            params["nodes"] = [self._node_from_hostvars(name, task_vars["hostvars"][name], prefix) for name in hosts]
        planned, error = run(params, field_prefix=prefix)
        if error:
            result.update(failed=True, msg=error)
            return result
        result.update(planned)
        return result

    @staticmethod
    def _node_from_hostvars(name, hostvars, prefix):
        node = {"name": name}
        for field in NODE_VARS:
            value = hostvars.get(prefix + field, _MISSING)
            if value is not _MISSING and value is not None:
                node[field] = value
        return node
