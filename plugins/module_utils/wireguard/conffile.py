# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wg-quick config file on the host: render it (through mesh.wgconf), redact it for diffs, write it."""

from __future__ import annotations

import os
import re

from ..mesh import wgconf
from . import files
from .common import REDACTED

_SECRET_LINE = re.compile(r"^([ \t]*(?:PrivateKey|PresharedKey)[ \t]*=[ \t]*)(\S[^\n]*?)[ \t]*$",
                          re.IGNORECASE | re.MULTILINE)


def desired_config(config, mtu=None):
    """The node config dict with the module's ``mtu`` option (if given) set on the interface. A shallow copy: the
    top level, the interface and the peer list are new, the peer dicts are the caller's and are never changed (a
    deep copy of a full mesh's config cost more than rendering it)."""
    wanted = dict(config or {})
    wanted["interface"] = dict(wanted.get("interface") or {})
    wanted["peers"] = list(wanted.get("peers") or [])
    if mtu is not None:
        wanted["interface"]["mtu"] = mtu
    return wanted


def render(config, private_key=None, preshared_keys=None):
    return wgconf.render(config, private_key=private_key, preshared_keys=preshared_keys)


def redact(text):
    """``text`` with the values of PrivateKey and PresharedKey lines replaced by ``<redacted>``."""
    if not text:
        return text or ""
    return _SECRET_LINE.sub(lambda m: m.group(1) + REDACTED, text)


def with_listen_port(text, port):
    """``text`` with ``ListenPort = port`` added to [Interface]: for ``wg syncconf`` when the config leaves the
    port out, since wireguard-go moves to a random port on every syncconf without one (measured)."""
    out, done = [], False
    for line in text.splitlines():
        out.append(line)
        if not done and line.strip().lower() == "[interface]":
            out.append("ListenPort = %d" % int(port))
            done = True
    return "\n".join(out) + "\n"


def peer_names(text):
    """Public key -> name (from the ``# name`` comments) of a config file, {} when it does not parse."""
    if not text:
        return {}
    try:
        parsed = wgconf.parse(text)
    except ValueError:
        return {}
    return dict((p["publickey"], p["name"]) for p in parsed["peers"] if p.get("publickey") and p.get("name"))


def sync(path, text, check_mode=False):
    """Write ``text`` to ``path`` (mode 0600, atomically) when the content differs; fix the mode otherwise.

    Returns ``(actions, before)`` where ``before`` is the old content ('' when there was no file)."""
    before = files.read_text(path)
    actions = []
    if before != text:
        actions.append("write %s" % path)
        if not check_mode:
            files.atomic_write(path, text, files.SECRET_MODE)
    elif files.mode_of(path) != files.SECRET_MODE:
        actions.append("set mode 0600 on %s" % path)
        if not check_mode:
            os.chmod(path, files.SECRET_MODE)
    return actions, before or ""
