# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `torch` backend: Dalal-Triggs HOG people detection (torch_hog) on a CUDA GPU when there is one, else on
the CPU, several frames per forward pass. The SVM weights ship in this package (torch_hog_svm); nothing is
downloaded and OpenCV's own HOG is not needed, so it also runs beside OpenCV 5.

Frames of one size are stacked and run `max_batch` at a time; detect_batch() is the batch API (the benchmark
uses it), detect() one frame. Scores follow the backends' convention: the logistic of the SVM decision value,
as the OpenCV `hog-people` backend reports it, so the two rank and threshold alike."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from . import DEVICES, BackendError, Detection, detections

try:
    import torch

    from . import torch_hog
except ImportError as exc:  # torch is an optional extra: create() says how to get it
    torch = None  # pylint: disable=invalid-name
    IMPORT_ERROR = str(exc)
else:
    IMPORT_ERROR = ""

MAX_BATCH = 32  # frames per forward pass; a larger batch only costs memory once the GPU is busy


def resolve_device(device: str) -> str:
    """"cpu" or "cuda" for the --device choice; BackendError if it cannot be had here."""
    if device not in DEVICES:
        raise BackendError("unknown device %r (choose one of %s)" % (device, ", ".join(DEVICES)))
    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if device == "cuda" and not available:
        raise BackendError("backend torch: --device cuda, but PyTorch %s sees no usable CUDA GPU here (%s); use "
                           "--device cpu or auto" % (torch.__version__, "built for CUDA %s" % torch.version.cuda
                                                     if torch.version.cuda else "a CPU-only build"))
    return device


class TorchHogPeople:
    """People (label "person") in BGR uint8 frames; `options` go to torch_hog.TorchHog (scale, padding, ...)."""

    name = "torch"
    labels = ("person",)

    def __init__(self, device: str = "auto", max_batch: int = MAX_BATCH, **options):
        if torch is None:
            raise BackendError("backend torch needs PyTorch, which cannot be imported here (%s): "
                               "pip install 'wiremesh-vision[torch]'" % IMPORT_ERROR)
        if max_batch < 1:
            raise ValueError("max_batch must be 1 or more, got %r" % (max_batch,))
        self.device = resolve_device(device)
        self.max_batch = int(max_batch)
        if self.device == "cuda":
            # process-wide, for the detector's process: let cuDNN time its algorithms for these shapes (a
            # camera's frames keep one size), and keep convolutions in float32: cuDNN's default TF32 rounds
            # the inputs to 10-bit mantissas, which moves SVM decision values and so detections near the
            # threshold away from what the CPU finds
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.allow_tf32 = False
        self.model = torch_hog.TorchHog(**options).to(self.device).eval()

    def detect(self, image: np.ndarray) -> List[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> List[List[Detection]]:
        """The detections in each image, in order; same-sized images share forward passes."""
        by_shape: dict = {}
        for number, image in enumerate(images):
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
                raise ValueError("image %d is not a uint8 BGR or grey numpy array" % number)
            by_shape.setdefault(image.shape, []).append(number)
        found: List[List[Detection]] = [[] for _image in images]
        for numbers in by_shape.values():
            for start in range(0, len(numbers), self.max_batch):
                chunk = numbers[start:start + self.max_batch]
                for number, (boxes, margins) in zip(chunk, self.model(self._frames([images[n] for n in chunk]))):
                    found[number] = detections("person", boxes.tolist(), margins.tolist())
        return found

    def _frames(self, images: Sequence[np.ndarray]) -> "torch.Tensor":
        frames = torch.from_numpy(np.stack(images))
        if frames.dim() == 3:  # grey
            frames = frames.unsqueeze(-1)
        if self.device == "cuda":
            return frames.pin_memory().to(self.device, non_blocking=True)
        return frames

    def versions(self) -> dict:
        found = {"torch": torch.__version__, "torch_cuda": torch.version.cuda or "none",
                 "nms": "torchvision" if torch_hog.torchvision_batched_nms is not None else "torch"}
        if self.device == "cuda":
            found["gpu"] = torch.cuda.get_device_name(torch.device(self.device))
        return found


def create(device: str) -> TorchHogPeople:
    """The backend factory the registry calls (wiremesh_vision.backends.BUILTIN["torch"])."""
    return TorchHogPeople(device)
