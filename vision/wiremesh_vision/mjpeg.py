# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Frames, the newest-frame slot that any number of readers wait on, and MJPEG (multipart/x-mixed-replace)
written to a client and read from a server.

Nothing here queues frames: a reader always gets the newest frame, so a slow client skips frames instead of
building up a backlog, and memory stays at one frame per slot."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import AsyncIterator, Dict, NamedTuple, Optional, Tuple

from aiohttp import web

from . import service
from .stats import Rate

BOUNDARY = "wiremeshframe"
MAX_PART = 16 * 1024 * 1024  # a part larger than this is not a video frame; the stream is dropped


class Frame(NamedTuple):
    seq: int  # increases by one per frame from the same producer
    jpeg: bytes
    captured: float  # time.time() when the picture was taken, carried end to end as X-Timestamp
    headers: Dict[str, str] = {}  # extra per-part headers (the app adds X-Detections, X-Annotated, ...)


class Latest:
    """The newest frame. Producers call publish() on the event loop's thread (use publish_threadsafe from a
    capture thread); readers await next(), which returns a frame newer than the one they last saw."""

    def __init__(self):
        self.frame: Optional[Frame] = None
        self.rate = Rate()  # frames published per second
        self.clients = 0  # MJPEG clients streaming from this slot now
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def publish(self, frame: Frame) -> None:
        self.frame = frame
        self.rate.add()
        self._changed.set()
        self._changed = asyncio.Event()

    def publish_threadsafe(self, frame: Frame) -> bool:
        try:
            self._loop.call_soon_threadsafe(self.publish, frame)
        except RuntimeError:  # the loop has closed: the server is shutting down
            return False
        return True

    async def next(self, after_seq: int, timeout: float) -> Optional[Frame]:
        """A frame with seq > after_seq, or None after timeout seconds without one."""
        deadline = time.monotonic() + timeout
        while self.frame is None or self.frame.seq <= after_seq:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return None
        return self.frame


def part(frame: Frame) -> bytes:
    head = ["--" + BOUNDARY, "Content-Type: image/jpeg", "Content-Length: %d" % len(frame.jpeg),
            "X-Timestamp: %.6f" % frame.captured, "X-Frame: %d" % frame.seq]
    head += ["%s: %s" % item for item in frame.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + frame.jpeg + b"\r\n"


async def respond(request: web.Request, latest: Latest, log: logging.Logger, who: str) -> web.StreamResponse:
    """Stream latest as MJPEG until the client leaves or the server stops; log the client coming and going."""
    log.info("%s %s connected (%d streaming)", who, request.remote, latest.clients + 1)
    stopping = request.app[service.STOPPING]
    response = web.StreamResponse(headers={
        "Content-Type": "multipart/x-mixed-replace; boundary=" + BOUNDARY,
        "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"})
    await response.prepare(request)
    seq = -1
    latest.clients += 1
    try:
        while not stopping.is_set():
            frame = await latest.next(seq, timeout=1.0)
            if frame is not None:
                seq = frame.seq
                await response.write(part(frame))  # waits while the client's socket is full: frames are skipped
    except ConnectionError:  # the client went away
        pass
    finally:
        latest.clients -= 1
        log.info("%s %s left", who, request.remote)
    return response


async def newest(latest: Latest) -> web.Response:
    """The newest frame as one JPEG (waiting up to 5 s for a first one), or 503."""
    frame = latest.frame or await latest.next(-1, timeout=5.0)
    if frame is None:
        return service.json_error(503, "no frame yet", **{"Retry-After": "1"})
    headers = {"X-Timestamp": "%.6f" % frame.captured, "X-Frame": str(frame.seq), "Cache-Control": "no-cache"}
    headers.update(frame.headers)
    return web.Response(body=frame.jpeg, content_type="image/jpeg", headers=headers)


def boundary_of(content_type: str) -> bytes:
    match = re.search(r'boundary="?([^";,]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/") or not match:
        raise ValueError("not an MJPEG stream (Content-Type %r)" % content_type)
    return match.group(1).strip().encode("latin-1")


async def _headers(content) -> Dict[str, str]:
    headers = {}
    for _count in range(64):
        line = (await content.readline()).decode("latin-1").strip()
        if not line:
            return headers
        name, _sep, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("MJPEG part has more than 64 header lines")


async def read_parts(content, boundary: bytes) -> AsyncIterator[Tuple[Dict[str, str], bytes]]:
    """(headers with lower-case names, body) for each part of a multipart stream, until it ends.
    content is an aiohttp StreamReader; parts without Content-Length are read up to the next boundary."""
    delimiters = (b"--" + boundary, boundary)
    at_headers = False  # True when the boundary line was already consumed while reading the previous body
    while True:
        if not at_headers:
            line = await content.readline()
            if not line:
                return
            line = line.strip()
            if line.endswith(b"--") and line[:-2] in delimiters:
                return
            if line not in delimiters:
                continue
        headers = await _headers(content)
        length = headers.get("content-length", "")
        if length.isdigit():
            if int(length) > MAX_PART:
                raise ValueError("MJPEG part of %s bytes is over the %d byte limit" % (length, MAX_PART))
            body = await content.readexactly(int(length))
            at_headers = False
        else:
            separator = b"\r\n" + delimiters[0]
            body = (await content.readuntil(separator))[:-len(separator)]
            rest = await content.readline()
            if rest.strip() == b"--":
                yield headers, body
                return
            at_headers = True
        yield headers, body
