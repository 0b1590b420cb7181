"""/v2/droplets, droplet actions and /v2/actions of the emulator.

A droplet is ``new`` (locked, no addresses yet) until ``boot_seconds`` have passed, then ``active`` with a public
address from the documentation ranges and a private one from its VPC. Time is looked at when a request comes:
nothing runs in the background."""

import ipaddress
import itertools

from . import catalog
from .core import (HOSTNAME_MAX, HOSTNAME_RE, check_bool, check_tags, ensure_tags, not_found, paginate, public,
                   timestamp, unprocessable)
from .network import default_vpc

PUBLIC_POOL = [ipaddress.ip_address(a) for net in ("203.0.113.0/24", "198.51.100.0/24")
               for a in list(ipaddress.ip_network(net).hosts())[1:]]
ACTION_TYPES = {"power_on": "active", "power_off": "off", "shutdown": "off", "reboot": "active",
                "power_cycle": "active", "enable_ipv6": None, "rename": None}
MAX_USER_DATA = 64 * 1024


def _refresh(state):
    """Finish the boots and actions whose time has come."""
    now = state.now()
    for droplet in state.droplets.values():
        if droplet["status"] == "new" and now >= droplet["_ready_at"]:
            droplet.update(status="active", locked=False, networks=droplet["_networks"])
    for action in state.actions.values():
        if action["status"] == "in-progress" and now >= action["_done_at"]:
            action.update(status="completed", completed_at=timestamp())


def _droplet(state, req):
    droplet_id = req.params["droplet"]
    droplet = state.droplets.get(int(droplet_id)) if droplet_id.isdigit() else None
    if droplet is None:
        raise not_found()
    return droplet


def _view(droplet):
    return dict(public(droplet), tags=list(droplet["tags"]))


def _action(state, kind, droplet, done_after):
    action = {"id": state.next_id("action"), "status": "in-progress", "type": kind, "started_at": timestamp(),
              "completed_at": None, "resource_id": droplet["id"], "resource_type": "droplet",
              "region": droplet["region"], "region_slug": droplet["region"]["slug"],
              "_done_at": state.now() + done_after}
    state.actions[action["id"]] = action
    return action


def _action_link(req, action, rel):
    return {"id": action["id"], "rel": rel, "href": "%s/v2/actions/%d" % (req.base_url, action["id"])}


# --- validation of a create request ----------------------------------------------------------------------

def _valid_name(name):
    return isinstance(name, str) and len(name) <= HOSTNAME_MAX and bool(HOSTNAME_RE.match(name))


def _names(body):
    if body.get("names") is not None:
        names = body["names"]
        if not isinstance(names, list) or not 1 <= len(names) <= 10:
            raise unprocessable("names must be an array of 1 to 10 Droplet names.")
    elif body.get("name") is not None:
        names = [body["name"]]
    else:
        raise unprocessable("You must specify a name (or names) for the Droplet.")
    for name in names:
        if not _valid_name(name):
            raise unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
    return names


def _placement(body):
    size = catalog.SIZES.get(body.get("size"))
    if size is None:
        raise unprocessable("You specified an invalid size for Droplet creation.")
    if body.get("region") is None:
        region = catalog.REGIONS[size["regions"][0]]
    else:
        region = catalog.find_region(body["region"])
        if region is None:
            raise unprocessable("You specified an invalid region for Droplet creation.")
    if region["slug"] not in size["regions"]:
        raise unprocessable("Size is not available in this region.")
    image = catalog.find_image(body.get("image"))
    if image is None or region["slug"] not in image["regions"]:
        raise unprocessable("You specified an invalid image for Droplet creation.")
    return region, size, image


def _ssh_keys(state, refs):
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise unprocessable("ssh_keys must be an array of key ids or fingerprints.")
    for ref in refs:
        if not any(ref in (k["id"], str(k["id"]), k["fingerprint"]) for k in state.ssh_keys.values()):
            raise unprocessable("One or more of the SSH keys you specified is invalid: %s" % (ref,))
    return refs


