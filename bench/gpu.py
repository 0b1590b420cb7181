# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The yolo detector on the CPU and on a CUDA GPU, same model and frames: frames/s and latency per engine and
batch size, and how many 25 fps 640x480 camera streams one detector service sustains.

Model: --model (default: $WIREMESH_VISION_MODEL, else what `wiremesh-model prepare` made: YOLOv3-tiny, COCO).
Frames: --frames (32) frames of the synthetic scene (wiremesh_vision.scene) at 640x480 and seeded times, JPEG
quality 80 as the camera sends them, decoded as the detector service decodes them.

Parts (--parts, default all; --devices cpu,cuda limits every part to those devices):

- engines: the yolo backend in this process, one engine at a time: onnxruntime-CPU and torch-CPU (--threads,
  default every CPU), torch-CUDA and onnxruntime-CUDA; --batch-sizes (1,8,32) frames per detect_batch() call
  (letterbox, forward pass, decode, NMS). One untimed warm-up call per batch size, then calls over the frames in
  turn for --seconds (at least --min-calls calls). fps = frames done / wall time; latency = the wall time of a
  call (each frame of a batch waits for the whole batch), p50/p95 over the calls. opencv-classic (Haar faces +
  HOG people, one frame per call) is timed beside them where this OpenCV has its data (OpenCV 5 has not).
  An engine that cannot run here is recorded as <engine>_<device>_skipped with the reason, never as a figure.
- service: the real wiremesh-detector per device, started on 127.0.0.1 with --device cpu / cuda: what its
  /v1/model says (engine, provider) and its answers to the frames posted one at a time; service_<device>_on_cuda
  says whether it runs on a CUDA engine. A detector that refuses to start there (no CUDA) is skipped with its
  own message.
- streams: N cameras at 25 fps through that service over HTTP (its flags: --service-args; the largest batch it
  took is streams_<device>_max_batch, as the backend may cap --max-batch): stream i
  posts frame k at its own phase (seeded, within the first 40 ms) + k x 40 ms, or as soon as its previous answer
  is back when that is later (a camera app waits for its answer), for --stream-seconds; a stream's delivered rate
  = its answers (HTTP 200) to frames posted within that window / the window. N streams are sustained when every
  stream's delivered rate is >= 24.5 fps (98 % of 25) and the p95 of request latency (POST to answer, all
  streams) is <= --latency-bound-ms (default 100 ms: 2.5 frame periods). N doubles from 1 until a step is not
  sustained, then bisects between the last sustained N and that one (--bisect steps at most);
  streams_<device>_sustained is the largest sustained N measured (0: not even one stream). The load generator
  is this one Python process: each step records its CPU use (client_cpu, in cores), and client_limited
  (client_cpu > 0.9) says the client, not the service, may have been the limit of that step.

