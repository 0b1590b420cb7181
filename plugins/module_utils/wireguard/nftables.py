# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh's access policy on one host: the nftables table the planner compiled for it (mesh/acl.py), kept in
``/etc/wireguard/<if>.nft`` and loaded in one ``nft -f`` transaction that replaces the whole table at once
(established flows keep their conntrack entries; a rule still allowing them lets them on). The table carries
the digest of its text in its comment: a table that is missing or carries another digest is loaded again. The
wg-quick unit's drop-in loads the file before the interface comes up, so a rebooted host is never open."""

from __future__ import annotations

import re

from .common import WireGuardError, run_checked
from .files import atomic_write, read_text, remove

_COMMENT = re.compile(r'comment "wiremesh ([0-9a-f]+)"')


def path_of(interface):
    return "/etc/wireguard/%s.nft" % interface


def table_of(text):
    match = re.search(r"^table inet (\S+) \{", text or "", re.M)
    if not match:
        raise WireGuardError("nftables: the policy text has no 'table inet NAME {' line")
    return match.group(1)


def loadable(text):
    """``text`` as a file ``nft -f`` can load again and again: the table is created, deleted and defined anew in
    one transaction."""
    table = table_of(text)
    return "table inet %s\ndelete table inet %s\n%s" % (table, table, text)


def _live_digest(run, table):
    rc, out, _err = run(["nft", "list", "table", "inet", table])
    if rc != 0:
        return None
    match = _COMMENT.search(out or "")
    return match.group(1) if match else ""


def converge(run, which, interface, text, check_mode=False):
    """Make the host's policy ``text`` (None: no policy, the table removed) live and on disk. Returns
    (actions, diffs)."""
    path = path_of(interface)
    current = read_text(path)
    if text is None and current is None:
        return [], []           # no policy, none loaded by us: not even a read
    table = table_of(text if text is not None else current)
    if which("nft") is None:
        if text is None:
            return [], []
        raise WireGuardError("nftables: the mesh has an access policy (wireguard_acls) but nft is not installed "
                             "on this host (package nftables)")
    live = _live_digest(run, table)
    actions, diffs = [], []
    if text is None:        # a policy this module loaded (its file is here) is gone from the plan
        if live is not None:
            actions.append("delete nftables table inet %s (no access policy)" % table)
            if not check_mode:
                run_checked(run, ["nft", "delete", "table", "inet", table])
        actions.append("remove %s" % path)
        diffs.append({"before_header": path, "after_header": path, "before": current, "after": ""})
        if not check_mode:
            remove(path)
        return actions, diffs
    wanted = loadable(text)
    match = _COMMENT.search(text)
    if current != wanted:
        actions.append("write %s" % path)
        diffs.append({"before_header": path, "after_header": path, "before": current or "", "after": wanted})
        if not check_mode:
            atomic_write(path, wanted, mode=0o600)
    if live != (match.group(1) if match else ""):
        actions.append("load the access policy into nftables table inet %s" % table)
        if not check_mode:
            run_checked(run, ["nft", "-f", "-"], data=wanted, what="nft -f (the access policy)")
    return actions, diffs
