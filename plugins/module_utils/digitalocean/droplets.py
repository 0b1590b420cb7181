# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Droplets: list (for the info module and the inventory plugin), find by name within a tag, create, wait for
``active``, tag and delete."""

from __future__ import annotations

from .client import DigitalOceanError, wait_until

CREATE_FIELDS = ("name", "region", "size", "image", "ssh_keys", "vpc_uuid", "tags", "user_data", "monitoring",
                 "ipv6")


def addresses(droplet):
    """``public_ipv4``, ``private_ipv4`` and ``public_ipv6`` of a droplet (``None`` while not assigned yet)."""
    found = {"public_ipv4": None, "private_ipv4": None, "public_ipv6": None}
    networks = droplet.get("networks") or {}
    for net in networks.get("v4") or []:
        key = "public_ipv4" if net.get("type") == "public" else "private_ipv4"
        found[key] = found[key] or net.get("ip_address")
    for net in networks.get("v6") or []:
        if net.get("type") == "public":
            found["public_ipv6"] = found["public_ipv6"] or net.get("ip_address")
    return found


def with_addresses(droplet):
    """The droplet as a plain dict with the address keys of :func:`addresses` added."""
    return dict(droplet, **addresses(droplet)) if droplet else droplet


def list_droplets(api, tag_name=None, name=None):
    """Every droplet (GPU droplets included), or those carrying ``tag_name``; optionally only those named
    ``name`` (exact, case-insensitive). Plain dicts with ``public_ipv4``/``private_ipv4``/``public_ipv6``, by id."""
    listing = api.client.droplets.list
    if tag_name:
        found = api.paged("listing droplets tagged %s" % tag_name, listing, "droplets", tag_name=tag_name)
    else:
        # the API leaves GPU droplets out unless asked for type=gpus
        filters = {"name": name} if name else {}
        found = api.paged("listing droplets", listing, "droplets", **filters)
        found += api.paged("listing GPU droplets", listing, "droplets", type="gpus", **filters)
    if name:
        found = [d for d in found if d.get("name", "").lower() == name.lower()]
    unique = {d["id"]: d for d in found}
    return [with_addresses(unique[i]) for i in sorted(unique)]


def get_droplet(api, droplet_id):
    body = api.call("reading droplet %s" % droplet_id, api.client.droplets.get, droplet_id=droplet_id,
                    missing_ok=True)
    return body["droplet"] if body else None


def wait_active(api, droplet, timeout):
    """Poll until the droplet is ``active`` and has its public IPv4 address; the droplet as it is then."""
    return wait_until("droplet %s (%s) to become active" % (droplet["name"], droplet["id"]),
                      lambda: get_droplet(api, droplet["id"]) or {},
                      lambda d: d.get("status") == "active" and addresses(d)["public_ipv4"], timeout)


def _scope(params):
    tags = params.get("tags") or []
    return tags[0] if tags else None


def find(api, params):
    """The droplets named ``params['name']`` that carry the scope tag (the first of ``tags``) if there is one."""
    return list_droplets(api, tag_name=_scope(params), name=params["name"])


def _create_body(params):
    body = {k: params[k] for k in CREATE_FIELDS if params.get(k) not in (None, [])}
    if "ssh_keys" in body:
        body["ssh_keys"] = [int(k) if str(k).isdigit() else k for k in body["ssh_keys"]]
    if str(body.get("image", "")).isdigit():  # an image id is an integer in the API, a slug a string
        body["image"] = int(body["image"])
    return body


def _add_tags(api, droplet, tags):
    """Tag the droplet; a tag that does not exist yet (the API answers 404) is created first."""
    resources = {"resources": [{"resource_id": str(droplet["id"]), "resource_type": "droplet"}]}
    for tag in tags:
        what = "tagging droplet %s with %s" % (droplet["name"], tag)
        try:
            api.call(what, api.client.tags.assign_resources, tag_id=tag, body=resources)
        except DigitalOceanError as err:
            if err.status != 404:
                raise
            api.call("creating tag %s" % tag, api.client.tags.create, body={"name": tag})
            api.call(what, api.client.tags.assign_resources, tag_id=tag, body=resources)


def _drift_warnings(droplet, params):
    seen = {"region": (droplet.get("region") or {}).get("slug"), "size": droplet.get("size_slug"),
            "image": (droplet.get("image") or {}).get("slug")}
    image_id = str((droplet.get("image") or {}).get("id"))
    return ["droplet %s exists with %s %s, not %s; it is left as it is" % (droplet["name"], key, seen[key], params[key])
            for key in ("region", "size", "image")
            if params.get(key) and params[key] != seen[key] and not (key == "image" and params[key] == image_id)]


def _present(api, params, matches, check_mode):
    name = params["name"]
    if matches and params["unique_name"]:
        if len(matches) > 1:
            raise DigitalOceanError("%d droplets are named %s%s (ids %s): remove the extra ones, or set"
                                    " unique_name=false" % (len(matches), name, _where(params),
                                                            ", ".join(str(d["id"]) for d in matches)))
        droplet = matches[0]
        missing = [t for t in params.get("tags") or [] if t not in droplet.get("tags", [])]
        actions = ["tag droplet %s with %s" % (name, t) for t in missing]
        if missing and not check_mode:
            _add_tags(api, droplet, missing)
            droplet = get_droplet(api, droplet["id"]) or droplet
        if params["wait"] and not check_mode and droplet.get("status") == "new":
            droplet = wait_active(api, droplet, params["wait_timeout"])
        return dict(changed=bool(missing), droplet=with_addresses(droplet), actions=actions,
                    warnings=_drift_warnings(droplet, params))

    absent = [k for k in ("region", "size", "image") if not params.get(k)]
    if absent:
        raise DigitalOceanError("droplet %s does not exist and %s %s needed to create it"
                                % (name, " and ".join(absent), "is" if len(absent) == 1 else "are"))
    actions = ["create droplet %s in %s (%s, %s)" % (name, params["region"], params["size"], params["image"])]
    if check_mode:
        return dict(changed=True, droplet=None, actions=actions, warnings=[])
    created = api.call("creating droplet %s" % name, api.client.droplets.create, body=_create_body(params),
                       retry=False)["droplet"]
    if params["wait"]:
        created = wait_active(api, created, params["wait_timeout"])
    return dict(changed=True, droplet=with_addresses(created), actions=actions, warnings=[])


def _absent(api, params, matches, check_mode):
    if len(matches) > 1 and params["unique_name"]:
        raise DigitalOceanError("%d droplets are named %s%s (ids %s): refusing to guess which to delete; set"
                                " unique_name=false to delete them all"
                                % (len(matches), params["name"], _where(params),
                                   ", ".join(str(d["id"]) for d in matches)))
    actions = ["delete droplet %s (%s)" % (d["name"], d["id"]) for d in matches]
    if not check_mode:
        for droplet in matches:
            api.call("deleting droplet %s" % droplet["name"], api.client.droplets.destroy, droplet_id=droplet["id"],
                     missing_ok=True)
        for droplet in matches if params["wait"] else []:
            wait_until("droplet %s (%s) to be deleted" % (droplet["name"], droplet["id"]),
                       lambda d=droplet: get_droplet(api, d["id"]), lambda d: d is None, params["wait_timeout"])
    return dict(changed=bool(matches), droplet=matches[0] if len(matches) == 1 else None, actions=actions,
                warnings=[])


def _where(params):
    scope = _scope(params)
    return " with tag %s" % scope if scope else ""


def ensure_droplet(api, params, check_mode):
    """Make the droplet ``params['name']`` present or absent. Returns the module result (with ``warnings``)."""
    if params["state"] == "present" and not params["unique_name"]:
        return _present(api, params, [], check_mode)
    matches = find(api, params)
    if params["state"] == "absent":
        return _absent(api, params, matches, check_mode)
    return _present(api, params, matches, check_mode)
