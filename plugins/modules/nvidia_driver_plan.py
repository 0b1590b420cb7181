#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_driver_plan
short_description: Decide what the nvidia_driver role does on a host (skip, keep or install)
version_added: 0.1.0
author:
  - Wiremesh Maintainers (@wiremesh)
description:
  - Takes the host's GPU facts (from M(wiremesh.multicloud.gpu_facts)), its OS facts and the wanted driver, and
    answers one action. V(skip) - no NVIDIA GPU the host driver could use (none, or all passed through with
    C(vfio-pci)). V(keep) - the wanted branch is loaded and nvidia-smi works, so no package, repository or module
    is touched. V(install) - the repositories, prerequisites, packages or DNF module stream to install, the
    command that rebuilds the initramfs after blacklisting nouveau, and the reboot reasons already known.
  - Also decides whether the NVIDIA Container Toolkit is installed, and for which container runtimes, looked up
    on the host's C(PATH) - C(containerd), C(dockerd) (a docker client alone does not count) and C(podman) - and
    whether C(nvidia-ctk) is already there.
  - Changes nothing. Fails with a clear message when the wanted driver cannot be installed on this OS.
options:
  facts:
    description: The host's GPU facts, C(ansible_facts.wiremesh_gpu).
    type: dict
    required: true
  distribution:
    description: C(ansible_facts.distribution), for example V(Ubuntu), V(Debian), V(Amazon), V(RedHat), V(Rocky).
    type: str
    required: true
  distribution_version:
    description: C(ansible_facts.distribution_version), for example V(24.04).
    type: str
    required: true
  distribution_major_version:
    description: C(ansible_facts.distribution_major_version), for example V(9) or V(2023).
    type: str
    required: true
  distribution_release:
    description: C(ansible_facts.distribution_release) (Debian's codename, for the non-free components).
    type: str
    default: ""
  architecture:
    description: C(ansible_facts.architecture), V(x86_64) or V(aarch64).
    type: str
    required: true
  kernel:
    description: C(ansible_facts.kernel), the running kernel (its headers are a prerequisite of DKMS).
    type: str
    required: true
  branch:
    description: The wanted driver branch (major version).
    type: str
    default: "580"
  open:
    description: Whether the open GPU kernel module is wanted (Turing and newer); otherwise the proprietary one.
    type: bool
    default: true
  server:
    description: On Ubuntu with distribution packages, pick the C(-server) (Enterprise Ready Driver) packages.
    type: bool
    default: true
  source:
    description:
      - Where the driver comes from. V(distribution) - the OS's own packages (Ubuntu, and Debian for its
        packaged branch). V(nvidia) - NVIDIA's CUDA repository. V(auto) - the distribution where it packages the
        wanted branch, else NVIDIA's repository.
    type: str
    choices: [auto, distribution, nvidia]
    default: auto
  container_toolkit:
    description:
      - V(auto) installs the NVIDIA Container Toolkit when a container runtime is installed; V(always) and
        V(never) do what they say.
    type: str
    choices: [auto, always, never]
    default: auto
  debian_mirror:
    description: Debian mirror for the C(contrib)/C(non-free) components on Debian.
    type: str
    default: http://deb.debian.org/debian
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: wiremesh.multicloud.gpu_facts
"""

EXAMPLES = r"""
- name: Look for GPUs
  wiremesh.multicloud.gpu_facts:

- name: Decide what to do
  wiremesh.multicloud.nvidia_driver_plan:
    facts: "{{ ansible_facts.wiremesh_gpu }}"
    distribution: "{{ ansible_facts.distribution }}"
    distribution_version: "{{ ansible_facts.distribution_version }}"
    distribution_major_version: "{{ ansible_facts.distribution_major_version }}"
    distribution_release: "{{ ansible_facts.distribution_release }}"
    architecture: "{{ ansible_facts.architecture }}"
    kernel: "{{ ansible_facts.kernel }}"
    branch: "580"
  register: plan

- name: Install only what the plan lists
  ansible.builtin.apt:
    name: "{{ plan.packages }}"
  when: plan.action == 'install' and plan.package_manager == 'apt'
