# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the mesh state lives: the one choice the controller-side plugins (mesh_plan, mesh_graph, mesh_psk) and
the CLI make. Every store has ``name``, ``what`` (for messages), ``exists()``, ``raw()``, ``lock()``, ``load()``,
``save(data, encrypt)``, ``is_vaulted()`` and ``waited`` (seconds spent waiting for another run's lock)."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_state_args import S3_SPEC
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import FileStore, StateError


def s3_options(options):
    """The validated ``state_s3`` options (defaults filled, aliases resolved); StateError naming the field."""
    if not isinstance(options, dict):
        raise StateError("state_s3: must be a mapping with at least bucket and key, got %s" % type(options).__name__)
    result = ArgumentSpecValidator(S3_SPEC).validate(dict(options))
    if result.error_messages:
        raise StateError("state_s3: %s" % "; ".join(result.error_messages))
    return result.validated_parameters


def open_store(path=None, s3=None, vault=None, wait_note=None):
    """The store for ``path`` (a state file) or ``s3`` (the s3 backend's options); None when neither is given.
    Nothing is contacted yet."""
    if path and s3:
        raise StateError("state_path and state_s3 are mutually exclusive: the state lives in one place")
    if s3:
        from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_s3 import (  # pylint: disable=import-outside-toplevel
            S3Store)
        return S3Store(s3_options(s3), vault, wait_note)
    if path:
        return FileStore(path, vault)
    return None
