"""/v2/vpcs and /v2/firewalls of the emulator."""

import ipaddress
import re
import uuid

from . import catalog
from .core import (ApiError, check_bool, cidr, existing_tags, not_found, paginate, public, require_str, timestamp,
                   unprocessable)

# specification/resources/vpcs/models/vpc.yml (vpc_updatable): name pattern; no length limit is published
VPC_NAME_RE = re.compile(r"^[a-zA-Z0-9\-\.]+$")
# specification/resources/firewalls/models/firewall.yml: name pattern, so at least 2 characters
FIREWALL_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\.-]+$")
# specification/resources/firewalls/models/firewall_rule.yml (firewall_rule_base.ports): "a single port, a range
# (e.g. "8000-9000"), or "0" when all ports are open for a protocol. For ICMP rules this parameter will always
# return "0"." The property is required on every rule, ICMP included.
PORTS_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
# Ranges DigitalOcean keeps for itself (Kubernetes pods and services, internal use).
RESERVED_RANGES = [ipaddress.ip_network(n)
                   for n in ("10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24", "10.229.0.0/16")]
PRIVATE_RANGES = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
TARGET_KEYS = ("addresses", "droplet_ids", "load_balancer_uids", "kubernetes_ids", "tags")


# --- VPCs ------------------------------------------------------------------------------------------------

def _vpc_record(state, name, region, ip_range, description="", default=False):
    vpc_id = str(uuid.uuid4())
    vpc = {"id": vpc_id, "urn": "do:vpc:" + vpc_id, "name": name, "description": description, "region": region,
           "ip_range": str(ip_range), "default": default, "created_at": timestamp()}
    state.vpcs[vpc_id] = vpc
    return vpc


def default_vpc(state, region):
    """The region's default VPC, made the first time something needs it (as DigitalOcean does)."""
    found = next((v for v in state.vpcs.values() if v["region"] == region and v["default"]), None)
    if found:
        return found
    network = ipaddress.ip_network(catalog.DEFAULT_VPC_RANGES[region])
    if _overlapping(state, network):  # the usual range is taken by a VPC of the account: another free one
        network = _free_range(state)
    return _vpc_record(state, "default-" + region, region, network, default=True)


def _overlapping(state, network):
    return next((v for v in state.vpcs.values() if ipaddress.ip_network(v["ip_range"]).overlaps(network)), None)


def _free_range(state):
    for third in range(0, 256, 16):
        for second in range(10, 256):
            network = ipaddress.ip_network("10.%d.%d.0/20" % (second, third))
            if not _overlapping(state, network) and not any(network.overlaps(r) for r in RESERVED_RANGES):
                return network
    raise unprocessable("No free IP range is left for a new VPC.")


def _check_range(state, value):
    network = cidr(value, "ip_range")
    if network.version != 4 or not any(network.subnet_of(r) for r in PRIVATE_RANGES):
        raise unprocessable("ip_range must be an RFC 1918 private IPv4 range.")
    if not 16 <= network.prefixlen <= 28:
        raise unprocessable("ip_range must have a prefix between /16 and /28.")
    if any(network.overlaps(r) for r in RESERVED_RANGES):
        raise unprocessable("ip_range %s overlaps a range reserved by DigitalOcean." % network)
    other = _overlapping(state, network)
    if other:
        raise unprocessable("ip_range %s overlaps the range of VPC %s." % (network, other["name"]))
    return network


def _vpc(state, req):
    vpc = state.vpcs.get(req.params["vpc"])
    if vpc is None:
        raise not_found()
    return vpc


def _vpc_name(state, name, vpc_id=None):
    if not VPC_NAME_RE.match(name):
        raise unprocessable("VPC name may contain only letters, numbers, dashes and periods.")
    if any(v["name"] == name and v["id"] != vpc_id for v in state.vpcs.values()):
        raise unprocessable("A VPC with the name %s already exists." % name)
    return name


def list_vpcs(state, req):
    return 200, paginate(req, sorted(state.vpcs.values(), key=lambda v: v["created_at"]), "vpcs")


def create_vpc(state, req):
    body = req.json()
    name = _vpc_name(state, require_str(body, "name"))
    region = catalog.REGIONS.get(body.get("region"))
    if region is None:
        raise unprocessable("You specified an invalid region for the VPC.")
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > 255:
        raise unprocessable("description must be a string of at most 255 characters.")
    network = _check_range(state, body["ip_range"]) if body.get("ip_range") else _free_range(state)
    return 201, {"vpc": _vpc_record(state, name, region["slug"], network, description)}


