# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A synthetic camera scene: the four shipped photographs (two people, a cup, a cat) drifting slowly over a
moving background, so that consecutive frames differ and a detector has something true to find.

Each photograph takes a moderate share of the frame: an object detector such as YOLOv3-tiny misses a person
or a cat that fills its whole input, but finds it when it is a part of a larger picture; and on a person or a
cup much under 200 px tall its second head often adds an inner box of its own. The photographs never
overlap: each drifts inside its own cell.

`Scene.render(t)` is a pure function of the time t (seconds), and `Scene.known_regions(t)` says where each
hand-labelled object (COCO class names, plus the astronaut's face) is in that frame, which the tests use as
ground truth."""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import images

FEATHER = 10  # px of soft edge around each photograph, so no hard rectangle is pasted into the frame
MAX_SPEED = 12.0  # px/s of a photograph's drift, each way
BAR = 22  # px kept free at the top (the app's status bar) and the bottom (the camera's caption)


def _feather_mask(height: int, width: int) -> np.ndarray:
    ramp_y = np.minimum(np.arange(height), np.arange(height)[::-1]).astype(np.float32)
    ramp_x = np.minimum(np.arange(width), np.arange(width)[::-1]).astype(np.float32)
    mask = np.minimum.outer(ramp_y, ramp_x) / FEATHER
    return np.clip(mask, 0.0, 1.0)[:, :, None]


def _scale_box(box, crop_x, crop_y, factor):
    x, y, w, h = box
    return (round((x - crop_x) * factor), round((y - crop_y) * factor), round(w * factor), round(h * factor))


def _drift(span: int, t: float, period: float, phase: float) -> int:
    """0..span, sinusoidal in t; the period is stretched where needed to keep within MAX_SPEED."""
    period = max(period, math.pi * span / MAX_SPEED)
    return round(span * (0.5 + 0.5 * math.sin(2 * math.pi * t / period + phase)))


class Sprite:
    """One photograph, cropped and scaled to `height` px (less where its cell is smaller), with its known regions
    [(label, (x, y, w, h))] in the sprite's own pixels."""

    def __init__(self, name, crop, known, height, cell_w, cell_h):
        cx, cy, cw, ch = crop
        image = images.load(name)[cy:cy + ch, cx:cx + cw]
        factor = min(height / ch, cell_h / ch, cell_w / cw)
        self.image = cv2.resize(image, (round(cw * factor), round(ch * factor)),
                                interpolation=cv2.INTER_AREA).astype(np.float32)
        self.mask = _feather_mask(*self.image.shape[:2])
        self.known = [(label, _scale_box(box, cx, cy, factor)) for label, box in known]

    @property
    def size(self):
        return self.image.shape[1], self.image.shape[0]


# (photograph, crop in its own pixels, its known regions, its height and its cell (x, y, w, h), as fractions of
# the frame's width and of the height between the bars). The astronaut, the cameraman and the cup side by side
# on top, the cat below them drifting across the whole width; no two cells overlap. At 640x480 these sizes let
# YOLOv3-tiny find each object once in every frame (tests/unit/vision/test_parts.py measures it).
PHOTOGRAPHS = [
    (images.ASTRONAUT, (0, 0, 420, 512), [("face", images.ASTRONAUT_FACE), ("person", images.ASTRONAUT_PERSON)],
     0.6, (0.0, 0.0, 0.34, 0.6)),
    (images.CAMERAMAN, (0, 40, 350, 472), [("person", images.CAMERAMAN_PERSON)], 0.57, (0.34, 0.0, 0.28, 0.6)),
    (images.CHELSEA, (0, 0, 410, 300), [("cat", images.CHELSEA_CAT)], 0.38, (0.0, 0.6, 1.0, 0.4)),
    (images.COFFEE, (120, 0, 340, 330), [("cup", images.COFFEE_CUP)], 0.52, (0.62, 0.0, 0.38, 0.6)),
]


class Scene:
    """Frames of width x height; 25 fps or any other rate, the picture depends only on t."""

    def __init__(self, width: int = 640, height: int = 480):
        if width < 160 or height < 120:
            raise ValueError("synthetic scene needs at least 160x120, got %dx%d" % (width, height))
        self.width, self.height = width, height
        usable = height - 2 * BAR
        # each photograph's cell: top-left corner and size in frame pixels
        self.cells = [(round(fx * width), BAR + round(fy * usable), round(fw * width), round(fh * usable))
                      for _name, _crop, _known, _height, (fx, fy, fw, fh) in PHOTOGRAPHS]
        self.sprites = [Sprite(name, crop, known, share * usable, cell[2], cell[3])
                        for (name, crop, known, share, _cell), cell in zip(PHOTOGRAPHS, self.cells)]
        self._background = self._make_background()

    def _make_background(self) -> np.ndarray:
        ys, xs = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        sky = np.stack([200 - 60 * ys / self.height, 170 - 40 * ys / self.height,
                        120 + 20 * ys / self.height], axis=-1)
        # a whole number of periods across the width, so rolling it sideways leaves no seam
        waves = 12 * np.sin(2 * np.pi * 9 * xs / self.width)[:, :, None] * np.cos(ys / 53.0)[:, :, None]
        return np.clip(sky + waves, 0, 255).astype(np.float32)

    def layout(self, t: float):
        """[(sprite, (x, y))] top-left corners at time t: a slow sinusoidal drift of each photograph inside its
        own cell, at most MAX_SPEED px/s each way (so boxes from a detector a second behind still fit)."""
        placed = []
        for index, (sprite, (cell_x, cell_y, cell_w, cell_h)) in enumerate(zip(self.sprites, self.cells)):
            w, h = sprite.size
            x = cell_x + _drift(cell_w - w, t, 20.0 + 3 * index, index)
            y = cell_y + _drift(cell_h - h, t, 15.0 + 2 * index, 2 * index)
            placed.append((sprite, (x, y)))
        return placed

    def known_regions(self, t: float):
        """[(label, [x, y, w, h])] of each known object in the frame at time t: the astronaut's face, then
        person, person, cat, cup."""
        return [(label, [x + box[0], y + box[1], box[2], box[3]])
                for sprite, (x, y) in self.layout(t) for label, box in sprite.known]

    def render(self, t: float, caption: str = "") -> np.ndarray:
        shift = int(t * 40) % self.width
        frame = np.roll(self._background, shift, axis=1)
        for sprite, (x, y) in self.layout(t):
            w, h = sprite.size
            region = frame[y:y + h, x:x + w]
            region *= 1.0 - sprite.mask
            region += sprite.image * sprite.mask
        out = frame.astype(np.uint8)
        if caption:
            cv2.rectangle(out, (0, self.height - BAR), (self.width, self.height), (30, 30, 30), -1)
            cv2.putText(out, caption, (6, self.height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1,
                        cv2.LINE_AA)
        return out
