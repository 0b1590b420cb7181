"""gpu_facts and nvidia_driver_plan run in-process the way Ansible runs them (arguments in, JSON out), with
nvidia-smi and the PATH lookups answered by fakes."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.modules import gpu_facts, nvidia_driver_plan
from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu import facts as gpu

from ..plugins.modules.modrunner import run_module
from . import fixtures

UBUNTU = dict(distribution="Ubuntu", distribution_version="24.04", distribution_major_version="24",
              distribution_release="noble", architecture="x86_64", kernel="6.8.0-1015-aws")


def test_gpu_facts_returns_facts_twice_and_bounds_nvidia_smi(capsys, monkeypatch):
    fake = fixtures.FakeSmi()
    rc, result = run_module(gpu_facts, {"timeout": 9}, capsys, monkeypatch, fake, check=True)[:2]
    assert rc == 0 and result["changed"] is False
    found = result["ansible_facts"]["wiremesh_gpu"]
    assert {k: result[k] for k in found} == found
    assert found["nvidia_smi"]["works"] and found["cuda_version"] == "13.0"
    assert fake.calls[0][:4] == ["/usr/bin/timeout", "--kill-after=5", "9", "/usr/bin/nvidia-smi"]


def test_gpu_facts_refuses_a_zero_timeout(capsys, monkeypatch):
    rc, result = run_module(gpu_facts, {"timeout": 0}, capsys, monkeypatch, fixtures.FakeSmi())[:2]
    assert rc == 1 and result["msg"] == "timeout must be at least 1 second, not 0"


@pytest.fixture
def h100_facts(tmp_path):
    fixtures.h100_host(tmp_path)
    return gpu.gather(str(tmp_path), fixtures.FakeSmi(), "/usr/bin/nvidia-smi")


def test_plan_module_keeps_the_h100_and_sees_runtimes(capsys, monkeypatch, h100_facts):
    rc, result = run_module(nvidia_driver_plan, dict(UBUNTU, facts=h100_facts), capsys, monkeypatch, None,
                            check=True)[:2]
    assert rc == 0 and result["changed"] is False and result["action"] == "keep"
    # every lookup answers here, so the runtimes and nvidia-ctk are "installed": configure, do not install
    assert result["runtimes"]["docker"] == "/usr/bin/dockerd" and result["runtimes"]["nvidia-ctk"] == "/usr/bin/nvidia-ctk"
    assert result["container_toolkit"]["runtimes"] == ["containerd", "docker", "podman"]
    assert not result["container_toolkit"]["install"]


def test_plan_module_notes_become_warnings(capsys, monkeypatch, h100_facts):
    rc, result, out = run_module(nvidia_driver_plan, dict(UBUNTU, facts=h100_facts, open=False), capsys, monkeypatch,
                                 None)
    assert rc == 0 and result["action"] == "keep" and len(result["notes"]) == 1
    assert "open kernel module while nvidia_driver_open=False" in result["notes"][0]
    assert result["warnings"] and result["notes"][0] in out.split('"warnings"')[1]


def test_plan_module_fails_with_the_planners_message(capsys, monkeypatch, h100_facts):
    h100_facts["driver"]["loaded"] = False
    args = dict(UBUNTU, facts=h100_facts, distribution="Debian", distribution_version="11.11",
                distribution_major_version="11")
    rc, result = run_module(nvidia_driver_plan, args, capsys, monkeypatch, None)[:2]
    assert rc == 1 and result["failed"] and "not on Debian 11.11" in result["msg"]


def test_plan_module_checks_choices(capsys, monkeypatch, h100_facts):
    rc, result = run_module(nvidia_driver_plan, dict(UBUNTU, facts=h100_facts, source="ppa"), capsys, monkeypatch,
                            None)[:2]
    assert rc == 1 and "source" in result["msg"] and "ppa" in result["msg"]
