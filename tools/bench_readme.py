# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the README's benchmark tables from bench/results.json (the latest figures of `make bench`, `make
bench-gpu` and `make chaos`; each table names the file its run wrote, bench/runs/...), between the markers
<!-- bench:NAME:start --> and <!-- bench:NAME:end --> (NAME: detection, failover, planner, mesh_step, lab); never
copy figures by hand.

    python tools/bench_readme.py [--results bench/results.json] [--readme README.md] [--check]

A figure missing from the results is written as "not measured" with the scenario's recorded error, if any.
--check exits 1 when the README differs from what the results give (nothing is written)."""

import argparse
import json
import math
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


def _sig(value):
    """``value`` with 3 significant digits (no exponent), thousands separated."""
    if not isinstance(value, (int, float)):
        return "?"
    digits = 0 if value == 0 else max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return "{:,.{}f}".format(value, digits)


def _measured(r, key, scenario="planner"):
    """The reason ``key`` (a figure's name without _s) has no value, or None when it has one (null: not measured
    in the last run of its scenario, bench/run.py's OWNED)."""
    if r.get(key + "_skipped"):
        return "skipped: " + r[key + "_skipped"].replace("|", "/")
    if r.get(key + "_error"):
        return "not measured: " + r[key + "_error"][:200].replace("|", "/").replace("\n", " ")
    if r.get(key + "_s") is not None:
        return None
    failed = r.get(scenario + "_error")
    return "not measured" + (": " + failed[:200].replace("|", "/").replace("\n", " ") if failed else "")


def _plan(granularity, count):
    def value(r):
        key = "plan_%s_%d" % (granularity, count)
        why = _measured(r, key)
        if why:
            return why
        where = "; %s locations" % r[key + "_locations"] if r.get(key + "_locations") else ""
        return ("**%s s** (rounds %s–%s%s): controller %s (build %s, data %s, JSON %s); hosts %s (copy %s, render %s); "
                "%s MB of JSON, %s MB of configs" % (
                    _sig(r[key + "_s"]), _sig(r.get(key + "_min_s")), _sig(r.get(key + "_max_s")), where,
                    _sig(r.get(key + "_controller_s")), _sig(r.get(key + "_build_s")), _sig(r.get(key + "_dict_s")),
                    _sig(r.get(key + "_json_s")), _sig(r.get(key + "_hosts_s")), _sig(r.get(key + "_host_copy_s")),
                    _sig(r.get(key + "_render_s")), _sig(r.get(key + "_json_bytes", 0) / 1e6),
                    _sig(r.get(key + "_bytes", 0) / 1e6)))
    return value


def _popular(count):
    def value(r):
        key = "popular_template_%d" % count
        why = _measured(r, key)
        if why:
            return why
        how = ("extrapolated from %s hosts spread over the %s" % (r.get(key + "_sampled_hosts"), _sig(count))
               if r.get(key + "_extrapolated") else "every host")
        return "**%s s** (%s: %s s per host, %s–%s)" % (
            _sig(r[key + "_s"]), how, _sig(r.get(key + "_per_host_median_s")), _sig(r.get(key + "_per_host_min_s")),
            _sig(r.get(key + "_per_host_max_s")))
    return value


def _ratio(count):
    def value(r):
        ratio = r.get("plan_vs_popular_%d" % count)
        if ratio is None:
            return "not measured (it needs both figures from one run)"
        return "**%s×** (%s s / %s s)" % (_sig(ratio), _sig(r.get("popular_template_%d_s" % count)),
                                          _sig(r.get("plan_full_%d_s" % count)))
    return value


def _jinja(count):
    def value(r):
        key = "jinja_bare_%d_lower_bound" % count
        return _measured(r, key) or "%s s" % _sig(r[key + "_s"])
    return value


def _meshconf(r):
    if r.get("meshconf_250_incl_keygen_s") is None:
        return _measured(r, "meshconf_250_incl_keygen", "meshconf")
    if r.get("meshconf_keys_once_vs_plan_full_250") is None:     # the ratios exist only within one bench/run.py
        ours = " (run of %s, apart from the planner's)" % r.get("meshconf_date", "?")
    else:
        ours = "; wg-meshconf / `plan_full_250_s`: %s× / %s×" % (
            _sig(r.get("meshconf_incl_keygen_vs_plan_full_250")), _sig(r["meshconf_keys_once_vs_plan_full_250"]))
    return "%s s / %s s%s" % (_sig(r["meshconf_250_incl_keygen_s"]), _sig(r.get("meshconf_250_keys_once_s")), ours)


PLANNER_ROWS = [
    ("`plan_full_250_s`", _plan("full", 250), ""),
    ("`plan_full_1000_s`", _plan("full", 1000), ""),
    ("`plan_full_5000_s`", _plan("full", 5000), ""),
    ("`plan_location_250_s`", _plan("location", 250), ""),
    ("`plan_location_1000_s`", _plan("location", 1000), ""),
    ("`plan_location_5000_s`", _plan("location", 5000), "< 1 s"),
    ("`popular_template_250_s` (the popular role's template through Ansible's templar, real HostVars)",
     _popular(250), ""),
    ("`popular_template_1000_s`", _popular(1000), ""),
    ("`plan_vs_popular_250` (popular template / `plan_full_250_s`)", _ratio(250), ""),
    ("`plan_vs_popular_1000` (popular template / `plan_full_1000_s`)", _ratio(1000), "≥ 10×"),
    ("`jinja_bare_1000_lower_bound_s` (a bare jinja2 loop over a plain dict, no Ansible: a floor for any template)",
     _jinja(1000), ""),
    ("`meshconf_250_incl_keygen_s` / `meshconf_250_keys_once_s` (wg-meshconf genconfig as shipped, deriving "
     "every peer's public key again for every config; and with each key derived once)", _meshconf, ""),
]


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


def _step(count):
    def value(r):
        if r.get("mesh_step_rerun_s_%d" % count) is None and r.get("mesh_step_first_s_%d" % count) is None:
            failed = r.get("mesh_step_%d_error" % count) or r.get("mesh_step_error")
            return "not measured" + (": " + failed[:200].replace("|", "/").replace("\n", " ") if failed else "")
        rerun = r.get("mesh_step_rerun_s_%d" % count)
        text = "first **%s s**, rerun **%s s** (changed %s), %s tasks per host (%s executed); controller CPU %s s / " \
            "%s s; load %s" % (
                _sig(r.get("mesh_step_first_s_%d" % count)), _sig(rerun) if rerun is not None else "failed",
                r.get("mesh_step_rerun_changed_%d" % count, "?"), _sig(r.get("mesh_step_tasks_per_host_%d" % count)),
                _sig(r.get("mesh_step_tasks_executed_per_host_%d" % count)),
                _sig(r.get("mesh_step_first_cpu_s_%d" % count)), _sig(r.get("mesh_step_rerun_cpu_s_%d" % count)),
                _num(r.get("mesh_step_load_1m_%d" % count), 1))
        if r.get("mesh_step_floor_s_%d" % count) is not None:
            text += "; floor (one no-op module per host) %s s: rerun = %s× the floor" % (
                _sig(r["mesh_step_floor_s_%d" % count]), _sig(r.get("mesh_step_rerun_vs_floor_%d" % count)))
        if r.get("mesh_step_ping_%d" % count) is not None:
            text += "; NAT'd host ↔ first host after the rerun: %s of 3 pings answered (the worse way)" % r["mesh_step_ping_%d" % count]
        if r.get("mesh_step_%d_error" % count):
            text += "; error: " + r["mesh_step_%d_error" % count][:200].replace("|", "/").replace("\n", " ")
        return text
    return value


def _popular_step(count):
    def value(r):
        if r.get("popular_role_rerun_s_%d" % count) is None:
            failed = r.get("popular_role_%d_error" % count)
            return "not measured" + (": " + failed[:200].replace("|", "/") if failed else "")
        ratio = r.get("mesh_step_vs_popular_rerun_%d" % count)
        return "first %s s, rerun **%s s** (changed %s, %s tasks per host); ours / theirs: **%s**" % (
            _sig(r.get("popular_role_first_s_%d" % count)), _sig(r["popular_role_rerun_s_%d" % count]),
            r.get("popular_role_rerun_changed_%d" % count, "?"), _sig(r.get("popular_role_tasks_per_host_%d" % count)),
            _sig(ratio) if ratio is not None else "?")
    return value


def _growth(r):
    rerun, first = r.get("mesh_step_rerun_growth_exponent"), r.get("mesh_step_first_growth_exponent")
    if rerun is None and first is None:
        return "not measured"
    return "rerun ~ N^%s, first run ~ N^%s" % (_sig(rerun) if rerun is not None else "?",
                                               _sig(first) if first is not None else "?")


def _memory(r):
    sizes = [n for n in (10, 25, 50, 100) if r.get("scale_lab_rss_mib_per_host_%d" % n) is not None]
    if not sizes:
        return "not measured"
    return "; ".join("%d hosts: %s MiB RSS, %s MiB PSS, %s%% of one CPU idle" % (
        n, _sig(r["scale_lab_rss_mib_per_host_%d" % n]), _sig(r.get("scale_lab_pss_mib_per_host_%d" % n)),
        _sig(r.get("scale_lab_idle_cpu_pct_%d" % n))) for n in sizes)


def _lost(name):
    def value(r):
        lost, sent = r.get("lost_pings_%s" % name), r.get("pings_sent_%s" % name)
        if lost is None:
            failed = r.get("%s_error" % name) or r.get("lab_error") or r.get("lab_skipped")
            return "not measured" + (": " + str(failed)[:200].replace("|", "/").replace("\n", " ") if failed else "")
        return "%s of %s" % (_sig(lost), _sig(sent)) if sent is not None else _sig(lost)
    return value


def _ratio_ci(name, top, bottom):
    def value(r):
        if r.get(name) is None:
            failed = r.get("lab_error") or r.get("lab_skipped")
            return "not measured" + (": " + str(failed)[:200].replace("|", "/") if failed else "")
        spread = (" ± %s (~95 %%, %s rounds)" % (_sig(r[name + "_ci95"]), r.get(name + "_rounds"))
                  if r.get(name + "_ci95") is not None else " (one round: no spread)")
        return "**%s**%s; medians %s vs %s Mbit/s" % (_sig(r[name]), spread, _sig(r.get(top)), _sig(r.get(bottom)))
    return value


LAB_ROWS = [
    ("`lost_pings_peer_add` / `lost_pings_peer_remove` (10 ms pings while `mesh.yml` adds and removes a peer)",
     lambda r: "%s / %s" % (_lost("peer_add")(r), _lost("peer_remove")(r)), "0"),
    ("`lost_pings_rotation` (every key rotated under 10 ms pings)", _lost("rotation"), "0"),
    ("`wg_tuned_ratio` (mesh / hand-made WireGuard link, same hosts, MTU 1420)",
     _ratio_ci("wg_tuned_ratio", "iperf_mesh_mbps", "iperf_hand_wg_mbps"), "≥ 0.95"),
    ("`wg_veth_ratio` (mesh / plain veth: wireguard-go is CPU-bound)",
     _ratio_ci("wg_veth_ratio", "iperf_mesh_mbps", "iperf_veth_mbps"), ""),
    ("`leader_hop_ratio` (member → other location through its leader / leader direct)",
     _ratio_ci("leader_hop_ratio", "iperf_leader_hop_mbps", "iperf_mesh_mbps"), ""),
]


MESH_STEP_ROWS = [
    ("`mesh_step_*_10`: `playbooks/mesh.yml` on a fresh scale lab of 10 hosts", _step(10), ""),
    ("`mesh_step_*_25`", _step(25), ""),
    ("`mesh_step_*_50`", _step(50), ""),
    ("`mesh_step_*_100`", _step(100), "rerun ≤ 60 s, first ≤ 3 min"),
    ("`popular_role_*_50`: the popular role's config step (`bench/popular_role/popular.yml`) on the same 50 hosts",
     _popular_step(50), "ours / theirs ≤ 0.5"),
    ("`mesh_step_*_growth_exponent` (least squares over the sizes that ran)", _growth, ""),
    ("`scale_lab_*_per_host_N`: a meshed lab host (init, sshd, wireguard-go, failover agent)", _memory, ""),
]
BLOCKS = {"detection": ROWS, "failover": FAILOVER_ROWS, "planner": PLANNER_ROWS, "mesh_step": MESH_STEP_ROWS,
          "lab": LAB_ROWS}


def table(results, rows=None):
    rows = ROWS if rows is None else rows
    if rows is FAILOVER_ROWS:
        prefix = "chaos"
        when = "last `make chaos` run: %s, commit %s, load %s" % (
            results.get("chaos_date", "?"), results.get("chaos_commit", "?"), _num(results.get("chaos_load_1m"), 2))
    elif rows is MESH_STEP_ROWS:
        prefix = "mesh_step"
        when = "mesh_step run of %s, commit %s, load %s, %s; wall seconds, forks %s" % (
            results.get("mesh_step_date", "?"), results.get("mesh_step_commit", "?"),
            _num(results.get("mesh_step_load_1m"), 2), results.get("mesh_step_machine", "?"),
            results.get("mesh_step_forks", "10"))
    elif rows is PLANNER_ROWS:
        prefix = "planner"
        when = "planner run of %s, commit %s, load %s at its start and %s at its end, %s; CPU seconds, medians" % (
            results.get("planner_date", "?"), results.get("planner_commit", "?"),
            _num(results.get("planner_load_1m"), 2), _num(results.get("planner_load_1m_end"), 2),
            results.get("planner_machine", "?"))
    else:
        prefix = "bench"
        when = "run of %s, commit %s, load %s, %s" % (
            results.get("bench_date", "?"), results.get("bench_commit", "?"), _num(results.get("bench_load_1m"), 2),
            results.get("bench_machine", "?"))
    source = "bench/" + results[prefix + "_run_file"] if results.get(prefix + "_run_file") else "bench/results.json"
    lines = ["Generated by `tools/bench_readme.py` from `%s` (%s)." % (source, when), "",
             "| figure | value | goal |", "|---|---|---|"]
    for figure, value, goal in rows:
        written = value(results)
        if written is None:
            errors = [v for k, v in sorted(results.items()) if k.endswith("_error") and v and k.split("_")[0] in figure]
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
