"""The `torch` backend (HOG + linear SVM in PyTorch): its features and window scores against OpenCV's own HOG,
the person in the scene frames, batches equal to single frames, NMS, device choice and clear errors. Skipped
where PyTorch is not installed (it is an optional extra); the CUDA tests run only where torch sees a GPU."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

# pylint: disable=wrong-import-position
from wiremesh_vision import backends, images  # noqa: E402
from wiremesh_vision.backends import torch_hog, torch_hog_svm  # noqa: E402
from wiremesh_vision.launch import Server, command, environment  # noqa: E402
from wiremesh_vision.scene import Scene  # noqa: E402

from .conftest import http, overlap  # noqa: E402

OPENCV_HOG = hasattr(cv2, "HOGDescriptor")  # OpenCV 5 has none
needs_opencv_hog = pytest.mark.skipif(not OPENCV_HOG, reason="OpenCV %s has no HOGDescriptor" % cv2.__version__)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU here")
SCENE_TIMES = (0.0, 5.0, 7.5, 10.0, 12.5, 17.5)  # the person is at a different place and size in each


def scene_frames(times=SCENE_TIMES):
    """(frame decoded from JPEG as the detector receives it, known person box) at each time."""
    scene = Scene()
    return [(cv2.imdecode(cv2.imencode(".jpg", scene.render(t))[1], cv2.IMREAD_COLOR),
             dict(scene.known_regions(t))["person"]) for t in times]


@pytest.fixture(scope="module")
def model():
    return torch_hog.TorchHog()


@pytest.fixture(scope="module")
def backend():
    return backends.create("torch", "cpu")


@pytest.fixture(scope="module")
def frames():
    return scene_frames()


@pytest.fixture(scope="module")
def found(backend, frames):
    """The backend's detections in the scene frames, all in one batch."""
    return backend.detect_batch([image for image, _known in frames])


def opencv_hog():
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def as_batch(image):
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()


@needs_opencv_hog
def test_shipped_weights_are_opencvs_default_people_detector():
    shipped = np.array(torch_hog_svm.COEFFICIENTS + (torch_hog_svm.BIAS,), dtype=np.float32)
    assert np.array_equal(shipped, np.ravel(cv2.HOGDescriptor_getDefaultPeopleDetector()).astype(np.float32))


@needs_opencv_hog
@pytest.mark.parametrize("region", [(100, 100, 64, 128), (0, 0, 128, 256), (200, 40, 200, 300)])
def test_descriptors_match_opencv_compute(model, region):
    x, y, w, h = region
    crop = images.load(images.CAMERAMAN)[y:y + h, x:x + w]
    expected = opencv_hog().compute(crop, winStride=(8, 8), padding=(0, 0)).reshape(-1, 3780)
    got = model.descriptors(as_batch(crop))[0].numpy()
    assert got.shape == expected.shape
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.9999
    assert np.abs(expected - got).max() < 2e-3


