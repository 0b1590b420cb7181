"""make test-clouds: provisioning, the clouds inventory and teardown against the two API emulators (moto_server
and tests/emulators/do_api), on 127.0.0.1 only. The happy path runs the real inventories/cloud unchanged (only
cloud_admin_cidrs is given on the command line); the failures each assert one clear message and that nothing was
created. No root and no lab needed."""

import json
import os
import subprocess
import sys
import time

import pytest

from .labtools import BIN, ROOT, playbook, recap

sys.path.insert(0, os.path.join(ROOT, "tools"))
import cloud_emulators  # noqa: E402  pylint: disable=wrong-import-position,import-error

ADMIN = json.dumps({"cloud_admin_cidrs": ["192.0.2.0/24"]})
CLOUD = "inventories/cloud"
ZERO_AWS = {"instances": 0, "internet_gateways": 0, "key_pairs": 0, "route_tables": 0, "security_groups": 0,
            "subnets": 0, "vpcs": 0}

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "moto_server")),
                                reason="moto_server is not installed in the project venv (make deps)")


def read_env(path):
    with open(os.path.join(path, "env.json")) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("clouds"))
    cloud_emulators.start(path)
    try:
        yield {"path": path, "env": read_env(path)}
    finally:
        cloud_emulators.stop(path)


def resources(clouds):
    return cloud_emulators.resources(clouds["path"])


def nothing_left(clouds):
    left = resources(clouds)
    assert left["aws"]["eu-central-1"] == ZERO_AWS, left
    for kind in ("droplets", "firewalls", "ssh_keys", "vpcs", "tags_in_use"):
        assert left["digitalocean"][kind] == 0, left


def plain(value):
    """ansible-inventory --list marks values from inventory plugins as unsafe: {"__ansible_unsafe": v} -> v."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def run(clouds, *args, inventory=CLOUD, env=None, command="ansible-playbook"):
    return playbook(*args, inventory=inventory, command=command, extra_env=dict(clouds["env"], **(env or {})))


def output(result):
    """stdout + stderr with YAML's line wrapping undone (messages are matched whole)."""
    return " ".join((result.stdout + result.stderr).split())


def test_provision_inventory_rerun_teardown(clouds):
    first = run(clouds, "playbooks/provision.yml", "-e", ADMIN)
    assert first.returncode == 0, output(first)[-3000:]
    assert recap(first.stdout)["localhost"]["changed"] > 0

    listed = run(clouds, "--list", command="ansible-inventory")
    assert listed.returncode == 0, output(listed)
    inv = plain(json.loads(listed.stdout))
    members = {group: set(inv.get(group, {}).get("hosts", [])) for group in inv if group != "_meta"}
    assert members["aws"] == {"gpu-1"} and members["gpu"] == {"gpu-1"}
    assert members["digitalocean"] == members["digitalocean_fra1"] == {"web-1", "web-2"}
    assert members["aws_eu_central_1"] == {"gpu-1"} and members["edges"] == {"edge"}
    assert members["mesh"] == {"gpu-1", "web-1", "web-2", "edge"}
    assert members["role_web"] == {"web-1", "web-2"}
    hostvars = inv["_meta"]["hostvars"]
    web = hostvars["web-1"]
    assert web["ansible_host"] == web["wiremesh_endpoint"] and web["ansible_host"].startswith("203.0.113.")
    assert web["wiremesh_location"] == "digitalocean-fra1" and web["wiremesh_private_ips"][0].endswith("/20")
    gpu = hostvars["gpu-1"]
    assert gpu["wiremesh_gpu"] is True and gpu["wiremesh_location"] == "aws-eu-central-1"
    assert gpu["wiremesh_private_ips"][0].startswith("172.31.16.") and gpu["cloud_image"] == "ami-0e1f2a3b4c5d60002"

    graph = run(clouds, "--graph", command="ansible-inventory")
    assert "@aws_eu_central_1:" in graph.stdout and "@gpu:" in graph.stdout

    again = run(clouds, "playbooks/provision.yml", "-e", ADMIN)
    assert again.returncode == 0 and recap(again.stdout)["localhost"]["changed"] == 0, output(again)[-3000:]
    check = run(clouds, "playbooks/provision.yml", "-e", ADMIN, "--check")
    assert check.returncode == 0 and recap(check.stdout)["localhost"]["changed"] == 0, output(check)[-3000:]

    down = run(clouds, "playbooks/teardown.yml")
    assert down.returncode == 0, output(down)[-3000:]
    assert "no instance, key pair, security group, route table, gateway, subnet or VPC of kubecon-demo left" \
        in " ".join(down.stdout.split())
    nothing_left(clouds)
    again = run(clouds, "playbooks/teardown.yml")
    assert again.returncode == 0 and recap(again.stdout)["localhost"]["changed"] == 0


def test_rejected_digitalocean_token_changes_nothing(clouds):
    token = "wrong-token-" + "x" * 20
    result = run(clouds, "playbooks/provision.yml", "-e", ADMIN,
                 env={"DIGITALOCEAN_ACCESS_TOKEN": token})
    text = output(result)
    assert result.returncode != 0
    assert "DigitalOcean: 401" in text and "DIGITALOCEAN_ACCESS_TOKEN" in text, text[-3000:]
    assert token not in text
    nothing_left(clouds)


def test_missing_aws_credentials_change_nothing(clouds):
    result = run(clouds, "playbooks/provision.yml", "-e", ADMIN,
                 env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                      "AWS_CONFIG_FILE": "/dev/null"})
    assert result.returncode != 0
    assert "wiremesh.multicloud.clouds: AWS: no credentials found" in output(result), output(result)[-3000:]
    nothing_left(clouds)