The figures are printed as JSON and merged into --out (default bench/results.json; other keys stay) as gpu_*
keys after each part; a new --out file is a JSON of its own. Where CUDA is missing the CUDA rows say why
(gpu_cuda_skipped) and the CPU parts still run; --budget stops starting new measurements after that many seconds.

    python bench/gpu.py [--seconds 5] [--parts engines,service,streams] [--out FILE]"""

import argparse
import asyncio
import functools
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "vision"))

import aiohttp  # noqa: E402  pylint: disable=wrong-import-position
import cv2  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position

from wiremesh_vision import backends, jpeg  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.batcher import detect_batch  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.client import post_jpeg  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.scene import Scene  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.stats import percentile  # noqa: E402  pylint: disable=wrong-import-position
from results_file import RESULTS, merge, provenance  # noqa: E402  pylint: disable=wrong-import-position
from vision import start_detector  # noqa: E402  pylint: disable=wrong-import-position  # bench/vision.py

WIDTH, HEIGHT, QUALITY = 640, 480, 80
FPS = 25.0
SUSTAINED_SHARE = 0.98  # of FPS, per stream
PARTS = ("engines", "service", "streams")
DEVICES = ("cpu", "cuda")
ENGINES = (("onnxruntime", "cpu"), ("torch", "cpu"), ("torch", "cuda"), ("onnxruntime", "cuda"))
SERVICE_ARGS = "--workers 2 --max-batch 32 --max-wait-ms 10 --queue 128"


def listed(choices):
    def parse(text):
        values = [part.strip() for part in text.split(",") if part.strip()]
        unknown = sorted(set(values) - set(choices))
        if not values or unknown:
            raise argparse.ArgumentTypeError("a comma-separated list of %s, got %r" % (", ".join(choices), text))
        return values
    return parse


def sizes(text):
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers, got %r" % text)
    return values


class Clock:
    """The --budget: whether there is time left to start another measurement."""

    def __init__(self, budget):
        self.started, self.budget = time.monotonic(), budget

    def left(self, needed=0.0):
        return not self.budget or time.monotonic() - self.started + needed <= self.budget


def scene_frames(count, seed):
    """count (JPEG bytes, decoded BGR frame) of the scene at seeded times."""
    scene = Scene(WIDTH, HEIGHT)
    bodies = [jpeg.encode(scene.render(t), QUALITY) for t in sorted(np.random.default_rng(seed).uniform(0, 60, count))]
    return bodies, [jpeg.decode(body) for body in bodies]


def environment():
    found = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
             "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
             "load_average_1m": round(os.getloadavg()[0], 2)}
    try:
        import onnxruntime  # pylint: disable=import-outside-toplevel
        found.update(onnxruntime=onnxruntime.__version__, onnxruntime_providers=onnxruntime.get_available_providers())
    except ImportError as exc:
        found["onnxruntime"] = "not installed (%s)" % exc
    try:
        import torch  # pylint: disable=import-outside-toplevel
        found.update(torch=torch.__version__, torch_built_for_cuda=torch.version.cuda or "none",
                     cuda_device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError as exc:
        found["torch"] = "not installed (%s)" % exc
    return found


def time_calls(call, images, batch, args):
    """call(list of `batch` frames) over the frames in turn: {fps, p50_ms, p95_ms, calls, frames}."""
    def frames_of(number):
        return [images[(number * batch + offset) % len(images)] for offset in range(batch)]

    call(frames_of(0))  # warm-up: first-call set-up, cuDNN autotuning for this shape, caches
    latencies = []
    started = time.perf_counter()
    while len(latencies) < args.max_calls and (len(latencies) < args.min_calls
                                               or time.perf_counter() - started < args.seconds):
        frames = frames_of(len(latencies) + 1)
        begun = time.perf_counter()
        call(frames)
        latencies.append(time.perf_counter() - begun)
    wall = time.perf_counter() - started
    return {"fps": round(len(latencies) * batch / wall, 2), "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p95_ms": round(percentile(latencies, 95) * 1000, 2), "calls": len(latencies),
            "frames": len(latencies) * batch, "seconds": round(wall, 2)}


def engine_rows(images, args, clock, results):
    rows = [(engine, device, "yolo") for engine, device in ENGINES if device in args.devices]
    rows += [("opencv_classic", "cpu", "opencv-classic")] if "cpu" in args.devices else []
    for engine, device, backend in rows:
        name = "%s_%s" % (engine, device)
        try:
            if backend == "yolo":
                instance = backends.create("yolo", device, model=args.model, engine=engine, threads=args.threads,
                                           max_batch=max(args.batch_sizes))
            else:
                instance = backends.create(backend, device)
        except backends.BackendError as exc:
            results[name + "_skipped"] = str(exc)
            continue
        describe = instance.describe() if hasattr(instance, "describe") else {}
        results[name + "_provider"] = describe.get("provider", "opencv-cpu")
        if describe.get("sha256"):
            results["model_sha256"] = describe["sha256"]
        for batch in args.batch_sizes if backend == "yolo" else [1]:
            if not clock.left(args.seconds):
                results["%s_b%d_skipped" % (name, batch)] = "out of the --budget of %g s" % args.budget
                continue
            results["%s_b%d" % (name, batch)] = time_calls(functools.partial(detect_batch, instance), images, batch,
                                                           args)
        del instance


async def service_check(url, bodies):
    """/v1/model and one answer per frame, posted one at a time."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async with session.get(url + "/v1/model") as response:
            model = await response.json()
        answers = [await post_jpeg(session, url + "/v1/detect", body) for body in bodies]
    keep = ("backend", "device", "engine", "provider", "workers", "max_batch", "max_wait_ms", "capacity", "sha256")
    found = {key: model.get(key) for key in keep}
    found["versions"] = model.get("versions")
    found["on_cuda"] = model.get("device") == "cuda" and str(model.get("provider")).startswith(
        ("cuda", "CUDAExecutionProvider"))
    found["answers"] = [{"status": status, "boxes": len(answer.get("boxes", [])), "engine": answer.get("engine"),
                         "detect_ms": answer.get("detect_ms"), "elapsed_ms": answer.get("elapsed_ms"),
                         "error": answer.get("error")} for status, answer in answers]
    found["labels_seen"] = sorted({box["label"] for _status, answer in answers for box in answer.get("boxes", [])})
    return found


