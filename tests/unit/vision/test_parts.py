"""The pieces under the servers: JPEG checks, MJPEG parsing (with and without Content-Length), sizes, rates,
percentiles, backoff, box scaling, the synthetic scene."""

import asyncio
import struct

import cv2
import numpy as np
import pytest
from aiohttp import ClientSession, web

from wiremesh_vision import annotate, images, jpeg, service
from wiremesh_vision.app import Backoff
from wiremesh_vision.mjpeg import boundary_of, read_parts
from wiremesh_vision.scene import Scene
from wiremesh_vision.stats import Samples, percentile


def test_jpeg_dimensions_and_decode():
    good = images.data_bytes(images.CAMERAMAN)
    assert jpeg.dimensions(good) == (512, 512) and jpeg.decode(good).shape == (512, 512, 3)
    assert jpeg.dimensions(good + b"\x00\x00") == (512, 512)  # zero padding after EOI is tolerated


@pytest.mark.parametrize("data,words", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n", "not a JPEG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
    (b"\xff\xd8\xff\xda\x00\x04\x00\x00\xff\xd9", "no frame header"),
    (b"\xff\xd8\xff\xe0\xff\xf0" + b"\x00" * 8 + b"\xff\xd9", "runs past the end"),
])
def test_jpeg_refusals(data, words):
    with pytest.raises(jpeg.BadImage, match=words):
        jpeg.decode(data)


def test_decompression_bomb_is_refused_before_decoding():
    header = b"\xff\xd8" + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60000, 60000, 1) + b"\x01\x11\x00"
    with pytest.raises(jpeg.BadImage, match="over the 40000000 pixel limit"):
        jpeg.decode(header + b"\xff\xd9")


def test_parse_size():
    assert [service.parse_size(s) for s in ("4MiB", "512k", "1000", "2 MB")] == [4 << 20, 512000, 1000, 2000000]
    for bad in ("", "0", "4 parsecs", "-1"):
        with pytest.raises(Exception, match="not a size"):
            service.parse_size(bad)


def _serve_multipart(payload, content_type):
    async def handler(request):
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        await response.write(payload)
        return response

    async def run():
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with ClientSession() as session, session.get("http://127.0.0.1:%d/" % port) as response:
                boundary = boundary_of(response.headers["Content-Type"])
                return [(h, b) async for h, b in read_parts(response.content, boundary)]
        finally:
            await runner.cleanup()
    return asyncio.run(asyncio.wait_for(run(), 30))


def test_read_parts_with_and_without_content_length():
    one, two = b"\xff\xd8first\r\n--not-a-boundary\xff\xd9", b"\xff\xd8second\xff\xd9"
    payload = (b"--XB\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Frame: 1\r\n\r\n%s\r\n" % (len(one), one)
               + b"--XB\r\nContent-Type: image/jpeg\r\nX-Frame: 2\r\n\r\n" + two + b"\r\n--XB--\r\n")
    parts = _serve_multipart(payload, 'multipart/x-mixed-replace; boundary="XB"')
    assert [(h["x-frame"], b) for h, b in parts] == [("1", one), ("2", two)]


def test_boundary_of_refuses_a_non_stream():
    with pytest.raises(ValueError, match="not an MJPEG stream"):
        boundary_of("text/html; charset=utf-8")


def test_percentiles_and_samples():
    assert percentile([], 50) is None and percentile([5], 95) == 5
    assert percentile(range(1, 101), 50) == 50 and percentile(range(1, 101), 95) == 95
    samples = Samples(size=3)
    for value in (100, 1, 2, 3):
        samples.add(value)
    assert samples.summary() == {"p50": 2, "p95": 3, "samples": 3}  # only the last 3 are kept


def test_backoff_is_capped_at_two_seconds_and_resets():
    backoff = Backoff()
    assert [backoff.next() for _try in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    backoff.reset()
    assert backoff.next() == 0.25


def test_boxes_are_scaled_to_the_frame():
    boxes = [{"label": "face", "score": 0.9, "box": [10, 20, 30, 40]}]
    assert annotate.scaled(boxes, (320, 240), (640, 480))[0]["box"] == [20, 40, 60, 80]
    assert annotate.scaled(boxes, (640, 480), (640, 480)) == boxes


def test_annotate_draws_the_box_and_marks_the_status():
    frame = jpeg.encode(np.full((240, 320, 3), 128, np.uint8), 90)
    out, drawn = annotate.annotate(frame, [{"label": "face", "score": 0.9, "box": [50, 60, 100, 80]}], (320, 240),
                                   "edge \u2192 app", True, 90)
    image = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)
    assert drawn[0]["box"] == [50, 60, 100, 80]
    assert image[60, 100, 1] > 200 and image[60, 100, 0] < 60  # green top edge
    assert abs(int(image[200, 300, 1]) - 128) < 10  # untouched elsewhere


def test_scene_moves_and_keeps_its_photographs_inside():
    scene = Scene(640, 480)
    first, later = scene.render(0.0), scene.render(2.0)
    assert first.shape == (480, 640, 3) and not np.array_equal(first, later)
    for t in (0.0, 3.3, 7.7, 12.1):
        for label, (x, y, w, h) in scene.known_regions(t):
            assert label in ("face", "person") and x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    with pytest.raises(ValueError, match="at least 160x120"):
        Scene(100, 100)
