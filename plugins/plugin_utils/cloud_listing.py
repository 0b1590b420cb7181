# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""List a mesh's hosts in AWS (boto3) and DigitalOcean (pydo, through the
DigitalOcean modules' client) as plain records (module_utils/cloud/records).
Every failure becomes one ListingError that names the provider and says what to fix; secrets are never quoted."""

from __future__ import annotations

from ansible_collections.wiremesh.multicloud.plugins.module_utils.cloud import records, tags

try:
    import boto3
    import botocore.exceptions as boto_errors
except ImportError:  # pragma: no cover - reported when the provider is asked for
    boto3 = None

from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean import client as do_client
from ansible_collections.wiremesh.multicloud.plugins.module_utils.digitalocean import droplets as do_droplets

AWS_AUTH_CODES = ("AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
                  "InvalidAccessKeyId", "ExpiredToken", "UnauthorizedOperation")


class ListingError(Exception):
    pass


def aws_records(mesh, regions, endpoint_url=None, access_key=None, secret_key=None, session_token=None,
                profile=None):
    """Live instances tagged wiremesh-mesh=<mesh> in each region."""
    if boto3 is None:
        raise ListingError("AWS: the boto3 Python library is required on the controller")
    try:
        session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                        aws_session_token=session_token, profile_name=profile or None)
    except boto_errors.ProfileNotFound as exc:
        raise ListingError("AWS: %s" % exc)
    found = []
    for region in regions:
        client = session.client("ec2", region_name=region, endpoint_url=endpoint_url or None)
        try:
            instances = []
            pages = client.get_paginator("describe_instances").paginate(Filters=[
                {"Name": "tag:%s" % tags.MESH, "Values": [mesh]},
                {"Name": "instance-state-name", "Values": list(records.LIVE_AWS_STATES)}])
            for page in pages:
                for reservation in page.get("Reservations", []):
                    instances.extend(reservation.get("Instances", []))
            subnet_ids = sorted({i["SubnetId"] for i in instances if i.get("SubnetId")})
            cidrs = {}
            if subnet_ids:
                for subnet in client.describe_subnets(SubnetIds=subnet_ids).get("Subnets", []):
                    cidrs[subnet["SubnetId"]] = subnet.get("CidrBlock")
        except boto_errors.NoCredentialsError:
            raise ListingError("AWS: no credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                               "AWS_PROFILE), or aws_access_key/aws_secret_key in the inventory configuration")
        except boto_errors.ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code in AWS_AUTH_CODES:
                raise ListingError("AWS: the credentials were rejected in %s (%s: %s)"
                                   % (region, code, error.get("Message", "")))
            raise ListingError("AWS: listing instances in %s failed (%s: %s)" % (region, code, error.get("Message")))
        except (boto_errors.EndpointConnectionError, boto_errors.ConnectTimeoutError) as exc:
            raise ListingError("AWS: cannot reach the EC2 endpoint for %s: %s" % (region, exc))
        found.extend(r for r in (records.from_aws(i, region, cidrs) for i in instances) if r is not None)
    return found


def do_records(mesh, token, base_url):
    """Live droplets tagged wiremesh-mesh:<mesh>, every page (the DigitalOcean modules' client and errors)."""
    try:
        api = do_client.Api(token, base_url)
        droplets = do_droplets.list_droplets(api, tag_name=tags.do_mesh_tag(mesh))
    except do_client.DigitalOceanError as exc:
        raise ListingError(str(exc))
    return [r for r in (records.from_digitalocean(d) for d in droplets) if r is not None]