def _vpc_for(state, body, region):
    vpc_uuid = body.get("vpc_uuid")
    if vpc_uuid is None:
        return default_vpc(state, region["slug"])
    vpc = state.vpcs.get(vpc_uuid)
    if vpc is None:
        raise unprocessable("The VPC %s does not exist." % vpc_uuid)
    if vpc["region"] != region["slug"]:
        raise unprocessable("The VPC %s is in %s, not in the Droplet's region %s."
                            % (vpc_uuid, vpc["region"], region["slug"]))
    return vpc


def _addresses(state, vpc, ipv6):
    used_public = {d["_public"] for d in state.droplets.values()}
    used_private = {d["_private"] for d in state.droplets.values()}
    public_ip = next((a for a in PUBLIC_POOL if a not in used_public), None)
    network = ipaddress.ip_network(vpc["ip_range"])
    private_ip = next((a for a in itertools.islice(network.hosts(), 1, None) if a not in used_private), None)
    if public_ip is None or private_ip is None:
        raise unprocessable("No free IP address is left for the Droplet in %s." % vpc["name"])
    public_net = ipaddress.ip_network("%s/24" % public_ip, strict=False)
    networks = {"v4": [
        {"ip_address": str(public_ip), "netmask": "255.255.255.0", "gateway": str(public_net.network_address + 1),
         "type": "public"},
        {"ip_address": str(private_ip), "netmask": str(network.netmask), "gateway": str(network.network_address + 1),
         "type": "private"}], "v6": []}
    if ipv6:
        address = ipaddress.ip_address("2001:db8:%x::2" % (int(public_ip) & 0xffff))
        networks["v6"].append({"ip_address": str(address), "netmask": 64, "gateway": str(address - 1),
                               "type": "public"})
    return public_ip, private_ip, networks


def _new_droplet(state, name, placement, vpc, flags):
    region, size, image = placement
    public_ip, private_ip, networks = _addresses(state, vpc, flags["ipv6"])
    features = ["private_networking"] + [f for f in ("backups", "ipv6", "monitoring") if flags[f]]
    droplet = {
        "id": state.next_id("droplet"), "name": name, "memory": size["memory"], "vcpus": size["vcpus"],
        "disk": size["disk"], "locked": True, "status": "new", "kernel": None, "created_at": timestamp(),
        "features": features, "backup_ids": [], "next_backup_window": None, "snapshot_ids": [], "image": image,
        "volume_ids": [], "size": size, "size_slug": size["slug"], "networks": {"v4": [], "v6": []},
        "region": region, "tags": list(flags["tags"]), "vpc_uuid": vpc["id"],
        "_public": public_ip, "_private": private_ip, "_networks": networks,
        "_gpu": catalog.is_gpu_size(size["slug"]), "_ready_at": state.now() + state.boot_seconds}
    state.droplets[droplet["id"]] = droplet
    for tag in droplet["tags"]:
        state.tags[tag]["_last_droplet"] = droplet["id"]
    return droplet


def create_droplets(state, req):
    body = req.json()
    names = _names(body)
    placement = _placement(body)
    flags = {f: check_bool(body, f) for f in ("backups", "ipv6", "monitoring", "with_droplet_agent")}
    flags["tags"] = check_tags(body.get("tags"))
    _ssh_keys(state, body.get("ssh_keys"))
    user_data = body.get("user_data")
    if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > MAX_USER_DATA):
        raise unprocessable("user_data must be plain text of at most 64 KiB.")
    vpc = _vpc_for(state, body, placement[0])
    if len(state.droplets) + len(names) > state.droplet_limit:
        raise unprocessable("creating this/these droplet(s) will exceed your droplet limit")
    ensure_tags(state, flags["tags"])
    created = [_new_droplet(state, name, placement, vpc, flags) for name in names]
    actions = [_action(state, "create", d, state.boot_seconds) for d in created]
    if "names" in body:
        links = [_action_link(req, a, "multiple_create") for a in actions]
        return 202, {"droplets": [_view(d) for d in created], "links": {"actions": links}}
    return 202, {"droplet": _view(created[0]), "links": {"actions": [_action_link(req, actions[0], "create")]}}


