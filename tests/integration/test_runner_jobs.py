"""The mesh run the way AWX / Automation Platform runs it: each job through ansible-runner in a fresh private
data directory (nothing survives a job but what the S3 state backend keeps, here a real moto_server on
127.0.0.1), `site.yml` with the workloads off, on a lab of six hosts in two locations (rjlab). Needs root.

- A job whose bucket does not exist fails in the pre-flight check, naming the backend: no host has a key.
- Two jobs in a row: the second changes nothing.
- Three sliced jobs at once (AWX's slicing: host i of the name-sorted hosts in slice i % 3, each job's inventory
  only its slice, `wireguard_partial_inventory`): every host keeps every peer, nothing changes, every config is
  byte for byte the one the unsliced run wrote.
- A brand-new mesh (a second interface, its own state object) whose first run is sliced: the slices plan one
  after the other under the lock, so an early slice configures its hosts before the later slices' hosts are
  known; the test measures how many peers are missing after that first round, and that a second sliced round
  converges to exactly what an unsliced run makes."""

import json
import os
import time

import pytest
import yaml

from tests.emulators.moto_s3 import ENV, make_bucket, moto_server

from .labtools import BIN, ROOT, in_host, needs_lab, playbook

ansible_runner = pytest.importorskip("ansible_runner", reason="ansible-runner is not installed (make deps)")

INVENTORY = os.path.join(ROOT, "tests", "integration", "runner", "inventory")
LAB_ROOT = "/srv/wiremesh-lab/rjlab"
BUCKET = "wiremesh-runner-jobs"
pytestmark = needs_lab


def lab_inventory():
    with open(os.path.join(INVENTORY, "hosts.yml")) as handle:
        hosts = yaml.safe_load(handle)
    with open(os.path.join(INVENTORY, "group_vars", "lab.yml")) as handle:
        connection = yaml.safe_load(handle)
    return hosts, connection


def job_inventory(names):
    """What AWX hands a (sliced) job: the hosts given, in the mesh group, with their variables; no lab group."""
    hosts, connection = lab_inventory()
    members = hosts["all"]["children"]["lab"]["children"]["mesh"]["hosts"]
    keep = dict((name, dict((k, v) for k, v in members[name].items() if k.startswith("wiremesh_")))
                for name in sorted(names))
    all_vars = dict((k, v) for k, v in hosts["all"]["vars"].items() if k in ("lab_name", "lab_root"))
    all_vars.update(connection)
    return {"all": {"vars": all_vars, "children": {"mesh": {"hosts": keep}}}}


def all_hosts():
    hosts, _connection = lab_inventory()
    return sorted(hosts["all"]["children"]["lab"]["children"]["mesh"]["hosts"])


def slices(count=3):
    names = all_hosts()
    return [names[i::count] for i in range(count)]


@pytest.fixture(scope="module")
def rjlab(tmp_path_factory):
    built = playbook("-i", INVENTORY, "playbooks/lab.yml")
    assert built.returncode == 0, built.stdout[-4000:]
    base = tmp_path_factory.mktemp("jobs")
    with moto_server(str(base / "moto.log")) as url:
        make_bucket(url, BUCKET)
        yield {"url": url, "base": base, "count": 0}
    gone = playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")
    assert gone.returncode == 0, gone.stdout[-4000:]


def start_job(lab, hosts, extravars):
    """One AWX-style job: a fresh private data directory with its own inventory; returns (thread, runner, dir)."""
    lab["count"] += 1
    data_dir = lab["base"] / ("job%02d" % lab["count"])
    (data_dir / "inventory").mkdir(parents=True)
    (data_dir / "inventory" / "hosts.yml").write_text(yaml.safe_dump(job_inventory(hosts)))
    # ansible-runner runs the ansible-playbook on its PATH (an execution environment has it there)
    envvars = dict(ENV, AWS_ENDPOINT_URL=lab["url"], PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0")
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(data_dir), project_dir=ROOT, playbook="site.yml",
        inventory=str(data_dir / "inventory" / "hosts.yml"), envvars=envvars,
        extravars=dict({"wiremesh_workloads": False}, **extravars), quiet=True, timeout=600)
    return thread, runner, data_dir


def finish(started, ok=True):
    thread, runner, data_dir = started
    thread.join(660)
    stdout = (data_dir / "artifacts").glob("*/stdout")
    text = "".join(path.read_text(errors="replace") for path in stdout)
    if not ok:
        return runner, text
    assert runner.status == "successful" and runner.rc == 0, text[-5000:]
    # every job starts from nothing on the controller: its private data dir holds no state file
    assert not list(data_dir.rglob("*.state.json"))
    return runner.stats, text


def state_vars(key, **extra):
    return dict({"wireguard_state_backend": "s3", "wireguard_state_s3": {"bucket": BUCKET, "key": key}}, **extra)


