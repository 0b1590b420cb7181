"""Shared helpers of the lab integration tests: run playbooks, read the recap, look at namespaces."""

import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "tools"))

# re-exported for the tests: one playbook runner for tests and benchmarks
from labkit import BIN, ROOT, host_argv, playbook, recap  # noqa: E402  pylint: disable=wrong-import-position

__all__ = ["BIN", "ROOT", "comm", "forget_mesh_state", "host_argv", "in_host", "lab_namespaces", "needs_lab",
           "pids_in", "playbook", "recap"]

needs_lab = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists(os.path.join(BIN, "ansible-playbook")),
    reason="the lab needs root, iproute2 and the project venv (make deps)")


def in_host(lab_root, host, *argv, timeout=30):
    """Run a command inside a lab host (read-only looks and pings)."""
    return subprocess.run(host_argv(lab_root, host, *argv), capture_output=True, text=True, timeout=timeout,
                          check=False)


def forget_mesh_state(inventory_dir, group="mesh"):
    """Remove what the controller keeps for a lab's mesh (the state file, its backup and lock, the joined
    operators), like `make clean`: a new lab has new keys and starts its mesh state afresh."""
    directory = os.path.join(inventory_dir, ".wiremesh")
    state = os.path.join(directory, "%s.state.json" % group)
    for path in (state, state + ".bak", state + ".lock", os.path.join(directory, "operators.json")):
        if os.path.exists(path):
            os.unlink(path)


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
