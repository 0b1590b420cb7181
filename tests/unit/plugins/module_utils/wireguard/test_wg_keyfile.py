"""Key files and secret files: generation, modes, refusals, and no key material in errors."""

import os
import stat

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import common, files, keyfile
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

from .fakehost import FakeHost, key, pub_of


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generates_key_in_a_new_0700_dir_with_mode_0600(tmp_path):
    path = str(tmp_path / "etc" / "wireguard" / "wg0.key")
    run = FakeHost()
    seen = set()
    result = keyfile.ensure(run, path, on_secret=seen.add)
    private = open(path).read().strip()
    assert result == {"changed": True, "public_key": pub_of(private), "actions": ["generate private key %s" % path]}
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700
    assert seen == {private}
    assert os.listdir(os.path.dirname(path)) == ["wg0.key"]          # no temp file left behind
    # wg pubkey got the key on stdin, never on the command line
    assert [c for c in run.calls if c[0] == ["wg", "pubkey"]][0][1] == private
    assert not any(private in " ".join(args) for args, dummy in run.calls)


def test_existing_valid_key_is_kept_and_its_mode_fixed(tmp_path):
    path = tmp_path / "wg0.key"
    path.write_text(key("existing") + "\n")
    os.chmod(str(path), 0o644)
    run = FakeHost()
    assert keyfile.ensure(run, str(path), check_mode=True)["changed"] is True
    assert mode(str(path)) == 0o644
    result = keyfile.ensure(run, str(path))
    assert result == {"changed": True, "public_key": pub_of(key("existing")),
                      "actions": ["set mode 0600 on %s" % path]}
    assert mode(str(path)) == 0o600
    assert keyfile.ensure(run, str(path))["changed"] is False
    assert run.genkeys == 0 and path.read_text() == key("existing") + "\n"


@pytest.mark.parametrize("content", ["", "not a key\n", key("x")[:-2] + "\n", "-----BEGIN PRIVATE KEY-----\n"])
def test_refuses_to_overwrite_a_file_that_is_not_a_key(tmp_path, content):
    path = tmp_path / "wg0.key"
    path.write_text(content)
    with pytest.raises(WireGuardError) as err:
        keyfile.ensure(FakeHost(), str(path))
    assert str(path) in str(err.value) and "force" in str(err.value)
    assert path.read_text() == content


def test_force_regenerates(tmp_path):
    path = tmp_path / "wg0.key"
    path.write_text("garbage\n")
    assert keyfile.ensure(FakeHost(), str(path), force=True, check_mode=True) == {
        "changed": True, "public_key": None, "actions": ["regenerate private key %s" % path]}
    assert path.read_text() == "garbage\n"
    result = keyfile.ensure(FakeHost(), str(path), force=True)
    assert result["public_key"] == pub_of(path.read_text().strip()) and mode(str(path)) == 0o600


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "sub" / "wg0.key"
    run = FakeHost()
    assert keyfile.ensure(run, str(path), check_mode=True)["public_key"] is None
    assert not (tmp_path / "sub").exists() and run.calls == []


def test_absent(tmp_path):
    path = tmp_path / "wg0.key"
    assert keyfile.absent(str(path))["changed"] is False
    path.write_text(key("k"))
    assert keyfile.absent(str(path), check_mode=True)["changed"] is True and path.exists()
    assert keyfile.absent(str(path)) == {"changed": True, "public_key": None, "actions": ["remove %s" % path]}
    assert not path.exists()


def test_genkey_output_never_reaches_an_error(tmp_path):
    run = FakeHost()
    secret = key("leaked?")
    run.fail[("wg", "genkey")] = (1, secret + "\n", "error: " + secret)
    with pytest.raises(WireGuardError) as err:
        keyfile.ensure(run, str(tmp_path / "k"))
    assert secret not in str(err.value) and "wg genkey failed" in str(err.value)
    run.fail[("wg", "genkey")] = (0, "short\n", "")
    with pytest.raises(WireGuardError, match="did not return a valid key"):
        keyfile.ensure(run, str(tmp_path / "k"))
    assert not (tmp_path / "k").exists()


def test_pubkey_failure_does_not_echo(tmp_path):
    path = tmp_path / "k"
    path.write_text(key("k"))
    run = FakeHost()
    run.fail[("wg", "pubkey")] = (1, "", "bad key %s" % key("k"))
    with pytest.raises(WireGuardError) as err:
        keyfile.ensure(run, str(path))
    assert key("k") not in str(err.value)


def test_load_private_key(tmp_path):
    with pytest.raises(WireGuardError, match="does not exist.*wg_key"):
        keyfile.load_private_key(str(tmp_path / "nope"))
    (tmp_path / "bad").write_text("x")
    with pytest.raises(WireGuardError, match="not hold a valid"):
        keyfile.load_private_key(str(tmp_path / "bad"))
    with pytest.raises(WireGuardError, match="not a regular file"):
        keyfile.load_private_key(str(tmp_path))


def test_scrub_and_run_checked():
    secret = key("s")
    assert common.scrub("Line unrecognized: `PrivateKey=%s'" % secret) == "Line unrecognized: `PrivateKey=<redacted>'"
    assert common.scrub(b"pw hunter2 x", ["hunter2"]) == "pw <redacted> x"
    assert len(common.scrub("x" * 5000)) < 2100

    def run(args, data=None):
        return 1, "", "Key is not the correct length or format: `%s'" % data
    with pytest.raises(WireGuardError) as err:
        common.run_checked(run, ["wg", "syncconf", "wg0", "/dev/stdin"], data=secret, secrets=[secret])
    assert secret not in str(err.value) and "<redacted>" in str(err.value)


def test_atomic_write_replaces_and_keeps_0600(tmp_path):
    path = str(tmp_path / "wg0.conf")
    files.atomic_write(path, "one\n")
    os.chmod(path, 0o644)
    files.atomic_write(path, "two\n")
    assert open(path).read() == "two\n" and mode(path) == 0o600
    assert os.listdir(str(tmp_path)) == ["wg0.conf"]


def test_redact_keeps_every_other_line_intact():
    from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import conffile
    text = ("[Interface]\nPrivateKey = %s\n\n[Peer]\nPublicKey = %s\n  presharedkey=%s  \nAllowedIPs = 10.0.0.1/32\n"
            % (key("p"), key("a"), key("s")))
    assert conffile.redact(text) == ("[Interface]\nPrivateKey = <redacted>\n\n[Peer]\nPublicKey = %s\n"
                                     "  presharedkey=<redacted>\nAllowedIPs = 10.0.0.1/32\n" % key("a"))
    assert conffile.redact("") == "" and conffile.redact(None) == ""
