"""The bad-input suite's harness: an inventory of hosts nobody can reach, written to a tmp dir, and the
collection's playbooks/mesh.yml run on it with a real ansible-playbook, the way users run it.

Every host is ``ansible_connection: ssh`` to 127.0.0.1 port 9 (nothing listens there): a task that touched a
host would end UNREACHABLE (the control test in test_inventory_shape.py shows a valid inventory does). A
refused run must therefore show (``Run.assert_refused``): a non-zero exit, the expected message in the
``[ERROR]`` text, no result of any task but the controller-side ones (plays on localhost, the role's preflight
and rotation check, its argument check) other than "skipping", no host unreachable and none changed in the
recap, and the inventory's ``.wiremesh`` directory (state file, backup, lock) byte for byte and mtime for
mtime as before, or still absent."""

import copy
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import state as mesh_state
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.errors import MeshError
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh_plan_args import NODE_VARS
from ansible_collections.wiremesh.multicloud.plugins.plugin_utils.state_file import save

from integration.labtools import recap   # tests/ is on sys.path: the lab tests' recap parser

from ..plugins.module_utils.mesh.helpers import key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
PLAYBOOK = os.path.join(ROOT, "playbooks", "mesh.yml")
TASKS = os.path.join(ROOT, "roles", "wireguard", "tasks")

needs_ansible = pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "ansible-playbook")),
                                   reason="ansible-playbook is not installed next to this Python")

UNREACHABLE = {
    "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_user": "nobody",
    "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes -o StrictHostKeyChecking=no "
                               "-o UserKnownHostsFile=/dev/null",
}

# a valid mesh: a and b share location l1 and its private network, c is elsewhere
BASE_HOSTS = {
    "a": {"wiremesh_location": "l1", "wiremesh_endpoint": "198.51.100.1", "wiremesh_private_ips": ["192.168.1.2/24"]},
    "b": {"wiremesh_location": "l1", "wiremesh_endpoint": "198.51.100.2", "wiremesh_private_ips": ["192.168.1.3/24"]},
    "c": {"wiremesh_location": "l2", "wiremesh_endpoint": "198.51.100.3"},
}
PREFIX = "wiremesh_"
ROLE = "wiremesh.multicloud.wireguard : "


def _task_names(path):
    with open(path, encoding="utf-8") as handle:
        return [t["name"] for t in yaml.safe_load(handle) if "name" in t]


def controller_tasks(playbook):
    """Names of the tasks that run on the controller before any host is touched: the tasks of the playbook's
    plays on localhost, its task that runs the role's preflight, the preflight's and the rotation check's tasks
    (and the role's argument check)."""
    with open(playbook, encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    names = {t["name"] for play in plays for t in play.get("tasks", [])
             if play.get("hosts") == "localhost"
             or (t.get("ansible.builtin.include_role") or {}).get("tasks_from") == "preflight"}
    names.update(ROLE + n for n in _task_names(os.path.join(TASKS, "preflight.yml")))
    names.update(ROLE + n for n in _task_names(os.path.join(TASKS, "rotate_check.yml")))
    return names


ARGSPEC_TASK = ROLE + "Validating arguments against arg spec 'preflight'"


def snapshot(directory):
    """Every file under ``directory`` with its bytes, mtime and mode; None when the directory does not exist."""
    if not os.path.isdir(directory):
        return None
    out = {}
    for base, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(base, name)
            info = os.stat(path)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, directory)] = (handle.read(), info.st_mtime_ns, info.st_mode)
    return out


class Run:
    """One finished ansible-playbook run and the state directory before and after it."""

    def __init__(self, proc, before, after, playbook):
        self.playbook = playbook
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.before = before
        self.after = after

    @property
    def errors(self):
        """The ``[ERROR]`` messages of the run, whitespace collapsed (the text a user reads first)."""
        found = re.findall(r"^\[ERROR\]: (.*?)(?=^Origin: |^\[|^fatal: |^TASK |^PLAY |\Z)", self.output, re.M | re.S)
        return " | ".join(" ".join(text.split()) for text in found)

    @property
    def tasks(self):
        """[(task name, [how it ended per host: ok, skipping, fatal, changed, included])] in output order."""
        parts = re.split(r"^TASK \[(.*)\] \*+$", self.output, flags=re.M)
        return [(name, re.findall(r"^(ok|changed|skipping|fatal|included):", body, re.M))
                for name, body in zip(parts[1::2], parts[2::2])]

    def assert_refused(self, *expected):
        """The run stopped in the controller-side pre-flight with ``expected`` in its error, touching nothing."""
        tail = self.output[-6000:]
        assert self.rc != 0, tail
        for text in expected:
            assert text in self.errors, "%r not in the error text:\n%s\n---\n%s" % (text, self.errors, tail)
        assert "UNREACHABLE!" not in self.output, tail
        allowed = controller_tasks(self.playbook)
        ran = [(name, ends) for name, ends in self.tasks
               if name not in allowed and not name.startswith(ARGSPEC_TASK) and set(ends) - {"skipping"}]
        assert ran == [], "tasks other than the pre-flight ran: %s" % ran
        stats = recap(self.output)
        if stats:       # no recap: Ansible itself stopped the run (an inventory or a vars file it cannot read)
            assert all(s["unreachable"] == 0 and s["changed"] == 0 for s in stats.values()), stats
            assert any(s["failed"] for s in stats.values()), stats
        self.assert_state_unchanged()

    def assert_state_unchanged(self):
        assert self.after == self.before, "the state directory changed: %s -> %s" % (
            sorted(self.before or {}), sorted(self.after or {}))


