"""Provider records -> inventory hosts."""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.cloud import records

INSTANCE = {"InstanceId": "i-0abc", "InstanceType": "g4dn.xlarge", "ImageId": "ami-1", "State": {"Name": "running"},
            "PublicIpAddress": "54.214.1.2", "PrivateIpAddress": "172.31.16.4", "SubnetId": "subnet-1",
            "Tags": [{"Key": "Name", "Value": "gpu-1"}, {"Key": "wiremesh-mesh", "Value": "demo"},
                     {"Key": "wiremesh-location", "Value": "aws-eu-central-1"}, {"Key": "wiremesh-role", "Value": "gpu"},
                     {"Key": "wiremesh-gpu", "Value": "true"}]}
DROPLET = {"id": 3164445, "name": "web-1", "status": "active", "size_slug": "s-1vcpu-1gb",
           "region": {"slug": "fra1"}, "image": {"id": 7, "slug": "debian-12-x64"},
           "tags": ["wiremesh-mesh:demo", "wiremesh-role:web", "wiremesh-gpu:false", "other"],
           "networks": {"v4": [{"ip_address": "10.40.0.2", "netmask": "255.255.240.0", "type": "private"},
                               {"ip_address": "203.0.113.2", "netmask": "255.255.255.0", "type": "public"}]}}


def test_aws_instance_becomes_a_gpu_host_with_its_subnet_prefix():
    rec = records.from_aws(INSTANCE, "eu-central-1", {"subnet-1": "172.31.16.0/20"})
    values = records.host_vars(rec)
    assert values["ansible_host"] == values["wiremesh_endpoint"] == "54.214.1.2"
    assert values["wiremesh_private_ips"] == ["172.31.16.4/20"] and values["wiremesh_gpu"] is True
    assert records.host_groups(rec, "mesh") == ["mesh", "aws", "aws_eu_central_1", "gpu"]


def test_droplet_becomes_a_host_located_by_provider_and_region():
    rec = records.from_digitalocean(DROPLET)
    values = records.host_vars(rec)
    assert values["wiremesh_location"] == "digitalocean-fra1" and values["wiremesh_role"] == "web"
    assert values["wiremesh_private_ips"] == ["10.40.0.2/20"] and values["cloud_image"] == "debian-12-x64"
    assert records.host_groups(rec, "mesh") == ["mesh", "digitalocean", "digitalocean_fra1"]


def test_going_away_is_left_out_and_no_public_address_means_no_endpoint():
    assert records.from_aws(dict(INSTANCE, State={"Name": "shutting-down"}), "eu-central-1", {}) is None
    assert records.from_digitalocean(dict(DROPLET, status="archive")) is None
    rec = records.from_aws({k: v for k, v in INSTANCE.items() if k != "PublicIpAddress"}, "eu-central-1", {})
    values = records.host_vars(rec)
    assert "wiremesh_endpoint" not in values and values["ansible_host"] == "172.31.16.4"


def test_duplicate_names_say_where_each_comes_from():
    recs = [records.from_aws(INSTANCE, "eu-central-1", {}), dict(records.from_digitalocean(DROPLET), name="gpu-1")]
    assert records.duplicate_names(recs) == {"gpu-1": ["aws i-0abc (eu-central-1)", "digitalocean 3164445 (fra1)"]}
