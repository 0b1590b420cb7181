# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmarks' results: every run writes its own file, bench/runs/<date>-<kind>-<commit>.json (this run's
figures and nothing else), and merges the same figures into bench/results.json, the latest figure of each kind,
from which tools/bench_readme.py generates the README tables (each table names the run file it comes from)."""

import json
import os
import platform
import subprocess
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")


def _write(path, data):
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(path + ".tmp", path)


def write_run(figures, kind, path=RESULTS):
    """Write this run's figures to runs/<date>-<kind>-<commit>.json beside ``path``; return its name relative to
    the folder of ``path`` (e.g. "runs/20261207T160000Z-bench-a4a7934.json"). Date and commit come from the
    figures' provenance (<kind>_date, <kind>_commit), or now and "unknown"."""
    date = str(figures.get(kind + "_date") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    commit = str(figures.get(kind + "_commit") or "unknown")
    name = "%s-%s-%s.json" % (date.replace("-", "").replace(":", ""), kind, commit.replace("+", "-"))
    folder = os.path.join(os.path.dirname(os.path.abspath(path)), "runs")
    os.makedirs(folder, exist_ok=True)
    _write(os.path.join(folder, name), figures)
    return "runs/" + name


def merge(figures, path=RESULTS, kind="bench"):
    """Write this run's own file (write_run), then read-modify-write the results file: these figures replace
    theirs, every other key stays. Every provenance group of the run (<prefix>_date) gets <prefix>_run_file."""
    figures = dict(figures)
    run_file = write_run(figures, kind, path)
    for key in list(figures):
        if key.endswith("_date") and key[:-5] + "_commit" in figures:
            figures[key[:-5] + "_run_file"] = run_file
    previous = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            previous = json.load(handle)
    previous.update(figures)
    _write(path, previous)
    return run_file


def provenance(prefix="bench"):
    """Which code, when, on what, under which load: written beside the figures of every run, as
    <prefix>_commit, _date, _load_1m and _machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        try:
            return subprocess.run(["git", "-C", root] + list(args), capture_output=True, text=True,
                                  check=False).stdout.strip()
        except OSError:   # no git (a bare GPU host)
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memory_kib = int(handle.readline().split()[1])
    return {prefix + "_commit": commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else ""),
            prefix + "_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            prefix + "_load_1m": round(os.getloadavg()[0], 2),
            prefix + "_machine": "%s, %d CPUs, %.0f GiB, Python %s"
                                 % (platform.platform(terse=True), os.cpu_count() or 0, memory_kib / 1048576,
                                    platform.python_version())}
