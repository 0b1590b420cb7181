# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wiremesh-camera: the edge camera. One capture loop (webcam, video file or synthetic scene) encodes each
picture once; /mjpeg streams the newest frame to any number of clients, /jpeg answers one frame."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from typing import Optional

from aiohttp import web

from . import __version__, service
from .images import data_bytes
from .mjpeg import Latest, newest, respond
from .sources import CaptureThread, SourceError, open_source

LOG = logging.getLogger("wiremesh-camera")
DESCRIPTION = "Edge camera: MJPEG at /mjpeg, one JPEG at /jpeg, a page at /html, health at /healthz."


class Camera:
    def __init__(self, source, reopen, fps: float, quality: int):
        self.source, self.reopen, self.fps, self.quality = source, reopen, fps, quality
        self.latest: Optional[Latest] = None
        self.thread: Optional[CaptureThread] = None

    async def start(self, _app) -> None:
        self.latest = Latest()
        self.thread = CaptureThread(self.source, self.fps, self.quality, self.latest.publish_threadsafe, self.reopen)
        self.thread.start()
        LOG.info("capturing from %s at up to %g fps, JPEG quality %d", self.source.description, self.fps,
                 self.quality)

    async def stop(self, _app) -> None:
        self.thread.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.thread.join, 5.0)

    async def handle_mjpeg(self, request: web.Request) -> web.StreamResponse:
        return await respond(request, self.latest, LOG, "MJPEG client")

    async def handle_jpeg(self, _request: web.Request) -> web.Response:
        return await newest(self.latest)

    async def handle_html(self, _request: web.Request) -> web.Response:
        return web.Response(text=data_bytes("camera.html").decode("utf-8"), content_type="text/html")

    async def handle_health(self, _request: web.Request) -> web.Response:
        frame = self.latest.frame
        return web.json_response({
            "status": "ok" if frame is not None else "starting", "source": self.thread.source.description,
            "kind": self.thread.source.kind, "frames": self.thread.frames, "fps": self.latest.rate.per_second(),
            "target_fps": self.fps, "clients": self.latest.clients, "quality": self.quality,
            "last_frame": None if frame is None else round(frame.captured, 6), "version": __version__})


async def _to_html(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/html")


def make_app(camera: Camera) -> web.Application:
    app = web.Application(middlewares=[service.json_errors])
    app.router.add_get("/mjpeg", camera.handle_mjpeg)
    app.router.add_get("/jpeg", camera.handle_jpeg)
    app.router.add_get("/html", camera.handle_html)
    app.router.add_get("/healthz", camera.handle_health)
    app.router.add_get("/", _to_html)
    app.on_startup.append(camera.start)
    app.on_shutdown.append(camera.stop)
    return app


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 120:
        raise argparse.ArgumentTypeError("fps must be a number above 0 and at most 120, not %r" % text)
    return value


def _device(text: str) -> str:
    if text != "auto" and not text.isdigit():
        raise argparse.ArgumentTypeError("--device takes N (for /dev/videoN) or auto, not %r" % text)
    return text


def main(argv: Optional[list] = None) -> int:
    parse = service.parser("wiremesh-camera", DESCRIPTION, 8081)
    which = parse.add_mutually_exclusive_group()
    which.add_argument("--device", type=_device, default="auto", metavar="N",
                       help="capture from /dev/videoN; auto (default): the first working /dev/video*, else the "
                            "synthetic scene")
    which.add_argument("--video", metavar="FILE", help="play a video file, looped")
    which.add_argument("--synthetic", action="store_true", help="the synthetic scene with real faces and people")
    parse.add_argument("--width", type=service.positive_int, default=640)
    parse.add_argument("--height", type=service.positive_int, default=480)
    parse.add_argument("--fps", type=_fps, default=25.0, help="frames per second, at most (default 25)")
    parse.add_argument("--quality", type=service.jpeg_quality, default=80, help="JPEG quality 1..100 (default 80)")
    args = parse.parse_args(argv)
    service.setup_logging(args.log_level)
    reopen = functools.partial(open_source, args.device, args.video, args.synthetic, args.width, args.height,
                               args.fps)
    try:
        source = reopen()
    except (SourceError, ValueError) as exc:
        parse.error(str(exc))
    return service.run(make_app(Camera(source, reopen, args.fps, args.quality)), args.bind, args.port, LOG)


if __name__ == "__main__":
    sys.exit(main())
