"""The DigitalOcean API emulator over raw HTTP: authentication, errors as API v2 words them, pagination, droplet
boot and addresses, tags, SSH key fingerprints, VPC and firewall rules, and the loopback-only command line."""

import base64
import hashlib
import ipaddress
import subprocess
import sys
import time

import jsonschema
import pytest

from emulators.do_api import check_loopback, spec, start

from .conftest import ROOT, TOKEN, Emulator, ssh_public_key

DROPLET = {"region": "fra1", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}


def create(emulator, name, **extra):
    status, body = emulator.request("POST", "/v2/droplets", dict(DROPLET, name=name, **extra))
    assert status == 202, body
    return body["droplet"]


def error_of(answer):
    """``(id, message)`` of an error answer, after checking it has the spec's shape (shared/models/error.yml)."""
    jsonschema.validate(answer, spec.ERROR_SCHEMA)
    assert answer["request_id"]
    return answer["id"], answer["message"]


def wait_active(emulator, droplet_id):
    for dummy in range(50):
        droplet = emulator.request("GET", "/v2/droplets/%d" % droplet_id)[1]["droplet"]
        if droplet["status"] == "active":
            return droplet
        time.sleep(0.05)
    raise AssertionError("droplet %d never became active" % droplet_id)


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_bad_or_missing_token_is_401(emulator, token):
    status, body = emulator.request("GET", "/v2/account", token=token)
    assert status == 401
    assert error_of(body) == ("Unauthorized", "Unable to authenticate you")


def test_account_and_catalog(emulator):
    status, body = emulator.request("GET", "/v2/account")
    assert status == 200 and body["account"]["droplet_limit"] == 25 and body["account"]["status"] == "active"
    regions = emulator.request("GET", "/v2/regions")[1]
    assert {"fra1", "ams3", "nyc3", "sfo3"} <= {r["slug"] for r in regions["regions"]}
    sizes = emulator.request("GET", "/v2/sizes")[1]["sizes"]
    assert {"s-1vcpu-1gb", "s-2vcpu-4gb"} <= {s["slug"] for s in sizes}
    assert emulator.request("GET", "/v2/images/debian-12-x64")[1]["image"]["distribution"] == "Debian"


def test_unknown_things_are_404(emulator):
    expected = ("not_found", "The resource you were accessing could not be found.")
    for path in ("/v2/droplets/999", "/v2/vpcs/nope", "/v2/firewalls/nope", "/v2/account/keys/1", "/v2/tags/x",
                 "/v2/actions/1", "/v2/nothing-here"):
        status, body = emulator.request("GET", path)
        assert (status, error_of(body)) == (404, expected), path


@pytest.mark.parametrize("body, message", [
    (dict(DROPLET, name="a", region="xx9"), "You specified an invalid region for Droplet creation."),
    (dict(DROPLET, name="a", size="huge"), "You specified an invalid size for Droplet creation."),
    (dict(DROPLET, name="a", image="windows"), "You specified an invalid image for Droplet creation."),
    (dict(DROPLET, name="bad_name!"), "request payload validation failed: name: 'bad_name!' does not match"),
    (dict(DROPLET), "request payload validation failed: matches none of the allowed forms ('name' is a required"
                    " property; 'names' is a required property)"),
    # droplets_create: size and image are required, the name is at most 255 characters, name and names exclude
    # each other (oneOf)
    ({"name": "a", "region": "fra1"}, "request payload validation failed: matches none of the allowed forms ('size'"
                                      " is a required property; 'image' is a required property;"),
    (dict(DROPLET, name="a" * 256), "request payload validation failed: name: '%s' is too long" % ("a" * 256)),
    (dict(DROPLET, name="a", names=["b"]), "request payload validation failed: matches more than one of the allowed"
                                           " forms (Single Droplet Request, Multiple Droplet Request)"),
    (dict(DROPLET, name="a", size="gpu-h100x1-80gb"), "Size is not available in this region."),
    (dict(DROPLET, name="a", tags=["no spaces"]), "Tag name 'no spaces' is invalid"),
    (dict(DROPLET, name="a", ssh_keys=["00:11"]), "One or more of the SSH keys you specified is invalid"),
    (dict(DROPLET, name="a", vpc_uuid="not-a-vpc"), "The VPC not-a-vpc does not exist."),
    (dict(DROPLET, name="a", ipv6="yes"), "request payload validation failed: matches none of the allowed forms"
                                          " (ipv6: 'yes' is not of type 'boolean';"),
])
def test_bad_droplet_input_is_422_with_the_reason(emulator, body, message):
    status, answer = emulator.request("POST", "/v2/droplets", body)
    assert status == 422
    error_id, text = error_of(answer)
    assert error_id == "unprocessable_entity" and text.startswith(message)
    assert emulator.resources()["droplets"] == 0