@needs_opencv_hog
def test_window_scores_match_opencv_detect(model, frames):
    image = frames[1][0]
    locations, weights = opencv_hog().detect(image, hitThreshold=-2.5, winStride=(8, 8), padding=(8, 8))
    scores = model.window_scores(as_batch(image))[0]
    assert len(locations) > 20
    ours = np.array([scores[(y + 8) // 8, (x + 8) // 8].item() for x, y in locations])
    assert np.abs(ours - np.ravel(weights)).max() < 0.01


def test_pyramid_is_detectmultiscales():
    scales = torch_hog.level_scales(640, 480, 1.05)
    assert scales[0] == 1.0 and all(b / a == pytest.approx(1.05) for a, b in zip(scales, scales[1:]))
    assert round(480 / scales[-1]) >= 128 > round(480 / (scales[-1] * 1.05))
    assert not torch_hog.level_scales(63, 480, 1.05)


def test_finds_the_person_in_scene_frames(frames, found):
    """The scene pastes the shipped cameraman photograph at 182 px tall (OpenCV's HOG finds nobody in the
    512x512 photograph itself: too tall and cropped at the knees)."""
    hits = [any(d.label == "person" and overlap(d.box, known) > 0.3 for d in boxes)
            for boxes, (_image, known) in zip(found, frames)]
    assert sum(hits) >= 4, (hits, found)
    assert all(0.5 <= d.score < 1 for boxes in found for d in boxes)


@needs_opencv_hog
def test_agrees_with_the_opencv_backend(frames, found):
    opencv = backends.create("hog-people", "cpu")
    for (image, known), boxes in zip(frames[:3], found):
        theirs = [d for d in opencv.detect(image) if overlap(d.box, known) > 0.3]
        ours = [d for d in boxes if overlap(d.box, known) > 0.3]
        assert bool(theirs) == bool(ours), (theirs, ours)
        for mine in ours:
            assert any(overlap(mine.box, other.box) > 0.5 and abs(mine.score - other.score) < 0.01
                       for other in theirs), (ours, theirs)


def test_batch_equals_single_frames(backend, frames, found):
    """A batch of mixed sizes and a grey frame: each result as if the frame came alone."""
    grey = cv2.cvtColor(frames[2][0], cv2.COLOR_BGR2GRAY)
    small = cv2.resize(frames[3][0], (320, 240))
    together = backend.detect_batch([grey, frames[0][0], small])
    alone = [backend.detect(grey), backend.detect(frames[0][0]), backend.detect(small)]
    for one, other in zip(together + found[:1], alone + alone[1:2]):
        assert len(one) == len(other), (one, other)
        for mine, theirs in zip(one, other):
            assert mine.box == theirs.box and abs(mine.score - theirs.score) <= 2e-4
    assert together[0] and together[1], "the person is found in the grey frame and the colour one"


def test_frames_smaller_than_a_window_have_nobody(backend):
    assert backend.detect_batch([np.zeros((100, 50, 3), np.uint8), np.zeros((127, 640, 3), np.uint8)]) == [[], []]
    with pytest.raises(ValueError, match="uint8"):
        backend.detect(np.zeros((200, 200, 3), np.float32))


def greedy_nms_reference(corners, scores, iou):
    order, kept = sorted(range(len(scores)), key=lambda i: -scores[i]), []
    for index in order:
        if all(torch_hog._iou(corners[[index, other]])[0, 1] <= iou for other in kept):  # pylint: disable=protected-access
            kept.append(index)
    return sorted(kept)


def test_nms_keeps_what_greedy_nms_keeps():
    generator = torch.Generator().manual_seed(7)
    corners = torch.rand(60, 2, generator=generator) * 200
    corners = torch.cat([corners, corners + 20 + torch.rand(60, 2, generator=generator) * 60], 1)
    scores = torch.rand(60, generator=generator)
    groups = torch.arange(60) % 3
    kept = torch_hog.batched_nms(corners, scores, groups, 0.3).tolist()
    expected = []
    for group in range(3):
        members = [i for i in range(60) if i % 3 == group]
        expected += [members[i] for i in greedy_nms_reference(corners[members], scores[members].tolist(), 0.3)]
    assert sorted(kept) == sorted(expected) and len(kept) < 60


def test_devices(backend):
    assert (backend.name, backend.labels, backend.device) == ("torch", ("person",), "cpu")
    assert backend.versions()["torch"] == torch.__version__
    assert backends.create("torch", "auto").device == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(backends.BackendError, match="unknown device 'gpu'"):
        backends.create("torch", "gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(backends.BackendError, match="--device cuda, but PyTorch .* sees no usable CUDA GPU"):
        backends.create("torch", "cuda")
    done = subprocess.run(command("detector") + ["--backend", "torch", "--device", "cuda"], capture_output=True,
                          text=True, timeout=120, env=environment(), check=False)
    assert done.returncode == 2 and "no usable CUDA GPU" in done.stderr and "Traceback" not in done.stderr


def test_without_torch_is_a_clear_error():
    """In a Python where `import torch` fails, both the registry and the module itself say what to install."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from wiremesh_vision import backends\n"
            "from wiremesh_vision.backends import torch_backend\n"
            "for make in (lambda: backends.create('torch', 'cpu'), lambda: torch_backend.create('cpu')):\n"
            "    try:\n        make()\n    except backends.BackendError as exc:\n        print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=environment(), check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all("pip install 'wiremesh-vision[torch]'" in line for line in lines), done


def test_detector_service_runs_the_torch_backend(tmp_path, frames):
    server = Server("detector", ["--backend", "torch", "--device", "cpu", "--workers", "1"],
                    str(tmp_path / "detector.log")).start(timeout=60)
    try:
        image, known = frames[1]
        body = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
        status, _headers, answer = http(server.url + "/v1/detect", body, {"Content-Type": "image/jpeg"}, "POST")
        answer = json.loads(answer)
        assert status == 200 and (answer["backend"], answer["device"]) == ("torch", "cpu"), answer
        assert any(b["label"] == "person" and overlap(b["box"], known) > 0.3 for b in answer["boxes"]), answer
        status, _headers, model = http(server.url + "/v1/model")
        assert status == 200 and json.loads(model)["versions"]["torch"] == torch.__version__
    finally:
        server.kill()


@needs_cuda
def test_cuda_finds_what_the_cpu_finds(frames, found):
    gpu = backends.create("torch", "cuda")
    assert gpu.device == "cuda" and gpu.versions()["gpu"]
    for on_gpu, on_cpu in zip(gpu.detect_batch([image for image, _known in frames]), found):
        assert len(on_gpu) == len(on_cpu), (on_gpu, on_cpu)
        for mine in on_gpu:
            assert any(overlap(mine.box, theirs.box) > 0.9 and abs(mine.score - theirs.score) < 1e-3
                       for theirs in on_cpu), (on_gpu, on_cpu)


@needs_cuda
def test_cuda_batches_equal_single_frames(frames):
    gpu = backends.create("torch", "cuda")
    batch = [image for image, _known in frames]
    assert [[d.box for d in found] for found in gpu.detect_batch(batch)] == \
        [[d.box for d in gpu.detect(image)] for image in batch]
