"""interface.present/absent end to end against the fake host: up, no-op, live updates, check mode, secrets."""

import json
import os
import stat

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import interface
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

from .fakehost import FakeHost, key, pub_of

PRIV = key("host-private")
A, B, C = key("a"), key("b"), key("c")
PSK = key("psk-a")


def node(*extra):
    peers = [{"name": "aws1", "public_key": A, "endpoint": "203.0.113.21:51820", "allowed_ips": ["10.4.0.1/32"],
              "persistent_keepalive": 25},
             {"name": "do2", "public_key": B, "endpoint": None, "allowed_ips": ["10.4.0.3/32"],
              "persistent_keepalive": None}]
    return {"interface": {"address": ["10.4.0.2/32"], "listen_port": 51820}, "peers": peers + list(extra)}


PEER_C = {"name": "edge", "public_key": C, "endpoint": None, "allowed_ips": ["10.4.0.4/32", "192.168.7.0/24"],
          "persistent_keepalive": 25}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "wg0.key").write_text(PRIV + "\n")
    os.chmod(str(tmp_path / "wg0.key"), 0o600)
    params = {"name": "wg0", "config": node(), "private_key_path": str(tmp_path / "wg0.key"),
              "config_path": str(tmp_path / "wg0.conf"), "preshared_keys": None, "mtu": None,
              "up_command": None, "down_command": None, "setsid": "setsid"}
    return FakeHost(), params


def present(fake, params, **kwargs):
    kwargs.setdefault("sleep", lambda s: None)
    result = interface.present(fake, params, **kwargs)
    text = json.dumps(result)
    assert PRIV not in text and PSK not in text, "a secret leaked into the result"
    return result


def test_first_run_writes_the_file_and_brings_the_interface_up(env):
    fake, params = env
    result = present(fake, params)
    path = params["config_path"]
    assert result["actions"] == ["write %s" % path, "bring up wg0 (setsid -w wg-quick up %s)" % path]
    assert result["changed"] and result["public_key"] == pub_of(PRIV) and result["interface"] == "wg0"
    assert result["peers"] == [{"name": "aws1", "public_key": A, "allowed_ips": ["10.4.0.1/32"]},
                               {"name": "do2", "public_key": B, "allowed_ips": ["10.4.0.3/32"]}]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "PrivateKey = %s" % PRIV in open(path).read()
    assert "PrivateKey = <redacted>" in result["diff"]["after"] and result["diff"]["before"] == ""
    assert set(fake.links) == {"wg0"}


def test_second_run_changes_nothing(env):
    fake, params = env
    present(fake, params)
    fake.calls = []
    result = present(fake, params)
    assert result["changed"] is False and result["actions"] == []
    assert fake.mutating() == []


def test_adding_a_peer_updates_in_place(env):
    fake, params = env
    present(fake, params)
    fake.peer("wg0", B).endpoint, fake.peer("wg0", B).handshake = "198.51.100.9:40000", 1700000000
    kept = fake.peer("wg0", B)
    fake.calls = []
    params["config"] = node(PEER_C)
    result = present(fake, params)
    assert result["actions"] == ["write %s" % params["config_path"], "add peer edge",
                                 "add route 10.4.0.4/32", "add route 192.168.7.0/24"]
    assert fake.mutating() == ["wg syncconf wg0 /dev/stdin", "ip -4 route replace 10.4.0.4/32 dev wg0",
                               "ip -4 route replace 192.168.7.0/24 dev wg0"]
    stdin = [data for args, data in fake.calls if args[:2] == ["wg", "syncconf"]][0]
    assert "Address" not in stdin and PRIV in stdin          # stripped wg-quick keys; the key only on stdin
    assert fake.peer("wg0", B) is kept and kept.handshake == 1700000000 and kept.endpoint == "198.51.100.9:40000"
    assert present(fake, params)["changed"] is False         # the roaming endpoint of do2 is not "fixed"


def test_check_mode_reports_but_changes_nothing(env):
    fake, params = env
    present(fake, params)
    before_file = open(params["config_path"]).read()
    fake.calls = []
    params["config"] = node(PEER_C)
    params["config"]["peers"][0]["allowed_ips"] = ["10.4.0.1/32", "10.20.0.0/16"]
    result = present(fake, params, check_mode=True)
    assert result["changed"] and result["actions"] == [
        "write %s" % params["config_path"], "update allowed ips of aws1", "add peer edge", "add route 10.20.0.0/16",
        "add route 10.4.0.4/32", "add route 192.168.7.0/24"]
    assert fake.mutating() == [] and open(params["config_path"]).read() == before_file
    assert "edge" in result["diff"]["after"] and "edge" not in result["diff"]["before"]


def test_check_mode_before_anything_exists(env, tmp_path):
    fake, params = env
    os.unlink(params["private_key_path"])
    result = present(fake, params, check_mode=True)
    assert result["actions"][-1].startswith("bring up wg0") and result["public_key"] is None
    assert "does not exist yet" in result["warnings"][0]
    assert fake.mutating() == [] and not os.path.exists(params["config_path"])
    with pytest.raises(WireGuardError, match="does not exist"):
        present(fake, params)


