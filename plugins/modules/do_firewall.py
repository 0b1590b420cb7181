#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_firewall
short_description: Keep a DigitalOcean cloud firewall with exactly the given rules, tags and droplets
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Makes the cloud firewall named O(name) present with exactly O(inbound_rules), O(outbound_rules), O(tags) and
    O(droplet_ids), or absent, through the official C(pydo) client.
  - Rules are compared the way the API stores them (V(all) and V(0) ports alike, ICMP ports always V(0),
    addresses as CIDRs, order ignored), so a second run reports no change.
  - Every rule is sent with C(ports), as DigitalOcean's API specification requires; ICMP rules and rules for all
    ports carry V(0).
  - Applying the firewall by tag (O(tags)) covers droplets created later with that tag.
  - The API accepts only tags that exist, so tags named in O(tags) or in rule sources and destinations that do not
    exist yet are created before the firewall is created or updated.
  - A cloud firewall denies what its rules do not allow; without outbound rules a droplet cannot reach out.
options:
  name:
    description:
      - Name of the firewall (at least 2 characters; begins with a letter or digit; letters, digits, dots and
        dashes). It identifies the firewall for this module; two firewalls of that name are an error.
    type: str
    required: true
  inbound_rules:
    description:
      - Traffic allowed in.
    type: list
    elements: dict
    default: []
    suboptions:
      protocol: &protocol
        description: Protocol.
        type: str
        choices: [tcp, udp, icmp]
        required: true
      ports: &ports
        description:
          - A port (V(22)), a range (V(8000-9000)), or V(all) (or V(0)) for every port. Required for V(tcp) and
            V(udp).
          - The API takes V(0) for all ports, so V(all) is sent as V(0). For V(icmp) this is not used; the rule is
            sent with V(0), as the API requires.
        type: str
      sources:
        description: Where the traffic may come from (at least one entry).
        type: dict
        suboptions: &targets
          addresses:
            description: IPv4/IPv6 addresses or CIDRs, for example V(0.0.0.0/0) and V(::/0) for anywhere.
            type: list
            elements: str
          droplet_ids:
            description: Droplet ids.
            type: list
            elements: int
          load_balancer_uids:
            description: Load balancer ids.
            type: list
            elements: str
          kubernetes_ids:
            description: Kubernetes cluster ids.
            type: list
            elements: str
          tags:
            description: Droplet tags.
            type: list
            elements: str
  outbound_rules:
    description:
      - Traffic allowed out.
    type: list
    elements: dict
    default: []
    suboptions:
      protocol: *protocol
      ports: *ports
      destinations:
        description: Where the traffic may go (at least one entry).
        type: dict
        suboptions: *targets
  tags:
    description:
      - The firewall applies to every droplet with one of these tags.
    type: list
    elements: str
    default: []
  droplet_ids:
    description:
      - The firewall applies to these droplets too.
    type: list
    elements: int
    default: []
  state:
    description:
      - V(present) creates or updates the firewall; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.digitalocean
attributes:
  check_mode:
    support: full
    details: Nothing is created, updated or deleted; RV(actions) names the parts that would change.
seealso:
  - module: wiremesh.multicloud.do_droplet
  - name: DigitalOcean API, firewalls
    description: The endpoints this module uses.
    link: https://docs.digitalocean.com/reference/api/digitalocean/#tag/Firewalls
"""

EXAMPLES = r"""
- name: Mesh firewall - SSH from the admins, WireGuard from anywhere, everything out
  wiremesh.multicloud.do_firewall:
    name: wiremesh
    tags: [wiremesh]
    inbound_rules:
      - protocol: tcp
        ports: "22"
        sources:
          addresses: "{{ admin_cidrs }}"
      - protocol: udp
        ports: "51820"
        sources:
          addresses: ["0.0.0.0/0", "::/0"]
    outbound_rules:
      - protocol: tcp
        ports: all
        destinations:
          addresses: ["0.0.0.0/0", "::/0"]
      - protocol: udp
        ports: all
        destinations:
          addresses: ["0.0.0.0/0", "::/0"]
      - protocol: icmp
        destinations:
          addresses: ["0.0.0.0/0", "::/0"]

- name: Remove it
  wiremesh.multicloud.do_firewall:
    name: wiremesh
    state: absent
"""

RETURN = r"""
firewall:
  description: The firewall as the API shows it; V(null) when there is none (absent, or would be created in check
    mode).
  returned: always
  type: dict
  contains:
    id:
      description: The firewall's id.
      type: str
      sample: bb4b2611-3d72-467b-8602-280330ecd65c
    name:
      description: Its name.
      type: str
      sample: wiremesh
    status:
      description: C(waiting), C(succeeded) or C(failed).
      type: str
      sample: succeeded
    inbound_rules:
      description: Inbound rules as the API stores them.
      type: list
      elements: dict
      sample: [{"protocol": "udp", "ports": "51820", "sources": {"addresses": ["0.0.0.0/0", "::/0"]}}]
    outbound_rules:
      description: Outbound rules as the API stores them.
      type: list
      elements: dict
      sample: [{"protocol": "icmp", "ports": "0", "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}}]
    tags:
      description: Tags it applies to.
      type: list
      elements: str
      sample: [wiremesh]
    droplet_ids:
      description: Droplets it applies to by id.
      type: list
      elements: int
      sample: []
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["update inbound_rules of firewall wiremesh"]
"""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.module import (
    STATE, new_module, run_module)
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.firewalls import (
    TARGET_KEYS, ensure_firewall)


def rule_spec(target_key):
    targets = {key: dict(type="list", elements="int" if key == "droplet_ids" else "str") for key in TARGET_KEYS}
    return dict(type="list", elements="dict", default=[], options=dict(
        protocol=dict(type="str", choices=["tcp", "udp", "icmp"], required=True),
        ports=dict(type="str"),
        **{target_key: dict(type="dict", options=targets)}))


def main():
    module = new_module(dict(
        name=dict(type="str", required=True),
        inbound_rules=rule_spec("sources"),
        outbound_rules=rule_spec("destinations"),
        tags=dict(type="list", elements="str", default=[]),
        droplet_ids=dict(type="list", elements="int", default=[]),
        state=STATE,
    ))
    run_module(module, lambda api: ensure_firewall(api, module.params, module.check_mode))


if __name__ == "__main__":
    main()
