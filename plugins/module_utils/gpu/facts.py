# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One dict of GPU facts for a host: NVIDIA GPUs on PCI, the loaded driver, nouveau, and nvidia-smi's view."""

from __future__ import annotations

from . import driver as drivers
from . import pci, smi


def _not_run():
    return dict(present=False, path=None, works=False, error="nvidia-smi was not run", gpus=[],
                driver_version=None, cuda_version=None)


def gather(root="/", run=None, smi_path=None, timeout_path=None, timeout=30):
    """Facts about the host under ``root``; asks nvidia-smi (``smi_path``, None when not installed) through
    ``run`` unless ``run`` is None.

    A host with no GPU, no driver or no nvidia-smi gets ``gpu_present: false`` or empty parts, never an error."""
    displays = pci.display_devices(root)
    names = pci.pci_ids_names(root, [(d["vendor_id"], d["device_id"]) for d in displays])
    for device in displays:
        device["pci_name"] = names.get((device["vendor_id"], device["device_id"]))
    gpus = [d for d in displays if d["vendor_id"] == pci.NVIDIA_VENDOR_ID]
    others = [d for d in displays if d["vendor_id"] != pci.NVIDIA_VENDOR_ID]

    smi_facts = smi.query(run, smi_path, timeout_path, timeout) if run else _not_run()
    by_address = {g["address"]: g for g in smi_facts["gpus"] if g["address"]}
    for gpu in gpus:
        seen = by_address.pop(gpu["address"], None)
        gpu.update(_smi_part(seen))
        gpu["source"] = "pci"
    for seen in by_address.values():  # GPUs nvidia-smi knows that sysfs does not show (e.g. WSL)
        gpus.append(dict(address=seen["address"], vendor_id=pci.NVIDIA_VENDOR_ID, device_id=None, class_id=None,
                         kind=None, driver=None, numa_node=None, subsystem_vendor_id=None, subsystem_device_id=None,
                         pci_name=None, source="nvidia-smi", **_smi_part(seen)))

    loaded = drivers.loaded_driver(root)
    modules = drivers.loaded_modules(root)
    return dict(
        gpu_present=bool(gpus),
        gpu_count=len(gpus),
        gpus=gpus,
        other_display_devices=others,
        driver=loaded,
        kernel_modules=modules,
        nouveau_loaded=modules["nouveau"],
        nvidia_smi=smi_facts,
        cuda_version=smi_facts["cuda_version"],
    )


def _smi_part(seen):
    seen = seen or {}
    return dict(name=seen.get("name"), uuid=seen.get("uuid"), index=seen.get("index"),
                memory_total_mib=seen.get("memory_total_mib"), compute_capability=seen.get("compute_capability"))
