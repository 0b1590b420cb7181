# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a darknet network: the .cfg text and the .weights file, into plain layers with numpy arrays.

Supported layers are the ones YOLOv3, YOLOv3-tiny and YOLOv4(-tiny) are made of: [convolutional] (with or
without batch normalisation; activations linear, leaky, relu, logistic, mish, swish), [maxpool], [upsample],
[route] (including groups/group_id), [shortcut] and [yolo]. Anything else is a ModelError naming the file and
the section, so a model that would be converted wrongly is never converted at all.

Batch normalisation is folded into the convolution (w' = w * gamma / sqrt(var + eps), b' = beta - mean *
gamma / sqrt(var + eps), eps 1e-6), in float32, as OpenCV's darknet loader folds it."""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .errors import ModelError

ACTIVATIONS = ("linear", "leaky", "relu", "logistic", "mish", "swish")
BN_EPS = 1e-6  # what OpenCV's darknet loader uses; its outputs match ours to float32 rounding


class Section(NamedTuple):
    kind: str
    options: Dict[str, str]
    line: int  # where the section starts in the cfg, for messages


class Layer(NamedTuple):
    """One darknet layer, with its output shape (channels, height, width) for one image."""

    kind: str
    index: int
    inputs: Tuple[int, ...]  # absolute indexes of the layers it reads (-1: the network's input)
    shape: Tuple[int, int, int]
    params: dict


class Network(NamedTuple):
    width: int
    height: int
    channels: int
    layers: List[Layer]

    @property
    def yolo_layers(self) -> List[Layer]:
        return [layer for layer in self.layers if layer.kind == "yolo"]

    @property
    def classes(self) -> int:
        return self.yolo_layers[0].params["classes"]


def parse_cfg(text: str, path: str) -> List[Section]:
    sections: List[Section] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ModelError("%s line %d: a section header must end with ']': %r" % (path, number, raw))
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise ModelError("%s line %d: not a section or key=value: %r" % (path, number, raw))
    if not sections or sections[0].kind not in ("net", "network"):
        raise ModelError("%s: a darknet cfg starts with a [net] section" % path)
    return sections


def _int(section: Section, path: str, key: str, default: Optional[int] = None) -> int:
    value = section.options.get(key)
    if value is None:
        if default is None:
            raise ModelError("%s line %d: [%s] needs %s=" % (path, section.line, section.kind, key))
        return default
    try:
        return int(value)
    except ValueError:
        raise ModelError("%s line %d: [%s] %s=%r is not a whole number"
                         % (path, section.line, section.kind, key, value)) from None


def _ints(text: str) -> List[int]:
    return [int(part) for part in text.replace(" ", "").split(",") if part]


def _floats(text: str) -> List[float]:
    return [float(part) for part in text.replace(" ", "").split(",") if part]


class _Weights:
    """The weights file after its header, read in order, with a clear error when it is too short."""

    def __init__(self, data: bytes, path: str):
        self.path = path
        if len(data) < 16:
            raise ModelError("%s: %d bytes is too short for a darknet weights file" % (path, len(data)))
        major, minor, _revision = np.frombuffer(data[:12], "<i4")
        seen_bytes = 8 if major * 10 + minor >= 2 else 4
        if not (0 <= major < 100 and 0 <= minor < 100):
            raise ModelError("%s: not a darknet weights file (header version %d.%d)" % (path, major, minor))
        self.values = np.frombuffer(data, "<f4", offset=12 + seen_bytes)
        self.offset = 0

    def take(self, count: int, what: str) -> np.ndarray:
        end = self.offset + count
        if end > self.values.size:
            raise ModelError("%s ends after %d values, but %s needs values %d..%d: the weights do not belong to "
                             "this cfg, or the file is cut short"
                             % (self.path, self.values.size, what, self.offset, end))
        found = self.values[self.offset:end]
        self.offset = end
        if not np.all(np.isfinite(found)):
            raise ModelError("%s: %s holds values that are not finite numbers (a corrupt file)" % (self.path, what))
        return found.astype(np.float64)

    def check_used(self) -> None:
        if self.offset != self.values.size:
            raise ModelError("%s has %d values, but the cfg uses %d: the weights do not belong to this cfg"
                             % (self.path, self.values.size, self.offset))


