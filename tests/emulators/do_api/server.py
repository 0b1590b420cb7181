"""The HTTP side of the DigitalOcean API v2 emulator: Bearer authentication, routing, JSON in and out, and the
``start()`` / command line entry points. It listens on loopback addresses only."""

import argparse
import hmac
import ipaddress
import json
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from . import account, catalog, droplets, network, spec
from .core import ApiError, Request, State, bad_request, invalid_payload, new_request_id, not_found, tag_bad_request

ROUTES = [(method, re.compile(pattern + r"/?$"), handler)
          for method, pattern, handler in account.ROUTES + catalog.ROUTES + droplets.ROUTES + network.ROUTES]
UNAUTHORIZED = ApiError(401, "Unauthorized", "Unable to authenticate you")
RATE_LIMIT = 5000


def route(method, path):
    """The handler and path parameters for a request; ApiError 404 when nothing matches."""
    for verb, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and verb == method:
            return handler, {k: unquote(v) for k, v in match.groupdict().items()}
    raise not_found()


def check_body(method, path, body):
    """Hold a JSON object body to the request schema DigitalOcean publishes for the operation (the vendored
    spec/requests.json): 422 ``unprocessable_entity`` when it breaks it, except tags_create, whose invalid names
    the spec answers with its own 400 (resources/tags/responses/tags_bad_request.yml). Other bodies are left to
    the handlers, which answer 400 ``bad_request`` (shared/responses/bad_request.yml: "error parsing the request
    body")."""
    op = spec.find(method, path.rstrip("/") or "/")
    if not isinstance(body, dict):
        return
    errors = spec.body_errors(op, body)
    if errors:
        raise tag_bad_request(errors[0]) if op.id == "tags_create" else invalid_payload(errors)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "do-api-emulator/1"

    def _send(self, status, body=None, request_id=None):
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if request_id:
            self.send_header("x-request-id", request_id)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ratelimit-limit", str(RATE_LIMIT))
        self.send_header("ratelimit-remaining", str(RATE_LIMIT - 1))
        self.send_header("ratelimit-reset", str(int(time.time()) + 3600))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _authorized(self):
        header = self.headers.get("Authorization", "")
        scheme, dummy, token = header.partition(" ")
        return scheme.lower() == "bearer" and any(
            hmac.compare_digest(token.strip().encode(), t.encode()) for t in self.server.state.tokens)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None

    def _dispatch(self, method):
        url = urlsplit(self.path)
        state = self.server.state
        request_id = new_request_id()
        try:
            body = self._body()
            if url.path.rstrip("/") == "/_emulator/resources" and method == "GET":
                with state.lock:
                    return self._send(200, state.counts())
            if url.path.rstrip("/") == "/_emulator/requests" and method == "GET":
                with state.lock:
                    return self._send(200, {"requests": list(state.requests)})
            if not self._authorized():
                raise UNAUTHORIZED
            handler, params = route(method, url.path)
            query = dict(parse_qsl(url.query))
            with state.lock:
                state.requests.append({"method": method, "path": url.path, "query": query,
                                       "body": body if self.headers.get("Content-Length") not in (None, "0") else None})
            check_body(method, url.path, body)
            req = Request(url.path.rstrip("/"), params, query, body, self.server.base_url)
            with state.lock:
                status, answer = handler(state, req)
            self._send(status, answer, request_id)
        except ApiError as err:
            self._send(err.status, err.body(request_id), request_id)
        # a bug in the emulator: answer 500 and print the traceback
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            self._send(500, {"id": "server_error", "message": "Unexpected server-side error",
                             "request_id": request_id}, request_id)

    def do_GET(self):  # noqa: N802 - BaseHTTPRequestHandler's naming
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self):  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host, port, state, verbose=False):
        check_loopback(host)
        super().__init__((host, port), Handler)
        self.state = state
        self.verbose = verbose
        bound_host, bound_port = self.server_address[:2]
        shown = "[%s]" % bound_host if ":" in bound_host else bound_host
        self.base_url = "http://%s:%d" % (shown, bound_port)


def check_loopback(host):
    """Refuse anything but a loopback address: the emulator is for tests on this machine only."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError("refusing to listen on %r: the DigitalOcean emulator binds to loopback addresses only"
                         " (127.0.0.0/8, ::1)" % host)


def start(port=0, tokens=("emulator-token",), host="127.0.0.1", droplet_limit=25, boot_seconds=1.0,
          verbose=False):
    """Serve in a background thread. Returns ``(server, base_url)``; stop with ``server.shutdown()`` and
    ``server.server_close()``."""
    if not tokens:
        raise ValueError("at least one API token is needed")
    server = EmulatorServer(host, port, State(tokens, droplet_limit, boot_seconds), verbose)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="do-api-emulator",
                     daemon=True).start()
    return server, server.base_url


def main(argv=None):
    parser = argparse.ArgumentParser(description="DigitalOcean API v2 emulator for tests (loopback only).")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8500, help="port (0 picks a free one; default 8500)")
    parser.add_argument("--token", action="append", required=True, help="an accepted API token (repeatable)")
    parser.add_argument("--droplet-limit", type=int, default=25, help="the account's droplet limit (default 25)")
    parser.add_argument("--boot-seconds", type=float, default=1.0,
                        help="seconds a droplet stays 'new' before it is 'active' (default 1)")
    parser.add_argument("--verbose", action="store_true", help="log each request (method, path, status)")
    args = parser.parse_args(argv)
    try:
        server = EmulatorServer(args.host, args.port, State(args.token, args.droplet_limit, args.boot_seconds),
                                args.verbose)
    except (ValueError, OSError) as err:
        parser.exit(2, "do_api: %s\n" % err)
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    print("listening on %s" % server.base_url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
