# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What wg_node does, without AnsibleModule: a host's whole part of the mesh in one pass, each step reading
before it writes, so a converged host is checked in one module run and nothing is changed.

Order: files (units, scripts, the failover table) -> systemd reload -> kernel parameters -> the access policy
(nftables, before the interface so that it never comes up unfiltered) -> the interface (live, wg syncconf) ->
routes -> units enabled/started (lab: supervisor reload) -> firewall port."""

from __future__ import annotations

from ..routes import changes as route_changes
from ..routes import commands as route_commands
from ..routes import normalize as route_normalize
from ..routes import read as read_routes
from . import firewall, hostfiles, interface, nftables, services, sysctl
from .common import WireGuardError, run_checked


def _routes(run, wanted, src, protocol, check_mode):
    try:
        desired = {route_normalize(r) for r in wanted}
    except (KeyError, TypeError, ValueError) as exc:
        raise WireGuardError("config.routes: each needs 'to' (a network) and 'via' (an address): %s" % exc)
    try:
        current = read_routes(run, protocol)
    except (RuntimeError, ValueError) as exc:
        raise WireGuardError(str(exc))
    add, delete = route_changes(current, desired)
    cmds = route_commands(add, delete, protocol, src)
    if not check_mode:
        for cmd in cmds:
            run_checked(run, cmd)
    return ["%s route %s via %s" % ("add" if c[2] == "replace" else "delete", c[3], c[5]) for c in cmds]


def converge(run, which, params, check_mode=False, on_secret=None):
    """Returns the module result: changed, actions, diff (a list), the interface's fields, warnings."""
    actions, diffs = [], []
    changed, file_actions, file_diffs = hostfiles.converge(params.get("files") or [], check_mode)
    actions += file_actions
    diffs += file_diffs
    units, manager = params.get("units") or [], params.get("service_manager") or "none"
    if manager == "systemd":
        actions += services.daemon_reload(run, units, changed, check_mode)
    if params.get("sysctls") is not None:
        sysctl_actions, sysctl_diffs = sysctl.converge(params["sysctls"], params["sysctl_file"], check_mode)
        actions += sysctl_actions
        diffs += sysctl_diffs
    acl_actions, acl_diffs = nftables.converge(run, which, params["name"], params.get("nftables"),
                                               check_mode=check_mode)
    actions += acl_actions
    diffs += acl_diffs
    result = interface.present(run, params, check_mode=check_mode, on_secret=on_secret)
    actions += result.pop("actions")
    iface_diff = result.pop("diff")
    if iface_diff["before"] != iface_diff["after"]:
        diffs.append(iface_diff)
    config = params["config"]
    if params.get("manage_routes", True):
        actions += _routes(run, config.get("routes") or [], config.get("mesh_ip"), params["route_protocol"],
                           check_mode)
    if manager == "systemd":
        actions += services.systemd(run, units, changed, check_mode)
    elif manager == "lab":
        actions += services.lab(run, units, changed, check_mode)
    port = (config.get("interface") or {}).get("listen_port")
    if port and params.get("firewall", "none") != "none":
        actions += firewall.converge(run, which, params["firewall"], port, check_mode)
    result.update(changed=bool(actions), actions=actions, diff=diffs, files_changed=changed)
    return result
