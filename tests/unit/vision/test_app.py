"""wiremesh-app end to end on 127.0.0.1: camera -> app -> detector, boxes drawn on the stream; the detector or
the camera killed and restarted on the same port while the app keeps streaming and recovers by itself."""

import json
import signal
import socket
import time

import cv2
import numpy as np
import pytest

from wiremesh_vision.client import collect_sync

from .conftest import get_json, http, wait_for

RECOVERY = 10.0  # s the app may take to see a returned peer (it retries at least every 2 s)


@pytest.fixture
def chain(servers):
    camera = servers("camera", "--synthetic", "--fps", "10")
    detector = servers("detector", "--backend", "haar-faces", "--workers", "1")
    app = servers("app", "--camera-url", camera.url + "/mjpeg", "--detector-url", detector.url,
                  "--path-label", "edge \u2192 app \u2192 detector (test)")
    return camera, detector, app


def stats(app):
    return get_json(app.url + "/stats", timeout=10)[1]


def annotated_part(app, seconds=20.0):
    """A /stream part on which the app drew at least one box."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for part in collect_sync(app.url + "/stream", seconds=2.0, limit=50):
            if int(part.headers.get("x-detections", "0")) > 0:
                return part
    raise AssertionError("no annotated frame within %.0f s; stats %s" % (seconds, stats(app)))


def test_stream_has_boxes_drawn(chain):
    _camera, _detector, app = chain
    part = annotated_part(app)
    image = cv2.imdecode(np.frombuffer(part.body, np.uint8), cv2.IMREAD_COLOR)
    x, y, w, h = json.loads(part.headers["x-boxes"])[0]
    edge = image[y:y + 2, x + 4:x + w - 4].reshape(-1, 3).astype(int)  # the box's top line, face = green
    assert edge[:, 1].mean() > 180 and edge[:, 0].mean() < 110 and edge[:, 2].mean() < 110, edge.mean(axis=0)
    assert part.headers["x-annotated"] == "1" and float(part.headers["x-timestamp"]) > time.time() - 60
    now = stats(app)
    assert now["detections"] > 0 and now["camera_connected"] and now["detector_connected"]
    assert now["frames_out"] > 0 and now["detector_latency_ms"]["p50"] > 0 and now["backend"] == "haar-faces"


def test_page_shows_the_path(chain):
    camera, detector, app = chain
    status, headers, page = http(app.url + "/")
    page = page.decode("utf-8")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "edge \u2192 app \u2192 detector (test)" in page and 'src="stream"' in page
    assert "127.0.0.1:%d" % camera.port in page and "127.0.0.1:%d" % detector.port in page


def test_detector_down_and_back(chain):
    _camera, detector, app = chain
    wait_for(lambda: stats(app)["detections"] > 0, 30, what="first detections")
    detector.kill()
    wait_for(lambda: not stats(app)["detector_connected"], RECOVERY, what="app sees the detector gone")
    parts = collect_sync(app.url + "/stream", seconds=2.0, limit=50)
    assert len(parts) >= 3 and all(p.headers["x-annotated"] == "0" for p in parts[1:])  # still streaming, marked
    assert "detector" in stats(app)["last_error"]["message"]
    before = stats(app)["detections"]
    detector.start()  # same port
    wait_for(lambda: stats(app)["detections"] > before, RECOVERY, what="detections resume")
    assert stats(app)["detector_connected"]


def test_camera_down_and_back(chain):
    camera, _detector, app = chain
    wait_for(lambda: stats(app)["frames_in"] > 0, 30, what="first camera frames")
    camera.signal(signal.SIGTERM)
    wait_for(lambda: not stats(app)["camera_connected"], RECOVERY, what="app sees the camera gone")
    parts = collect_sync(app.url + "/stream", seconds=2.5, limit=50)
    assert any(p.headers.get("x-placeholder") == "camera-offline" for p in parts)  # the viewer is told
    before = stats(app)["frames_in"]
    camera.start()
    wait_for(lambda: stats(app)["frames_in"] > before + 5, RECOVERY, what="camera frames resume")
    detections = stats(app)["detections"]
    wait_for(lambda: stats(app)["detections"] > detections, RECOVERY, what="detections on the new frames")
    assert stats(app)["camera_connected"]


def test_sigterm_with_a_viewer_attached(chain):
    _camera, _detector, app = chain
    wait_for(lambda: stats(app)["frames_out"] > 0, 30, what="first frames out")
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as viewer:
        viewer.sendall(b"GET /stream HTTP/1.1\r\nHost: app\r\n\r\n")
        assert viewer.recv(1024).startswith(b"HTTP/1.1 200")
        assert stats(app)["clients"] == 1
        assert app.signal(signal.SIGTERM, timeout=10) == 0
    assert "stopped" in app.log()
