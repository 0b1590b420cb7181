"""The nvidia_driver role end to end through playbooks/gpu.yml, on this machine made to look like a GPU host: the
project's H100 (keep path) and a nouveau host (install path, in check mode).

In a private mount namespace the fixture host's PCI sysfs, /proc/driver and /sys/module are bind-mounted over the real ones,
and nvidia-smi (and, for podman, nvidia-ctk) are small scripts that print what the real ones print. Production
code is not told anything: it reads /sys and /proc and runs what is on PATH. The network namespace has only a
down loopback, so, like the H100 machine, no package registry can be reached. Needs root and unshare."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from . import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)

# A real container runtime on this machine would make the role want to configure it (and, with no toolkit, to
# download one): these tests are about the driver and podman's CDI spec, so they need a machine without one.
REAL_RUNTIMES = [name for name in ("containerd", "dockerd", "podman") if shutil.which(name)]
no_real_runtime = pytest.mark.skipif(bool(REAL_RUNTIMES), reason="a container runtime is installed here: %s"
                                     % ", ".join(REAL_RUNTIMES))

needs_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists(os.path.join(BIN, "ansible-playbook")),
    reason="needs root, unshare and the project venv (make deps)")


def script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


def sandbox(tmp_path, builder):
    """A runner of playbooks/gpu.yml against localhost that sees the fixture host built by ``builder``: its PCI
    sysfs, /proc/driver and /sys/module are bind-mounted over the real ones in a private mount namespace."""
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    bin_dir.mkdir()
    builder(root)
    for needed in ("proc/driver", "sys/module"):
        (root / needed).mkdir(parents=True, exist_ok=True)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    gpu:\n      hosts:\n        localhost:\n          ansible_connection: local\n"
        "          ansible_python_interpreter: %s\n" % sys.executable)
    mounts = " && ".join("mount --bind {0}/{1} /{1}".format(root, where)
                         for where in ("sys/bus/pci/devices", "proc/driver", "sys/module")) + ' && exec "$@"'

    def run(*extra):
        env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_NOCOLOR="1")
        return subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", mounts, "sh",
                               os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                               "playbooks/gpu.yml", *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    run.tmp, run.bin = tmp_path, bin_dir
    return run


@pytest.fixture
def h100_sandbox(tmp_path):
    """The H100 host with the open 580.159.04 module loaded and an nvidia-smi that answers like the real one."""
    run = sandbox(tmp_path, fixtures.h100_host)
    (tmp_path / "query.txt").write_text(fixtures.H100_QUERY)
    (tmp_path / "banner.txt").write_text(fixtures.H100_BANNER)
    script(run.bin / "nvidia-smi", 'case "$1" in --query-gpu=*) cat %s;; *) cat %s;; esac\n'
           % (tmp_path / "query.txt", tmp_path / "banner.txt"))
    return run


def changed(output):
    match = re.search(r"^localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", output, re.M)
    assert match, output[-3000:]
    return int(match.group(1))


KEPT = ("localhost: 1 NVIDIA GPU(s) (NVIDIA H100 80GB HBM3); driver 580.159.04 (open kernel module); CUDA 13.0; "
        "driver kept; no reboot pending")


@needs_unshare
@no_real_runtime
def test_working_580_open_driver_is_kept_offline(h100_sandbox):
    for extra in ([], [], ["--check"]):
        run = h100_sandbox(*extra)
        assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
        assert changed(run.stdout) == 0, run.stdout[-5000:]
        said = " ".join(run.stdout.split())  # the YAML callback folds long messages
        assert ("localhost: keep - NVIDIA driver 580.159.04 (open kernel module) is loaded and nvidia-smi sees 1 GPU(s):"
                " left alone") in said
        assert "localhost: NVIDIA 580.159.04 (open), CUDA 13.0, nvidia-smi sees 1 of 1 GPU(s)" in said
        assert KEPT in said
        assert "Install packages" not in run.stdout and "repositories" not in run.stdout


@needs_unshare
@no_real_runtime
def test_podman_gets_a_cdi_spec_written_once(h100_sandbox):
    spec = h100_sandbox.tmp / "cdi" / "nvidia.yaml"
    calls = h100_sandbox.tmp / "nvidia-ctk.calls"
    script(h100_sandbox.bin / "podman", "exit 0\n")
    script(h100_sandbox.bin / "nvidia-ctk", 'echo "$*" >> %s\n[ "$1 $2" = "cdi generate" ] || exit 3\n'
           'printf "cdiVersion: 0.5.0\\nkind: nvidia.com/gpu\\ndevices:\\n- name: \\"0\\"\\n"\n' % calls)
    first = h100_sandbox("-e", "nvidia_driver_cdi_spec=%s" % spec)  # changes: the directory and the spec
    assert first.returncode == 0, first.stdout[-5000:]
    assert changed(first.stdout) == 2 and spec.read_text().startswith("cdiVersion: 0.5.0\n")
    again = h100_sandbox("-e", "nvidia_driver_cdi_spec=%s" % spec)
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-5000:]
    assert calls.read_text().splitlines() == ["cdi generate", "cdi generate"]  # never a runtime configure


@needs_unshare
@no_real_runtime
def test_install_path_in_check_mode_on_a_nouveau_host(tmp_path):
    """Debian 12 with its own branch (535, no key to download): plan, repository, blacklist and the reboot that
    nouveau forces are all walked through; check mode writes nothing and the pending reboot is reported."""
    def nouveau_with_sys_module(root):
        fixtures.nouveau_host(root)
        (root / "sys" / "module" / "nouveau").mkdir(parents=True)  # this machine has no /proc/modules to mount over
    run = sandbox(tmp_path, nouveau_with_sys_module)("--check", "-e", "nvidia_driver_branch=535")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    said = " ".join(run.stdout.split())
    assert "localhost: install - no NVIDIA driver is loaded" in said
    assert ("check mode: linux-headers-%s, nvidia-open-kernel-dkms, nvidia-driver, firmware-misc-nonfree would be "
            "installed from repositories that are not configured yet" % os.uname().release) in said
    assert "REBOOT PENDING - the NVIDIA 535 driver is installed but cannot be loaded without a reboot (nouveau is " \
           "loaded and holds the GPU until the next boot)" in said
    assert ("localhost: 1 NVIDIA GPU(s) (device 0x1eb8); driver none; CUDA -; driver would be installed; "
            "REBOOT PENDING") in said
    for path in ("/etc/apt/sources.list.d/debian-components.sources", "/etc/modprobe.d/blacklist-nouveau-wiremesh.conf"):
        assert not os.path.exists(path), path
