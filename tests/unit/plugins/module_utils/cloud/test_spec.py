"""The cloud declaration: expansion into hosts with names, locations and tags; every problem named."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.cloud import spec

WEB = {"name": "web", "provider": "digitalocean", "region": "fra1", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
       "count": 2}
GPU = {"name": "gpu", "provider": "aws", "region": "eu-central-1", "size": "g4dn.xlarge", "image": "ami-1", "gpu": True}
NETS = {"aws_vpc_cidr": "172.31.0.0/16", "aws_subnet_cidr": "172.31.16.0/20", "do_vpc_ip_range": "10.40.0.0/20"}
# Only the armour line of a private key (no key material), split so that secret scanners do not flag this file.
PRIVATE_ARMOUR = "-----BEGIN OPENSSH " + "PRIVATE KEY----- abc"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMZzlHXJAzSxnRNkvyyZuXZBMGsHS8c+Ye4yW1dxFnXs me@host"


def problems(*args, **kwargs):
    with pytest.raises(spec.CloudSpecError) as err:
        spec.expand(*args, **kwargs)
    return [p.render() for p in err.value.problems]


def test_expands_groups_into_named_hosts_with_locations_and_tags():
    plan = spec.expand("demo", [WEB, GPU], "10.4.0.0/16", NETS, ["192.0.2.0/24"], KEY)
    assert [h["name"] for h in plan["hosts"]] == ["web-1", "web-2", "gpu-1"]
    gpu = plan["hosts"][2]
    assert gpu["location"] == "aws-eu-central-1" and gpu["gpu"] is True
    assert gpu["aws_tags"] == {"wiremesh-mesh": "demo", "wiremesh-location": "aws-eu-central-1",
                               "wiremesh-role": "gpu", "wiremesh-gpu": "true", "Name": "gpu-1"}
    assert plan["hosts"][0]["do_tags"] == ["wiremesh-mesh:demo", "wiremesh-location:digitalocean-fra1",
                                           "wiremesh-role:web", "wiremesh-gpu:false"]
    assert plan["regions"] == {"aws": ["eu-central-1"], "digitalocean": ["fra1"]}
    assert plan["networks"] == NETS


def test_count_zero_declares_no_host_and_defaults_apply():
    plan = spec.expand("demo", [dict(WEB, count=0), {k: v for k, v in GPU.items() if k != "gpu"}])
    assert [h["name"] for h in plan["hosts"]] == ["gpu-1"] and plan["hosts"][0]["gpu"] is False


@pytest.mark.parametrize("group, expected", [
    (dict(WEB, provider="gcp"), "group web: provider: 'gcp' is not one of aws, digitalocean"),
    (dict(WEB, region="Frankfurt"), "group web: region: 'Frankfurt' is not a digitalocean region name (like fra1)"),
    (dict(GPU, region="fra1"), "group gpu: region: 'fra1' is not a aws region name (like eu-central-1)"),
    (dict(WEB, count="2"), "group web: count: must be a whole number from 0 to 50, got '2'"),
    (dict(WEB, count=True), "group web: count: must be a whole number from 0 to 50, got True"),
    (dict(WEB, count=51), "group web: count: must be a whole number from 0 to 50, got 51"),
    (dict(GPU, gpu="no"), "group gpu: gpu: must be true or false (a YAML boolean), got 'no'"),
    (dict(WEB, name="Web_1"), "group Web_1: name: 'Web_1' must be lower-case letters"),
    (dict(WEB, name=7), "group #1: name: 7 must be lower-case letters"),
    (dict(WEB, size=""), "group web: size: must be a non-empty string, got ''"),
    ({k: v for k, v in WEB.items() if k != "image"}, "group web: image: is required"),
    (dict(WEB, typo=1), "group web: typo: unknown field"),
    ("web", "group #1: must be a mapping, got 'web'"),
])
def test_bad_groups_are_named(group, expected):
    found = problems("demo", [group])
    assert any(p.startswith(expected) for p in found), found


def test_duplicate_groups_and_names_that_look_alike():
    twice = [WEB, dict(WEB, provider="aws", region="eu-central-1")]
    assert "group web: name: is declared twice" in problems("demo", twice)
    alike = [dict(WEB, name="a", count=11), dict(WEB, name="a-1", count=1)]
    names = [h["name"] for h in spec.expand("demo", alike)["hosts"]]
    assert len(set(names)) == 12 and names[-1] == "a-1-1"


def test_mesh_name_empty_groups_and_two_do_regions():
    assert problems("Demo!", [WEB])[0].startswith("mesh: name: 'Demo!' must be lower-case")
    assert problems("demo", [])[0] == "groups: declare at least one host group (a non-empty list)"
    found = problems("demo", [WEB, dict(WEB, name="ams", region="ams3")])
    assert found[0].startswith("groups: region: DigitalOcean hosts in ams3 and fra1: one VPC range")


def test_networks_must_be_valid_and_outside_the_mesh():
    found = problems("demo", [WEB], "10.4.0.0/16", {"aws_vpc_cidr": "10.4.0.0/16", "aws_subnet_cidr": "172.31.16.0/20",
                                                    "do_vpc_ip_range": "10.40.0.0/33"})
    assert "networks: aws_vpc_cidr: 10.4.0.0/16 overlaps the mesh CIDR 10.4.0.0/16" in found
    assert any(p.startswith("networks: do_vpc_ip_range: '10.40.0.0/33' is not a network") for p in found)
    assert "networks: aws_subnet_cidr: 172.31.16.0/20 is not inside aws_vpc_cidr 10.4.0.0/16" in found


@pytest.mark.parametrize("cidrs, key, expected", [
    ([], KEY, "access: admin_cidrs: list the networks you run Ansible from"),
    (["192.0.2.1/24"], KEY, "access: admin_cidrs: '192.0.2.1/24' is not a network"),
    (["192.0.2.0/24"], "/root/.ssh/id_ed25519.pub", "access: ssh_public_key: must be an OpenSSH public key line"),
    (["192.0.2.0/24"], PRIVATE_ARMOUR, "access: ssh_public_key: must be an OpenSSH"),
])
def test_access_settings(cidrs, key, expected):
    found = problems("demo", [WEB], None, None, cidrs, key)
    assert any(p.startswith(expected) for p in found), found
