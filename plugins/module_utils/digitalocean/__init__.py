# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DigitalOcean helpers over the official ``pydo`` client: client construction, one error text per failure,
paging, waiting, and the find/ensure logic of the ``do_*`` modules."""
