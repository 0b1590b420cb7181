# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detector backends: the interface, the scores, and where each backend name comes from.

A backend is a class (or factory) called with the device ("cpu", "cuda" or "auto") and its own keyword options
that returns an object with `name`, `device`, `labels`, `detect(image) -> [Detection]` and `versions() -> dict`,
and optionally `detect_batch(images)`, `max_batch`, `describe() -> dict` and `score_meaning`. The detector
server makes one instance per worker thread, so no instance ever runs two calls at once.

Built-in names are listed in BUILTIN as "module:attribute", imported only when chosen. Another package adds
a backend with an entry point in the group "wiremesh_vision.backends" (name = backend name, value =
"module:factory"). `yolo` (the default) is a CNN object detector with the COCO labels on onnxruntime or PyTorch,
CPU or CUDA; it needs the `yolo` extra (onnxruntime) or the `torch` extra. `opencv-classic` is OpenCV's Haar
frontal faces plus HOG people, light and CPU-only; `haar-faces` and `hog-people` are its two halves."""

from __future__ import annotations

import importlib
import math
from importlib import metadata
from typing import Dict, List, NamedTuple, Sequence, Tuple

ENTRY_POINT_GROUP = "wiremesh_vision.backends"
BUILTIN = {
    "yolo": "wiremesh_vision.backends.yolo:create",
    "opencv-classic": "wiremesh_vision.backends.opencv:OpenCVClassic",
    "haar-faces": "wiremesh_vision.backends.opencv:HaarFaces",
    "hog-people": "wiremesh_vision.backends.opencv:HogPeople",
}
DEVICES = ("cpu", "cuda", "auto")


class BackendError(RuntimeError):
    """A backend cannot be used here; the message says why and what to do."""


class Detection(NamedTuple):
    label: str
    score: float  # 0..1, see margin_score
    box: Tuple[int, int, int, int]  # x, y, w, h in the pixels of the image given to detect()

    def as_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "box": list(self.box)}


def margin_score(margin: float) -> float:
    """The logistic of a classifier's signed margin, 1 / (1 + e^-margin), rounded to 4 places.

    margin is how far the detection is past the classifier's own decision threshold (Haar: the sum of the
    last cascade stage's weak classifiers minus that stage's threshold, OpenCV's levelWeights; HOG: the
    linear SVM's decision value). 0.5 is exactly on the threshold, and the score rises with the margin.
    It orders detections by confidence; it is not a calibrated probability."""
    margin = max(-50.0, min(50.0, float(margin)))
    return round(1.0 / (1.0 + math.exp(-margin)), 4)


def detections(label: str, boxes: Sequence, margins: Sequence) -> List[Detection]:
    return [Detection(label, margin_score(m), tuple(int(v) for v in box)) for box, m in zip(boxes, margins)]


def cpu_only(name: str, device: str) -> str:
    if device not in DEVICES:
        raise BackendError("unknown device %r (choose one of %s)" % (device, ", ".join(DEVICES)))
    if device == "cuda":
        raise BackendError("backend %s runs on the CPU only (the opencv-python-headless wheel has no CUDA); "
                           "use --device cpu or auto" % name)
    return "cpu"


def _entry_points() -> Dict[str, metadata.EntryPoint]:
    found = metadata.entry_points()
    group = found.select(group=ENTRY_POINT_GROUP) if hasattr(found, "select") else found.get(ENTRY_POINT_GROUP, [])
    return {ep.name: ep for ep in group}


def names() -> List[str]:
    return sorted(set(BUILTIN) | set(_entry_points()))


def create(name: str, device: str = "auto", **options):
    """A new instance of backend `name` on `device`; BackendError with one clear message if it cannot be."""
    plugins = _entry_points()
    if name not in BUILTIN and name not in plugins:
        raise BackendError("unknown backend %r (choose one of %s)" % (name, ", ".join(names())))
    if name in plugins:
        return plugins[name].load()(device, **options)
    module_name, _sep, attribute = BUILTIN[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise BackendError("backend %s is not available: this wiremesh-vision has no module %s, and no installed "
                           "package registers %r in the entry point group %s"
                           % (name, module_name, name, ENTRY_POINT_GROUP)) from None
    return getattr(module, attribute)(device, **options)
