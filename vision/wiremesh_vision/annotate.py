# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drawing on frames: detection boxes with class name and score in a colour per class, a status bar, and the
card shown while the camera is away. Pure functions of their inputs (JPEG in, JPEG out), run in the app's
drawing thread."""

from __future__ import annotations

import colorsys
import zlib
from typing import List, Sequence

import cv2
import numpy as np

from . import jpeg

FIXED = {"face": (0, 255, 0), "person": (0, 165, 255)}  # BGR: faces green, people orange
THICKNESS = 3
STATUS_HEIGHT = 20  # px of the status bar at the top
FONT = cv2.FONT_HERSHEY_SIMPLEX
GOOD, BAD = (60, 200, 60), (40, 40, 230)


def colour(label: str) -> tuple:
    """The BGR colour of a class: fixed for face and person; for any other class a bright, saturated hue taken
    from the CRC-32 of its name, so it is the same in every process and run (Python's hash() is not)."""
    if label in FIXED:
        return FIXED[label]
    hue = zlib.crc32(label.encode("utf-8")) % 360 / 360.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.8, 1.0)
    return round(blue * 255), round(green * 255), round(red * 255)


def css_colour(label: str) -> str:
    """colour(label) as #rrggbb, for the page."""
    blue, green, red = colour(label)
    return "#%02x%02x%02x" % (red, green, blue)


def _ink(background) -> tuple:
    """Black or white, whichever reads better on a BGR background."""
    blue, green, red = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else (255, 255, 255)


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


def _text(image: np.ndarray, text: str, origin, ink, scale=0.5) -> None:
    text = _ascii(text)
    cv2.putText(image, text, origin, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, ink, 1, cv2.LINE_AA)


def _tag(image: np.ndarray, text: str, x: int, y: int, paint) -> None:
    """A label filled in the class colour, on top of the box at (x, y), or just inside it where the status bar
    or the frame's edge leaves no room above."""
    text = _ascii(text)
    (width, height), baseline = cv2.getTextSize(text, FONT, 0.5, 1)
    tall = height + baseline + 4
    top = y - tall if y - tall >= STATUS_HEIGHT else max(y, STATUS_HEIGHT)
    left = min(max(x, 0), max(image.shape[1] - width - 6, 0))
    cv2.rectangle(image, (left, top), (left + width + 6, top + tall), paint, -1)
    cv2.putText(image, text, (left + 3, top + height + 2), FONT, 0.5, _ink(paint), 1, cv2.LINE_AA)


def draw(image: np.ndarray, boxes: Sequence[dict], status: str, ok: bool) -> np.ndarray:
    """Boxes, each tagged with its class and score in its class's colour, and a one-line status bar, drawn
    onto image (in place, returned)."""
    for found in boxes:
        x, y, w, h = found["box"]
        paint = colour(found["label"])
        cv2.rectangle(image, (x, y), (x + w, y + h), paint, THICKNESS)
    for found in boxes:  # the tags after all the boxes, so no box line crosses a tag
        _tag(image, "%s %.2f" % (found["label"], found["score"]), found["box"][0], found["box"][1],
             colour(found["label"]))
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
