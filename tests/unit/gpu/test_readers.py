"""PCI sysfs, /proc/driver/nvidia/version, /proc/modules and nvidia-smi parsing, on fixture trees."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu import driver, pci, smi

from . import fixtures


def test_display_devices_are_class_03_only(tmp_path):
    fixtures.h100_host(tmp_path)
    devices = pci.display_devices(str(tmp_path))
    assert [d["address"] for d in devices] == ["0000:18:00.0"]  # the NVSwitch and the host bridge are not displays
    gpu = devices[0]
    assert gpu == dict(address="0000:18:00.0", vendor_id="0x10de", device_id="0x2330", class_id="0x030200",
                       kind="3d", driver="nvidia", numa_node=0, subsystem_vendor_id="0x10de",
                       subsystem_device_id="0x16c1")


def test_display_devices_of_other_vendors_and_kinds(tmp_path):
    fixtures.amd_host(tmp_path)
    devices = pci.display_devices(str(tmp_path))
    assert [(d["vendor_id"], d["kind"], d["driver"], d["numa_node"]) for d in devices] == [
        ("0x1002", "vga", "amdgpu", None), ("0x1a03", "vga", "ast", None)]


def test_missing_or_broken_sysfs_is_no_device(tmp_path):
    assert pci.display_devices(str(tmp_path)) == []
    fixtures.write(tmp_path, "sys/bus/pci/devices/0000:00:02.0/class", "garbage\n")
    fixtures.write(tmp_path, "sys/bus/pci/devices/0000:00:03.0/vendor", "0x10de\n")  # no class file
    assert pci.display_devices(str(tmp_path)) == []


def test_unbound_device_has_no_driver(tmp_path):
    fixtures.pci_device(tmp_path, "0000:65:00.0", "0x10de", "0x2330", "0x030200")
    assert pci.display_devices(str(tmp_path))[0]["driver"] is None


def test_pci_ids_names_only_what_is_asked(tmp_path):
    fixtures.write(tmp_path, "usr/share/hwdata/pci.ids", fixtures.PCI_IDS)
    names = pci.pci_ids_names(str(tmp_path), [("0x10de", "0x2330"), ("0x10de", "0x9999"), ("0x1a03", "0x2000")])
    assert names == {("0x10de", "0x2330"): "NVIDIA Corporation GH100 [H100 SXM5 80GB]",
                     ("0x1a03", "0x2000"): "ASPEED Technology, Inc. ASPEED Graphics Family"}
    assert pci.pci_ids_names(str(tmp_path / "none"), [("0x10de", "0x2330")]) == {}


@pytest.mark.parametrize("text, expected", [
    (fixtures.H100_VERSION, dict(version="580.159.04", major="580", arch="x86_64", flavour="open")),
    (fixtures.PROPRIETARY_535, dict(version="535.216.03", major="535", arch="x86_64", flavour="proprietary")),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.65.06  Release Build  (dvs-builder@x)  date",
     dict(version="580.65.06", major="580", arch="aarch64", flavour="open")),
    ("NVRM version: NVIDIA UNIX aarch64 Kernel Module  550.54.14  Thu Feb 22 01:25:25 UTC 2024",
     dict(version="550.54.14", major="550", arch="aarch64", flavour="proprietary")),
    ("NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  Release Build  (buildbrain@mobile)",
     dict(version="34.1.1", major="34", arch="aarch64", flavour="proprietary")),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64 malformed", None),
    ("", None),
])
def test_parse_version_file(text, expected):
    assert driver.parse_version_file(text) == expected


def test_loaded_driver_from_proc_then_sysfs(tmp_path):
    assert driver.loaded_driver(str(tmp_path)) == dict(loaded=False, version=None, major=None, flavour=None,
                                                       arch=None, source=None)
    fixtures.write(tmp_path, "sys/module/nvidia/version", "580.159.04\n")
    assert driver.loaded_driver(str(tmp_path)) == dict(loaded=True, version="580.159.04", major="580", flavour=None,
                                                       arch=None, source="sys/module/nvidia/version")
    fixtures.write(tmp_path, "proc/driver/nvidia/version", fixtures.H100_VERSION)
    loaded = driver.loaded_driver(str(tmp_path))
    assert loaded["flavour"] == "open" and loaded["source"] == "proc/driver/nvidia/version"


def test_loaded_modules_from_proc_modules_and_sys_module(tmp_path):
    fixtures.proc_modules(tmp_path, "nvidia", "nvidia_uvm")
    assert driver.loaded_modules(str(tmp_path)) == dict(nvidia=True, nvidia_uvm=True, nvidia_drm=False,
                                                        nvidia_modeset=False, nouveau=False)
    (tmp_path / "sys" / "module" / "nouveau").mkdir(parents=True)  # built in: only in /sys/module
    assert driver.loaded_modules(str(tmp_path))["nouveau"] is True


def test_loaded_modules_without_proc_modules(tmp_path):
    (tmp_path / "sys" / "module" / "nvidia").mkdir(parents=True)
    assert driver.loaded_modules(str(tmp_path), ("nvidia", "nouveau")) == dict(nvidia=True, nouveau=False)


@pytest.mark.parametrize("raw, expected", [
    ("00000000:18:00.0", "0000:18:00.0"), ("00000000:1B:00.0", "0000:1b:00.0"), ("0000000F:01:00.0", "000f:01:00.0"),
    ("00010000:C1:00.7", "10000:c1:00.7"), ("18:00.0", None), ("", None), (None, None)])
def test_normalize_bus_id(raw, expected):
    assert smi.normalize_bus_id(raw) == expected


def test_parse_query_rows_and_placeholders():
    text = fixtures.H100_QUERY + "1, GPU-x, NVIDIA A10G, 00000000:00:1E.0, [N/A], 580.159.04, [Not Supported]\nbad row\n"
    gpus = smi.parse_query(text)
    assert gpus[0] == dict(index=0, uuid="GPU-5f0c1b9e-3c1d-4e61-9a55-0d2f4cf3b7a1", name="NVIDIA H100 80GB HBM3",
                           address="0000:18:00.0", memory_total_mib=81559, driver_version="580.159.04",
                           compute_capability="9.0")
    assert gpus[1]["memory_total_mib"] is None and gpus[1]["compute_capability"] is None
    assert len(gpus) == 2


def test_cuda_version_from_banner_and_q():
    assert smi.parse_cuda_version(fixtures.H100_BANNER) == "13.0"
    assert smi.parse_cuda_version("Driver Version                            : 535.216.03\n"
                                  "CUDA Version                              : 12.2\n") == "12.2"
    assert smi.parse_cuda_version("no banner") is None


def test_query_ok_runs_under_timeout():
    fake = fixtures.FakeSmi()
    got = smi.query(fake, "/usr/bin/nvidia-smi", "/usr/bin/timeout", 7)
    assert got["works"] and got["error"] is None and got["driver_version"] == "580.159.04"
    assert got["cuda_version"] == "13.0" and got["gpus"][0]["address"] == "0000:18:00.0"
    assert fake.calls[0][:4] == ["/usr/bin/timeout", "--kill-after=5", "7", "/usr/bin/nvidia-smi"]
    assert fake.calls[0][4] == "--query-gpu=" + ",".join(smi.FIELDS)


@pytest.mark.parametrize("rc, output, error", [
    (9, fixtures.NO_DRIVER, fixtures.NO_DRIVER.strip()[:300]),
    (18, "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.159\n",
     "Failed to initialize NVML: Driver/library version mismatch"),
    (124, "", "nvidia-smi did not answer within 30 s"),
])
def test_query_failures_are_reported(rc, output, error):
    got = smi.query(fixtures.FakeSmi(rc=rc, error=output), "/usr/bin/nvidia-smi", "/usr/bin/timeout")
    assert not got["works"] and got["error"] == error and got["gpus"] == []


def test_query_without_nvidia_smi_or_timeout():
    assert smi.query(None, None)["error"] == "nvidia-smi is not installed"
    fake = fixtures.FakeSmi()
    assert smi.query(fake, "/usr/bin/nvidia-smi")["works"]
    assert fake.calls[0][0] == "/usr/bin/nvidia-smi"


def test_query_retries_without_compute_cap_on_old_drivers():
    calls = []

    def old_smi(args, **_kw):
        calls.append(args)
        query = args[1] if len(args) > 1 else ""
        if "compute_cap" in query:
            return 2, 'Field "compute_cap" is not a valid field to query.\n', ""
        if query.startswith("--query-gpu="):
            return 0, "0, GPU-1, Tesla V100-SXM2-16GB, 00000000:00:1E.0, 16384, 470.256.02\n", ""
        return 0, "| NVIDIA-SMI 470.256.02   Driver Version: 470.256.02   CUDA Version: 11.4     |\n", ""
    got = smi.query(old_smi, "/usr/bin/nvidia-smi")
    assert got["works"] and got["gpus"][0]["compute_capability"] is None and got["cuda_version"] == "11.4"
    assert len(calls) == 3


def test_query_listing_no_gpu_does_not_work():
    got = smi.query(fixtures.FakeSmi(query="No devices were found\n"), "/usr/bin/nvidia-smi")
    assert not got["works"] and got["error"] == "nvidia-smi lists no GPU"
