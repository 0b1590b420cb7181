"""facts.gather on whole fixture hosts: an H100 with the open 580.159.04 module, a nouveau host, no GPU, AMD."""

from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu import facts

from . import fixtures

SMI = "/usr/bin/nvidia-smi"


def test_h100_with_open_580(tmp_path):
    fixtures.h100_host(tmp_path)
    got = facts.gather(str(tmp_path), fixtures.FakeSmi(), SMI)
    assert got["gpu_present"] and got["gpu_count"] == 1
    gpu = got["gpus"][0]
    assert gpu["address"] == "0000:18:00.0" and gpu["device_id"] == "0x2330" and gpu["driver"] == "nvidia"
    assert gpu["pci_name"] == "NVIDIA Corporation GH100 [H100 SXM5 80GB]"
    assert gpu["name"] == "NVIDIA H100 80GB HBM3" and gpu["memory_total_mib"] == 81559 and gpu["source"] == "pci"
    assert gpu["compute_capability"] == "9.0" and gpu["index"] == 0
    assert got["driver"]["version"] == "580.159.04" and got["driver"]["major"] == "580"
    assert got["driver"]["flavour"] == "open"
    assert got["nvidia_smi"]["works"] and got["cuda_version"] == "13.0"
    assert not got["nouveau_loaded"] and got["kernel_modules"]["nvidia_uvm"]
    assert got["other_display_devices"] == []


def test_nouveau_host(tmp_path):
    fixtures.nouveau_host(tmp_path)
    got = facts.gather(str(tmp_path), fixtures.FakeSmi(), None)
    assert got["gpu_count"] == 1  # the HDMI audio function is not a GPU
    gpu = got["gpus"][0]
    assert gpu["driver"] == "nouveau" and gpu["pci_name"] == "NVIDIA Corporation TU104GL [Tesla T4]"
    assert gpu["name"] is None and gpu["kind"] == "vga"
    assert got["nouveau_loaded"] and not got["driver"]["loaded"]
    assert got["nvidia_smi"] == dict(present=False, path=None, works=False, error="nvidia-smi is not installed",
                                     gpus=[], driver_version=None, cuda_version=None)


def test_nouveau_host_with_a_stale_nvidia_smi(tmp_path):
    fixtures.nouveau_host(tmp_path)
    got = facts.gather(str(tmp_path), fixtures.FakeSmi(rc=9, error=fixtures.NO_DRIVER), SMI)
    assert got["nvidia_smi"]["present"] and not got["nvidia_smi"]["works"]
    assert got["nvidia_smi"]["error"].startswith("NVIDIA-SMI has failed")


def test_no_gpu_host(tmp_path):
    fixtures.no_gpu_host(tmp_path)
    got = facts.gather(str(tmp_path), fixtures.FakeSmi(), None)
    assert not got["gpu_present"] and got["gpu_count"] == 0 and got["gpus"] == []
    assert got["other_display_devices"] == [] and not got["nouveau_loaded"] and not got["driver"]["loaded"]


def test_non_nvidia_display_cards(tmp_path):
    fixtures.amd_host(tmp_path)
    got = facts.gather(str(tmp_path), fixtures.FakeSmi(), None)
    assert not got["gpu_present"]
    assert [(d["pci_name"], d["driver"]) for d in got["other_display_devices"]] == [
        ("Advanced Micro Devices, Inc. [AMD/ATI] Navi 31 [Radeon Pro W7900]", "amdgpu"),
        ("ASPEED Technology, Inc. ASPEED Graphics Family", "ast")]


def test_empty_root_and_no_run(tmp_path):
    got = facts.gather(str(tmp_path))
    assert not got["gpu_present"] and got["nvidia_smi"]["error"] == "nvidia-smi was not run"
    assert got["kernel_modules"] == dict(nvidia=False, nvidia_uvm=False, nvidia_drm=False, nvidia_modeset=False,
                                         nouveau=False)


def test_gpu_only_nvidia_smi_sees_is_still_reported(tmp_path):
    """WSL2 and some sandboxes show no PCI sysfs, yet nvidia-smi reaches the GPU."""
    fixtures.write(tmp_path, "proc/driver/nvidia/version", fixtures.H100_VERSION)
    got = facts.gather(str(tmp_path), fixtures.FakeSmi(), SMI)
    assert got["gpu_count"] == 1
    assert got["gpus"][0]["source"] == "nvidia-smi" and got["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
