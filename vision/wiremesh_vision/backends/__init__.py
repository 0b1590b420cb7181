# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detector backends: the interface, the scores, and where each backend name comes from.

A backend is a class (or factory) called with the device ("cpu", "cuda" or "auto") that returns an object
with `name`, `device`, `labels`, `detect(image) -> [Detection]` and `versions() -> dict`. The detector server
makes one instance per worker thread, so detect() never runs concurrently on one instance.

Built-in names are listed in BUILTIN as "module:attribute", imported only when chosen. Another package adds
a backend with an entry point in the group "wiremesh_vision.backends" (name = backend name, value =
"module:factory"). The "torch" name is the PyTorch HOG people detector (torch_backend), which runs on a GPU;
it needs the `torch` extra."""

from __future__ import annotations

import importlib
import math
from importlib import metadata
from typing import Dict, List, NamedTuple, Sequence, Tuple

ENTRY_POINT_GROUP = "wiremesh_vision.backends"
BUILTIN = {
    "haar-faces": "wiremesh_vision.backends.opencv:HaarFaces",
    "hog-people": "wiremesh_vision.backends.opencv:HogPeople",
    "haar-faces+hog-people": "wiremesh_vision.backends.opencv:HaarFacesHogPeople",
    "torch": "wiremesh_vision.backends.torch_backend:create",
}
REQUIRES = {"torch": ("torch", "pip install 'wiremesh-vision[torch]'")}  # name -> (module, how to get it)
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


def create(name: str, device: str = "auto"):
    """A new instance of backend `name` on `device`; BackendError with one clear message if it cannot be."""
    plugins = _entry_points()
    if name not in BUILTIN and name not in plugins:
        raise BackendError("unknown backend %r (choose one of %s)" % (name, ", ".join(names())))
    if name in REQUIRES:
        module, how = REQUIRES[name]
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise BackendError("backend %s needs the Python package %r, which is not installed here (%s): %s"
                               % (name, module, exc, how)) from None
    if name in plugins:
        return plugins[name].load()(device)
    module_name, _sep, attribute = BUILTIN[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise BackendError("backend %s is not available: this wiremesh-vision has no module %s, and no installed "
                           "package registers %r in the entry point group %s"
                           % (name, module_name, name, ENTRY_POINT_GROUP)) from None
    return getattr(module, attribute)(device)
