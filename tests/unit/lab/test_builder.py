"""Pure parts of roles/lab/files/wiremesh_lab.py: SPEC validation, naming, nftables text, mountinfo parsing."""
import importlib
import ipaddress
import json
import pathlib
import re

import pytest
import yaml

INVENTORY = pathlib.Path(__file__).resolve().parents[3] / "inventories" / "lab"


def spec(**over):
    base = {
        "lab_name": "t",
        "networks": {"cloud": {}, "isp": {}, "lan": {}},
        "routers": {
            "internet": {"interfaces": [{"network": "cloud", "address": "203.0.113.1/24"},
                                        {"network": "isp", "address": "198.51.100.1/24"}]},
            "nat": {"interfaces": [{"network": "isp", "address": "198.51.100.2/24"},
                                   {"network": "lan", "address": "192.168.50.1/24"}],
                    "gateway": "198.51.100.1", "masquerade_out": "isp"},
        },
        "hosts": [
            {"name": "a", "interfaces": [{"network": "cloud", "address": "203.0.113.11/24", "gateway": "203.0.113.1"}]},
            {"name": "b", "interfaces": [{"network": "lan", "address": "192.168.50.10/24", "gateway": "192.168.50.1"}]},
        ],
    }
    base.update(over)
    return base


def test_plan_names_and_defaults(builder):
    p = builder.plan(spec())
    assert p["lab_root"] == "/srv/wiremesh-lab/t"
    assert p["hide"] == "/srv/wiremesh-lab"
    assert p["switch"] == "wm-t-switch"
    assert p["mark"] == "wiremesh-lab:t"
    assert [n["ns"] for n in p["nodes"]] == ["wm-t-internet", "wm-t-nat", "wm-a", "wm-b"]
    assert p["hosts"] == ["a", "b"]
    nat = p["nodes"][1]
    assert nat["masquerade"] == "eth0" and nat["gateway"] == "198.51.100.1"
    assert [i["ifname"] for i in nat["interfaces"]] == ["eth0", "eth1"]
    assert nat["interfaces"][1]["bridge"] == "br-lan" and nat["interfaces"][1]["peer"] == "r-nat-1"
    assert p["nodes"][2]["gateway"] == "203.0.113.1"
    assert p["nodes"][0]["gateway"] is None


def test_plan_accepts_networks_as_list_and_no_hosts(builder):
    p = builder.plan({"lab_name": "x", "networks": ["n"], "lab_root": "/opt/labs/x"})
    assert p["bridges"] == {"n": "br-n"} and p["nodes"] == [] and p["hide"] == "/opt/labs"


@pytest.mark.parametrize("change, message", [
    ({"lab_name": "Bad_Name"}, "lab_name"),
    ({"hosts": [{"name": "a", "interfaces": [{"network": "nope", "address": "203.0.113.5/24"}]}]}, "unknown network"),
    ({"hosts": [{"name": "a", "interfaces": [{"network": "cloud", "address": "203.0.113.1/24"}]}]}, "also used by"),
    ({"hosts": [{"name": "a", "interfaces": [{"network": "cloud", "address": "203.0.113.5"}]}]}, "usable host"),
    ({"hosts": [{"name": "a", "interfaces": [{"network": "cloud", "address": "2001:db8::1/64"}]}]}, "IPv4"),
    ({"hosts": [{"name": "a", "interfaces": [
        {"network": "cloud", "address": "203.0.113.5/24", "gateway": "198.51.100.1"}]}]}, "not on the subnet"),
    ({"hosts": [{"name": "a", "interfaces": [
        {"network": "cloud", "address": "203.0.113.5/24", "gateway": "203.0.113.1"},
        {"network": "isp", "address": "198.51.100.5/24", "gateway": "198.51.100.1"}]}]}, "only one interface"),
    ({"hosts": [{"name": "a"}]}, "lab_interfaces"),
    ({"hosts": [{"name": "bad_host", "interfaces": []}]}, "valid host name"),
    ({"hosts": [{"name": "t-internet", "interfaces": []}]}, "collide"),
    ({"routers": {"r": {"interfaces": [], "masquerade_out": "isp"}}}, "masquerade_out"),
    ({"lab_root": "/var/lib/lab"}, "lab_root"),
])
def test_plan_rejects(builder, change, message):
    with pytest.raises(builder.LabError, match=message):
        builder.plan(spec(**change))


@pytest.mark.parametrize("root, ok", [
    ("/srv/wiremesh-lab/lab", True),
    ("/work/main/.lab/lab", True),
    ("/srv/lab", True),
    ("/lab", False),            # its parent would be /
    ("/srv/lab/", False),       # not normalized
    ("srv/lab", False),
    ("/etc/lab/x", False),
    ("/var/lab", False),        # hiding /var would hide /var/lib and /var/log
    ("/tmp/lab/x", False),
    ("/srv/la b/x", False),
    ("/srv/a,b/x", False),      # would break the overlay mount options
])
def test_check_lab_root(builder, root, ok):
    if ok:
        assert builder.check_lab_root(root) == root.rsplit("/", 1)[0]
    else:
        with pytest.raises(builder.LabError):
            builder.check_lab_root(root)


