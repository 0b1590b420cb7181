#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloud_plan
short_description: Validate the declared cloud host groups and expand them into one record per host
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Checks what the user declared for the clouds (a mesh name and a list of host groups) before any cloud API is
    called, and expands it into the hosts to create, each with its name (C(<group>-<n>)), location
    (C(<provider>-<region>)) and the tags that the provisioning, the inventory plugin and the teardown use.
  - Every problem is reported at once, each naming the group and the field; nothing is created or changed.
  - Pure computation; it changes nothing anywhere and reports C(changed=false).
options:
  mesh:
    description: The mesh name (lower-case letters, digits and C(-), at most 32). Every resource is tagged with it.
    type: str
    required: true
  groups:
    description:
      - The host groups. Each is a mapping with C(name), C(provider) (V(aws) or V(digitalocean)), C(region),
        C(size) (instance type or droplet size), C(image) (AMI ID, C(<owner-id>/<name pattern>), or a droplet image
        slug), C(count) (default 1, at most 50) and C(gpu) (default false). Unknown keys are refused.
    type: list
    elements: raw
    required: true
  mesh_cidr:
    description: The mesh's address range; provider networks must not overlap it.
    type: str
  networks:
    description:
      - Provider networks, by key (C(aws_vpc_cidr), C(aws_subnet_cidr), C(do_vpc_ip_range)); each must be a valid
        network outside O(mesh_cidr), and the AWS subnet must lie inside the AWS VPC.
    type: dict
    default: {}
  admin_cidrs:
    description:
      - Networks SSH will be allowed from. When given, it must be a non-empty list of valid networks.
      - Leave it out where it is not needed (teardown).
    type: list
    elements: raw
  ssh_public_key:
    description:
      - The OpenSSH public key line to install. When given, it must look like one (never a path or a private key).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - plugin: wiremesh.multicloud.clouds
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Check the declaration before calling any cloud API
  wiremesh.multicloud.cloud_plan:
    mesh: kubecon-demo
    mesh_cidr: 10.4.0.0/16
    groups:
      - {name: web, provider: digitalocean, region: fra1, size: s-2vcpu-4gb, image: ubuntu-24-04-x64, count: 2}
      - {name: gpu, provider: aws, region: eu-central-1, size: g4dn.xlarge, image: ami-0123456789abcdef0, gpu: true}
  delegate_to: localhost
  run_once: true
  register: cloud
"""

RETURN = r"""
hosts:
  description: One record per host to create, in declaration order.
  returned: success
  type: list
  elements: dict
  sample:
    - name: gpu-1
      group: gpu
      provider: aws
      region: eu-central-1
      location: aws-eu-central-1
      size: g4dn.xlarge
      image: ami-0123456789abcdef0
      gpu: true
      aws_tags: {wiremesh-mesh: kubecon-demo, wiremesh-location: aws-eu-central-1, wiremesh-role: gpu,
                 wiremesh-gpu: "true", Name: gpu-1}
      do_tags: ["wiremesh-mesh:kubecon-demo", "wiremesh-location:aws-eu-central-1", "wiremesh-role:gpu",
                "wiremesh-gpu:true"]
regions:
  description: The regions in use, per provider.
  returned: success
  type: dict
  sample: {aws: [eu-central-1], digitalocean: [fra1]}
networks:
  description: The provider networks, normalised.
  returned: success
  type: dict
  sample: {aws_vpc_cidr: 172.31.0.0/16, aws_subnet_cidr: 172.31.16.0/20, do_vpc_ip_range: 10.110.0.0/20}
problems:
  description: On failure, every problem found, each naming the group and field.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.cloud import spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mesh=dict(type="str", required=True),
            groups=dict(type="list", elements="raw", required=True),
            mesh_cidr=dict(type="str"),
            networks=dict(type="dict", default={}),
            admin_cidrs=dict(type="list", elements="raw"),
            ssh_public_key=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        plan = spec.expand(params["mesh"], params["groups"], params["mesh_cidr"], params["networks"],
                           params["admin_cidrs"], params["ssh_public_key"])
    except spec.CloudSpecError as exc:
        module.fail_json(msg="cloud_groups: %s" % exc,
                         problems=[p.render() for p in exc.problems])
    module.exit_json(changed=False, **plan)


if __name__ == "__main__":
    main()
