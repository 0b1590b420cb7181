"""playbooks/gpu.yml on a lab of its own (glab: g-aws1 in group gpu; like every lab host it has no GPU): the host
is reached over real SSH, found to have no NVIDIA GPU, skipped with changed=0 on every run (check mode included),
and nothing of the install path is written inside it. Needs root and `ip netns`."""

import os

import pytest

from .labtools import ROOT, in_host, lab_namespaces, needs_lab, playbook, recap

INVENTORY = os.path.join(ROOT, "tests", "integration", "gpu", "inventory")
LAB_ROOT = "/srv/wiremesh-lab/glab"
SUMMARY = "g-aws1: no NVIDIA GPU; driver none; CUDA -; nothing to do; no reboot pending"

pytestmark = needs_lab


def glab_namespaces():
    return [ns for ns in lab_namespaces() if ns.startswith(("wm-g-", "wm-glab-"))]


@pytest.fixture(scope="module")
def glab():
    built = playbook("-i", INVENTORY, "playbooks/lab.yml")
    assert built.returncode == 0, built.stdout[-4000:]
    yield
    gone = playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")
    assert gone.returncode == 0, gone.stdout[-4000:]
    assert glab_namespaces() == []


@pytest.mark.parametrize("extra", [[], [], ["--check"]], ids=["first", "again", "check"])
def test_host_without_gpu_is_skipped_cleanly(glab, extra):
    run = playbook("-i", INVENTORY, "playbooks/gpu.yml", *extra)
    assert run.returncode == 0, run.stdout[-5000:]
    stats = recap(run.stdout)
    assert set(stats) == {"g-aws1"}
    assert stats["g-aws1"]["changed"] == 0 and stats["g-aws1"]["failed"] == 0, run.stdout[-5000:]
    assert "g-aws1: skip - no NVIDIA GPU on this host" in run.stdout
    assert SUMMARY in run.stdout


def test_nothing_of_the_install_path_is_written(glab):
    assert in_host(LAB_ROOT, "g-aws1", "test", "-e", "/etc/hostname").returncode == 0  # the look itself works
    for path in ("/etc/modprobe.d/blacklist-nouveau-wiremesh.conf", "/etc/apt/sources.list.d/nvidia-cuda.sources",
                 "/etc/apt/keyrings/nvidia-cuda.asc", "/etc/cdi/nvidia.yaml"):
        assert in_host(LAB_ROOT, "g-aws1", "test", "-e", path).returncode == 1, path
