# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloud side of the collection: what the user declares (spec), and how provider records become hosts (records).
Pure: no Ansible imports, no IO."""
