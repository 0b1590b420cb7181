# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One call from plain data to a plan: what modules, action plugins, the CLI and benchmarks use."""

from __future__ import annotations

from .errors import MeshError, Problem
from .model import parse_mesh
from .topology import plan as _plan


def build_plan(cidr, granularity, nodes, peers=(), keepalive=None, port=None, assigned=None, require_keys=True,
               standbys=None, standby_keepalive=None, down=()):
    """Parse, validate and plan. Returns the Plan (topology.Plan: its views are its methods, ``to_dict()`` being
    what the mesh_plan action returns). Raises MeshError naming every problem.

    ``standbys``: standby leaders per location and standby relays per relayed pair (default 1; 0 plans Kilo's
    topology exactly, with no failover); ``down``: the nodes the controller could not reach in this run.

    With ``require_keys=False`` managed nodes may lack public keys (a pre-flight check before any host
    is touched); the topology is still computed, so every other problem surfaces early."""
    spec = parse_mesh(cidr=cidr, granularity=granularity, nodes=nodes, peers=peers,
                      keepalive=keepalive, port=port, assigned=assigned, standbys=standbys,
                      standby_keepalive=standby_keepalive, down=down)
    if require_keys:
        why = "is missing: the host's key was not gathered in this run (left out by --limit, or unreachable?)"
        missing = [Problem(n.name, "public_key", why) for n in spec.nodes if n.public_key is None]
        if missing:
            raise MeshError(missing)
    return _plan(spec)
