# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The photographs shipped in the package (sources and licences in vision/README.md) and where the objects
in each are, labelled by hand with their COCO class, in the image's own pixels as [x, y, w, h]."""

from __future__ import annotations

from importlib import resources

import cv2
import numpy as np

# Eileen Collins, NASA portrait (public domain), 512x512 colour: her frontal face, and her from the hair to
# the bottom edge, arms included, the helmet she holds at the right not.
ASTRONAUT = "astronaut.jpg"
ASTRONAUT_FACE = (172, 58, 108, 112)
ASTRONAUT_PERSON = (20, 14, 345, 498)
# The cameraman with a tripod, by Lav Varshney (CC0), 512x512 grey; a profile face, knees up. The box is the
# man, from his hair to his hands on the camera; the tripod's legs at the right are not in it.
CAMERAMAN = "cameraman.jpg"
CAMERAMAN_PERSON = (0, 64, 332, 448)
# Chelsea the cat, by Stefan van der Walt (CC0), 451x300 colour: the head and chest up to the right ear.
CHELSEA = "chelsea.jpg"
CHELSEA_CAT = (0, 0, 400, 300)
# An espresso cup on a saucer, by Rachel Michetti (CC0), 600x400 colour: the cup with its handle, not the
# saucer or the spoon.
COFFEE = "coffee.jpg"
COFFEE_CUP = (173, 18, 237, 282)


def data_bytes(name: str) -> bytes:
    """The raw bytes of a file in wiremesh_vision/data (read from the installed package, no network)."""
    return resources.files("wiremesh_vision").joinpath("data").joinpath(name).read_bytes()


def load(name: str) -> np.ndarray:
    """A shipped image as a BGR array."""
    image = cv2.imdecode(np.frombuffer(data_bytes(name), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError("shipped image %s does not decode; the package data is damaged" % name)
    return image
