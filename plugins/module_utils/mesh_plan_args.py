# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of wiremesh.multicloud.mesh_plan, shared by the module and its controller-side action plugin."""

from __future__ import annotations

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import acl
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError, Problem, render_problems
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_state_args import S3_SPEC

# inventory variable (without prefix) -> planner node field
NODE_VARS = ("location", "endpoint", "private_ips", "extra_cidrs", "public_key", "keepalive", "leader",
             "mesh_ip", "listen_port")

ARGUMENT_SPEC = dict(
    cidr=dict(type="str", default="10.4.0.0/16"),
    granularity=dict(type="str", default="location", choices=["full", "location", "cross"]),
    hosts=dict(type="list", elements="str"),
    nodes=dict(type="list", elements="dict"),
    peers=dict(type="list", elements="dict", default=[]),
    var_prefix=dict(type="str", default="wiremesh_"),
    keepalive=dict(type="int", default=25),
    port=dict(type="int", default=51820),
    require_keys=dict(type="bool", default=True),
    state_path=dict(type="path"),
    state_s3=dict(type="dict", options=S3_SPEC),
    state_vault=dict(type="bool", default=False),
    partial_inventory=dict(type="bool", default=False),
    forget=dict(type="list", elements="str", default=[]),
    rotate=dict(type="list", elements="str", default=[]),
    preshared_keys=dict(type="bool", default=True),
    standbys=dict(type="int", default=1),
    standby_keepalive=dict(type="int", default=2),
    down=dict(type="list", elements="str", default=[]),
    acls=dict(type="dict"),
    groups=dict(type="dict", default={}),
    interface=dict(type="str", default="wg0"),
)


def run(params, field_prefix="", assigned=None, remembered=()):
    """Plan from validated module params. Returns (plan, result dict, error message or None). ``remembered``
    names the nodes whose public key came from the state file, not from the host (messages say so). The result's
    ``notes`` (things worth knowing that change nothing) are for the caller to emit as warnings."""
    try:
        plan = build_plan(cidr=params["cidr"], granularity=params["granularity"], nodes=params["nodes"] or [],
                          peers=params["peers"] or [], keepalive=params["keepalive"], port=params["port"],
                          require_keys=params["require_keys"], assigned=assigned, standbys=params["standbys"],
                          standby_keepalive=params["standby_keepalive"], down=params["down"])
        policy = acl.parse_policy(params.get("acls"), plan.spec, params.get("groups"))
    except MeshError as err:
        return None, None, "invalid mesh: " + _render(err, field_prefix, remembered)
    data = plan.to_dict()
    notes = list(plan.notes)
    if policy is not None:
        notes += policy.notes
        table = acl.compile_table(policy, plan.spec, plan.mesh_ips, params.get("interface") or "wg0")
        data["acl"] = dict(acl.summary(policy), table=table)
    notes = [_render_one(note, field_prefix) for note in notes]
    return plan, {"changed": False, "plan": data, "mesh_ips": data["mesh_ips"], "notes": notes}, None


def _render(err, field_prefix, remembered=()):
    return render_problems(err.problems, lambda problem: _render_one(problem, field_prefix, remembered))


def _render_one(problem, field_prefix, remembered=()):
    """Name inventory variables (``wiremesh_endpoint``, ``inventory_hostname``) for node fields, option names for
    the rest, and say where a public key remembered in the state file is at fault."""
    node_field = problem.subject not in ("mesh",) and not str(problem.subject).startswith("peer ")
    field = problem.field
    if field == "public_key" and problem.subject in remembered:
        field = "public_key remembered in the state file"
    elif node_field and field_prefix and field == "name":
        field = "inventory_hostname"
    elif node_field and field in NODE_VARS:
        field = field_prefix + field
    return Problem(problem.subject, field, problem.message).render()
