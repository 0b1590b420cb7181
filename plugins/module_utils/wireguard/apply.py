# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Act on a live interface: ``wg syncconf`` (never ``wg setconf``: that drops traffic and forgets the endpoints
peers behind NAT were learnt at), ``wg set`` for what syncconf cannot clear, ``ip`` for addresses, MTU, link
state and routes, and the commands that bring an interface up or down."""

from __future__ import annotations

import os
import time

from ..mesh import wgconf
from .common import WireGuardError, run_checked
from .diff import SYNC


def default_up_command(name, config_path, setsid=None):
    """``wg-quick up`` for the config file, in a new session (``setsid -w``) so that wireguard-go, which
    daemonizes, is not tied to the SSH session that ran the module."""
    cmd = ["wg-quick", "up", _wg_quick_target(name, config_path)]
    return ([setsid, "-w"] + cmd) if setsid else cmd


def default_down_command(name, config_path):
    if os.path.exists(config_path):
        return ["wg-quick", "down", _wg_quick_target(name, config_path)]
    # wg-quick down needs the config file; without it, deleting the link is what it would do anyway.
    return ["ip", "link", "delete", "dev", name]


def _wg_quick_target(name, config_path):
    if os.path.abspath(config_path) == "/etc/wireguard/%s.conf" % name:
        return name
    if os.path.basename(config_path) != "%s.conf" % name:
        raise WireGuardError("wg-quick names the interface after the config file: config_path must end in "
                             "/%s.conf (or give up_command/down_command)" % name)
    return os.path.abspath(config_path)


def syncconf(run, name, conf_text, secrets=()):
    """Feed the stripped config to ``wg syncconf`` on stdin: peers are updated in place, not re-created."""
    run_checked(run, ["wg", "syncconf", name, "/dev/stdin"], data=wgconf.strip(conf_text),
                what="wg syncconf %s" % name, secrets=secrets)


def apply_changes(run, name, changes, conf_text, secrets=()):
    """Apply ``changes`` (from diff.compare, already in order): one syncconf for all wg-level changes first."""
    if any(c.cmd is None and c.order == SYNC for c in changes):
        syncconf(run, name, conf_text, secrets)
    for change in changes:
        if change.cmd is not None:
            run_checked(run, change.cmd, what=change.action, secrets=secrets)


def wait_for(predicate, timeout=10.0, interval=0.25, sleep=time.sleep):
    """Poll ``predicate`` until it returns something truthy or ``timeout`` seconds have passed."""
    waited = 0.0
    while True:
        result = predicate()
        if result or waited >= timeout:
            return result
        sleep(interval)
        waited += interval


def run_command(run, cmd, what, secrets=()):
    run_checked(run, cmd, what="%s (%s)" % (what, " ".join(cmd)), secrets=secrets)
