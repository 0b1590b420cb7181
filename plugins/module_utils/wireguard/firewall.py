# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open the WireGuard port in the host firewall: firewalld (runtime and permanent) or ufw, whichever runs.
A host with neither running is left alone (cloud firewalls are the cloud role's)."""

from __future__ import annotations

import re

from .common import run_checked


def _firewalld(run, port, check_mode):
    rc = run(["firewall-cmd", "--state"])[0]
    if rc != 0:
        return []
    actions = []
    for scope in ([], ["--permanent"]):
        if run(["firewall-cmd"] + scope + ["--query-port=%s/udp" % port])[0] != 0:
            cmd = ["firewall-cmd"] + scope + ["--add-port=%s/udp" % port]
            actions.append(" ".join(cmd))
            if not check_mode:
                run_checked(run, cmd)
    return actions


def _ufw(run, port, check_mode):
    rc, out = run(["ufw", "status"])[:2]
    if rc != 0 or "Status: active" not in (out or ""):
        return []
    rule = re.compile(r"^%s/udp\s+ALLOW\b" % port)
    if any(rule.match(line.strip()) for line in out.splitlines()):
        return []
    cmd = ["ufw", "allow", "%s/udp" % port]
    if not check_mode:
        run_checked(run, cmd)
    return [" ".join(cmd)]


def converge(run, which, mode, port, check_mode=False):
    """``mode``: auto, firewalld, ufw or none; ``which(name)`` finds a command (None when absent)."""
    actions = []
    if mode in ("auto", "firewalld") and which("firewall-cmd"):
        actions += _firewalld(run, port, check_mode)
    if mode in ("auto", "ufw") and which("ufw"):
        actions += _ufw(run, port, check_mode)
    return actions
