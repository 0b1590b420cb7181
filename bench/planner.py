# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner benchmarks on the path the product runs, side by side with the popular role's way.

Times are CPU seconds of the process (time.process_time), the median of the rounds: this machine is shared
(planner_load_1m and _load_1m_end say how busy it was) and wall time there says more about the neighbours than
about the code; plan_*_wall_s gives the wall time beside them.

plan_<granularity>_<N>_s: what a mesh run costs on that path, in parts (_min_s/_max_s: the spread of the total):
  _build_s      build_plan: parse, validate, allocate, topology (the mesh_plan action)
  _dict_s       plan.to_dict(): the plan's plain data, which the action returns
  _json_s       json.dumps of that data: Ansible serialises the action's result and each host's module arguments
  _host_copy_s  every host's module copying its config (wireguard/conffile.desired_config), summed
  _render_s     every host's wgconf.render(config, private key, preshared keys), summed: the module's own call
  _controller_s build + dict + json (once per run, on the controller); _hosts_s: host_copy + render (on the hosts)
Not in it: the action reading each node's variables from hostvars (N variable merges, not N²) and its state file.
Each size runs in a child process (its peak RSS is _peak_rss_mib); full granularity at 5,000 nodes is skipped
with _skipped saying why when the 1,000-node run says it would not fit (it grows as N²).

popular_template_<N>_s: the popular role's template through Ansible's templar with real HostVars (bench/popular.py),
a sample of hosts timed and extrapolated to every host (_sampled_hosts, _extrapolated).
jinja_bare_<N>_lower_bound_s: a bare jinja2 loop over a plain dict, no Ansible: a lower bound for any template.
plan_vs_popular_<N>: popular_template_<N>_s / plan_full_<N>_s (goal at 1,000: >= 10).

    python bench/planner.py                      every figure above, as JSON
    python bench/planner.py plan full 1000 3     one size in this process (what the parent runs in a child)"""

import base64
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "collections"))
sys.path.insert(0, HERE)

SIZES = (250, 1000, 5000)
LOCATIONS = {250: 10, 1000: 10, 5000: 50}     # location granularity: nodes spread over this many locations
ROUNDS = 3
POPULAR_SAMPLE = int(os.environ.get("BENCH_POPULAR_SAMPLE", "10"))   # hosts rendered at each size
POPULAR_SIZES = (250, 1000)
CHILD_TIMEOUT = 900
PARTS = ("build", "dict", "json", "host_copy", "render")

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
    """Planner input: ``count`` nodes with public endpoints, spread over ``locations``."""
    out = []
    for i in range(count):
        out.append({"name": "node%05d" % i, "location": "loc%03d" % (i % locations),
                    "endpoint": "198.%d.%d.%d" % (18 + i // 65536, (i // 256) % 256, i % 256),
                    "public_key": fake_key("node%d" % i)})
    return out


def plan_round(data, granularity):
    """One mesh run on the product's path: CPU seconds per part, wall seconds in all, rendered and JSON bytes."""
    # pylint: disable=import-outside-toplevel
    from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import wgconf
    from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan
    from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.conffile import desired_config
    private_key = fake_key("private")
    psks = {n["public_key"]: fake_key("psk-" + n["name"]) for n in data}   # the state file's, looked up per host
    seconds = {}
    wall = time.perf_counter()
    start = time.process_time()
    plan = build_plan("10.4.0.0/16", granularity, data)
    start = lap(seconds, "build", start)
    plain = plan.to_dict()
    start = lap(seconds, "dict", start)
    json_bytes = len(json.dumps(plain))
    start = lap(seconds, "json", start)
    wanted = [desired_config(config) for config in plain["nodes"].values()]
    start = lap(seconds, "host_copy", start)
    size = sum(len(wgconf.render(config, private_key, psks)) for config in wanted)
    lap(seconds, "render", start)
    return seconds, time.perf_counter() - wall, size, json_bytes


def lap(seconds, part, start):
    """Record the CPU seconds since ``start`` as ``part``; the new start."""
    now = time.process_time()
    seconds[part] = now - start
    return now


