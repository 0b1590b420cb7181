"""The yolo backend: both engines run the same network to the same answers, the engine choice, batching,
decoding of both YOLO output layouts, and bad models refused at start with one message naming the file."""

import asyncio
import os
import subprocess

import aiohttp
import cv2
import numpy as np
import onnx
import pytest
from onnx import helper

from wiremesh_vision import backends, images
from wiremesh_vision.launch import command, environment
from wiremesh_vision.scene import Scene
from wiremesh_vision.yolo import decode, engines

from .conftest import get_json
from .yolo_files import model_path


def _torch_or_reason():
    try:
        import torch  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail("PyTorch is not installed in CI (make deps installs the CPU build): %s" % exc)
        pytest.skip("PyTorch is not installed here (make deps installs the CPU build where it can): %s" % exc)


def _frames():
    scene = Scene()
    return [scene.render(t) for t in (0.0, 7.5, 15.0)] + [images.load(images.CAMERAMAN)]


def _file(path, data):
    path.write_bytes(data)
    return str(path)


def _tiny_onnx(path, output_shape, op="Identity", extra_nodes=()):
    """An ONNX file with one (N, 3, 64, 64) input whose output has output_shape (not a detector)."""
    nodes = list(extra_nodes) or [helper.make_node("ReduceMean", ["images"], ["pooled"], axes=[2, 3], keepdims=0),
                                  helper.make_node(op, ["pooled"], ["out"])]
    image = helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, ["N", 3, 64, 64])
    out = helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, output_shape)
    graph = helper.make_graph(nodes, "tiny", [image], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_torch_and_onnxruntime_run_the_same_network():
    _torch_or_reason()
    frames = _frames()
    ort_backend = backends.create("yolo", "cpu", model=model_path(), engine="onnxruntime", score_threshold=0.2)
    torch_backend = backends.create("yolo", "cpu", model=model_path(), engine="torch", score_threshold=0.2)
    assert (ort_backend.engine.name, torch_backend.engine.name) == ("onnxruntime", "torch")
    batch = np.zeros((len(frames), 3, 416, 416), np.float32)
    for number, frame in enumerate(frames):
        decode.letterbox(frame, (416, 416), batch[number])
    raw_ort, raw_torch = ort_backend.engine.run(batch), torch_backend.engine.run(batch)
    assert raw_ort.shape == raw_torch.shape == (len(frames), 2535, 85)
    # box sizes come out of exp(): compare them relative to their size, everything else absolutely
    assert np.abs(raw_ort[..., :2] - raw_torch[..., :2]).max() <= 1e-3  # pixels of a 416 input
    assert (np.abs(raw_ort[..., 2:4] - raw_torch[..., 2:4]) / raw_ort[..., 2:4]).max() <= 1e-4
    assert np.abs(raw_ort[..., 4:] - raw_torch[..., 4:]).max() <= 1e-5
    for ours, theirs in zip(ort_backend.detect_batch(frames), torch_backend.detect_batch(frames)):
        assert [d.label for d in ours] == [d.label for d in theirs] and ours
        for a, b in zip(ours, theirs):
            assert abs(a.score - b.score) <= 2e-4 and np.abs(np.subtract(a.box, b.box)).max() <= 1


def test_the_engine_is_chosen_automatically_and_cuda_refusals_say_why():
    found = backends.create("yolo", "auto", model=model_path())
    chosen = (found.engine.name, found.device, found.describe()["provider"])
    assert chosen == ("onnxruntime", "cpu", "CPUExecutionProvider")
    with pytest.raises(backends.BackendError) as refused:
        backends.create("yolo", "cuda", model=model_path())
    message = str(refused.value)
    assert "no engine can run" in message and "onnxruntime on cuda: onnxruntime" in message
    assert "no CUDA execution provider" in message and "torch on cuda:" in message
    assert engines.candidates("auto", "auto") == [("onnxruntime", "cuda"), ("torch", "cuda"),
                                                  ("onnxruntime", "cpu"), ("torch", "cpu")]


def test_a_batch_gives_what_single_frames_give():
    frames = _frames()
    found = backends.create("yolo", "cpu", model=model_path(), max_batch=3)
    batched = found.detect_batch(frames)
    singles = [found.detect(frame) for frame in frames]
    assert len(batched) == len(frames)
    for many, one in zip(batched, singles):
        assert [(d.label, d.box) for d in many] == [(d.label, d.box) for d in one]
        assert all(abs(a.score - b.score) < 1e-4 for a, b in zip(many, one))


def test_threshold_and_class_filter():
    frame = _frames()[0]
    everything = backends.create("yolo", "cpu", model=model_path(), score_threshold=0.05).detect(frame)
    people = backends.create("yolo", "cpu", model=model_path(), score_threshold=0.05,
                             classes=["person"]).detect(frame)
    strict = backends.create("yolo", "cpu", model=model_path(), score_threshold=0.6).detect(frame)
    assert {d.label for d in people} == {"person"} and len(people) <= len(everything)
    assert all(d.score >= 0.6 for d in strict) and all(d.score >= 0.05 for d in everything)
    assert len({d.label for d in everything}) > 1  # low threshold: more than people


def test_letterbox_places_the_frame_and_decode_puts_boxes_back():
    out = np.zeros((3, 416, 416), np.float32)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :, 2] = 255  # pure red, BGR
    placed = decode.letterbox(frame, (416, 416), out)
    assert placed == decode.Letterbox(0.65, 0, 52, 640, 480)
    assert out[0, 208, 208] == 1.0 and out[2, 208, 208] == 0.0  # RGB order: red first
    assert out[0, 10, 10] == pytest.approx(127 / 255)  # the grey border
    # a box in input pixels: centre (208, 208), 65 x 65 -> frame centre (320, 240), 100 x 100
    rows = np.zeros((3, 7), np.float32)
    rows[0] = [208, 208, 65, 65, 0.9, 0.9, 0.1]  # class 0 at 0.81
    rows[1] = [210, 210, 65, 65, 0.9, 0.8, 0.1]  # overlaps row 0, same class, lower: suppressed
    rows[2] = [210, 210, 65, 65, 0.9, 0.1, 0.7]  # overlaps, other class: kept
    found = decode.decode(rows, "cxcywh-obj-cls", placed, 0.3)
    assert found == [(0, 0.81, (270, 190, 100, 100)), (1, 0.63, (273, 193, 100, 100))]
    inner = np.array([rows[0], [208, 208, 20, 30, 0.9, 0.7, 0.1], [208, 208, 20, 30, 0.9, 0.1, 0.7]], np.float32)
    found = decode.decode(inner, "cxcywh-obj-cls", placed, 0.3)  # the small box of class 0 lies inside the big one
    assert [(c, box) for c, _score, box in found] == [(0, (270, 190, 100, 100)), (1, (305, 217, 31, 46))]
    assert len(decode.nms(np.array([[0, 0, 100, 100], [10, 10, 30, 40]], float), np.array([0.9, 0.8]),
                          np.array([0, 0]), contain=1.0)) == 2  # containment off: plain IoU keeps both
    v8 = np.array([[208, 208, 65, 65, 0.9, 0.05]], np.float32)  # no objectness column
    assert decode.decode(v8, "cxcywh-cls", placed, 0.3) == [(0, 0.9, (270, 190, 100, 100))]
    assert decode.layout_of((1, 2535, 85), 80) == "cxcywh-obj-cls"
    assert decode.layout_of((1, 84, 8400), 80) == "cxcywh-cls" and decode.layout_of((1, 10), 80) is None