class MeshInventory:
    """An inventory directory in ``root`` with the mesh group's hosts (``hosts``: name -> host vars)."""

    def __init__(self, root):
        self.root = str(root)
        self.hosts = copy.deepcopy(BASE_HOSTS)
        self.group_vars = {}           # vars of the mesh group (wireguard_* settings)
        self.raw = {}                  # relative path -> bytes, written as they are (YAML as a user typed it)
        self.state_dir = os.path.join(self.root, ".wiremesh")
        self.state_path = os.path.join(self.state_dir, "mesh.state.json")

    def change(self, hosts=None, peers=None):
        """Apply ``hosts`` ({host: {variable without prefix: value}}) and set ``wireguard_peers``."""
        for host, variables in (hosts or {}).items():
            self.set(host, **variables)
        if peers is not None:
            self.group_vars["wireguard_peers"] = peers
        return self

    def set(self, host, **variables):
        """Set ``wiremesh_<name>`` variables of ``host`` (None removes one)."""
        for name, value in variables.items():
            if value is None:
                self.hosts[host].pop(PREFIX + name, None)
            else:
                self.hosts[host][PREFIX + name] = value
        return self

    def write(self):
        doc = {"all": {"vars": UNREACHABLE, "children": {"mesh": {"hosts": self.hosts, "vars": self.group_vars}}}}
        with open(os.path.join(self.root, "hosts.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(doc, handle, sort_keys=True)
        for relative, data in self.raw.items():
            path = os.path.join(self.root, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)

    def run(self, *extra, playbook=PLAYBOOK):
        """Run ``playbook`` (mesh.yml) on this inventory with the project's ansible.cfg."""
        self.write()
        before = snapshot(self.state_dir)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0")
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(self.root, "hosts.yml"),
                               playbook, *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                              errors="backslashreplace", timeout=180, check=False)
        return Run(proc, before, snapshot(self.state_dir), playbook)

    def nodes(self, keys=False):
        """The hosts as planner nodes (what mesh_plan reads from the inventory), with fake keys when asked."""
        nodes = []
        for name, variables in sorted(self.hosts.items()):
            node = {"name": name}
            node.update((f, variables[PREFIX + f]) for f in NODE_VARS if PREFIX + f in variables)
            if keys:
                node.setdefault("public_key", key(name))
            nodes.append(node)
        return nodes

    def deploy(self, cidr="10.4.0.0/16", granularity="location"):
        """Write the state file a successful run of this inventory leaves (planner and state code as the
        action plugin uses them; keys are fake), and return it."""
        plan = build_plan(cidr, granularity, self.nodes(keys=True))
        psks = iter(key("psk %d" % i) for i in range(1000))
        data = mesh_state.update(mesh_state.empty(), plan, new_psk=lambda: next(psks), plan_data=plan.to_dict())
        save(self.state_path, data)
        return data


def planner_problems(nodes, peers=(), cidr="10.4.0.0/16", granularity="location", assigned=None):
    """[(subject, field, message)] the planner raises for this input (the pre-flight's view: keys optional)."""
    with pytest.raises(MeshError) as err:
        build_plan(cidr, granularity, nodes, peers=peers, assigned=assigned, require_keys=False)
    return [(p.subject, p.field, p.message) for p in err.value.problems]


def assert_problem(problems, subject, field, fragment):
    assert any(s == subject and f == field and fragment in m for s, f, m in problems), problems


def assert_refused(inventory, text, problem=None):
    """mesh.yml on ``inventory`` is refused before any host with ``text``; with ``problem`` = (subject, field,
    fragment) the planner, given the same hosts and peers directly, raises that problem too."""
    inventory.run().assert_refused(text)
    if problem is not None:
        settings = inventory.group_vars
        assert_problem(planner_problems(inventory.nodes(), peers=settings.get("wireguard_peers", ()),
                                        cidr=settings.get("wireguard_cidr", "10.4.0.0/16"),
                                        granularity=settings.get("wireguard_granularity", "location")), *problem)
