# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before and after the network, in numpy: letterboxing frames into the network's input, and turning its
output rows into boxes in the frame's pixels (best class per row, score threshold, class filter, per-class
non-maximum suppression).

Two output layouts are read, told apart by their shape and the number of classes C:
- `cxcywh-obj-cls`: (N, boxes, 5 + C): centre x, centre y, width, height, objectness, C class probabilities;
  a row's score for a class is objectness x class probability (darknet, YOLOv3-v7 exports, our converter);
- `cxcywh-cls`: (N, 4 + C, boxes): no objectness, the score is the class probability (YOLOv8 and later).
Box coordinates are in the network input's pixels."""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

PAD_VALUE = 127  # darknet letterboxes with grey 0.5
NMS_IOU = 0.45
# A box lying this much (share of its own area) inside a better box of the same class is the same object seen
# by another of the network's heads (YOLOv3-tiny's 26x26 head often reports a person's or a cup's core inside
# the 13x13 head's whole box); plain IoU misses such pairs, because the inner box is small.
NMS_CONTAIN = 0.8
MAX_DETECTIONS = 100
LAYOUTS = ("cxcywh-obj-cls", "cxcywh-cls")


class Letterbox(NamedTuple):
    """How a frame was placed into the network input: input = frame * scale + (pad_x, pad_y)."""

    scale: float
    pad_x: float
    pad_y: float
    width: int  # the frame's size
    height: int


def letterbox(image: np.ndarray, size: Tuple[int, int], out: np.ndarray) -> Letterbox:
    """Write the BGR uint8 frame into out (3, H, W float32, RGB in 0..1), aspect kept, grey borders."""
    width, height = size
    frame_h, frame_w = image.shape[:2]
    scale = min(width / frame_w, height / frame_h)
    new_w, new_h = max(1, round(frame_w * scale)), max(1, round(frame_h * scale))
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if scale != 1 else image
    if resized.ndim == 2:
        resized = cv2.cvtColor(resized, cv2.COLOR_GRAY2BGR)
    canvas = np.full((height, width, 3), PAD_VALUE, np.uint8)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    np.multiply(canvas[:, :, ::-1].transpose(2, 0, 1), np.float32(1 / 255.0), out=out, casting="unsafe")
    return Letterbox(scale, pad_x, pad_y, frame_w, frame_h)


def layout_of(shape: Sequence, classes: int) -> Optional[str]:
    """The layout of an output of this shape for `classes` classes, None if it is neither."""
    if len(shape) != 3:
        return None
    if shape[2] == 5 + classes:
        return "cxcywh-obj-cls"
    if shape[1] == 4 + classes:
        return "cxcywh-cls"
    return None


def _scores(rows: np.ndarray, layout: str, allowed: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """(class index, score) of each row's best allowed class."""
    probs = rows[:, 5:] * rows[:, 4:5] if layout == "cxcywh-obj-cls" else rows[:, 4:]
    if allowed is not None:
        probs = np.where(allowed[None, :], probs, 0.0)
    best = probs.argmax(axis=1)
    return best, probs[np.arange(len(rows)), best]


def overlaps(box: np.ndarray, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(IoU, share of each box's own area inside `box`) of one x1, y1, x2, y2 box with each of boxes."""
    inter_w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = inter_w * inter_h
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9), inter / np.maximum(areas, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float = NMS_IOU,
        limit: int = MAX_DETECTIONS, contain: float = NMS_CONTAIN) -> np.ndarray:
    """Indexes kept by greedy per-class NMS, best first: a box goes when its IoU with a better box of its class
    is over `threshold`, or when at least `contain` of it lies inside one (1.0 turns that off). Classes never
    suppress each other: each class's boxes are moved to a region of their own (the offset trick), so one pass
    serves every class."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    shifted = boxes + (classes.astype(np.float64) * (boxes.max() + 1.0))[:, None]
    order = np.argsort(-scores, kind="stable")
    keep: List[int] = []
    while order.size and len(keep) < limit:
        first = order[0]
        keep.append(int(first))
        rest = order[1:]
        union, inside = overlaps(shifted[first], shifted[rest])
        order = rest[(union <= threshold) & ((inside < contain) | (contain >= 1.0))]
    return np.array(keep, np.int64)


def decode(rows: np.ndarray, layout: str, placed: Letterbox, threshold: float,
           allowed: Optional[np.ndarray] = None) -> List[Tuple[int, float, Tuple[int, int, int, int]]]:
    """[(class index, score, (x, y, w, h) in the frame's pixels)] for one image's output rows (boxes, values),
    best first."""
    rows = rows.astype(np.float32, copy=False)
    best, score = _scores(rows, layout, allowed)
    chosen = score >= threshold
    if not chosen.any():
        return []
    rows, best, score = rows[chosen], best[chosen], score[chosen]
    half = rows[:, 2:4] / 2
    corners = np.concatenate([rows[:, :2] - half, rows[:, :2] + half], axis=1)
    corners -= np.array([placed.pad_x, placed.pad_y, placed.pad_x, placed.pad_y], np.float32)
    corners /= placed.scale
    corners = np.clip(corners, 0, [placed.width, placed.height, placed.width, placed.height])
    found = []
    for index in nms(corners.astype(np.float64), score, best):
        x1, y1, x2, y2 = corners[index]
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        found.append((int(best[index]), round(float(score[index]), 4),
                      (int(round(x1)), int(round(y1)), int(round(x2 - x1)), int(round(y2 - y1)))))
    return found
