"""The video-detection demo on the default lab, end to end: site.yml, as `make demo` runs it (camera on the
NAT'd edge, detector on aws1, app on do1, the operator joined as an external peer and a forwarder from this
machine's 127.0.0.1 through the operator's namespace). Then: a rerun changes nothing; /stats shows frames and
detections through the forwarder; a headless Chromium sees the page's stream move and boxes drawn; killing the
camera or the detector (by PID, inside its host) is recovered from within 10 s of its return; from the lab's
internet router only SSH and WireGuard answer.

Needs root, the project venv with the wiremesh CLI (make deps) and, for the browser part, the Debian package
chromium. Builds the default lab if needed and leaves it destroyed at the end of the module (with its mesh
state), so other tests start clean. Figures and screenshots go to tests/output/ (never asserted from there)."""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

from .labtools import BIN, ROOT, forget_mesh_state, in_host, needs_lab, playbook, recap
from .workloads import scene_truth
from .workloads.browser import chromium, open_page

LAB_ROOT = "/srv/wiremesh-lab/lab"
INVENTORY = os.path.join(ROOT, "inventories", "lab")
OUTPUT = os.path.join(ROOT, "tests", "output")
FORWARD = "127.0.0.1:8480"
APP_PIDFILE = os.path.join(ROOT, ".lab", "forward-lab.pid")
TOOL = os.path.join(ROOT, "tools", "lab_forward.py")
SCANNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads", "portscan.py")
# the synthetic scene (real people, a cat, a cup) whatever cameras this machine has; WIREMESH_TEST_VISION_SOURCE pins the package
# source (e.g. a copy) so that edits to vision/ during the run do not count as the rerun's changes
EXTRA = ("-e", "edge_camera_source=synthetic") + (
    ("-e", "vision_common_source=" + os.environ["WIREMESH_TEST_VISION_SOURCE"])
    if os.environ.get("WIREMESH_TEST_VISION_SOURCE") else ())
MESH_HOSTS = ["do1", "do2", "aws1", "edge"]
PUBLIC = ["203.0.113.11", "203.0.113.12", "203.0.113.21", "198.51.100.2", "198.51.100.10", "192.168.50.10"]
UDP_PROBES = [53, 67, 123, 161, 500, 1900, 4500, 5353, 8080, 8081, 8082, 51820, 51821]
RECOVERY_LIMIT_S = 10.0

pytestmark = [needs_lab, pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "wiremesh")),
                                            reason="needs the wiremesh CLI in the project venv (make deps)")]


def keep(name, data):
    os.makedirs(OUTPUT, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(OUTPUT, name), mode) as handle:
        handle.write(data if isinstance(data, (bytes, str)) else json.dumps(data, indent=2, sort_keys=True))


def must(proc, what):
    assert proc.returncode == 0, (what, proc.stdout[-6000:], proc.stderr[-3000:])
    return proc


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def forward(name, connect, pidfile):
    """Another forwarder from 127.0.0.1, through the app's host (do1): the demo's access policy lets the app, and
    only the app, reach the camera and the detector (the test's own forwarder, stopped at the end)."""
    out = subprocess.run([sys.executable, TOOL, "start", "--netns", "wm-do1", "--listen", "127.0.0.1:%d" % (
        8490 + {"camera": 1, "detector": 2}[name]), "--connect", connect, "--pidfile", pidfile],
        capture_output=True, text=True, timeout=60, check=True).stdout
    return "http://%s" % json.loads(out)["listen"]


