"""Controllers sharing one mesh through the S3 state backend, as real ansible-playbook processes against a real
moto_server on 127.0.0.1 (controller only; the lab-wide runs are in tests/integration/test_runner_jobs.py):
two controllers at once, each with its own copy of the inventory, plan one after the other and agree on every
address and preshared key; a sliced run (partial_inventory) plans the whole mesh; a wrong bucket or no
credentials stop the run at its first task, naming the backend."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.emulators.moto_s3 import ENV, bucket_name, make_bucket, moto_server

from .test_mesh_plan_action import inventory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed here")

NAMES = ["a", "b", "c", "d", "e", "f"]
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
        state_s3: "{{ s3 }}"
        partial_inventory: "{{ partial | default(false) | bool }}"
      run_once: true
      register: planned
    - name: Save what the test looks at (no key material)
      ansible.builtin.copy:
        content: "{{ {'changed': planned.changed, 'mesh_ips': planned.mesh_ips, 'plan': planned.plan,
                      'waited': planned.state_lock_waited | default(0),
                      'kept': planned.kept_from_state | default([])} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
      run_once: true
"""


@pytest.fixture(scope="module")
def s3():
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(s3, request):
    name = bucket_name(request.node.name)
    return name, make_bucket(s3, name)


def controller(tmp_path, name, names, s3_options, extra=(), env_extra=None):
    """One controller: its own directory and copy of the inventory. Returns the started process and its out file."""
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    (home / "play.yml").write_text(PLAY)
    # each host keeps its own variables whatever part of the inventory this controller has
    (home / "hosts.yml").write_text("".join(line for line in inventory(NAMES).splitlines(True)
                                            if not line.startswith("        ") or line.split(":")[0].strip() in names))
    out = home / "out.json"
    out.unlink(missing_ok=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1", **ENV)
    env.pop("ANSIBLE_CONFIG", None)
    env.update(env_extra or {})
    extravars = {"s3": s3_options, "out": str(out)}
    proc = subprocess.Popen([PLAYBOOK_BIN, "-i", str(home / "hosts.yml"), str(home / "play.yml"),
                             "-e", json.dumps(extravars), *extra], cwd=str(home), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, out


def finish(started, timeout=180):
    proc, out = started
    stdout, _stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stdout, (json.loads(out.read_text()) if proc.returncode == 0 else None)


def psks(client, name):
    return json.loads(client.get_object(Bucket=name, Key="mesh.state.json")["Body"].read())["psks"]


def test_two_controllers_at_once_plan_one_mesh(s3, bucket, tmp_path):
    name, client = bucket
    options = {"bucket": name, "key": "mesh.state.json", "endpoint_url": s3}
    # a third party holds the lock for a moment, so that both controllers meet it and then each other
    record = {"owner": "test pid 1", "since": int(time.time()), "expires": int(time.time()) + 60}
    client.put_object(Bucket=name, Key="mesh.state.json.lock", Body=json.dumps(record).encode())
    one = controller(tmp_path, "one", NAMES, options)
    two = controller(tmp_path, "two", NAMES, options)
    time.sleep(6)
    client.delete_object(Bucket=name, Key="mesh.state.json.lock")
    (rc1, out1, res1), (rc2, out2, res2) = finish(one), finish(two)
    assert rc1 == 0, out1[-3000:]
    assert rc2 == 0, out2[-3000:]
    assert "waiting for the state lock" in out1 and "waiting for the state lock" in out2
    assert res1["waited"] > 1 and res2["waited"] > 1
    # exactly one created the mesh; the other planned from its state: same addresses, same plan
    assert sorted([res1["changed"], res2["changed"]]) == [False, True]
    assert res1["mesh_ips"] == res2["mesh_ips"] and res1["plan"] == res2["plan"]
    versions = [v for v in client.list_object_versions(Bucket=name, Prefix="mesh.state.json")["Versions"]
                if v["Key"] == "mesh.state.json"]
    assert len(versions) == 1          # one write: no renumbering, no preshared key drawn twice
    first = psks(client, name)
    # a third run from a fresh directory (a new AWX job) changes nothing
    rc3, out3, res3 = finish(controller(tmp_path, "three", NAMES, options))
    assert rc3 == 0 and res3["changed"] is False, out3[-3000:]
    assert psks(client, name) == first and res3["mesh_ips"] == res1["mesh_ips"]
    assert "Contents" not in client.list_objects_v2(Bucket=name, Prefix="mesh.state.json.lock")


def test_sliced_runs_keep_the_whole_mesh(s3, bucket, tmp_path):
    name, client = bucket
    options = {"bucket": name, "key": "mesh.state.json", "endpoint_url": s3}
    rc, out, whole = finish(controller(tmp_path, "whole", NAMES, options))
    assert rc == 0, out[-3000:]
    before = psks(client, name)
    slices = [NAMES[i::3] for i in range(3)]          # AWX: host i goes to slice i % 3
    started = [controller(tmp_path, "slice%d" % i, part, options, extra=["-e", "partial=true"])
               for i, part in enumerate(slices)]
    for part, job in zip(slices, started):
        rc, out, res = finish(job)
        assert rc == 0, out[-3000:]
        assert res["changed"] is False and sorted(res["kept"]) == sorted(set(NAMES) - set(part))
        assert res["plan"] == whole["plan"]
    assert psks(client, name) == before
    # without partial_inventory a slice is the whole mesh: the others leave it (documented)
    rc, out, res = finish(controller(tmp_path, "narrow", slices[0], options))
    assert rc == 0 and sorted(res["plan"]["nodes"]) == sorted(slices[0]), out[-3000:]


@pytest.mark.parametrize("case", ["bucket", "credentials"])
def test_a_wrong_backend_fails_at_the_first_task_naming_it(s3, bucket, tmp_path, case):
    name, _client = bucket
    options = {"bucket": name if case == "credentials" else "no-such-bucket", "key": "mesh.state.json",
               "endpoint_url": s3}
    env = {}
    if case == "credentials":
        env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x"),
               "AWS_CONFIG_FILE": str(tmp_path / "x")}
    rc, out, _res = finish(controller(tmp_path, case, NAMES, options, env_extra=env))
    assert rc == 2
    expected = "the bucket does not exist" if case == "bucket" else "no AWS credentials found"
    assert "state backend s3 (s3://%s/mesh.state.json)" % options["bucket"] in out and expected in out, out[-3000:]
