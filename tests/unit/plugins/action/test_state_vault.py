"""A vault-encrypted state file, through real ansible-playbook runs (controller only): mesh_plan writes it (and
its .bak) encrypted, reruns change nothing, the mesh_psk lookup and the wiremesh CLI read it with the password;
no password, a wrong one, or state_vault without one fail with one clear message and leave the file as it was."""

import json
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.dirname(sys.executable)
PLAYBOOK_BIN = os.path.join(BIN, "ansible-playbook")

from .test_mesh_plan_action import inventory

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed here")

PLAY = """
- name: Plan
  hosts: mesh
  gather_facts: false
  tasks:
    - name: What wg_key would publish
      ansible.builtin.set_fact:
        wiremesh_public_key: "{{ test_key }}"
    - name: Plan the mesh
      wiremesh.multicloud.mesh_plan:
        hosts: "{{ groups['mesh'] }}"
        granularity: full
        state_path: "{{ state }}"
        state_vault: "{{ vault | default(false) | bool }}"
      run_once: true
      register: planned
    - name: Read a's preshared keys back
      ansible.builtin.set_fact:
        psks: "{{ query('wiremesh.multicloud.mesh_psk', 'a', state_path=state) | first }}"
      run_once: true
    - name: Save what the test looks at (no key material)
      ansible.builtin.copy:
        content: "{{ {'changed': planned.changed, 'psk_count': psks | length} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
      run_once: true
"""
HOSTS = inventory(["a", "b", "c"])


@pytest.fixture
def run(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "hosts.yml").write_text(HOSTS)
    (tmp_path / "right").write_text("the right vault password\n")
    (tmp_path / "wrong").write_text("not it\n")
    state = tmp_path / "state" / "mesh.json"

    def _run(*args, password=None):
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1")
        for name in ("ANSIBLE_CONFIG", "ANSIBLE_VAULT_PASSWORD_FILE"):
            env.pop(name, None)
        vault = ["--vault-password-file", str(tmp_path / password)] if password else []
        proc = subprocess.run([PLAYBOOK_BIN, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                               "-e", "state=%s out=%s" % (state, tmp_path / "out.json"), *vault, *args],
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
        result = json.loads((tmp_path / "out.json").read_text()) if proc.returncode == 0 else None
        (tmp_path / "out.json").unlink(missing_ok=True)
        return proc, result
    _run.state = state
    _run.dir = tmp_path
    return _run


def clear_psks(state):
    """The preshared keys of the state, read with ansible-vault (the test's own view of the file)."""
    view = subprocess.run([os.path.join(BIN, "ansible-vault"), "view", "--vault-password-file",
                           str(state.parent.parent / "right"), str(state)], capture_output=True, text=True,
                          check=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    return list(json.loads(view.stdout)["psks"].values())


def test_encrypted_state_is_written_read_and_stable(run):
    proc, first = run("-e", "vault=true", password="right")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert first == {"changed": True, "psk_count": 2}
    data = run.state.read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert stat.S_IMODE(os.stat(run.state).st_mode) == 0o600
    psks = clear_psks(run.state)
    assert len(psks) == 3 and not any(psk.encode() in data or psk in proc.stdout for psk in psks)

    proc, again = run("-e", "vault=true", password="right")
    assert proc.returncode == 0 and again == {"changed": False, "psk_count": 2}
    assert run.state.read_bytes() == data, "an unchanged state is not rewritten (new salt = a new file)"
    # state_vault off: an encrypted file stays encrypted
    proc, off = run(password="right")
    assert proc.returncode == 0 and not off["changed"] and run.state.read_bytes() == data


def test_a_clear_state_is_encrypted_and_its_backup_too(run):
    assert run()[0].returncode == 0
    psks = json.loads(run.state.read_text())["psks"].values()
    proc, converted = run("-e", "vault=true", password="right")
    assert proc.returncode == 0 and converted["changed"], proc.stdout[-3000:]
    for path in run.state.parent.iterdir():
        data = path.read_bytes()
        assert not any(psk.encode() in data for psk in psks), "%s holds a preshared key in clear" % path.name
    backup = run.state.parent / (run.state.name + ".bak")
    assert backup.read_bytes().startswith(b"$ANSIBLE_VAULT;") and stat.S_IMODE(os.stat(backup).st_mode) == 0o600


@pytest.mark.parametrize("password,extra,words", [
    (None, (), "is vault-encrypted: give the run the vault password"),
    ("wrong", (), "cannot decrypt the state file"),
])
def test_an_encrypted_state_without_its_password_is_refused_and_kept(run, password, extra, words):
    assert run("-e", "vault=true", password="right")[0].returncode == 0
    before = run.state.read_bytes()
    proc = run(*extra, password=password)[0]
    assert proc.returncode != 0 and words in proc.stdout, proc.stdout[-3000:]
    assert run.state.read_bytes() == before


def test_state_vault_without_a_password_fails_before_writing(run):
    proc = run("-e", "vault=true")[0]
    assert proc.returncode != 0
    assert "state_vault: the state file" in proc.stdout and "has no vault secret" in proc.stdout, proc.stdout[-3000:]
    assert not run.state.exists()


def test_the_cli_reads_an_encrypted_state_with_the_password_file(run):
    assert run("-e", "vault=true", password="right")[0].returncode == 0
    cli = [sys.executable, "-m", "wiremesh_cli", "showconf", "node", "a", "--format", "json", "--state",
           str(run.state)]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "cli"))
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    refused = subprocess.run(cli, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert refused.returncode == 2 and "is vault-encrypted: give --vault-password-file" in refused.stderr
    wrong = subprocess.run(cli + ["--vault-password-file", str(run.dir / "wrong")], capture_output=True, text=True,
                           env=env, check=False, timeout=60)
    assert wrong.returncode == 2 and "cannot decrypt the state file" in wrong.stderr
    shown = subprocess.run(cli, capture_output=True, text=True, check=False, timeout=60,
                           env=dict(env, ANSIBLE_VAULT_PASSWORD_FILE=str(run.dir / "right")))
    assert shown.returncode == 0, shown.stderr
    assert {p["name"] for p in json.loads(shown.stdout)["peers"]} == {"b", "c"}