# --- the other droplet endpoints -------------------------------------------------------------------------

def list_droplets(state, req):
    _refresh(state)
    tag, name, kind = req.query.get("tag_name"), req.query.get("name"), req.query.get("type")
    if tag is not None and (name is not None or kind is not None):
        raise unprocessable("tag_name cannot be combined with name or type.")
    if kind not in (None, "droplets", "gpus"):
        raise unprocessable("type must be droplets or gpus.")
    droplets = sorted(state.droplets.values(), key=lambda d: d["id"])
    if tag is not None:
        droplets = [d for d in droplets if tag in d["tags"]]
    else:
        droplets = [d for d in droplets if d["_gpu"] == (kind == "gpus")]
    if name is not None:  # exact, case-insensitive (host names)
        droplets = [d for d in droplets if d["name"].lower() == name.lower()]
    return 200, paginate(req, [_view(d) for d in droplets], "droplets")


def get_droplet(state, req):
    _refresh(state)
    return 200, {"droplet": _view(_droplet(state, req))}


def _delete(state, droplet):
    del state.droplets[droplet["id"]]
    for firewall in state.firewalls.values():
        if droplet["id"] in firewall["droplet_ids"]:
            firewall["droplet_ids"].remove(droplet["id"])


def delete_droplet(state, req):
    _delete(state, _droplet(state, req))
    return 204, None


def delete_droplets_by_tag(state, req):
    tag = req.query.get("tag_name")
    if not tag:
        raise unprocessable("tag_name is required to delete Droplets by tag.")
    if tag not in state.tags:
        raise not_found()
    for droplet in [d for d in state.droplets.values() if tag in d["tags"]]:
        _delete(state, droplet)
    return 204, None


def post_action(state, req):
    _refresh(state)
    droplet = _droplet(state, req)
    body = req.json()
    kind = body.get("type")
    if kind not in ACTION_TYPES:
        raise unprocessable("%r is not a supported action type." % (kind,))
    if droplet["locked"]:
        raise unprocessable("Droplet already has a pending event.")
    if kind == "rename":
        name = body.get("name")
        if not _valid_name(name):
            raise unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        droplet["name"] = name
    if ACTION_TYPES[kind]:
        droplet["status"] = ACTION_TYPES[kind]
    return 201, {"action": public(_action(state, kind, droplet, state.boot_seconds))}


def list_droplet_actions(state, req):
    _refresh(state)
    droplet_id = _droplet(state, req)["id"]
    actions = [public(a) for a in state.actions.values() if a["resource_id"] == droplet_id]
    return 200, paginate(req, actions, "actions")


def _get_action(state, action_id, droplet_id=None):
    _refresh(state)
    action = state.actions.get(int(action_id)) if action_id.isdigit() else None
    if action is None or droplet_id not in (None, action["resource_id"]):
        raise not_found()
    return 200, {"action": public(action)}


def get_droplet_action(state, req):
    return _get_action(state, req.params["action"], _droplet(state, req)["id"])


def list_actions(state, req):
    _refresh(state)
    return 200, paginate(req, [public(a) for a in sorted(state.actions.values(), key=lambda a: -a["id"])],
                         "actions")


def get_action(state, req):
    return _get_action(state, req.params["action"])


DROPLET = r"/v2/droplets/(?P<droplet>[^/]+)"
ROUTES = [
    ("GET", r"/v2/droplets", list_droplets),
    ("POST", r"/v2/droplets", create_droplets),
    ("DELETE", r"/v2/droplets", delete_droplets_by_tag),
    ("GET", DROPLET, get_droplet),
    ("DELETE", DROPLET, delete_droplet),
    ("GET", DROPLET + "/actions", list_droplet_actions),
    ("POST", DROPLET + "/actions", post_action),
    ("GET", DROPLET + r"/actions/(?P<action>[^/]+)", get_droplet_action),
    ("GET", r"/v2/actions", list_actions),
    ("GET", r"/v2/actions/(?P<action>[^/]+)", get_action),
]
