#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mesh_plan
short_description: Plan a WireGuard mesh (full or Kilo-style by location) from the inventory
version_added: 0.1.0
description:
  - Computes every node's WireGuard interface and peers on the controller with the collection's pure planner.
  - Mesh IPs are allocated from O(cidr), deterministically; nodes are read from the inventory variables of O(hosts)
    (C(wiremesh_location), C(wiremesh_endpoint), C(wiremesh_private_ips), C(wiremesh_extra_cidrs),
    C(wiremesh_public_key), C(wiremesh_keepalive), C(wiremesh_leader), C(wiremesh_mesh_ip), C(wiremesh_listen_port)),
    or given directly as O(nodes).
  - With O(granularity=full) every node peers with every node. With O(granularity=location) one leader per
    location (preferring C(wiremesh_leader=true), then nodes with a public endpoint, then nodes with any endpoint,
    by name, as Kilo does) peers with the other leaders and carries its members' traffic; members peer with their
    leader only. A leader whose endpoint is a private address (RFC 1918 or RFC 4193) while the mesh has other
    locations or external peers is reported in RV(notes), as a warning.
  - Nodes without an endpoint (behind NAT) send PersistentKeepalive; two segments that cannot reach each other
    talk through a relay that both can reach, chosen automatically.
  - Invalid input (duplicate names or keys, malformed keys or endpoints, overlapping CIDRs, unreachable nodes)
    fails with one message naming every host and variable at fault, before anything is changed.
  - Runs on the controller only (an action plugin); it never contacts the managed hosts and never sees a
    private key.
author:
  - Wiremesh Maintainers (@wiremesh)