def test_droplet_limit_counts_every_droplet_of_a_request():
    server, url = start(tokens=[TOKEN], droplet_limit=2, boot_seconds=0)
    try:
        emulator = Emulator(server, url)
        status, body = emulator.request("POST", "/v2/droplets", dict(DROPLET, names=["a", "b", "c"]))
        assert (status, body["message"]) == (422, "creating this/these droplet(s) will exceed your droplet limit")
        status, body = emulator.request("POST", "/v2/droplets", dict(DROPLET, names=["a", "b"]))
        assert status == 202 and [d["name"] for d in body["droplets"]] == ["a", "b"]
        assert body["links"]["actions"][0]["rel"] == "multiple_create"
        assert emulator.request("POST", "/v2/droplets", dict(DROPLET, name="c"))[0] == 422
    finally:
        server.shutdown()
        server.server_close()


def test_droplet_boots_with_distinct_addresses_in_its_vpc(emulator):
    vpc = emulator.request("POST", "/v2/vpcs", {"name": "mesh", "region": "fra1", "ip_range": "10.40.0.0/24"})[1]["vpc"]
    first = create(emulator, "n1", vpc_uuid=vpc["id"])
    assert first["status"] == "new" and first["locked"] and first["networks"] == {"v4": [], "v6": []}
    second = create(emulator, "n2", vpc_uuid=vpc["id"], ipv6=True)
    first, second = wait_active(emulator, first["id"]), wait_active(emulator, second["id"])
    addresses = []
    for droplet in (first, second):
        by_type = {n["type"]: n["ip_address"] for n in droplet["networks"]["v4"]}
        assert ipaddress.ip_address(by_type["public"]) in ipaddress.ip_network("203.0.113.0/24")
        assert ipaddress.ip_address(by_type["private"]) in ipaddress.ip_network("10.40.0.0/24")
        addresses.extend(by_type.values())
    assert len(set(addresses)) == 4
    assert second["networks"]["v6"] and "ipv6" in second["features"]
    action = emulator.request("GET", "/v2/droplets/%d/actions" % first["id"])[1]["actions"][0]
    assert action["type"] == "create" and action["status"] == "completed"
    # a droplet without vpc_uuid lands in the region's default VPC, made on demand
    third = wait_active(emulator, create(emulator, "n3")["id"])
    default = [v for v in emulator.request("GET", "/v2/vpcs")[1]["vpcs"] if v["default"]]
    assert [(v["name"], v["id"]) for v in default] == [("default-fra1", third["vpc_uuid"])]


def test_pagination_links_and_meta(emulator):
    for index in range(5):
        create(emulator, "p%d" % index)
    page = emulator.request("GET", "/v2/droplets?per_page=2")[1]
    assert [d["name"] for d in page["droplets"]] == ["p0", "p1"] and page["meta"]["total"] == 5
    pages = page["links"]["pages"]
    assert pages["next"] == emulator.url + "/v2/droplets?page=2&per_page=2"
    assert pages["last"] == emulator.url + "/v2/droplets?page=3&per_page=2"
    last = emulator.request("GET", "/v2/droplets?per_page=2&page=3")[1]
    assert [d["name"] for d in last["droplets"]] == ["p4"]
    assert set(last["links"]["pages"]) == {"first", "prev"}


def test_tag_filter_tag_resources_and_delete_by_tag(emulator):
    web = create(emulator, "web", tags=["mesh", "web"])
    create(emulator, "gpu", tags=["mesh"])
    create(emulator, "other")
    names = [d["name"] for d in emulator.request("GET", "/v2/droplets?tag_name=mesh")[1]["droplets"]]
    assert names == ["web", "gpu"]
    assert emulator.request("GET", "/v2/droplets?tag_name=mesh&name=web")[0] == 422
    assert emulator.request("GET", "/v2/tags/mesh")[1]["tag"]["resources"]["droplets"]["count"] == 2
    assert emulator.request("POST", "/v2/tags", {"name": "extra"})[0] == 201
    resources = {"resources": [{"resource_id": str(web["id"]), "resource_type": "droplet"}]}
    assert emulator.request("POST", "/v2/tags/extra/resources", resources)[0] == 204
    assert emulator.request("GET", "/v2/droplets/%d" % web["id"])[1]["droplet"]["tags"] == ["mesh", "web", "extra"]
    assert emulator.request("DELETE", "/v2/droplets?tag_name=mesh") == (204, None)
    assert [d["name"] for d in emulator.request("GET", "/v2/droplets")[1]["droplets"]] == ["other"]


