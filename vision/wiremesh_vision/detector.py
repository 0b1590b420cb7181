# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wiremesh-detector: POST a JPEG to /v1/detect, get the faces/people in it as JSON.

Detection runs in a pool of worker threads, one backend instance each, so the event loop keeps answering.
At most workers + queue requests are admitted at once; past that the answer is 503 with Retry-After, never a
growing queue. A bad upload gets a 4xx JSON error and the server keeps serving."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import queue
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import aiohttp
import cv2
import numpy as np
from aiohttp import web

from . import __version__, backends, jpeg, service

LOG = logging.getLogger("wiremesh-detector")
JPEG_TYPES = ("image/jpeg", "image/jpg", "image/pjpeg")
DESCRIPTION = "Detect faces and people in JPEG images: POST /v1/detect, GET /v1/model, GET /healthz."


class TooLarge(Exception):
    pass


class Detector:
    def __init__(self, backend: str, device: str, workers: int, backlog: int, max_body: int):
        # one instance per worker thread; creating them here also fails early on a bad backend or device
        self.instances = [backends.create(backend, device) for _instance in range(workers)]
        self.pool: "queue.Queue" = queue.Queue()
        for instance in self.instances:
            self.pool.put(instance)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detect")
        self.workers, self.backlog, self.max_body = workers, backlog, max_body
        self.in_flight = 0
        self.counts = {"requests": 0, "served": 0, "busy": 0, "bad_requests": 0, "errors": 0}

    @property
    def backend(self):
        return self.instances[0]

    def _detect(self, body: bytes) -> dict:
        started = time.perf_counter()
        image = jpeg.decode(body)
        instance = self.pool.get(timeout=30)  # never waits: at most `workers` jobs run at once
        try:
            detect_started = time.perf_counter()
            found = instance.detect(image)
        finally:
            self.pool.put(instance)
        done = time.perf_counter()
        return {"boxes": [d.as_dict() for d in found], "backend": instance.name, "device": instance.device,
                "width": int(image.shape[1]), "height": int(image.shape[0]),
                "decode_ms": round((detect_started - started) * 1000, 2),
                "detect_ms": round((done - detect_started) * 1000, 2)}

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
        if self.in_flight >= self.workers + self.backlog:
            return self._refuse(503, "busy: %d requests in progress" % self.in_flight, **{"Retry-After": "1"})
        self.in_flight += 1
        received = time.perf_counter()
        try:
            body = await self._read_body(request)
            received = time.perf_counter()
            result = await asyncio.get_running_loop().run_in_executor(self.executor, self._detect, body)
        except TooLarge:
            return self._refuse(413, "body is over the %d byte limit (--max-body)" % self.max_body)
        except jpeg.BadImage as exc:
            return self._refuse(400, str(exc))
        finally:
            self.in_flight -= 1
        result["elapsed_ms"] = round((time.perf_counter() - received) * 1000, 2)
        self.counts["served"] += 1
        return web.json_response(result)

    async def handle_model(self, _request: web.Request) -> web.Response:
        versions = {"wiremesh_vision": __version__, "python": platform.python_version(), "opencv": cv2.__version__,
                    "numpy": np.__version__, "aiohttp": aiohttp.__version__}
        versions.update(self.backend.versions())
        return web.json_response({
            "backend": self.backend.name, "device": self.backend.device, "labels": list(self.backend.labels),
            "workers": self.workers, "queue": self.backlog, "max_body": self.max_body, "versions": versions,
            "score": "logistic of the classifier's margin past its decision threshold: 0.5 = on the threshold"})

    async def handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.counts, status="ok", backend=self.backend.name,
                                      in_flight=self.in_flight, capacity=self.workers + self.backlog))

    async def close(self, _app) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def make_app(detector: Detector, max_body: int) -> web.Application:
    app = web.Application(middlewares=[service.json_errors], client_max_size=max_body)
    app.router.add_post("/v1/detect", detector.handle_detect)
    app.router.add_get("/v1/model", detector.handle_model)
    app.router.add_get("/healthz", detector.handle_health)
    app.on_cleanup.append(detector.close)
    return app


def main(argv: Optional[list] = None) -> int:
    parse = service.parser("wiremesh-detector", DESCRIPTION, 8082)
    parse.add_argument("--backend", default="haar-faces", metavar="NAME",
                       help="detector: %s (default haar-faces)" % ", ".join(backends.names()))
    parse.add_argument("--device", default="auto", choices=backends.DEVICES,
                       help="where the backend runs (the OpenCV backends: cpu only; default auto)")
    parse.add_argument("--max-body", type=service.parse_size, default="4MiB",
                       help="largest upload accepted, e.g. 4MiB (default); larger gets 413")
    parse.add_argument("--workers", type=service.positive_int, default=min(2, os.cpu_count() or 1),
                       help="detection threads, one backend instance each (default: up to 2)")
    parse.add_argument("--queue", type=int, default=None, metavar="N",
                       help="requests that may wait for a worker; more get 503 (default: as many as workers)")
    args = parse.parse_args(argv)
    service.setup_logging(args.log_level)
    backlog = args.workers if args.queue is None else args.queue
    if backlog < 0:
        parse.error("--queue must be 0 or more")
    try:
        detector = Detector(args.backend, args.device, args.workers, backlog, args.max_body)
    except backends.BackendError as exc:
        parse.error(str(exc))
    LOG.info("backend %s on %s, %d workers, queue %d, max body %d bytes, OpenCV %s", detector.backend.name,
             detector.backend.device, args.workers, backlog, args.max_body, cv2.__version__)
    return service.run(make_app(detector, args.max_body), args.bind, args.port, LOG)


if __name__ == "__main__":
    sys.exit(main())
