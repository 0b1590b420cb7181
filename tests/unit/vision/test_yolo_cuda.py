"""The yolo backend on a CUDA GPU: torch-CUDA gives what the CPU engines give on the same frames, a batch gives
what single frames give, onnxruntime-CUDA agrees too where the onnxruntime-gpu wheel is installed, and the
service started with --device cuda runs on a CUDA engine and answers like the CPU. Skipped, with the reason,
where PyTorch sees no CUDA GPU.

Tolerances: on CUDA the torch engine switches TF32 off, so only the order of float32 sums differs from the CPU
(where the two CPU engines agree to 1e-5, test_yolo_backend). Raw network output: box centres within 0.05 px of
the 416x416 input, box sizes within 0.1 % of their size (they come out of exp()), objectness and class
probabilities within 1e-3. Detections: every one scoring at least 0.01 over the threshold in either answer is in
the other with the same label, its box within 1 px of the 640x480 frame and its score within 1e-3."""

import json

import numpy as np
import pytest

from wiremesh_vision import backends, jpeg
from wiremesh_vision.launch import Server
from wiremesh_vision.scene import Scene
from wiremesh_vision.yolo import decode

from .conftest import get_json, http
from .yolo_files import model_path

torch = pytest.importorskip("torch", reason="PyTorch is not installed here: the CUDA tests need it")
if not torch.cuda.is_available():
    pytest.skip("PyTorch %s sees no CUDA GPU (%s): nothing to check on CUDA here" % (
        torch.__version__, "built for CUDA %s" % torch.version.cuda if torch.version.cuda else "a CPU-only build"),
        allow_module_level=True)

CENTRE_PX, SIZE_SHARE, PROBABILITY = 0.05, 1e-3, 1e-3
MARGIN, BOX_PX, SCORE = 0.01, 1, 1e-3
THRESHOLD = 0.2  # low, so that there is more to compare
SCENE_TIMES = (0.0, 7.5, 15.0, 22.5, 30.0, 37.5, 45.0, 52.5)


@pytest.fixture(scope="module")
def jpegs():
    scene = Scene(640, 480)
    return [jpeg.encode(scene.render(t), 80) for t in SCENE_TIMES]


@pytest.fixture(scope="module")
def frames(jpegs):
    return [jpeg.decode(body) for body in jpegs]


def create(engine, device):
    return backends.create("yolo", device, model=model_path(), engine=engine, score_threshold=THRESHOLD,
                           max_batch=len(SCENE_TIMES))


@pytest.fixture(scope="module")
def torch_cuda():
    return create("torch", "cuda")


def network_input(frames, size):
    batch = np.zeros((len(frames), 3, size[1], size[0]), np.float32)
    for number, frame in enumerate(frames):
        decode.letterbox(frame, size, batch[number])
    return batch


def assert_same_output(ours, theirs):
    assert ours.shape == theirs.shape
    assert np.abs(ours[..., :2] - theirs[..., :2]).max() <= CENTRE_PX
    assert (np.abs(ours[..., 2:4] - theirs[..., 2:4]) / np.maximum(theirs[..., 2:4], 1e-6)).max() <= SIZE_SHARE
    assert np.abs(ours[..., 4:] - theirs[..., 4:]).max() <= PROBABILITY


def as_tuples(found):
    """Detections or the service's box dicts as (label, score, box)."""
    return [(d["label"], d["score"], tuple(d["box"])) if isinstance(d, dict) else (d.label, d.score, tuple(d.box))
            for d in found]


def assert_same_detections(ours, theirs):
    ours, theirs = as_tuples(ours), as_tuples(theirs)
    for first, second in ((ours, theirs), (theirs, ours)):
        for label, score, box in first:
            if score < THRESHOLD + MARGIN:
                continue
            assert any(other_label == label and abs(other_score - score) <= SCORE
                       and np.abs(np.subtract(other_box, box)).max() <= BOX_PX
                       for other_label, other_score, other_box in second), (label, score, box, second)


@pytest.mark.parametrize("reference", ["onnxruntime", "torch"])
def test_torch_cuda_gives_what_the_cpu_engines_give(torch_cuda, frames, reference):
    if reference == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="onnxruntime is not installed here")
    cpu = create(reference, "cpu")
    assert (torch_cuda.engine.name, torch_cuda.device, cpu.engine.name) == ("torch", "cuda", reference)
    assert torch_cuda.describe()["provider"].startswith("cuda:")
    batch = network_input(frames, torch_cuda.input_size)
    assert_same_output(torch_cuda.engine.run(batch), cpu.engine.run(batch))
    found = torch_cuda.detect_batch(frames)
    assert any(found), "no detection on any scene frame"
    for ours, theirs in zip(found, cpu.detect_batch(frames)):
        assert_same_detections(ours, theirs)


def test_a_batch_on_cuda_gives_what_single_frames_give(torch_cuda, frames):
    batch = network_input(frames, torch_cuda.input_size)
    together = torch_cuda.engine.run(batch)
    for number in range(len(frames)):
        assert_same_output(torch_cuda.engine.run(batch[number:number + 1]), together[number:number + 1])


def test_onnxruntime_cuda_gives_what_the_cpu_gives_where_installed(frames):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed here")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime %s has no CUDA execution provider (the CPU wheel; onnxruntime-gpu has it)"
                    % ort.__version__)
    cuda, cpu = create("onnxruntime", "cuda"), create("onnxruntime", "cpu")
    assert cuda.describe()["provider"] == "CUDAExecutionProvider"
    batch = network_input(frames, cuda.input_size)
    assert_same_output(cuda.engine.run(batch), cpu.engine.run(batch))


def test_the_service_on_cuda_runs_on_a_cuda_engine(tmp_path, jpegs):
    reference = create("torch", "cpu")
    server = Server("detector", ["--model", model_path(), "--device", "cuda", "--score-threshold", str(THRESHOLD)],
                    str(tmp_path / "detector.log"))
    try:
        server.start(timeout=180)  # importing torch and cuDNN's first choice of algorithms take a while
        status, model = get_json(server.url + "/v1/model")
        assert status == 200 and model["device"] == "cuda", model
        assert model["engine"] in ("torch", "onnxruntime"), model
        assert model["provider"].startswith("cuda:") or model["provider"] == "CUDAExecutionProvider", model
        for body in jpegs[:4]:
            status, _headers, answer = http(server.url + "/v1/detect", body, {"Content-Type": "image/jpeg"}, "POST")
            answer = json.loads(answer)
            assert status == 200 and answer["device"] == "cuda" and answer["engine"] == model["engine"], answer
            assert_same_detections(answer["boxes"], reference.detect(jpeg.decode(body)))
    finally:
        server.kill()