def test_ifname_fits_and_is_stable(builder):
    assert builder.ifname("br-", "cloud") == "br-cloud"
    long = builder.ifname("h-", "a-very-long-host-name", "-12")
    assert len(long) == 15 and long.startswith("h-") and long.endswith("-12")
    assert long == builder.ifname("h-", "a-very-long-host-name", "-12")
    assert long != builder.ifname("h-", "a-very-long-host-nam3", "-12")


def test_mac_is_local_unicast_and_stable(builder):
    value = builder.mac("lab", "router", "internet", "eth0")
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", value)
    assert value == builder.mac("lab", "router", "internet", "eth0")
    assert value != builder.mac("other", "router", "internet", "eth0")


def test_nft_rules(builder):
    tag, rules = builder.nft_rules("eth0")
    assert tag.startswith("wiremesh-lab ") and f'comment "{tag}"' in rules
    assert 'oifname "eth0" masquerade' in rules
    assert 'iifname "eth0" ct state established,related accept' in rules
    assert 'iifname "eth0" drop' in rules
    assert "chain fwd " not in rules  # `fwd` is an nft keyword
    assert builder.nft_rules("eth0") == (tag, rules) and builder.nft_rules("eth1")[0] != tag


def test_mountpoints(builder):
    text = ("36 35 98:0 / /mnt rw - ext3 /dev/root rw\n"
            "40 36 0:5 / /srv/wiremesh-lab/a\\040b rw - tmpfs tmpfs rw\n")
    assert builder.mountpoints(text) == ["/mnt", "/srv/wiremesh-lab/a b"]


def test_overlaps_with_the_machines_networks(builder):
    p = builder.plan(spec())
    assert builder.overlaps(p["nodes"], [ipaddress.ip_network("192.0.2.0/24")]) == []
    clash = builder.overlaps(p["nodes"], [ipaddress.ip_network("192.168.0.0/16")])
    assert len(clash) == 2 and all("192.168.50" in c for c in clash)


def test_neighbour_room_fits_every_pair_on_a_network_and_never_lowers(builder):
    p = builder.plan(spec())   # cloud: internet + a; isp: internet + nat; lan: nat + b -> 2 pairs each
    assert builder.neighbour_room(p["nodes"], {"gc_thresh2": 512, "gc_thresh3": 1024}) == \
        {"gc_thresh2": 518, "gc_thresh3": 1030}
    assert builder.neighbour_room(p["nodes"], {"gc_thresh2": 9000, "gc_thresh3": 1}) == \
        {"gc_thresh2": 9000, "gc_thresh3": 1030}
    many = [{"name": f"h{i}", "interfaces": [{"network": "cloud", "address": f"203.0.113.{i + 10}/24"}]}
            for i in range(100)]
    p = builder.plan(spec(hosts=many, routers={}))
    assert builder.neighbour_room(p["nodes"], {})["gc_thresh3"] == 1024 + 100 * 99


def test_is_within(builder):
    assert builder.is_within("/var/lib/x", "/var/lib") and builder.is_within("/var/lib", "/var/lib")
    assert not builder.is_within("/var/library", "/var/lib")


@pytest.mark.skipif(not INVENTORY.is_dir(), reason="no lab inventory")
def test_the_lab_inventory_is_a_valid_spec(builder):
    fabric = yaml.safe_load((INVENTORY / "group_vars" / "all" / "lab.yml").read_text())
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())

    def members(group):
        found = list((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            found += members(child or {})
        return found

    names = members(hosts["all"]["children"]["lab"])
    lab_hosts = [{"name": n, "interfaces": yaml.safe_load((INVENTORY / "host_vars" / f"{n}.yml").read_text())
                  ["lab_interfaces"]} for n in dict.fromkeys(names)]
    p = builder.plan({"lab_name": fabric["lab_name"], "lab_root": fabric["lab_root"], "networks": fabric["lab_networks"],
                      "routers": fabric["lab_routers"], "hosts": lab_hosts})
    assert sorted(p["hosts"]) == ["aws1", "do1", "do2", "edge", "operator"]
    assert builder.overlaps(p["nodes"], [ipaddress.ip_network("192.0.2.0/24")]) == []
    edge_nat = next(n for n in p["nodes"] if n["name"] == "edge-nat")
    assert edge_nat["masquerade"] == "eth0" and edge_nat["ns"] == "wm-lab-edge-nat"


def test_restart_needs_a_host_and_a_spec(tmp_path, capsys):
    tool = importlib.import_module("wiremesh_lab")
    with pytest.raises(SystemExit):
        tool.main(["restart", "--host", "a"])            # neither SPEC nor --lab-root
    with pytest.raises(SystemExit):
        tool.main(["restart", "--lab-root", "/srv/wiremesh-lab/t"])   # no --host
    capsys.readouterr()
    root = tmp_path / "labs" / "t"
    assert tool.main(["restart", "--lab-root", str(root), "--host", "a"]) == 1  # no spec.json of an `up` there
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "spec.json" in out["msg"] and out["changed"] is False


def test_restart_refuses_an_unknown_host_before_touching_anything(builder):
    tool = importlib.import_module("wiremesh_lab")
    lab = tool.Lab(builder.plan(spec()), spec())
    with pytest.raises(builder.LabError, match="'zz' is not a host of lab t"):
        lab.restart("zz")
    assert lab.actions == []


def test_load_spec(builder, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec()))
    assert builder.load_spec(str(path)) == spec()
    path.write_text("{")
    with pytest.raises(builder.LabError, match="cannot read SPEC"):
        builder.load_spec(str(path))
