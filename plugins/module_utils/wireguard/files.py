# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret files: read them, write them atomically with mode 0600, fix their mode."""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from .common import WireGuardError

SECRET_MODE = 0o600
DIR_MODE = 0o700


def read_text(path):
    """The file's text, or None when it does not exist. Raises WireGuardError (naming only the path)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise WireGuardError("cannot access %s: %s" % (path, exc.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise WireGuardError("%s exists but is not a regular file" % path)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise WireGuardError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or type(exc).__name__))


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def ensure_dir(path):
    """Create the parent directory of ``path`` with mode 0700 if it is missing; True when created."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(directory):
        return False
    old = os.umask(0o077)
    try:
        os.makedirs(directory, DIR_MODE)
    finally:
        os.umask(old)
    os.chmod(directory, DIR_MODE)
    return True


def atomic_write(path, text, mode=SECRET_MODE):
    """Write ``text`` to ``path`` through a temp file (mode 0600 from the start) in the same directory, then
    rename it into place: readers see the old or the new content, never a partial or world-readable file."""
    ensure_dir(path)
    directory = os.path.dirname(os.path.abspath(path))
    old = os.umask(0o077)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    finally:
        os.umask(old)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise WireGuardError("cannot write %s: %s" % (path, exc.strerror))
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise WireGuardError("cannot remove %s: %s" % (path, exc.strerror))


def replace(src, dst):
    """Move ``src`` over ``dst`` atomically (same directory), with mode 0600."""
    try:
        os.chmod(src, SECRET_MODE)
        os.replace(src, dst)
    except OSError as exc:
        raise WireGuardError("cannot move %s to %s: %s" % (src, dst, exc.strerror))
