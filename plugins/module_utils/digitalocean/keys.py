# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH keys of the account (``/v2/account/keys``), found by name."""

from __future__ import annotations

import base64
import binascii
import hashlib

from .client import DigitalOceanError, find_one
from .module import absent_result


def fingerprint(public_key):
    """The fingerprint DigitalOcean shows for an OpenSSH public key: MD5 of the key blob, ``aa:bb:...``."""
    fields = (public_key or "").split()
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (IndexError, binascii.Error):
        raise DigitalOceanError("public_key is not an OpenSSH public key ('<type> <base64> [comment]')") from None
    if not blob[4:].startswith(fields[0].encode()):
        raise DigitalOceanError("public_key: the key data does not match its type %s" % fields[0])
    digest = hashlib.md5(blob).hexdigest()  # nosec - DigitalOcean's fingerprint format, not a security use
    return ":".join(a + b for a, b in zip(digest[::2], digest[1::2]))


def ensure_ssh_key(api, params, check_mode):
    """Make the key ``params['name']`` present (with ``params['public_key']``) or absent. Returns the module
    result."""
    name, public_key = params["name"], params["public_key"]
    wanted = fingerprint(public_key) if params["state"] == "present" else None
    keys = api.paged("listing SSH keys", api.client.ssh_keys.list, "ssh_keys")
    current = find_one(keys, name, "SSH key")
    if params["state"] == "absent":
        return absent_result("SSH key", "ssh_key", current, lambda key_id: api.call(
            "deleting SSH key %s" % name, api.client.ssh_keys.delete, ssh_key_identifier=key_id), check_mode)

    if current is not None:
        if current["fingerprint"] != wanted:
            raise DigitalOceanError("SSH key %s exists with another public key (fingerprint %s, not %s): delete it"
                                    " first (state=absent) or choose another name"
                                    % (name, current["fingerprint"], wanted))
        return dict(changed=False, ssh_key=current, actions=[])
    other = next((k for k in keys if k["fingerprint"] == wanted), None)
    if other is not None:
        raise DigitalOceanError("SSH key %s: this public key (fingerprint %s) is already uploaded as %r (id %s);"
                                " DigitalOcean keeps a public key once per account" % (name, wanted, other["name"],
                                                                                       other["id"]))
    actions = ["create SSH key %s (%s)" % (name, wanted)]
    if check_mode:
        return dict(changed=True, ssh_key=None, actions=actions)
    created = api.call("creating SSH key %s" % name, api.client.ssh_keys.create,
                       body={"name": name, "public_key": public_key.strip()}, retry=False)
    return dict(changed=True, ssh_key=created["ssh_key"], actions=actions)
