# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VPCs (``/v2/vpcs``), found by name (DigitalOcean keeps VPC names unique in an account)."""

from __future__ import annotations

import ipaddress

from .client import DigitalOceanError, find_one
from .module import absent_result


def ensure_vpc(api, params, check_mode):
    """Make the VPC ``params['name']`` present or absent. Returns the module result.

    Region and IP range cannot change once a VPC exists: a difference is an error, never a silent no-op."""
    name = params["name"]
    current = find_one(api.paged("listing VPCs", api.client.vpcs.list, "vpcs"), name, "VPC")
    if params["state"] == "absent":
        return absent_result("VPC", "vpc", current, lambda vpc_id: api.call(
            "deleting VPC %s" % name, api.client.vpcs.delete, vpc_id=vpc_id), check_mode)

    description = params.get("description")
    if current is None:
        if not params.get("region"):
            raise DigitalOceanError("VPC %s: region is required to create it" % name)
        body = {"name": name, "region": params["region"]}
        body.update((k, params[k]) for k in ("description", "ip_range") if params.get(k) is not None)
        actions = ["create VPC %s in %s" % (name, params["region"])]
        if check_mode:
            return dict(changed=True, vpc=None, actions=actions)
        created = api.call("creating VPC %s" % name, api.client.vpcs.create, body=body, retry=False)
        return dict(changed=True, vpc=created["vpc"], actions=actions)

    _check_fixed(current, params)
    if description is None or description == current.get("description", ""):
        return dict(changed=False, vpc=current, actions=[])
    actions = ["update the description of VPC %s" % name]
    if check_mode:
        return dict(changed=True, vpc=dict(current, description=description), actions=actions)
    updated = api.call("updating VPC %s" % name, api.client.vpcs.patch, vpc_id=current["id"],
                       body={"description": description})
    return dict(changed=True, vpc=updated["vpc"], actions=actions)


def _check_fixed(current, params):
    name = current["name"]
    if params.get("region") and params["region"] != current["region"]:
        raise DigitalOceanError("VPC %s exists in %s, not in %s; a VPC cannot move: delete it or choose another"
                                " name" % (name, current["region"], params["region"]))
    if params.get("ip_range"):
        try:
            wanted = ipaddress.ip_network(params["ip_range"], strict=False)
        except ValueError:
            raise DigitalOceanError("VPC %s: ip_range %r is not a CIDR" % (name, params["ip_range"])) from None
        if str(wanted) != current["ip_range"]:
            raise DigitalOceanError("VPC %s exists with ip_range %s, not %s; the range of a VPC cannot change"
                                    % (name, current["ip_range"], wanted))
