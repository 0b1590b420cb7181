# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain files a host needs (units, scripts, tables): written atomically with their mode, only when content or mode
differs; a missing parent directory is created with mode 0755. Nothing secret goes through here."""

from __future__ import annotations

import os
import stat
import tempfile

from .common import WireGuardError


def _mode(value):
    return int(value, 8) if isinstance(value, str) else int(value)


def _current(path):
    """(text or None, mode or None)."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
        return text, stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        raise WireGuardError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or type(exc).__name__))


def _write(path, text, mode):
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, 0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
        os.rename(tmp, path)
    except OSError as exc:
        raise WireGuardError("cannot write %s: %s" % (path, exc.strerror))


def converge(specs, check_mode=False):
    """``specs``: [{path, content, mode}]. Returns (changed paths, actions, diffs)."""
    changed, actions, diffs = [], [], []
    for spec in specs:
        path, text, mode = spec["path"], spec["content"], _mode(spec.get("mode", "0644"))
        before, have_mode = _current(path)
        if before == text and have_mode == mode:
            continue
        changed.append(path)
        if before != text:
            actions.append("write %s" % path)
            diffs.append({"before": before or "", "after": text, "before_header": path, "after_header": path})
        else:
            actions.append("set mode %04o on %s" % (mode, path))
        if check_mode:
            continue
        if before == text:
            os.chmod(path, mode)
        else:
            _write(path, text, mode)
    return changed, actions, diffs
