#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Find the NVIDIA GPUs of a host, its loaded NVIDIA driver and what nvidia-smi says
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Finds NVIDIA GPUs from PCI sysfs (C(/sys/bus/pci/devices/*)) without C(lspci) - display controllers (PCI class
    C(0x03xxxx)) with vendor C(0x10de) - and reports each one's PCI address, device id and bound kernel driver.
    NVIDIA audio functions and NVSwitches are not GPUs and are left out.
  - Reads the loaded driver from C(/proc/driver/nvidia/version) (version, branch, open or proprietary kernel
    module), whether C(nouveau) is loaded (C(/proc/modules)), and, when C(nvidia-smi) is installed, the GPUs it
    can talk to (name, memory, UUID, compute capability) with the driver and CUDA versions.
  - Names devices from C(pci.ids) when the host has that file.
  - Never fails on a host without a GPU, a driver or nvidia-smi; it reports them as absent. It changes nothing.
options:
  timeout:
    description:
      - Seconds nvidia-smi may take per call (it can hang when a GPU has fallen off the bus). Needs the
        C(timeout) command (coreutils); without it nvidia-smi runs unbounded.
    type: int
    default: 30
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - Inside a container the facts describe what the container sees, which is usually the host's PCI devices and
    driver.
seealso:
  - name: NVIDIA open GPU kernel modules
    description: Which GPUs the open kernel module supports.
    link: https://github.com/NVIDIA/open-gpu-kernel-modules
"""

EXAMPLES = r"""
- name: Look for NVIDIA GPUs
  wiremesh.multicloud.gpu_facts:

- name: Say what was found
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.wiremesh_gpu.gpu_count }} GPU(s),
      driver {{ ansible_facts.wiremesh_gpu.driver.version | default('none', true) }}
      ({{ ansible_facts.wiremesh_gpu.driver.flavour | default('-', true) }}),
      CUDA {{ ansible_facts.wiremesh_gpu.cuda_version | default('-', true) }}

- name: Only on GPU hosts
  ansible.builtin.include_role:
    name: wiremesh.multicloud.nvidia_driver
  when: ansible_facts.wiremesh_gpu.gpu_present
"""

RETURN = r"""
ansible_facts:
  description: The facts, also returned at the top level of the result.
  returned: always
  type: dict
  contains:
    wiremesh_gpu:
      description: Everything below (RV(gpu_present) to RV(cuda_version)) as one dict.
      type: dict
      returned: always
gpu_present:
  description: Whether the host has at least one NVIDIA GPU.
  returned: always
  type: bool
  sample: true
gpu_count:
  description: How many NVIDIA GPUs the host has.
  returned: always
  type: int
  sample: 1
gpus:
  description:
    - The NVIDIA GPUs, by PCI address. The name, UUID, index, memory and compute capability come from nvidia-smi
      and are V(null) when it does not run.
    - C(source) is V(pci), or V(nvidia-smi) for a GPU that nvidia-smi lists but sysfs does not show.
  returned: always
  type: list
  elements: dict
  sample:
    - address: "0000:18:00.0"
      vendor_id: "0x10de"
      device_id: "0x2330"
      subsystem_vendor_id: "0x10de"
      subsystem_device_id: "0x16c1"
      class_id: "0x030200"
      kind: 3d
      driver: nvidia
      numa_node: 0
      pci_name: "NVIDIA Corporation GH100 [H100 SXM5 80GB]"
      name: NVIDIA H100 80GB HBM3
      uuid: GPU-5f0c1b9e-3c1d-4e61-9a55-0d2f4cf3b7a1
      index: 0
      memory_total_mib: 81559
      compute_capability: "9.0"
      source: pci
other_display_devices:
  description: Display controllers of other vendors (same keys as RV(gpus), without the nvidia-smi ones).
  returned: always
  type: list
  elements: dict
  sample: []
driver:
  description:
    - The loaded NVIDIA kernel driver. C(flavour) is V(open) or V(proprietary) (V(null) when only
      C(/sys/module/nvidia/version) was readable); C(major) is the driver branch.
  returned: always
  type: dict
  sample: {loaded: true, version: 580.159.04, major: "580", flavour: open, arch: x86_64,
           source: proc/driver/nvidia/version}
kernel_modules:
  description: Whether each of nvidia, nvidia_uvm, nvidia_drm, nvidia_modeset and nouveau is loaded.
  returned: always
  type: dict
  sample: {nvidia: true, nvidia_uvm: true, nvidia_drm: false, nvidia_modeset: false, nouveau: false}
nouveau_loaded:
  description: Whether the nouveau module is loaded (it keeps the NVIDIA driver off the GPU until a reboot).
  returned: always
  type: bool
  sample: false
nvidia_smi:
  description:
    - What nvidia-smi reported. C(works) is true when it ran and listed at least one GPU; otherwise C(error)
      says why (not installed, cannot talk to the driver, driver/library version mismatch, timed out).
  returned: always
  type: dict
  sample: {present: true, path: /usr/bin/nvidia-smi, works: true, error: null, driver_version: 580.159.04,
           cuda_version: "13.0", gpus: []}
cuda_version:
  description: The newest CUDA version the loaded driver supports (from nvidia-smi), V(null) when unknown.
  returned: always
  type: str
  sample: "13.0"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu import facts


def main():
    module = AnsibleModule(argument_spec=dict(timeout=dict(type="int", default=30)), supports_check_mode=True)
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second, not %s" % module.params["timeout"])
    found = facts.gather(
        root="/",
        run=lambda args: module.run_command(args, environ_update=dict(LC_ALL="C")),
        smi_path=module.get_bin_path("nvidia-smi"),
        timeout_path=module.get_bin_path("timeout"),
        timeout=module.params["timeout"],
    )
    module.exit_json(changed=False, ansible_facts=dict(wiremesh_gpu=found), **found)


if __name__ == "__main__":
    main()
