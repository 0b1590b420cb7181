"""module_utils.digitalocean over pydo against the emulator: errors in one text naming DigitalOcean (never the
token), paging over several pages, GPU droplets listed, waiting, fingerprints and firewall rule comparison."""

import re
import shutil
import subprocess

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean import client, droplets, firewalls, keys
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean.client import (
    Api, DigitalOceanError, check_base_url)

from .conftest import TOKEN, ssh_public_key

DROPLET = {"region": "fra1", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}


@pytest.fixture
def api(emulator):
    return Api(TOKEN, emulator.url, timeout=10)


def test_pydo_talks_to_the_emulator_unchanged(api):
    assert api.call("reading the account", api.client.account.get)["account"]["droplet_limit"] == 25
    created = api.call("creating", api.client.droplets.create, body=dict(DROPLET, name="n1", tags=["mesh"]))
    assert created["droplet"]["status"] == "new"
    active = droplets.wait_active(api, created["droplet"], timeout=10)
    assert active["status"] == "active" and droplets.addresses(active)["public_ipv4"].startswith("203.0.113.")


def test_bad_token_is_one_clear_error_without_the_token(emulator):
    secret = "dop_v1_" + "f" * 64
    with pytest.raises(DigitalOceanError) as err:
        droplets.list_droplets(Api(secret, emulator.url))
    text = str(err.value)
    assert text.startswith("DigitalOcean: 401 Unauthorized: Unable to authenticate you (listing droplets)")
    assert "DIGITALOCEAN_ACCESS_TOKEN" in text and secret not in text and err.value.status == 401


def test_missing_token_names_the_environment_variables():
    with pytest.raises(DigitalOceanError, match="DigitalOcean: no API token: .*DIGITALOCEAN_ACCESS_TOKEN, "
                                                "DIGITALOCEAN_TOKEN, DO_API_TOKEN"):
        Api("", "https://api.digitalocean.com")


def test_422_and_the_400_that_pydo_returns_instead_of_raising(api):
    with pytest.raises(DigitalOceanError) as err:
        api.call("creating droplet x", api.client.droplets.create, body=dict(DROPLET, name="x", region="xx9"))
    assert str(err.value) == ("DigitalOcean: 422 unprocessable_entity: You specified an invalid region for Droplet"
                              " creation. (creating droplet x)")
    # pydo hands the 400 answers the spec lists back as a body; the client still makes them an error, also in the
    # {"error", "root_causes"} shape of the tags endpoints
    with pytest.raises(DigitalOceanError, match=r"^DigitalOcean: 400 bad_request: Error validating resource tag: "
                                                r"name: 'no spaces' does not match .* \(creating tag no spaces\)$"):
        api.call("creating tag no spaces", api.client.tags.create, body={"name": "no spaces"})
    with pytest.raises(DigitalOceanError, match=r"^DigitalOcean: 422 unprocessable_entity: request payload validation"
                                                r" failed: matches none of the allowed forms"):
        api.call("creating firewall f", api.client.firewalls.create, body={"name": "fw"})
    assert api.call("reading droplet 1", api.client.droplets.get, droplet_id=1, missing_ok=True) is None
    with pytest.raises(DigitalOceanError, match="404 not_found"):
        api.call("reading droplet 1", api.client.droplets.get, droplet_id=1)


def test_token_in_an_answer_is_scrubbed(api):
    text = str(api.error("doing x", 500, {"id": "server_error", "message": "echo " + TOKEN}))
    assert TOKEN not in text and "<token>" in text


def test_unreachable_endpoint_is_named():
    api = Api(TOKEN, "http://127.0.0.1:9", timeout=2)
    with pytest.raises(DigitalOceanError, match=r"^DigitalOcean: reading the account: cannot reach http://127.0.0.1:9"):
        api.call("reading the account", api.client.account.get, retry=False)


@pytest.mark.parametrize("url, expected", [
    (None, "https://api.digitalocean.com"),
    ("https://api.digitalocean.com/v2/", "https://api.digitalocean.com"),
    ("http://127.0.0.1:8500", "http://127.0.0.1:8500"),
    ("http://[::1]:8500/v2", "http://[::1]:8500"),
])
def test_base_url_forms(url, expected):
    assert check_base_url(url) == expected


@pytest.mark.parametrize("url", ["http://api.digitalocean.com", "http://10.0.0.1:8500", "ftp://x", "api.do.com"])
def test_base_url_refused(url):
    with pytest.raises(DigitalOceanError, match="^DigitalOcean: base_url"):
        check_base_url(url)


