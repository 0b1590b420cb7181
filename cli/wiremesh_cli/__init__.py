# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``wiremesh`` command line: showconf, graph and status of a wiremesh.multicloud mesh."""

__version__ = "0.1.0"
