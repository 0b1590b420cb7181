# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wiremesh-detector: POST a JPEG to /v1/detect, get the labelled objects in it as JSON.

The default backend is `yolo` (COCO objects, on onnxruntime or PyTorch, CPU or CUDA). Requests that arrive
together are gathered into batches (batcher: at most --max-batch frames, waiting at most --max-wait-ms for
them) and run by one worker thread per backend instance, so the event loop keeps answering. At most
workers x max-batch + queue requests are admitted at once; past that the answer is 503 with Retry-After, at
once, never a growing queue. A bad upload gets a 4xx JSON error and the server keeps serving. A backend or
model that cannot be used stops the start with one message naming it (exit 2)."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
import time
from typing import Optional

import aiohttp
import cv2
import numpy as np
from aiohttp import web

from . import __version__, backends, jpeg, service
from .batcher import Batcher

LOG = logging.getLogger("wiremesh-detector")
JPEG_TYPES = ("image/jpeg", "image/jpg", "image/pjpeg")
DESCRIPTION = "Detect labelled objects in JPEG images: POST /v1/detect, GET /v1/model, GET /healthz."


class TooLarge(Exception):
    pass


class Detector:
    def __init__(self, backend: str, device: str, workers: int, backlog: int, max_body: int, max_batch: int = 1,
                 max_wait: float = 0.0, options: Optional[dict] = None):
        # one instance per worker thread; creating them here also fails early on a bad backend, device or model
        self.instances = [backends.create(backend, device, **(options or {})) for _instance in range(workers)]
        self.max_batch = max(1, min(max_batch, getattr(self.instances[0], "max_batch", max_batch)))
        self.batcher = Batcher(self.instances, self.max_batch, max_wait, lambda: self.in_flight)
        self.workers, self.backlog, self.max_body, self.max_wait = workers, backlog, max_body, max_wait
        self.in_flight = 0
        self.counts = {"requests": 0, "served": 0, "busy": 0, "bad_requests": 0, "errors": 0}

    @property
    def backend(self):
        return self.instances[0]

    @property
    def capacity(self) -> int:
        """Requests admitted at once: a full batch on every worker, plus the backlog waiting for one."""
        return self.workers * self.max_batch + self.backlog

    async def _detect(self, body: bytes) -> dict:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(None, jpeg.decode, body)
        decoded = time.perf_counter()
        done = await asyncio.wrap_future(self.batcher.submit(image))
        instance = self.backend
        return {"boxes": [d.as_dict() for d in done.detections], "backend": instance.name,
                "device": instance.device, "engine": getattr(getattr(instance, "engine", None), "name", "opencv"),
                "width": int(image.shape[1]), "height": int(image.shape[0]), "batch": done.batch,
                "decode_ms": round((decoded - started) * 1000, 2), "queue_ms": done.queue_ms,
                "detect_ms": done.detect_ms}

    async def _read_body(self, request: web.Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_body:
                raise TooLarge()
            chunks.append(chunk)
        return b"".join(chunks)

    def _refuse(self, status: int, message: str, **headers) -> web.Response:
        self.counts["busy" if status == 503 else "bad_requests"] += 1
        LOG.info("refused %d: %s", status, message)
        return service.json_error(status, message, **headers)

    async def handle_detect(self, request: web.Request) -> web.Response:
        self.counts["requests"] += 1
        if request.content_type not in JPEG_TYPES:
            return self._refuse(415, "Content-Type must be image/jpeg, not %r" % request.content_type)
        if request.content_length is not None and request.content_length > self.max_body:
            return self._refuse(413, "body of %d bytes is over the %d byte limit (--max-body)"
                                % (request.content_length, self.max_body))
        if self.in_flight >= self.capacity:
            return self._refuse(503, "busy: %d requests in progress" % self.in_flight, **{"Retry-After": "1"})
        self.in_flight += 1
        received = time.perf_counter()
        try:
            body = await self._read_body(request)
            received = time.perf_counter()
            result = await self._detect(body)
        except TooLarge:
            return self._refuse(413, "body is over the %d byte limit (--max-body)" % self.max_body)
        except jpeg.BadImage as exc:
            return self._refuse(400, str(exc))
        finally:
            self.in_flight -= 1
        result["elapsed_ms"] = round((time.perf_counter() - received) * 1000, 2)
        self.counts["served"] += 1
        return web.json_response(result)

    def model(self) -> dict:
        versions = {"wiremesh_vision": __version__, "python": platform.python_version(), "opencv": cv2.__version__,
                    "numpy": np.__version__, "aiohttp": aiohttp.__version__}
        versions.update(self.backend.versions())
        found = {"backend": self.backend.name, "device": self.backend.device, "labels": list(self.backend.labels),
                 "engine": "opencv", "provider": "opencv-cpu", "workers": self.workers, "queue": self.backlog,
                 "max_batch": self.max_batch, "max_wait_ms": round(self.max_wait * 1000, 2),
                 "capacity": self.capacity, "max_body": self.max_body, "versions": versions,
                 "score": getattr(self.backend, "score_meaning", "")}
        if hasattr(self.backend, "describe"):
            found.update(self.backend.describe())
            found["max_batch"] = self.max_batch
        return found

    async def handle_model(self, _request: web.Request) -> web.Response:
        return web.json_response(self.model())

    async def handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.counts, status="ok", backend=self.backend.name, batches=self.batcher.batches,
                                      in_flight=self.in_flight, capacity=self.capacity))

    async def close(self, _app) -> None:
        self.batcher.close()


