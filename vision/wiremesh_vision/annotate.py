# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drawing on frames: detection boxes with label and score, a status bar, and the card shown while the
camera is away. Pure functions of their inputs (JPEG in, JPEG out), run in the app's drawing thread."""

from __future__ import annotations

from typing import List, Sequence

import cv2
import numpy as np

from . import jpeg

COLOURS = {"face": (0, 255, 0), "person": (0, 165, 255)}  # BGR: faces green, people orange
OTHER = (255, 255, 0)
THICKNESS = 3
GOOD, BAD = (60, 200, 60), (40, 40, 230)


def scaled(boxes: Sequence[dict], from_size, to_size) -> List[dict]:
    """Boxes found on an image of from_size (w, h), moved to an image of to_size."""
    if tuple(from_size) == tuple(to_size) or not from_size[0] or not from_size[1]:
        return list(boxes)
    fx, fy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return [dict(b, box=[round(b["box"][0] * fx), round(b["box"][1] * fy), round(b["box"][2] * fx),
                         round(b["box"][3] * fy)]) for b in boxes]


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: arrows become ->, anything else ?."""
    return text.replace("\u2192", "->").replace("\u2190", "<-").encode("ascii", "replace").decode("ascii")


def _text(image: np.ndarray, text: str, origin, colour, scale=0.5) -> None:
    text = _ascii(text)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw(image: np.ndarray, boxes: Sequence[dict], status: str, ok: bool) -> np.ndarray:
    """Boxes and a one-line status bar drawn onto image (in place, returned)."""
    for found in boxes:
        x, y, w, h = found["box"]
        colour = COLOURS.get(found["label"], OTHER)
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, THICKNESS)
        _text(image, "%s %.2f" % (found["label"], found["score"]), (x + 2, max(y - 6, 12)), colour)
    cv2.rectangle(image, (0, 0), (image.shape[1], 20), (25, 25, 25), -1)
    _text(image, status, (6, 14), GOOD if ok else BAD, 0.45)
    return image


def annotate(frame_jpeg: bytes, boxes: Sequence[dict], found_size, status: str, ok: bool, quality: int):
    """(annotated JPEG, the boxes drawn in this frame's pixels)."""
    image = jpeg.decode(frame_jpeg)
    drawn = scaled(boxes, found_size, (image.shape[1], image.shape[0]))
    return jpeg.encode(draw(image, drawn, status, ok), quality), drawn


def card(width: int, height: int, lines: Sequence[str], quality: int) -> bytes:
    """A dark frame with lines of red text: what /stream shows while there is no camera picture."""
    image = np.full((height, width, 3), 32, np.uint8)
    for index, line in enumerate(lines):
        _text(image, line, (20, 40 + 28 * index), BAD, 0.6)
    return jpeg.encode(image, quality)
