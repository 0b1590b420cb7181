# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-side WireGuard helpers for the wg_key and wg_interface modules.

Every helper that runs a program takes ``run``: a callable with the signature of
``AnsibleModule.run_command`` (``run(args, data=None) -> (rc, stdout, stderr)``), so the logic is unit-testable
with recorded outputs. Secrets (private and preshared keys) never leave these helpers in return values or
exception texts.
"""
