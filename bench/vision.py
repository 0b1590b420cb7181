# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo workload's numbers: the detector service over HTTP for each backend on the same frames, and the
annotated video fps and capture-to-viewer latency through camera -> app -> detector.

Detector: a wiremesh-detector process per backend (`yolo`, and `opencv-classic` as `classic`) on 127.0.0.1 with
--device cpu and its default batching (1 worker, batches of up to 8 within 10 ms); the same --frames (8) frames
of the synthetic scene (wiremesh_vision.scene: 640x480, seeded times, JPEG quality 80 like the camera) posted back
to back by 1 client, then by 2 concurrent clients (the `_2streams` figures), each for --rounds (3) rounds of
--detector-seconds after one untimed request. detector_<backend>_<device>_fps = answers (HTTP 200) / wall time
over all rounds, with the slowest and fastest round (_fps_min, _fps_max); _p50_ms/_p95_ms = POST to answer of
each request; _batch_mean = frames per forward pass the service reported. A backend that cannot run (no yolo
model, an OpenCV without the classic data) records detector_<backend>_<device>_error and the others still run.

Video: camera (synthetic 640x480 at 25 fps), detector (--video-backend, default yolo) and app on 127.0.0.1; a
viewer reads the app's stream for --seconds. All servers are stopped by PID. Given URLs (e.g. mesh addresses of
the lab hosts), it measures the running services instead; then the detector is also serving the app while it is
measured (detector_shared_with_app), and latency spans two clocks unless camera and viewer share a host. Every
loop is bounded in count and time.

    python bench/vision.py [--seconds 10] [--model FILE.onnx] [--camera-url URL --detector-url URL --app-url URL]"""

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
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position

from wiremesh_vision import jpeg  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.client import collect, post_jpeg  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.launch import Server  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.scene import Scene  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.stats import percentile  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.yolo import prepare  # noqa: E402  pylint: disable=wrong-import-position

FRAMES = 8  # distinct scene frames every backend is measured on
WIDTH, HEIGHT, QUALITY = 640, 480, 80  # what the camera sends by default
SEED = 2019
MAX_REQUESTS = 100000
BACKENDS = {"yolo": "yolo", "opencv-classic": "classic"}  # backend -> the name in the figures
MODEL_CACHE = os.path.join(ROOT, ".cache", "models")  # where make deps prepares the packaged model


def default_model():
    """$WIREMESH_VISION_MODEL, else the packaged YOLOv3-tiny as make deps prepared it (prepared now if not)."""
    return os.environ.get("WIREMESH_VISION_MODEL") or prepare.prepare(MODEL_CACHE)["onnx"]


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


def scene_jpegs(count=FRAMES, seed=SEED):
    """count JPEGs of the scene at seeded times: the same bytes for every backend."""
    scene = Scene(WIDTH, HEIGHT)
    return [jpeg.encode(scene.render(t), QUALITY) for t in sorted(np.random.default_rng(seed).uniform(0, 60, count))]


async def post_rounds(detector_url, frames, round_seconds, rounds, concurrency):
    """Each client posts frames back to back; per round the answers and wall time, and every request's latency."""
    url = detector_url.rstrip("/") + "/v1/detect"
    counts = {"ok": 0, "busy": 0, "failed": 0}
    latencies, batches, per_round = [], [], []

    async def client(session, offset, deadline):
        for index in range(offset, MAX_REQUESTS, concurrency):
            if time.monotonic() >= deadline:
                return
            sent = time.monotonic()
            status, answer = await post_jpeg(session, url, frames[index % len(frames)])
            counts["ok" if status == 200 else "busy" if status == 503 else "failed"] += 1
            if status == 200:
                latencies.append((time.monotonic() - sent) * 1000)
                batches.append(answer.get("batch", 1))
            elif status == 503:
                await asyncio.sleep(0.05)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await post_jpeg(session, url, frames[0])  # untimed: first-request set-up
        for _round in range(rounds):
            answered, started = counts["ok"], time.monotonic()
            await asyncio.gather(*[client(session, i, started + round_seconds) for i in range(concurrency)])
            per_round.append((counts["ok"] - answered, time.monotonic() - started))
    return counts, latencies, batches, per_round