def test_rejected_aws_credentials(clouds, tmp_path):
    """A moto_server that checks credentials (INITIAL_NO_AUTH_ACTION_COUNT=0) rejects unknown keys."""
    port = cloud_emulators.free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    with open(tmp_path / "moto.log", "wb") as log:
        proc = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        cloud_emulators.wait_http("http://127.0.0.1:%d/moto-api/" % port, proc)
        result = run(clouds, "--list", command="ansible-inventory",
                     env={"AWS_ENDPOINT_URL": "http://127.0.0.1:%d" % port})
        assert result.returncode != 0
        assert "wiremesh.multicloud.clouds: AWS: the credentials were rejected in eu-central-1" in output(result)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unknown_region_is_refused_by_the_api(clouds):
    groups = json.dumps({"cloud_groups": [{"name": "web", "provider": "digitalocean", "region": "zzz9",
                                           "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}]})
    result = run(clouds, "playbooks/provision.yml", "-e", ADMIN, "-e", groups)
    text = output(result)
    assert result.returncode != 0
    assert "DigitalOcean: 422" in text and "zzz9" in text, text[-3000:]
    down = run(clouds, "playbooks/teardown.yml", "-e", groups)
    assert down.returncode == 0, output(down)[-3000:]
    nothing_left(clouds)


def test_malformed_declaration_names_group_and_field(clouds):
    groups = json.dumps({"cloud_groups": [
        {"name": "web", "provider": "digitalocean", "region": "fra1", "size": "s-1vcpu-1gb", "image": "x", "count": 2},
        {"name": "web", "provider": "aws", "region": "Frankfurt", "size": "t3.micro", "image": "ami-1", "gpu": "no"}]})
    result = run(clouds, "playbooks/provision.yml", "-e", ADMIN, "-e", groups)
    text = output(result)
    assert result.returncode != 0
    assert "group web: name: is declared twice" in text
    assert "group web: region: 'Frankfurt' is not a aws region name (like eu-central-1)" in text
    assert "group web: gpu: must be true or false (a YAML boolean), got 'no'" in text
    nothing_left(clouds)


def test_duplicate_host_name_across_providers(clouds):
    """A host name used in both clouds (here an AWS instance tagged into the mesh by hand) stops the inventory."""
    import boto3  # pylint: disable=import-outside-toplevel

    groups = json.dumps({"cloud_groups": [{"name": "web", "provider": "digitalocean", "region": "fra1",
                                           "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "count": 1}]})
    made = run(clouds, "playbooks/provision.yml", "-e", ADMIN, "-e", groups)
    assert made.returncode == 0, output(made)[-3000:]
    ec2 = boto3.client("ec2", region_name="eu-central-1", endpoint_url=clouds["env"]["AWS_ENDPOINT_URL"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    rogue = ec2.run_instances(ImageId="ami-0d1e2b3c4a5f60003", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                  {"Key": "Name", "Value": "web-1"}, {"Key": "wiremesh-mesh", "Value": "kubecon-demo"}]}])
    try:
        listed = run(clouds, "--list", command="ansible-inventory")
        assert listed.returncode != 0
        assert "host names must be unique across providers: web-1 is used by aws i-" in output(listed)
        assert "digitalocean" in output(listed).split("web-1 is used by", 1)[1][:120]
    finally:
        # the inventory cannot be listed while the clash lasts (teardown needs it): remove the intruder first
        ec2.terminate_instances(InstanceIds=[rogue["Instances"][0]["InstanceId"]])
        down = run(clouds, "playbooks/teardown.yml", "-e", groups)
        assert down.returncode == 0, output(down)[-3000:]
    nothing_left(clouds)


def test_droplet_limit_is_a_clear_error(clouds, tmp_path):
    """An account at its droplet limit: the API's 422 reaches the user as it is, naming the droplet."""
    port = cloud_emulators.free_port()
    token = clouds["env"]["DIGITALOCEAN_ACCESS_TOKEN"]
    with open(tmp_path / "do.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.emulators.do_api", "--port", str(port), "--token", token,
                                 "--droplet-limit", "1", "--boot-seconds", "0"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        cloud_emulators.wait_http("http://127.0.0.1:%d/_emulator/resources" % port, proc)
        groups = json.dumps({"cloud_groups": [{"name": "web", "provider": "digitalocean", "region": "fra1",
                                               "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "count": 2}]})
        env = {"DIGITALOCEAN_API_URL": "http://127.0.0.1:%d" % port}
        result = run(clouds, "playbooks/provision.yml", "-e", ADMIN, "-e", groups, env=env)
        text = output(result)
        assert result.returncode != 0
        assert "DigitalOcean: 422" in text and "droplet limit" in text and "web-2" in text, text[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_inventory_mesh_must_match_the_declared_mesh(clouds):
    result = run(clouds, "playbooks/provision.yml", "-e", ADMIN, "-e", "cloud_mesh=other-mesh")
    assert result.returncode != 0
    assert "cloud_mesh is other-mesh but the inventory's wiremesh.multicloud.clouds configuration lists mesh " \
           "kubecon-demo" in output(result)
    nothing_left(clouds)


def test_emulators_listen_on_loopback_only(clouds):
    deadline = time.monotonic() + 5
    state = cloud_emulators.load(clouds["path"])
    for url in (state["aws_url"], state["do_url"]):
        assert url.startswith("http://127.0.0.1:")
    with open("/proc/net/tcp") as handle:
        listening = [line.split()[1] for line in handle.readlines()[1:] if line.split()[3] == "0A"]
    for url in (state["aws_url"], state["do_url"]):
        port = int(url.rsplit(":", 1)[1])
        owners = [addr for addr in listening if int(addr.split(":")[1], 16) == port]
        assert owners == ["0100007F:%04X" % port], owners
    assert time.monotonic() < deadline
