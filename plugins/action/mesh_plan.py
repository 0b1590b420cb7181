# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of wiremesh.multicloud.mesh_plan: reads the mesh hosts' variables from the inventory,
merges what the state file remembers (sticky mesh IPs, public keys of hosts outside this run, preshared
keys), plans in-process (the planner is pure; nothing runs on a managed host) and updates the state file."""

from __future__ import annotations

import base64
import os

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import state as mesh_state
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_plan_args import (
    ARGUMENT_SPEC, NODE_VARS, run)
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import NO_SECRET, StateError, Vault
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_store import open_store

_MISSING = object()


def new_psk():
    return base64.b64encode(os.urandom(32)).decode()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        # state_path and state_s3 exclude each other (open_store says so); a role passes the unused one as null
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        self._vault = Vault.of(self._loader)
        try:
            store = open_store(params["state_path"], params["state_s3"], self._vault, Display().display)
        except StateError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        if params["state_vault"] and store and not self._vault.secrets:
            # before anything is planned or any host is touched (the role's pre-flight check runs this too)
            result.update(failed=True, msg="state_vault: the %s is to be vault-encrypted, but the run has no vault "
                                           "secret: %s" % (store.what, NO_SECRET))
            return result
        try:
            if store is None:
                return self._plan(result, params, task_vars, mesh_state.empty(), None)
            if not params["require_keys"] and params["state_path"]:
                # the pre-flight check never writes: no lock either, so a run it stops leaves no file behind
                return self._plan(result, params, task_vars, store.load(), store)
            # a shared backend's pre-flight check takes and gives back the lock: wrong credentials, a missing
            # bucket or a read-only policy stop the run before any host is touched
            with store.lock():
                return self._plan(result, params, task_vars, store.load(), store)
        except StateError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        finally:
            if store is not None and store.waited >= 0.5:
                result["state_lock_waited"] = round(store.waited, 1)

    def _plan(self, result, params, task_vars, state, store):
        forget = params["forget"]
        unknown = mesh_state.unknown_names(state, forget)
        if unknown:
            result.update(failed=True, msg="forget: %s not in the %s" % (", ".join(unknown), store.what if store else
                                                                         "mesh state (no state_path or state_s3)"))
            return result
        rotated = state
        if store is not None:
            try:
                rotated = mesh_state.rotate(state, params["rotate"])
            except ValueError as exc:
                result.update(failed=True, msg="%s (%s)" % (exc, store.name))
                return result
        remembered = set()     # hosts whose public key comes from the state (messages say so)
        if not params["nodes"]:
            hosts = params["hosts"] or task_vars.get("ansible_play_hosts_all") or []
            keys = mesh_state.known_keys(state)
            params["nodes"] = [self._node(name, task_vars["hostvars"][name], params["var_prefix"]) for name in hosts]
            for node in params["nodes"]:
                if "public_key" not in node and keys.get(node["name"]):
                    # a host outside this run keeps the key the state remembers
                    node["public_key"] = keys[node["name"]]
                    remembered.add(node["name"])
        present = sorted(set(forget) & {n.get("name") for n in params["nodes"] if isinstance(n, dict)})
        if present:
            result.update(failed=True, msg="forget: %s still in the mesh: only a host that left the inventory can "
                                           "be forgotten (forgetting a member would renumber it)" % ", ".join(present))
            return result
        if params["partial_inventory"]:
            # a sliced job (AWX) sees part of the mesh: the rest stays in it as the state remembers it
            kept = mesh_state.absent_members(state, {n.get("name") for n in params["nodes"] if isinstance(n, dict)},
                                             forget)
            params["nodes"] = list(params["nodes"]) + kept
            remembered.update(node["name"] for node in kept)
            result["kept_from_state"] = [node["name"] for node in kept]
        plan, planned, error = run(params, field_prefix=params["var_prefix"],
                                   assigned=mesh_state.assigned(state, forget), remembered=remembered)
        if error:
            result.update(failed=True, msg=error)
            return result
        result.update(planned)
        if planned["notes"]:
            result["warnings"] = result.get("warnings", []) + planned["notes"]
        if store is not None and params["require_keys"]:
            inputs = dict((node["name"], node) for node in params["nodes"] if isinstance(node, dict))
            updated = mesh_state.update(rotated, plan, forget, new_psk if params["preshared_keys"] else None,
                                        plan_data=planned["plan"], inputs=inputs)
            # a clear state that is to be encrypted changes even when its content does not
            changed = updated != state or (params["state_vault"] and not store.is_vaulted())
            if changed and not self._task.check_mode:
                store.save(updated, encrypt=params["state_vault"])
            result.update(changed=changed, state_path=store.name)
        return result

    @staticmethod
    def _node(name, hostvars, prefix):
        """A node from the host's variables."""
        node = {"name": name}
        for field in NODE_VARS:
            value = hostvars.get(prefix + field, _MISSING)
            if value is not _MISSING and value is not None:
                node[field] = value
        return node
