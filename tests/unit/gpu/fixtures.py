"""Fake host trees (sys/ and proc/ under a temporary root) and a recorded nvidia-smi, shaped like real hosts."""

import os

H100_VERSION = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  "
                "(dvs-builder@U22-I3-AE18-09-3)  Thu Oct 30 12:12:12 UTC 2025\n"
                "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n")
PROPRIETARY_535 = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.216.03  Thu Apr  3 01:14:19 UTC 2025\n"
                   "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
H100_QUERY = "0, GPU-5f0c1b9e-3c1d-4e61-9a55-0d2f4cf3b7a1, NVIDIA H100 80GB HBM3, 00000000:18:00.0, 81559, 580.159.04, 9.0\n"
H100_BANNER = """Thu Nov 26 10:00:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.159.04             Driver Version: 580.159.04     CUDA Version: 13.0     |
+-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |
+-----------------------------------------+------------------------+----------------------+
"""
NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
             "latest NVIDIA driver is installed and running.\n")
PCI_IDS = """# pci.ids excerpt
1002  Advanced Micro Devices, Inc. [AMD/ATI]
\t7448  Navi 31 [Radeon Pro W7900]
10de  NVIDIA Corporation
\t1eb8  TU104GL [Tesla T4]
\t\t10de 12a2  TU104GL [Tesla T4]
\t2330  GH100 [H100 SXM5 80GB]
1a03  ASPEED Technology, Inc.
\t2000  ASPEED Graphics Family
C 03  Display controller
\t00  VGA compatible controller
"""


def write(root, relative, text):
    path = os.path.join(str(root), relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def pci_device(root, address, vendor, device, class_id, driver=None, subsystem=("0x0000", "0x0000"), numa="-1"):
    """One /sys/bus/pci/devices/<address> with the files sysfs has, and its driver symlink."""
    base = os.path.join("sys", "bus", "pci", "devices", address)
    for name, value in (("vendor", vendor), ("device", device), ("class", class_id), ("subsystem_vendor", subsystem[0]),
                        ("subsystem_device", subsystem[1]), ("numa_node", numa)):
        write(root, os.path.join(base, name), value + "\n")
    if driver:
        target = os.path.join(str(root), "sys", "bus", "pci", "drivers", driver)
        os.makedirs(target, exist_ok=True)
        os.symlink(target, os.path.join(str(root), base, "driver"))


def proc_modules(root, *names):
    write(root, "proc/modules", "".join("%s 16384 0 - Live 0x0000000000000000\n" % n for n in names))


def chipset(root):
    pci_device(root, "0000:00:00.0", "0x8086", "0x1237", "0x060000")


def h100_host(root):
    """An HGX H100 node: the GPU on nvidia (open 580.159.04), an NVSwitch, a host bridge, pci.ids present."""
    chipset(root)
    pci_device(root, "0000:18:00.0", "0x10de", "0x2330", "0x030200", "nvidia", ("0x10de", "0x16c1"), "0")
    pci_device(root, "0000:05:00.0", "0x10de", "0x22a3", "0x068000", "nvidia")  # NVSwitch: not a GPU
    write(root, "proc/driver/nvidia/version", H100_VERSION)
    write(root, "sys/module/nvidia/version", "580.159.04\n")
    proc_modules(root, "nvidia_uvm", "nvidia", "nvme")
    write(root, "usr/share/misc/pci.ids", PCI_IDS)


def nouveau_host(root):
    """A Tesla T4 held by nouveau, with its NVIDIA HDMI audio function on snd_hda_intel; no NVIDIA driver."""
    chipset(root)
    pci_device(root, "0000:00:1e.0", "0x10de", "0x1eb8", "0x030000", "nouveau", ("0x10de", "0x12a2"))
    pci_device(root, "0000:00:1e.1", "0x10de", "0x10f8", "0x040300", "snd_hda_intel")
    proc_modules(root, "nouveau", "drm", "snd_hda_intel")
    write(root, "usr/share/hwdata/pci.ids", PCI_IDS)


def no_gpu_host(root):
    """A cloud VM with virtio devices only (like the lab machine) and no /proc/modules."""
    chipset(root)
    for slot, class_id in (("01", "0xffff00"), ("02", "0x018000"), ("03", "0x020000")):
        pci_device(root, "0000:00:%s.0" % slot, "0x1af4", "0x1000", class_id, "virtio-pci")


def amd_host(root):
    """A workstation with an AMD card and a BMC's ASPEED VGA, no NVIDIA device."""
    chipset(root)
    pci_device(root, "0000:03:00.0", "0x1002", "0x7448", "0x030000", "amdgpu")
    pci_device(root, "0000:c1:00.0", "0x1a03", "0x2000", "0x030000", "ast")
    proc_modules(root, "amdgpu", "ast")
    write(root, "usr/share/misc/pci.ids", PCI_IDS)


class FakeSmi:
    """Answers nvidia-smi argv like the real command; records every call."""

    def __init__(self, query=H100_QUERY, banner=H100_BANNER, rc=0, error=""):
        self.query, self.banner, self.rc, self.error = query, banner, rc, error
        self.calls = []

    def __call__(self, args, **_kw):
        self.calls.append(list(args))
        smi_args = args[args.index("/usr/bin/nvidia-smi") + 1:]
        if self.rc:
            return self.rc, self.error, ""
        if smi_args and smi_args[0].startswith("--query-gpu="):
            return 0, self.query, ""
        return 0, self.banner, ""
