# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the README's detection and failover tables from bench/results.json (what `make bench`, `make bench-gpu`
and `make chaos` measured), between the markers <!-- bench:NAME:start --> and <!-- bench:NAME:end --> (NAME:
detection, failover); never copy figures by hand.

    python tools/bench_readme.py [--results bench/results.json] [--readme README.md] [--check]

A figure missing from the results is written as "not measured" with the scenario's recorded error, if any.
--check exits 1 when the README differs from what the results give (nothing is written)."""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _num(value, digits=1):
    return "%.*f" % (digits, value) if isinstance(value, (int, float)) else "?"


def _detector(r, name, suffix=""):
    key = "detector_%s_cpu_" % name
    if key + "fps" + suffix not in r:
        return None
    return "%s fps (rounds %s–%s), p50 %s / p95 %s ms, mean batch %s" % (
        _num(r[key + "fps" + suffix], 2), _num(r.get(key + "fps_min" + suffix), 2),
        _num(r.get(key + "fps_max" + suffix), 2), _num(r.get(key + "p50_ms" + suffix)),
        _num(r.get(key + "p95_ms" + suffix)), _num(r.get(key + "batch_mean" + suffix), 2))


def _video(r, prefix=""):
    if prefix + "video_fps" not in r:
        return None
    share = r.get(prefix + "video_detected_share")
    return "%s fps; %s of the frames sent to the detector (%s detections/s); capture → viewer p50 %s / p95 %s ms" % (
        _num(r[prefix + "video_fps"]), "?" if share is None else "%.0f %%" % (100 * share),
        _num(r.get(prefix + "video_detected_fps")), _num(r.get(prefix + "latency_p50_ms")),
        _num(r.get(prefix + "latency_p95_ms")))


def _gpu(r):
    ratio = r.get("gpu_cuda_vs_cpu_best_fps_ratio")
    if ratio is None:
        return None
    streams = [v for k, v in sorted(r.items()) if k.startswith("gpu_streams_") and k.endswith("_sustained")]
    return "CUDA / CPU best fps %s×; 25 fps streams sustained: %s" % (_num(ratio), ", ".join(map(str, streams)) or "?")


ROWS = [  # (figure, how the value is written, goal)
    ("`detector_yolo_cpu_fps`, `_p50_ms` / `_p95_ms` (YOLOv3-tiny on onnxruntime, 640×480 scene frames, "
     "one stream, through the service on 127.0.0.1)", lambda r: _detector(r, "yolo"), "≥ 8 fps, p50 ≤ 150 ms"),
    ("the same, two concurrent streams (`_2streams`)", lambda r: _detector(r, "yolo", "_2streams"), ""),
    ("`detector_classic_cpu_fps` (opencv-classic: Haar faces + HOG people, the same frames)",
     lambda r: _detector(r, "classic"), ""),
    ("`video_fps`, `video_detected_share` (camera → app → viewer on 127.0.0.1, a second yolo detector beside "
     "the lab demo's)", _video, "≥ 25 fps, ≥ 1/3"),
    ("`mesh_video_fps`, `mesh_video_detected_share` (the lab demo: edge → do1 → aws1 over WireGuard, viewer "
     "through the operator)", lambda r: _video(r, "mesh_"), "≥ 25 fps, ≥ 1/3"),
    ("`gpu_*` (`make bench-gpu`: CPU vs CUDA at batch 1/8/32, streams per GPU)", _gpu,
     "CUDA ≥ 10× CPU at batch 8, ≥ 32 streams"),
]


def _failover(name):
    def value(r):
        key = "chaos_%s_" % name
        if key + "not_applicable" in r and key + "victim" not in r:
            return "not applicable on %s: %s" % (r.get(key + "inventory", "this lab"), r[key + "not_applicable"])
        if key + "victim" not in r:
            return None
        if name == "flaky_leader":
            return ("%svictim %s, %s %% loss each way for %s s: %s switches (at most %s per host); %s of %s pings "
                    "lost" % (_lab(r, name), r[key + "victim"], r.get(key + "loss_percent"),
                              _num(r.get(key + "seconds"), 0), r.get(key + "switches"),
                              r.get(key + "max_switches_per_host"), r.get(key + "lost_pings"), r.get(key + "sent")))
        return ("%svictim %s: every pair answers again after %s s (slowest %s); once it is back the longest silence is "
                "%s s (%s); %s of %s pings lost; %s switches" % (
                    _lab(r, name), r[key + "victim"], _num(r.get(key + "recovery_s"), 2), r.get(key + "slowest_pair"),
                    _num(r.get(key + "second_outage_s"), 2), r.get(key + "second_outage_pair"),
                    r.get(key + "lost_pings"), r.get(key + "sent"), r.get(key + "switches")))
    return value


def _lab(r, name):
    inventory = r.get("chaos_%s_inventory" % name)
    return "" if inventory is None else "`%s`, " % inventory


def _heal(name):
    def value(r):
        key = "chaos_%s_" % name
        if key + "recovery_s" not in r:
            return None
        return "%svictim %s: %s s; %s of %s pings lost" % (
            _lab(r, name), r.get(key + "victim"), _num(r[key + "recovery_s"], 2), r.get(key + "lost_pings"),
            r.get(key + "sent"))
    return value


FAILOVER_ROWS = [
    ("`chaos_kill_wireguard_go_*`: the victim's wireguard-go SIGKILLed", _heal("kill_wireguard_go"), "≤ 30 s"),
    ("`chaos_delete_interface_*`: `ip link del wg0` in the victim", _heal("delete_interface"), "≤ 30 s"),
    ("`chaos_restart_host_*`: the victim's namespaces torn down and booted again (same keys, mesh IP, no Ansible)",
     _heal("restart_host"), "≤ 30 s"),
    ("`chaos_sshd_stopped_run_*`: sshd stopped during `mesh.yml` (the others converge and keep its entry; the next "
     "run changes nothing on them)", _heal("sshd_stopped_run"), "no outage"),
    ("`chaos_leader_down_*`: a location's leader loses every link; pings every 10 ms between the other hosts of "
     "its location and every host", _failover("leader_down"), "≤ 10 s; then ≤ 1 s of silence when it returns"),
    ("`chaos_relay_down_*`: the relay of two NAT'd locations loses every link; the NAT'd pair pings",
     _failover("relay_down"), "≤ 10 s"),
    ("`chaos_flaky_leader_*`: the leader's links drop packets for 60 s", _failover("flaky_leader"),
     "≤ 1 switch per host, no flapping"),
]
BLOCKS = {"detection": ROWS, "failover": FAILOVER_ROWS}


def table(results, rows=None):
    rows = ROWS if rows is None else rows
    if rows is FAILOVER_ROWS:
        when = "last `make chaos` run: %s, commit %s, load %s" % (
            results.get("chaos_date", "?"), results.get("chaos_commit", "?"), _num(results.get("chaos_load_1m"), 2))
    else:
        when = "run of %s, commit %s, load %s, %s" % (
            results.get("bench_date", "?"), results.get("bench_commit", "?"), _num(results.get("bench_load_1m"), 2),
            results.get("bench_machine", "?"))
    lines = ["Generated by `tools/bench_readme.py` from `bench/results.json` (%s)." % when, "",
             "| figure | value | goal |", "|---|---|---|"]
    for figure, value, goal in rows:
        written = value(results)
        if written is None:
            errors = [v for k, v in sorted(results.items()) if k.endswith("_error") and k.split("_")[0] in figure]
            written = "not measured" + (": " + errors[0][:200].replace("|", "/") if errors else "")
            if figure.startswith("`gpu_"):
                written = results.get("gpu_cuda_skipped") or "not run: no GPU machine was lent to any session"
        lines.append("| %s | %s | %s |" % (figure, written.replace("\n", " "), goal))
    return "\n".join(lines)


def main(argv=None):
    parse = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parse.add_argument("--results", default=os.path.join(ROOT, "bench", "results.json"))
    parse.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    parse.add_argument("--check", action="store_true")
    args = parse.parse_args(argv)
    with open(args.results, encoding="utf-8") as handle:
        results = json.load(handle)
    with open(args.readme, encoding="utf-8") as handle:
        readme = handle.read()
    new = readme
    for name, rows in BLOCKS.items():
        start, end = "<!-- bench:%s:start -->" % name, "<!-- bench:%s:end -->" % name
        if start not in new or end not in new:
            print("bench_readme: %s has no %s ... %s block" % (args.readme, start, end), file=sys.stderr)
            return 2
        head, rest = new.split(start, 1)
        new = head + start + "\n" + table(results, rows) + "\n" + end + rest.split(end, 1)[1]
    if args.check:
        return 0 if new == readme else 1
    with open(args.readme, "w", encoding="utf-8") as handle:
        handle.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
