# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the camera's pictures come from: a V4L2 webcam (/dev/videoN through OpenCV), a video file (looped),
or the synthetic scene; and the one capture thread that turns them into JPEG frames for every client."""

from __future__ import annotations

import glob
import logging
import re
import threading
import time
from typing import Callable, Optional

import cv2
import numpy as np

from . import jpeg
from .mjpeg import Frame
from .scene import Scene

LOG = logging.getLogger("wiremesh-camera")


class SourceError(RuntimeError):
    """The asked-for source cannot be opened."""


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] != width or image.shape[0] != height:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


class Synthetic:
    kind = "synthetic"

    def __init__(self, width: int, height: int):
        self.scene = Scene(width, height)
        self.started = time.time()
        self.description = "synthetic scene %dx%d (shipped photographs)" % (width, height)

    def read(self, seq: int) -> Optional[np.ndarray]:
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + ".%03d" % int(now % 1 * 1000)
        return self.scene.render(now - self.started, "wiremesh edge camera  frame %d  %s" % (seq, stamp))

    def close(self) -> None:
        pass


class Capture:
    """An OpenCV VideoCapture of a device or a file, resized to the asked size."""

    def __init__(self, kind: str, target, width: int, height: int, fps: float):
        self.kind, self.target, self.width, self.height = kind, target, width, height
        if kind == "device":
            self.cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            self.cap.set(cv2.CAP_PROP_FPS, fps)
            self.description = "V4L2 device /dev/video%d" % target
        else:
            self.cap = cv2.VideoCapture(target)
            self.description = "video file %s (looped)" % target
        ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok or first is None:
            self.cap.release()
            raise SourceError("cannot read a frame from %s" % self.description)
        self._first: Optional[np.ndarray] = first

    def read(self, _seq: int) -> Optional[np.ndarray]:
        if self._first is not None:
            image, self._first = self._first, None
            return _fit(image, self.width, self.height)
        ok, image = self.cap.read()
        if not ok and self.kind == "file":  # end of the file: start again
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self.cap.read()
        return _fit(image, self.width, self.height) if ok and image is not None else None

    def close(self) -> None:
        self.cap.release()


def video_devices():
    """Indexes N of /dev/videoN, in order."""
    found = [re.fullmatch(r"/dev/video(\d+)", path) for path in glob.glob("/dev/video*")]
    return sorted(int(match.group(1)) for match in found if match)


def open_source(device: str, video: Optional[str], synthetic: bool, width: int, height: int, fps: float):
    """The source the flags ask for. device is 'auto' (the first /dev/video* that gives a frame, else the
    synthetic scene) or a number (that device, or SourceError)."""
    if synthetic:
        return Synthetic(width, height)
    if video:
        return Capture("file", video, width, height, fps)
    if device != "auto":
        return Capture("device", int(device), width, height, fps)
    for index in video_devices():
        try:
            return Capture("device", index, width, height, fps)
        except SourceError as exc:
            LOG.info("skipping /dev/video%d: %s", index, exc)
    LOG.info("no working /dev/video* device: using the synthetic scene")
    return Synthetic(width, height)


class CaptureThread(threading.Thread):
    """Reads the source at most fps times a second, encodes each picture once and hands the Frame to publish.
    A device that stops giving frames is reopened every 2 s; clients just see no new frame meanwhile."""

    def __init__(self, source, fps: float, quality: int, publish: Callable[[Frame], bool], reopen=None):
        super().__init__(name="capture", daemon=True)
        self.source, self.period, self.quality, self.publish = source, 1.0 / fps, quality, publish
        self.reopen = reopen
        self.stop_event = threading.Event()
        self.frames = 0

    def _recover(self) -> None:
        LOG.warning("%s gave no frame; reopening in 2 s", self.source.description)
        self.source.close()
        while not self.stop_event.wait(2.0):
            try:
                self.source = self.reopen()
            except SourceError as exc:
                LOG.warning("%s; retrying in 2 s", exc)
                continue
            LOG.info("capturing from %s again", self.source.description)
            return

    def run(self) -> None:
        next_due = time.monotonic()
        while not self.stop_event.is_set():
            try:
                image = self.source.read(self.frames)
            except cv2.error as exc:
                LOG.warning("reading %s failed: %s", self.source.description, exc)
                image = None
            captured = time.time()
            if image is None:
                if self.reopen is None:
                    return
                self._recover()
                next_due = time.monotonic()
                continue
            frame = Frame(self.frames, jpeg.encode(image, self.quality), captured)
            if not self.publish(frame):
                return
            self.frames += 1
            next_due += self.period
            delay = next_due - time.monotonic()
            if delay < -self.period:  # fell behind (slow source or a busy CPU): do not try to catch up
                next_due = time.monotonic()
            elif delay > 0:
                self.stop_event.wait(delay)
        self.source.close()

    def stop(self) -> None:
        self.stop_event.set()