options:
  cidr:
    description: Network the mesh IPs are allocated from. Must not overlap any host's private network.
    type: str
    default: 10.4.0.0/16
  granularity:
    description:
      - V(full) peers every node with every node; V(location) elects one leader per location.
      - V(cross) peers nodes of different locations directly, and lets nodes of one location that share a private
        network route to each other over it without WireGuard (C(routes) in the plan; apply them with
        M(wiremesh.multicloud.mesh_routes)).
    type: str
    choices: [full, location, cross]
    default: location
  hosts:
    description:
      - Inventory hosts that form the mesh. Defaults to all hosts of the play.
      - Every listed host needs C(wiremesh_public_key) unless O(require_keys=false).
    type: list
    elements: str
  nodes:
    description:
      - Nodes given directly instead of read from the inventory. Each is a dict with C(name), C(location) and
        optionally C(endpoint), C(private_ips), C(extra_cidrs), C(public_key), C(keepalive), C(leader),
        C(mesh_ip), C(listen_port).
    type: list
    elements: dict
  peers:
    description:
      - External peers (a laptop, an edge device, another mesh) that are not managed hosts, each a dict with
        C(name), C(allowed_ips), C(public_key) and optionally C(endpoint) and C(keepalive).
      - With O(granularity=location) they are added to every leader.
    type: list
    elements: dict
    default: []
  var_prefix:
    description: Prefix of the inventory variables read for each host.
    type: str
    default: wiremesh_
  keepalive:
    description: PersistentKeepalive (seconds) used by nodes that sit behind NAT.
    type: int
    default: 25
  port:
    description: Default WireGuard listen port (and the port of endpoints given without one).
    type: int
    default: 51820
  require_keys:
    description:
      - Whether every node must have a public key. Set V(false) for a pre-flight validation before any host
        is touched (keys are generated on the hosts later).
    type: bool
    default: true
  state_path:
    description:
      - Controller-side state file (JSON, mode 0600, its previous version kept as C(<path>.bak)) that makes mesh
        IPs sticky across runs, remembers the public keys of hosts left out of a run (C(--limit)), and holds the
        preshared key of every directly peered pair of nodes. Mutually exclusive with O(state_s3).
      - A node that leaves the inventory keeps its address until it is listed in O(forget).
      - A damaged state file is refused with the path of the last good copy, never regenerated.
      - Without it, addresses follow name order and every host must take part in the run.
      - A vault-encrypted state file is read with the run's vault secrets and stays encrypted (see O(state_vault)).
    type: path
  partial_inventory:
    description:
      - The run sees only part of the mesh (an AWX / Automation Platform sliced job, whose inventory holds one slice
        of the hosts). Every member the state remembers that this run's hosts lack stays in the mesh with the
        location, endpoint, key and address the state has for it, so that no host loses a peer.
      - Without it, a host missing from the inventory leaves the mesh (its address stays reserved). With it, a host
        leaves only through O(forget) or a run without O(partial_inventory).
      - Needs O(state_path) or O(state_s3); every member must have been planned once with this version.
    type: bool
    default: false
  state_vault:
    description:
      - Write the state file encrypted with Ansible Vault (the run's first vault secret, or the one the
        C(vault_encrypt_identity) setting names), its C(.bak) copy too; a clear file is encrypted on the next
        run (C(changed)).
      - An encrypted state file is always written back encrypted, whatever this says; C(ansible-vault decrypt)
        turns it back into clear text.
      - The preshared keys are the file's only secrets; the file is mode 0600 either way.
    type: bool
    default: false
  forget:
    description: Nodes whose reserved mesh IP (and preshared keys) the state file should drop.
    type: list
    elements: str
    default: []
  rotate:
    description:
      - Nodes whose keys are being rotated; the preshared keys of their pairs are drawn anew (with O(state_path)).
        A node the state file does not know is refused.
    type: list
    elements: str
    default: []
  preshared_keys:
    description:
      - Keep a preshared key for every directly peered pair of nodes in the state file (generated once on the
        controller). They never appear in this module's result; the P(wiremesh.multicloud.mesh_psk#lookup)
        lookup gives each host only its own.
    type: bool
    default: true
  standbys:
    description:
      - Standby leaders per location (C(location) granularity) and standby relays per pair of segments that talk
        through a relay, best first in the election order (a pinned leader, a public endpoint, any endpoint, by
        name). Every host holds an entry for each standby it may switch to (key, endpoint, preshared key, no
        AllowedIPs), and each node's C(failover) table says what its failover agent moves when one dies.
      - V(0) plans Kilo's topology exactly, without failover.
    type: int
    default: 1
  standby_keepalive:
    description: PersistentKeepalive (seconds) on the entries held for standby leaders and relays.
    type: int
    default: 2
  acls:
    description:
      - Who may reach what over the mesh (the wireguard role's C(wireguard_acls)), checked against the plan and
        O(groups) and compiled into one nftables table that every host loads (C(plan.acl.table), for the
        O(wiremesh.multicloud.wg_node#module:nftables) option of M(wiremesh.multicloud.wg_node)); C(plan.acl.rules)
        lists its rules with the hosts and peers each matches, C(plan.acl.default) the defaults.
      - C(default) gives the verdict when no rule matches, per kind of source, C(members) (managed hosts; default
        C(accept)) and C(peers) (external peers; default C(drop)). C(tags) names sets of selectors. C(rules) is a list
        of C(from) and C(to) (a selector or a list of them), C(proto) (C(tcp), C(udp), C(icmp) or C(any), the default),
        C(ports) (tcp and udp only; ports and ranges such as C(8000-8100); every port when left out), C(action)
        (C(accept), the default, or C(drop)) and an optional C(name). The first rule that matches decides.
      - Selectors are C(host:NAME), C(group:NAME) (an inventory group, its mesh hosts), C(location:NAME),
        C(peer:NAME) (an external peer; sources only), C(tag:NAME) and C(*).
      - Each host filters what arrives on its WireGuard interface, for itself and for the hosts it forwards for
        (leaders, relays). Replies of flows a host opened, ICMP errors, and pings between mesh hosts (the failover
        agents' probes) always pass; a rule that would drop those pings is refused.
      - Unknown names, bad protocols or ports, and rules that can never match (an earlier rule matches all they do,
        or a host's traffic to itself) are refused, one problem each. A C(peer:NAME) that is not an external peer
        yet is a note, and its rule matches nothing until the peer joins.
    type: dict
  groups:
    description: The inventory's groups (C(groups)), for the C(group:NAME) selectors of O(acls).
    type: dict
    default: {}
  interface:
    description: Name of the WireGuard interface the compiled O(acls) filter (C(iifname)).
    type: str
    default: wg0
  down:
    description:
      - Hosts the controller could not reach in this run. None of them leads a location or relays while another
        host can (each one is then listed last among the standbys), and the result's C(notes) say so.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - wiremesh.multicloud.state_s3
attributes:
  check_mode:
    support: full
    details: In check mode the state file is not written.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Run it once per mesh (O(hosts) covers all of them); it does not need C(run_once) but it is harmless.
seealso:
  - module: wiremesh.multicloud.wg_key
  - module: wiremesh.multicloud.wg_interface
"""

EXAMPLES = r"""
- name: Validate the inventory before touching any host
  wiremesh.multicloud.mesh_plan:
    hosts: "{{ groups['mesh'] }}"
    require_keys: false

- name: Plan the mesh from the inventory (keys gathered earlier with wg_key)
  wiremesh.multicloud.mesh_plan:
    hosts: "{{ groups['mesh'] }}"
    granularity: location
    cidr: 10.4.0.0/16
  register: mesh

- name: Plan an explicit mesh
  wiremesh.multicloud.mesh_plan:
    granularity: full
    nodes:
      - {name: a, location: fra1, endpoint: "198.51.100.1", public_key: "{{ key_a }}"}
      - {name: b, location: euc1, endpoint: "198.51.100.2:51821", public_key: "{{ key_b }}"}
"""

RETURN = r"""
plan:
  description:
    - The whole plan. C(nodes) maps each host to its interface (C(address), C(listen_port)) and its C(peers)
      (C(name), C(kind), C(public_key), C(endpoint), C(allowed_ips), C(persistent_keepalive), C(relays)), plus
      C(mesh_ip), C(location), C(leader), C(nat), C(forward) (whether it routes for others, as a leader, a relay or
      a node with extra CIDRs), C(forward_ipv4) and C(forward_ipv6) (which address families it forwards) and
      C(routes) (with cross granularity, C(to)/C(via) over a private network) and C(failover), the node's table
      for its failover agent (C(self), C(peers) with their C(public_key) and C(mesh_ip), C(follow), C(static),
      C(lead); see the wireguard role's README).
    - C(segments) lists each location's leader, C(standbys) and nodes, C(relays) the pairs that talk through a
      relay (C(via), then C(standbys)),
      C(peers) what each external peer must configure. No private key is ever part of it.
  returned: success
  type: dict
state_path:
  description: The state file used, or the C(s3://bucket/key) of the state object (O(state_s3)).
  returned: when O(state_path) or O(state_s3) is set and keys are required
  type: str
notes:
  description:
    - Things worth knowing that change nothing (also emitted as Ansible warnings), like a location leader whose
      endpoint is a private address the other locations may not reach.
  returned: success
  type: list
  elements: str
  sample: ["a: wiremesh_endpoint: 10.0.0.5:51820 is a private address (RFC 1918) and a leads location l1, ..."]
kept_from_state:
  description: With O(partial_inventory), the members planned as the state remembers them (not in this run).
  returned: when O(partial_inventory=true)
  type: list
  elements: str
state_lock_waited:
  description: Seconds this run waited for another run's lock (O(state_s3)), when it waited at least half a second.
  returned: when it waited
  type: float
mesh_ips:
  description: Mesh IP of every node.
  returned: success
  type: dict
  sample: {"do1": "10.4.0.2", "do2": "10.4.0.3"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_plan_args import ARGUMENT_SPEC, run


def main():
    # Reached only when the task is sent to a host without the action plugin (explicit nodes required there).
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_one_of=[("nodes", "hosts")], supports_check_mode=True)
    if not module.params["nodes"]:
        module.fail_json(msg="nodes is required when the mesh is not planned on the controller")
    if module.params["state_path"] or module.params["state_s3"]:
        module.fail_json(msg="state_path and state_s3 work only when the mesh is planned on the controller")
    dummy, result, error = run(module.params)
    if error:
        module.fail_json(msg=error)
    for note in result["notes"]:
        module.warn(note)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
