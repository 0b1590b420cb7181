"""The NVIDIA device plugin manifest, rendered by the role's device_plugin entry point through a real
ansible-playbook run and validated offline against the Kubernetes 1.31 and 1.37 schemas (kubernetes-validate
--strict rejects unknown fields)."""

import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
PLAYBOOK_BIN = os.path.join(BIN, "ansible-playbook")
VALIDATE_BIN = os.path.join(BIN, "kubernetes-validate")

pytestmark = pytest.mark.skipif(not (os.path.exists(PLAYBOOK_BIN) and os.path.exists(VALIDATE_BIN)),
                                reason="ansible-playbook and kubernetes-validate come with the project venv (make deps)")

PLAY = """
- name: Render the device plugin manifest
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Device plugin
      ansible.builtin.include_role:
        name: wiremesh.multicloud.nvidia_driver
        tasks_from: device_plugin
"""


def render(tmp_path, **extra):
    (tmp_path / "play.yml").write_text(PLAY)
    dest = tmp_path / "manifests" / "nvidia-device-plugin.yml"
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(dict(extra, nvidia_driver_device_plugin_dest=str(dest))))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([PLAYBOOK_BIN, "-i", "localhost,", str(tmp_path / "play.yml"), "-e", "@" + str(tmp_path / "vars.yml"),
                           "-e", "ansible_python_interpreter=" + sys.executable],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=180, check=False)
    return proc, dest


@pytest.fixture(scope="module")
def default_manifest(tmp_path_factory):
    """The manifest with the role's defaults, rendered once for the tests that only read it."""
    proc, dest = render(tmp_path_factory.mktemp("default"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return dest.read_text()


def validate(path, version):
    return subprocess.run([VALIDATE_BIN, "--strict", "-k", version, str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("version", ["1.31.0", "1.37.0"])
def test_default_manifest_is_a_valid_daemonset(tmp_path, default_manifest, version):
    dest = tmp_path / "nvidia-device-plugin.yml"
    dest.write_text(default_manifest)
    checked = validate(dest, version)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (daemonset,) = [d for d in yaml.safe_load_all(dest.read_text()) if d]
    assert daemonset["kind"] == "DaemonSet" and daemonset["metadata"]["namespace"] == "kube-system"
    pod = daemonset["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["containers"][0]["image"] == "nvcr.io/nvidia/k8s-device-plugin:v0.18.2"
    assert "runtimeClassName" not in pod
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()


def test_node_selector_namespace_and_runtime_class_are_variables(tmp_path):
    proc, dest = render(tmp_path, nvidia_driver_device_plugin_node_selector={"wiremesh.io/gpu": "h100"},
                        nvidia_driver_device_plugin_namespace="gpu-system",
                        nvidia_driver_device_plugin_runtime_class="nvidia",
                        nvidia_driver_device_plugin_image="nvcr.io/nvidia/k8s-device-plugin@sha256:" + "ab" * 32)
    assert proc.returncode == 0, proc.stdout[-3000:]
    checked = validate(dest, "1.31.0")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    runtime_class, daemonset = [d for d in yaml.safe_load_all(dest.read_text()) if d]
    assert runtime_class == {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "handler": "nvidia",
                             "metadata": {"name": "nvidia", "labels": daemonset["metadata"]["labels"]}}
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"wiremesh.io/gpu": "h100"} and pod["runtimeClassName"] == "nvidia"
    assert daemonset["metadata"]["namespace"] == "gpu-system"


@pytest.mark.parametrize("image", ["nvcr.io/nvidia/k8s-device-plugin", "nvcr.io/nvidia/k8s-device-plugin:latest",
                                   "registry:5000/k8s-device-plugin"])
def test_unpinned_image_is_refused(tmp_path, image):
    proc, dest = render(tmp_path, nvidia_driver_device_plugin_image=image)
    assert proc.returncode != 0 and "must name a pinned tag or digest" in proc.stdout
    assert not dest.exists()


def test_validation_would_catch_a_broken_manifest(tmp_path, default_manifest):
    """The check is real: a field the schema does not know fails --strict."""
    dest = tmp_path / "broken.yml"
    dest.write_text(default_manifest.replace("priorityClassName:", "priorityClass:"))
    assert validate(dest, "1.31.0").returncode != 0
