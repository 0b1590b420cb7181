# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of wiremesh.multicloud.mesh_graph, shared by the module and its controller-side action plugin."""

from __future__ import annotations

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_state_args import S3_SPEC

ARGUMENT_SPEC = dict(
    state_path=dict(type="path"),
    state_s3=dict(type="dict", options=S3_SPEC),
    plan=dict(type="dict"),
    dest=dict(type="path", required=True),
    svg=dict(type="str", default="auto", choices=["auto", "always", "never"]),
    name=dict(type="str", default="wiremesh"),
    flows=dict(type="bool", default=False),
)

SOURCES = ("state_path", "state_s3", "plan")