def get_vpc(state, req):
    return 200, {"vpc": _vpc(state, req)}


def _update_vpc(state, req, partial):
    vpc = _vpc(state, req)
    body = req.json()
    if not partial or "name" in body:
        name = _vpc_name(state, require_str(body, "name"), vpc["id"])
    else:
        name = vpc["name"]
    description = body.get("description", vpc["description"] if partial else "")
    if not isinstance(description, str) or len(description) > 255:
        raise unprocessable("description must be a string of at most 255 characters.")
    if check_bool(body, "default") and not vpc["default"]:
        for other in state.vpcs.values():
            if other["region"] == vpc["region"]:
                other["default"] = False
        vpc["default"] = True
    vpc.update(name=name, description=description)
    return 200, {"vpc": vpc}


def update_vpc(state, req):
    return _update_vpc(state, req, partial=False)


def patch_vpc(state, req):
    return _update_vpc(state, req, partial=True)


def vpc_members(state, vpc_id):
    return [d for d in state.droplets.values() if d["vpc_uuid"] == vpc_id]


def list_vpc_members(state, req):
    vpc = _vpc(state, req)
    members = [{"urn": "do:droplet:%d" % d["id"], "name": d["name"], "created_at": d["created_at"]}
               for d in vpc_members(state, vpc["id"])]
    if req.query.get("resource_type") not in (None, "droplet"):
        members = []
    return 200, paginate(req, members, "members")


def delete_vpc(state, req):
    vpc = _vpc(state, req)
    if vpc["default"]:
        raise ApiError(403, "forbidden", "A default VPC cannot be deleted.")
    if vpc_members(state, vpc["id"]):
        raise ApiError(403, "forbidden", "Can not delete VPC with members")
    del state.vpcs[vpc["id"]]
    return 204, None


# --- firewalls -------------------------------------------------------------------------------------------

def _ports(protocol, ports, where):
    """The ports as stored: ``"0"`` for all ports and for ICMP. ``"all"`` is refused: the spec names only a port,
    a range or "0", and the API has answered "all" with 422 "You must specify a positive value for ports"
    (github.com/digitalocean/doctl issues 247 and 278)."""
    if not isinstance(ports, str):
        raise unprocessable("%s: ports is required (a port, a range such as 8000-9000, or \"0\" for all"
                            " ports; \"0\" for icmp)." % where)
    match = PORTS_RE.match(ports.strip())
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (-1, -1)
    if not ((low == high == 0 and not match.group(2)) or 1 <= low <= high <= 65535):
        raise unprocessable("%s: ports %r is invalid: give a port, a range such as 8000-9000, or \"0\" for all"
                            " ports." % (where, ports))
    return "0" if protocol == "icmp" or low == 0 else ports.strip()


def _targets(state, value, where):
    if not isinstance(value, dict):
        raise unprocessable("%s must be an object." % where)
    unknown = set(value) - set(TARGET_KEYS)
    if unknown:
        raise unprocessable("%s: unknown field(s) %s." % (where, ", ".join(sorted(unknown))))
    out = {k: list(value[k]) for k in TARGET_KEYS if value.get(k)}
    if not out:
        raise unprocessable("%s must name at least one address, droplet, load balancer, cluster or tag." % where)
    for address in out.get("addresses", []):
        cidr(address, where + ".addresses")
    for droplet_id in out.get("droplet_ids", []):
        if droplet_id not in state.droplets:
            raise unprocessable("%s: droplet %s does not exist." % (where, droplet_id))
    if "tags" in out:
        out["tags"] = existing_tags(state, out["tags"], where + ".tags")
    return out


def _rules(state, body, direction):
    key = "sources" if direction == "inbound" else "destinations"
    rules = body.get(direction + "_rules") or []
    if not isinstance(rules, list):
        raise unprocessable("%s_rules must be an array." % direction)
    out = []
    for index, rule in enumerate(rules):
        where = "%s_rules[%d]" % (direction, index)
        if not isinstance(rule, dict) or rule.get("protocol") not in ("tcp", "udp", "icmp"):
            raise unprocessable("%s: protocol must be one of tcp, udp or icmp." % where)
        normal = {"protocol": rule["protocol"], "ports": _ports(rule["protocol"], rule.get("ports"), where),
                  key: _targets(state, rule.get(key), where + "." + key)}
        if rule.get("action") is not None:
            if rule["action"] not in ("allow", "deny"):
                raise unprocessable("%s: action must be allow or deny." % where)
            normal["action"] = rule["action"]
        out.append(normal)
    return out


