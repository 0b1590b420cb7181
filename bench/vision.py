# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo workload's numbers: annotated video fps and capture-to-viewer latency through camera -> app ->
detector, and the detector's throughput alone on the same frames (one request at a time, and two at once).

With no URLs, run() starts the three servers on 127.0.0.1 (synthetic 640x480 camera at 25 fps) and stops
them by PID afterwards. Given URLs (e.g. mesh addresses of the lab hosts), it measures the running services
instead; then the detector is also serving the app while it is measured (detector_shared_with_app), and
latency spans two clocks unless camera and viewer share a host. Every loop is bounded in count and time.

    python bench/vision.py [--seconds 10] [--camera-url URL --detector-url URL --app-url URL]"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "vision"))

import aiohttp  # noqa: E402  pylint: disable=wrong-import-position

from wiremesh_vision.client import collect, post_jpeg  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.launch import Server  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.stats import percentile  # noqa: E402  pylint: disable=wrong-import-position

FRAMES = 8  # distinct camera frames the detector is measured on
MAX_REQUESTS = 100000


def get_json(url, timeout=10.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError("%s: not within %.0f s" % (what, timeout))


def camera_frames(camera_url, count=FRAMES):
    """count distinct JPEG frames from the camera's /jpeg (the same pictures the app sends on)."""
    base = camera_url.rsplit("/", 1)[0]
    frames, seen = [], set()
    deadline = time.monotonic() + 30
    while len(frames) < count and time.monotonic() < deadline:
        with urllib.request.urlopen(base + "/jpeg", timeout=10) as response:
            number = response.headers.get("X-Frame")
            if number not in seen:
                seen.add(number)
                frames.append(response.read())
        time.sleep(0.15)
    if not frames:
        raise RuntimeError("no frame from %s/jpeg" % base)
    return frames


async def detector_fps(detector_url, frames, seconds, concurrency):
    """Answered detections per second with `concurrency` clients posting frames back to back."""
    url = detector_url.rstrip("/") + "/v1/detect"
    counts = {"ok": 0, "busy": 0, "failed": 0}
    deadline = time.monotonic() + seconds

    async def client(offset):
        for index in range(offset, MAX_REQUESTS, concurrency):
            if time.monotonic() >= deadline:
                return
            status, _answer = await post_jpeg(session, url, frames[index % len(frames)])
            counts["ok" if status == 200 else "busy" if status == 503 else "failed"] += 1
            if status == 503:
                await asyncio.sleep(0.05)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.monotonic()
        await asyncio.gather(*[client(i) for i in range(concurrency)])
        elapsed = time.monotonic() - started
    return round(counts["ok"] / elapsed, 2), counts


def stream_numbers(app_url, seconds):
    """fps of real (not placeholder) annotated frames at a viewer, and capture -> viewer latency."""
    asyncio.run(collect(app_url.rstrip("/") + "/stream", 1.0, 100))  # warm-up: a first viewer
    started = time.monotonic()
    parts = asyncio.run(collect(app_url.rstrip("/") + "/stream", seconds, 100000))
    elapsed = time.monotonic() - started
    real = [p for p in parts if "x-placeholder" not in p.headers]
    latencies = [p.latency_ms for p in real if p.latency_ms is not None]
    return {
        "video_fps": round(len(real) / elapsed, 2),
        "latency_p50_ms": None if not latencies else round(percentile(latencies, 50), 1),
        "latency_p95_ms": None if not latencies else round(percentile(latencies, 95), 1),
        "video_frames": len(real),
        "video_frames_with_boxes": sum(1 for p in real if int(p.headers.get("x-detections", "0")) > 0),
    }


def measure(camera_url, detector_url, seconds, detector_shared):
    model = get_json(detector_url.rstrip("/") + "/v1/model")
    frames = camera_frames(camera_url)
    results = {"backend": model["backend"], "detector_device": model["device"],
               "opencv_version": model["versions"].get("opencv"), "detector_workers": model["workers"],
               "detector_shared_with_app": detector_shared, "seconds": seconds, "cpu_count": os.cpu_count(),
               "load_average_1m": round(os.getloadavg()[0], 2)}
    detector_seconds = max(seconds / 2.0, 2.0)
    results["detector_cpu_fps"], counts1 = asyncio.run(detector_fps(detector_url, frames, detector_seconds, 1))
    results["detector_cpu_fps_2_concurrent"], counts2 = asyncio.run(
        detector_fps(detector_url, frames, detector_seconds, 2))
    results["detector_busy_answers"] = counts1["busy"] + counts2["busy"]
    results["detector_failed_answers"] = counts1["failed"] + counts2["failed"]
    return results


def run(seconds=10, camera_url=None, detector_url=None, app_url=None, backend="haar-faces"):
    """The numbers as a dict; starts its own servers on 127.0.0.1 unless all three URLs are given."""
    if camera_url and detector_url and app_url:
        results = measure(camera_url, detector_url, seconds, True)
        results.update(stream_numbers(app_url, seconds))
        results["app_stats"] = get_json(app_url.rstrip("/") + "/stats")
        return results
    if camera_url or detector_url or app_url:
        raise ValueError("give all three URLs (camera, detector, app), or none to start local servers")
    with tempfile.TemporaryDirectory(prefix="wiremesh-bench-vision-") as logs:
        started = []
        try:
            camera = Server("camera", ["--synthetic", "--width", "640", "--height", "480", "--fps", "25"],
                            os.path.join(logs, "camera.log")).start()
            started.append(camera)
            detector = Server("detector", ["--backend", backend], os.path.join(logs, "detector.log")).start()
            started.append(detector)
            results = measure(camera.url + "/mjpeg", detector.url, seconds, False)
            app = Server("app", ["--camera-url", camera.url + "/mjpeg", "--detector-url", detector.url],
                         os.path.join(logs, "app.log")).start()
            started.append(app)
            wait_until(lambda: get_json(app.url + "/stats")["detector_requests"] > 0, 30, "app running")
            results.update(stream_numbers(app.url, seconds))
            stats = get_json(app.url + "/stats")
            results["app_detector_latency_p50_ms"] = stats["detector_latency_ms"]["p50"]
            results["app_detector_latency_p95_ms"] = stats["detector_latency_ms"]["p95"]
            results["app_detections"] = stats["detections"]
        finally:
            for server in reversed(started):
                server.stop()
    return results


def over_the_mesh(demo_url, seconds=10):
    """The same viewer numbers for the lab demo that `make demo` leaves running: camera on the NAT'd edge, app on
    do1 (edge -> do1 over WireGuard), viewer on this machine through the operator's WireGuard link and the
    forwarder on 127.0.0.1. All lab hosts share this machine's clock, so capture -> viewer latency is exact.
    Keys prefixed mesh_; {"mesh_video_skipped": reason} when the demo does not answer."""
    try:
        stats = get_json(demo_url.rstrip("/") + "/stats", timeout=5)
    except (OSError, ValueError) as exc:
        return {"mesh_video_skipped": "the lab demo does not answer at %s (%s): run make demo" % (demo_url, exc)}
    results = {"mesh_" + k: v for k, v in stream_numbers(demo_url, seconds).items()}
    results["mesh_video_path"] = stats.get("path_label")
    results["mesh_video_backend"] = stats.get("backend")
    return results


def main(argv=None):
    parse = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parse.add_argument("--seconds", type=float, default=10.0)
    parse.add_argument("--camera-url", help="the camera's MJPEG URL (http://EDGE:8081/mjpeg)")
    parse.add_argument("--detector-url", help="the detector's base URL (http://DET:8082)")
    parse.add_argument("--app-url", help="the app's base URL (http://APP:8080)")
    parse.add_argument("--backend", default="haar-faces", help="backend of the local detector (default haar-faces)")
    args = parse.parse_args(argv)
    print(json.dumps(run(args.seconds, args.camera_url, args.detector_url, args.app_url, args.backend),
                     indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
