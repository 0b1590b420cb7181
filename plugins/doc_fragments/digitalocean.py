# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by the DigitalOcean modules of wiremesh.multicloud."""

    DOCUMENTATION = r"""
options:
  token:
    description:
      - DigitalOcean API token (a personal access token with read and write scopes for the resources managed).
      - When not set, the first of the environment variables E(DIGITALOCEAN_ACCESS_TOKEN),
        E(DIGITALOCEAN_TOKEN) and E(DO_API_TOKEN) that is set is used.
      - The token is never logged nor returned; errors never contain it.
    type: str
    aliases: [oauth_token, api_token]
  base_url:
    description:
      - Endpoint of the DigitalOcean API, without C(/v2) (a trailing C(/v2) is removed).
      - Plain C(http://) is accepted only for a loopback address (an API emulator in tests); anything else must
        be C(https://), so that the token never travels unencrypted.
      - When not set, the environment variable E(DIGITALOCEAN_API_URL) is used if it is set.
    type: str
    default: https://api.digitalocean.com
  timeout:
    description:
      - Seconds to wait for the API to connect and to answer one request (retries of failed reads included).
    type: int
    default: 60
attributes:
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: The module runs where C(pydo) is installed and the API is reachable, usually the controller.
requirements:
  - pydo (the official DigitalOcean Python client) on the host that runs the module (usually the controller)
notes:
  - "Errors are reported as one line that starts with C(DigitalOcean:), then the HTTP status, the API's error id
    and its message, and what was being done, for example
    C(DigitalOcean: 422 unprocessable_entity: You specified an invalid region for Droplet creation. (creating droplet web-1))."
"""
