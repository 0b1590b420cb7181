"""The darknet -> ONNX conversion, proven against OpenCV 4.x's own darknet loader (cv2.dnn.readNetFromDarknet)
on the same inputs: the packaged YOLOv3-tiny, and a small network of random weights that has every layer kind
the reader supports (shortcut, grouped route, stride-1 maxpool, mish/logistic/relu activations, scale_x_y).

Tolerance: raw outputs (each [yolo] layer's input) agree within 1e-4 (measured: at most 4.5e-5 on values up to
18). OpenCV runs with its Winograd convolutions off: their own rounding alone moves its outputs by 1.2e-4 from
the direct convolution. Decoded boxes (normalised centre and size), objectness and OpenCV's reported class
scores agree within 1e-5."""

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from wiremesh_vision import images
from wiremesh_vision.yolo import darknet, decode, model_file, to_onnx

from .yolo_files import darknet_files, random_weights

SMALL_CFG = """
[net]
width=96
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=mish

[shortcut]
from=-2
activation=linear

[route]
layers=-1
groups=2
group_id=1

[maxpool]
size=2
stride=1

[convolutional]
filters=16
size=1
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[upsample]
stride=2

[route]
layers=-1,2

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=0,1,2
anchors=4,6, 10,12, 20,18
classes=2
num=3
scale_x_y=1.05
"""
SMALL_CONVOLUTIONS = [(8, 3, 3, True), (8, 8, 3, True), (16, 4, 1, False), (21, 24, 1, False)]


def _frames(size):
    """Two real photographs letterboxed into the network input, as one batch."""
    batch = np.zeros((2, 3, size[1], size[0]), np.float32)
    for number, name in enumerate((images.ASTRONAUT, images.CAMERAMAN)):
        decode.letterbox(images.load(name), size, batch[number])
    return batch


