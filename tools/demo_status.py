# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The last lines of `make demo`: where the page is and what it shows right now.

    python3 tools/demo_status.py [--url http://127.0.0.1:8480/] [--seconds 3]

Reads the web app's /stats twice through the lab forwarder (127.0.0.1 only) and prints the page URL with the live
figures: frames/s out, what the detector runs on (backend, engine, provider, device), its latency p50/p95, the
detections per class, the objects in view, the path the frames travel. Exit status 1 when the
app does not answer or no frame flowed in the interval, so `make demo` fails instead of printing a dead URL."""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def get_stats(url, timeout=5.0):
    with urllib.request.urlopen(url.rstrip("/") + "/stats", timeout=timeout) as response:
        return json.loads(response.read())


def per_class(counts):
    """"person 2, cat 1" from {"person": 2, "cat": 1}, most first; "none" when empty."""
    ranked = sorted((counts or {}).items(), key=lambda item: (-item[1], item[0]))
    return ", ".join("%s %d" % item for item in ranked) or "none"


def detector_name(stats):
    """"yolo on onnxruntime (CPUExecutionProvider, cpu)" from the app's detector_model, else just the backend."""
    model = stats.get("detector_model")
    if not model:
        return "%s (engine not known yet)" % (stats.get("backend") or "?")
    return "%s on %s (%s, %s)" % tuple(model.get(key) or "?" for key in ("backend", "engine", "provider", "device"))


def render(url, first, second, seconds):
    """The summary lines for two /stats readings taken ``seconds`` apart; (text, healthy)."""
    frames = second.get("frames_out", 0) - first.get("frames_out", 0)
    latency = second.get("detector_latency_ms") or {}
    healthy = frames > 0 and second.get("camera_connected") and second.get("detector_connected")

    def ms(value):
        return "-" if value is None else "%.0f ms" % value

    lines = [
        "Open %s in a browser on this machine." % url,
        "  path           %s" % second.get("path_label", "?"),
        "  video          %.1f frames/s out (%d frames in the last %.0f s), camera %s, detector %s" % (
            second.get("fps", 0.0), frames, seconds,
            "connected" if second.get("camera_connected") else "DOWN",
            "connected" if second.get("detector_connected") else "DOWN"),
        "  detector       %s, latency p50 %s / p95 %s, %d detections so far: %s" % (
            detector_name(second), ms(latency.get("p50")), ms(latency.get("p95")), second.get("detections", 0),
            per_class(second.get("class_totals"))),
        "  in view        %s" % per_class(second.get("classes")),
    ]
    if not healthy and second.get("last_error"):
        lines.append("  last error     %s" % second["last_error"])
    return "\n".join(lines), bool(healthy)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8480/")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not args.url.startswith("http://127."):
        parser.error("--url must be on 127.0.0.0/8 (the lab forwarder)")
    try:
        first = get_stats(args.url)
        time.sleep(args.seconds)
        second = get_stats(args.url)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print("the demo page %s does not answer: %s (is the lab up? make demo)" % (args.url, exc), file=sys.stderr)
        return 1
    text, healthy = render(args.url, first, second, args.seconds)
    print(text)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