def test_ssh_key_fingerprint_crud_and_duplicates(emulator):
    public_key = ssh_public_key(7)
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()  # nosec - the fingerprint format
    status, body = emulator.request("POST", "/v2/account/keys", {"name": "admin", "public_key": public_key})
    assert status == 201
    key = body["ssh_key"]
    assert key["fingerprint"] == ":".join(digest[i:i + 2] for i in range(0, 32, 2))
    assert emulator.request("GET", "/v2/account/keys/" + key["fingerprint"])[1]["ssh_key"]["id"] == key["id"]
    status, body = emulator.request("POST", "/v2/account/keys", {"name": "again", "public_key": public_key})
    assert (status, body["message"]) == (422, "SSH Key is already in use on your account")
    status, body = emulator.request("POST", "/v2/account/keys", {"name": "bad", "public_key": "ssh-rsa AAAA"})
    assert status == 422 and body["message"].startswith("Key invalid")
    renamed = emulator.request("PUT", "/v2/account/keys/%d" % key["id"], {"name": "ops"})[1]["ssh_key"]
    assert renamed["name"] == "ops"
    assert emulator.request("DELETE", "/v2/account/keys/" + key["fingerprint"]) == (204, None)
    assert emulator.resources()["ssh_keys"] == 0


def test_vpc_rules(emulator):
    status, body = emulator.request("POST", "/v2/vpcs", {"name": "mesh", "region": "ams3", "ip_range": "10.50.0.0/20"})
    assert status == 201
    vpc = body["vpc"]
    for bad, message in [({"name": "mesh", "region": "ams3"}, "A VPC with the name mesh already exists."),
                         ({"name": "b", "region": "ams3", "ip_range": "10.50.8.0/24"}, "overlaps"),
                         ({"name": "c", "region": "ams3", "ip_range": "8.8.8.0/24"}, "RFC 1918"),
                         ({"name": "d", "region": "mars1"}, "invalid region")]:
        status, body = emulator.request("POST", "/v2/vpcs", bad)
        assert status == 422 and message in body["message"], bad
    droplet = create(emulator, "member", region="ams3", vpc_uuid=vpc["id"])
    members = emulator.request("GET", "/v2/vpcs/%s/members" % vpc["id"])[1]["members"]
    assert members == [{"urn": "do:droplet:%d" % droplet["id"], "name": "member", "created_at": droplet["created_at"]}]
    assert emulator.request("DELETE", "/v2/vpcs/" + vpc["id"])[0] == 403
    assert emulator.request("PATCH", "/v2/vpcs/" + vpc["id"], {"description": "x"})[1]["vpc"]["description"] == "x"
    emulator.request("DELETE", "/v2/droplets/%d" % droplet["id"])
    assert emulator.request("DELETE", "/v2/vpcs/" + vpc["id"]) == (204, None)
    create(emulator, "in-default")
    default = emulator.request("GET", "/v2/vpcs")[1]["vpcs"][0]
    assert emulator.request("DELETE", "/v2/vpcs/" + default["id"])[1]["message"] == "A default VPC cannot be deleted."


def test_firewall_rules_are_normalised_and_validated(emulator):
    assert emulator.request("POST", "/v2/tags", {"name": "mesh"})[0] == 201
    rule = {"protocol": "udp", "ports": "0", "destinations": {"addresses": ["0.0.0.0/0"]}}
    body = {"name": "mesh", "tags": ["mesh"], "outbound_rules": [rule, {"protocol": "icmp", "ports": "0",
                                                                        "destinations": {"addresses": ["::/0"]}}]}
    status, answer = emulator.request("POST", "/v2/firewalls", body)
    assert status == 202 and answer["firewall"]["status"] == "waiting"
    firewall = emulator.request("GET", "/v2/firewalls/" + answer["firewall"]["id"])[1]["firewall"]
    assert [r["ports"] for r in firewall["outbound_rules"]] == ["0", "0"]
    assert firewall["tags"] == ["mesh"] and firewall["status"] == "succeeded"
    droplet = create(emulator, "fw")
    path = "/v2/firewalls/%s/droplets" % firewall["id"]
    assert emulator.request("POST", path, {"droplet_ids": [droplet["id"]]}) == (204, None)
    emulator.request("DELETE", "/v2/droplets/%d" % droplet["id"])
    assert emulator.request("GET", "/v2/firewalls/" + firewall["id"])[1]["firewall"]["droplet_ids"] == []


