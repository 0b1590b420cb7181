"""wiremesh-camera: MJPEG with parseable JPEG parts at about the asked rate, one shared capture loop that a
stalled client does not hold up, /jpeg, /html, a looped video file, the synthetic scene's labelled objects,
clear start-up errors, clean SIGTERM."""

import collections
import re
import signal
import socket
import subprocess
import time

import cv2
import numpy as np
import pytest

from wiremesh_vision import backends
from wiremesh_vision.client import collect_sync
from wiremesh_vision.launch import command, environment
from wiremesh_vision.sources import video_devices

from .conftest import get_json, http
from .yolo_files import model_path


def decode(body):
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture
def camera(servers):
    return servers("camera", "--synthetic", "--fps", "10", "--width", "320", "--height", "240")


def test_mjpeg_parts_are_jpegs_at_about_the_asked_rate(camera):
    parts = collect_sync(camera.url + "/mjpeg", seconds=3.0, limit=200)
    assert 8 <= len(parts) <= 60, len(parts)  # 10 fps asked: generous bounds on a busy machine
    frames = [int(p.headers["x-frame"]) for p in parts]
    stamps = [float(p.headers["x-timestamp"]) for p in parts]
    assert frames == sorted(set(frames)) and stamps == sorted(stamps)
    shapes = {decode(p.body).shape for p in parts}
    assert shapes == {(240, 320, 3)}
    assert not np.array_equal(decode(parts[0].body), decode(parts[-1].body))  # the scene moves


def test_jpeg_html_and_health(camera):
    status, headers, body = http(camera.url + "/jpeg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and decode(body).shape == (240, 320, 3)
    assert float(headers["X-Timestamp"]) > time.time() - 60
    status, _headers, page = http(camera.url + "/html")
    assert status == 200 and b'src="mjpeg"' in page
    status, health = get_json(camera.url + "/healthz")
    assert status == 200 and health["status"] == "ok" and health["kind"] == "synthetic" and health["frames"] > 0


def test_a_stalled_client_skips_frames_and_does_not_hold_up_the_others(servers):
    cam = servers("camera", "--synthetic", "--fps", "25", "--quality", "95")  # ~100 KB frames fill buffers fast
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(5)
    stalled.connect(("127.0.0.1", cam.port))
    try:
        stalled.sendall(b"GET /mjpeg HTTP/1.1\r\nHost: camera\r\n\r\n")
        time.sleep(3.0)  # not reading: the server's writes to it block
        assert get_json(cam.url + "/healthz")[1]["clients"] == 1
        parts = collect_sync(cam.url + "/mjpeg", seconds=2.0, limit=500)
        assert len(parts) >= 10, len(parts)
        received, deadline = b"", time.monotonic() + 10
        while time.monotonic() < deadline and len(re.findall(rb"X-Frame: (\d+)", received)) < 60:
            received += stalled.recv(1 << 20)
        frames = [int(n) for n in re.findall(rb"X-Frame: (\d+)", received)]
        jumps = [b - a for a, b in zip(frames, frames[1:])]
        assert frames and max(jumps) > 1, frames  # it got the newest frame after the stall, not a backlog
    finally:
        stalled.close()


def test_video_file_is_played_and_looped(servers, tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    assert writer.isOpened()
    for index in range(5):
        writer.write(np.full((120, 160, 3), 40 * index + 20, np.uint8))
    writer.release()
    cam = servers("camera", "--video", path, "--fps", "20", "--width", "160", "--height", "120")
    parts = collect_sync(cam.url + "/mjpeg", seconds=2.0, limit=100)
    levels = [int(decode(p.body).mean()) for p in parts]
    assert len(parts) > 5 and max(levels) - min(levels) > 100  # different frames, and more than the 5 in the file
    assert get_json(cam.url + "/healthz")[1]["kind"] == "file"


def test_synthetic_frames_show_two_people_a_cat_and_a_cup(servers):
    """The camera's own 640x480 frames (caption bar included), as the app gets them, through the yolo backend."""
    yolo = backends.create("yolo", "cpu", model=model_path(), score_threshold=0.35)
    cam = servers("camera", "--synthetic", "--fps", "5")
    parts = collect_sync(cam.url + "/mjpeg", seconds=3.0, limit=4)
    counted = [collections.Counter(d.label for d in yolo.detect(decode(p.body))) for p in parts]
    assert len(parts) >= 3 and sum(c == {"person": 2, "cat": 1, "cup": 1} for c in counted) >= len(parts) - 1, counted


@pytest.mark.skipif(bool(video_devices()), reason="this machine has a /dev/video* device")
def test_device_auto_without_a_webcam_is_the_synthetic_scene(servers):
    cam = servers("camera", "--fps", "5")  # --device auto is the default
    assert get_json(cam.url + "/healthz")[1]["kind"] == "synthetic"
    assert "no working /dev/video* device" in cam.log()


@pytest.mark.parametrize("args,words", [
    (["--device", "987"], "cannot read a frame from V4L2 device /dev/video987"),
    (["--video", "/nonexistent/clip.avi"], "cannot read a frame from video file /nonexistent/clip.avi"),
    (["--fps", "0"], "fps must be"),
    (["--synthetic", "--video", "x.avi"], "not allowed with"),
])
def test_bad_start_is_one_clear_error(args, words):
    done = subprocess.run(command("camera") + args, capture_output=True, text=True, timeout=60, check=False,
                          env=environment())
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_sigterm_stops_it_cleanly_with_a_client_streaming(camera):
    stream = socket.create_connection(("127.0.0.1", camera.port), timeout=5)
    try:
        stream.sendall(b"GET /mjpeg HTTP/1.1\r\nHost: camera\r\n\r\n")
        assert stream.recv(1024).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert camera.signal(signal.SIGTERM, timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        stream.close()
    assert "stopped" in camera.log()
