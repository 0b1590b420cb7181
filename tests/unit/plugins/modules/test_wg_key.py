"""wg_key's main(): arguments, results, check mode, and that the private key never reaches the output."""

import os
import stat

from ansible_collections.wiremesh.multicloud.plugins.modules import wg_key

from ..module_utils.wireguard.fakehost import FakeHost, key, pub_of
from .modrunner import run_module


def test_creates_and_returns_only_the_public_key(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "wireguard" / "wg0.key")
    fake = FakeHost()
    rc, result, raw = run_module(wg_key, {"path": path}, capsys, monkeypatch, fake)
    private = open(path).read().strip()
    assert rc == 0 and result["changed"] is True
    assert result["public_key"] == pub_of(private) and result["path"] == path
    assert private not in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    rc, result, raw = run_module(wg_key, {"path": path}, capsys, monkeypatch, fake)
    assert result["changed"] is False and result["public_key"] == pub_of(private) and private not in raw


def test_check_mode(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "wg0.key")
    rc, result, dummy = run_module(wg_key, {"path": path}, capsys, monkeypatch, FakeHost(), check=True)
    assert result["changed"] is True and result["public_key"] is None and not os.path.exists(path)


def test_refuses_an_invalid_file_naming_the_path(tmp_path, capsys, monkeypatch):
    path = tmp_path / "wg0.key"
    path.write_text("my precious notes\n")
    rc, result, raw = run_module(wg_key, {"path": str(path)}, capsys, monkeypatch, FakeHost())
    assert rc == 1 and result["failed"] and str(path) in result["msg"] and "precious" not in raw
    assert path.read_text() == "my precious notes\n"


def test_force_rotates(tmp_path, capsys, monkeypatch):
    path = tmp_path / "wg0.key"
    path.write_text(key("old") + "\n")
    fake = FakeHost()
    rc, result, raw = run_module(wg_key, {"path": str(path), "force": True}, capsys, monkeypatch, fake)
    new = path.read_text().strip()
    assert result["changed"] and new != key("old") and result["public_key"] == pub_of(new) and new not in raw


def test_a_leaking_wg_is_masked_by_no_log_values(tmp_path, capsys, monkeypatch):
    """Defence in depth: even if something put the key into the result, Ansible masks it."""
    path = tmp_path / "wg0.key"
    path.write_text(key("k") + "\n")
    fake = FakeHost()
    fake.fail[("wg", "pubkey")] = (0, key("k") + "\n", "")          # a broken wg echoing the private key
    rc, result, raw = run_module(wg_key, {"path": str(path)}, capsys, monkeypatch, fake)
    assert key("k") not in raw


def test_absent(tmp_path, capsys, monkeypatch):
    path = tmp_path / "wg0.key"
    path.write_text(key("k"))
    rc, result, dummy = run_module(wg_key, {"path": str(path), "state": "absent"}, capsys, monkeypatch, FakeHost())
    assert result["changed"] and not path.exists() and result["public_key"] is None
