"""The collection works after `ansible-galaxy collection build` + `install`, not only from the checkout."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")
MODULES = ("mesh_plan", "wg_key", "wg_interface")


def isolated_env(collections):
    """Only the installed copy is visible: no ansible.cfg of the checkout, no other collections path."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections))
    env.pop("ANSIBLE_CONFIG", None)
    return env


pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "ansible-galaxy")),
                                reason="needs the project venv (make deps)")


def run(*args, cwd=ROOT, env=None):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), ROOT)
    tarball = [f for f in os.listdir(out) if f.endswith(".tar.gz")]
    assert tarball == ["wiremesh-multicloud-0.1.0.tar.gz"]
    dest = tmp_path_factory.mktemp("collections")
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(dest),
        str(out / tarball[0]), cwd=str(out), env=isolated_env(dest))
    return dest


def test_the_tarball_carries_no_local_state(installed):
    root = os.path.join(installed, "ansible_collections", "wiremesh", "multicloud")
    present = set(os.listdir(root))
    assert {"plugins", "roles", "playbooks", "meta", "MANIFEST.json", "README.md"} <= present
    assert not present & {".venv", ".lab", ".tmp", "collections", ".ci", ".git"}


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_from_the_installed_collection(installed, module):
    text = run(os.path.join(BIN, "ansible-doc"), "wiremesh.multicloud.%s" % module, env=isolated_env(installed),
               cwd=str(installed))
    assert "wiremesh.multicloud.%s" % module in text and "EXAMPLES" in text


def test_roles_and_playbooks_resolve_from_the_installed_collection(installed, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- name: Import the collection's mesh playbook\n"
        "  ansible.builtin.import_playbook: wiremesh.multicloud.mesh\n")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    mesh:\n      hosts:\n        a:\n")
    run(os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i", str(inventory), str(playbook),
        env=isolated_env(installed), cwd=str(tmp_path))
