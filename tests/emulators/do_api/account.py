"""/v2/account, /v2/account/keys and /v2/tags of the emulator."""

import base64
import binascii
import hashlib
import struct
import uuid

from .core import (ApiError, check_tags, ensure_tags, not_found, paginate, require_str,
                   tag_bad_request, unprocessable)

KEY_TYPES = ("ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
ACCOUNT_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "wiremesh-emulator-account"))


def get_account(state, req):
    return 200, {"account": {
        "droplet_limit": state.droplet_limit, "floating_ip_limit": 3, "volume_limit": 100,
        "email": "emulator@example.com", "email_verified": True, "uuid": ACCOUNT_UUID, "status": "active",
        "status_message": "", "team": {"uuid": ACCOUNT_UUID, "name": "wiremesh emulator"}}}


def fingerprint(public_key):
    """The MD5 fingerprint DigitalOcean shows (``aa:bb:...``), or ApiError 422 for a key it would refuse."""
    parts = public_key.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise unprocessable("Key invalid, type not supported")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        declared = blob[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise unprocessable("Key invalid") from None
    if declared != parts[0]:
        raise unprocessable("Key invalid, key type does not match its data")
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the fingerprint format, not a security use
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _key(state, ref):
    if ref.isdigit() and int(ref) in state.ssh_keys:
        return state.ssh_keys[int(ref)]
    found = next((k for k in state.ssh_keys.values() if k["fingerprint"] == ref), None)
    if found is None:
        raise not_found()
    return found


def list_keys(state, req):
    return 200, paginate(req, sorted(state.ssh_keys.values(), key=lambda k: k["id"]), "ssh_keys")


def create_key(state, req):
    body = req.json()
    name = require_str(body, "name")
    public_key = require_str(body, "public_key").strip()
    fp = fingerprint(public_key)
    if any(k["fingerprint"] == fp for k in state.ssh_keys.values()):
        raise unprocessable("SSH Key is already in use on your account")
    key = {"id": state.next_id("ssh_key"), "fingerprint": fp, "public_key": public_key, "name": name}
    state.ssh_keys[key["id"]] = key
    return 201, {"ssh_key": key}


def get_key(state, req):
    return 200, {"ssh_key": _key(state, req.params["key"])}


def update_key(state, req):
    key = _key(state, req.params["key"])
    name = req.json().get("name")
    if name is not None:
        key["name"] = require_str({"name": name}, "name")
    return 200, {"ssh_key": key}


def delete_key(state, req):
    del state.ssh_keys[_key(state, req.params["key"])["id"]]
    return 204, None


def tag_view(state, name):
    """A tag with the resource counts the API computes."""
    droplets = [d for d in state.droplets.values() if name in d["tags"]]
    last = state.tags[name]["_last_droplet"]
    last_uri = "/v2/droplets/%d" % last if last in state.droplets else ""
    return {"name": name, "resources": {
        "count": len(droplets), "last_tagged_uri": last_uri,
        "droplets": {"count": len(droplets), "last_tagged_uri": last_uri},
        "images": {"count": 0}, "volumes": {"count": 0}, "volume_snapshots": {"count": 0},
        "databases": {"count": 0}}}


def _tag(state, req):
    name = req.params["tag"]
    if name not in state.tags:
        raise not_found()
    return name


def list_tags(state, req):
    return 200, paginate(req, [tag_view(state, n) for n in sorted(state.tags)], "tags")


def create_tag(state, req):
    # invalid names: the 400 of specification/resources/tags/responses/tags_bad_request.yml
    name = require_str(req.json(), "name", error=tag_bad_request)
    check_tags([name], error=tag_bad_request)
    ensure_tags(state, [name])
    return 201, {"tag": tag_view(state, name)}


def get_tag(state, req):
    return 200, {"tag": tag_view(state, _tag(state, req))}


def delete_tag(state, req):
    name = _tag(state, req)
    for droplet in state.droplets.values():
        if name in droplet["tags"]:
            droplet["tags"].remove(name)
    for firewall in state.firewalls.values():
        if name in firewall["tags"]:
            firewall["tags"].remove(name)
    del state.tags[name]
    return 204, None


def _tag_resources(state, req):
    resources = req.json().get("resources")
    if not isinstance(resources, list) or not resources:
        raise unprocessable("resources must be a non-empty array.")
    droplets = []
    for item in resources:
        if not isinstance(item, dict) or item.get("resource_type") != "droplet":
            raise unprocessable("Only resources of type droplet can be tagged here.")
        droplet = state.droplets.get(int(item["resource_id"])) if str(item.get("resource_id", "")).isdigit() else None
        if droplet is None:
            raise ApiError(404, "not_found", "droplet %s not found" % item.get("resource_id"))
        droplets.append(droplet)
    return droplets


def tag_resources(state, req):
    name = _tag(state, req)
    for droplet in _tag_resources(state, req):
        if name not in droplet["tags"]:
            droplet["tags"].append(name)
        state.tags[name]["_last_droplet"] = droplet["id"]
    return 204, None


def untag_resources(state, req):
    name = _tag(state, req)
    for droplet in _tag_resources(state, req):
        if name in droplet["tags"]:
            droplet["tags"].remove(name)
    return 204, None


ROUTES = [
    ("GET", r"/v2/account", get_account),
    ("GET", r"/v2/account/keys", list_keys),
    ("POST", r"/v2/account/keys", create_key),
    ("GET", r"/v2/account/keys/(?P<key>[^/]+)", get_key),
    ("PUT", r"/v2/account/keys/(?P<key>[^/]+)", update_key),
    ("DELETE", r"/v2/account/keys/(?P<key>[^/]+)", delete_key),
    ("GET", r"/v2/tags", list_tags),
    ("POST", r"/v2/tags", create_tag),
    ("GET", r"/v2/tags/(?P<tag>[^/]+)", get_tag),
    ("DELETE", r"/v2/tags/(?P<tag>[^/]+)", delete_tag),
    ("POST", r"/v2/tags/(?P<tag>[^/]+)/resources", tag_resources),
    ("DELETE", r"/v2/tags/(?P<tag>[^/]+)/resources", untag_resources),
]
