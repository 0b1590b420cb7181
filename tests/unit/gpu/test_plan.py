"""plan_driver_actions for every supported platform and every driver state, with facts gathered from fixture
hosts (the same dicts the gpu_facts module returns)."""

import copy

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu import facts as gpu_facts
from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu.plan import PlanError, plan_driver_actions

from . import fixtures

OS = {
    "ubuntu2404": dict(distribution="Ubuntu", distribution_version="24.04", distribution_major_version="24",
                       distribution_release="noble", architecture="x86_64", kernel="6.8.0-1015-aws"),
    "ubuntu2204": dict(distribution="Ubuntu", distribution_version="22.04", distribution_major_version="22",
                       distribution_release="jammy", architecture="aarch64", kernel="6.5.0-1020-aws"),
    "debian12": dict(distribution="Debian", distribution_version="12.8", distribution_major_version="12",
                     distribution_release="bookworm", architecture="x86_64", kernel="6.1.0-28-cloud-amd64"),
    "amzn2023": dict(distribution="Amazon", distribution_version="2023", distribution_major_version="2023",
                     distribution_release="", architecture="x86_64", kernel="6.1.115-126.197.amzn2023.x86_64"),
    "rhel9": dict(distribution="RedHat", distribution_version="9.4", distribution_major_version="9",
                  distribution_release="Plow", architecture="x86_64", kernel="5.14.0-427.13.1.el9_4.x86_64"),
    "rocky9": dict(distribution="Rocky", distribution_version="9.5", distribution_major_version="9",
                   distribution_release="Blue Onyx", architecture="aarch64", kernel="5.14.0-503.14.1.el9_5.aarch64"),
    "debian11": dict(distribution="Debian", distribution_version="11.11", distribution_major_version="11",
                     distribution_release="bullseye", architecture="x86_64", kernel="5.10.0-33-amd64"),
}
NO_RUNTIMES = {"containerd": None, "docker": None, "podman": None, "nvidia-ctk": None}


def wanted(**over):
    base = dict(branch="580", open=True, server=True, source="auto", container_toolkit="auto",
                runtimes=dict(NO_RUNTIMES))
    base.update(over)
    return base


def host(tmp_path, builder, smi=None, smi_path="/usr/bin/nvidia-smi"):
    builder(tmp_path)
    return gpu_facts.gather(str(tmp_path), smi or fixtures.FakeSmi(), smi_path)


@pytest.fixture
def h100(tmp_path):
    return host(tmp_path, fixtures.h100_host)


@pytest.fixture
def nouveau(tmp_path):
    return host(tmp_path, fixtures.nouveau_host, smi_path=None)


@pytest.fixture
def bare(tmp_path):
    """A T4 with no driver at all and nothing holding it."""
    fixtures.pci_device(tmp_path, "0000:00:1e.0", "0x10de", "0x1eb8", "0x030200")
    return gpu_facts.gather(str(tmp_path), fixtures.FakeSmi(), None)


# --- skip and keep: nothing is installed, whatever the OS ------------------------------------------------------

@pytest.mark.parametrize("builder", [fixtures.no_gpu_host, fixtures.amd_host])
@pytest.mark.parametrize("os_name", sorted(OS))
def test_no_nvidia_gpu_skips_on_any_os(tmp_path, builder, os_name):
    plan = plan_driver_actions(host(tmp_path, builder, smi_path=None), OS[os_name], wanted())
    assert plan["action"] == "skip" and plan["reason"] == "no NVIDIA GPU on this host"
    assert plan["packages"] == plan["repositories"] == plan["reboot_reasons"] == []
    assert not plan["blacklist_nouveau"] and not plan["container_toolkit"]["wanted"]


def test_no_gpu_skips_even_with_a_runtime_and_toolkit_always(tmp_path):
    plan = plan_driver_actions(host(tmp_path, fixtures.no_gpu_host, smi_path=None), OS["debian11"],
                               wanted(container_toolkit="always", runtimes=dict(NO_RUNTIMES, docker="/usr/bin/docker")))
    assert plan["action"] == "skip" and plan["container_toolkit"]["install"] is False


