# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wiremesh-app: pulls the edge camera's MJPEG, sends the newest frame to the detector whenever the detector
is free, draws the latest boxes (class and score, a colour per class) on every frame and serves the annotated
MJPEG at /stream, a page at /, and /stats (with counts per class and what the detector runs on, asked from its
/v1/model each time it connects). Frames that arrive while the detector is busy are drawn but not sent (never
a queue). When the camera or the detector goes away it retries with a backoff of at most 2 s; without a
detector the stream goes on, marked as not annotated."""

from __future__ import annotations

import argparse
import asyncio
import html
import logging
import string
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from . import __version__, annotate, service
from .images import data_bytes
from .mjpeg import Frame, Latest, boundary_of, newest, read_parts, respond
from .stats import Samples

LOG = logging.getLogger("wiremesh-app")
DESCRIPTION = "Web app: the edge camera's video with the detector's boxes at /stream, a page at /, /stats."
BOX_TTL = 3.0  # s: boxes older than this are no longer drawn
CAMERA_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=5)
DETECTOR_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=2)
NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError, EOFError)
MODEL_KEYS = ("backend", "engine", "provider", "device")  # what /stats repeats from the detector's /v1/model
MODEL_RETRY = 10.0  # s between asking a connected detector's /v1/model again after a failed try


class Backoff:
    """0.25, 0.5, 1, 2, 2, ... seconds; reset after a success."""

    def __init__(self, first: float = 0.25, cap: float = 2.0):
        self.first, self.cap, self.delay = first, cap, first

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


class Unavailable(Exception):
    """The peer answered, but not with what we need (HTTP error, not a stream, busy)."""

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


class Link:
    """Connected-or-not state of one upstream, logging each change once."""

    def __init__(self, pipeline: "Pipeline", name: str, url: str):
        self.pipeline, self.name, self.connected = pipeline, name, False
        self.target, self.url = url, service.public_url(url)  # url: shown and logged, never a password
        self.backoff = Backoff()

    def up(self) -> None:
        self.backoff.reset()
        if not self.connected:
            self.connected = True
            LOG.info("%s connected: %s", self.name, self.url)

    def down(self, exc: BaseException) -> float:
        """Record the failure; the seconds to wait before the next try."""
        message = "%s %s: %s" % (self.name, self.url, str(exc) or type(exc).__name__)
        self.pipeline.last_error = {"time": round(time.time(), 3), "message": message}
        delay = self.backoff.next()
        LOG.log(logging.WARNING if self.connected else logging.DEBUG, "%s; retrying in %.2f s", message, delay)
        self.connected = False
        return delay


class Pipeline:
    def __init__(self, camera_url: str, detector_url: str, threshold: float, path_label: str, quality: int,
                 classes: Optional[Sequence[str]] = None, in_flight: int = 2):
        self.detect_url = detector_url.rstrip("/") + "/v1/detect"
        self.model_url = detector_url.rstrip("/") + "/v1/model"
        self.threshold, self.path_label, self.quality = threshold, path_label, quality
        self.classes = None if classes is None else frozenset(classes)  # None: every class
        self.camera = Link(self, "camera", camera_url)
        self.detector = Link(self, "detector", detector_url)
        self.last_error: Optional[dict] = None
        self.counts = {"frames_in": 0, "frames_out": 0, "detections": 0, "detector_requests": 0}
        self.latency, self.detector_elapsed = Samples(), Samples()
        self.result = {"time": 0.0, "boxes": [], "size": (0, 0), "backend": None, "seq": -1}
        self.in_flight, self.sent_seq = in_flight, -1  # requests at once; the newest frame sent
        self.class_totals: Counter = Counter()  # boxes kept from every detector answer, per class
        self.classes_drawn: Counter = Counter()  # the boxes on the newest frame out, per class
        self.detector_model: Optional[dict] = None  # MODEL_KEYS from /v1/model, per connection
        self.model_asked = -MODEL_RETRY
        self.started = time.monotonic()
        self.drawing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="draw")
        self.frames_in: Optional[Latest] = None
        self.frames_out: Optional[Latest] = None
        self.session: Optional[aiohttp.ClientSession] = None
        self.tasks = []

    async def start(self, _app) -> None:
        self.frames_in, self.frames_out = Latest(), Latest()
        self.session = aiohttp.ClientSession(headers={"User-Agent": "wiremesh-app/" + __version__})
        jobs = [self.read_camera, self.draw] + [self.ask_detector] * self.in_flight
        self.tasks = [asyncio.ensure_future(job()) for job in jobs]
        LOG.info("path %s: camera %s, detector %s, threshold %.2f, classes %s", self.path_label, self.camera.url,
                 self.detector.url, self.threshold, "all" if self.classes is None else ",".join(sorted(self.classes)))

    async def stop(self, _app) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()
        self.drawing.shutdown(wait=False, cancel_futures=True)

    # --- the camera ----------------------------------------------------------------------------------------
    async def _stream_camera(self) -> None:
        async with self.session.get(self.camera.target, timeout=CAMERA_TIMEOUT) as response:
            if response.status != 200:
                raise Unavailable("HTTP %d" % response.status)
            boundary = boundary_of(response.headers.get("Content-Type", ""))
            async for headers, body in read_parts(response.content, boundary):
                self.camera.up()
                try:
                    captured = float(headers.get("x-timestamp", ""))
                except ValueError:
                    captured = time.time()
                self.counts["frames_in"] += 1
                self.frames_in.publish(Frame(self.counts["frames_in"], body, captured,
                                             {"X-Source-Frame": headers.get("x-frame", "")}))
        raise Unavailable("the stream ended")

    async def read_camera(self) -> None:
        while True:
            try:
                await self._stream_camera()
            except (Unavailable, ValueError) + NETWORK_ERRORS as exc:
                await asyncio.sleep(self.camera.down(exc))
            except Exception as exc:  # pylint: disable=broad-except  # never let the reader die
                LOG.exception("reading the camera failed")
                await asyncio.sleep(self.camera.down(exc))

    # --- the detector --------------------------------------------------------------------------------------
    async def _detect(self, frame: Frame) -> None:
        sent = time.monotonic()
        self.counts["detector_requests"] += 1
        async with self.session.post(self.detect_url, data=frame.jpeg, headers={"Content-Type": "image/jpeg"},
                                     timeout=DETECTOR_TIMEOUT) as response:
            answer = await response.json(content_type=None)
        if response.status == 503:
            wait = response.headers.get("Retry-After", "")
            raise Unavailable("busy", retry_after=float(wait) if wait.replace(".", "", 1).isdigit() else 1.0)
        if response.status != 200 or not isinstance(answer, dict) or "boxes" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise Unavailable("HTTP %d: %s" % (response.status, error))
        self.latency.add((time.monotonic() - sent) * 1000)
        self.detector_elapsed.add(float(answer.get("elapsed_ms", 0)))
        boxes = [b for b in answer["boxes"] if b.get("score", 0) >= self.threshold
                 and (self.classes is None or b.get("label") in self.classes)]
        self.counts["detections"] += len(boxes)
        self.class_totals.update(b.get("label") for b in boxes)
        if frame.seq > self.result.get("seq", -1):  # with requests overlapping, an older frame's answer is stale
            self.result = {"time": time.monotonic(), "boxes": boxes, "backend": answer.get("backend"),
                           "size": (answer.get("width", 0), answer.get("height", 0)), "seq": frame.seq}

    async def _learn_model(self) -> None:
        """What the detector runs (backend, engine, provider, device), from its GET /v1/model."""
        self.model_asked = time.monotonic()
        try:
            async with self.session.get(self.model_url, timeout=DETECTOR_TIMEOUT) as response:
                answer = await response.json(content_type=None)
            if response.status != 200 or not isinstance(answer, dict):
                raise Unavailable("HTTP %d" % response.status)
        except (Unavailable, ValueError) + NETWORK_ERRORS as exc:
            LOG.warning("detector %s: %s; asking again in %.0f s", service.public_url(self.model_url),
                        str(exc) or type(exc).__name__, MODEL_RETRY)
            return
        self.detector_model = {key: answer.get(key) for key in MODEL_KEYS}
        LOG.info("detector runs %(backend)s on %(engine)s (%(provider)s, %(device)s)", self.detector_model)

    def _detector_down(self, exc: BaseException) -> float:
        self.detector_model = None  # asked again when it is back: it may be another detector
        return self.detector.down(exc)

    async def ask_detector(self) -> None:
        """One sender: the newest frame no other sender took, then wait for its answer. `in_flight` senders
        run, so the detector can batch their frames and boxes are fresh on more frames than one round trip
        allows."""
        while True:
            frame = await self.frames_in.next(self.sent_seq, timeout=1.0)
            if frame is None or frame.seq <= self.sent_seq:  # none, or another sender took it meanwhile
                continue
            self.sent_seq = frame.seq
            try:
                await self._detect(frame)
            except Unavailable as exc:
                if exc.retry_after is not None:  # alive but busy: not an outage
                    self.detector.up()
                    await asyncio.sleep(min(exc.retry_after, 2.0))
                    continue
                await asyncio.sleep(self._detector_down(exc))
                continue
            except (ValueError,) + NETWORK_ERRORS as exc:
                await asyncio.sleep(self._detector_down(exc))
                continue
            except Exception as exc:  # pylint: disable=broad-except  # never let the sender die
                LOG.exception("asking the detector failed")
                await asyncio.sleep(self._detector_down(exc))
                continue
            self.detector.up()
            if self.detector_model is None and time.monotonic() - self.model_asked >= MODEL_RETRY:
                await self._learn_model()

    # --- drawing -------------------------------------------------------------------------------------------
    def _status(self, boxes) -> tuple:
        if not self.detector.connected:
            return "DETECTOR OFFLINE - not annotated (%s)" % self.detector.url, False
        latency = self.latency.summary()["p50"]
        return "%d detections | detector %s ms | %s" % (
            len(boxes), "?" if latency is None else "%.0f" % latency, self.path_label), True

    def _card(self, seq: int) -> Frame:
        lines = ["CAMERA OFFLINE", self.camera.url, "reconnecting ..."]
        jpeg_bytes = annotate.card(640, 480, lines, self.quality)
        return Frame(seq, jpeg_bytes, time.time(), {"X-Placeholder": "camera-offline", "X-Detections": "0",
                                                    "X-Annotated": "0"})

    async def draw(self) -> None:
        seq, out = -1, 0
        loop = asyncio.get_running_loop()
        while True:
            frame = await self.frames_in.next(seq, timeout=1.0)
            if frame is None:
                if not self.camera.connected:
                    out += 1
                    self.frames_out.publish(self._card(out))
                continue
            seq = frame.seq
            fresh = self.detector.connected and time.monotonic() - self.result["time"] <= BOX_TTL
            boxes = self.result["boxes"] if fresh else []
            status, ok = self._status(boxes)
            try:
                jpeg_bytes, drawn = await loop.run_in_executor(
                    self.drawing, annotate.annotate, frame.jpeg, boxes, self.result["size"], status, ok,
                    self.quality)
            except Exception as exc:  # pylint: disable=broad-except  # e.g. a frame that does not decode: skip it
                LOG.warning("camera frame %s not drawn: %s", frame.headers.get("X-Source-Frame"), exc)
                continue
            out += 1
            self.counts["frames_out"] += 1
            self.classes_drawn = Counter(d["label"] for d in drawn)
            headers = dict(frame.headers, **{"X-Detections": str(len(drawn)), "X-Annotated": "1" if ok else "0",
                                             "X-Boxes": service.dumps([d["box"] for d in drawn]),
                                             "X-Labels": service.dumps([d["label"] for d in drawn])})
            self.frames_out.publish(Frame(out, jpeg_bytes, frame.captured, headers))

    # --- HTTP ----------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        shown = set(self.class_totals) | set(self.classes_drawn)
        return dict(
            self.counts, fps=self.frames_out.rate.per_second(), input_fps=self.frames_in.rate.per_second(),
            detector_latency_ms=self.latency.summary(), detector_elapsed_ms=self.detector_elapsed.summary(),
            camera_connected=self.camera.connected, detector_connected=self.detector.connected,
            last_error=self.last_error, clients=self.frames_out.clients, threshold=self.threshold,
            detector_in_flight=self.in_flight,
            class_filter=None if self.classes is None else sorted(self.classes),
            classes=dict(self.classes_drawn.most_common()), class_totals=dict(self.class_totals.most_common()),
            class_colours={label: annotate.css_colour(label) for label in sorted(shown)},
            backend=self.result["backend"], detector_model=self.detector_model, camera_url=self.camera.url,
            detector_url=self.detector.url, path_label=self.path_label,
            uptime_s=round(time.monotonic() - self.started, 1), version=__version__)

    async def handle_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "camera_connected": self.camera.connected,
                                  "detector_connected": self.detector.connected})

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        return await respond(request, self.frames_out, LOG, "viewer")

    async def handle_frame(self, _request: web.Request) -> web.Response:
        return await newest(self.frames_out)

    async def handle_page(self, _request: web.Request) -> web.Response:
        page = string.Template(data_bytes("app.html").decode("utf-8"))
        return web.Response(content_type="text/html", text=page.safe_substitute(
            path_label=html.escape(self.path_label), camera=html.escape(urlsplit(self.camera.url).netloc),
            detector=html.escape(urlsplit(self.detector.url).netloc), version=html.escape(__version__)))


def make_app(pipeline: Pipeline) -> web.Application:
    app = web.Application(middlewares=[service.json_errors])
    app.router.add_get("/", pipeline.handle_page)
    app.router.add_get("/stream", pipeline.handle_stream)
    app.router.add_get("/frame", pipeline.handle_frame)
    app.router.add_get("/stats", pipeline.handle_stats)
    app.router.add_get("/healthz", pipeline.handle_health)
    app.on_startup.append(pipeline.start)
    app.on_shutdown.append(pipeline.stop)
    return app


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError("not an http(s) URL: %r" % text)
    return text


def main(argv: Optional[list] = None) -> int:
    parse = service.parser("wiremesh-app", DESCRIPTION, 8080)
    parse.add_argument("--camera-url", type=_url, required=True, metavar="URL",
                       help="the edge camera's MJPEG, e.g. http://EDGE:8081/mjpeg")
    parse.add_argument("--detector-url", type=_url, required=True, metavar="URL",
                       help="the detector's base URL, e.g. http://DET:8082")
    parse.add_argument("--threshold", type=service.score, default=0.35,
                       help="draw and count boxes scoring at least this (0..1, default 0.35)")
    parse.add_argument("--classes", type=service.class_list, default=None, metavar="A,B",
                       help="draw and count only these classes, e.g. person,cat (default: all)")
    parse.add_argument("--path-label", default="edge \u2192 app \u2192 detector",
                       help="how the page names the path the data takes")
    parse.add_argument("--quality", type=service.jpeg_quality, default=80,
                       help="JPEG quality 1..100 of the annotated stream (default 80)")
    parse.add_argument("--in-flight", type=service.positive_int, default=2,
                       help="detector requests at once, each for a newer frame (default 2: the detector batches "
                       "them; 1 waits for each answer)")
    args = parse.parse_args(argv)
    service.setup_logging(args.log_level)
    pipeline = Pipeline(args.camera_url, args.detector_url, args.threshold, args.path_label, args.quality,
                        args.classes, args.in_flight)
    return service.run(make_app(pipeline), args.bind, args.port, LOG)


if __name__ == "__main__":
    sys.exit(main())