@pytest.mark.parametrize("make,words", [
    (lambda tmp: str(tmp / "missing.onnx"), "missing.onnx cannot be read"),
    (lambda tmp: _file(tmp / "empty.onnx", b""), "empty.onnx is empty"),
    (lambda tmp: _file(tmp / "junk.onnx", os.urandom(4096)), "junk.onnx is not an ONNX model onnxruntime can load"),
    (lambda tmp: _tiny_onnx(tmp / "classifier.onnx", ["N", 3]), "classifier.onnx names no classes"),
])
def test_bad_model_files_are_one_clear_error(tmp_path, make, words):
    with pytest.raises(backends.BackendError, match=words):
        backends.create("yolo", "cpu", model=make(tmp_path))


def test_a_model_that_is_not_yolo_shaped_is_refused(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    path = _tiny_onnx(tmp_path / "classifier.onnx", ["N", 3])
    with pytest.raises(backends.BackendError, match="classifier.onnx is not YOLO-shaped: its output is"):
        backends.create("yolo", "cpu", model=path, labels=str(labels))


def test_checksum_labels_and_filter_mismatches_are_refused(tmp_path):
    with pytest.raises(backends.BackendError, match="not the pinned 0000"):
        backends.create("yolo", "cpu", model=model_path(), sha256="0" * 64)
    with pytest.raises(backends.BackendError, match="is not a sha256"):
        backends.create("yolo", "cpu", model=model_path(), sha256="abc")
    three = tmp_path / "three.names"
    three.write_text("person\ncar\ndog\n")
    with pytest.raises(backends.BackendError, match="not YOLO-shaped.*with 3 classes"):
        backends.create("yolo", "cpu", model=model_path(), labels=str(three))
    with pytest.raises(backends.BackendError, match="does not have: unicorn"):
        backends.create("yolo", "cpu", model=model_path(), classes=["person", "unicorn"])


def test_the_torch_engine_refuses_operators_it_does_not_run(tmp_path):
    _torch_or_reason()
    nodes = [helper.make_node("ReduceMean", ["images"], ["pooled"], axes=[2, 3], keepdims=0),
             helper.make_node("Einsum", ["pooled", "pooled"], ["out"], equation="ij,ij->ij")]
    path = _tiny_onnx(tmp_path / "odd.onnx", ["N", 3], extra_nodes=nodes)
    with pytest.raises(backends.BackendError, match="odd.onnx uses ONNX operators the torch engine does not run: "
                                                    "Einsum"):
        backends.create("yolo", "cpu", model=path, engine="torch")


@pytest.mark.parametrize("args,words", [
    (["--model", "/nonexistent/yolo.onnx"], "/nonexistent/yolo.onnx cannot be read"),
    (["--sha256", "1" * 64], "not the pinned 1111"),
    (["--classes", "person,unicorn"], "does not have: unicorn"),
    (["--engine", "onnxruntime", "--device", "cuda"], "no CUDA execution provider"),
])
def test_a_bad_model_stops_the_service_with_one_message(args, words):
    full = args if "--model" in args else ["--model", model_path()] + args
    done = subprocess.run(command("detector") + full, capture_output=True, text=True, timeout=120,
                          env=environment(), check=False)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_concurrent_requests_share_a_batch(servers):
    det = servers("detector", "--model", model_path(), "--max-batch", "4", "--max-wait-ms", "300")
    frames = [cv2.imencode(".jpg", frame)[1].tobytes() for frame in _frames()]

    async def together():
        async with aiohttp.ClientSession() as session:
            async def one(body):
                async with session.post(det.url + "/v1/detect", data=body,
                                        headers={"Content-Type": "image/jpeg"}) as response:
                    return response.status, await response.json()
            return await asyncio.gather(*[one(body) for body in frames])

    answers = asyncio.run(together())
    assert all(status == 200 for status, _answer in answers), answers
    assert max(answer["batch"] for _status, answer in answers) >= 2, answers
    assert any(box["label"] == "person" for _status, answer in answers for box in answer["boxes"])
    health = get_json(det.url + "/healthz")[1]
    assert health["served"] == len(frames) and health["batches"] < len(frames)
    assert get_json(det.url + "/v1/model")[1]["capacity"] == 4 + 4