def _ours(network, labels, batch):
    model = to_onnx.convert(network, labels, raw_outputs=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": batch})))


def _opencv(cfg_path, weights_path, batch, layer_names):
    net = cv2.dnn.readNetFromDarknet(cfg_path, weights_path)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.enableWinograd(False)
    net.setInput(batch)
    return dict(zip(layer_names, net.forward(layer_names)))


def _compare(network, ours, theirs, batch_size):
    """Raw outputs within 1e-4; decoded rows within 1e-5 (OpenCV: per image, rows in the same order)."""
    decoded = ours[to_onnx.OUTPUT].reshape(batch_size, -1, ours[to_onnx.OUTPUT].shape[-1])
    start = 0
    for layer in network.yolo_layers:
        raw = theirs["conv_%d" % (layer.index - 1)]
        mine = ours["raw_%d" % layer.index]
        assert mine.shape == raw.shape
        assert np.abs(mine - raw).max() <= 1e-4
        region = theirs["yolo_%d" % layer.index].reshape(batch_size, -1, decoded.shape[-1])
        rows = decoded[:, start:start + region.shape[1]]
        start += region.shape[1]
        size = np.array([network.width, network.height] * 2, np.float32)
        np.testing.assert_allclose(rows[..., :4] / size, region[..., :4], atol=1e-5, rtol=0)
        np.testing.assert_allclose(rows[..., 4], region[..., 4], atol=1e-5, rtol=0)
        reported = region[..., 5:] > 0  # OpenCV zeroes class scores under its threshold (0.2)
        np.testing.assert_allclose((rows[..., 5:] * rows[..., 4:5])[reported], region[..., 5:][reported], atol=1e-5)
    assert start == decoded.shape[1]


def test_yolov3_tiny_matches_opencvs_darknet_loader():
    files = darknet_files()
    with open(files["cfg"], encoding="utf-8") as cfg, open(files["weights"], "rb") as weights:
        network = darknet.read(cfg.read(), weights.read(), files["cfg"], files["weights"])
    labels = model_file.read_labels(files["labels"])
    assert (network.width, network.height, network.classes, len(labels)) == (416, 416, 80, 80)
    batch = _frames((416, 416))
    names = ["conv_%d" % (y.index - 1) for y in network.yolo_layers] + ["yolo_%d" % y.index
                                                                        for y in network.yolo_layers]
    ours = _ours(network, labels, batch)
    theirs = _opencv(files["cfg"], files["weights"], batch, names)
    _compare(network, ours, theirs, 2)
    assert ours[to_onnx.OUTPUT].shape == (2, 13 * 13 * 3 + 26 * 26 * 3, 85)


def test_every_layer_kind_matches_opencv_on_random_weights(tmp_path):
    cfg_path, weights_path = tmp_path / "small.cfg", tmp_path / "small.weights"
    cfg_path.write_text(SMALL_CFG)
    weights_path.write_bytes(random_weights(SMALL_CONVOLUTIONS, seed=7))
    network = darknet.read(SMALL_CFG, weights_path.read_bytes(), str(cfg_path), str(weights_path))
    assert [l.kind for l in network.layers] == ["convolutional", "convolutional", "shortcut", "route", "maxpool",
                                                "convolutional", "maxpool", "upsample", "route", "convolutional",
                                                "yolo"]
    batch = _frames((96, 64))
    ours = _ours(network, ["a", "b"], batch)
    theirs = _opencv(str(cfg_path), str(weights_path), batch, ["conv_9", "yolo_10"])
    _compare(network, ours, theirs, 2)


def test_the_model_says_its_labels_and_layout():
    files = darknet_files()
    with open(files["cfg"], encoding="utf-8") as cfg, open(files["weights"], "rb") as weights:
        network = darknet.read(cfg.read(), weights.read())
    model = to_onnx.convert(network, model_file.read_labels(files["labels"]))
    props = {p.key: p.value for p in model.metadata_props}
    assert model_file.labels_from_metadata(props)[:3] == ["person", "bicycle", "car"]
    assert props["wiremesh.layout"] == decode.LAYOUTS[0]
    assert model.ir_version == to_onnx.IR_VERSION and model.opset_import[0].version == to_onnx.OPSET


@pytest.mark.parametrize("change,words", [
    (lambda cfg, w: (cfg, w[:-4]), "the weights do not belong to this cfg, or the file is cut short"),
    (lambda cfg, w: (cfg, w + b"\0\0\0\0"), "has 1 more value|the weights do not belong to this cfg"),
    (lambda cfg, w: (cfg, w[:20] + np.array([np.nan], "<f4").tobytes() + w[24:]), "not finite"),
    (lambda cfg, w: (cfg, b"\xff" * 12), "too short"),
    (lambda cfg, w: (cfg.replace("[maxpool]\nsize=2\nstride=2", "[local]\nsize=2"), w), r"\[local\] layers are not supported"),
    (lambda cfg, w: (cfg.replace("layers=-1,2", "layers=-1,40"), w), "points outside the network"),
    (lambda cfg, w: (cfg.replace("activation=mish", "activation=gelu"), w), "activation 'gelu' is not supported"),
    (lambda cfg, w: (cfg.replace("classes=2", "classes=3"), w), r"\[yolo\] expects 24 channels"),
    (lambda cfg, w: (cfg.replace("[net]", "net"), w), "not a section or key=value"),
    (lambda cfg, w: (cfg.replace("[yolo]", "[convolutional]\nfilters=21\nsize=1").split("mask=")[0], w),
     "weights do not belong|no \\[yolo\\] layer"),
])
def test_a_bad_cfg_or_weights_file_is_one_clear_error_naming_it(change, words):
    weights = random_weights(SMALL_CONVOLUTIONS)
    assert len(weights) == 20 + 4 * darknet.parameter_count(SMALL_CFG)
    cfg, weights = change(SMALL_CFG, weights)
    with pytest.raises(model_file.ModelError, match=words) as raised:
        darknet.read(cfg, weights, "/models/bad.cfg", "/models/bad.weights")
    assert "/models/bad." in str(raised.value)