def measure_plan(granularity, count, rounds):
    """``rounds`` rounds of ``plan_round`` in this process: figures without the plan_<g>_<N> prefix."""
    data = nodes(count, LOCATIONS.get(count, 10))
    runs, walls = [], []
    for dummy in range(rounds):
        seconds, wall, size, json_bytes = plan_round(data, granularity)
        runs.append(seconds)
        walls.append(wall)
    totals = [sum(r.values()) for r in runs]
    out = {"s": statistics.median(totals), "min_s": min(totals), "max_s": max(totals), "rounds": rounds,
           "wall_s": statistics.median(walls),
           "bytes": size, "json_bytes": json_bytes,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    for part in PARTS:
        out[part + "_s"] = statistics.median(r[part] for r in runs)
    out["controller_s"] = statistics.median(sum(r[p] for p in PARTS[:3]) for r in runs)
    out["hosts_s"] = statistics.median(sum(r[p] for p in PARTS[3:]) for r in runs)
    if granularity == "location":
        out["locations"] = LOCATIONS.get(count, 10)
    return out


def child_plan(granularity, count, rounds):
    """``measure_plan`` in a child process (its own memory, a timeout); raises with the child's error."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "plan", granularity, str(count), str(rounds)],
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError("exit %d: %s" % (proc.returncode, proc.stderr.strip()[-1500:]))
    return json.loads(proc.stdout)


def available_mib():
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


def too_big(results, granularity, count):
    """Why ``count`` nodes would not fit (from the largest smaller size measured, full granularity growing as
    N²), or None."""
    if granularity != "full":
        return None
    smaller = [n for n in SIZES if n < count and "plan_full_%d_peak_rss_mib" % n in results]
    if not smaller:
        return None
    base = max(smaller)
    scale = (count / base) ** 2
    rss = results["plan_full_%d_peak_rss_mib" % base] * scale
    seconds = results.get("plan_full_%d_wall_s" % base, results["plan_full_%d_s" % base]) * scale * ROUNDS
    free = available_mib()
    if rss <= 0.6 * free and seconds <= CHILD_TIMEOUT:
        return None
    return ("estimated {:.1f} GiB peak and {:.0f} s for {} rounds ({:.0f}× the {}-node run: {:,} peer entries) "
            "against {:.1f} GiB available and a {} s limit".format(
                rss / 1024, seconds, ROUNDS, scale, base, count * (count - 1), free / 1024, CHILD_TIMEOUT))


def time_jinja(count):
    import jinja2  # pylint: disable=import-outside-toplevel
    data = nodes(count, 1)
    hosts = {n["name"]: {"ip": "10.4.%d.%d" % (i // 254, i % 254 + 1), "key": n["public_key"],
                         "endpoint": n["endpoint"]} for i, n in enumerate(data)}
    template = jinja2.Environment().from_string(JINJA_TEMPLATE)
    start = time.process_time()
    for name in hosts:
        template.render(hosts=hosts, me=name)
    return time.process_time() - start


def attempt(results, name, scenario):
    """Run one figure's scenario; a failure records <name>_error and the others go on."""
    try:
        results.update(scenario())
    except Exception as exc:  # pylint: disable=broad-except
        results[name + "_error"] = ("%s: %s" % (type(exc).__name__, exc)).strip()[-2000:]
        print("bench: %s failed: %s" % (name, results[name + "_error"][-500:]), file=sys.stderr)


def prefixed(prefix, figures):
    return {"%s_%s" % (prefix, key): value for key, value in figures.items()}


def plan_figures(results):
    for granularity in ("full", "location"):
        for count in SIZES:
            name = "plan_%s_%d" % (granularity, count)
            why = too_big(results, granularity, count)
            if why:
                results[name + "_skipped"] = why
                continue
            attempt(results, name, lambda g=granularity, n=count, p=name: prefixed(p, child_plan(g, n, ROUNDS)))


def popular_figures(results):
    import popular  # pylint: disable=import-outside-toplevel
    for count in POPULAR_SIZES:
        name = "popular_template_%d" % count
        attempt(results, name, lambda n=count, p=name: prefixed(
            p, popular.time_template(nodes(n, 1), POPULAR_SAMPLE, fake_key("private"))))
        ours, theirs = results.get("plan_full_%d_s" % count), results.get(name + "_s")
        if ours and theirs:
            results["plan_vs_popular_%d" % count] = theirs / ours


def jinja_figures(results):
    for count in POPULAR_SIZES:
        name = "jinja_bare_%d_lower_bound" % count
        attempt(results, name, lambda n=count, p=name: {
            p + "_s": statistics.median(time_jinja(n) for dummy in range(ROUNDS))})


def figures():
    """Every figure of this module, with planner_commit/_date/_load_1m/_machine (and _load_1m_end) saying which run
    they come from: the README's planner table cites them, whatever other scenarios ran since."""
    import results_file  # pylint: disable=import-outside-toplevel
    results = results_file.provenance("planner")
    plan_figures(results)
    popular_figures(results)
    jinja_figures(results)
    results["planner_load_1m_end"] = round(os.getloadavg()[0], 2)
    return results


def main(argv):
    if argv[:1] == ["plan"]:
        granularity, count, rounds = argv[1], int(argv[2]), int(argv[3])
        print(json.dumps(measure_plan(granularity, count, rounds)))
        return 0
    print(json.dumps(figures(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