def detector_figures(detector_url, frames, round_seconds, rounds, concurrency):
    """{fps, fps_min, fps_max, p50_ms, p95_ms, ...} of `concurrency` clients posting back to back."""
    counts, latencies, batches, per_round = asyncio.run(
        post_rounds(detector_url, frames, round_seconds, rounds, concurrency))
    wall = sum(seconds for _answered, seconds in per_round)
    rates = [answered / seconds for answered, seconds in per_round]
    return {"fps": round(counts["ok"] / wall, 2), "fps_min": round(min(rates), 2), "fps_max": round(max(rates), 2),
            "p50_ms": None if not latencies else round(percentile(latencies, 50), 1),
            "p95_ms": None if not latencies else round(percentile(latencies, 95), 1),
            "batch_mean": None if not batches else round(sum(batches) / len(batches), 2),
            "requests": counts["ok"], "busy": counts["busy"], "failed": counts["failed"], "seconds": round(wall, 1),
            "rounds": rounds}


def measure_detector(detector_url, frames, round_seconds, rounds):
    """detector_<backend>_<device>_* of the running detector at detector_url, 1 client and 2 clients."""
    model = get_json(detector_url.rstrip("/") + "/v1/model")
    prefix = "detector_%s_%s" % (BACKENDS.get(model["backend"], model["backend"].replace("-", "_")), model["device"])
    results = {prefix + "_engine": model.get("engine"), prefix + "_provider": model.get("provider"),
               prefix + "_workers": model.get("workers"), prefix + "_max_batch": model.get("max_batch"),
               "opencv_version": model["versions"].get("opencv")}
    for concurrency, suffix in ((1, ""), (2, "_2streams")):
        for key, value in detector_figures(detector_url, frames, round_seconds, rounds, concurrency).items():
            results["%s_%s%s" % (prefix, key, suffix)] = value
    return results


def stream_numbers(app_url, seconds):
    """fps of real (not placeholder) annotated frames at a viewer, capture -> viewer latency, and how many of
    those frames were sent to the detector: `video_detected_share` is the app's detector requests in the window
    over the frames it sent out (1/3 = boxes fresh on every third frame)."""
    asyncio.run(collect(app_url.rstrip("/") + "/stream", 1.0, 100))  # warm-up: a first viewer
    before = get_json(app_url.rstrip("/") + "/stats")
    started = time.monotonic()
    parts = asyncio.run(collect(app_url.rstrip("/") + "/stream", seconds, 100000))
    elapsed = time.monotonic() - started
    after = get_json(app_url.rstrip("/") + "/stats")
    real = [p for p in parts if "x-placeholder" not in p.headers]
    latencies = [p.latency_ms for p in real if p.latency_ms is not None]
    answers = after["detector_requests"] - before["detector_requests"]  # each for a frame of its own
    sent = after["frames_out"] - before["frames_out"]
    return {
        "video_fps": round(len(real) / elapsed, 2),
        "latency_p50_ms": None if not latencies else round(percentile(latencies, 50), 1),
        "latency_p95_ms": None if not latencies else round(percentile(latencies, 95), 1),
        "video_frames": len(real),
        "video_frames_with_boxes": sum(1 for p in real if int(p.headers.get("x-detections", "0")) > 0),
        "video_detected_fps": round(answers / elapsed, 2),
        "video_detected_share": round(answers / sent, 3) if sent else None,
    }


def start_detector(args, log_path, timeout=60.0):
    """(a started wiremesh-detector, None), or (None, its own one-line reason) where it refuses these arguments
    here (exit 2: no model, no CUDA, an OpenCV without the classic data); any other failure raises RuntimeError."""
    server = Server("detector", args, log_path)
    try:
        return server.start(timeout=timeout), None
    except RuntimeError as exc:
        if server.proc is not None and server.proc.returncode == 2:
            return None, server.log().strip().splitlines()[-1]
        raise RuntimeError(str(exc)[-1500:]) from None


def detector_args(backend, model):
    return ["--backend", backend, "--device", "cpu"] + (["--model", model] if model and backend == "yolo" else [])


def local_detectors(frames, round_seconds, rounds, model, logs):
    """Every backend of BACKENDS in a detector of its own, one after the other; a failure is that backend's error."""
    results = {}
    for backend, short in BACKENDS.items():
        detector = None
        try:
            detector, refused = start_detector(detector_args(backend, model),
                                               os.path.join(logs, "detector-%s.log" % short))
            if refused:
                raise RuntimeError(refused)
            results.update(measure_detector(detector.url, frames, round_seconds, rounds))
        except Exception as exc:  # pylint: disable=broad-except  # recorded; the other backends still run
            results["detector_%s_cpu_error" % short] = str(exc).strip()[-1500:]
        finally:
            if detector is not None:
                detector.stop()
    return results


