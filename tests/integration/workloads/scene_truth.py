"""Where the people are in a frame of the demo's synthetic scene, found the way a person would check it: each
person photograph of the scene (wiremesh_vision.scene) is located in the frame by template matching, and its
hand-labelled person box (wiremesh_vision.images) is moved there. Works on annotated frames too: the drawn
boxes change too few pixels to move the match."""

import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if os.path.join(ROOT, "vision") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "vision"))

from wiremesh_vision.scene import Scene  # noqa: E402  pylint: disable=wrong-import-position

MIN_MATCH = 0.7  # normalised correlation of a located photograph


def regions(frame, label="person"):
    """[(x, y, w, h)] of every `label` object of the scene in this BGR frame; AssertionError when a photograph
    that holds one cannot be located (not a frame of the scene)."""
    scene = Scene(frame.shape[1], frame.shape[0])
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    found = []
    for sprite in scene.sprites:
        boxes = [box for name, box in sprite.known if name == label]
        if not boxes:
            continue
        photo = cv2.cvtColor(np.clip(sprite.image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        margin = 12  # the photograph's feathered edge blends into the background: match its inside
        core = photo[margin:-margin, margin:-margin]
        scores = cv2.matchTemplate(grey, core, cv2.TM_CCOEFF_NORMED)
        _low, best, _where, (x, y) = cv2.minMaxLoc(scores)
        assert best >= MIN_MATCH, ("photograph not found in the frame", best)
        found += [(x - margin + bx, y - margin + by, bw, bh) for bx, by, bw, bh in boxes]
    return found
