# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel parameters the mesh needs (forwarding on hosts that route for others): set live through /proc/sys and
kept in one sysctl.d file the mesh owns. A parameter no longer wanted leaves the file; its live value stays (other
software may rely on forwarding), which is what removing a line from sysctl.d does at the next boot too."""

from __future__ import annotations

import os

from .common import WireGuardError
from . import hostfiles


def _proc(name):
    return os.path.join("/proc/sys", name.replace(".", "/"))


def file_text(wanted):
    lines = ["# Managed by wiremesh.multicloud (wireguard role): the mesh's kernel parameters.\n"]
    lines += ["%s = %s\n" % (name, value) for name, value in sorted(wanted.items())]
    return "".join(lines)


def converge(wanted, path, check_mode=False, proc=None):
    """``wanted``: {name: value}. Returns (actions, diffs)."""
    proc = proc or _proc
    actions = []
    for name, value in sorted(wanted.items()):
        try:
            with open(proc(name), "r", encoding="ascii") as handle:
                live = handle.read().strip()
        except OSError as exc:
            raise WireGuardError("cannot read kernel parameter %s: %s" % (name, exc.strerror))
        if live != str(value):
            actions.append("set %s = %s" % (name, value))
            if not check_mode:
                try:
                    with open(proc(name), "w", encoding="ascii") as handle:
                        handle.write("%s\n" % value)
                except OSError as exc:
                    raise WireGuardError("cannot set kernel parameter %s: %s" % (name, exc.strerror))
    if not wanted and not os.path.exists(path):
        return actions, []
    spec = {"path": path, "content": file_text(wanted), "mode": "0644"}
    dummy, file_actions, diffs = hostfiles.converge([spec], check_mode)
    return actions + file_actions, diffs