def _droplet_ids(state, values):
    if not isinstance(values, list):
        raise unprocessable("droplet_ids must be an array of integers.")
    for droplet_id in values:
        if droplet_id not in state.droplets:
            raise ApiError(404, "not_found", "droplet %s not found" % droplet_id)
    return list(dict.fromkeys(values))


def _firewall_body(state, body):
    name = require_str(body, "name")
    if not FIREWALL_NAME_RE.match(name):
        raise unprocessable("name must begin with a letter or number, be at least 2 characters long and contain"
                            " only letters, numbers, periods and dashes.")
    inbound, outbound = _rules(state, body, "inbound"), _rules(state, body, "outbound")
    if not inbound and not outbound:
        raise unprocessable("A firewall must have at least one inbound or outbound rule.")
    tags = existing_tags(state, body.get("tags"))
    return {"name": name, "inbound_rules": inbound, "outbound_rules": outbound, "tags": tags,
            "droplet_ids": _droplet_ids(state, body.get("droplet_ids") or [])}


def _firewall(state, req):
    firewall = state.firewalls.get(req.params["firewall"])
    if firewall is None:
        raise not_found()
    return firewall


def list_firewalls(state, req):
    items = [public(f) for f in sorted(state.firewalls.values(), key=lambda f: f["created_at"])]
    return 200, paginate(req, items, "firewalls")


def create_firewall(state, req):
    firewall = dict(_firewall_body(state, req.json()), id=str(uuid.uuid4()), status="succeeded",
                    created_at=timestamp(), pending_changes=[])
    state.firewalls[firewall["id"]] = firewall
    return 202, {"firewall": dict(firewall, status="waiting")}


def get_firewall(state, req):
    return 200, {"firewall": public(_firewall(state, req))}


def update_firewall(state, req):
    firewall = _firewall(state, req)
    firewall.update(_firewall_body(state, req.json()))
    return 200, {"firewall": public(firewall)}


def delete_firewall(state, req):
    del state.firewalls[_firewall(state, req)["id"]]
    return 204, None


def _change_members(state, req, field, add):
    firewall = _firewall(state, req)
    body = req.json()
    if field == "droplet_ids":
        values = _droplet_ids(state, body.get("droplet_ids"))
    else:
        values = existing_tags(state, body.get("tags"))
    if not values:
        raise unprocessable("%s must not be empty." % field)
    current = firewall[field]
    firewall[field] = list(dict.fromkeys(current + values)) if add else [v for v in current if v not in values]
    return 204, None


def _change_rules(state, req, add):
    firewall = _firewall(state, req)
    body = req.json()
    for direction in ("inbound", "outbound"):
        rules = _rules(state, body, direction)
        current = firewall[direction + "_rules"]
        if add:
            current.extend(r for r in rules if r not in current)
        else:
            firewall[direction + "_rules"] = [r for r in current if r not in rules]
    return 204, None


def _member_route(field, add):
    return lambda state, req: _change_members(state, req, field, add)


def _rules_route(add):
    return lambda state, req: _change_rules(state, req, add)


FW = r"/v2/firewalls/(?P<firewall>[^/]+)"
ROUTES = [
    ("GET", r"/v2/vpcs", list_vpcs),
    ("POST", r"/v2/vpcs", create_vpc),
    ("GET", r"/v2/vpcs/(?P<vpc>[^/]+)", get_vpc),
    ("PUT", r"/v2/vpcs/(?P<vpc>[^/]+)", update_vpc),
    ("PATCH", r"/v2/vpcs/(?P<vpc>[^/]+)", patch_vpc),
    ("DELETE", r"/v2/vpcs/(?P<vpc>[^/]+)", delete_vpc),
    ("GET", r"/v2/vpcs/(?P<vpc>[^/]+)/members", list_vpc_members),
    ("GET", r"/v2/firewalls", list_firewalls),
    ("POST", r"/v2/firewalls", create_firewall),
    ("GET", FW, get_firewall),
    ("PUT", FW, update_firewall),
    ("DELETE", FW, delete_firewall),
    ("POST", FW + "/droplets", _member_route("droplet_ids", True)),
    ("DELETE", FW + "/droplets", _member_route("droplet_ids", False)),
    ("POST", FW + "/tags", _member_route("tags", True)),
    ("DELETE", FW + "/tags", _member_route("tags", False)),
    ("POST", FW + "/rules", _rules_route(True)),
    ("DELETE", FW + "/rules", _rules_route(False)),
]
