# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh state file on the controller: locked against concurrent runs, written atomically with mode
0600 after keeping the previous version as ``<path>.bak``, and refused (never regenerated) when damaged.

Optionally Ansible Vault encrypted (the preshared keys are its only secrets): written encrypted when asked,
kept encrypted once it is (never silently written back in clear), read with the vault secrets the run was given
(``--ask-vault-pass``, ``--vault-password-file``, ``--vault-id``)."""

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


NO_SECRET = ("give the run the vault password (--ask-vault-pass, --vault-password-file or --vault-id; for the "
             "wiremesh CLI --vault-password-file or $ANSIBLE_VAULT_PASSWORD_FILE)")


VAULT_HEADER = b"$ANSIBLE_VAULT;"


def is_encrypted(data):
    return data.startswith(VAULT_HEADER)


class Vault:
    """The vault secrets of a run (``loader._vault`` of an action or lookup plugin), for the state file.
    Ansible's errors and vault are imported only when a file is encrypted or to be: importing them sets up the
    controller's configuration and warning handling, which changes how modules run in-process (unit tests)
    report their warnings."""

    def __init__(self, vault_lib=None):
        self.lib = vault_lib

    @classmethod
    def of(cls, loader):
        return cls(getattr(loader, "_vault", None))

    @property
    def secrets(self):
        return list(getattr(self.lib, "secrets", None) or [])

    def decrypt(self, what, data):
        """``what``: "state file PATH", "state object s3://..." (messages name it)."""
        from ansible.errors import AnsibleError   # pylint: disable=import-outside-toplevel
        if not self.secrets:
            raise StateError("the %s is vault-encrypted: %s" % (what, NO_SECRET))
        try:
            return self.lib.decrypt(data).decode("utf-8")
        except (AnsibleError, UnicodeDecodeError) as exc:
            raise StateError("cannot decrypt the %s (wrong vault password?): %s" % (what, exc))

    def encrypt(self, what, text):
        from ansible import constants as C   # pylint: disable=import-outside-toplevel
        from ansible.errors import AnsibleError   # pylint: disable=import-outside-toplevel
        from ansible.parsing.vault import match_encrypt_secret   # pylint: disable=import-outside-toplevel
        try:
            found = match_encrypt_secret(self.secrets, C.DEFAULT_VAULT_ENCRYPT_IDENTITY) if self.secrets else None
        except AnsibleError as exc:     # vault_encrypt_identity names a vault id the run was not given
            raise StateError("cannot encrypt the %s: %s" % (what, exc))
        if not found:
            raise StateError("the %s is to be vault-encrypted, but the run has no vault secret: %s" % (what, NO_SECRET))
        vault_id, secret = found[0], found[1]   # (vault id, VaultSecret)
        return self.lib.encrypt(text, secret=secret, vault_id=vault_id).decode("ascii")


def decode(what, data, vault):
    """(text, encrypted) of a state document's bytes."""
    if is_encrypted(data):
        return (vault or Vault()).decrypt(what, data), True
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError as exc:
        raise StateError("cannot read the %s: %s" % (what, exc))


def parse(what, text, hint):
    """The checked state in ``text`` (an empty state for None); damaged state is refused with ``hint``."""
    if text is None:
        return mesh_state.empty()
    try:
        return mesh_state.check(json.loads(text))
    except ValueError as exc:
        raise StateError("the %s is damaged (%s); %s" % (what, exc, hint))


def dumps(data):
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _read(path, vault):
    """(text, encrypted) of the file at ``path``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise StateError("cannot read the state file %s: %s" % (path, exc))
    return decode("state file %s" % path, data, vault)


def is_vaulted(path):
    """True when the file at ``path`` exists and is vault-encrypted."""
    try:
        with open(path, "rb") as handle:
            return is_encrypted(handle.read(64))
    except OSError:
        return False


def load(path, vault=None):
    """The state in ``path``, or an empty state when the file does not exist yet."""
    if not os.path.exists(path):
        return mesh_state.empty()
    backup = path + ".bak"
    hint = ("the previous good copy is %s: restore it, or move %s away to start over (that renumbers the mesh)"
            % (backup, path)) if os.path.exists(backup) else "move it away to start over (that renumbers the mesh)"
    text, _encrypted = _read(path, vault)
    return parse("state file %s" % path, text, hint)


def save(path, data, vault=None, encrypt=False):
    """Write ``data`` if it differs from what is there, vault-encrypted when ``encrypt`` or when the file already
    is; returns True when the file changed (a clear file that is to be encrypted changes)."""
    text = dumps(data)
    what = "state file %s" % path
    if os.path.exists(path):
        old, encrypted = _read(path, vault)
        encrypt = encrypt or encrypted
        if old == text and encrypted == encrypt:
            return False
        try:
            if encrypt and not encrypted:     # the clear copy must not survive as the backup
                atomic_write(path + ".bak", (vault or Vault()).encrypt(what, old))
            else:
                shutil.copy2(path, path + ".bak")
                os.chmod(path + ".bak", 0o600)
        except WireGuardError as exc:
            raise StateError(str(exc))
    try:
        atomic_write(path, (vault or Vault()).encrypt(what, text) if encrypt else text)
    except WireGuardError as exc:
        raise StateError(str(exc))
    return True


class FileStore:
    """The state file behind the same interface as the S3 backend (``state_s3.S3Store``)."""

    def __init__(self, path, vault=None):
        self.name = path
        self.what = "state file %s" % path
        self.vault = vault
        self.waited = 0.0

    def exists(self):
        return os.path.exists(self.name)

    def raw(self):
        try:
            with open(self.name, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def is_vaulted(self):
        return is_vaulted(self.name)

    def lock(self):
        return locked(self.name)

    def load(self):
        return load(self.name, self.vault)

    def save(self, data, encrypt=False):
        return save(self.name, data, self.vault, encrypt)
