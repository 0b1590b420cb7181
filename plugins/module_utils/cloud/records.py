# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider records -> hosts. An AWS instance (boto3's describe_instances shape) or a DigitalOcean droplet (API v2
shape) becomes one plain host record; ``host_vars`` and ``host_groups`` turn a record into what the inventory
sets. Pure: the callers fetch."""

from __future__ import annotations

import ipaddress
import re

from . import tags
from .spec import location_of

LIVE_AWS_STATES = ("pending", "running")
LIVE_DO_STATES = ("new", "active")


def group_name(text):
    """An Ansible-safe group name: ``aws-eu-central-1`` -> ``aws_eu_central_1``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _with_prefix(ip, prefix):
    if not ip:
        return None
    return "%s/%s" % (ip, prefix) if prefix is not None else ip


def from_aws(instance, region, subnet_cidrs):
    """One boto3 instance dict -> host record (``None`` for instances that are going away)."""
    state = (instance.get("State") or {}).get("Name")
    if state not in LIVE_AWS_STATES:
        return None
    tagmap = tags.parse_aws_tags(instance.get("Tags"))
    cidr = subnet_cidrs.get(instance.get("SubnetId"))
    prefix = ipaddress.ip_network(cidr).prefixlen if cidr else None
    return {"name": tagmap.get("Name") or instance["InstanceId"], "provider": "aws", "region": region,
            "location": tagmap.get(tags.LOCATION) or location_of("aws", region),
            "role": tagmap.get(tags.ROLE), "gpu": tagmap.get(tags.GPU) == "true",
            "public_ipv4": instance.get("PublicIpAddress"),
            "private_ipv4": _with_prefix(instance.get("PrivateIpAddress"), prefix),
            "id": instance["InstanceId"], "size": instance.get("InstanceType"), "image": instance.get("ImageId"),
            "state": state}


def _do_address(droplet, kind):
    for net in (droplet.get("networks") or {}).get("v4") or ():
        if net.get("type") == kind and net.get("ip_address"):
            mask = net.get("netmask")
            prefix = ipaddress.ip_network("0.0.0.0/%s" % mask).prefixlen if mask else None
            return net["ip_address"], prefix
    return None, None


def from_digitalocean(droplet):
    """One droplet dict -> host record (``None`` for droplets that are going away)."""
    if droplet.get("status") not in LIVE_DO_STATES:
        return None
    tagmap = tags.parse_do_tags(droplet.get("tags"))
    region = (droplet.get("region") or {}).get("slug")
    public, _prefix = _do_address(droplet, "public")
    private, prefix = _do_address(droplet, "private")
    return {"name": droplet["name"], "provider": "digitalocean", "region": region,
            "location": tagmap.get(tags.LOCATION) or location_of("digitalocean", region),
            "role": tagmap.get(tags.ROLE), "gpu": tagmap.get(tags.GPU) == "true",
            "public_ipv4": public, "private_ipv4": _with_prefix(private, prefix),
            "id": str(droplet["id"]), "size": droplet.get("size_slug"),
            "image": (droplet.get("image") or {}).get("slug") or (droplet.get("image") or {}).get("id"),
            "state": droplet.get("status")}


def host_vars(record):
    """Variables the inventory sets on a host (the planner reads the wiremesh_* ones)."""
    values = {"ansible_host": record["public_ipv4"] or (record["private_ipv4"] or "").split("/")[0] or None,
              "wiremesh_provider": record["provider"], "wiremesh_region": record["region"],
              "wiremesh_location": record["location"], "wiremesh_gpu": record["gpu"],
              "wiremesh_role": record["role"],
              "wiremesh_private_ips": [record["private_ipv4"]] if record["private_ipv4"] else [],
              "cloud_id": record["id"], "cloud_size": record["size"], "cloud_image": record["image"],
              "cloud_state": record["state"]}
    if record["public_ipv4"]:
        values["wiremesh_endpoint"] = record["public_ipv4"]
    return values


def host_groups(record, mesh_group):
    """Groups a host joins: the mesh group, its provider, its location and ``gpu`` when it has one."""
    groups = [mesh_group, group_name(record["provider"]), group_name(record["location"])]
    if record["gpu"]:
        groups.append("gpu")
    return groups


def duplicate_names(records):
    """Host names used by more than one record, with where each comes from (a clear inventory error)."""
    seen, dups = {}, {}
    for rec in records:
        where = "%s %s (%s)" % (rec["provider"], rec["id"], rec["region"])
        if rec["name"] in seen:
            dups.setdefault(rec["name"], [seen[rec["name"]]]).append(where)
        else:
            seen[rec["name"]] = where
    return dups