RULE = {"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0"]}}
ICMP_WITHOUT_PORTS = {"protocol": "icmp", "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}}


@pytest.mark.parametrize("body, message", [
    # specification/resources/firewalls/models/firewall_rule.yml: ports is required on every rule, ICMP included
    ({"name": "mesh", "outbound_rules": [ICMP_WITHOUT_PORTS]}, "outbound_rules[0]: 'ports' is a required property"),
    ({"name": "mesh", "inbound_rules": [{"protocol": "tcp", "sources": {"addresses": ["0.0.0.0/0"]}}]},
     "inbound_rules[0]: 'ports' is a required property"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, ports=22)]}, "inbound_rules[0].ports: 22 is not of type 'string'"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, protocol="sctp")]}, "inbound_rules[0].protocol: 'sctp' is not one"),
    ({"name": "mesh", "inbound_rules": [{"protocol": "tcp", "ports": "22"}]},
     "inbound_rules[0]: 'sources' is a required property"),
    # firewall.yml: name pattern ^[a-zA-Z0-9][a-zA-Z0-9\\.-]+$, so at least 2 characters
    ({"name": "x", "inbound_rules": [RULE]}, "name: 'x' does not match"),
    ({"name": "-x", "inbound_rules": [RULE]}, "name: '-x' does not match"),
    ({"name": "a_b", "inbound_rules": [RULE]}, "name: 'a_b' does not match"),
    # firewalls_create.yml: name required, and inbound_rules or outbound_rules
    ({"inbound_rules": [RULE]}, "'name' is a required property"),
    ({"name": "mesh"}, "matches none of the allowed forms ('inbound_rules' is a required property;"
                       " 'outbound_rules' is a required property)"),
    ({"name": "mesh", "inbound_rules": [RULE], "droplet_ids": ["1"]}, "droplet_ids[0]: '1' is not of type 'integer'"),
    # past the schema: the values the spec describes in prose
    ({"name": "mesh", "inbound_rules": [dict(RULE, ports="all")]}, "inbound_rules[0]: ports 'all' is invalid"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, ports="70000")]}, "inbound_rules[0]: ports '70000' is invalid"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, ports="9000-8000")]}, "ports '9000-8000' is invalid"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, sources={})]}, "at least one address"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, sources={"addresses": ["x"]})]}, "not a valid IP"),
    # shared/attributes/existing_tags_array.yml: firewalls take tags that exist
    ({"name": "mesh", "inbound_rules": [RULE], "tags": ["nope"]}, "tags: tag nope does not exist"),
    ({"name": "mesh", "inbound_rules": [dict(RULE, sources={"tags": ["nope"]})]},
     "inbound_rules[0].sources.tags: tag nope does not exist"),
])
def test_firewall_bodies_that_break_the_spec_are_422(emulator, body, message):
    base = {"name": "base", "inbound_rules": [RULE]}
    status, answer = emulator.request("POST", "/v2/firewalls", base)
    assert status == 202, answer
    firewall_id = answer["firewall"]["id"]
    for method, path in (("POST", "/v2/firewalls"), ("PUT", "/v2/firewalls/" + firewall_id)):
        status, answer = emulator.request(method, path, body)
        assert status == 422, (method, answer)
        assert error_of(answer)[0] == "unprocessable_entity" and message in answer["message"], (method, answer)
    assert emulator.resources()["firewalls"] == 1
    assert emulator.request("GET", "/v2/firewalls/" + firewall_id)[1]["firewall"]["name"] == "base"


