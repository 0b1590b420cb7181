# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the mesh state's S3 backend (``state_s3`` of mesh_plan, mesh_graph and the mesh_psk lookup; the
wireguard role's ``wireguard_state_s3``). Plain data: the modules' documentation and argument specs share it."""

from __future__ import annotations

S3_SPEC = dict(
    bucket=dict(type="str", required=True),
    key=dict(type="str", required=True, no_log=False),     # an object key, not a secret
    region=dict(type="str"),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url"]),
    profile=dict(type="str", aliases=["aws_profile"]),
    access_key=dict(type="str", no_log=True, aliases=["aws_access_key_id", "aws_access_key"]),
    secret_key=dict(type="str", no_log=True, aliases=["aws_secret_access_key", "aws_secret_key"]),
    session_token=dict(type="str", no_log=True, aliases=["aws_session_token"]),
    sse_kms_key_id=dict(type="str"),
    lock_timeout=dict(type="int", default=300),
    lock_lease=dict(type="int", default=600),
    break_lock=dict(type="bool", default=False),
)
