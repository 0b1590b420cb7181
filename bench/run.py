# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks, measured side by side in one run; prints JSON and writes bench/results.json.

plan_*: our planner (parse + validate + allocate + topology + render every node's INI).
jinja_full_*: the same full mesh rendered the way popular Ansible WireGuard roles do it: one Jinja2 render
per host, each looping over all hosts.
meshconf_*: wg-meshconf (PyPI) genconfig on the same number of nodes.
lost_pings_*, iperf_*, *_ratio: on the running lab (bench/lab.py), skipped with a reason when it is not up;
lost_pings_rotation: every key rotated under pings every 10 ms, on a lab of its own (bench/rotation.py).
detector_yolo_cpu_* / detector_classic_cpu_* (fps, p50/p95 ms, 1 client and _2streams): the detector service over
HTTP per backend on the same scene frames; video_fps, latency_p50_ms/_p95_ms: the demo workload with the yolo
detector (bench/vision.py), all on 127.0.0.1;
mesh_video_fps, mesh_latency_*: the same viewer on the lab demo (edge -> do1 over WireGuard, through the forwarder
that make demo starts), side by side; mesh_latency_added_p50_ms is the difference of the two p50s.

    python bench/run.py [planner] [meshconf] [vision] [lab] [rotation]     (default: all of them)

A scenario that fails records <scenario>_error, the others still run, the file is written, and the exit is 1.
bench_commit, bench_date, bench_load_1m and bench_machine say which run the figures come from."""

import base64
import hashlib
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import render  # noqa: E402
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan  # noqa: E402

DEMO_URL = "http://127.0.0.1:8480/"   # tools/lab_forward.py, started by playbooks/workloads.yml in the lab

JINJA_TEMPLATE = """[Interface]
Address = {{ hosts[me].ip }}/32
ListenPort = 51820
{% for name in hosts if name != me %}
[Peer]
# {{ name }}
PublicKey = {{ hosts[name].key }}
AllowedIPs = {{ hosts[name].ip }}/32
Endpoint = {{ hosts[name].endpoint }}:51820
{% endfor %}
"""


def fake_key(name):
    return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


def nodes(count, locations):
    out = []
    for i in range(count):
        out.append({"name": "node%05d" % i, "location": "loc%03d" % (i % locations),
                    "endpoint": "198.%d.%d.%d" % (18 + i // 65536, (i // 256) % 256, i % 256),
                    "public_key": fake_key("node%d" % i)})
    return out


def time_planner(count, locations, granularity):
    data = nodes(count, locations)
    start = time.perf_counter()
    plan = build_plan("10.4.0.0/16", granularity, data)
    configs = [render.node_ini(plan, name) for name in plan.nodes]
    elapsed = time.perf_counter() - start
    return elapsed, sum(len(c) for c in configs)


def time_jinja(count):
    import jinja2
    data = nodes(count, 1)
    hosts = {n["name"]: {"ip": "10.4.%d.%d" % (i // 254, i % 254 + 1), "key": n["public_key"],
                         "endpoint": n["endpoint"]} for i, n in enumerate(data)}
    template = jinja2.Environment().from_string(JINJA_TEMPLATE)
    start = time.perf_counter()
    size = sum(len(template.render(hosts=hosts, me=name)) for name in hosts)
    return time.perf_counter() - start, size


def planner_figures():
    results = {}
    for count in (250, 1000):
        results["plan_full_%d_s" % count], results["plan_full_%d_bytes" % count] = time_planner(count, 10, "full")
        results["jinja_full_%d_s" % count], results["jinja_full_%d_bytes" % count] = time_jinja(count)
        results["jinja_over_plan_full_%d" % count] = results["jinja_full_%d_s" % count] / results["plan_full_%d_s" % count]
    results["plan_location_5000_s"] = time_planner(5000, 50, "location")[0]
    return results


def meshconf_figures(meshconf, plan_full_250_s):
    results = {"meshconf_full_250_s": meshconf.time_genconfig(250)}
    if results["meshconf_full_250_s"] is not None and plan_full_250_s:
        results["meshconf_over_plan_full_250"] = results["meshconf_full_250_s"] / plan_full_250_s
    return results


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
    import meshconf  # pylint: disable=import-outside-toplevel
    import lab  # pylint: disable=import-outside-toplevel
    import rotation  # pylint: disable=import-outside-toplevel
    import vision  # pylint: disable=import-outside-toplevel
    import results_file  # pylint: disable=import-outside-toplevel
    results = provenance()
    scenarios = [("planner", planner_figures),
                 ("meshconf", lambda: meshconf_figures(meshconf, results.get("plan_full_250_s"))),
                 ("vision", lambda: vision_figures(vision)),
                 ("lab", lab.run_all)]
    if os.geteuid() == 0:
        scenarios.append(("rotation", rotation.rotation))  # on a lab of its own (rot), built and destroyed there
    wanted = sys.argv[1:] or [name for name, _scenario in scenarios]  # e.g. `bench/run.py vision`: that one only
    unknown = sorted(set(wanted) - {name for name, _scenario in scenarios})
    if unknown:
        print("bench: no scenario %s (scenarios: %s)" % (", ".join(unknown), ", ".join(n for n, _s in scenarios)),
              file=sys.stderr)
        return 2
    scenarios = [(name, scenario) for name, scenario in scenarios if name in wanted]
    for name, scenario in scenarios:  # a scenario that fails records its error; the others still run
        try:
            results.update(scenario())
        except Exception as exc:  # pylint: disable=broad-except
            results["%s_error" % name] = ("%s: %s" % (type(exc).__name__, exc)).strip()[-3000:]
            print("bench: scenario %s failed: %s" % (name, results["%s_error" % name][-500:]), file=sys.stderr)
    results = {k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}
    results_file.merge(results)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 1 if any(key.endswith("_error") for key in results) else 0


if __name__ == "__main__":
    sys.exit(main())