"""

RETURN = r"""
action:
  description: V(skip), V(keep) or V(install).
  returned: always
  type: str
  sample: keep
reason:
  description: One line saying why.
  returned: always
  type: str
  sample: "NVIDIA driver 580.159.04 (open kernel module) is loaded and nvidia-smi sees 1 GPU(s): left alone"
notes:
  description: Things worth knowing that change nothing (also emitted as Ansible warnings).
  returned: always
  type: list
  elements: str
branch:
  description: The wanted branch.
  returned: always
  type: str
  sample: "580"
source:
  description: V(distribution) or V(nvidia) with V(install), else V(null).
  returned: always
  type: str
package_manager:
  description: V(apt) or V(dnf) with V(install), else V(null).
  returned: always
  type: str
repositories:
  description:
    - Package repositories to configure first. C(kind) V(apt) has C(name), C(uris), C(suites), C(components),
      C(key_url) and C(signed_by) (a deb822 source); C(kind) V(yum) has C(name), C(description), C(baseurl) or
      C(metalink), C(gpgkey), C(gpgcheck) and C(repo_gpgcheck).
  returned: always
  type: list
  elements: dict
prerequisites:
  description: Packages installed before the driver (kernel headers, dkms, EPEL).
  returned: always
  type: list
  elements: str
  sample: [linux-headers-6.8.0-1015-aws]
packages:
  description: Driver packages to install (apt), empty when a DNF module stream is used.
  returned: always
  type: list
  elements: str
  sample: [nvidia-driver-580-server-open]
dnf_module:
  description: The DNF module stream to install (C(nvidia-driver:<branch>-open) or C(-dkms)), else V(null).
  returned: always
  type: str
  sample: nvidia-driver:580-open
blacklist_nouveau:
  description: Whether nouveau is to be blacklisted (always with V(install)).
  returned: always
  type: bool
initramfs_command:
  description: The command that rebuilds the initramfs after the blacklist changes, else V(null).
  returned: always
  type: list
  elements: str
  sample: [update-initramfs, -u]
reboot_reasons:
  description: Why a reboot is needed, as far as known before installing (more may follow if the module does not load).
  returned: always
  type: list
  elements: str
container_toolkit:
  description:
    - C(wanted), C(install) (toolkit missing), C(packages), C(repositories) (as above), C(runtimes) (the
      installed ones to configure) and C(reason).
  returned: always
  type: dict
runtimes:
  description:
    - Path of each container runtime (for docker, its daemon C(dockerd)) and of nvidia-ctk on the host, V(null)
      when not installed.
  returned: always
  type: dict
  sample: {containerd: /usr/bin/containerd, docker: null, podman: null, nvidia-ctk: null}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu import plan as planner

_OS_KEYS = ("distribution", "distribution_version", "distribution_major_version", "distribution_release",
            "architecture", "kernel")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            facts=dict(type="dict", required=True),
            distribution=dict(type="str", required=True),
            distribution_version=dict(type="str", required=True),
            distribution_major_version=dict(type="str", required=True),
            distribution_release=dict(type="str", default=""),
            architecture=dict(type="str", required=True),
            kernel=dict(type="str", required=True),
            branch=dict(type="str", default="580"),
            open=dict(type="bool", default=True),
            server=dict(type="bool", default=True),
            source=dict(type="str", choices=list(planner.SOURCES), default="auto"),
            container_toolkit=dict(type="str", choices=list(planner.TOOLKIT_MODES), default="auto"),
            debian_mirror=dict(type="str", default="http://deb.debian.org/debian"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    runtimes = dict((name, module.get_bin_path(program)) for name, program in planner.RUNTIME_PROGRAMS.items())
    wanted = dict((key, params[key]) for key in ("branch", "open", "server", "source", "container_toolkit",
                                                 "debian_mirror"))
    wanted["runtimes"] = runtimes
    try:
        result = planner.plan_driver_actions(params["facts"], dict((k, params[k]) for k in _OS_KEYS), wanted)
    except planner.PlanError as exc:
        module.fail_json(msg=str(exc), runtimes=runtimes)
    for note in result["notes"]:
        module.warn(note)
    module.exit_json(changed=False, runtimes=runtimes, **result)


if __name__ == "__main__":
    main()
