# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The photographs shipped in the package (sources and licences in vision/README.md) and where the known
face and person are in each, in the image's own pixels as [x, y, w, h]."""

from __future__ import annotations

from importlib import resources

import cv2
import numpy as np

# Eileen Collins, NASA portrait (public domain), 512x512 colour.
ASTRONAUT = "astronaut.jpg"
ASTRONAUT_FACE = (172, 58, 108, 112)
# The cameraman with a tripod, by Lav Varshney (CC0), 512x512 grey; a profile face, knees up.
CAMERAMAN = "cameraman.jpg"
CAMERAMAN_PERSON = (0, 62, 340, 450)


def data_bytes(name: str) -> bytes:
    """The raw bytes of a file in wiremesh_vision/data (read from the installed package, no network)."""
    return resources.files("wiremesh_vision").joinpath("data").joinpath(name).read_bytes()


def load(name: str) -> np.ndarray:
    """A shipped image as a BGR array."""
    image = cv2.imdecode(np.frombuffer(data_bytes(name), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError("shipped image %s does not decode; the package data is damaged" % name)
    return image