@pytest.mark.parametrize("os_name", sorted(OS))
def test_working_wanted_branch_is_kept_with_no_package_or_repo(h100, os_name):
    plan = plan_driver_actions(h100, OS[os_name], wanted())
    assert plan["action"] == "keep"
    assert plan["reason"] == ("NVIDIA driver 580.159.04 (open kernel module) is loaded and nvidia-smi sees 1 GPU(s): "
                              "left alone")
    assert plan["packages"] == plan["repositories"] == plan["prerequisites"] == plan["reboot_reasons"] == []
    assert plan["dnf_module"] is None and plan["package_manager"] is None and not plan["blacklist_nouveau"]
    assert plan["notes"] == []
    assert plan["container_toolkit"] == dict(wanted=False, install=False, packages=["nvidia-container-toolkit"],
                                             repositories=[], runtimes=[],
                                             reason="no container runtime (containerd, docker, podman) is installed")


def test_keep_warns_about_a_flavour_mismatch_but_keeps(h100):
    plan = plan_driver_actions(h100, OS["ubuntu2404"], wanted(open=False))
    assert plan["action"] == "keep" and "open kernel module while nvidia_driver_open=False" in plan["notes"][0]


def test_all_gpus_passed_through_are_left_alone(h100):
    facts = copy.deepcopy(h100)
    facts["gpus"][0]["driver"] = "vfio-pci"
    facts["driver"]["loaded"] = False
    plan = plan_driver_actions(facts, OS["ubuntu2404"], wanted())
    assert plan["action"] == "skip" and "bound to vfio-pci" in plan["reason"]


# --- install: per platform --------------------------------------------------------------------------------------

def test_ubuntu_distribution_packages(bare):
    plan = plan_driver_actions(bare, OS["ubuntu2404"], wanted())
    assert plan["action"] == "install" and plan["reason"] == "no NVIDIA driver is loaded"
    assert plan["source"] == "distribution" and plan["package_manager"] == "apt" and plan["repositories"] == []
    assert plan["packages"] == ["nvidia-driver-580-server-open"]
    assert plan["prerequisites"] == ["linux-headers-6.8.0-1015-aws"]
    assert plan["blacklist_nouveau"] and plan["initramfs_command"] == ["update-initramfs", "-u"]
    assert plan["reboot_reasons"] == []


@pytest.mark.parametrize("server, is_open, package", [
    (True, True, "nvidia-driver-580-server-open"), (True, False, "nvidia-driver-580-server"),
    (False, True, "nvidia-driver-580-open"), (False, False, "nvidia-driver-580")])
def test_ubuntu_flavours(bare, server, is_open, package):
    assert plan_driver_actions(bare, OS["ubuntu2204"], wanted(server=server, open=is_open))["packages"] == [package]


def test_ubuntu_from_nvidia_repository_on_arm(bare):
    plan = plan_driver_actions(bare, OS["ubuntu2204"], wanted(source="nvidia", open=False, branch="570"))
    repo = plan["repositories"][0]
    assert repo == dict(kind="apt", name="nvidia-cuda", suites="/", components="",
                        uris="https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/sbsa/",
                        key_url="https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/sbsa/3bf863cc.pub",
                        signed_by="/etc/apt/keyrings/nvidia-cuda.asc")
    assert plan["packages"] == ["cuda-drivers-570"]


def test_debian_580_comes_from_nvidia_with_contrib(bare):
    plan = plan_driver_actions(bare, OS["debian12"], wanted())
    assert plan["source"] == "nvidia" and plan["packages"] == ["nvidia-open-580"]
    contrib, cuda = plan["repositories"]
    assert contrib["components"] == "contrib" and contrib["suites"] == "bookworm bookworm-updates"
    assert contrib["signed_by"] == "/usr/share/keyrings/debian-archive-keyring.gpg" and contrib["key_url"] is None
    assert cuda["uris"] == "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/"
    assert plan["prerequisites"] == ["linux-headers-6.1.0-28-cloud-amd64"]


@pytest.mark.parametrize("is_open, kernel_package", [(True, "nvidia-open-kernel-dkms"), (False, "nvidia-kernel-dkms")])
def test_debian_own_branch_comes_from_non_free(bare, is_open, kernel_package):
    plan = plan_driver_actions(bare, OS["debian12"], wanted(branch="535", open=is_open,
                                                            debian_mirror="http://mirror.example/debian"))
    assert plan["source"] == "distribution"
    assert plan["packages"] == [kernel_package, "nvidia-driver", "firmware-misc-nonfree"]
    (repo,) = plan["repositories"]
    assert repo["components"] == "contrib non-free non-free-firmware" and repo["uris"] == "http://mirror.example/debian"