@pytest.mark.parametrize("method, path, body, message", [
    # sshKeys.yml: name and public_key required
    ("POST", "/v2/account/keys", {"name": "k"}, "'public_key' is a required property"),
    ("POST", "/v2/account/keys", {"public_key": "ssh-ed25519 AAAA", "name": 7}, "name: 7 is not of type 'string'"),
    # vpcs_create.yml: name and region required; vpc.yml: name pattern, description at most 255 characters
    ("POST", "/v2/vpcs", {"name": "mesh"}, "'region' is a required property"),
    ("POST", "/v2/vpcs", {"name": "no spaces", "region": "fra1"}, "name: 'no spaces' does not match"),
    ("POST", "/v2/vpcs", {"name": "v", "region": "fra1", "description": "d" * 256}, "is too long"),
    # tags_resource.yml: resources required, resource_type from the enum
    ("POST", "/v2/tags/t/resources", {}, "'resources' is a required property"),
    ("POST", "/v2/tags/t/resources", {"resources": [{"resource_id": "1", "resource_type": "robot"}]},
     "resources[0].resource_type: 'robot' is not one of"),
])
def test_other_bodies_that_break_the_spec_are_422(emulator, method, path, body, message):
    status, answer = emulator.request(method, path, body)
    assert status == 422, answer
    error_id, text = error_of(answer)
    assert error_id == "unprocessable_entity" and text.startswith("request payload validation failed: ")
    assert message in text


def test_invalid_tag_names_are_the_400_the_tags_spec_documents(emulator):
    # specification/resources/tags/tags_create.yml answers 400 with shared/models/error_with_root_causes.yml
    status, answer = emulator.request("POST", "/v2/tags", {"name": "no spaces"})
    assert status == 400
    assert set(answer) == {"error", "messages", "root_causes"} and answer["root_causes"]
    assert answer["error"].startswith("Error validating resource tag: name: 'no spaces' does not match")
    assert emulator.resources()["tags"] == 0


def test_requests_are_recorded_for_the_spec_tests(emulator):
    emulator.request("POST", "/v2/tags", {"name": "mesh"})
    emulator.request("GET", "/v2/droplets?per_page=2&tag_name=mesh")
    recorded = emulator.request("GET", "/_emulator/requests", token=None)[1]["requests"]
    assert recorded == [{"method": "POST", "path": "/v2/tags", "query": {}, "body": {"name": "mesh"}},
                        {"method": "GET", "path": "/v2/droplets", "query": {"per_page": "2", "tag_name": "mesh"},
                         "body": None}]


def test_droplet_actions(emulator):
    droplet = create(emulator, "act")
    status, body = emulator.request("POST", "/v2/droplets/%d/actions" % droplet["id"], {"type": "power_off"})
    assert (status, body["message"]) == (422, "Droplet already has a pending event.")
    wait_active(emulator, droplet["id"])
    status, body = emulator.request("POST", "/v2/droplets/%d/actions" % droplet["id"], {"type": "power_off"})
    assert status == 201 and body["action"]["status"] == "in-progress"
    assert emulator.request("GET", "/v2/droplets/%d" % droplet["id"])[1]["droplet"]["status"] == "off"
    time.sleep(0.3)
    path = "/v2/droplets/%d/actions/%d" % (droplet["id"], body["action"]["id"])
    assert emulator.request("GET", path)[1]["action"]["status"] == "completed"
    assert emulator.request("GET", "/v2/actions/%d" % body["action"]["id"])[1]["action"]["type"] == "power_off"
    assert emulator.request("POST", "/v2/droplets/%d/actions" % droplet["id"], {"type": "explode"})[0] == 422


def test_bad_json_is_400(emulator):
    assert emulator.request("POST", "/v2/tags", ["not", "an", "object"])[0] == 400


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.com"])
def test_refuses_non_loopback_addresses(host):
    with pytest.raises(ValueError, match="loopback"):
        check_loopback(host)


def test_command_line_prints_where_it_listens_and_refuses_other_hosts():
    cmd = [sys.executable, "-m", "tests.emulators.do_api", "--port", "0", "--token", TOKEN, "--droplet-limit", "1"]
    refused = subprocess.run(cmd + ["--host", "0.0.0.0"], cwd=ROOT, capture_output=True, text=True, timeout=30,
                             check=False)
    assert refused.returncode == 2 and "loopback" in refused.stderr
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_default_vpc_avoids_a_range_the_account_already_uses(emulator):
    status, body = emulator.request("POST", "/v2/vpcs", {"name": "mine", "region": "ams3", "ip_range": "10.114.0.0/20"})
    assert status == 201
    droplet = create(emulator, "d1")  # fra1, whose default VPC usually gets 10.114.0.0/20
    default = emulator.request("GET", "/v2/vpcs/" + droplet["vpc_uuid"])[1]["vpc"]
    assert default["default"] and default["name"] == "default-fra1"
    assert not ipaddress.ip_network(default["ip_range"]).overlaps(ipaddress.ip_network("10.114.0.0/20"))