def stop_forwarder(pidfile):
    subprocess.run([sys.executable, TOOL, "stop", "--pidfile", pidfile], capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    forwarders = tmp_path_factory.mktemp("forwarders")
    try:
        started = time.monotonic()
        first = must(playbook("site.yml", *EXTRA, timeout=2400), "site.yml (what make demo runs)")
        seconds = time.monotonic() - started
        keep("workloads_first_run.txt", first.stdout)
        stats = get_json("http://%s/stats" % FORWARD)
        camera = forward("camera", stats["camera_url"].split("//")[1].split("/")[0],
                         str(forwarders / "forward-camera.pid"))
        detector = forward("detector", stats["detector_url"].split("//")[1].rstrip("/"),
                           str(forwarders / "forward-detector.pid"))
        yield {"first": first, "first_s": seconds, "camera": camera, "detector": detector}
    finally:
        for pidfile in (str(forwarders / "forward-camera.pid"), str(forwarders / "forward-detector.pid"), APP_PIDFILE):
            stop_forwarder(pidfile)
        playbook("playbooks/lab_destroy.yml")
        forget_mesh_state(INVENTORY)


def test_first_run_converges_and_says_where_to_look(demo):
    stats = recap(demo["first"].stdout)
    assert all(s["failed"] == 0 and s["unreachable"] == 0 for s in stats.values()), stats
    assert "http://127.0.0.1:8480/" in demo["first"].stdout
    assert re.search(r"On the mesh .*http://10\.4\.\d+\.\d+:8080/", demo["first"].stdout)


def test_a_rerun_changes_nothing(demo):
    started = time.monotonic()
    again = must(playbook("site.yml", *EXTRA, timeout=2400), "rerun")
    keep("workloads_rerun.txt", again.stdout)
    keep("workloads_timing.json", {"first_run_s": round(demo["first_s"], 1),
                                   "rerun_s": round(time.monotonic() - started, 1)})
    changed = {host: s["changed"] for host, s in recap(again.stdout).items() if s["changed"]}
    assert changed == {}, changed


def test_stats_through_the_forwarder_show_frames_and_detections(demo):
    first = get_json("http://%s/stats" % FORWARD)
    time.sleep(3)
    second = get_json("http://%s/stats" % FORWARD)
    keep("workloads_stats.json", second)
    assert second["camera_connected"] and second["detector_connected"], second
    assert second["fps"] > 0 and second["frames_out"] > first["frames_out"], (first, second)
    assert second["detections"] > 0 and second["detector_requests"] > first["detector_requests"], (first, second)
    # wired by mesh IP: camera on edge, detector on aws1 (the gpu group), the app on do1
    assert re.fullmatch(r"http://10\.4\.\d+\.\d+:8081/mjpeg", second["camera_url"])
    assert re.fullmatch(r"http://10\.4\.\d+\.\d+:8082/?", second["detector_url"])
    assert second["path_label"] == "edge \u2192 do1 \u2192 aws1 over WireGuard"


PERSON_BGR = (0, 165, 255)  # the app draws person boxes in orange (#ffa500)


def colour_runs(image, bgr=PERSON_BGR):
    """Longest horizontal and vertical runs of pixels within 40 of the colour `bgr` (a drawn box's edges)."""
    mask = np.all(np.abs(image.astype(int) - np.array(bgr)) <= 40, axis=2)

    def longest(rows):
        best = 0
        for row in rows:
            padded = np.concatenate(([0], row.astype(np.int8), [0]))
            edges = np.flatnonzero(np.diff(padded))
            if len(edges):
                best = max(best, int((edges[1::2] - edges[::2]).max()))
        return best
    return longest(mask), longest(mask.T)


def iou(box, region):
    ax, ay, aw, ah = box
    bx, by, bw, bh = region
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / float(aw * ah + bw * bh - inter)


@pytest.mark.skipif(not chromium(), reason="needs the Debian package chromium")
def test_a_browser_sees_the_stream_move_and_labelled_boxes_on_the_people(demo):
    async def look():
        async with open_page("http://%s/" % FORWARD) as page:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready = await page.evaluate("(() => { const i = document.querySelector('img');"
                                            " return !!i && i.complete !== undefined && i.naturalWidth > 0; })()")
                if ready and (await page.evaluate("document.getElementById('fps').textContent")) not in ("-", "0"):
                    break
                await asyncio.sleep(0.5)
            box = await page.evaluate("(() => { const r = document.querySelector('img').getBoundingClientRect();"
                                      " return [r.x, r.y, r.width, r.height, window.devicePixelRatio]; })()")
            shots, texts = [], []
            for _shot in range(4):
                shots.append(await page.screenshot())
                texts.append(await page.evaluate("document.body.innerText"))
                await asyncio.sleep(1.5)
            return box, shots, texts

    box, shots, texts = asyncio.run(look())
    x, y, w, h, scale = box
    assert w >= 320 and h >= 240, box
    crops = []
    for index, png in enumerate(shots):
        keep("workloads_page_%d.png" % (index + 1), png)
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        crops.append(image[int(y * scale):int((y + h) * scale), int(x * scale):int((x + w) * scale)])
    moved = [float(np.mean(cv2.absdiff(a, b))) for a, b in zip(crops, crops[1:])]
    runs = [colour_runs(c) for c in crops]
    with urllib.request.urlopen(demo["camera"] + "/jpeg", timeout=10) as response:   # the camera's own frame
        raw = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
    keep("workloads_browser.json", {"img_box": box, "mean_abs_diff": moved, "person_colour_runs": runs,
                                    "raw_camera_person_colour_runs": colour_runs(raw), "page_text": texts[-1]})
    assert min(moved) > 0.5, moved                     # the stream updates between screenshots
    assert any(hx >= 30 and vx >= 30 for hx, vx in runs), runs   # a drawn person box: long edges both ways
    assert max(colour_runs(raw)) < 15                  # ... which the camera's raw picture does not have
    assert "edge \u2192 do1 \u2192 aws1 over WireGuard" in texts[-1]
    assert re.search(r"yolo on onnxruntime \(CPUExecutionProvider, cpu\)", texts[-1]), texts[-1]
    assert re.search(r"person \d+", texts[-1]), texts[-1]   # the per-class counts
    numbers = [int(re.search(r"(\d+) out", t).group(1)) for t in texts]
    assert numbers[-1] > numbers[0], numbers           # the page's live figures update too


def test_person_boxes_lie_on_the_people_not_on_the_tripod(demo):
    """The app's newest annotated frames (what the page shows) with the boxes drawn in them (X-Boxes, X-Labels):
    every person of the scene, located in the frame itself, is covered by a person box at IoU >= 0.5 in most
    frames, and no person box lies off the people (the cameraman's tripod, the cat, the cup)."""
    covered, frames, stray = {}, [], []
    deadline = time.monotonic() + 40
    while len(frames) < 16 and time.monotonic() < deadline:
        with urllib.request.urlopen("http://%s/frame" % FORWARD, timeout=10) as response:
            body, headers = response.read(), response.headers
        time.sleep(1.0)
        if headers.get("X-Annotated") != "1":
            continue
        frame = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        people = scene_truth.regions(frame)
        drawn = [tuple(b) for b, label in zip(json.loads(headers["X-Boxes"]), json.loads(headers["X-Labels"]))
                 if label == "person"]
        frames.append({"people": people, "person_boxes": drawn})
        for number, region in enumerate(people):
            covered.setdefault(number, []).append(max((iou(b, region) for b in drawn), default=0.0))
        stray += [b for b in drawn if max((iou(b, region) for region in people), default=0.0) < 0.3]
        if len(frames) == 1:
            keep("workloads_frame_people.jpg", body)
    keep("workloads_people.json", {"frames": frames, "covered_iou": covered, "stray_person_boxes": stray})
    assert len(frames) >= 8, frames
    assert len(covered) == 2, covered                  # the scene's two people: the astronaut, the cameraman
    for number, ious in covered.items():
        assert sum(i >= 0.5 for i in ious) >= 0.6 * len(ious), (number, ious)
    assert not stray, stray


def unit_pid(host, unit):
    proc = in_host(LAB_ROOT, host, "/usr/local/sbin/wiremesh-lab-ctl", "status", unit)
    info = json.loads(proc.stdout)
    return info["pid"] if info["state"] == "running" else None


def healthy(url):
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def kill_and_watch(host, unit, service_url, recovered):
    """Kill the unit's process by PID inside its host; return the timeline of the outage as seen from here."""
    pid = unit_pid(host, unit)
    assert pid, unit
    before = get_json("http://%s/stats" % FORWARD)
    killed = time.monotonic()
    must(in_host(LAB_ROOT, host, "kill", "-KILL", str(pid)), "kill")
    timeline = {"killed_pid": pid}
    back_at = baseline = None
    deadline = killed + 90
    while time.monotonic() < deadline:
        now = time.monotonic()
        try:
            stats = get_json("http://%s/stats" % FORWARD, timeout=2)
        except OSError:
            stats = None
        if stats and "app_noticed_s" not in timeline and not stats["%s_connected" % unit.split("-")[1]]:
            timeline["app_noticed_s"] = round(now - killed, 2)
        if back_at is None:
            if "down_s" not in timeline and not healthy(service_url):
                timeline["down_s"] = round(now - killed, 2)
            elif "down_s" in timeline and healthy(service_url):
                back_at, baseline = now, stats
                timeline["back_s"] = round(now - killed, 2)
        elif stats and baseline and recovered(baseline, stats):
            timeline["recovered_after_back_s"] = round(now - back_at, 2)
            break
        time.sleep(0.1)
    timeline["new_pid"] = unit_pid(host, unit)
    timeline["before"] = {k: before[k] for k in ("frames_in", "detections", "detector_requests")}
    return timeline


def test_the_app_recovers_when_the_camera_comes_back(demo):
    timeline = kill_and_watch("edge", "wiremesh-camera", demo["camera"],
                              lambda base, now: now["camera_connected"] and now["frames_in"] > base["frames_in"])
    keep("workloads_recovery_camera.json", timeline)
    assert "down_s" in timeline and "back_s" in timeline, timeline           # it really went away and came back
    assert timeline["new_pid"] and timeline["new_pid"] != timeline["killed_pid"], timeline
    assert "app_noticed_s" in timeline, timeline
    assert timeline.get("recovered_after_back_s", 99) <= RECOVERY_LIMIT_S, timeline


def test_the_app_recovers_when_the_detector_comes_back(demo):
    timeline = kill_and_watch("aws1", "wiremesh-detector", demo["detector"],
                              lambda base, now: now["detector_connected"] and now["detections"] > base["detections"])
    keep("workloads_recovery_detector.json", timeline)
    assert "down_s" in timeline and "back_s" in timeline, timeline
    assert timeline["new_pid"] and timeline["new_pid"] != timeline["killed_pid"], timeline
    assert timeline.get("recovered_after_back_s", 99) <= RECOVERY_LIMIT_S, timeline


def test_from_the_internet_only_ssh_and_wireguard_answer(demo):
    proc = must(subprocess.run(["ip", "netns", "exec", "wm-lab-internet", "/usr/bin/python3", SCANNER,
                                "--udp", ",".join(map(str, UDP_PROBES)), *PUBLIC],
                               capture_output=True, text=True, timeout=900, check=False), "scan")
    found = json.loads(proc.stdout)
    keep("workloads_portscan.json", found)
    for address in ("203.0.113.11", "203.0.113.12", "203.0.113.21"):   # the cloud hosts, meshed
        assert found[address]["tcp_open"] == [22], (address, found[address])
        assert found[address]["tcp"] == {"open": 1, "closed": 65534}, (address, found[address])
        answering = sorted(p for p, state in found[address]["udp"].items() if state != "closed")
        assert answering == ["51820"], (address, found[address]["udp"])
    # the operator (not a mesh node): SSH only; its WireGuard port is random and outside the probes
    assert found["198.51.100.10"]["tcp_open"] == [22]
    # the edge: its NAT router has nothing open and forwards nothing in; the edge itself has no route from here
    assert found["198.51.100.2"]["tcp_open"] == [] and "open" not in found["198.51.100.2"]["udp"].values()
    assert found["192.168.50.10"]["tcp"] == {"unreachable": 65535}


def in_netns(host, *argv):
    return subprocess.run(["ip", "netns", "exec", "wm-" + host, *argv], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def test_inside_every_host_the_services_listen_on_its_mesh_ip_only(demo):
    listeners, mesh_ips = {}, {}
    for host in MESH_HOSTS:
        mesh_ips[host] = json.loads(in_netns(host, "ip", "-j", "-4", "addr", "show", "dev", "wg0"))[0][
            "addr_info"][0]["local"]
        listeners[host] = [(row.split()[0], row.split()[4]) for row in in_netns(host, "ss", "-Hltnu").splitlines()]
        for proto, local in listeners[host]:
            address, port = local.rsplit(":", 1)
            if (proto, port) in (("tcp", "22"), ("udp", "51820")):
                continue                          # sshd and WireGuard: the only wildcard listeners
            assert address in (mesh_ips[host], "127.0.0.1"), (host, proto, local)
    keep("workloads_listeners.json", listeners)
    for host, port in (("do1", 8080), ("edge", 8081), ("aws1", 8082)):
        assert ("tcp", "%s:%d" % (mesh_ips[host], port)) in listeners[host], (host, listeners[host])
