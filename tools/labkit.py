# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab benchmarks and the lab integration tests share: run a playbook with the project's config,
build the argv that runs a command inside a lab host, read ping's summary."""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")
LAB_TOOL = os.path.join(ROOT, "roles", "lab", "files", "wiremesh_lab.py")
_PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


def ansible_env(extra_env=None):
    """The environment the project's Ansible commands run with: its ansible.cfg, no colour, plus ``extra_env``."""
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_NOCOLOR="1", **(extra_env or {}))


def playbook(*args, inventory=None, timeout=900, extra_env=None, command="ansible-playbook"):
    """ansible-playbook (or another ansible ``command``) from the checkout, output captured, no colour."""
    inventory_args = ["-i", inventory] if inventory else []
    return subprocess.run([os.path.join(BIN, command), *inventory_args, *args], cwd=ROOT,
                          env=ansible_env(extra_env), text=True, capture_output=True, timeout=timeout, check=False)


def host_argv(lab_root, host, *argv):
    """argv that runs ``argv`` inside lab host ``host`` (`wiremesh-lab exec`: its network, mount and UTS
    namespaces, so that wireguard-go's control socket in the host's private /run is visible)."""
    return ["/usr/bin/python3", LAB_TOOL, "exec", lab_root, host, "--", *argv]


def recap(output):
    """{host: {ok, changed, unreachable, failed, ...}} from ansible-playbook's PLAY RECAP."""
    stats = {}
    for line in output.split("PLAY RECAP")[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            stats[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return stats


def ping_counts(output):
    """(transmitted, received) from ping's summary line; (0, 0) when there is none."""
    match = _PING_SUMMARY.search(output or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)
