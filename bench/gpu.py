# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The people detector on the CPU and on a GPU, on the same frames: frames/s and per-frame latency.

Frames: --frames (64) pictures of the synthetic scene (wiremesh_vision.scene) at 640x480, at times drawn from a
seeded generator, JPEG-encoded and decoded as the detector service receives them. Each is measured:

- opencv_hog_cpu: the `hog-people` backend (OpenCV's HOG, what the service runs on a CPU), one frame per call,
  with 1 worker thread and with --cpu-workers threads at once (OpenCV parallelises each call as well);
- torch_cpu: the `torch` backend on the CPU, --cpu-batch-sizes frames per call;
- torch_cuda: the `torch` backend on CUDA, --gpu-batch-sizes frames per call, when torch sees a GPU.

Each configuration gets one untimed warm-up call, then calls batches over the frames in turn for --seconds (at
least one batch, at most --max-batches). fps = frames done / wall time; latency = the wall time of the call that
carried a frame (a frame waits for its whole batch), p50/p95 over calls. person_recall: frames (first pass)
where a box overlaps the scene's known person by IoU > 0.3. Both detectors use a pyramid step of 1.05.
gpu_vs_cpu_fps_ratio = best CUDA fps / best OpenCV CPU fps; gpu_vs_torch_cpu_ratio = best CUDA fps / best
torch CPU fps. The figures are printed as JSON and merged into --results (bench/results.json) under gpu_* keys;
other keys stay.

OpenCV 5 has no HOG: then the OpenCV rows say why they are missing (put an OpenCV 4.x first on PYTHONPATH).

    PYTHONPATH=vision python bench/gpu.py [--frames 64] [--seconds 10]"""

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "vision"))

import cv2  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position
import torch  # noqa: E402  pylint: disable=wrong-import-position

from wiremesh_vision import backends  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.scene import Scene  # noqa: E402  pylint: disable=wrong-import-position
from wiremesh_vision.stats import percentile  # noqa: E402  pylint: disable=wrong-import-position
from results_file import RESULTS, merge  # noqa: E402  pylint: disable=wrong-import-position

WIDTH, HEIGHT = 640, 480
RECALL_IOU = 0.3


def sizes(text):
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers, got %r" % text)
    return values


def scene_frames(count, seed):
    """count (frame, known person box) pairs of the scene at seeded times, through a JPEG round trip."""
    scene = Scene(WIDTH, HEIGHT)
    frames = []
    for moment in sorted(np.random.default_rng(seed).uniform(0.0, 60.0, count)):
        encoded = cv2.imencode(".jpg", scene.render(moment), [cv2.IMWRITE_JPEG_QUALITY, 80])[1]
        frames.append((cv2.imdecode(encoded, cv2.IMREAD_COLOR), dict(scene.known_regions(moment))["person"]))
    return frames


def iou(box, region):
    ax, ay, aw, ah = box
    bx, by, bw, bh = region
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / float(aw * ah + bw * bh - inter)


def measure(call, frames, batch, workers, seconds, max_batches):
    """Run call(list of frames) -> [[Detection]] over batches of the frames in turn; the figures."""
    images = [frame for frame, _known in frames]
    batches = [images[start:start + batch] for start in range(0, len(images), batch)]
    call(batches[0])  # warm-up: first-call set-up, cuDNN autotuning, caches
    latencies, found, done = [], {}, 0

    def timed(number):
        started = time.perf_counter()
        result = call(batches[number % len(batches)])
        return number, time.perf_counter() - started, result

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        number = 0
        while number < max_batches and (number == 0 or time.perf_counter() - started < seconds):
            round_numbers = range(number, min(number + workers, max_batches))
            for index, elapsed, result in pool.map(timed, round_numbers):
                latencies.append(elapsed)
                done += len(batches[index % len(batches)])
                if index < len(batches):
                    for offset, boxes in enumerate(result):
                        found[index * batch + offset] = boxes
            number = round_numbers.stop
    wall = time.perf_counter() - started
    hits = [any(d.label == "person" and iou(d.box, frames[n][1]) > RECALL_IOU for d in boxes)
            for n, boxes in found.items()]
    return {"fps": round(done / wall, 2), "frames_done": done, "calls": len(latencies),
            "latency_p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "latency_p95_ms": round(percentile(latencies, 95) * 1000, 2),
            "person_recall": round(sum(hits) / len(hits), 3), "recall_frames": len(hits)}, found


def agreement(first, second):
    """Between two runs' detections of the same frames: frames with the same number of people, and the largest
    score difference between boxes matched by IoU > 0.5."""
    common = sorted(set(first) & set(second))
    same, worst = 0, 0.0
    for number in common:
        same += len(first[number]) == len(second[number])
        for mine in first[number]:
            matches = [abs(mine.score - theirs.score) for theirs in second[number] if iou(mine.box, theirs.box) > 0.5]
            worst = max([worst] + matches[:1])
    return {"frames_compared": len(common), "frames_same_count": same, "max_score_diff": round(worst, 4)}


def opencv_rows(frames, args, results):
    try:
        hog = backends.create("hog-people", "cpu")
    except (backends.BackendError, AttributeError) as exc:  # OpenCV 5: no HOGDescriptor
        results["opencv_hog_cpu"] = "unavailable with OpenCV %s: %s" % (cv2.__version__, exc)
        return None
    found = {}
    for workers in sorted({1, args.cpu_workers}):
        figures, seen = measure(lambda batch: [hog.detect(image) for image in batch], frames, 1, workers,
                                args.seconds, args.max_batches)
        results["opencv_hog_cpu_w%d" % workers] = figures
        found = {**seen, **found}
    return found


def torch_rows(frames, args, device, batch_sizes, results):
    model = backends.create("torch", device)
    results["torch_pyramid_step"] = model.model.scale
    found = {}
    for batch in batch_sizes:
        figures, seen = measure(model.detect_batch, frames, batch, 1, args.seconds, args.max_batches)
        results["torch_%s_b%d" % (device, batch)] = figures
        found = {**seen, **found}  # the first configuration's detections of a frame win
    return found


def best_fps(results, prefix):
    rates = [row["fps"] for key, row in results.items() if key.startswith(prefix) and isinstance(row, dict)]
    return max(rates) if rates else None


def run(args):
    frames = scene_frames(args.frames, args.seed)
    cuda = torch.cuda.is_available()
    results = {
        "frames": len(frames), "frame_size": "%dx%d" % (WIDTH, HEIGHT), "seed": args.seed,
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
        "device_name": torch.cuda.get_device_name(0) if cuda else "none (torch.cuda.is_available() is False)",
        "torch": torch.__version__, "torch_cuda": torch.version.cuda or "none", "opencv": cv2.__version__,
        "python": platform.python_version(), "seconds_per_config": args.seconds,
    }
    found = {"opencv": opencv_rows(frames, args, results),
             "cpu": torch_rows(frames, args, "cpu", args.cpu_batch_sizes, results)}
    if cuda:
        found["cuda"] = torch_rows(frames, args, "cuda", args.gpu_batch_sizes, results)
        results["agreement_cuda_vs_torch_cpu"] = agreement(found["cpu"], found["cuda"])
    if found["opencv"] is not None:
        results["agreement_torch_cpu_vs_opencv"] = agreement(found["opencv"], found["cpu"])
    gpu, opencv, torch_cpu = best_fps(results, "torch_cuda_"), best_fps(results, "opencv_hog_cpu_"), \
        best_fps(results, "torch_cpu_")
    results["gpu_vs_cpu_fps_ratio"] = round(gpu / opencv, 2) if gpu and opencv else None
    results["gpu_vs_torch_cpu_ratio"] = round(gpu / torch_cpu, 2) if gpu and torch_cpu else None
    results["torch_cpu_vs_opencv_cpu_ratio"] = round(torch_cpu / opencv, 3) if torch_cpu and opencv else None
    return results


def flatten(results):
    """gpu_<name> keys for results.json, one level of nesting joined with '_'."""
    flat = {}
    for key, value in results.items():
        name = key if key.startswith("gpu") else "gpu_" + key
        if isinstance(value, dict):
            flat.update({"%s_%s" % (name, inner): figure for inner, figure in value.items()})
        else:
            flat[name] = value
    return flat


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--frames", type=int, default=64, help="distinct frames (default 64)")
    parser.add_argument("--seed", type=int, default=2019, help="seed of the frame times (default 2019)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per configuration (default 10)")
    parser.add_argument("--max-batches", type=int, default=100000, help="calls per configuration at most")
    parser.add_argument("--cpu-workers", type=int, default=os.cpu_count() or 1,
                        help="concurrent OpenCV calls in the second OpenCV row (default: CPU count)")
    parser.add_argument("--cpu-batch-sizes", type=sizes, default=[1, 8], help="torch on the CPU (default 1,8)")
    parser.add_argument("--gpu-batch-sizes", type=sizes, default=[1, 8, 32], help="torch on CUDA (default 1,8,32)")
    parser.add_argument("--results", default=RESULTS, help="JSON file to merge the gpu_* figures into")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.seconds <= 0 or args.max_batches < 1 or args.cpu_workers < 1:
        parser.error("--frames, --seconds, --max-batches and --cpu-workers must be positive")
    figures = flatten(run(args))
    print(json.dumps(figures, indent=2, sort_keys=True))
    merge(figures, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
