# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client for the three servers, for tests and benchmarks: read an MJPEG stream for a while, post JPEGs."""

from __future__ import annotations

import asyncio
import time
from typing import Dict, List, NamedTuple

import aiohttp

from .mjpeg import boundary_of, read_parts


class Part(NamedTuple):
    headers: Dict[str, str]  # lower-case names
    body: bytes
    received: float  # time.time() when the whole part had arrived

    @property
    def latency_ms(self):
        """Capture (X-Timestamp) to arrival, in ms; None for parts without a capture time."""
        stamp = self.headers.get("x-timestamp")
        return None if not stamp else (self.received - float(stamp)) * 1000


async def collect(url: str, seconds: float, limit: int = 10000, connect_timeout: float = 5.0) -> List[Part]:
    """The parts of the MJPEG stream at url that arrive within `seconds` (at most `limit` of them)."""
    parts: List[Part] = []
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=max(seconds, 5.0))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url) as response:
            response.raise_for_status()
            reader = read_parts(response.content, boundary_of(response.headers.get("Content-Type", "")))
            while len(parts) < limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    headers, body = await asyncio.wait_for(reader.__anext__(), left)
                except (asyncio.TimeoutError, StopAsyncIteration):
                    break
                parts.append(Part(headers, body, time.time()))
    return parts


def collect_sync(url: str, seconds: float, limit: int = 10000) -> List[Part]:
    return asyncio.run(collect(url, seconds, limit))


async def post_jpeg(session: aiohttp.ClientSession, url: str, body: bytes, content_type: str = "image/jpeg"):
    """(HTTP status, parsed JSON answer) of POSTing body to url."""
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as response:
        return response.status, await response.json(content_type=None)
