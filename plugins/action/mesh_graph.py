# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of wiremesh.multicloud.mesh_graph: the plan (from the state file or given) -> DOT file, and
SVG through Graphviz's ``dot`` when it is installed. Nothing runs on a managed host."""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible.plugins.action import ActionBase

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import graph
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_graph_args import ARGUMENT_SPEC, SOURCES
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.files import atomic_write, ensure_dir
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import StateError, Vault
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_store import open_store


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=[SOURCES], required_one_of=[SOURCES])
        plan = params["plan"]
        if plan is None:
            try:
                store = open_store(params["state_path"], params["state_s3"], Vault.of(self._loader))
                plan = store.load().get("plan")      # one read (a missing state loads empty)
                if not plan:
                    # which message is the only reason to look again (the S3 store would fetch the object twice)
                    result.update(failed=True, msg=("the %s holds no plan yet" if store.exists() else
                                                    "no %s: plan the mesh first") % store.what)
                    return result
            except StateError as exc:
                result.update(failed=True, msg=str(exc))
                return result
        try:
            dot_text = graph.to_dot(plan, name=params["name"], flows=params["flows"])
        except (KeyError, TypeError, AttributeError) as exc:
            result.update(failed=True, msg="plan is not a mesh_plan plan (missing %s)" % exc)
            return result
        dest = params["dest"]
        outputs = {dest: dot_text}
        svg_path = None
        binary = shutil.which("dot")
        if params["svg"] == "always" and binary is None:
            result.update(failed=True, msg="svg=always needs Graphviz's dot on the controller (apt: graphviz)")
            return result
        if params["svg"] != "never" and binary is not None:
            proc = subprocess.run([binary, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                result.update(failed=True, msg="dot -Tsvg failed: %s" % proc.stderr.strip())
                return result
            svg_path = os.path.splitext(dest)[0] + ".svg"
            outputs[svg_path] = proc.stdout
        changed = any(_read(path) != text for path, text in outputs.items())
        if changed and not self._task.check_mode:
            try:
                for path, text in outputs.items():
                    ensure_dir(path)
                    atomic_write(path, text, mode=0o644)
            except WireGuardError as exc:
                result.update(failed=True, msg=str(exc))
                return result
        result.update(changed=changed, dot=dest, svg=svg_path)
        return result
