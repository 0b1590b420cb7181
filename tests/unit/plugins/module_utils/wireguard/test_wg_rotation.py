"""Key rotation in interface.present: a staged key goes live with the peers' new keys in one wg syncconf, at an
agreed instant; a peer that comes back under a new key keeps the endpoint its old entry learned."""

import json
import os
import stat

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import interface

from .fakehost import FakeHost, key, pub_of

PRIV, NEXT = key("host-private"), key("host-private-next")
A, B, B2 = key("a"), key("b"), key("b-rotated")
PSK, PSK2 = key("psk-b"), key("psk-b-rotated")


def node(b_key=B):
    return {"interface": {"address": ["10.4.0.2/32"], "listen_port": 51820},
            "peers": [{"name": "aws1", "public_key": A, "endpoint": "203.0.113.21:51820",
                       "allowed_ips": ["10.4.0.1/32"], "persistent_keepalive": None},
                      {"name": "edge", "public_key": b_key, "endpoint": None, "allowed_ips": ["10.4.0.4/32"],
                       "persistent_keepalive": 25}]}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "wg0.key").write_text(PRIV + "\n")
    os.chmod(str(tmp_path / "wg0.key"), 0o600)
    params = {"name": "wg0", "config": node(), "private_key_path": str(tmp_path / "wg0.key"),
              "next_private_key_path": str(tmp_path / "wg0.key.next"),
              "config_path": str(tmp_path / "wg0.conf"), "preshared_keys": {B: PSK}, "mtu": None,
              "up_command": None, "down_command": None, "setsid": "setsid"}
    fake = FakeHost()
    interface.present(fake, params, sleep=lambda s: None)
    fake.peer("wg0", B).endpoint = "198.51.100.2:40000"     # learned from the NAT'd peer's keepalives
    fake.calls = []
    return fake, params, tmp_path


def present(fake, params, **kwargs):
    kwargs.setdefault("sleep", lambda s: None)
    result = interface.present(fake, params, **kwargs)
    text = json.dumps(result)
    for secret in (PRIV, NEXT, PSK, PSK2):
        assert secret not in text, "a secret leaked into the result"
    return result


def syncconfs(fake):
    return [data for args, data in fake.calls if args[:2] == ["wg", "syncconf"]]


def test_staged_key_goes_live_in_one_syncconf_then_replaces_the_key_file(env):
    fake, params, tmp = env
    (tmp / "wg0.key.next").write_text(NEXT + "\n")
    params["apply_at"] = 0.0   # long past: at once
    result = present(fake, params)
    assert "replace private key (new public key %s)" % pub_of(NEXT) in result["actions"]
    assert result["actions"][-1] == "move %s to %s" % (tmp / "wg0.key.next", tmp / "wg0.key")
    assert result["public_key"] == pub_of(NEXT) and result["timing"]["late_s"] > 0
    assert len(syncconfs(fake)) == 1
    assert fake.links["wg0"]["wg"]["private"] == NEXT
    assert (tmp / "wg0.key").read_text().strip() == NEXT and not (tmp / "wg0.key.next").exists()
    assert stat.S_IMODE(os.stat(str(tmp / "wg0.key")).st_mode) == 0o600
    assert "PrivateKey = %s" % NEXT in (tmp / "wg0.conf").read_text()
    fake.calls = []
    again = present(fake, dict(params, apply_at=None))
    assert again["changed"] is False and fake.mutating() == []


def test_without_a_staged_key_the_option_is_ignored(env):
    fake, params, dummy = env
    result = present(fake, params)
    assert result["changed"] is False and fake.mutating() == []


def test_rotated_peer_keeps_its_learned_endpoint_and_the_old_entry_goes_in_the_same_syncconf(env):
    fake, params, tmp = env
    params.update(config=node(B2), preshared_keys={B2: PSK2})
    result = present(fake, params)
    assert "keep the endpoint learned by edge's old key" in result["actions"]
    assert "add peer edge" in result["actions"] and "remove peer %s" % "edge" in result["actions"]
    [data] = syncconfs(fake)
    assert "Endpoint = 198.51.100.2:40000" in data and B not in data and B2 in data
    peer = fake.peer("wg0", B2)
    assert (peer.endpoint, peer.psk, peer.allowed) == ("198.51.100.2:40000", PSK2, ["10.4.0.4/32"])
    assert [p.public_key for p in fake.links["wg0"]["wg"]["peers"]] == [A, B2]
    # the file keeps the plan (no endpoint: the peer roams); the learned one only went to the live interface
    assert "198.51.100.2" not in (tmp / "wg0.conf").read_text()


def test_a_new_peer_that_replaces_nobody_inherits_nothing():
    live = {"peers": {B: {"endpoint": "198.51.100.2:40000"}}}
    config = node(B2)
    assert interface.inherited_endpoints(config, live, {B: "other"}) == {}
    assert interface.inherited_endpoints(config, live, {B: "edge"}) == {B2: "198.51.100.2:40000"}
    # the old key is still wanted (not replaced): nothing to inherit
    config["peers"].append({"name": "edge2", "public_key": B, "endpoint": None, "allowed_ips": []})
    assert interface.inherited_endpoints(config, live, {B: "edge"}) == {}


def test_apply_at_waits_for_the_instant(env, monkeypatch):
    fake, params, tmp = env
    (tmp / "wg0.key.next").write_text(NEXT + "\n")
    slept = []
    monkeypatch.setattr(interface.time, "time", lambda: 1000.0)
    params["apply_at"] = 1007.5
    result = present(fake, params, sleep=slept.append)
    assert 7.5 in slept and result["timing"]["late_s"] == 0.0


def test_wait_until():
    slept = []
    assert interface.wait_until(10.0, clock=lambda: 4.0, sleep=slept.append) == 0.0 and slept == [6.0]
    assert interface.wait_until(10.0, clock=lambda: 12.5, sleep=slept.append) == 2.5 and slept == [6.0]


def test_check_mode_keeps_the_staged_key(env):
    fake, params, tmp = env
    (tmp / "wg0.key.next").write_text(NEXT + "\n")
    result = present(fake, params, check_mode=True)
    assert result["changed"] and (tmp / "wg0.key.next").exists() and fake.mutating() == []
    assert (tmp / "wg0.key").read_text().strip() == PRIV
