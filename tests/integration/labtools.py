"""Shared helpers of the lab integration tests: run playbooks, read the recap, look at namespaces."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")

needs_lab = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists(os.path.join(BIN, "ansible-playbook")),
    reason="the lab needs root, iproute2 and the project venv (make deps)")


def playbook(*args, timeout=900):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run([os.path.join(BIN, "ansible-playbook"), *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


LAB_TOOL = os.path.join(ROOT, "roles", "lab", "files", "wiremesh_lab.py")


def in_host(lab_root, host, *argv, timeout=30):
    """Run a command inside a lab host (`wiremesh-lab exec`: its network and mount namespaces, so that
    wireguard-go's control socket in the host's private /run is visible): read-only looks and pings."""
    return subprocess.run(["/usr/bin/python3", LAB_TOOL, "exec", lab_root, host, "--", *argv], capture_output=True,
                          text=True, timeout=timeout, check=False)


def recap(output):
    """{host: {ok, changed, unreachable, failed}} from PLAY RECAP."""
    stats = {}
    for line in output.split("PLAY RECAP")[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            stats[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return stats


def lab_namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.startswith("wm-"))


def pids_in(namespace):
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None
