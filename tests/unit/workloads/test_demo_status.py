"""tools/demo_status.py: the last lines of `make demo` (rendering only; the live page is the integration test's)."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPEC = importlib.util.spec_from_file_location("demo_status", os.path.join(ROOT, "tools", "demo_status.py"))
demo_status = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(demo_status)

URL = "http://127.0.0.1:8480/"
LIVE = {"frames_out": 175, "fps": 24.9, "camera_connected": True, "detector_connected": True, "backend": "opencv",
        "detector_latency_ms": {"p50": 213.4, "p95": 264.0, "samples": 40}, "detections": 96,
        "path_label": "edge \u2192 do1 \u2192 aws1 over WireGuard"}


def test_live_demo_prints_url_and_figures():
    text, healthy = demo_status.render(URL, dict(LIVE, frames_out=100), LIVE, 3.0)
    assert healthy
    assert text.splitlines()[0] == "Open http://127.0.0.1:8480/ in a browser on this machine."
    assert "24.9 frames/s out (75 frames in the last 3 s), camera connected, detector connected" in text
    assert "latency p50 213 ms / p95 264 ms, 96 detections so far" in text
    assert "edge \u2192 do1 \u2192 aws1 over WireGuard" in text


@pytest.mark.parametrize("change", [{"frames_out": 100}, {"camera_connected": False}, {"detector_connected": False}])
def test_a_stalled_or_broken_demo_is_not_healthy(change):
    second = dict(LIVE, last_error="camera: connection refused", **change)
    text, healthy = demo_status.render(URL, dict(LIVE, frames_out=100), second, 3.0)
    assert not healthy
    assert "last error     camera: connection refused" in text


def test_no_latency_yet_prints_a_dash():
    text, healthy = demo_status.render(URL, LIVE, dict(LIVE, detector_latency_ms={"p50": None, "p95": None}), 3.0)
    assert "latency p50 - / p95 -" in text
    assert not healthy      # and no frame flowed between the two readings


def test_only_loopback_urls(capsys):
    with pytest.raises(SystemExit):
        demo_status.main(["--url", "http://10.4.0.2:8080/"])
    assert "127.0.0.0/8" in capsys.readouterr().err
