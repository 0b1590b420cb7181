# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The S3 backend of the mesh state (mesh_plan, mesh_graph, the mesh_psk lookup)."""

    DOCUMENTATION = r"""
options:
  state_s3:
    description:
      - Keep the mesh state in one S3 object instead of a file on the controller, so that several controllers
        (operators, a CI pipeline, AWX / Automation Platform jobs in fresh containers, sliced jobs) share one
        mesh. Mutually exclusive with O(state_path).
      - Every write is conditional on the version read (C(If-Match), C(If-None-Match) for the first); the version
        replaced is kept as C(<key>.bak) (and by the bucket's versioning when it is on, which is advised).
      - A lock object C(<key>.lock) created with C(If-None-Match) makes concurrent runs plan one after the other;
        it holds the holder's name and a lease. The pre-flight check takes and gives it back, so wrong
        credentials, a missing bucket or a read-only policy stop the run before any host is touched.
      - Credentials are taken the way amazon.aws takes them; the options below first, then the AWS SDK's chain
        (E(AWS_ACCESS_KEY_ID), E(AWS_SECRET_ACCESS_KEY), E(AWS_SESSION_TOKEN), E(AWS_PROFILE), shared files, an
        instance or container role). E(AWS_ENDPOINT_URL) and E(AWS_REGION) apply as well.
      - Needs boto3 on the controller. The IAM policy needs C(s3:GetObject), C(s3:PutObject) and C(s3:DeleteObject)
        on the key and its C(.bak) and C(.lock) objects, and C(s3:ListBucket) on the bucket (without it a missing
        key reads as access denied); with O(state_s3.sse_kms_key_id), C(kms:GenerateDataKey) and C(kms:Decrypt).
    type: dict
    suboptions:
      bucket:
        description: Name of the bucket; it must exist.
        type: str
        required: true
      key:
        description: Key of the state object, for example C(wiremesh/mesh.state.json).
        type: str
        required: true
      region:
        description: AWS region of the bucket (default the SDK's, E(AWS_REGION) or E(AWS_DEFAULT_REGION)).
        type: str
      endpoint_url:
        description: S3 endpoint, for S3-compatible stores and emulators (default the SDK's, E(AWS_ENDPOINT_URL)).
        type: str
        aliases: [aws_endpoint_url]
      profile:
        description: Named profile of the AWS shared configuration.
        type: str
        aliases: [aws_profile]
      access_key:
        description: AWS access key ID.
        type: str
        aliases: [aws_access_key_id, aws_access_key]
      secret_key:
        description: AWS secret access key. Never logged.
        type: str
        aliases: [aws_secret_access_key, aws_secret_key]
      session_token:
        description: AWS session token of temporary credentials. Never logged.
        type: str
        aliases: [aws_session_token]
      sse_kms_key_id:
        description:
          - Encrypt the state, its backup and its lock at rest with this KMS key (SSE-KMS; a key ID, an ARN or
            C(alias/...)). Without it the bucket's default encryption applies (SSE-S3 on every bucket since 2023).
          - Independent of Ansible Vault (the C(state_vault) option of M(wiremesh.multicloud.mesh_plan)), which
            encrypts the preshared keys before they leave the controller; both may be used.
        type: str
      lock_timeout:
        description: Seconds to wait for another run's lock before failing with the holder's name.
        type: int
        default: 300
      lock_lease:
        description: Seconds a lock is held for at most; past it, a dead run's lock may be broken (O(state_s3.break_lock)).
        type: int
        default: 600
      break_lock:
        description:
          - Take over a lock whose lease ran out (its run died). Never breaks a live lease. Use it once, knowingly.
        type: bool
        default: false
"""
