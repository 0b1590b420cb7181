# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check an uploaded JPEG before decoding it: markers in place, not truncated, a sane size (no decompression
bomb), then decode. Every failure is a BadImage with a message fit for the client."""

from __future__ import annotations

import struct

import cv2
import numpy as np

MAX_PIXELS = 40_000_000  # 40 megapixels: a larger upload is refused before it is decoded
# start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry height and width
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
STANDALONE = {0x01} | set(range(0xD0, 0xD8))  # TEM and RSTn carry no length


class BadImage(ValueError):
    """The body is not a usable JPEG."""


def dimensions(data: bytes):
    """(width, height) from the JPEG header; BadImage if it is not a complete JPEG."""
    if not data:
        raise BadImage("empty body: send the JPEG bytes")
    if data[:2] != b"\xff\xd8":
        raise BadImage("not a JPEG: it does not start with the SOI marker FF D8")
    if not data.rstrip(b"\x00\r\n").endswith(b"\xff\xd9"):
        raise BadImage("truncated JPEG: no EOI marker FF D9 at the end")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BadImage("corrupt JPEG: expected a marker at byte %d" % pos)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise BadImage("truncated JPEG: segment %02X at byte %d runs past the end" % (marker, pos))
        if marker in SOF_MARKERS:
            if length < 7:
                raise BadImage("corrupt JPEG: short frame header")
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            if not width or not height:
                raise BadImage("corrupt JPEG: %dx%d image" % (width, height))
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise BadImage("corrupt JPEG: no frame header (SOF) before the image data")


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The JPEG as a BGR array, after the checks above."""
    width, height = dimensions(data)
    if width * height > max_pixels:
        raise BadImage("image of %dx%d is over the %d pixel limit" % (width, height, max_pixels))
    # stored pixel order, so boxes match what the client sent (no EXIF rotation)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise BadImage("the JPEG does not decode")
    if image.shape[:2] != (height, width):
        raise BadImage("the JPEG decodes to %dx%d, not the %dx%d its header says"
                       % (image.shape[1], image.shape[0], width, height))
    return image


def encode(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a %s frame as JPEG" % (image.shape,))
    return buf.tobytes()
