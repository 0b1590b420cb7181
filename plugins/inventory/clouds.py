# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: clouds
short_description: One inventory of a mesh's hosts in AWS and DigitalOcean, plus static external hosts
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Lists the hosts of one mesh from both providers, found by the C(wiremesh-mesh) tag that
    M(wiremesh.multicloud.do_droplet) and the provisioning role put on them (AWS instances in C(pending) or
    C(running) state through boto3, DigitalOcean droplets in C(new) or C(active) state through pydo), plus static
    hosts declared in the configuration (for example an edge host behind NAT).
  - Every cloud host joins the O(mesh_group) group, a group per provider (C(aws), C(digitalocean)), a group per
    location (C(<provider>-<region>) made group-safe, for example C(aws_eu_central_1)) and C(gpu) when it was
    created with C(gpu=true).
  - Sets C(ansible_host) (the public IPv4 address), C(wiremesh_endpoint), C(wiremesh_location),
    C(wiremesh_private_ips) (with the subnet prefix), C(wiremesh_provider), C(wiremesh_region), C(wiremesh_gpu),
    C(wiremesh_role) (the declared group), C(cloud_id), C(cloud_size), C(cloud_image) and C(cloud_state), which
    is what M(wiremesh.multicloud.mesh_plan) needs.
  - Sets C(wiremesh_inventory_mesh) (the O(mesh) option) on the C(all) group, so the provisioning role can refuse
    to create hosts under a mesh name this inventory would not list.
  - The configuration file must end with C(clouds.yml) or C(clouds.yaml).
  - A missing or rejected credential is one error naming the provider; the plugin fails instead of returning a
    partial inventory (a mesh planned from half the hosts would drop the other half's peers).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it makes the file a configuration of this plugin.
    type: str
    required: true
    choices: [wiremesh.multicloud.clouds]
  mesh:
    description: The mesh name; only resources tagged C(wiremesh-mesh=<mesh>) are listed.
    type: str
    required: true
  providers:
    description: Which providers to ask.
    type: list
    elements: str
    choices: [aws, digitalocean]
    default: [aws, digitalocean]
  mesh_group:
    description: Group that every cloud host and every static host joins (the mesh playbook's hosts).
    type: str
    default: mesh
  aws_regions:
    description: AWS regions to list.
    type: list
    elements: str
    default: [eu-central-1]
  aws_endpoint_url:
    description: EC2 endpoint, for an emulator such as C(moto_server); the AWS default when unset.
    type: str
    env:
      - name: AWS_ENDPOINT_URL_EC2
      - name: AWS_ENDPOINT_URL
  aws_access_key:
    description: AWS access key ID; boto3's usual lookup (environment, profile, instance role) when unset.
    type: str
    env:
      - name: AWS_ACCESS_KEY_ID
  aws_secret_key:
    description: AWS secret access key.
    type: str
    env:
      - name: AWS_SECRET_ACCESS_KEY
  aws_session_token:
    description: AWS session token for temporary credentials.
    type: str
    env:
      - name: AWS_SESSION_TOKEN
  aws_profile:
    description: AWS profile from the shared credentials file.
    type: str
    env:
      - name: AWS_PROFILE
  do_base_url:
    description: DigitalOcean API base URL (without C(/v2)), for example an emulator's.
    type: str
    default: https://api.digitalocean.com
    env:
      - name: DIGITALOCEAN_API_URL
  do_token:
    description: DigitalOcean API token.
    type: str
    env:
      - name: DIGITALOCEAN_ACCESS_TOKEN
      - name: DIGITALOCEAN_TOKEN
      - name: DO_API_TOKEN
  static_hosts:
    description:
      - Hosts that are not in a cloud (an edge device behind NAT, a laptop), as C(name -> variables). They join
        O(mesh_group) and the groups listed in their C(groups) key; the other keys become host variables.
    type: dict
    default: {}
"""

EXAMPLES = r"""
# inventories/cloud/wiremesh.clouds.yml
plugin: wiremesh.multicloud.clouds
mesh: kubecon-demo
aws_regions: [eu-central-1]
static_hosts:
  edge:
    groups: [edges]
    ansible_host: 192.0.2.50
    wiremesh_location: edge
keyed_groups:
  - key: wiremesh_role
    prefix: role
compose:
  ansible_user: "'ubuntu' if wiremesh_provider == 'aws' else 'root'"
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.wiremesh.multicloud.plugins.module_utils.cloud import records as rec
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils import cloud_listing


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """The wiremesh.multicloud.clouds inventory plugin."""

    NAME = "wiremesh.multicloud.clouds"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("clouds.yml", "clouds.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        found = None
        if use_cache:
            try:
                found = self._cache[key]
            except KeyError:
                found = None
        if found is None:
            found = self._list_records()
            if self.get_option("cache"):
                self._cache[key] = found
        self._populate(found)

    def _list_records(self):
        mesh = self.get_option("mesh")
        providers = self.get_option("providers")
        found = []
        try:
            if "aws" in providers:
                found += cloud_listing.aws_records(
                    mesh, self.get_option("aws_regions"), endpoint_url=self.get_option("aws_endpoint_url"),
                    access_key=self.get_option("aws_access_key"), secret_key=self.get_option("aws_secret_key"),
                    session_token=self.get_option("aws_session_token"), profile=self.get_option("aws_profile"))
            if "digitalocean" in providers:
                found += cloud_listing.do_records(mesh, self.get_option("do_token"), self.get_option("do_base_url"))
        except cloud_listing.ListingError as exc:
            raise AnsibleParserError("wiremesh.multicloud.clouds: %s" % exc)
        return found

    def _populate(self, found):
        mesh_group = self.get_option("mesh_group")
        dups = rec.duplicate_names(found)
        statics = self.get_option("static_hosts") or {}
        for name in statics:
            if name in {r["name"] for r in found}:
                dups.setdefault(name, []).append("static_hosts")
        if dups:
            raise AnsibleParserError("wiremesh.multicloud.clouds: host names must be unique across providers: %s"
                                     % "; ".join("%s is used by %s" % (n, ", ".join(w)) for n, w in sorted(dups.items())))
        self.inventory.add_group(mesh_group)
        self.inventory.set_variable("all", "wiremesh_inventory_mesh", self.get_option("mesh"))
        for record in sorted(found, key=lambda r: r["name"]):
            self._add(record["name"], rec.host_vars(record), rec.host_groups(record, mesh_group))
        for name, values in sorted(statics.items()):
            values = dict(values or {})
            groups = values.pop("groups", []) or []
            if not isinstance(groups, list):
                raise AnsibleParserError("wiremesh.multicloud.clouds: static_hosts.%s.groups must be a list" % name)
            self._add(name, values, [mesh_group] + groups)

    def _add(self, name, values, groups):
        self.inventory.add_host(name)
        for group in groups:
            self.inventory.add_group(group)
            self.inventory.add_child(group, name)
        for var, value in values.items():
            self.inventory.set_variable(name, var, value)
        strict = self.get_option("strict")
        hostvars = self.inventory.get_host(name).get_vars()
        self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
