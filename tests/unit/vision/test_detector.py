"""wiremesh-detector with the light opencv-classic backend (Haar faces + HOG people): real detections on the
shipped photographs and scene; and the service itself with the default yolo backend: bad uploads refused with
4xx JSON while the server keeps serving, bounded concurrency, clear start-up errors. The yolo backend's own
tests are test_yolo_*.py."""

import asyncio
import json
import subprocess

import aiohttp
import cv2
import pytest

from wiremesh_vision import backends, images
from wiremesh_vision.client import post_jpeg
from wiremesh_vision.launch import Server, command, environment
from wiremesh_vision.scene import Scene

from .conftest import get_json, http, overlap
from .yolo_files import model_path

SCENE_TIMES = [i * 2.5 for i in range(12)]  # 0..27.5 s: the drift covers most of its range


def scene_jpeg(scene, t):
    return cv2.imencode(".jpg", scene.render(t), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def detect(url, body, content_type="image/jpeg"):
    status, _headers, answer = http(url + "/v1/detect", body, {"Content-Type": content_type}, "POST")
    return status, json.loads(answer)


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    server = Server("detector", ["--backend", "opencv-classic", "--max-body", "256KiB"],
                    str(tmp_path_factory.mktemp("detector") / "classic.log")).start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """The service as it runs by default: the yolo backend."""
    server = Server("detector", ["--model", model_path(), "--max-body", "256KiB"],
                    str(tmp_path_factory.mktemp("detector") / "detector.log")).start()
    yield server
    server.kill()


def test_finds_the_astronauts_face(classic):
    status, answer = detect(classic.url, images.data_bytes(images.ASTRONAUT))
    assert status == 200, answer
    faces = [b for b in answer["boxes"] if b["label"] == "face"]
    assert [b for b in faces if overlap(b["box"], images.ASTRONAUT_FACE) > 0.4 and 0.5 < b["score"] <= 1.0], faces
    assert (answer["width"], answer["height"], answer["backend"]) == (512, 512, "opencv-classic")
    assert answer["elapsed_ms"] >= answer["detect_ms"] > 0


def test_finds_the_face_and_the_people_in_scene_frames():
    """The light backend in-process on 12 scene frames whose true face/people regions the scene knows."""
    scene, both = Scene(), backends.create("opencv-classic", "cpu")
    faces = people = 0
    for t in SCENE_TIMES:
        image = cv2.imdecode(cv2.imencode(".jpg", scene.render(t))[1], cv2.IMREAD_COLOR)
        known = scene.known_regions(t)
        found = both.detect(image)
        faces += any(d.label == "face" and overlap(d.box, box) > 0.4 for d in found for label, box in known
                     if label == "face")
        people += any(d.label == "person" and overlap(d.box, box) > 0.3 for d in found for label, box in known
                      if label == "person")
    assert faces >= 11 and people >= 4, (faces, people)


def test_scores_are_ordered_margins():
    assert backends.margin_score(0) == 0.5
    assert 0 < backends.margin_score(-3) < 0.5 < backends.margin_score(1) < backends.margin_score(4) < 1
    assert backends.margin_score(1e9) == 1.0 and backends.margin_score(-1e9) == 0.0


def test_scene_frame_over_http(classic):
    scene = Scene()
    status, answer = detect(classic.url, scene_jpeg(scene, 0.0))
    face = next(box for label, box in scene.known_regions(0.0) if label == "face")
    assert status == 200 and any(b["label"] == "face" and overlap(b["box"], face) > 0.4 for b in answer["boxes"])


@pytest.mark.parametrize("body,content_type,status,words", [
    (b"", "image/jpeg", 400, "empty"),
    (b"GIF89a not a jpeg at all", "image/jpeg", 400, "not a JPEG"),
    ("png", "image/jpeg", 400, "not a JPEG"),
    ("truncated", "image/jpeg", 400, "truncated"),
    ("headerless", "image/jpeg", 400, "corrupt"),
    ("astronaut", "text/plain", 415, "Content-Type"),
    ("astronaut", "application/octet-stream", 415, "Content-Type"),
    ("oversized", "image/jpeg", 413, "limit"),
])
def test_bad_uploads_are_4xx_json_and_it_keeps_serving(detector, body, content_type, status, words):
    good = images.data_bytes(images.ASTRONAUT)
    bodies = {"png": cv2.imencode(".png", cv2.resize(images.load(images.ASTRONAUT), (128, 128)))[1].tobytes(),
              "truncated": good[: len(good) // 2], "headerless": b"\xff\xd8" + b"\x00" * 64 + b"\xff\xd9",
              "astronaut": good, "oversized": good * 5}
    got, answer = detect(detector.url, bodies.get(body, body), content_type)
    assert got == status and words in answer["error"] and answer["status"] == status, answer
    assert detect(detector.url, good)[0] == 200


def test_oversized_chunked_upload_is_413(detector):
    async def chunks():
        for _chunk in range(40):
            yield b"\xff" * 16384

    async def send():
        async with aiohttp.ClientSession() as session:
            return await post_jpeg(session, detector.url + "/v1/detect", chunks())

    status, answer = asyncio.run(send())
    assert status == 413 and "limit" in answer["error"]


def test_errors_elsewhere_are_json(detector):
    status, _headers, body = http(detector.url + "/v1/detect")
    assert status == 405 and json.loads(body)["status"] == 405
    assert get_json(detector.url + "/nowhere")[0] == 404


def test_model_and_health(classic, detector):
    status, model = get_json(classic.url + "/v1/model")
    assert status == 200 and model["backend"] == "opencv-classic" and model["device"] == "cpu"
    assert model["labels"] == ["face", "person"] and model["versions"]["opencv"] == cv2.__version__
    assert model["engine"] == "opencv" and "margin" in model["score"]
    status, model = get_json(detector.url + "/v1/model")
    assert status == 200 and (model["backend"], model["engine"], model["provider"], model["device"]) == (
        "yolo", "onnxruntime", "CPUExecutionProvider", "cpu")
    assert len(model["labels"]) == 80 and model["labels"][0] == "person" and model["input"] == [416, 416]
    assert model["versions"]["onnxruntime"] and "objectness" in model["score"]
    status, health = get_json(detector.url + "/healthz")
    assert status == 200 and health["status"] == "ok" and health["served"] >= 1 and health["bad_requests"] >= 1


def test_busy_is_503_with_retry_after_and_health_still_answers(servers):
    det = servers("detector", "--backend", "opencv-classic", "--workers", "1", "--max-batch", "1", "--queue", "0")
    body = images.data_bytes(images.ASTRONAUT)

    async def burst():
        async with aiohttp.ClientSession() as session:
            async def one():
                async with session.post(det.url + "/v1/detect", data=body,
                                        headers={"Content-Type": "image/jpeg"}) as response:
                    return response.status, response.headers.get("Retry-After")

            async def health_during():
                await asyncio.sleep(0.05)
                async with session.get(det.url + "/healthz") as response:
                    return (await response.json())["in_flight"]
            answers = await asyncio.gather(*[one() for _request in range(4)], health_during())
            return answers[:-1], answers[-1]

    answers, in_flight = asyncio.run(burst())
    assert (200, None) in answers and (503, "1") in answers, answers
    assert in_flight == 1  # the event loop answered while the one admitted detection was running
    assert get_json(det.url + "/healthz")[1]["busy"] >= 1


@pytest.mark.parametrize("args,words", [
    (["--backend", "darknet"], "unknown backend 'darknet'"),
    (["--backend", "haar-faces", "--device", "cuda"], "CPU only"),
    (["--backend", "opencv-classic", "--classes", "person"], "--classes applies to --backend yolo only"),
    (["--max-body", "lots"], "not a size"),
    (["--score-threshold", "2"], "between 0 and 1"),
])
def test_bad_start_is_one_clear_error(args, words):
    done = subprocess.run(command("detector") + args, capture_output=True, text=True, timeout=60,
                          env=environment(), check=False)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("name,missing,words", [
    ("hog-people", "HOGDescriptor", "has no HOG people detector"),
    ("opencv-classic", "HOGDescriptor", "has no HOG people detector"),
    ("haar-faces", "data", "cannot load the Haar cascade"),
])
def test_an_opencv_without_the_classic_detectors_is_a_clear_error(monkeypatch, name, missing, words):
    """OpenCV 5 (what the H100 machine has) ships neither the HOG people detector nor the cascades."""
    monkeypatch.delattr(cv2, missing)
    with pytest.raises(backends.BackendError, match=words):
        backends.create(name, "cpu")