def test_debian_distribution_source_refuses_other_branches(bare):
    with pytest.raises(PlanError, match="Debian 12 packages NVIDIA driver branch 535 only, branch 580 is wanted"):
        plan_driver_actions(bare, OS["debian12"], wanted(source="distribution"))


@pytest.mark.parametrize("is_open, stream", [(True, "nvidia-driver:580-open"), (False, "nvidia-driver:580-dkms")])
def test_amazon_linux_2023_module_stream(bare, is_open, stream):
    plan = plan_driver_actions(bare, OS["amzn2023"], wanted(open=is_open))
    assert plan["package_manager"] == "dnf" and plan["dnf_module"] == stream and plan["packages"] == []
    assert plan["repositories"] == [dict(
        kind="yum", name="cuda-amzn2023-x86_64", description="NVIDIA CUDA amzn2023 x86_64", metalink=None,
        baseurl="https://developer.download.nvidia.com/compute/cuda/repos/amzn2023/x86_64",
        gpgkey="https://developer.download.nvidia.com/compute/cuda/repos/amzn2023/x86_64/D42D0685.pub",
        gpgcheck=True, repo_gpgcheck=False)]
    assert plan["prerequisites"] == ["kernel-devel-6.1.115-126.197.amzn2023.x86_64",
                                     "kernel-modules-extra-6.1.115-126.197.amzn2023.x86_64", "dkms"]
    assert plan["initramfs_command"] == ["dracut", "--force"]


def test_rhel9_gets_cuda_and_epel_repositories(bare):
    plan = plan_driver_actions(bare, OS["rhel9"], wanted())
    assert [r["name"] for r in plan["repositories"]] == ["cuda-rhel9-x86_64", "epel"]
    assert plan["repositories"][1]["metalink"].endswith("repo=epel-9&arch=$basearch")
    assert plan["prerequisites"] == ["kernel-devel-5.14.0-427.13.1.el9_4.x86_64", "kernel-headers"]
    assert plan["dnf_module"] == "nvidia-driver:580-open"


def test_rocky9_uses_epel_release_and_sbsa(bare):
    plan = plan_driver_actions(bare, OS["rocky9"], wanted(branch="570"))
    assert [r["name"] for r in plan["repositories"]] == ["cuda-rhel9-sbsa"]
    assert plan["prerequisites"][0] == "epel-release" and plan["dnf_module"] == "nvidia-driver:570-open"


@pytest.mark.parametrize("os_name", ["amzn2023", "rhel9"])
def test_rpm_platforms_have_no_distribution_driver(bare, os_name):
    with pytest.raises(PlanError, match="has no NVIDIA driver packages of its own"):
        plan_driver_actions(bare, OS[os_name], wanted(source="distribution"))


def test_unsupported_os_fails_only_when_something_must_be_installed(bare, h100):
    with pytest.raises(PlanError, match="not on Debian 11.11"):
        plan_driver_actions(bare, OS["debian11"], wanted())
    assert plan_driver_actions(h100, OS["debian11"], wanted())["action"] == "keep"


def test_unsupported_architecture(bare):
    with pytest.raises(PlanError, match="no packages for architecture ppc64le"):
        plan_driver_actions(bare, dict(OS["debian12"], architecture="ppc64le"), wanted())


# --- reboot reasons ---------------------------------------------------------------------------------------------

def test_nouveau_means_blacklist_and_reboot(nouveau):
    plan = plan_driver_actions(nouveau, OS["ubuntu2404"], wanted())
    assert plan["action"] == "install" and plan["blacklist_nouveau"]
    assert plan["reboot_reasons"] == ["nouveau is loaded and holds the GPU until the next boot"]


def test_other_branch_loaded_is_replaced_after_a_reboot(tmp_path):
    fixtures.h100_host(tmp_path)
    fixtures.write(tmp_path, "proc/driver/nvidia/version", fixtures.PROPRIETARY_535)
    facts = gpu_facts.gather(str(tmp_path), fixtures.FakeSmi(), "/usr/bin/nvidia-smi")
    plan = plan_driver_actions(facts, OS["debian12"], wanted())
    assert plan["reason"] == "NVIDIA driver 535.216.03 is loaded, branch 580 is wanted"
    assert plan["reboot_reasons"] == ["the NVIDIA 535.216.03 kernel module is loaded; the 580 module replaces it at "
                                      "the next boot"]


