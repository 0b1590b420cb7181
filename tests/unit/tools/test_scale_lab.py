"""tools/scale_lab.py: the inventory of a lab of any size (make demo-scale), and bench/mesh_step.py's pure parts."""

import collections
import glob
import ipaddress
import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan

from scripts import ROOT, load


scale_lab = load("scale_lab", "tools/scale_lab.py")
sys.path.insert(0, os.path.join(ROOT, "roles", "lab", "files"))
lab_spec = load("wiremesh_lab_spec", "roles/lab/files/wiremesh_lab_spec.py")
mesh_step = load("mesh_step_bench", "bench/mesh_step.py")

SIZES = (2, 5, 10, 25, 50, 100, 1000)


def lab_spec_of(data):
    """What roles/lab/templates/spec.json.j2 renders from this inventory."""
    top = data["all"]["vars"]
    hosts = scale_lab.mesh_hosts(data)
    return {"lab_name": top["lab_name"], "lab_root": top["lab_root"], "wait_timeout": top["lab_wait_timeout"],
            "networks": top["lab_networks"], "routers": top["lab_routers"],
            "hosts": [{"name": name, "interfaces": h["lab_interfaces"]} for name, h in hosts.items()]}


@pytest.mark.parametrize("count", SIZES)
def test_layout_n_hosts_in_n_over_5_locations_the_last_behind_nat(count):
    placed = scale_lab.layout(count)
    names = [name for name, loc in placed]
    assert len(set(names)) == count and names[0] == "s" + "1".rjust(max(3, len(str(count))), "0")
    sizes = collections.Counter(loc for name, loc in placed)
    assert len(sizes) == max(2, round(count / 5))
    assert placed[-1][1] == "edge" and sizes["edge"] == 1
    cloud = [n for loc, n in sizes.items() if loc != "edge"]
    assert max(cloud) - min(cloud) <= 1          # blocks of about 5


@pytest.mark.parametrize("count", [1, 0, scale_lab.MAX_HOSTS + 1])
def test_layout_refuses_sizes_it_cannot_build(count):
    with pytest.raises(ValueError):
        scale_lab.layout(count)


@pytest.mark.parametrize("count", SIZES)
def test_the_lab_builder_accepts_the_inventory(count):
    data = scale_lab.inventory(count)
    plan = lab_spec.plan(lab_spec_of(data))
    assert plan["lab_name"] == "scale" and len(plan["hosts"]) == count
    assert lab_spec.overlaps(plan["nodes"], [ipaddress.ip_network("192.0.2.0/24")]) == []
    assert all(len(i["peer"]) <= 15 for n in plan["nodes"] for i in n["interfaces"])
    assert all(len(b) <= 15 for b in plan["bridges"].values())
    assert data["all"]["vars"]["lab_wait_timeout"] >= 120


@pytest.mark.parametrize("count", SIZES)
def test_the_planner_accepts_the_mesh_with_one_nat_host_and_public_leaders(count):
    data = scale_lab.inventory(count)
    hosts = scale_lab.mesh_hosts(data)
    mesh = data["all"]["children"]["lab"]["children"]["mesh"]["vars"]
    assert mesh["wireguard_granularity"] == "location"
    assert mesh["wireguard_state_path"] == "{{ inventory_dir }}/.wiremesh/mesh.state.json"
    nodes = [{"name": name, "location": h["wiremesh_location"], "endpoint": h.get("wiremesh_endpoint"),
              "private_ips": h["wiremesh_private_ips"]} for name, h in hosts.items()]
    build_plan(mesh["wireguard_cidr"], "location", nodes, require_keys=False)
    behind_nat = [name for name, h in hosts.items() if "wiremesh_endpoint" not in h]
    assert behind_nat == [list(hosts)[-1]]
    routers = data["all"]["vars"]["lab_routers"]
    assert routers["nat"]["masquerade_out"] == "isp"
    lan = hosts[behind_nat[0]]["lab_interfaces"]
    assert len(lan) == 1 and lan[0]["network"] == "edge-lan"
    assert lan[0]["gateway"] == routers["nat"]["interfaces"][1]["address"].split("/")[0]
    # the popular role's baseline: one address each, no endpoint behind NAT
    assert len({h["pop_address"] for h in hosts.values()}) == count
    assert hosts[behind_nat[0]]["pop_endpoint"] == ""


def _used_elsewhere():
    """(lab names, networks, host names) of the demo, cloud, integration and molecule labs in this checkout."""
    names, nets, hosts = set(), [], set()
    paths = glob.glob(os.path.join(ROOT, "inventories", "**", "*.yml"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "tests", "integration", "*", "inventory", "**", "*.yml"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "tests", "integration", "*", "inventory"))
    paths += glob.glob(os.path.join(ROOT, "roles", "*", "molecule", "*", "inventory", "**", "*.yml"), recursive=True)
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        names.update(re.findall(r"lab_name:\s*['\"]?([a-z0-9-]+)", text))
        nets += [ipaddress.ip_interface(a).network for a in re.findall(r"\b\d+\.\d+\.\d+\.\d+/\d+\b", text)]
        hosts.update(re.findall(r"^\s+([A-Za-z0-9-]+):\s*$", text, re.M))
    return names, nets, hosts


