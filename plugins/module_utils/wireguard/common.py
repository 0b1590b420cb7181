# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running commands safely: errors carry scrubbed output, never key material."""

from __future__ import annotations

import re

# A WireGuard key: 32 bytes in base64 (43 characters and one "=").
KEY_RE = re.compile(r"[A-Za-z0-9+/]{43}=")
REDACTED = "<redacted>"
_MAX_OUTPUT = 2000


class WireGuardError(Exception):
    """A failure whose message is safe to show: it never contains a private or preshared key."""


def scrub(text, secrets=()):
    """``text`` with every key-shaped token and every given secret replaced by ``<redacted>``.

    Public keys are redacted too (they look the same): error texts lose a little detail, never a secret."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = KEY_RE.sub(REDACTED, text)
    if len(text) > _MAX_OUTPUT:
        text = text[:_MAX_OUTPUT] + "..."
    return text.strip()


def run_checked(run, args, data=None, what=None, secrets=(), echo_output=True):
    """Run ``args``; return stdout on success, raise WireGuardError otherwise.

    ``echo_output=False`` keeps stdout/stderr out of the error entirely (for commands that print keys)."""
    if data is None:
        rc, out, err = run(args)
    else:
        rc, out, err = run(args, data=data)
    if rc != 0:
        msg = "%s failed (rc=%s)" % (what or " ".join(args), rc)
        if echo_output:
            detail = scrub(err, secrets) or scrub(out, secrets)
            if detail:
                msg += ": " + detail
        raise WireGuardError(msg)
    return out