class _Counter:
    """Stands in for the weights while counting how many values the cfg needs (ones: valid variances)."""

    def __init__(self):
        self.offset = 0

    def take(self, count: int, _what: str) -> np.ndarray:
        self.offset += count
        return np.ones(count)

    def check_used(self) -> None:
        pass


def _convolutional(section, index, inputs, shape, weights, path):
    channels = shape[0]
    filters = _int(section, path, "filters")
    size = _int(section, path, "size", 1)
    stride = _int(section, path, "stride", 1)
    groups = _int(section, path, "groups", 1)
    pad = size // 2 if _int(section, path, "pad", 0) else _int(section, path, "padding", 0)
    activation = section.options.get("activation", "logistic")
    if activation not in ACTIVATIONS:
        raise ModelError("%s line %d: activation %r is not supported (%s)"
                         % (path, section.line, activation, ", ".join(ACTIVATIONS)))
    if filters < 1 or size < 1 or stride < 1 or groups < 1 or channels % groups:
        raise ModelError("%s line %d: [convolutional] filters/size/stride/groups do not fit %d input channels"
                         % (path, section.line, channels))
    what = "layer %d (convolutional, cfg line %d)" % (index, section.line)
    bias = weights.take(filters, what)
    if _int(section, path, "batch_normalize", 0):
        gamma = weights.take(filters, what)
        mean = weights.take(filters, what)
        var = weights.take(filters, what)
    kernel = weights.take(filters * (channels // groups) * size * size, what).reshape(
        filters, channels // groups, size, size)
    if _int(section, path, "batch_normalize", 0):
        gamma, mean, var, bias, kernel = (a.astype(np.float32) for a in (gamma, mean, var, bias, kernel))
        factor = gamma / np.sqrt(var + np.float32(BN_EPS))
        kernel = kernel * factor[:, None, None, None]
        bias = bias - mean * factor
    height = (shape[1] + 2 * pad - size) // stride + 1
    width = (shape[2] + 2 * pad - size) // stride + 1
    return Layer("convolutional", index, inputs, (filters, height, width), {
        "weight": kernel.astype(np.float32), "bias": bias.astype(np.float32), "stride": stride, "pad": pad,
        "groups": groups, "activation": activation})


def _maxpool(section, index, inputs, shape, path):
    size = _int(section, path, "size", 1)
    stride = _int(section, path, "stride", 1)
    padding = _int(section, path, "padding", size - 1)
    # darknet: out = (in + padding - size) / stride + 1, windows start padding/2 before the image
    begin = padding // 2
    height = (shape[1] + padding - size) // stride + 1
    width = (shape[2] + padding - size) // stride + 1
    return Layer("maxpool", index, inputs, (shape[0], height, width),
                 {"size": size, "stride": stride, "pads": (begin, begin, padding - begin, padding - begin)})


def _yolo(section, index, inputs, shape, net, path):
    classes = _int(section, path, "classes", 80)
    anchors = _floats(section.options.get("anchors", ""))
    mask = _ints(section.options.get("mask", "")) or list(range(len(anchors) // 2))
    if len(anchors) % 2 or not anchors or max(mask) * 2 + 1 >= len(anchors) or min(mask) < 0:
        raise ModelError("%s line %d: [yolo] anchors (%d numbers) and mask %s do not fit together"
                         % (path, section.line, len(anchors), mask))
    if shape[0] != len(mask) * (classes + 5):
        raise ModelError("%s line %d: [yolo] expects %d channels (%d anchors x (5 + %d classes)), the layer before "
                         "gives %d" % (path, section.line, len(mask) * (classes + 5), len(mask), classes, shape[0]))
    pairs = [(anchors[2 * m], anchors[2 * m + 1]) for m in mask]
    return Layer("yolo", index, inputs, shape, {
        "classes": classes, "anchors": pairs, "scale_x_y": float(section.options.get("scale_x_y", 1.0)),
        "stride": (net[1] / shape[2], net[0] / shape[1])})


def _relative(value: int, index: int) -> int:
    return index + value if value < 0 else value


def parameter_count(cfg_text: str, cfg_path: str = "model.cfg") -> int:
    """How many float32 values the weights file of this cfg holds after its header."""
    counter = _Counter()
    _build(cfg_text, counter, cfg_path)
    return counter.offset


def read(cfg_text: str, weights: bytes, cfg_path: str = "model.cfg", weights_path: str = "model.weights") -> Network:
    """The network the cfg describes, with the weights loaded; ModelError naming the file on any problem."""
    return _build(cfg_text, _Weights(weights, weights_path), cfg_path)


def _build(cfg_text: str, reader, cfg_path: str) -> Network:
    sections = parse_cfg(cfg_text, cfg_path)
    net = sections[0]
    height, width = _int(net, cfg_path, "height"), _int(net, cfg_path, "width")
    channels = _int(net, cfg_path, "channels", 3)
    if height < 32 or width < 32 or channels != 3:
        raise ModelError("%s: [net] needs width and height of at least 32 and channels=3" % cfg_path)
    layers: List[Layer] = []
    shape = (channels, height, width)
    for index, section in enumerate(sections[1:]):
        previous = (index - 1,)
        if section.kind in ("convolutional", "conv"):
            layer = _convolutional(section, index, previous, shape, reader, cfg_path)
        elif section.kind == "maxpool":
            layer = _maxpool(section, index, previous, shape, cfg_path)
        elif section.kind == "upsample":
            stride = _int(section, cfg_path, "stride", 2)
            layer = Layer("upsample", index, previous, (shape[0], shape[1] * stride, shape[2] * stride),
                          {"stride": stride})
        elif section.kind == "route":
            sources = tuple(_relative(v, index) for v in _ints(section.options.get("layers", "")))
            if not sources or any(not 0 <= s < index for s in sources):
                raise ModelError("%s line %d: [route] layers=%s points outside the network"
                                 % (cfg_path, section.line, section.options.get("layers")))
            shapes = [layers[s].shape for s in sources]
            if len({s[1:] for s in shapes}) != 1:
                raise ModelError("%s line %d: [route] joins layers of different sizes %s"
                                 % (cfg_path, section.line, shapes))
            groups, group = _int(section, cfg_path, "groups", 1), _int(section, cfg_path, "group_id", 0)
            total = sum(s[0] for s in shapes)
            if total % groups or not 0 <= group < groups:
                raise ModelError("%s line %d: [route] groups=%d group_id=%d do not divide %d channels"
                                 % (cfg_path, section.line, groups, group, total))
            layer = Layer("route", index, sources, (total // groups, shapes[0][1], shapes[0][2]),
                          {"groups": groups, "group_id": group})
        elif section.kind == "shortcut":
            source = _relative(_int(section, cfg_path, "from"), index)
            activation = section.options.get("activation", "linear")
            if not 0 <= source < index or layers[source].shape != shape or activation != "linear":
                raise ModelError("%s line %d: [shortcut] from=%s must name an earlier layer of the same shape, "
                                 "with activation=linear" % (cfg_path, section.line, section.options.get("from")))
            layer = Layer("shortcut", index, (index - 1, source), shape, {})
        elif section.kind == "yolo":
            layer = _yolo(section, index, previous, shape, (height, width), cfg_path)
        else:
            raise ModelError("%s line %d: [%s] layers are not supported (supported: convolutional, maxpool, upsample, "
                             "route, shortcut, yolo)" % (cfg_path, section.line, section.kind))
        layers.append(layer)
        shape = layer.shape
    reader.check_used()
    network = Network(width, height, channels, layers)
    if not network.yolo_layers:
        raise ModelError("%s has no [yolo] layer: not a YOLO detector" % cfg_path)
    if len({layer.params["classes"] for layer in network.yolo_layers}) != 1:
        raise ModelError("%s: its [yolo] layers disagree on the number of classes" % cfg_path)
    return network