def make_app(detector: Detector, max_body: int) -> web.Application:
    app = web.Application(middlewares=[service.json_errors], client_max_size=max_body)
    app.router.add_post("/v1/detect", detector.handle_detect)
    app.router.add_get("/v1/model", detector.handle_model)
    app.router.add_get("/healthz", detector.handle_health)
    app.on_cleanup.append(detector.close)
    return app


YOLO_OPTIONS = {"model": "--model", "sha256": "--sha256", "labels": "--labels", "engine": "--engine",
                "threads": "--threads", "score_threshold": "--score-threshold", "classes": "--classes",
                "input_size": "--input-size"}


def main(argv: Optional[list] = None) -> int:
    parse = service.parser("wiremesh-detector", DESCRIPTION, 8082)
    parse.add_argument("--backend", default="yolo", metavar="NAME",
                       help="detector: %s (default yolo)" % ", ".join(backends.names()))
    parse.add_argument("--device", default="auto", choices=backends.DEVICES,
                       help="where the backend runs (auto: a CUDA GPU when an engine can use one; default auto)")
    model = parse.add_argument_group("yolo backend")
    model.add_argument("--model", metavar="FILE", help="YOLO ONNX file (default: $%s, else the model "
                       "`wiremesh-model prepare` made)" % "WIREMESH_VISION_MODEL")
    model.add_argument("--sha256", metavar="HEX", help="refuse to start unless the model file has this sha256")
    model.add_argument("--labels", metavar="FILE", help="class names, one per line (default: the model's metadata)")
    model.add_argument("--engine", default=None, choices=("auto", "onnxruntime", "torch"),
                       help="what runs the model (auto: onnxruntime-CUDA, torch-CUDA, onnxruntime, torch)")
    model.add_argument("--threads", type=service.positive_int, default=None,
                       help="CPU threads per worker (default: the CPUs shared among the workers)")
    model.add_argument("--score-threshold", type=service.score, default=None,
                       help="report objects scoring at least this (default 0.35)")
    model.add_argument("--classes", type=service.class_list, default=None, metavar="A,B",
                       help="report only these classes, e.g. person,cat (default: all)")
    model.add_argument("--input-size", type=service.positive_int, default=None,
                       help="network input size for models without a fixed one (default 416)")
    parse.add_argument("--max-body", type=service.parse_size, default="4MiB",
                       help="largest upload accepted, e.g. 4MiB (default); larger gets 413")
    parse.add_argument("--workers", type=service.positive_int, default=1,
                       help="detection threads, one backend instance each (default 1)")
    parse.add_argument("--max-batch", type=service.positive_int, default=8,
                       help="frames per forward pass, gathered from concurrent requests (default 8)")
    parse.add_argument("--max-wait-ms", type=float, default=10.0,
                       help="how long a batch waits for more frames after its first (default 10 ms)")
    parse.add_argument("--queue", type=int, default=None, metavar="N",
                       help="requests that may wait beyond full batches; more get 503 (default: max-batch)")
    args = parse.parse_args(argv)
    service.setup_logging(args.log_level)
    backlog = args.max_batch if args.queue is None else args.queue
    if backlog < 0 or not 0 <= args.max_wait_ms <= 1000:
        parse.error("--queue must be 0 or more and --max-wait-ms 0..1000")
    options = {key: getattr(args, key) for key in YOLO_OPTIONS if getattr(args, key) is not None}
    if options and args.backend != "yolo":
        parse.error("%s appl%s to --backend yolo only" % (", ".join(YOLO_OPTIONS[k] for k in options),
                                                          "ies" if len(options) == 1 else "y"))
    if args.backend == "yolo":
        options["max_batch"] = args.max_batch  # the backend's forward passes take the batches the batcher makes
        options.setdefault("threads", max(1, (os.cpu_count() or 1) // args.workers))
    try:
        detector = Detector(args.backend, args.device, args.workers, backlog, args.max_body, args.max_batch,
                            args.max_wait_ms / 1000.0, options)
    except backends.BackendError as exc:
        parse.error(str(exc))
    described = detector.model()
    LOG.info("backend %s, engine %s (%s) on %s, %d workers, batches of up to %d within %.0f ms, queue %d, "
             "max body %d bytes", described["backend"], described["engine"], described["provider"],
             described["device"], args.workers, detector.max_batch, args.max_wait_ms, backlog, args.max_body)
    return service.run(make_app(detector, args.max_body), args.bind, args.port, LOG)


if __name__ == "__main__":
    sys.exit(main())