def test_paging_reads_every_page_and_gpu_droplets_are_listed(api, monkeypatch):
    monkeypatch.setattr(client, "PER_PAGE", 2)
    for index in range(5):
        api.call("creating", api.client.droplets.create, body=dict(DROPLET, name="p%d" % index, tags=["mesh"]))
    api.call("creating", api.client.droplets.create,
             body={"name": "gpu", "region": "tor1", "size": "gpu-h100x1-80gb", "image": "gpu-h100x1-base"})
    plain = api.client.droplets.list()["droplets"]
    assert "gpu" not in [d["name"] for d in plain]  # the API leaves GPU droplets out by default
    every = droplets.list_droplets(api)
    assert [d["name"] for d in every] == ["p0", "p1", "p2", "p3", "p4", "gpu"]
    assert [d["name"] for d in droplets.list_droplets(api, tag_name="mesh")] == ["p0", "p1", "p2", "p3", "p4"]
    assert [d["name"] for d in droplets.list_droplets(api, name="P3")] == ["p3"]
    assert set(every[0]) >= {"public_ipv4", "private_ipv4", "public_ipv6"}


def test_wait_until_gives_up_with_what_it_waited_for():
    with pytest.raises(DigitalOceanError, match="droplet x to become active: still not done after 0.2 seconds"):
        client.wait_until("droplet x to become active", lambda: None, lambda r: False, 0.2, first_sleep=0.05)


def test_fingerprint_matches_ssh_keygen_and_the_emulator(tmp_path, emulator):
    public_key = ssh_public_key(3)
    status, body = emulator.request("POST", "/v2/account/keys", {"name": "k", "public_key": public_key})
    assert status == 201 and body["ssh_key"]["fingerprint"] == keys.fingerprint(public_key)
    if shutil.which("ssh-keygen"):
        path = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30)
        shown = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(path) + ".pub"], check=True,
                               capture_output=True, text=True, timeout=30).stdout.split()[1]
        assert shown == "MD5:" + keys.fingerprint((tmp_path / "id_ed25519.pub").read_text())
    with pytest.raises(DigitalOceanError, match="not an OpenSSH public key"):
        keys.fingerprint("not a key")


def test_firewall_rules_compare_as_the_api_stores_them():
    wanted = {"inbound_rules": [{"protocol": "tcp", "ports": "all", "sources": {"addresses": ["192.0.2.7"]}},
                                {"protocol": "icmp", "sources": {"tags": ["b", "a"]}}],
              "outbound_rules": [], "tags": ["mesh"], "droplet_ids": []}
    stored = {"inbound_rules": [{"protocol": "icmp", "ports": "0", "sources": {"tags": ["a", "b"]}},
                                {"protocol": "tcp", "ports": "0", "sources": {"addresses": ["192.0.2.7/32"]}}],
              "outbound_rules": [], "tags": ["mesh"], "droplet_ids": []}
    assert firewalls.differences(stored, wanted) == []
    stored["inbound_rules"][1]["ports"] = "22"
    stored["tags"] = []
    assert firewalls.differences(stored, wanted) == ["inbound_rules", "tags"]


class NoCalls:
    """An Api stand-in that fails the test when anything reaches the API."""

    def __getattr__(self, name):
        raise AssertionError("the API was called (%s) before the options were checked" % name)


@pytest.mark.parametrize("rule, message", [
    ({"protocol": "tcp", "ports": None, "sources": {"addresses": ["192.0.2.1"]}},
     "firewall fw: inbound_rules[0]: ports is required for tcp and udp"),
    ({"protocol": "udp", "ports": "51820", "sources": {"addresses": ["192.0.2.300"]}},
     "firewall fw: inbound_rules[0]: address '192.0.2.300' is not an IP address or CIDR"),
])
def test_bad_firewall_rules_fail_before_any_api_call(rule, message):
    params = {"name": "fw", "state": "present", "inbound_rules": [rule], "outbound_rules": [], "tags": [],
              "droplet_ids": []}
    with pytest.raises(DigitalOceanError, match="^DigitalOcean: " + re.escape(message)):
        firewalls.ensure_firewall(NoCalls(), params, check_mode=False)


def test_bad_public_key_fails_before_any_api_call():
    with pytest.raises(DigitalOceanError, match="public_key is not an OpenSSH public key"):
        keys.ensure_ssh_key(NoCalls(), {"name": "k", "public_key": "ssh-ed25519", "state": "present"}, False)
