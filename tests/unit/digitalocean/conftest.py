"""Fixtures for the DigitalOcean tests: an API emulator on a free loopback port, raw HTTP calls to it, SSH public
keys, and ansible-playbook runs of the do_* modules against it."""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TESTS = os.path.join(ROOT, "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from emulators.do_api import start  # noqa: E402  pylint: disable=wrong-import-position

TOKEN = "dop_v1_emulator0123456789abcdef0123456789abcdef0123456789abcdef01"
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def ssh_public_key(seed, kind="ssh-ed25519", comment="test@wiremesh"):
    """A well-formed OpenSSH public key (32 key bytes derived from ``seed``)."""
    blob = b"".join(len(part).to_bytes(4, "big") + part for part in (kind.encode(), bytes([seed % 256]) * 32))
    return "%s %s %s" % (kind, base64.b64encode(blob).decode(), comment)


class Emulator:
    def __init__(self, server, url):
        self.server = server
        self.url = url

    def request(self, method, path, body=None, token=TOKEN):
        """(status, JSON body or None) of one raw HTTP request."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - loopback emulator only
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def resources(self):
        return self.request("GET", "/_emulator/resources", token=None)[1]


@pytest.fixture
def emulator():
    server, url = start(tokens=[TOKEN], boot_seconds=0.2)
    yield Emulator(server, url)
    server.shutdown()
    server.server_close()


@pytest.fixture
def playbook(tmp_path):
    """Run a play (YAML text) on localhost with the collection of this checkout; returns the CompletedProcess.

    The token and the API endpoint come from the environment variables the modules read, unless ``env`` says
    otherwise (a value of None removes a variable)."""
    def run(play, url, *args, env=None, extra=None):
        (tmp_path / "play.yml").write_text(play)
        (tmp_path / "vars.json").write_text(json.dumps(dict(extra or {}, out_dir=str(tmp_path))))
        environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", DIGITALOCEAN_ACCESS_TOKEN=TOKEN,
                       DIGITALOCEAN_API_URL=url)
        environ.pop("ANSIBLE_CONFIG", None)
        for key, value in (env or {}).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        return subprocess.run([PLAYBOOK_BIN, "-i", "localhost,", "-c", "local",
                               "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(tmp_path / "vars.json"),
                               str(tmp_path / "play.yml"), *args],
                              cwd=str(tmp_path), env=environ, capture_output=True, text=True, timeout=300, check=False)
    run.out = tmp_path
    return run
