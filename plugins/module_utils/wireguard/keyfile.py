# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's private key file: generate it with ``wg genkey``, read it, derive the public key.

The private key only ever travels between ``wg`` and the key file (and, for wg_interface, into the config
file and ``wg syncconf``'s stdin). Errors name the path, never the content."""

from __future__ import annotations

import os

from ..mesh.model import valid_key
from . import files
from .common import WireGuardError, run_checked


def public_key(run, private_key):
    """``wg pubkey`` of ``private_key`` (fed on stdin, never on the command line)."""
    out = run_checked(run, ["wg", "pubkey"], data=private_key, what="wg pubkey", echo_output=False)
    pub = (out or "").strip()
    if not valid_key(pub):
        raise WireGuardError("wg pubkey did not return a valid public key")
    return pub


def _register(key, on_secret):
    if on_secret is not None and valid_key(key):
        on_secret(key)
    return key


def generate(run, on_secret=None):
    """A fresh private key from ``wg genkey`` (its output is never echoed, not even on failure).

    ``on_secret`` (e.g. ``module.no_log_values.add``) is called with every private key this module handles."""
    out = run_checked(run, ["wg", "genkey"], what="wg genkey", echo_output=False)
    key = _register((out or "").strip(), on_secret)
    if not valid_key(key):
        raise WireGuardError("wg genkey did not return a valid key")
    return key


def read(path, on_secret=None):
    """``(key, valid)``: ``(None, False)`` when the file does not exist; the key text stripped otherwise."""
    text = files.read_text(path)
    if text is None:
        return None, False
    key = _register(text.strip(), on_secret)
    return key, valid_key(key)


def ensure(run, path, force=False, check_mode=False, on_secret=None):
    """Make sure ``path`` holds a valid private key with mode 0600.

    Returns ``{"changed", "public_key", "actions"}``; ``public_key`` is None in check mode when the key would
    be (re)generated. Refuses to overwrite a file that is not a valid key unless ``force``."""
    key, valid = read(path, on_secret)
    actions = []
    if key is not None and not valid and not force:
        raise WireGuardError("%s exists but does not hold a valid WireGuard private key; refusing to overwrite it "
                             "(set force=true to replace it)" % path)
    if key is None or force:
        actions.append("%s private key %s" % ("generate" if key is None else "regenerate", path))
        if check_mode:
            return {"changed": True, "public_key": None, "actions": actions}
        key = generate(run, on_secret)
        files.atomic_write(path, key + "\n", files.SECRET_MODE)
        return {"changed": True, "public_key": public_key(run, key), "actions": actions}
    if files.mode_of(path) != files.SECRET_MODE:
        actions.append("set mode 0600 on %s" % path)
        if not check_mode:
            os.chmod(path, files.SECRET_MODE)
    return {"changed": bool(actions), "public_key": public_key(run, key), "actions": actions}


def absent(path, check_mode=False):
    """Remove the key file; returns ``{"changed", "public_key": None, "actions"}``."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise WireGuardError("%s is a directory, not a key file" % path)
    if not os.path.lexists(path):
        return {"changed": False, "public_key": None, "actions": []}
    if not check_mode:
        files.remove(path)
    return {"changed": True, "public_key": None, "actions": ["remove %s" % path]}


def load_private_key(path, on_secret=None):
    """The private key stored at ``path`` for wg_interface. Raises WireGuardError when missing or invalid."""
    key, valid = read(path, on_secret)
    if key is None:
        raise WireGuardError("private key file %s does not exist (create it with wiremesh.multicloud.wg_key)"
                             % path)
    if not valid:
        raise WireGuardError("%s does not hold a valid WireGuard private key" % path)
    return key