def test_psk_set_changed_and_removed_without_leaking(env):
    fake, params = env
    present(fake, params)
    params["preshared_keys"] = {A: PSK}
    seen = set()
    result = present(fake, params, on_secret=seen.add)
    assert result["actions"][1:] == ["update preshared key of aws1"] and fake.peer("wg0", A).psk == PSK
    assert {PRIV, PSK} <= seen
    assert "PresharedKey = <redacted>" in result["diff"]["after"]
    params["preshared_keys"] = None
    result = present(fake, params)
    assert result["actions"][1:] == ["remove preshared key of aws1"] and fake.peer("wg0", A).psk is None
    assert "wg set wg0 peer %s preshared-key /dev/null" % A in fake.commands()


def test_live_drift_is_repaired_without_rewriting_the_file(env):
    fake, params = env
    present(fake, params)
    fake.peer("wg0", A).allowed = ["10.4.0.1/32", "10.66.0.0/16"]
    fake.links["wg0"]["routes"].append((__import__("ipaddress").ip_network("10.66.0.0/16"), "boot"))
    fake.links["wg0"]["wg"]["private"] = key("someone else's")
    fake.peer("wg0", A).keepalive = 0
    result = present(fake, params)
    assert result["actions"] == ["replace private key (new public key %s)" % pub_of(PRIV),
                                 "update allowed ips of aws1", "update persistent keepalive of aws1",
                                 "remove route 10.66.0.0/16"]
    assert present(fake, params)["changed"] is False


def test_mtu_option_goes_to_the_file_and_the_link(env):
    fake, params = env
    present(fake, params)
    params["mtu"] = 1380
    result = present(fake, params)
    assert result["actions"][1:] == ["set mtu 1380"] and fake.links["wg0"]["mtu"] == 1380
    assert "MTU = 1380" in open(params["config_path"]).read()


def test_an_update_that_does_not_stick_fails(env):
    fake, params = env
    present(fake, params)
    params["config"] = node(PEER_C)
    fake.fail[("wg", "syncconf")] = (0, "", "")           # pretends to work, changes nothing
    with pytest.raises(WireGuardError, match="still differs after the update: add peer edge"):
        present(fake, params)


def test_up_command_and_its_failure(env):
    fake, params = env
    params["up_command"] = ["wiremesh-lab-ctl", "start", "wg-quick@wg0", "--wait", "20"]
    fake.fail[("wiremesh-lab-ctl",)] = (3, "", "start failed; config had PrivateKey=%s" % PRIV)
    with pytest.raises(WireGuardError) as err:
        present(fake, params)
    assert "bring up wg0 (wiremesh-lab-ctl start wg-quick@wg0 --wait 20) failed (rc=3)" in str(err.value)
    assert PRIV not in str(err.value)
    fake.fail[("wiremesh-lab-ctl",)] = (0, "", "")         # "starts" but no interface appears
    with pytest.raises(WireGuardError, match="does not exist after"):
        present(fake, params)


def test_default_up_command_needs_a_matching_file_name(env, tmp_path):
    fake, params = env
    params["config_path"] = str(tmp_path / "mesh.conf")
    with pytest.raises(WireGuardError, match="must end in /wg0.conf"):
        present(fake, params)


def test_absent(env):
    fake, params = env
    present(fake, params)
    result = interface.absent(fake, params, check_mode=True)
    assert result["changed"] and "wg0" in fake.links and os.path.exists(params["config_path"])
    result = interface.absent(fake, params, sleep=lambda s: None)
    assert result["actions"] == ["bring down wg0 (wg-quick down %s)" % params["config_path"],
                                 "remove %s" % params["config_path"]]
    assert "<redacted>" in result["diff"]["before"] and PRIV not in json.dumps(result)
    assert "wg0" not in fake.links and not os.path.exists(params["config_path"])
    assert interface.absent(fake, params)["changed"] is False


def test_absent_without_config_file_deletes_the_link(env):
    fake, params = env
    present(fake, params)
    os.unlink(params["config_path"])
    result = interface.absent(fake, params, sleep=lambda s: None)
    assert result["actions"] == ["bring down wg0 (ip link delete dev wg0)"] and "wg0" not in fake.links


def test_a_config_without_listen_port_keeps_the_live_port_on_syncconf(env):
    fake, params = env
    params["config"]["interface"]["listen_port"] = None
    present(fake, params)
    fake.links["wg0"]["wg"]["port"] = 43210          # the port wireguard-go picked at up
    params["config"] = node(PEER_C)
    params["config"]["interface"]["listen_port"] = None
    result = present(fake, params)
    assert "add peer edge" in result["actions"] and "ListenPort" not in open(params["config_path"]).read()
    stdin = [data for args, data in fake.calls if args[:2] == ["wg", "syncconf"]][-1]
    assert "ListenPort = 43210" in stdin and fake.links["wg0"]["wg"]["port"] == 43210
