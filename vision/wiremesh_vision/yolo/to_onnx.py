# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A darknet network (darknet.Network) as an ONNX model that any ONNX runtime runs as it is.

Input `images`: float32 (N, 3, H, W), RGB in 0..1, the cfg's width and height, any batch size N.
Output `detections`: float32 (N, boxes, 5 + classes): centre x, centre y, width, height in the input's pixels,
then the objectness and each class's probability (both after the logistic), the layout YOLOv5's ONNX exports
use, so one decoder (yolo.decode) reads both. The rows of each [yolo] layer come in darknet's and OpenCV's order
(grid row, grid column, anchor), the [yolo] layers in cfg order. With raw_outputs=True the model also outputs
each [yolo] layer's input (`raw_<index>`, what OpenCV's darknet loader computes for the same layer), which the
conversion test compares.

The box decoding follows darknet's yolo layer: x = (column + sigmoid(tx) * scale_x_y - (scale_x_y - 1) / 2) *
stride, w = exp(tw) * anchor width (anchors are in input pixels), and likewise for y and h. The model's metadata
names its class labels (`wiremesh.labels`, a JSON list) and its layout (`wiremesh.layout`)."""

from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence

import numpy as np

from .darknet import Network

OPSET = 17
IR_VERSION = 8  # what onnxruntime 1.14 and later read, so older runtimes on GPU hosts load it too
LAYOUT = "cxcywh-obj-cls"
INPUT, OUTPUT = "images", "detections"


def _onnx():
    try:
        import onnx  # pylint: disable=import-outside-toplevel
        from onnx import helper, numpy_helper  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise RuntimeError("converting a darknet model needs the Python package onnx (%s): pip install onnx"
                           % exc) from None
    return onnx, helper, numpy_helper


class _Graph:
    def __init__(self):
        self.onnx, self.helper, self.numpy_helper = _onnx()
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return "%s_%d" % (hint, self.count)

    def const(self, hint: str, value) -> str:
        name = self.name(hint)
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", outputs: int = 1, **attrs):
        names = [self.name(hint or op_type.lower()) for _output in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, name=names[0] + "_node", **attrs))
        return names[0] if outputs == 1 else names


def _activation(graph: _Graph, x: str, activation: str) -> str:
    if activation == "leaky":
        return graph.op("LeakyRelu", [x], alpha=0.1)
    if activation == "relu":
        return graph.op("Relu", [x])
    if activation == "logistic":
        return graph.op("Sigmoid", [x])
    if activation == "mish":
        return graph.op("Mul", [x, graph.op("Tanh", [graph.op("Softplus", [x])])])
    if activation == "swish":
        return graph.op("Mul", [x, graph.op("Sigmoid", [x])])
    return x  # linear


def _yolo(graph: _Graph, x: str, layer, classes: int) -> str:
    _channels, rows, cols = layer.shape
    anchors = layer.params["anchors"]
    count, width = len(anchors), 5 + classes
    grid = graph.op("Transpose", [graph.op("Reshape", [x, graph.const("shape", [0, count, width, rows, cols])])],
                    perm=[0, 3, 4, 1, 2])  # (N, rows, cols, anchors, 5 + classes)
    xy, wh, rest = graph.op("Split", [grid, graph.const("split", np.array([2, 2, 1 + classes], np.int64))],
                            axis=-1, outputs=3)
    scale = layer.params["scale_x_y"]
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    offsets = np.stack([xs, ys], axis=-1)[:, :, None, :] - (scale - 1.0) / 2.0  # (rows, cols, 1, 2)
    xy = graph.op("Sigmoid", [xy])
    if scale != 1.0:
        xy = graph.op("Mul", [xy, graph.const("scale_x_y", np.float32(scale))])
    xy = graph.op("Mul", [graph.op("Add", [xy, graph.const("grid", offsets)]),
                          graph.const("stride", np.array(layer.params["stride"], np.float32))])
    wh = graph.op("Mul", [graph.op("Exp", [wh]), graph.const("anchors", np.array(anchors, np.float32)[None, :, :])])
    joined = graph.op("Concat", [xy, wh, graph.op("Sigmoid", [rest])], axis=-1)
    return graph.op("Reshape", [joined, graph.const("rows", [0, -1, width])], hint="yolo%d" % layer.index)


def convert(network: Network, labels: Sequence[str], raw_outputs: bool = False,
            metadata: Optional[Dict[str, str]] = None):
    """An onnx.ModelProto of the network (checked with onnx.checker)."""
    classes = network.classes
    if len(labels) != classes:
        raise ValueError("the network has %d classes, but %d labels were given" % (classes, len(labels)))
    graph = _Graph()
    helper, tensor = graph.helper, graph.onnx.TensorProto
    outputs: List[str] = []
    raw: List[tuple] = []
    for layer in network.layers:
        source = [INPUT if i < 0 else outputs[i] for i in layer.inputs]
        params = layer.params
        if layer.kind == "convolutional":
            size = params["weight"].shape[-1]
            out = graph.op("Conv", [source[0], graph.const("w", params["weight"]), graph.const("b", params["bias"])],
                           kernel_shape=[size, size], strides=[params["stride"]] * 2, pads=[params["pad"]] * 4,
                           group=params["groups"])
            out = _activation(graph, out, params["activation"])
        elif layer.kind == "maxpool":
            out = graph.op("MaxPool", source, kernel_shape=[params["size"]] * 2, strides=[params["stride"]] * 2,
                           pads=list(params["pads"]))
        elif layer.kind == "upsample":
            out = graph.op("Resize", [source[0], "", graph.const("scales", np.array(
                [1, 1, params["stride"], params["stride"]], np.float32))], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        elif layer.kind == "route":
            out = source[0] if len(source) == 1 else graph.op("Concat", source, axis=1)
            if params["groups"] > 1:
                part = layer.shape[0]
                start = part * params["group_id"]
                out = graph.op("Slice", [out, graph.const("start", [start]), graph.const("end", [start + part]),
                                         graph.const("axis", [1])])
        elif layer.kind == "shortcut":
            out = graph.op("Add", source)
        else:  # yolo
            raw.append((layer, source[0]))
            out = source[0]
        outputs.append(out)
    decoded = [_yolo(graph, x, layer, classes) for layer, x in raw]
    final = graph.op("Concat", decoded, axis=1) if len(decoded) > 1 else graph.op("Identity", decoded)
    graph.nodes.append(helper.make_node("Identity", [final], [OUTPUT], name="detections_node"))
    graph_outputs = [helper.make_tensor_value_info(OUTPUT, tensor.FLOAT, ["N", "boxes", 5 + classes])]
    if raw_outputs:
        for layer, x in raw:
            name = "raw_%d" % layer.index
            graph.nodes.append(helper.make_node("Identity", [x], [name], name=name + "_node"))
            graph_outputs.append(helper.make_tensor_value_info(name, tensor.FLOAT, ["N"] + list(layer.shape)))
    model = helper.make_model(
        helper.make_graph(graph.nodes, "darknet", [helper.make_tensor_value_info(
            INPUT, tensor.FLOAT, ["N", network.channels, network.height, network.width])],
            graph_outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="wiremesh-vision")
    model.ir_version = IR_VERSION
    props = dict(metadata or {}, **{"wiremesh.labels": json.dumps(list(labels)), "wiremesh.layout": LAYOUT})
    helper.set_model_props(model, props)
    graph.onnx.checker.check_model(model)
    return model
