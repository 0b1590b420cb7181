# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks, measured side by side in one run; prints JSON and writes bench/results.json.

plan_*, popular_template_*, jinja_bare_*_lower_bound_s, plan_vs_popular_*: the planner on the path the role runs
(build, plan data, JSON, every host's render) against the popular role's full-mesh template through Ansible's
templar (bench/planner.py, bench/popular.py; CPU seconds).
meshconf_250_*: wg-meshconf (PyPI) genconfig on 250 nodes, with and without its key derivation (bench/meshconf.py).
lost_pings_*, iperf_*, *_ratio: on the running lab (bench/lab.py), skipped with a reason when it is not up;
lost_pings_rotation: every key rotated under pings every 10 ms, on a lab of its own (bench/rotation.py).
detector_yolo_cpu_* / detector_classic_cpu_* (fps, p50/p95 ms, 1 client and _2streams): the detector service over
HTTP per backend on the same scene frames; video_fps, latency_p50_ms/_p95_ms: the demo workload with the yolo
detector (bench/vision.py), all on 127.0.0.1;
mesh_video_fps, mesh_latency_*: the same viewer on the lab demo (edge -> do1 over WireGuard, through the forwarder
that make demo starts), side by side; mesh_latency_added_p50_ms is the difference of the two p50s.

mesh_step_*, popular_role_*: the mesh step (playbooks/mesh.yml, first run and no-op rerun) on scale labs of 10, 25,
50 and 100 hosts, against the popular role's config step at 50 (bench/mesh_step.py).

demo_site_s: site.yml bringing the demo lab up (and its workloads back) after the quiet scenarios;
bench_demo_workloads_stopped: the demo workloads a `make demo` left running, stopped before planner/mesh_step.

    python bench/run.py [planner] [meshconf] [mesh_step] [demo] [vision] [lab] [rotation]   (default: all, in order)

A scenario that fails records <scenario>_error, the others still run, the file is written, and the exit is 1.
bench_commit, bench_date, bench_load_1m and bench_machine say which run the figures come from."""

import json
import os
import subprocess
import sys

DEMO_URL = "http://127.0.0.1:8480/"   # tools/lab_forward.py, started by playbooks/workloads.yml in the lab


def meshconf_figures(meshconf, results):
    import results_file  # pylint: disable=import-outside-toplevel
    figures = results_file.provenance("meshconf")
    figures.update(meshconf.time_genconfig(250))
    ours = results.get("plan_full_250_s")
    for variant in ("incl_keygen", "keys_once"):
        theirs = figures.get("meshconf_250_%s_s" % variant)
        if theirs is not None and ours:
            figures["meshconf_%s_vs_plan_full_250" % variant] = theirs / ours
    return figures


# the figures a scenario owns: when it runs, those of an earlier run that it did not write again are written as
# null (not measured in this run), so that no old figure, error or skip reason stands beside the new ones
OWNED = {"planner": ("plan_", "popular_template_", "jinja_bare_", "planner_"), "meshconf": ("meshconf_",),
         "mesh_step": ("mesh_step_", "popular_role_", "scale_lab_"), "demo": ("demo_site_",)}


def retire(results, path, prefixes):
    if not prefixes or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as handle:
        previous = json.load(handle)
    owned = tuple(p for group in prefixes for p in group)
    for key in previous:
        if key.startswith(owned) and key not in results:
            results[key] = None


def vision_figures(vision):
    results = {}
    for key, value in vision.run(10).items():
        if not isinstance(value, (dict, list)):
            results[key if key.startswith(("video_", "latency_", "detector_", "app_")) else "vision_" + key] = value
    results["video_measured_over"] = "loopback (camera, detector and app on 127.0.0.1)"
    results.update(vision.over_the_mesh(DEMO_URL, 10))
    if results.get("mesh_latency_p50_ms") is not None and results.get("latency_p50_ms") is not None:
        results["mesh_latency_added_p50_ms"] = results["mesh_latency_p50_ms"] - results["latency_p50_ms"]
    return results


def provenance():
    """Which code, when, on what, under which load (results_file.provenance)."""
    import results_file  # pylint: disable=import-outside-toplevel
    return results_file.provenance("bench")


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import demo_lab  # pylint: disable=import-outside-toplevel
    import meshconf  # pylint: disable=import-outside-toplevel
    import mesh_step  # pylint: disable=import-outside-toplevel
    import planner  # pylint: disable=import-outside-toplevel
    import lab  # pylint: disable=import-outside-toplevel
    import rotation  # pylint: disable=import-outside-toplevel
    import vision  # pylint: disable=import-outside-toplevel
    import results_file  # pylint: disable=import-outside-toplevel
    results = provenance()
    root = os.geteuid() == 0
    # first what is timed on a quiet machine (the demo's workloads stopped): the planner and the scale labs of 10,
    # 25, 50 and 100 hosts (each built, meshed twice and destroyed); then the demo lab (site.yml) and what runs on it
    scenarios = [("planner", planner.figures),
                 ("meshconf", lambda: meshconf_figures(meshconf, results))]
    if root:
        scenarios.append(("mesh_step", lambda: dict(results_file.provenance("mesh_step"),
                                                    **mesh_step.mesh_step(log=lambda line: print(line, file=sys.stderr)))))
        scenarios.append(("demo", demo_lab.bring_up))
    scenarios += [("vision", lambda: vision_figures(vision)), ("lab", lab.run_all)]
    if root:
        scenarios.append(("rotation", rotation.rotation))  # on a lab of its own (rot), built and destroyed there
    wanted = sys.argv[1:] or [name for name, _scenario in scenarios]  # e.g. `bench/run.py vision`: that one only
    unknown = sorted(set(wanted) - {name for name, _scenario in scenarios})
    if unknown:
        print("bench: no scenario %s (scenarios: %s)" % (", ".join(unknown), ", ".join(n for n, _s in scenarios)),
              file=sys.stderr)
        return 2
    scenarios = [(name, scenario) for name, scenario in scenarios if name in wanted]
    if not {"vision", "lab", "rotation", "demo"} & set(wanted):
        # bench_* label the detection and lab figures: a run without them keeps theirs (planner, meshconf and
        # mesh_step write their own provenance)
        results = {}
    if root and {"planner", "meshconf", "mesh_step"} & set(wanted):
        try:
            results["bench_demo_workloads_stopped"] = demo_lab.stop_workloads()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            results["bench_demo_workloads_stopped_error"] = str(exc)[-500:]
    for name, scenario in scenarios:  # a scenario that fails records its error; the others still run
        try:
            results.update(scenario())
        except Exception as exc:  # pylint: disable=broad-except
            results["%s_error" % name] = ("%s: %s" % (type(exc).__name__, exc)).strip()[-3000:]
            print("bench: scenario %s failed: %s" % (name, results["%s_error" % name][-500:]), file=sys.stderr)
    results = {k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}
    retire(results, results_file.RESULTS, [OWNED[name] for name, _scenario in scenarios if name in OWNED])
    results_file.merge(results)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 1 if any(key.endswith("_error") and value for key, value in results.items()) else 0


if __name__ == "__main__":
    sys.exit(main())
