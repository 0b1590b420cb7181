# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the nvidia_driver role does on a host, decided from its GPU facts, its OS and what is wanted. Pure.

``plan_driver_actions`` answers one of three actions:

- ``skip``: no NVIDIA GPU the host driver could use; nothing is touched.
- ``keep``: the wanted branch is loaded and nvidia-smi works; no package, repository or module is touched.
- ``install``: repositories, packages, the nouveau blacklist, and why a reboot is already known to be needed.

and, for ``keep`` and ``install``, whether the NVIDIA Container Toolkit is installed and for which runtimes.
"""

from __future__ import annotations

import re

CUDA_REPOS = "https://developer.download.nvidia.com/compute/cuda/repos"
TOOLKIT_REPO = "https://nvidia.github.io/libnvidia-container/stable"
TOOLKIT_KEY = "https://nvidia.github.io/libnvidia-container/gpgkey"
EPEL9 = dict(kind="yum", name="epel", description="Extra Packages for Enterprise Linux 9 - $basearch",
             baseurl=None, metalink="https://mirrors.fedoraproject.org/metalink?repo=epel-9&arch=$basearch",
             gpgkey="https://dl.fedoraproject.org/pub/epel/RPM-GPG-KEY-EPEL-9", gpgcheck=True, repo_gpgcheck=False)
DEBIAN_BRANCH = "535"  # what Debian 12 (bookworm) non-free packages
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
EL_DISTRIBUTIONS = ("RedHat", "Rocky", "AlmaLinux", "CentOS")
RUNTIMES = ("containerd", "docker", "podman")
# The program whose presence means a runtime is installed: docker's daemon, not its client (a docker CLI alone
# talks to a daemon elsewhere, and daemon.json here would configure nothing).
RUNTIME_PROGRAMS = {"containerd": "containerd", "docker": "dockerd", "podman": "podman", "nvidia-ctk": "nvidia-ctk"}
PASSTHROUGH_DRIVERS = ("vfio-pci", "pci-stub")
SOURCES = ("auto", "distribution", "nvidia")
TOOLKIT_MODES = ("auto", "always", "never")
# ansible_facts.architecture -> (CUDA repository directory, Debian architecture)
_ARCH = {"x86_64": ("x86_64", "amd64"), "aarch64": ("sbsa", "arm64")}
_INITRAMFS = {"apt": ["update-initramfs", "-u"], "dnf": ["dracut", "--force"]}


class PlanError(Exception):
    """The wanted driver cannot be installed on this host as asked; the message says why and what to change."""


def platform(os_facts):
    """(family, CUDA repository name) for a supported OS, else None. Families: ubuntu, debian, el, amazon."""
    dist = os_facts.get("distribution")
    version = str(os_facts.get("distribution_version") or "")
    major = str(os_facts.get("distribution_major_version") or "")
    if dist == "Ubuntu" and version in ("22.04", "24.04"):
        return "ubuntu", "ubuntu" + version.replace(".", "")
    if dist == "Debian" and major == "12":
        return "debian", "debian12"
    if dist == "Amazon" and major == "2023":
        return "amazon", "amzn2023"
    if dist in EL_DISTRIBUTIONS and major == "9":
        return "el", "rhel9"
    return None


def _os_name(os_facts):
    return "%s %s" % (os_facts.get("distribution"), os_facts.get("distribution_version"))


def _arch(os_facts):
    arch = os_facts.get("architecture")
    if arch not in _ARCH:
        raise PlanError("the NVIDIA repositories have no packages for architecture %s" % arch)
    return _ARCH[arch]


def _apt_repo(name, uris, key_url, suites="/", components=""):
    return dict(kind="apt", name=name, uris=uris, suites=suites, components=components, key_url=key_url,
                signed_by="/etc/apt/keyrings/%s.asc" % name if key_url else DEBIAN_KEYRING)


def _cuda_repo(family, cuda_name, os_facts):
    arch = _arch(os_facts)[0]
    url = "%s/%s/%s" % (CUDA_REPOS, cuda_name, arch)
    if family in ("ubuntu", "debian"):
        return _apt_repo("nvidia-cuda", url + "/", url + "/3bf863cc.pub")
    return dict(kind="yum", name="cuda-%s-%s" % (cuda_name, arch), description="NVIDIA CUDA %s %s" % (cuda_name, arch),
                baseurl=url, metalink=None, gpgkey=url + "/D42D0685.pub", gpgcheck=True, repo_gpgcheck=False)


def _debian_components(os_facts, wanted, components):
    release = os_facts.get("distribution_release") or "bookworm"
    return _apt_repo("debian-components", wanted.get("debian_mirror") or "http://deb.debian.org/debian", None,
                     suites="%s %s-updates" % (release, release), components=components)


def _source(family, wanted, os_facts):
    source = wanted["source"]
    if family in ("el", "amazon"):
        if source == "distribution":
            raise PlanError("%s has no NVIDIA driver packages of its own: use nvidia_driver_source=nvidia"
                            % _os_name(os_facts))
        return "nvidia"
    if family == "debian" and source != "nvidia" and wanted["branch"] != DEBIAN_BRANCH:
        if source == "distribution":
            raise PlanError("Debian 12 packages NVIDIA driver branch %s only, branch %s is wanted: use "
                            "nvidia_driver_source=nvidia (NVIDIA's CUDA repository)" % (DEBIAN_BRANCH, wanted["branch"]))
        return "nvidia"
    return "nvidia" if source == "nvidia" else "distribution"


def _driver_packages(family, source, wanted):
    branch, is_open = wanted["branch"], wanted["open"]
    if source == "nvidia":
        return ["nvidia-open-%s" % branch if is_open else "cuda-drivers-%s" % branch]
    if family == "ubuntu":
        return ["nvidia-driver-%s%s%s" % (branch, "-server" if wanted["server"] else "", "-open" if is_open else "")]
    return ["nvidia-open-kernel-dkms" if is_open else "nvidia-kernel-dkms", "nvidia-driver", "firmware-misc-nonfree"]


def _install(plan, os_facts, wanted):
    found = platform(os_facts)
    if not found:
        raise PlanError("installing the NVIDIA driver is supported on Ubuntu 22.04/24.04, Debian 12, Amazon Linux "
                        "2023 and RHEL/Rocky/AlmaLinux 9, not on %s" % _os_name(os_facts))
    family, cuda_name = found
    source = _source(family, wanted, os_facts)
    kernel = os_facts.get("kernel")
    plan.update(source=source, blacklist_nouveau=True)
    if family in ("ubuntu", "debian"):
        plan["package_manager"] = "apt"
        plan["prerequisites"] = ["linux-headers-%s" % kernel]
        if family == "debian":
            components = "contrib non-free non-free-firmware" if source == "distribution" else "contrib"
            plan["repositories"].append(_debian_components(os_facts, wanted, components))
        if source == "nvidia":
            plan["repositories"].append(_cuda_repo(family, cuda_name, os_facts))
        plan["packages"] = _driver_packages(family, source, wanted)
    else:
        plan["package_manager"] = "dnf"
        plan["repositories"].append(_cuda_repo(family, cuda_name, os_facts))
        if family == "el":
            # dkms comes from EPEL; RHEL gets the repository, the rebuilds their epel-release package.
            if os_facts.get("distribution") == "RedHat":
                plan["repositories"].append(dict(EPEL9))
            plan["prerequisites"] = ([] if os_facts.get("distribution") == "RedHat" else ["epel-release"]) + [
                "kernel-devel-%s" % kernel, "kernel-headers"]
        else:
            plan["prerequisites"] = ["kernel-devel-%s" % kernel, "kernel-modules-extra-%s" % kernel, "dkms"]
        plan["dnf_module"] = "nvidia-driver:%s-%s" % (wanted["branch"], "open" if wanted["open"] else "dkms")
    plan["initramfs_command"] = list(_INITRAMFS[plan["package_manager"]])


def _toolkit(action, os_facts, wanted):
    runtimes = wanted.get("runtimes") or {}
    present = [name for name in RUNTIMES if runtimes.get(name)]
    mode = wanted["container_toolkit"]
    result = dict(wanted=False, install=False, packages=["nvidia-container-toolkit"], repositories=[], runtimes=[],
                  reason=None)
    if action == "skip":
        result["reason"] = "no GPU to share with containers"
        return result
    if mode == "never" or (mode == "auto" and not present):
        result["reason"] = ("nvidia_driver_container_toolkit=never" if mode == "never"
                            else "no container runtime (containerd, docker, podman) is installed")
        return result
    result.update(wanted=True, runtimes=present, install=not runtimes.get("nvidia-ctk"))
    result["reason"] = ("configure %s" % ", ".join(present)) if present else "installed for later runtimes"
    if result["install"]:
        found = platform(os_facts)
        if not found:
            raise PlanError("the NVIDIA Container Toolkit is installed from NVIDIA's repository on Ubuntu 22.04/24.04, "
                            "Debian 12, Amazon Linux 2023 and RHEL/Rocky/AlmaLinux 9, not on %s; install it yourself "
                            "or set nvidia_driver_container_toolkit=never" % _os_name(os_facts))
        if found[0] in ("ubuntu", "debian"):
            repo = _apt_repo("nvidia-container-toolkit", "%s/deb/%s" % (TOOLKIT_REPO, _arch(os_facts)[1]), TOOLKIT_KEY)
        else:
            repo = dict(kind="yum", name="nvidia-container-toolkit", description="NVIDIA Container Toolkit",
                        baseurl="%s/rpm/$basearch" % TOOLKIT_REPO, metalink=None, gpgkey=TOOLKIT_KEY, gpgcheck=False,
                        repo_gpgcheck=True)
        result["repositories"] = [repo]
    return result


def _check_wanted(wanted):
    wanted = dict(wanted)
    wanted["branch"] = str(wanted.get("branch", ""))
    if not re.match(r"^\d{3,}$", wanted["branch"]):
        raise PlanError("nvidia_driver_branch must be a driver branch number like 580, not %r" % wanted["branch"])
    wanted.setdefault("open", True)
    wanted.setdefault("server", True)
    wanted.setdefault("source", "auto")
    wanted.setdefault("container_toolkit", "auto")
    if wanted["source"] not in SOURCES:
        raise PlanError("nvidia_driver_source must be one of %s, not %r" % (", ".join(SOURCES), wanted["source"]))
    if wanted["container_toolkit"] not in TOOLKIT_MODES:
        raise PlanError("nvidia_driver_container_toolkit must be one of %s, not %r"
                        % (", ".join(TOOLKIT_MODES), wanted["container_toolkit"]))
    return wanted


def _driver_state(facts, wanted, plan):
    """keep, or install with the reasons, and reboot reasons known before anything is installed."""
    driver = facts.get("driver") or {}
    smi = facts.get("nvidia_smi") or {}
    branch = wanted["branch"]
    if driver.get("loaded") and str(driver.get("major")) == branch and smi.get("works"):
        flavour = driver.get("flavour") or "unknown"
        plan["reason"] = ("NVIDIA driver %s (%s kernel module) is loaded and nvidia-smi sees %d GPU(s): left alone"
                          % (driver.get("version"), flavour, len(smi.get("gpus") or [])))
        if driver.get("flavour") and driver["flavour"] != ("open" if wanted["open"] else "proprietary"):
            plan["notes"].append("the loaded driver uses the %s kernel module while nvidia_driver_open=%s; a working "
                                 "driver of the wanted branch is never replaced" % (flavour, wanted["open"]))
        return "keep"
    if not driver.get("loaded"):
        plan["reason"] = "no NVIDIA driver is loaded"
    elif str(driver.get("major")) != branch:
        plan["reason"] = "NVIDIA driver %s is loaded, branch %s is wanted" % (driver.get("version"), branch)
        plan["reboot_reasons"].append("the NVIDIA %s kernel module is loaded; the %s module replaces it at the next "
                                      "boot" % (driver.get("version"), branch))
    else:
        plan["reason"] = "NVIDIA driver %s is loaded but nvidia-smi fails: %s" % (driver.get("version"), smi.get("error"))
        plan["reboot_reasons"].append("the loaded NVIDIA %s kernel module does not work with the installed libraries"
                                      % driver.get("version"))
    if facts.get("nouveau_loaded"):
        plan["reboot_reasons"].append("nouveau is loaded and holds the GPU until the next boot")
    return "install"


def plan_driver_actions(facts, os_facts, wanted):
    """The plan for one host.

    ``facts`` is the gpu_facts result (``ansible_facts.wiremesh_gpu``); ``os_facts`` holds ``distribution``,
    ``distribution_version``, ``distribution_major_version``, ``distribution_release``, ``architecture`` and
    ``kernel`` as Ansible gathers them; ``wanted`` holds ``branch``, ``open``, ``server``, ``source``,
    ``container_toolkit``, ``runtimes`` ({name: path or None} for containerd, docker, podman and nvidia-ctk) and
    optionally ``debian_mirror``. Raises PlanError when the wish cannot be met on this OS."""
    wanted = _check_wanted(wanted)
    plan = dict(action="skip", reason=None, notes=[], branch=wanted["branch"], source=None, package_manager=None,
                repositories=[], prerequisites=[], packages=[], dnf_module=None, blacklist_nouveau=False,
                initramfs_command=None, reboot_reasons=[])
    gpus = facts.get("gpus") or []
    passthrough = [g for g in gpus if g.get("driver") in PASSTHROUGH_DRIVERS]
    if not facts.get("gpu_present") or not gpus:
        plan["reason"] = "no NVIDIA GPU on this host"
    elif len(passthrough) == len(gpus):
        plan["reason"] = ("every NVIDIA GPU is bound to %s (passed through to virtual machines): the host driver is "
                          "left alone" % "/".join(sorted({g["driver"] for g in passthrough})))
    else:
        plan["action"] = _driver_state(facts, wanted, plan)
        if plan["action"] == "install":
            _install(plan, os_facts, wanted)
    plan["container_toolkit"] = _toolkit(plan["action"], os_facts, wanted)
    return plan