def local_video(seconds, backend, model, logs):
    """Camera, detector and app on 127.0.0.1: the viewer's numbers and the app's view of the detector."""
    started = []
    try:
        camera = Server("camera", ["--synthetic", "--width", str(WIDTH), "--height", str(HEIGHT), "--fps", "25"],
                        os.path.join(logs, "camera.log")).start()
        started.append(camera)
        detector, refused = start_detector(detector_args(backend, model), os.path.join(logs, "detector-video.log"))
        if refused:
            raise RuntimeError(refused)
        started.append(detector)
        app = Server("app", ["--camera-url", camera.url + "/mjpeg", "--detector-url", detector.url],
                     os.path.join(logs, "app.log"))
        started.append(app)
        app.start()
        wait_until(lambda: get_json(app.url + "/stats")["detector_requests"] > 0, 30, "app running")
        results = stream_numbers(app.url, seconds)
        stats = get_json(app.url + "/stats")
        results.update(app_detector_latency_p50_ms=stats["detector_latency_ms"]["p50"],
                       app_detector_latency_p95_ms=stats["detector_latency_ms"]["p95"],
                       app_detections=stats["detections"])
        return results
    finally:
        for server in reversed(started):
            server.stop()


def run(seconds=10, camera_url=None, detector_url=None, app_url=None, video_backend="yolo", model=None, rounds=3,
        detector_seconds=None):
    """The numbers as a dict; starts its own servers on 127.0.0.1 unless all three URLs are given. A scenario that
    fails is recorded as <scenario>_error and the others still run."""
    round_seconds = detector_seconds or max(seconds / 4.0, 2.0)
    frames = scene_jpegs()
    results = {"seconds": seconds, "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
               "detector_frames": "%d scene frames %dx%d, JPEG quality %d" % (len(frames), WIDTH, HEIGHT, QUALITY),
               "detector_round_seconds": round_seconds}
    if camera_url and detector_url and app_url:
        results["detector_shared_with_app"] = True
        for name, scenario in (("detector", lambda: measure_detector(detector_url, frames, round_seconds, rounds)),
                               ("video", lambda: dict(stream_numbers(app_url, seconds),
                                                      app_stats=get_json(app_url.rstrip("/") + "/stats")))):
            try:
                results.update(scenario())
            except Exception as exc:  # pylint: disable=broad-except  # recorded; the others still run
                results[name + "_error"] = str(exc).strip()[-1500:]
        return results
    if camera_url or detector_url or app_url:
        raise ValueError("give all three URLs (camera, detector, app), or none to start local servers")
    results.update(detector_shared_with_app=False, video_backend=video_backend)
    try:
        model = model or default_model()
    except Exception as exc:  # pylint: disable=broad-except  # each yolo scenario records the detector's refusal
        results["model_error"] = str(exc).strip()[-1500:]
    with tempfile.TemporaryDirectory(prefix="wiremesh-bench-vision-") as logs:
        results.update(local_detectors(frames, round_seconds, rounds, model, logs))
        try:
            results.update(local_video(seconds, video_backend, model, logs))
        except Exception as exc:  # pylint: disable=broad-except  # recorded; the detector figures stay
            results["video_error"] = str(exc).strip()[-1500:]
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
    parse.add_argument("--seconds", type=float, default=10.0, help="viewer seconds (default 10)")
    parse.add_argument("--detector-seconds", type=float, default=None,
                       help="seconds per detector round (default: a quarter of --seconds, at least 2)")
    parse.add_argument("--rounds", type=int, default=3, help="detector rounds per scenario (default 3)")
    parse.add_argument("--model", help="YOLO ONNX file (default: $WIREMESH_VISION_MODEL, else the packaged model "
                       "in .cache/models, prepared there if need be)")
    parse.add_argument("--camera-url", help="the camera's MJPEG URL (http://EDGE:8081/mjpeg)")
    parse.add_argument("--detector-url", help="the detector's base URL (http://DET:8082)")
    parse.add_argument("--app-url", help="the app's base URL (http://APP:8080)")
    parse.add_argument("--video-backend", default="yolo", help="backend of the detector behind the app (default yolo)")
    args = parse.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or (args.detector_seconds is not None and args.detector_seconds <= 0):
        parse.error("--seconds, --detector-seconds and --rounds must be positive")
    print(json.dumps(run(args.seconds, args.camera_url, args.detector_url, args.app_url, args.video_backend,
                         args.model, args.rounds, args.detector_seconds), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
