"""The S3 state backend against a real moto_server on 127.0.0.1: round trip, conditional writes, the backup and
the bucket's versions, damaged state refused, the lock between processes (wait, timeout naming the holder, a stale
lock broken only with break_lock), SSE-KMS, Ansible Vault, and wrong bucket / credentials named."""

import json
import multiprocessing
import os
import time

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import state as mesh_state
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import StateError, Vault
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_store import open_store, s3_options

from tests.emulators.moto_s3 import ENV, bucket_name, iam_user, make_bucket, moto_server

KEY_A = "A" * 43 + "="
PSK = "P" * 43 + "="


@pytest.fixture(scope="module")
def s3():
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    try:
        with moto_server() as url:
            yield url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def bucket(s3, request):
    name = bucket_name(request.node.name)
    client = make_bucket(s3, name)
    return name, client


def store(url, bucket_name, key="mesh.state.json", vault=None, notes=None, **extra):
    return open_store(s3=dict(bucket=bucket_name, key=key, endpoint_url=url, **extra), vault=vault,
                      wait_note=(notes.append if notes is not None else None))


def sample(ip="10.4.0.2"):
    data = mesh_state.empty()
    data["nodes"]["a"] = {"mesh_ip": ip, "public_key": KEY_A, "reserved": False}
    data["psks"]["a|b"] = PSK
    return data


def test_round_trip_backup_and_versions(s3, bucket):
    name, client = bucket
    first = store(s3, name)
    assert first.load() == mesh_state.empty() and not first.exists()
    assert first.save(sample()) is True
    assert first.save(sample()) is False                      # unchanged: nothing written
    second = store(s3, name)
    assert second.load() == sample()
    assert second.save(sample("10.4.0.9")) is True
    backup = json.loads(client.get_object(Bucket=name, Key="mesh.state.json.bak")["Body"].read())
    assert backup["nodes"]["a"]["mesh_ip"] == "10.4.0.2"       # the version replaced
    versions = client.list_object_versions(Bucket=name, Prefix="mesh.state.json")["Versions"]
    assert len([v for v in versions if v["Key"] == "mesh.state.json"]) == 2


def test_a_write_over_a_version_it_did_not_read_is_refused(s3, bucket):
    name, _client = bucket
    one, two = store(s3, name), store(s3, name)
    one.load()
    two.load()
    one.save(sample("10.4.0.2"))
    with pytest.raises(StateError, match="another run changed the state since this run read it"):
        two.save(sample("10.4.0.3"))                          # both read "no object": only one may create it
    assert store(s3, name).load()["nodes"]["a"]["mesh_ip"] == "10.4.0.2"


def test_damaged_state_is_refused_and_kept(s3, bucket):
    name, client = bucket
    client.put_object(Bucket=name, Key="mesh.state.json", Body=b'{"version": 1, "nodes": [], "psks": {}}')
    with pytest.raises(StateError) as err:
        store(s3, name).load()
    assert "state object s3://%s/mesh.state.json is damaged" % name in str(err.value)
    assert "mesh.state.json.bak" in str(err.value)
    body = client.get_object(Bucket=name, Key="mesh.state.json")["Body"].read()
    assert body == b'{"version": 1, "nodes": [], "psks": {}}'


def _hold(url, name, seconds, ready, env):
    os.environ.update(env)
    held = store(url, name)
    with held.lock():
        ready.set()
        time.sleep(seconds)


def test_a_second_run_waits_for_the_lock(s3, bucket):
    name, client = bucket
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(s3, name, 3, ready, ENV))
    holder.start()
    try:
        assert ready.wait(30)
        notes = []
        waiting = store(s3, name, notes=notes)
        started = time.monotonic()
        with waiting.lock():
            waited = time.monotonic() - started
            record = json.loads(client.get_object(Bucket=name, Key="mesh.state.json.lock")["Body"].read())
            assert record["owner"].endswith("pid %d" % os.getpid())
        assert 1.0 < waited < 15 and waiting.waited == pytest.approx(waited, abs=0.5)
        assert any("waiting for the state lock" in note and "pid %d" % holder.pid in note for note in notes)
    finally:
        holder.join(30)
    assert "Contents" not in client.list_objects_v2(Bucket=name, Prefix="mesh.state.json.lock")   # released


def test_a_held_lock_times_out_naming_its_holder(s3, bucket):
    name, client = bucket
    record = {"owner": "ops@laptop pid 7", "since": int(time.time()), "expires": int(time.time()) + 600}
    client.put_object(Bucket=name, Key="mesh.state.json.lock", Body=json.dumps(record).encode())
    with pytest.raises(StateError) as err:
        with store(s3, name, lock_timeout=2, break_lock=True).lock():    # a live lease is never broken
            pass
    assert "locked by ops@laptop pid 7" in str(err.value) and "wait for it to finish" in str(err.value)