async def stream_step(url, bodies, count, args, seed):
    """count cameras for --stream-seconds: the step's figures."""
    period, window = 1.0 / FPS, args.stream_seconds
    rng = random.Random(seed)
    phases = [rng.uniform(0.0, period) for _stream in range(count)]
    answered, other, latencies, batches = [0] * count, {"busy": 0, "failed": 0}, [], []

    async def camera(session, index, start):
        for number in range(int(window * FPS) + 1):
            wait = start + phases[index] + number * period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sent = time.monotonic()
            if sent - start >= window:
                return
            try:
                status, answer = await post_jpeg(session, url, bodies[(index + number) % len(bodies)])
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                status, answer = None, {}
            if status == 200:
                answered[index] += 1
                latencies.append(time.monotonic() - sent)
                batches.append(answer.get("batch", 1))
            else:
                other["busy" if status == 503 else "failed"] += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        start, cpu = time.monotonic() + 0.1, time.process_time()
        await asyncio.wait_for(asyncio.gather(*[camera(session, i, start) for i in range(count)]), window + 60)
        cpu = (time.process_time() - cpu) / max(time.monotonic() - start, 1e-6)
    rates = sorted(n / window for n in answered)
    p95 = None if not latencies else percentile(latencies, 95) * 1000
    too_slow = [] if rates[0] >= FPS * SUSTAINED_SHARE else ["a stream got %.1f fps" % rates[0]]
    too_slow += [] if p95 is not None and p95 <= args.latency_bound_ms else ["p95 %s ms" % (p95 and round(p95, 1))]
    return {"streams": count, "sustained": not too_slow, "why_not": "; ".join(too_slow) or None,
            "fps_per_stream_min": round(rates[0], 2), "fps_per_stream_median": round(rates[len(rates) // 2], 2),
            "fps_total": round(sum(answered) / window, 1),
            "latency_p50_ms": None if not latencies else round(percentile(latencies, 50) * 1000, 1),
            "latency_p95_ms": None if p95 is None else round(p95, 1),
            "batch_mean": None if not batches else round(sum(batches) / len(batches), 2),
            "busy": other["busy"], "failed": other["failed"], "client_cpu": round(cpu, 2),
            "client_limited": cpu > 0.9}


def ramp(url, bodies, args, clock):
    """Steps of N streams: doubling from 1, then bisecting; (largest sustained N, steps, how the ramp ended)."""
    steps, good, count = [], 0, 1
    while True:
        if not clock.left(args.stream_seconds + 2):
            return good, steps, "stopped at the --budget of %g s" % args.budget
        steps.append(asyncio.run(stream_step(url, bodies, count, args, args.seed + count)))
        if not steps[-1]["sustained"]:
            bad = count
            break
        good = count
        if count >= args.max_streams:
            return good, steps, "sustained up to --max-streams %d" % args.max_streams
        count = min(count * 2, args.max_streams)
    for _step in range(args.bisect):
        count = (good + bad) // 2
        if count <= good or not clock.left(args.stream_seconds + 2):
            break
        steps.append(asyncio.run(stream_step(url, bodies, count, args, args.seed + count)))
        good, bad = (count, bad) if steps[-1]["sustained"] else (good, count)
    return good, steps, "%d streams not sustained (%s)" % (bad, next(
        s["why_not"] for s in steps if s["streams"] == bad))


def service_rows(bodies, args, clock, results, with_streams):
    with tempfile.TemporaryDirectory(prefix="wiremesh-bench-gpu-") as logs:
        for device in args.devices:
            name = "service_%s" % device
            if not clock.left(10):
                results[name + "_skipped"] = "out of the --budget of %g s" % args.budget
                continue
            flags = (["--model", args.model] if args.model else []) + ["--device", device] + args.service_args.split()
            try:
                server, refused = start_detector(flags, os.path.join(logs, "detector-%s.log" % device), timeout=180)
            except RuntimeError as exc:
                results[name + "_error"] = str(exc)
                continue
            if refused:
                results[name + "_skipped"] = "wiremesh-detector --device %s does not start here: %s" % (
                    device, refused)
                continue
            try:
                results[name] = asyncio.run(service_check(server.url, bodies[:args.service_frames]))
                if with_streams:
                    results["streams_%s_service_args" % device] = args.service_args
                    results["streams_%s_max_batch" % device] = results[name]["max_batch"]  # what the service took
                    sustained, steps, ended = ramp(server.url + "/v1/detect", bodies, args, clock)
                    results["streams_%s_sustained" % device] = sustained
                    results["streams_%s_ended" % device] = ended
                    results["streams_%s_steps" % device] = steps
            except Exception as exc:  # pylint: disable=broad-except  # recorded; the next device still runs
                results[name + "_error"] = "%s: %s" % (type(exc).__name__, str(exc)[-1500:])
            finally:
                server.stop()


def summary(results):
    """Best CUDA over best CPU frames/s (any engine, any batch); where nothing ran on CUDA, why."""
    best = {}
    for key, row in results.items():
        if isinstance(row, dict) and "fps" in row and not key.startswith("opencv"):
            device = "cuda" if "_cuda_" in key else "cpu"
            best[device] = max(best.get(device, 0.0), row["fps"])
    if best.get("cuda") and best.get("cpu"):
        results["cuda_vs_cpu_best_fps_ratio"] = round(best["cuda"] / best["cpu"], 2)
    reasons = [results[key] for key in ("torch_cuda_skipped", "service_cuda_skipped", "onnxruntime_cuda_skipped")
               if key in results]
    results.pop("cuda_skipped", None)
    if reasons and not best.get("cuda") and "service_cuda" not in results:
        results["cuda_skipped"] = reasons[0]


def flatten(results):
    """gpu_<name> keys for results.json, one level of nesting joined with '_'."""
    flat = {}
    for key, value in results.items():
        name = "gpu_" + key
        if isinstance(value, dict):
            flat.update({"%s_%s" % (name, inner): figure for inner, figure in value.items()})
        else:
            flat[name] = value
    return flat


def run(args):
    clock = Clock(args.budget)
    when = provenance("gpu")   # one run file for the whole run, rewritten after every part
    bodies, images = scene_frames(args.frames, args.seed)
    results = dict(environment(), frames=len(images), frame_size="%dx%d" % (WIDTH, HEIGHT), jpeg_quality=QUALITY,
                   seed=args.seed, seconds_per_config=args.seconds, threads=args.threads, parts=args.parts,
                   devices=args.devices, model=args.model or "default ($WIREMESH_VISION_MODEL unset: the prepared one)",
                   latency_bound_ms=args.latency_bound_ms, stream_fps=FPS)
    steps = {"engines": lambda: engine_rows(images, args, clock, results),
             "service": lambda: service_rows(bodies, args, clock, results, False),
             "streams": lambda: service_rows(bodies, args, clock, results, True)}
    for part in args.parts:
        if part == "service" and "streams" in args.parts:
            continue  # the streams part checks the service first
        try:
            steps[part]()
        except Exception as exc:  # pylint: disable=broad-except  # recorded; the next part still runs
            results[part + "_error"] = "%s: %s" % (type(exc).__name__, str(exc)[-1500:])
        summary(results)
        merge(dict(flatten(results), **when), args.out, kind="gpu")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--model", default=os.environ.get("WIREMESH_VISION_MODEL"),
                        help="YOLO ONNX file (default: $WIREMESH_VISION_MODEL, else the prepared default)")
    parser.add_argument("--parts", type=listed(PARTS), default=list(PARTS),
                        help="engines,service,streams (default all)")
    parser.add_argument("--devices", type=listed(DEVICES), default=list(DEVICES), help="cpu,cuda (default both)")
    parser.add_argument("--frames", type=int, default=32, help="distinct frames (default 32)")
    parser.add_argument("--seed", type=int, default=2019, help="seed of the frame times and stream phases")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per engine and batch (default 5)")
    parser.add_argument("--min-calls", type=int, default=3, help="timed calls per engine and batch at least")
    parser.add_argument("--max-calls", type=int, default=100000, help="timed calls per engine and batch at most")
    parser.add_argument("--batch-sizes", type=sizes, default=[1, 8, 32], help="frames per call (default 1,8,32)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU engine threads (default all)")
    parser.add_argument("--service-args", default=SERVICE_ARGS, help="wiremesh-detector flags for the service and "
                        "streams parts (default %r)" % SERVICE_ARGS)
    parser.add_argument("--service-frames", type=int, default=4, help="frames posted in the service check")
    parser.add_argument("--stream-seconds", type=float, default=4.0, help="seconds per streams step (default 4)")
    parser.add_argument("--latency-bound-ms", type=float, default=100.0, help="p95 bound of a sustained step")
    parser.add_argument("--max-streams", type=int, default=128, help="streams tried at most (default 128)")
    parser.add_argument("--bisect", type=int, default=3, help="bisection steps after the first failed one")
    parser.add_argument("--budget", type=float, default=0.0, help="seconds after which no new measurement starts "
                        "(default 0: none)")
    parser.add_argument("--out", default=RESULTS, help="JSON file the gpu_* figures are merged into (default "
                        "bench/results.json); a new file holds them alone")
    args = parser.parse_args(argv)
    if min(args.frames, args.min_calls, args.max_calls, args.threads, args.service_frames, args.max_streams) < 1 \
            or args.seconds <= 0 or args.stream_seconds <= 0 or args.bisect < 0 or args.budget < 0:
        parser.error("counts and seconds must be positive (--bisect and --budget may be 0)")
    # a timeout's SIGTERM unwinds like an error, so the detectors started here are stopped (by PID) on the way out
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    figures = flatten(run(args))
    print(json.dumps(figures, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
