# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the user declares: a mesh name and a list of host groups. Validated here, before any API is called,
and expanded into one record per host with its name, location and tags.

A group: ``{name, provider: aws|digitalocean, region, size, image, count: 1, gpu: false}``.
Hosts are named ``<group>-<n>`` (n from 1); the location of a host is ``<provider>-<region>``.
"""

from __future__ import annotations

import ipaddress
import re

from ..mesh.errors import MeshError, Problem
from . import tags

PROVIDERS = ("aws", "digitalocean")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
MESH_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
REGION_RE = {"aws": re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"), "digitalocean": re.compile(r"^[a-z]{3}[0-9]$")}
REGION_EXAMPLE = {"aws": "eu-central-1", "digitalocean": "fra1"}
FIELDS = ("name", "provider", "region", "size", "image", "count", "gpu")
MAX_COUNT = 50
SSH_KEY_RE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com)$")


class CloudSpecError(MeshError):
    """The declared cloud groups are invalid; ``problems`` names each group and field."""


def location_of(provider, region):
    return "%s-%s" % (provider, region)


def _text(problems, subject, group, key, required=True):
    value = group.get(key)
    if value is None:
        if required:
            problems.append(Problem(subject, key, "is required"))
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(subject, key, "must be a non-empty string, got %r" % (value,)))
        return None
    if len(value) > 255 or any(ord(c) < 32 for c in value):
        problems.append(Problem(subject, key, "must be printable and at most 255 characters"))
        return None
    return value


def _count(problems, subject, value):
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        problems.append(Problem(subject, "count", "must be a whole number from 0 to %d, got %r" % (MAX_COUNT, value)))
        return 0
    return value


def _gpu(problems, subject, value):
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(Problem(subject, "gpu", "must be true or false (a YAML boolean), got %r" % (value,)))
        return False
    return value


def _group(problems, index, group):
    if not isinstance(group, dict):
        problems.append(Problem("group #%d" % (index + 1), "", "must be a mapping, got %r" % (group,)))
        return None
    name = group.get("name")
    subject = "group %s" % name if isinstance(name, str) and name else "group #%d" % (index + 1)
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(Problem(subject, "name", "%r must be lower-case letters, digits and '-' (at most 40), "
                                "starting and ending with a letter or digit" % (name,)))
    unknown = sorted(str(k) for k in group if k not in FIELDS)
    if unknown:
        problems.append(Problem(subject, ", ".join(unknown), "unknown field (known: %s)" % ", ".join(FIELDS)))
    provider = group.get("provider")
    if provider not in PROVIDERS:
        problems.append(Problem(subject, "provider", "%r is not one of %s" % (provider, ", ".join(PROVIDERS))))
    region = _text(problems, subject, group, "region")
    if region is not None and provider in PROVIDERS and not REGION_RE[provider].match(region):
        problems.append(Problem(subject, "region", "%r is not a %s region name (like %s)"
                                % (region, provider, REGION_EXAMPLE[provider])))
    return {"name": name, "provider": provider, "region": region,
            "size": _text(problems, subject, group, "size"), "image": _text(problems, subject, group, "image"),
            "count": _count(problems, subject, group.get("count")), "gpu": _gpu(problems, subject, group.get("gpu"))}


def _networks(problems, networks, mesh_cidr):
    """Provider networks (one per region) must be valid and must not overlap the mesh CIDR."""
    checked = {}
    try:
        mesh = ipaddress.ip_network(mesh_cidr, strict=True) if mesh_cidr else None
    except (TypeError, ValueError) as exc:
        problems.append(Problem("mesh", "cidr", "%r is not a network: %s" % (mesh_cidr, exc)))
        mesh = None
    for key, value in sorted((networks or {}).items()):
        try:
            net = ipaddress.ip_network(value, strict=True)
        except (TypeError, ValueError) as exc:
            problems.append(Problem("networks", key, "%r is not a network: %s" % (value, exc)))
            continue
        if mesh is not None and net.version == mesh.version and net.overlaps(mesh):
            problems.append(Problem("networks", key, "%s overlaps the mesh CIDR %s" % (net, mesh)))
        checked[key] = str(net)
    subnet, vpc = checked.get("aws_subnet_cidr"), checked.get("aws_vpc_cidr")
    if subnet and vpc and not ipaddress.ip_network(subnet).subnet_of(ipaddress.ip_network(vpc)):
        problems.append(Problem("networks", "aws_subnet_cidr", "%s is not inside aws_vpc_cidr %s" % (subnet, vpc)))
    return checked


def _access(problems, admin_cidrs, ssh_public_key):
    """SSH must be open to named networks only, and the key must look like an OpenSSH public key."""
    if admin_cidrs is not None:
        if not isinstance(admin_cidrs, list) or not admin_cidrs:
            problems.append(Problem("access", "admin_cidrs", "list the networks you run Ansible from (SSH is "
                                    "allowed from them only), for example [203.0.113.7/32]"))
        else:
            for value in admin_cidrs:
                try:
                    ipaddress.ip_network(value, strict=True)
                except (TypeError, ValueError) as exc:
                    problems.append(Problem("access", "admin_cidrs", "%r is not a network: %s" % (value, exc)))
    if ssh_public_key is not None:
        parts = ssh_public_key.split() if isinstance(ssh_public_key, str) else []
        if len(parts) < 2 or not SSH_KEY_RE.match(parts[0]) or "PRIVATE KEY" in ssh_public_key:
            problems.append(Problem("access", "ssh_public_key", "must be an OpenSSH public key line "
                                    "(ssh-ed25519/ssh-rsa/ecdsa-sha2-* AAAA...), not a path or a private key"))


def expand(mesh, groups, mesh_cidr=None, networks=None, admin_cidrs=None, ssh_public_key=None):
    """Validate the declaration and return ``{"mesh", "hosts": [...], "regions": {provider: [regions]},
    "networks": {...}}``. Raises CloudSpecError listing every problem. ``admin_cidrs`` and ``ssh_public_key``
    are checked when given (provisioning needs them, teardown does not)."""
    problems = []
    _access(problems, admin_cidrs, ssh_public_key)
    if not isinstance(mesh, str) or not MESH_RE.match(mesh):
        problems.append(Problem("mesh", "name", "%r must be lower-case letters, digits and '-' (at most 32)"
                                % (mesh,)))
    if not isinstance(groups, list) or not groups:
        problems.append(Problem("groups", "", "declare at least one host group (a non-empty list)"))
        groups = []
    parsed = [_group(problems, i, g) for i, g in enumerate(groups)]
    checked = _networks(problems, networks, mesh_cidr)
    hosts, seen = [], set()
    for group in parsed:
        if group is None:
            continue
        if group["name"] in seen:
            problems.append(Problem("group %s" % group["name"], "name", "is declared twice"))
            continue
        seen.add(group["name"])
        location = location_of(group["provider"], group["region"])
        # <group>-<n>: unique group names give unique host names (the part after the last '-' is n)
        for n in range(1, group["count"] + 1):
            name = "%s-%d" % (group["name"], n)
            hosts.append({"name": name, "group": group["name"], "provider": group["provider"],
                          "region": group["region"], "location": location, "size": group["size"],
                          "image": group["image"], "gpu": group["gpu"],
                          "aws_tags": tags.aws_tags(mesh, location, group["name"], group["gpu"], name),
                          "do_tags": tags.do_tags(mesh, location, group["name"], group["gpu"])})
    if problems:
        raise CloudSpecError(problems)
    regions = {p: sorted({h["region"] for h in hosts if h["provider"] == p}) for p in PROVIDERS}
    if len(regions["digitalocean"]) > 1:
        problems.append(Problem("groups", "region", "DigitalOcean hosts in %s: one VPC range (do_vpc_ip_range) "
                                "serves one region, and VPC ranges may not overlap within an account; use one "
                                "DigitalOcean region" % " and ".join(regions["digitalocean"])))
        raise CloudSpecError(problems)
    return {"mesh": mesh, "hosts": hosts, "regions": regions, "networks": checked}
