# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenCV's classic detectors, with the data files that opencv-python-headless 4.x ships (nothing is
downloaded): Viola-Jones Haar cascade for frontal faces, Dalal-Triggs HOG + linear SVM for standing people."""

from __future__ import annotations

import os
from typing import List

import cv2
import numpy as np

from . import BackendError, Detection, cpu_only, detections

FACE_CASCADE = "haarcascade_frontalface_default.xml"


class _OpenCV:
    labels = ()
    name = ""
    score_meaning = "logistic of the classifier's margin past its decision threshold: 0.5 = on the threshold"

    def __init__(self, device: str):
        self.device = cpu_only(self.name, device)

    def versions(self) -> dict:
        return {"opencv": cv2.__version__, "numpy": np.__version__}


class HaarFaces(_OpenCV):
    name = "haar-faces"
    labels = ("face",)

    def __init__(self, device: str):
        super().__init__(device)
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        path = os.path.join(folder, FACE_CASCADE)
        self.cascade = cv2.CascadeClassifier(path) if os.path.isfile(path) else None
        if self.cascade is None or self.cascade.empty():
            raise BackendError("cannot load the Haar cascade %s from OpenCV %s (OpenCV 5 no longer ships it: "
                               "install opencv-python-headless>=4.8,<5)" % (path or FACE_CASCADE, cv2.__version__))

    def detect(self, image: np.ndarray) -> List[Detection]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        boxes, _levels, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24), outputRejectLevels=True)
        return detections("face", boxes, np.ravel(weights))


class HogPeople(_OpenCV):
    name = "hog-people"
    labels = ("person",)
    window = (64, 128)  # the people detector's window: smaller images cannot hold a person

    def __init__(self, device: str):
        super().__init__(device)
        if not hasattr(cv2, "HOGDescriptor"):
            raise BackendError("OpenCV %s has no HOG people detector (OpenCV 5 dropped it): install "
                               "opencv-python-headless>=4.8,<5, or use --backend yolo" % cv2.__version__)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray) -> List[Detection]:
        if image.shape[1] < self.window[0] or image.shape[0] < self.window[1]:
            return []
        boxes, weights = self.hog.detectMultiScale(image, hitThreshold=0.0, winStride=(8, 8), padding=(8, 8),
                                                   scale=1.05)
        return detections("person", boxes, np.ravel(weights))


class OpenCVClassic(_OpenCV):
    name = "opencv-classic"
    labels = ("face", "person")

    def __init__(self, device: str):
        super().__init__(device)
        self.parts = (HaarFaces(device), HogPeople(device))

    def detect(self, image: np.ndarray) -> List[Detection]:
        return [found for part in self.parts for found in part.detect(image)]
