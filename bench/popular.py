# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The popular Ansible WireGuard role's way of making a full mesh, timed honestly: its kind of template
(bench/popular_role/templates/wg.conf.j2, written for this benchmark: every other host of the play a [Peer],
each value read from ``hostvars`` behind a dozen conditionals) rendered through Ansible's own templar with real
HostVars, over an inventory of N hosts with per-host variables and key facts (set as ``set_fact`` sets them).

Per host it does what the ``template`` action does on the controller before it copies the file: the task's
variables from the VariableManager (``hostvars``, ``ansible_play_hosts``, ...), the template read and trusted, the
template variables (``ansible_managed``, ...) added, and the text rendered by a Templar over them. Each
``hostvars[peer]`` a template reads makes the VariableManager merge that peer's variables again, so one host
costs O(N) variable merges and the mesh O(N²): at hundreds of hosts a sample of hosts, spread over the
inventory, is timed and the total is extrapolated linearly (every host renders the same loop over N-1 peers).
No facts are gathered (the role gathers them, and each hostvars read would merge them too), so the figure is a
lower bound of the role's way. Not timed: loading the inventory (any playbook pays it), copying the file to the
host, forks running in parallel (the figure is the controller's CPU time for the renders, one after the other:
time.process_time, as bench/planner.py times our path)."""

import os
import shutil
import statistics
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROLE = os.path.join(HERE, "popular_role")
TEMPLATE = os.path.join(ROLE, "templates", "wg.conf.j2")
PLAY_VARS = {"pop_interface": "wgpop0", "pop_port": 51821}    # as bench/popular_role/popular.yml sets them


def inventory(hosts, path):
    """Write an inventory of ``hosts`` (name -> host vars) as YAML."""
    import yaml  # pylint: disable=import-outside-toplevel
    data = {"all": {"vars": {"ansible_connection": "local"}, "hosts": hosts}}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False)


class Controller:
    """An inventory of N hosts loaded the way ansible-playbook loads it, and one play over all of them."""

    def __init__(self, hosts, facts):
        # pylint: disable=import-outside-toplevel
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.playbook.play import Play
        from ansible.vars.hostvars import HostVars
        from ansible.vars.manager import VariableManager
        self.work = tempfile.mkdtemp(prefix="wiremesh-popular-")
        path = os.path.join(self.work, "hosts.yml")
        inventory(hosts, path)
        self.loader = DataLoader()
        self.loader.set_basedir(ROLE)
        self.inventory = InventoryManager(loader=self.loader, sources=[path])
        self.variables = VariableManager(loader=self.loader, inventory=self.inventory)
        HostVars(inventory=self.inventory, variable_manager=self.variables, loader=self.loader)
        self.play = Play.load({"name": "popular role", "hosts": "all", "gather_facts": False, "vars": PLAY_VARS},
                              variable_manager=self.variables, loader=self.loader)
        for name, host_facts in facts.items():      # what the role's set_fact leaves behind
            self.variables.set_nonpersistent_facts(name, host_facts)

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def render(self, name, dest="/etc/wireguard/wg0.conf"):
        """The template action's controller side for host ``name``: the rendered text."""
        # pylint: disable=import-outside-toplevel
        from ansible._internal._templating import _template_vars   # what the template action adds
        from ansible.template import Templar, trust_as_template
        task_vars = self.variables.get_vars(play=self.play, host=self.inventory.get_host(name))
        text = trust_as_template(self.loader.get_text_file_contents(TEMPLATE))
        template_vars = task_vars.copy()
        template_vars.update(_template_vars.generate_ansible_template_vars(
            path="wg.conf.j2", fullpath=TEMPLATE, dest_path=dest,
            include_ansible_managed="ansible_managed" not in template_vars))
        templar = Templar(loader=self.loader, variables=task_vars).copy_with_new_env(
            searchpath=[os.path.dirname(TEMPLATE), ROLE], available_variables=template_vars)
        return templar.template(text, escape_backslashes=False)


def host_vars(index, node):
    """One host's inventory variables, as tools/scale_lab.py writes them for popular.yml (every host public, as in
    bench/planner.py's input)."""
    return {"ansible_host": node["endpoint"], "pop_address": "10.4.%d.%d/32" % (index // 254, index % 254 + 1),
            "pop_endpoint": node["endpoint"]}


def sample(names, count):
    """``count`` names spread evenly over ``names`` (all of them when there are no more)."""
    if count >= len(names):
        return list(names)
    return [names[i * len(names) // count] for i in range(count)]


def time_template(nodes, sampled, private_key):
    """Render the template for ``sampled`` hosts of ``nodes`` (planner input dicts) through the templar.
    Returns figures: per-host CPU seconds and the total for every host (extrapolated from the sample)."""
    hosts = {n["name"]: host_vars(i, n) for i, n in enumerate(nodes)}
    facts = {n["name"]: {"pop_public_key": n["public_key"], "pop_private_key": private_key} for n in nodes}
    start = time.process_time()
    controller = Controller(hosts, facts)
    setup = time.process_time() - start
    wall = time.perf_counter()
    try:
        names = sample(sorted(hosts), sampled)
        seconds, size = [], 0
        for name in names:
            start = time.process_time()
            text = controller.render(name)
            seconds.append(time.process_time() - start)
            size += len(text)
            if text.count("\n[Peer]\n") != len(hosts) - 1:
                raise AssertionError("the template gave %s %d peers, not %d"
                                     % (name, text.count("\n[Peer]\n"), len(hosts) - 1))
    finally:
        controller.close()
    wall = time.perf_counter() - wall
    mean = statistics.fmean(seconds)
    return {"s": mean * len(hosts), "sampled_hosts": len(names), "hosts": len(hosts),
            "per_host_median_s": statistics.median(seconds), "per_host_min_s": min(seconds),
            "per_host_max_s": max(seconds), "bytes_per_host": size // len(names), "inventory_setup_s": setup,
            "sample_wall_s": wall, "extrapolated": len(names) < len(hosts)}
