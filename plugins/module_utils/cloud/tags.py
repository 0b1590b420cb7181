# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tags every resource of a mesh carries, in both providers' shapes.

AWS tags are key/value pairs; DigitalOcean tags are bare names (letters, digits, ``:-_``), so a DigitalOcean
tag is ``key:value``. Teardown and the inventory find a mesh's resources by these tags alone.
"""

from __future__ import annotations

MESH = "wiremesh-mesh"
LOCATION = "wiremesh-location"
ROLE = "wiremesh-role"
GPU = "wiremesh-gpu"
KEYS = (MESH, LOCATION, ROLE, GPU)


def aws_tags(mesh, location=None, role=None, gpu=None, name=None):
    """Tags of an AWS resource as a dict (``Name`` included when given)."""
    tags = {MESH: mesh}
    if location is not None:
        tags[LOCATION] = location
    if role is not None:
        tags[ROLE] = role
    if gpu is not None:
        tags[GPU] = "true" if gpu else "false"
    if name is not None:
        tags["Name"] = name
    return tags


def do_tags(mesh, location=None, role=None, gpu=None):
    """Tags of a DigitalOcean resource as a list of ``key:value`` names."""
    return ["%s:%s" % item for item in aws_tags(mesh, location, role, gpu).items()]


def do_mesh_tag(mesh):
    """The one DigitalOcean tag that marks every droplet and firewall of a mesh."""
    return "%s:%s" % (MESH, mesh)


def parse_do_tags(names):
    """``["wiremesh-mesh:demo", "web"]`` -> ``{"wiremesh-mesh": "demo"}`` (only our keys)."""
    parsed = {}
    for name in names or ():
        key, sep, value = str(name).partition(":")
        if sep and key in KEYS:
            parsed[key] = value
    return parsed


def parse_aws_tags(tag_list):
    """boto3's ``[{"Key": k, "Value": v}]`` -> dict."""
    return {t.get("Key"): t.get("Value") for t in tag_list or () if isinstance(t, dict)}
