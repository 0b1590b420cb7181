# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run an ONNX graph with PyTorch: each node becomes the torch operation with the same meaning, the
initializers become tensors on the device, and the nodes run in the file's (topological) order under
torch.inference_mode. It covers the operators YOLO detectors are made of (our darknet conversion, and the
usual YOLOv5/v8 exports): convolutions, activations, pooling, resizing, element-wise arithmetic, and the shape
operators. Any other operator is refused when the model is loaded, naming it, so nothing runs half-supported.

On CUDA, TF32 is switched off so that the GPU computes what the CPU computes (to float32 rounding)."""

from __future__ import annotations

import math
from typing import Callable, Dict, List

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from .errors import ModelError


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(value) -> List[int]:
    return [int(v) for v in value.tolist()] if isinstance(value, torch.Tensor) else [int(v) for v in value]


def _pad_for(x, pads, value=0.0):
    """ONNX pads [begin h, begin w, end h, end w] as F.pad's (left, right, top, bottom)."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


def _conv(x, w, b=None, *, kernel_shape=None, strides=(1, 1), pads=(0, 0, 0, 0), group=1, dilations=(1, 1),
          auto_pad=b"NOTSET"):
    if auto_pad not in (b"NOTSET", "NOTSET"):
        raise ValueError("Conv auto_pad=%s" % auto_pad)
    del kernel_shape
    return F.conv2d(_pad_for(x, list(pads)), w, b, stride=list(strides), groups=group, dilation=list(dilations))


def _maxpool(x, *, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0, auto_pad=b"NOTSET",
             dilations=(1, 1), storage_order=0):
    if auto_pad not in (b"NOTSET", "NOTSET") or any(d != 1 for d in dilations) or storage_order:
        raise ValueError("MaxPool with auto_pad, dilations or storage_order")
    return F.max_pool2d(_pad_for(x, list(pads), -math.inf), list(kernel_shape), list(strides),
                        ceil_mode=bool(ceil_mode))


def _resize(x, roi=None, scales=None, sizes=None, *, mode=b"nearest", coordinate_transformation_mode=b"half_pixel",
            nearest_mode=b"round_prefer_floor", **_ignored):
    del roi
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = coordinate_transformation_mode
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    size = _ints(sizes)[2:] if sizes is not None and sizes.numel() else None
    factors = None if size else [float(v) for v in scales.tolist()[2:]]
    if mode == "nearest":
        if ctm != "asymmetric" or (factors and any(f != int(f) for f in factors)):
            raise ValueError("Resize nearest needs coordinate_transformation_mode=asymmetric and whole scales")
        return F.interpolate(x, size=size, scale_factor=factors, mode="nearest")
    if mode == "linear":
        if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise ValueError("Resize linear with coordinate_transformation_mode=%s" % ctm)
        return F.interpolate(x, size=size, scale_factor=factors, mode="bilinear",
                             align_corners=ctm == "align_corners")
    raise ValueError("Resize mode=%s" % mode)


def _reshape(x, shape, *, allowzero=0):
    target = _ints(shape)
    if not allowzero:
        target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
    return x.reshape(target)


def _split(x, split=None, *, axis=0, num_outputs=None):
    axis = axis % x.dim()
    if split is None:
        parts = num_outputs
        size = math.ceil(x.shape[axis] / parts)
        return tuple(torch.split(x, size, dim=axis))
    return tuple(torch.split(x, _ints(split), dim=axis))


def _slice(x, starts, ends, axes=None, steps=None):
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step != 1:
            raise ValueError("Slice with a step other than 1")
        size = x.shape[axis]
        start = max(0, min(size, start + size if start < 0 else start))
        end = max(0, min(size, end + size if end < 0 else end))
        index[axis] = slice(start, end)
    return x[tuple(index)]


def _softmax(x, *, axis=-1):
    return torch.softmax(x, dim=axis)


def _concat(*xs, axis):
    return torch.cat(xs, dim=axis)


