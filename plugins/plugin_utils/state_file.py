# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh state file on the controller: locked against concurrent runs, written atomically with mode
0600 after keeping the previous version as ``<path>.bak``, and refused (never regenerated) when damaged."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import state as mesh_state
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.files import atomic_write, ensure_dir


class StateError(Exception):
    pass


@contextlib.contextmanager
def locked(path, timeout_hint="another run"):
    """Hold an exclusive lock on ``<path>.lock`` while planning and writing."""
    ensure_dir(path)
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError("the state file %s is locked by %s; wait for it to finish" % (path, timeout_hint))
        yield
    finally:
        os.close(fd)


def load(path):
    """The state in ``path``, or an empty state when the file does not exist yet."""
    if not os.path.exists(path):
        return mesh_state.empty()
    backup = path + ".bak"
    hint = ("the previous good copy is %s: restore it, or move %s away to start over (that renumbers the mesh)"
            % (backup, path)) if os.path.exists(backup) else "move it away to start over (that renumbers the mesh)"
    try:
        with open(path, encoding="utf-8") as handle:
            return mesh_state.check(json.load(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError("cannot read the state file %s: %s" % (path, exc))
    except ValueError as exc:
        raise StateError("the state file %s is damaged (%s); %s" % (path, exc, hint))


def save(path, data):
    """Write ``data`` if it differs from what is there; returns True when the file changed."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
        shutil.copy2(path, path + ".bak")
        os.chmod(path + ".bak", 0o600)
    try:
        atomic_write(path, text)
    except WireGuardError as exc:
        raise StateError(str(exc))
    return True
