"""The real gpu_facts module on this machine, and playbooks/gpu.yml against it. Where no NVIDIA driver is loaded
(no /proc/driver/nvidia/version) the GPU checks are skipped; the module still runs and must agree with sysfs."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu.driver import loaded_driver
from ansible_collections.wiremesh.multicloud.plugins.modules import gpu_facts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
DRIVER_LOADED = os.path.exists("/proc/driver/nvidia/version")
needs_driver = pytest.mark.skipif(not DRIVER_LOADED, reason="no NVIDIA driver is loaded on this machine "
                                  "(/proc/driver/nvidia/version is missing): nothing to check on real GPUs")


def real_gpu_facts(capsys):
    """gpu_facts.main() with nothing faked: real sysfs, /proc and nvidia-smi (if installed)."""
    capsys.readouterr()
    with patch_module_args({"_ansible_check_mode": True}):
        with pytest.raises(SystemExit) as exc:
            gpu_facts.main()
    assert exc.value.code == 0
    return json.loads(capsys.readouterr().out)


def sysfs_nvidia_displays():
    """Independent count: PCI functions with vendor 0x10de and a display class (0x03xxxx)."""
    count = 0
    for device in glob.glob("/sys/bus/pci/devices/*"):
        try:
            with open(os.path.join(device, "vendor")) as vendor, open(os.path.join(device, "class")) as cls:
                count += vendor.read().strip() == "0x10de" and cls.read().strip().startswith("0x03")
        except OSError:
            continue
    return count


def test_real_module_agrees_with_sysfs(capsys):
    result = real_gpu_facts(capsys)
    assert result["changed"] is False
    assert result["gpu_count"] >= sysfs_nvidia_displays()
    assert result["gpu_present"] == (result["gpu_count"] > 0)
    assert result["driver"]["loaded"] == DRIVER_LOADED or os.path.exists("/sys/module/nvidia/version")
    if not result["gpu_present"]:
        assert result["gpus"] == [] and not result["nvidia_smi"]["works"]


@needs_driver
def test_finds_gpus_and_the_loaded_driver(capsys):
    result = real_gpu_facts(capsys)
    assert result["gpu_count"] >= 1, result
    driver = result["driver"]
    assert re.match(r"^\d{3}\.\d+(\.\d+)?$", driver["version"]) and driver["version"].startswith(driver["major"] + ".")
    assert driver["flavour"] in ("open", "proprietary")
    assert all(gpu["driver"] in ("nvidia", "vfio-pci", "pci-stub") for gpu in result["gpus"] if gpu["source"] == "pci")
    if shutil.which("nvidia-smi"):
        smi = result["nvidia_smi"]
        assert smi["works"], smi["error"]
        assert smi["driver_version"] == driver["version"]
        assert re.match(r"^\d+\.\d+$", result["cuda_version"] or "")
        seen = [gpu for gpu in result["gpus"] if gpu["index"] is not None]  # a container sees only its GPUs
        assert len(seen) == len(smi["gpus"]) >= 1
        for gpu in seen:
            assert gpu["name"] and gpu["memory_total_mib"] > 0 and gpu["uuid"].startswith(("GPU-", "MIG-"))


@needs_driver
@pytest.mark.skipif(not shutil.which("nvidia-smi"), reason="nvidia-smi is not installed: the driver is not working")
@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed here (make deps)")
def test_gpu_playbook_keeps_the_working_driver(tmp_path):
    """A working driver of the wanted branch is left alone: no package manager, changed=0, twice. The role's
    default branch (580) is used when that is the loaded one, as on the project's H100 machine."""
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    gpu:\n      hosts:\n        localhost:\n          ansible_connection: local\n"
        "          ansible_python_interpreter: %s\n" % sys.executable)
    major = loaded_driver("/")["major"]
    branch = [] if major == "580" else ["-e", "nvidia_driver_branch=%s" % major]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    for attempt in ("first", "again"):
        proc = subprocess.run([PLAYBOOK_BIN, "-i", str(tmp_path / "hosts.yml"), "playbooks/gpu.yml"] + branch,
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, attempt + " run: " + proc.stdout[-5000:] + proc.stderr[-2000:]
        assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", proc.stdout), proc.stdout[-3000:]
        assert "localhost: keep - NVIDIA driver" in proc.stdout and "driver kept; no reboot pending" in proc.stdout
