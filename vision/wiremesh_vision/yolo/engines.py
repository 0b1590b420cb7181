# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two engines that run a YOLO ONNX model, and the automatic choice between them.

- `onnxruntime`: an InferenceSession on the CPU, or with the CUDA execution provider where the installed
  onnxruntime has it (the onnxruntime-gpu wheel) and it loads; a session that silently fell back to the CPU
  does not count as CUDA.
- `torch`: the same ONNX graph run by PyTorch (torch_graph), on a CUDA GPU where torch sees one; needs the
  `onnx` package to read the file.

choose() tries, in order: for device `cuda` onnxruntime-CUDA then torch-CUDA; for `cpu` onnxruntime then
torch; for `auto` the CUDA order, then the CPU order. An explicit engine narrows the list to it. When nothing
works, the error lists why each one could not be used."""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import numpy as np

from .errors import EngineUnavailable, ModelError
from .model_file import ModelFile

ENGINES = ("onnxruntime", "torch")
DEVICES = ("cpu", "cuda", "auto")


class OnnxRuntimeEngine:
    name = "onnxruntime"

    def __init__(self, model: ModelFile, device: str, threads: int = 1):
        try:
            import onnxruntime as ort  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise EngineUnavailable("onnxruntime is not installed (%s): pip install 'wiremesh-vision[yolo]'"
                                    % exc) from None
        self.ort = ort
        if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise EngineUnavailable("onnxruntime %s has no CUDA execution provider (providers: %s; the CPU wheel "
                                    "'onnxruntime' never has it, 'onnxruntime-gpu' does)"
                                    % (ort.__version__, ", ".join(ort.get_available_providers())))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: a missing CUDA library is reported below, once
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(model.data, options, providers=providers)
        except Exception as exc:  # pylint: disable=broad-except  # onnxruntime raises its own Fail/InvalidGraph/...
            raise ModelError("model file %s is not an ONNX model onnxruntime can load: %s"
                             % (model.path, str(exc).strip().splitlines()[0][:300])) from None
        self.provider = self.session.get_providers()[0]
        if device == "cuda" and self.provider != "CUDAExecutionProvider":
            raise EngineUnavailable("onnxruntime could not start its CUDA provider here (the CUDA/cuDNN libraries it "
                                    "needs did not load) and fell back to %s" % self.provider)
        self.device = device
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ModelError("model file %s has %d inputs; a YOLO model has one image input" % (model.path,
                                                                                                len(inputs)))
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_shape = list(inputs[0].shape)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def versions(self) -> dict:
        return {"onnxruntime": self.ort.__version__, "provider": self.provider}


class TorchEngine:
    name = "torch"

    def __init__(self, model: ModelFile, device: str, threads: int = 1):
        try:
            import torch  # pylint: disable=import-outside-toplevel

            from . import torch_graph  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise EngineUnavailable("PyTorch or onnx is not installed (%s): pip install 'wiremesh-vision[torch]'"
                                    % exc) from None
        self.torch = torch
        if device == "cuda" and not torch.cuda.is_available():
            raise EngineUnavailable("PyTorch %s sees no usable CUDA GPU (%s)" % (
                torch.__version__, "built for CUDA %s" % torch.version.cuda if torch.version.cuda else "a CPU-only build"))
        if device == "cpu":
            torch.set_num_threads(max(1, int(threads)))
        self.graph = torch_graph.load(model.data, model.path, device)
        self.device = device
        self.provider = "cuda:%s" % torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
        self.input_shape = self.graph.input_shape
        self.metadata = self.graph.metadata

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.graph.run(batch)

    def versions(self) -> dict:
        found = {"torch": self.torch.__version__, "torch_cuda": self.torch.version.cuda or "none"}
        if self.device == "cuda":
            found["gpu"] = self.torch.cuda.get_device_name(0)
        return found


FACTORIES = {"onnxruntime": OnnxRuntimeEngine, "torch": TorchEngine}


def candidates(engine: str, device: str) -> List[Tuple[str, str]]:
    """(engine, device) pairs to try, in order."""
    if engine not in ENGINES + ("auto",):
        raise EngineUnavailable("unknown engine %r (choose auto, %s)" % (engine, ", ".join(ENGINES)))
    if device not in DEVICES:
        raise EngineUnavailable("unknown device %r (choose one of %s)" % (device, ", ".join(DEVICES)))
    devices = ["cuda", "cpu"] if device == "auto" else [device]
    engines = list(ENGINES) if engine == "auto" else [engine]
    return [(e, d) for d in devices for e in engines]


def choose(model: ModelFile, engine: str = "auto", device: str = "auto", threads: int = 1,
           factories: Optional[dict] = None):
    """The first engine of candidates() that loads the model; EngineUnavailable listing every refusal."""
    factories = factories or FACTORIES
    reasons = []
    for name, where in candidates(engine, device):
        make: Callable = factories[name]
        try:
            return make(model, where, threads)
        except EngineUnavailable as exc:
            reasons.append("%s on %s: %s" % (name, where, exc))
    raise EngineUnavailable("no engine can run %s with --engine %s --device %s here: %s"
                            % (model.path, engine, device, "; ".join(reasons)))
