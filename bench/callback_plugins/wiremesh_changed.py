# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bench-only callback: every task result that reports a change is appended to the JSON-lines file named by
$WIREMESH_CHANGED_LOG as {"host", "task", "actions"} (the wiremesh modules' list of what they did; never a
secret: they return none). bench/mesh_step.py enables it for the no-op rerun, so that a rerun that changed
something says what, without -v output slowing the timed run."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: wiremesh_changed
    type: aggregate
    short_description: write what changed to a JSON-lines file (bench only)
    description:
      - Appends one line per changed task result to the file named by E(WIREMESH_CHANGED_LOG).
    requirements:
      - enabled with E(ANSIBLE_CALLBACKS_ENABLED)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "wiremesh_changed"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result):
        path = os.environ.get("WIREMESH_CHANGED_LOG")
        data = result._result  # pylint: disable=protected-access
        if not path or not data.get("changed"):
            return
        line = {"host": result._host.get_name(),  # pylint: disable=protected-access
                "task": result.task_name, "actions": data.get("actions")}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
