"""Real wiremesh-vision servers on 127.0.0.1 (free ports picked by the servers), started as processes and
killed by PID at the end of each test (wiremesh_vision.launch); HTTP helpers. Every wait is bounded in time."""

import json
import os
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VISION = os.path.join(ROOT, "vision")
if VISION not in sys.path:
    sys.path.insert(0, VISION)

from wiremesh_vision.launch import Server  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def servers(tmp_path):
    """Start servers with servers(name, *args); all are killed (by PID) at the end of the test."""
    started = []

    def start(name, *args):
        server = Server(name, args, str(tmp_path / ("%s.log" % name)))
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


def http(url, body=None, headers=None, method=None, timeout=30.0):
    """(status, headers, body bytes) of one request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(url, timeout=30.0):
    status, _headers, body = http(url, timeout=timeout)
    return status, json.loads(body)


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    """Poll predicate() until it returns something true (returned), at most timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s not met within %.0f s (last: %r)" % (what, timeout, last))


def overlap(box, region):
    """Intersection over union of two [x, y, w, h] boxes."""
    ax, ay, aw, ah = box
    bx, by, bw, bh = region
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)
