# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A YOLO ONNX file as the detector loads it: its bytes checked against a pinned sha256, and its class labels
(from a labels file, one name per line, or from the model's own metadata: `wiremesh.labels` as our converter
writes it, or `names` as Ultralytics exports write it)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from typing import List, NamedTuple, Optional

from .errors import ModelError

HEX = set("0123456789abcdef")


class ModelFile(NamedTuple):
    path: str
    data: bytes
    sha256: str


def check_sha256(text: str, what: str) -> str:
    value = (text or "").strip().lower()
    if len(value) != 64 or not set(value) <= HEX:
        raise ModelError("%s: %r is not a sha256 (64 hexadecimal digits)" % (what, text))
    return value


def read_checked(path: str, sha256: Optional[str] = None) -> ModelFile:
    """The file's bytes; ModelError naming it when it is missing, empty, or not the pinned sha256."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ModelError("model file %s cannot be read: %s" % (path, exc.strerror or exc)) from None
    if not data:
        raise ModelError("model file %s is empty" % path)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != check_sha256(sha256, path):
        raise ModelError("model file %s has sha256 %s, not the pinned %s: a different or damaged file"
                         % (path, digest, sha256.lower()))
    return ModelFile(os.path.abspath(path), data, digest)


def read_labels(path: str) -> List[str]:
    """One class name per line (darknet's coco.names format); blank lines at the end are ignored."""
    try:
        with open(path, encoding="utf-8") as handle:
            labels = [line.strip() for line in handle.read().rstrip("\n").split("\n")]
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError("labels file %s cannot be read: %s" % (path, exc)) from None
    if not labels or not all(labels):
        raise ModelError("labels file %s must hold one class name per line, with no blank line between" % path)
    return labels


def labels_from_metadata(metadata: dict) -> Optional[List[str]]:
    """Class names from an ONNX model's metadata, None when it names none."""
    if "wiremesh.labels" in metadata:
        found = json.loads(metadata["wiremesh.labels"])
        return [str(name) for name in found]
    if "names" in metadata:  # Ultralytics: "{0: 'person', 1: 'bicycle', ...}"
        try:
            found = ast.literal_eval(metadata["names"])
        except (ValueError, SyntaxError):
            return None
        if isinstance(found, dict):
            return [str(found[key]) for key in sorted(found)]
        if isinstance(found, list):
            return [str(name) for name in found]
    return None
