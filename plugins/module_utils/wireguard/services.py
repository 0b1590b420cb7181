# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The units that keep the mesh up on a host, under systemd or the wiremesh lab supervisor.

A unit: {name, enabled (systemd: start at boot), started (keep it running), files (the paths that define it:
when one changed in this run, systemd reloads and a started unit restarts)}. The lab supervisor starts a unit
whose file is new at its next reload and restarts one that exits; a changed unit file applies at its next start."""

from __future__ import annotations

from .common import run_checked

LAB_CTL = "/usr/local/sbin/wiremesh-lab-ctl"
ENABLED = ("enabled", "enabled-runtime", "static", "alias")   # `systemctl is-enabled` answers that need no enable


def _systemctl(run, *args):
    rc, out, dummy = run(["systemctl"] + list(args))
    return rc, (out or "").strip()


def daemon_reload(run, units, changed, check_mode=False):
    """systemd: reload once when a unit's file changed (before anything starts from it)."""
    if not any(path in changed for unit in units for path in unit.get("files") or []):
        return []
    if not check_mode:
        run_checked(run, ["systemctl", "daemon-reload"], what="systemctl daemon-reload")
    return ["systemctl daemon-reload"]


def systemd(run, units, changed, check_mode=False):
    actions = []
    for unit in units:
        name = unit["name"]
        if unit.get("enabled") and _systemctl(run, "is-enabled", name)[1] not in ENABLED:
            actions.append("systemctl enable %s" % name)
            if not check_mode:
                run_checked(run, ["systemctl", "enable", name], what="systemctl enable %s" % name)
        if not unit.get("started"):
            continue
        if _systemctl(run, "is-active", name)[0] != 0:
            actions.append("systemctl start %s" % name)
            if not check_mode:
                run_checked(run, ["systemctl", "start", name], what="systemctl start %s" % name)
        elif any(path in changed for path in unit.get("files") or []):
            actions.append("systemctl restart %s" % name)
            if not check_mode:
                run_checked(run, ["systemctl", "restart", name], what="systemctl restart %s" % name)
    return actions


def lab(run, units, changed, check_mode=False):
    """The lab supervisor: one reload when a unit file changed (it starts the new ones)."""
    if not any(path in changed for unit in units for path in unit.get("files") or []):
        return []
    if not check_mode:
        run_checked(run, [LAB_CTL, "reload"], what="wiremesh-lab-ctl reload")
    return ["wiremesh-lab-ctl reload"]