def test_no_name_or_range_collides_with_the_other_labs():
    names, nets, hosts = _used_elsewhere()
    assert names and nets                       # the scan found the other labs
    data = scale_lab.inventory(100)
    assert data["all"]["vars"]["lab_name"] not in names
    assert not set(scale_lab.mesh_hosts(data)) & hosts
    ours = [ipaddress.ip_network(data["all"]["children"]["lab"]["children"]["mesh"]["vars"]["wireguard_cidr"]),
            scale_lab.POPULAR_CIDR]
    ours += [ipaddress.ip_interface(i["address"]).network for r in data["all"]["vars"]["lab_routers"].values()
             for i in r["interfaces"]]
    ours += [ipaddress.ip_interface(i["address"]).network for h in scale_lab.mesh_hosts(data).values()
             for i in h["lab_interfaces"]]
    clashes = sorted({"%s ~ %s" % (a, b) for a in set(ours) for b in set(nets) if a.overlaps(b)})
    assert clashes == []


def test_write_read_and_ansible_reads_the_groups(tmp_path):
    out = scale_lab.write(7, str(tmp_path / "scale-7"))
    os.makedirs(os.path.join(out, ".wiremesh"))
    scale_lab.write(7, out)                      # a rewrite keeps the mesh state folder
    assert os.path.isdir(os.path.join(out, ".wiremesh"))
    assert scale_lab.read(out) == json.loads(json.dumps(scale_lab.inventory(7)))
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    if not os.path.exists(ansible_inventory):
        pytest.skip("ansible-inventory is not installed next to this Python (make deps)")
    listed = subprocess.run([ansible_inventory, "-i", out, "--list"], capture_output=True, text=True,
                            timeout=120, check=True)
    groups = json.loads(listed.stdout)
    assert sorted(groups["mesh"]["hosts"]) == ["s%03d" % i for i in range(1, 8)]
    assert groups["lab"]["children"] == ["mesh"]
    assert groups["_meta"]["hostvars"]["s007"]["wiremesh_location"] == "edge"


def test_cli_prints_the_folder(tmp_path):
    out = tmp_path / "x"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "scale_lab.py"), "inventory", "3",
                           "--out", str(out)], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == str(out) and (out / "hosts.yml").exists()
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "scale_lab.py"), "inventory", "1"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "2 to" in bad.stderr


# --- bench/mesh_step.py ------------------------------------------------------------------------------------
RECAP = """
TASK [wiremesh.multicloud.wireguard : Apply the config] ****
ok: [s001]
changed: [s002]
RUNNING HANDLER [Sync] ****
changed: [s002] => (item=x)

PLAY RECAP *********************************************************************
localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
s001                       : ok=40   changed=0    unreachable=0    failed=0    skipped=10   rescued=0    ignored=0
s002                       : ok=42   changed=2    unreachable=0    failed=0    skipped=11   rescued=0    ignored=0
"""


def test_recap_figures_and_changed_tasks():
    assert mesh_step.recap_figures(RECAP, ["s001", "s002"]) == (2, 52.5, 42.0)
    assert mesh_step.changed_tasks(RECAP) == ["s002: wiremesh.multicloud.wireguard : Apply the config",
                                              "s002: Sync"]
    with pytest.raises(RuntimeError, match="s003"):
        mesh_step.recap_figures(RECAP, ["s001", "s003"])
    with pytest.raises(RuntimeError, match="s001"):
        mesh_step.recap_figures(RECAP.replace("failed=0    skipped=10", "failed=1    skipped=10"), ["s001"])


def test_failures_name_the_task_host_and_message():
    output = RECAP.replace("changed: [s002]\n", "fatal: [s002]: FAILED! =>\n    msg: boom\n    rc: 2\nok: [s003]\n", 1)
    assert mesh_step.failures(output) == [
        "TASK [wiremesh.multicloud.wireguard : Apply the config] fatal: [s002]: FAILED! =>\n    msg: boom\n    rc: 2"]
    assert mesh_step.failures(RECAP) == []


def test_growth_exponent():
    assert mesh_step.growth_exponent([(10, 5.0), (100, 50.0)]) == 1.0
    assert mesh_step.growth_exponent([(10, 5.0), (25, 5.0), (50, 5.0)]) == 0.0
    assert mesh_step.growth_exponent([(10, 1.0), (20, 4.0), (40, 16.0), (80, None)]) == 2.0
    assert mesh_step.growth_exponent([(10, 5.0), (25, None)]) is None


def test_popular_sizes():
    assert mesh_step.popular_sizes_for([10, 25, 50, 100]) == [50]
    assert mesh_step.popular_sizes_for([10, 25]) == [25]
    assert mesh_step.popular_sizes_for([10, 25], "all") == [10, 25]
    assert mesh_step.popular_sizes_for([10, 25], "none") == []
    assert mesh_step.popular_sizes_for([10, 25], "10") == [10]


def test_a_changed_rerun_says_what_changed(tmp_path):
    """The callback the timed rerun runs with writes each changed task's actions; unchanged tasks leave no line."""
    book = tmp_path / "book.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                    "    - name: Changes\n      ansible.builtin.set_fact:\n        x: 1\n      changed_when: true\n"
                    "    - name: Keeps\n      ansible.builtin.set_fact:\n        y: 1\n")
    log = str(tmp_path / "changed.jsonl")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), **mesh_step.changed_env(log))
    done = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", str(book)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert mesh_step.changed_actions(log) == ["localhost: Changes: (no actions listed)"]
    assert mesh_step.changed_actions(str(tmp_path / "none.jsonl")) == []
