# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A synthetic camera scene: the two shipped photographs (a real face, a real person) drifting over a moving
background, so that consecutive frames differ and a detector has something true to find.

`Scene.render(t)` is a pure function of the time t (seconds), and `Scene.layout(t)` says where each photograph
and its known face/person are in that frame, which the tests use as ground truth."""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import images

FEATHER = 10  # px of soft edge around each photograph, so no hard rectangle is pasted into the frame


def _feather_mask(height: int, width: int) -> np.ndarray:
    ramp_y = np.minimum(np.arange(height), np.arange(height)[::-1]).astype(np.float32)
    ramp_x = np.minimum(np.arange(width), np.arange(width)[::-1]).astype(np.float32)
    mask = np.minimum.outer(ramp_y, ramp_x) / FEATHER
    return np.clip(mask, 0.0, 1.0)[:, :, None]


def _scale_box(box, crop_x, crop_y, factor):
    x, y, w, h = box
    return (round((x - crop_x) * factor), round((y - crop_y) * factor), round(w * factor), round(h * factor))


class Sprite:
    """One photograph, cropped and scaled for a frame of the given height, with its known region."""

    def __init__(self, name, crop, known, label, frame_height, share):
        cx, cy, cw, ch = crop
        image = images.load(name)[cy:cy + ch, cx:cx + cw]
        factor = frame_height * share / ch
        self.image = cv2.resize(image, (round(cw * factor), round(ch * factor)),
                                interpolation=cv2.INTER_AREA).astype(np.float32)
        self.mask = _feather_mask(*self.image.shape[:2])
        self.known = _scale_box(known, cx, cy, factor)
        self.label = label

    @property
    def size(self):
        return self.image.shape[1], self.image.shape[0]


class Scene:
    """Frames of width x height; 25 fps or any other rate, the picture depends only on t."""

    def __init__(self, width: int = 640, height: int = 480):
        if width < 160 or height < 120:
            raise ValueError("synthetic scene needs at least 160x120, got %dx%d" % (width, height))
        self.width, self.height = width, height
        self.sprites = [
            Sprite(images.ASTRONAUT, (40, 0, 400, 400), images.ASTRONAUT_FACE, "face", height, 0.46),
            Sprite(images.CAMERAMAN, (0, 20, 420, 492), images.CAMERAMAN_PERSON, "person", height, 0.38),
        ]
        self._background = self._make_background()

    def _make_background(self) -> np.ndarray:
        ys, xs = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        sky = np.stack([200 - 60 * ys / self.height, 170 - 40 * ys / self.height,
                        120 + 20 * ys / self.height], axis=-1)
        # a whole number of periods across the width, so rolling it sideways leaves no seam
        waves = 12 * np.sin(2 * np.pi * 9 * xs / self.width)[:, :, None] * np.cos(ys / 53.0)[:, :, None]
        return np.clip(sky + waves, 0, 255).astype(np.float32)

    def layout(self, t: float):
        """[(sprite, (x, y))] top-left corners at time t: a slow sinusoidal drift, each inside the frame."""
        placed = []
        for index, sprite in enumerate(self.sprites):
            w, h = sprite.size
            span_x = max(self.width // 2 - w, 0)
            base_x = index * (self.width // 2)
            # slow enough (at most ~20 px/s) that boxes from a detector a second behind still fit
            x = base_x + round(span_x * (0.5 + 0.5 * math.sin(2 * math.pi * t / (20.0 + 6 * index) + index)))
            y = round((self.height - h) * (0.35 + 0.12 * math.sin(2 * math.pi * t / (15.0 + 4 * index))))
            placed.append((sprite, (min(max(x, 0), self.width - w), min(max(y, 0), self.height - h))))
        return placed

    def known_regions(self, t: float):
        """[(label, [x, y, w, h])] of the real face and person in the frame at time t."""
        return [(sprite.label, [x + sprite.known[0], y + sprite.known[1], sprite.known[2], sprite.known[3]])
                for sprite, (x, y) in self.layout(t)]

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
            cv2.rectangle(out, (0, self.height - 22), (self.width, self.height), (30, 30, 30), -1)
            cv2.putText(out, caption, (6, self.height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1,
                        cv2.LINE_AA)
        return out