def test_a_stale_lock_is_broken_only_when_asked(s3, bucket):
    name, client = bucket
    record = {"owner": "ci@runner pid 9", "since": int(time.time()) - 900, "expires": int(time.time()) - 300}
    client.put_object(Bucket=name, Key="mesh.state.json.lock", Body=json.dumps(record).encode())
    with pytest.raises(StateError) as err:
        with store(s3, name, lock_timeout=1).lock():
            pass
    assert "its lease ran out" in str(err.value) and "break_lock" in str(err.value)
    notes = []
    with store(s3, name, lock_timeout=5, break_lock=True, notes=notes).lock():
        assert any("broke the stale lock" in note and "ci@runner pid 9" in note for note in notes)
    assert "Contents" not in client.list_objects_v2(Bucket=name, Prefix="mesh.state.json.lock")


def test_sse_kms(s3, bucket):
    name, client = bucket
    import boto3   # pylint: disable=import-outside-toplevel
    kms = boto3.client("kms", endpoint_url=s3, region_name=ENV["AWS_DEFAULT_REGION"])
    key_id = kms.create_key(Description="wiremesh state")["KeyMetadata"]["KeyId"]
    target = store(s3, name, sse_kms_key_id=key_id)
    target.load()
    target.save(sample())
    head = client.head_object(Bucket=name, Key="mesh.state.json")
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
    assert store(s3, name).load() == sample()


def test_vault_encrypted_state_and_backup(s3, bucket):
    name, client = bucket
    from ansible.parsing.vault import VaultLib, VaultSecret   # pylint: disable=import-outside-toplevel
    vault = Vault(VaultLib([("default", VaultSecret(b"the password"))]))
    clear = store(s3, name)
    clear.load()
    clear.save(sample())
    target = store(s3, name, vault=vault)
    target.load()
    assert target.save(sample(), encrypt=True) is True          # clear -> encrypted is a change
    for key in ("mesh.state.json", "mesh.state.json.bak"):      # the clear copy does not survive as the backup
        body = client.get_object(Bucket=name, Key=key)["Body"].read()
        assert body.startswith(b"$ANSIBLE_VAULT;") and PSK.encode() not in body
    with pytest.raises(StateError, match="is vault-encrypted"):
        store(s3, name).load()
    assert store(s3, name, vault=vault).load() == sample()


def test_a_missing_bucket_is_named(s3):
    with pytest.raises(StateError) as err:
        store(s3, "no-such-bucket-here").load()
    assert str(err.value).startswith("state backend s3 (s3://no-such-bucket-here/mesh.state.json)")
    assert "the bucket does not exist" in str(err.value)


def test_missing_credentials_are_named(s3, bucket, monkeypatch, tmp_path):
    name, _client = bucket
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(StateError) as err:
        store(s3, name).load()
    assert "state backend s3 (s3://%s/mesh.state.json)" % name in str(err.value)
    assert "no AWS credentials found" in str(err.value)


def test_options_are_validated_with_field_names():
    with pytest.raises(StateError, match="state_s3: missing required arguments: bucket"):
        s3_options({"key": "k"})
    with pytest.raises(StateError, match="lock_timeout"):
        s3_options({"bucket": "b", "key": "k", "lock_timeout": "soon"})
    assert s3_options({"bucket": "b", "key": "k", "aws_access_key_id": "AK"})["access_key"] == "AK"
    with pytest.raises(StateError, match="mutually exclusive"):
        open_store("/tmp/x", {"bucket": "b", "key": "k"})


@pytest.fixture(scope="module")
def s3_auth():
    """A moto_server that checks signatures and IAM policies, with a read-write and a read-only user."""
    with moto_server(auth_after=6) as url:
        users = {"rw": iam_user(url, "wiremesh-rw", "s3:*"),
                 "ro": iam_user(url, "wiremesh-ro", ["s3:GetObject", "s3:ListBucket"])}
        import boto3   # pylint: disable=import-outside-toplevel
        boto3.client("s3", endpoint_url=url, region_name=ENV["AWS_DEFAULT_REGION"],
                     aws_access_key_id=users["rw"]["access_key"],
                     aws_secret_access_key=users["rw"]["secret_key"]).create_bucket(
            Bucket="wm-auth", CreateBucketConfiguration={"LocationConstraint": ENV["AWS_DEFAULT_REGION"]})
        yield url, users


@pytest.mark.parametrize("case,expected", [
    ("unknown key", "the access key is not known to S3"),
    ("wrong secret", "the secret key does not match the access key"),
    ("read-only", "access denied"),
])
def test_wrong_credentials_are_named(s3_auth, case, expected):
    url, users = s3_auth
    creds = {"unknown key": {"access_key": "AKIAWIREMESHWRONG000", "secret_key": "x"},
             "wrong secret": dict(users["rw"], secret_key="not-the-secret"),
             "read-only": users["ro"]}[case]
    target = store(url, "wm-auth", **creds)
    with pytest.raises(StateError) as err:
        with target.lock():         # what the pre-flight check does: a read-only policy fails here too
            target.load()
    assert str(err.value).startswith("state backend s3 (s3://wm-auth/mesh.state.json): ")
    assert expected in str(err.value)
    right = store(url, "wm-auth", **users["rw"])
    with right.lock():
        assert right.load() == mesh_state.empty()
