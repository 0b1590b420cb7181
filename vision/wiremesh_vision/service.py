# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the three servers share: command-line basics, one-line-per-event logging to stderr, and running an
aiohttp application on one address until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from . import __version__

STOPPING = web.AppKey("stopping", asyncio.Event)
QUIET_PATHS = ("/healthz", "/stats")  # polled every second by pages and probes: logged at DEBUG only
SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000 ** 2, "mb": 1000 ** 2, "mib": 1024 ** 2}


def parse_size(text: str) -> int:
    """'4MiB', '512k', '1048576' -> bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = match and match.group(2).lower()
    if not match or unit not in SIZE_UNITS or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError("not a size: %r (use e.g. 4MiB, 512KiB, 1000000)" % text)
    return int(match.group(1)) * SIZE_UNITS[unit]


def port_number(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError("not a TCP port: %r (0 picks a free one)" % text)
    return int(text)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("not a positive whole number: %r" % text)
    return int(text)


def jpeg_quality(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError("JPEG quality must be 1..100, not %r" % text)
    return int(text)


def class_list(text: str) -> list:
    """'person,cat' -> ['person', 'cat'] (a --classes filter)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("a class filter names at least one class, e.g. person,cat")
    return names


def score(text: str) -> float:
    """A score threshold between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a score threshold is between 0 and 1, not %r" % text)
    return value


def parser(prog: str, description: str, port: int) -> argparse.ArgumentParser:
    """An ArgumentParser with --bind, --port, --log-level and --version."""
    parse = argparse.ArgumentParser(prog=prog, description=description)
    parse.add_argument("--bind", default="127.0.0.1", metavar="ADDR",
                       help="address to listen on, and only there (default 127.0.0.1)")
    parse.add_argument("--port", type=port_number, default=port, help="TCP port (default %d; 0 picks one)" % port)
    parse.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parse.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return parse


def setup_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper()),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


class AccessLogger(AbstractAccessLogger):
    """One line per request; health and stats polls only at DEBUG."""

    def log(self, request, response, time):
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        self.logger.log(level, "%s %s %s %d %.1fms", request.remote, request.method, request.path_qs,
                        response.status, time * 1000)


def json_error(status: int, message: str, **headers) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status, headers=headers or None)


@web.middleware
async def json_errors(request: web.Request, handler):
    """Errors as JSON ({"error", "status"}), and a failing handler is a logged 500, never a dead server."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        return json_error(exc.status, exc.reason, **allow)
    except Exception as exc:  # pylint: disable=broad-except  # the server must keep serving
        logging.getLogger("wiremesh-vision").exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal error: %s" % type(exc).__name__)


class BindError(OSError):
    """The address cannot be listened on."""


def url_host(host: str) -> str:
    return "[%s]" % host if ":" in host else host


async def _serve(app: web.Application, host: str, port: int, log: logging.Logger) -> None:
    stopping = asyncio.Event()
    app[STOPPING] = stopping
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=2.0)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise BindError("cannot listen on %s:%d: %s" % (url_host(host), port, exc)) from None
        for address in runner.addresses:  # the real port when --port 0
            log.info("listening on http://%s:%d", url_host(address[0]), address[1])
        await stopping.wait()
        log.info("stopping on signal")
    finally:
        await runner.cleanup()
    log.info("stopped")


def run(app: web.Application, host: str, port: int, log: logging.Logger) -> int:
    """Serve app on host:port until SIGTERM/SIGINT; 0 on a clean stop, 1 if the address cannot be bound."""
    try:
        asyncio.run(_serve(app, host, port, log))
    except BindError as exc:
        log.error("%s", exc)
        return 1
    return 0


def public_url(url: str) -> str:
    """url without any user:password@ part, for logs, pages and /stats."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
