# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wiremesh.multicloud demo workload: an edge MJPEG camera, an object detector and the web app between them."""

__version__ = "0.2.0"
