# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh state as one S3 object, shared by every controller (operators, pipelines, AWX jobs), as safe as the
file: read and written whole (S3 replaces an object atomically), every write conditional on the version that was
read (``If-Match``, ``If-None-Match: *`` for the first), the previous version kept as ``<key>.bak`` (and by the
bucket's versioning when it is on), Ansible Vault as for the file, optionally SSE-KMS, damaged state refused.

The lock is an object ``<key>.lock`` created with ``If-None-Match: *`` (S3 conditional writes: exactly one
creator wins). It records who holds it and until when (its lease). A run waits for a held lock up to
``lock_timeout`` seconds; a lock whose lease ran out (its run died) is taken over only when ``break_lock`` says
so, by overwriting exactly that lock (``If-Match`` its ETag), so two runs can never break it at once."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import random
import socket
import time

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_state_args import S3_SPEC
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import (
    StateError, Vault, decode, dumps, parse)

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
except ImportError:     # reported when an S3 backend is asked for
    HAS_BOTO3 = False

# what an S3 error code means for the user; anything else is shown as S3 gave it
_HINTS = {
    "NoSuchBucket": "the bucket does not exist (create it, with versioning on, before the first run)",
    "AccessDenied": "access denied: the credentials need s3:GetObject, s3:PutObject and s3:DeleteObject on the key "
                    "and its .bak/.lock objects, and s3:ListBucket on the bucket",
    "InvalidAccessKeyId": "the access key is not known to S3 (check the credentials)",
    "SignatureDoesNotMatch": "the secret key does not match the access key (check the credentials)",
    "ExpiredToken": "the session token has expired",
    "PermanentRedirect": "the bucket is in another region (set region)",
    "AuthorizationHeaderMalformed": "the bucket is in another region (set region)",
    "KMS.NotFoundException": "the KMS key (sse_kms_key_id) does not exist",
}


def _code(exc):
    return (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")


def _lock_owner():
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return "%s@%s pid %d" % (user, socket.gethostname(), os.getpid())


class S3Store:
    """One state object in S3. ``options`` as in S3_SPEC (validated by the caller); ``wait_note`` is called with a
    line when the run has to wait for another run's lock."""

    def __init__(self, options, vault=None, wait_note=None):
        if not HAS_BOTO3:
            raise StateError("state backend s3: boto3 is not installed on the controller (pip install boto3)")
        self.opts = dict((name, options.get(name)) for name in S3_SPEC)     # aliases resolved, defaults filled
        self.bucket, self.key = self.opts["bucket"], self.opts["key"]
        self.name = "s3://%s/%s" % (self.bucket, self.key)
        self.what = "state object %s" % self.name
        self.vault = vault or Vault()
        self.wait_note = wait_note or (lambda line: None)
        self._etag = None       # of the state object as last read (None: it did not exist)
        self._text = None       # its clear text
        self._encrypted = False
        self._client = None
        self.waited = 0.0       # seconds this run waited for another run's lock

    # --- S3 calls ----------------------------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            try:
                session = boto3.session.Session(
                    profile_name=self.opts["profile"], region_name=self.opts["region"],
                    aws_access_key_id=self.opts["access_key"], aws_secret_access_key=self.opts["secret_key"],
                    aws_session_token=self.opts["session_token"])
                config = botocore.config.Config(connect_timeout=10, read_timeout=30,
                                                retries={"max_attempts": 4, "mode": "standard"})
                self._client = session.client("s3", endpoint_url=self.opts["endpoint_url"] or None, config=config)
            except botocore.exceptions.BotoCoreError as exc:
                raise self.error("cannot use the AWS credentials or profile", exc)
        return self._client

    def error(self, doing, exc):
        code = _code(exc)
        detail = _HINTS.get(code) or str(exc)
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            detail = ("no AWS credentials found (set state_s3's access_key/secret_key or profile, or the "
                      "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables, or attach an AWS credential "
                      "to the job)")
        return StateError("state backend s3 (%s): %s: %s" % (self.name, doing, detail))

    def _call(self, doing, method, **kwargs):
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self.error(doing, exc)

    def _put(self, key, body, **conditions):
        extra = {}
        if self.opts["sse_kms_key_id"]:
            extra = dict(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.opts["sse_kms_key_id"])
        return self.client.put_object(Bucket=self.bucket, Key=key, Body=body.encode("utf-8"),
                                      ContentType="application/json", **dict(extra, **conditions))

    # --- reading and writing -----------------------------------------------------------------------------------
    def _get(self):
        """(bytes, etag) of the state object, or (None, None) when it does not exist yet."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise self.error("cannot read the state", exc)
        except botocore.exceptions.BotoCoreError as exc:
            raise self.error("cannot read the state", exc)
        return response["Body"].read(), response["ETag"]

    def exists(self):
        return self._get()[0] is not None

    def raw(self):
        """The object's bytes as stored (vault-encrypted or not), for the CLI; None when there is none."""
        return self._get()[0]

    def is_vaulted(self):
        return self._encrypted

    def load(self):
        data, self._etag = self._get()
        if data is None:
            self._text, self._encrypted = None, False
            return parse(self.name, None, "")
        self._text, self._encrypted = decode(self.what, data, self.vault)
        hint = ("restore the previous good copy s3://%s/%s.bak (or an earlier version of the object when the bucket "
                "keeps versions), or delete the object to start over (that renumbers the mesh)"
                % (self.bucket, self.key))
        return parse(self.what, self._text, hint)

    def save(self, data, encrypt=False):
        """Write ``data`` over the version that ``load`` read (refused if another run changed it since); True when
        the object changed."""
        text = dumps(data)
        encrypt = encrypt or self._encrypted
        if self._text == text and self._encrypted == encrypt:
            return False
        try:
            if self._text is not None:       # the version being replaced, encrypted if the new one will be
                old = self._text if not encrypt else self.vault.encrypt(self.what, self._text)
                self._put(self.key + ".bak", old)
            body = self.vault.encrypt(self.what, text) if encrypt else text
            if self._etag is None:
                response = self._put(self.key, body, IfNoneMatch="*")
            else:
                response = self._put(self.key, body, IfMatch=self._etag)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise StateError("state backend s3 (%s): another run changed the state since this run read it "
                                 "(was it holding the lock?); nothing was written: rerun" % self.name)
            raise self.error("cannot write the state", exc)
        except botocore.exceptions.BotoCoreError as exc:
            raise self.error("cannot write the state", exc)
        self._etag, self._text, self._encrypted = response["ETag"], text, encrypt
        return True

    # --- the lock ----------------------------------------------------------------------------------------------
    def _holder(self):
        """(lock record, etag) of the lock as it is now, (None, None) when it is gone."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key + ".lock")
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise self.error("cannot read the lock", exc)
        try:
            record = json.loads(response["Body"].read().decode("utf-8"))
        except ValueError:
            record = {}
        return (record if isinstance(record, dict) else {}), response["ETag"]

    def _record(self):
        now = int(time.time())
        return json.dumps({"owner": _lock_owner(), "since": now, "expires": now + self.opts["lock_lease"]},
                          sort_keys=True)

    def _take(self, **condition):
        """The ETag of the lock object written on ``condition``, or None when the condition did not hold."""
        try:
            return self._put(self.key + ".lock", self._record(), **condition)["ETag"]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return None
            raise self.error("cannot take the lock", exc)
        except botocore.exceptions.BotoCoreError as exc:
            raise self.error("cannot take the lock", exc)

    def _acquire(self):
        """Take the lock, waiting up to lock_timeout (polls about once a second, bounded in count too)."""
        started = time.monotonic()
        timeout = self.opts["lock_timeout"]
        noted = False
        for _attempt in range(2 * timeout + 10):
            etag = self._take(IfNoneMatch="*")
            if etag:
                return etag
            holder, held_etag = self._holder()
            if holder is None:
                continue            # released between our two calls: try again at once
            expired = holder.get("expires", 0) < time.time()
            if expired and self.opts["break_lock"]:
                etag = self._take(IfMatch=held_etag)    # exactly that stale lock: two breakers cannot both win
                if etag:
                    self.wait_note("broke the stale lock of %s held by %s since %s (break_lock)"
                                   % (self.name, holder.get("owner", "?"), _when(holder.get("since"))))
                    return etag
                continue
            waited = time.monotonic() - started
            if waited >= timeout:
                break
            if not noted:
                self.wait_note("waiting for the state lock of %s held by %s" % (self.name, holder.get("owner", "?")))
                noted = True
            time.sleep(min(0.5 + random.random(), max(0.1, timeout - waited)))   # nosec - jitter, not crypto
        holder = self._holder()[0] or {}
        expired = holder.get("expires", 0) < time.time()
        advice = ("its lease ran out at %s: if that run is gone, rerun with break_lock "
                  "(wireguard_state_s3.break_lock=true) to take the lock over" % _when(holder.get("expires"))
                  if expired else "wait for it to finish (its lease runs to %s)" % _when(holder.get("expires")))
        raise StateError("state backend s3 (%s): locked by %s since %s; gave up after %d s (lock_timeout); %s"
                         % (self.name, holder.get("owner", "another run"), _when(holder.get("since")),
                            time.monotonic() - started, advice))

    @contextlib.contextmanager
    def lock(self):
        """Hold ``<key>.lock`` while the state is read, planned from and written."""
        started = time.monotonic()
        etag = self._acquire()
        self.waited = time.monotonic() - started
        try:
            yield
        finally:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key + ".lock", IfMatch=etag)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                # someone broke our lock (or S3 is unreachable now): the state write was guarded anyway
                self.wait_note("could not release the lock of %s: %s" % (self.name, exc))


def _when(epoch):
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    except (TypeError, ValueError):
        return "an unknown time"