def test_wanted_branch_loaded_but_nvidia_smi_failing(tmp_path):
    smi = fixtures.FakeSmi(rc=18, error="Failed to initialize NVML: Driver/library version mismatch\n")
    facts = host(tmp_path, fixtures.h100_host, smi=smi)
    plan = plan_driver_actions(facts, OS["ubuntu2404"], wanted())
    assert plan["action"] == "install"
    assert plan["reason"] == ("NVIDIA driver 580.159.04 is loaded but nvidia-smi fails: Failed to initialize NVML: "
                              "Driver/library version mismatch")
    assert plan["reboot_reasons"] == ["the loaded NVIDIA 580.159.04 kernel module does not work with the installed "
                                      "libraries"]


def test_wanted_branch_loaded_without_nvidia_smi_installs_the_utilities(tmp_path):
    facts = host(tmp_path, fixtures.h100_host, smi_path=None)
    plan = plan_driver_actions(facts, OS["ubuntu2404"], wanted())
    assert plan["action"] == "install" and "nvidia-smi is not installed" in plan["reason"]


# --- container toolkit ------------------------------------------------------------------------------------------

def test_toolkit_for_present_runtimes_from_nvidia_repository(h100):
    runtimes = dict(NO_RUNTIMES, containerd="/usr/bin/containerd", podman="/usr/bin/podman")
    toolkit = plan_driver_actions(h100, OS["ubuntu2404"], wanted(runtimes=runtimes))["container_toolkit"]
    assert toolkit["wanted"] and toolkit["install"] and toolkit["runtimes"] == ["containerd", "podman"]
    assert toolkit["repositories"] == [dict(
        kind="apt", name="nvidia-container-toolkit", uris="https://nvidia.github.io/libnvidia-container/stable/deb/amd64",
        suites="/", components="", key_url="https://nvidia.github.io/libnvidia-container/gpgkey",
        signed_by="/etc/apt/keyrings/nvidia-container-toolkit.asc")]


def test_toolkit_already_installed_needs_no_repository(h100):
    runtimes = dict(NO_RUNTIMES, docker="/usr/bin/docker", **{"nvidia-ctk": "/usr/bin/nvidia-ctk"})
    toolkit = plan_driver_actions(h100, OS["amzn2023"], wanted(runtimes=runtimes))["container_toolkit"]
    assert toolkit["wanted"] and not toolkit["install"] and toolkit["repositories"] == []
    assert toolkit["runtimes"] == ["docker"]


def test_toolkit_rpm_repository_and_modes(bare):
    toolkit = plan_driver_actions(bare, OS["rhel9"], wanted(container_toolkit="always"))["container_toolkit"]
    assert toolkit["install"] and toolkit["runtimes"] == [] and toolkit["reason"] == "installed for later runtimes"
    assert toolkit["repositories"][0]["baseurl"] == "https://nvidia.github.io/libnvidia-container/stable/rpm/$basearch"
    assert toolkit["repositories"][0]["repo_gpgcheck"] is True
    never = wanted(container_toolkit="never", runtimes=dict(NO_RUNTIMES, docker="/usr/bin/docker"))
    assert not plan_driver_actions(bare, OS["rhel9"], never)["container_toolkit"]["wanted"]


def test_toolkit_on_an_unsupported_os_fails_clearly(h100):
    with pytest.raises(PlanError, match="set nvidia_driver_container_toolkit=never"):
        plan_driver_actions(h100, OS["debian11"], wanted(runtimes=dict(NO_RUNTIMES, docker="/usr/bin/docker")))


# --- wishes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("over, message", [
    (dict(branch="latest"), "nvidia_driver_branch must be a driver branch number like 580, not 'latest'"),
    (dict(branch=""), "must be a driver branch number"),
    (dict(source="ppa"), "nvidia_driver_source must be one of auto, distribution, nvidia, not 'ppa'"),
    (dict(container_toolkit="yes"), "nvidia_driver_container_toolkit must be one of auto, always, never"),
])
def test_bad_wishes_fail_early(h100, over, message):
    with pytest.raises(PlanError, match=message):
        plan_driver_actions(h100, OS["ubuntu2404"], wanted(**over))


def test_integer_branch_is_accepted(h100):
    assert plan_driver_actions(h100, OS["ubuntu2404"], wanted(branch=580))["action"] == "keep"
