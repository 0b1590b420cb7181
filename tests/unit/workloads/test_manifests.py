"""The Kubernetes mode of the workload roles, offline: every manifest is rendered by the roles' own tasks through
ansible-playbook (render only, vision_common_k8s_render_dir) and validated with `kubernetes-validate --strict`
against recent Kubernetes schemas. No API server runs here: nothing is applied (see the roles' READMEs)."""

import os
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, ".venv", "bin")
RENDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "render.yml")
VALIDATE = os.path.join(BIN, "kubernetes-validate")
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]

pytestmark = pytest.mark.skipif(not (os.path.exists(VALIDATE) and os.path.exists(os.path.join(BIN, "ansible-playbook"))),
                                reason="needs the project venv (make deps) with kubernetes-validate")


def render(directory, endpoints_api):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", RENDER,
                           "-e", "render_dir=%s" % directory, "-e", "endpoints_api=%s" % endpoints_api],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory))
    docs = {}
    for path in files:
        with open(path, encoding="utf-8") as handle:
            docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(handle) if d]
    return files, docs


@pytest.fixture(scope="module", params=["endpointslice", "both"])
def rendered(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("manifests-" + request.param)
    files, docs = render(str(directory), request.param)
    return request.param, files, docs


def kinds(docs):
    return {(d["kind"], d["metadata"]["name"]): d for doc in docs.values() for d in doc}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_a_recent_kubernetes(rendered, version):
    files = rendered[1]
    assert [os.path.basename(f) for f in files] == ["detector.yml", "edge_camera.yml", "vision_app.yml"]
    proc = subprocess.run([VALIDATE, "--strict", "-k", version, *files], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed for resource") == sum(
        1 for f in files for d in yaml.safe_load_all(open(f, encoding="utf-8")) if d)


def test_the_validator_rejects_what_strict_mode_must(tmp_path):
    """The check above can fail: an unknown field and a missing required one are refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 80}]\n  selectr: {}\n"
                   "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: y}\nspec: {template: {}}\n")
    proc = subprocess.run([VALIDATE, "--strict", "-k", KUBERNETES_VERSIONS[-1], str(bad)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode != 0 and "selectr" in proc.stdout + proc.stderr


def test_detector_asks_for_a_gpu_on_the_gpu_location(rendered):
    deployment = kinds(rendered[2])[("Deployment", "detector")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"wiremesh.io/location": "aws-eu-central-1"}
    assert container["command"][:4] == ["wiremesh-detector", "--bind", "$(POD_IP)", "--port"]
    # the GPU image (a CUDA engine) running the yolo backend on the model baked into it by vision/Containerfile
    assert container["image"].endswith("-cuda")
    command = container["command"]
    assert command[command.index("--backend") + 1] == "yolo"
    assert command[command.index("--model") + 1] == "/opt/wiremesh-vision/models/yolov3-tiny-coco.onnx"


def test_app_reaches_camera_and_detector_through_their_services(rendered):
    objects = kinds(rendered[2])
    command = objects[("Deployment", "vision-app")]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--camera-url") + 1] == "http://edge-camera:8081/mjpeg"
    assert command[command.index("--detector-url") + 1] == "http://detector:8082"
    for name in ("vision-app", "detector"):
        service = objects[("Service", name)]
        deployment = objects[("Deployment", name)]
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_camera_is_a_service_without_selector_at_its_mesh_ip(rendered):
    endpoints_api, docs = rendered[0], rendered[2]
    objects = kinds({"edge_camera.yml": docs["edge_camera.yml"]})
    service = objects[("Service", "edge-camera")]
    assert "selector" not in service["spec"] and service["spec"]["ports"][0]["port"] == 8081
    eps = objects[("EndpointSlice", "edge-camera-mesh")]
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "edge-camera"
    assert eps["endpoints"][0]["addresses"] == ["10.4.0.4"] and eps["ports"][0]["port"] == 8081
    if endpoints_api == "both":
        legacy = objects[("Endpoints", "edge-camera")]
        assert legacy["subsets"][0]["addresses"] == [{"ip": "10.4.0.4"}]
        assert legacy["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"
    else:
        assert ("Endpoints", "edge-camera") not in objects


def test_every_pod_is_locked_down_and_binds_its_pod_ip_only(rendered):
    for (kind, _name), obj in kinds(rendered[2]).items():
        assert obj["metadata"].get("namespace", "wiremesh-vision") == "wiremesh-vision"
        if kind != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                               "capabilities": {"drop": ["ALL"]}}
            assert "0.0.0.0" not in container["command"] and "$(POD_IP)" in container["command"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