def _transpose(x, *, perm=None):
    return x.permute(*perm) if perm is not None else x.permute(*reversed(range(x.dim())))


def _gather(x, indices, *, axis=0):
    return torch.index_select(x, axis, indices.reshape(-1).long()).reshape(
        x.shape[:axis] + indices.shape + x.shape[axis + 1:])


def _unsqueeze(x, axes):
    for axis in sorted(_ints(axes)):
        x = x.unsqueeze(axis)
    return x


def _squeeze(x, axes=None):
    return x.squeeze() if axes is None else x.squeeze(tuple(_ints(axes)))


def _batchnorm(x, scale, bias, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0):
    del momentum, training_mode
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, epsilon)


OPS: Dict[str, Callable] = {
    "Conv": _conv, "MaxPool": _maxpool, "Resize": _resize, "Reshape": _reshape, "Split": _split,
    "Slice": _slice, "Softmax": _softmax, "Concat": _concat, "Transpose": _transpose, "Gather": _gather,
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "BatchNormalization": _batchnorm,
    "Identity": lambda x: x, "Relu": F.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp,
    "Softplus": F.softplus, "LeakyRelu": lambda x, alpha=0.01: F.leaky_relu(x, alpha),
    "HardSigmoid": lambda x, alpha=0.2, beta=0.5: torch.clamp(alpha * x + beta, 0, 1),
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow,
    "Sqrt": torch.sqrt, "Shape": lambda x: torch.tensor(list(x.shape), dtype=torch.int64, device=x.device),
    "Cast": lambda x, to: x.to(_TORCH_TYPES[to]),
}
_TORCH_TYPES = {onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.INT64: torch.int64,
                onnx.TensorProto.INT32: torch.int32, onnx.TensorProto.FLOAT16: torch.float16}


class TorchGraph:
    def __init__(self, model, path: str, device: str):
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node if n.op_type not in OPS and n.op_type != "Constant"})
        if unsupported:
            raise ModelError("model file %s uses ONNX operators the torch engine does not run: %s (use the "
                             "onnxruntime engine)" % (path, ", ".join(unsupported)))
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.benchmark = True  # a camera keeps one frame size: let cuDNN pick per shape
        self.values = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()).to(self.device)
                       for init in graph.initializer}
        self.nodes = []
        for node in graph.node:
            attrs = _attrs(node)
            if node.op_type == "Constant":
                self.values[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy()).to(
                    self.device)
                continue
            self.nodes.append((OPS[node.op_type], list(node.input), list(node.output), attrs, node.op_type))
        initialized = set(self.values)
        inputs = [i for i in graph.input if i.name not in initialized]
        if len(inputs) != 1:
            raise ModelError("model file %s has %d inputs; a YOLO model has one image input" % (path, len(inputs)))
        self.input_name = inputs[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        self.input_shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
        self.output_name = graph.output[0].name
        self.metadata = {p.key: p.value for p in model.metadata_props}
        self.path = path

    def run(self, batch: np.ndarray) -> np.ndarray:
        values = dict(self.values)
        with torch.inference_mode():
            values[self.input_name] = torch.from_numpy(batch).to(self.device, non_blocking=True)
            for op, inputs, outputs, attrs, op_type in self.nodes:
                args = [values[name] if name else None for name in inputs]
                try:
                    result = op(*args, **attrs)
                except (ValueError, TypeError, RuntimeError) as exc:
                    raise ModelError("model file %s: the torch engine cannot run its %s node %s: %s"
                                     % (self.path, op_type, outputs[0], exc)) from None
                if isinstance(result, tuple):
                    values.update(zip(outputs, result))
                else:
                    values[outputs[0]] = result
            return values[self.output_name].float().cpu().numpy()


def load(data: bytes, path: str, device: str) -> TorchGraph:
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # pylint: disable=broad-except  # protobuf's DecodeError and friends
        raise ModelError("model file %s is not an ONNX model: %s" % (path, exc)) from None
    return TorchGraph(model, path, device)
