"""wg_interface's main(): defaults, diff mode, check mode, failures, and no secrets in the output."""

import os

from ansible_collections.wiremesh.multicloud.plugins.modules import wg_interface

from ..module_utils.wireguard.fakehost import FakeHost, key, pub_of
from .modrunner import run_module

PRIV, PSK = key("priv"), key("psk")
A, B = key("a"), key("b")
CONFIG = {"interface": {"address": ["10.4.0.2/32"], "listen_port": 51820},
          "peers": [{"name": "aws1", "public_key": A, "endpoint": "203.0.113.21:51820",
                     "allowed_ips": ["10.4.0.1/32"], "persistent_keepalive": 25}]}


def args(tmp_path, **extra):
    key_path = tmp_path / "wg0.key"
    if not key_path.exists():
        key_path.write_text(PRIV + "\n")
        os.chmod(str(key_path), 0o600)
    base = {"config": CONFIG, "private_key_path": str(key_path), "config_path": str(tmp_path / "wg0.conf"),
            "preshared_keys": {A: PSK}}
    base.update(extra)
    return base


def test_up_then_idempotent_with_diff(tmp_path, capsys, monkeypatch):
    fake = FakeHost()
    rc, result, raw = run_module(wg_interface, args(tmp_path), capsys, monkeypatch, fake, diff=True)
    assert rc == 0 and result["changed"] and result["public_key"] == pub_of(PRIV)
    assert result["actions"][-1] == "bring up wg0 (/usr/bin/setsid -w wg-quick up %s)" % (tmp_path / "wg0.conf")
    assert "PresharedKey = <redacted>" in result["diff"]["after"]
    assert PRIV not in raw and PSK not in raw
    rc, result, raw = run_module(wg_interface, args(tmp_path), capsys, monkeypatch, fake, diff=True)
    assert result["changed"] is False and result["actions"] == []


def test_no_diff_key_without_diff_mode(tmp_path, capsys, monkeypatch):
    rc, result, dummy = run_module(wg_interface, args(tmp_path), capsys, monkeypatch, FakeHost())
    assert "diff" not in result


def test_check_mode_and_add_peer(tmp_path, capsys, monkeypatch):
    fake = FakeHost()
    run_module(wg_interface, args(tmp_path), capsys, monkeypatch, fake)
    config = {"interface": CONFIG["interface"],
              "peers": CONFIG["peers"] + [{"name": "do2", "public_key": B, "endpoint": None,
                                           "allowed_ips": ["10.4.0.3/32"]}]}
    rc, result, dummy = run_module(wg_interface, args(tmp_path, config=config), capsys, monkeypatch, fake, check=True)
    assert result["changed"] and "add peer do2" in result["actions"] and len(fake.links["wg0"]["wg"]["peers"]) == 1
    rc, result, dummy = run_module(wg_interface, args(tmp_path, config=config), capsys, monkeypatch, fake)
    assert result["changed"] and len(fake.links["wg0"]["wg"]["peers"]) == 2
    assert not [c for c in fake.commands() if "setconf" in c or " down" in c]


def test_failures_are_reported_without_secrets(tmp_path, capsys, monkeypatch):
    fake = FakeHost()
    fake.fail[("wg", "syncconf")] = (1, "", "Line unrecognized: `PrivateKey=%s'\nConfiguration parsing error" % PRIV)
    run_module(wg_interface, args(tmp_path), capsys, monkeypatch, fake)
    fake.peer("wg0", A).allowed = []
    rc, result, raw = run_module(wg_interface, args(tmp_path), capsys, monkeypatch, fake)
    assert rc == 1 and "wg syncconf wg0 failed" in result["msg"] and PRIV not in raw and PSK not in raw


def test_argument_checks(tmp_path, capsys, monkeypatch):
    rc, result, dummy = run_module(wg_interface, {"name": "wg0"}, capsys, monkeypatch, FakeHost())
    assert rc == 1 and "config" in result["msg"]
    long_name = args(tmp_path, name="a-very-long-interface")
    rc, result, dummy = run_module(wg_interface, long_name, capsys, monkeypatch, FakeHost())
    assert rc == 1 and "1-15 characters" in result["msg"]
    rc, result, dummy = run_module(wg_interface, args(tmp_path, mtu=100), capsys, monkeypatch, FakeHost())
    assert rc == 1 and "mtu" in result["msg"]
    leaky = {"interface": {}, "peers": [{"name": "x", "public_key": A, "preshared_key": PSK}]}
    rc, result, raw = run_module(wg_interface, args(tmp_path, config=leaky, preshared_keys=None), capsys, monkeypatch,
                                 FakeHost())
    assert rc == 1 and "preshared_keys option" in result["msg"] and PSK not in raw
    assert "invocation" in result
    bad = {"interface": {}, "peers": [{"name": "x", "public_key": "nope"}]}
    rc, result, dummy = run_module(wg_interface, args(tmp_path, config=bad), capsys, monkeypatch, FakeHost())
    assert rc == 1 and "peer x: public_key" in result["msg"]


def test_absent(tmp_path, capsys, monkeypatch):
    fake = FakeHost()
    run_module(wg_interface, args(tmp_path), capsys, monkeypatch, fake)
    rc, result, raw = run_module(wg_interface, {"state": "absent", "config_path": str(tmp_path / "wg0.conf")},
                                 capsys, monkeypatch, fake, diff=True)
    assert result["changed"] and "wg0" not in fake.links and not (tmp_path / "wg0.conf").exists()
    assert PRIV not in raw and result["diff"]["after"] == ""