def changed(stats):
    return sum((stats or {}).get("changed", {}).values())


def conf_digests(interface):
    """{host: sha256 of /etc/wireguard/<interface>.conf} (the files hold keys: only digests leave the host)."""
    out = {}
    for host in all_hosts():
        proc = in_host(LAB_ROOT, host, "sha256sum", "/etc/wireguard/%s.conf" % interface)
        assert proc.returncode == 0, proc.stderr
        out[host] = proc.stdout.split()[0]
    return out


def peers_on_hosts(interface):
    """{host: set of peer public keys the live interface has}."""
    out = {}
    for host in all_hosts():
        proc = in_host(LAB_ROOT, host, "wg", "show", interface, "peers")
        out[host] = set(proc.stdout.split()) if proc.returncode == 0 else set()
    return out


def planned_peers(key):
    """{host: set of peer keys its plan gives it} from the S3 state (its plan holds no secret)."""
    import boto3   # pylint: disable=import-outside-toplevel
    client = boto3.client("s3", endpoint_url=os.environ.get("WM_TEST_S3"), region_name=ENV["AWS_DEFAULT_REGION"],
                          aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"])
    state = json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return dict((name, set(p["public_key"] for p in node["peers"])) for name, node in state["plan"]["nodes"].items())


@pytest.fixture(scope="module")
def s3_env(rjlab):
    os.environ["WM_TEST_S3"] = rjlab["url"]
    yield
    os.environ.pop("WM_TEST_S3", None)


def test_a_job_with_a_wrong_bucket_touches_no_host(rjlab, s3_env):
    job = start_job(rjlab, all_hosts(), dict(state_vars("mesh.state.json"),
                                             wireguard_state_s3={"bucket": "no-such-bucket", "key": "m.json"}))
    runner, text = finish(job, ok=False)
    assert runner.status == "failed", text[-3000:]
    assert "state backend s3 (s3://no-such-bucket/m.json): cannot take the lock: the bucket does not exist" in text
    assert changed(runner.stats) == 0
    for host in all_hosts():            # the lab hosts are new: not even a key was made
        assert in_host(LAB_ROOT, host, "test", "-e", "/etc/wireguard/wg0.key").returncode == 1, host


def test_two_jobs_in_fresh_data_dirs_second_changes_nothing(rjlab, s3_env):
    stats, text = finish(start_job(rjlab, all_hosts(), state_vars("mesh.state.json")))
    assert changed(stats) > 0, text[-3000:]
    stats, text = finish(start_job(rjlab, all_hosts(), state_vars("mesh.state.json")))
    assert changed(stats) == 0, text[-5000:]
    assert all(peers_on_hosts("wg0")[h] >= planned_peers("mesh.state.json")[h] for h in all_hosts())


def test_three_sliced_jobs_at_once_keep_every_peer(rjlab, s3_env):
    before = conf_digests("wg0")
    started = [start_job(rjlab, part, state_vars("mesh.state.json", wireguard_partial_inventory=True))
               for part in slices()]
    for part, job in zip(slices(), started):
        stats, text = finish(job)
        assert sorted(stats["ok"]) == sorted(part + ["localhost"]) or sorted(stats["ok"]) == sorted(part), stats
        assert changed(stats) == 0, text[-5000:]
    assert conf_digests("wg0") == before
    planned, live = planned_peers("mesh.state.json"), peers_on_hosts("wg0")
    assert all(live[h] >= planned[h] and planned[h] for h in all_hosts())


def test_a_brand_new_mesh_whose_first_run_is_sliced_converges_in_a_second_round(rjlab, s3_env, record_property):
    second = dict(wireguard_interface="wg1", wireguard_cidr="10.58.0.0/24", wireguard_port=51830,
                  wireguard_partial_inventory=True)
    key = "mesh-b.state.json"
    missing_by_round = []
    for _round in range(2):
        started_at = time.monotonic()
        jobs = [start_job(rjlab, part, state_vars(key, **second)) for part in slices()]
        for job in jobs:
            finish(job)
        planned, live = planned_peers(key), peers_on_hosts("wg1")
        missing = sum(len(planned[h] - live[h]) for h in all_hosts())
        missing_by_round.append({"missing_peers": missing, "expected_peers": sum(len(p) for p in planned.values()),
                                 "seconds": round(time.monotonic() - started_at, 1)})
    record_property("sliced_first_run", json.dumps(missing_by_round))
    print("sliced first run of a brand-new mesh:", json.dumps(missing_by_round))
    assert missing_by_round[1]["missing_peers"] == 0, missing_by_round
    # what the sliced rounds made is what an unsliced run makes: an unsliced job changes nothing
    unsliced = {**second, "wireguard_partial_inventory": False}
    stats, text = finish(start_job(rjlab, all_hosts(), state_vars(key, **unsliced)))
    assert changed(stats) == 0, text[-5000:]
