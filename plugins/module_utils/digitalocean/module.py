# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the do_* modules share: their API options, the AnsibleModule, running an ensure function, results."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from .client import BASE_URL_ENV, DEFAULT_BASE_URL, HAS_PYDO, TOKEN_ENV, Api, DigitalOceanError

STATE = dict(type="str", choices=["present", "absent"], default="present")


def api_argument_spec():
    """The options every module shares (documented in the wiremesh.multicloud.digitalocean doc fragment)."""
    return dict(
        token=dict(type="str", no_log=True, aliases=["oauth_token", "api_token"],
                   fallback=(env_fallback, list(TOKEN_ENV))),
        base_url=dict(type="str", default=DEFAULT_BASE_URL, fallback=(env_fallback, [BASE_URL_ENV])),
        timeout=dict(type="int", default=60),
    )


def api_from_module(module):
    """An Api for the module's options; fails the module with one clear message when it cannot be made."""
    if not HAS_PYDO:
        module.fail_json(msg="DigitalOcean: " + missing_required_lib("pydo"))
    try:
        return Api(module.params["token"], module.params["base_url"], module.params["timeout"])
    except DigitalOceanError as err:
        module.fail_json(msg=str(err))
    return None  # not reached: fail_json exits


def run_module(module, action):
    """Build the Api, run ``action(api)`` and exit the module with its result (``warnings`` become warnings);
    a DigitalOceanError fails the module with its message."""
    api = api_from_module(module)
    try:
        result = action(api)
    except DigitalOceanError as err:
        module.fail_json(msg=str(err))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


def absent_result(kind, key, current, delete, check_mode):
    """Delete ``current`` (found by name; ``None`` when there is none) unless in check mode: the module result.

    ``delete(id)`` makes the API call."""
    if current is None:
        return {"changed": False, key: None, "actions": []}
    if not check_mode:
        delete(current["id"])
    return {"changed": True, key: current, "actions": ["delete %s %s (%s)" % (kind, current["name"], current["id"])]}


def new_module(options, **kwargs):
    """An AnsibleModule with the shared API options plus ``options``, supporting check mode."""
    return AnsibleModule(argument_spec=dict(api_argument_spec(), **options), supports_check_mode=True, **kwargs)
