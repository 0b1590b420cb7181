# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/results.json, shared by every benchmark: each merges its own figures and keeps the others'."""

import json
import os
import platform
import subprocess
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")


def merge(figures, path=RESULTS):
    """Read-modify-write the results file: these figures replace theirs, every other key stays."""
    previous = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            previous = json.load(handle)
    previous.update(figures)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(previous, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(path + ".tmp", path)


def provenance(prefix="bench"):
    """Which code, when, on what, under which load: written beside the figures of every run, as
    <prefix>_commit, _date, _load_1m and _machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        return subprocess.run(["git", "-C", root] + list(args), capture_output=True, text=True,
                              check=False).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memory_kib = int(handle.readline().split()[1])
    return {prefix + "_commit": commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else ""),
            prefix + "_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            prefix + "_load_1m": round(os.getloadavg()[0], 2),
            prefix + "_machine": "%s, %d CPUs, %.0f GiB, Python %s"
                                 % (platform.platform(terse=True), os.cpu_count() or 0, memory_kib / 1048576,
                                    platform.python_version())}
