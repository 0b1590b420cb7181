"""A real moto_server (AWS API emulator) on a free 127.0.0.1 port, for the S3 state backend's tests: started as a
process, waited for, stopped by its PID. Tests talk to it over HTTP exactly as they would to S3."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

BIN = os.path.dirname(sys.executable)
# credentials moto accepts; real ones never reach a test
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto_server exited with %s" % proc.returncode)
        try:
            with urllib.request.urlopen(url, timeout=2):   # nosec - loopback emulator only
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError("moto_server did not answer on %s within %d s" % (url, timeout))


@contextlib.contextmanager
def moto_server(log_path=os.devnull, auth_after=None):
    """Yield the endpoint URL of a fresh moto_server; stop it (by PID) afterwards. ``auth_after``: moto checks
    every request's signature and IAM policy after that many unauthenticated ones (to create the IAM users)."""
    port = free_port()
    env = dict(os.environ)
    if auth_after is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(auth_after)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    url = "http://127.0.0.1:%d" % port
    try:
        _wait(url + "/moto-api/", proc)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def s3_client(url):
    import boto3   # pylint: disable=import-outside-toplevel
    return boto3.session.Session(aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
                                 region_name=ENV["AWS_DEFAULT_REGION"]).client("s3", endpoint_url=url)


def make_bucket(url, name, versioned=True):
    client = s3_client(url)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ENV["AWS_DEFAULT_REGION"]})
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return client


def bucket_name(test_name):
    """A valid, unique bucket name for a test (S3: 3-63 of a-z, 0-9 and '-')."""
    readable = "".join(c if c.isalnum() else "-" for c in test_name.lower())[:40].strip("-")
    return "wm-%s-%s" % (readable, hashlib.sha1(test_name.encode()).hexdigest()[:8])


def iam_user(url, name, actions):
    """An IAM user allowed ``actions`` on every resource, and its access key (3 unauthenticated requests)."""
    import boto3   # pylint: disable=import-outside-toplevel
    iam = boto3.client("iam", endpoint_url=url, region_name=ENV["AWS_DEFAULT_REGION"],
                       aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"])
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
