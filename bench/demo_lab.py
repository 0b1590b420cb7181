# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo lab around the benchmarks: the planner and the scale labs are timed on a quiet machine, so the demo's
workloads (the camera's 25 fps MJPEG, the app, the CPU detector: together more than one of this machine's two
cores) are stopped first when a `make demo` left them running; the demo scenarios then bring the demo lab up
with `site.yml`, which starts them again."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

import labkit  # noqa: E402  pylint: disable=wrong-import-position

LAB_ROOT = "/srv/wiremesh-lab/lab"
WORKLOAD_UNITS = ("wiremesh-camera", "wiremesh-app", "wiremesh-detector")
CTL = "/usr/local/sbin/wiremesh-lab-ctl"


def running_workloads(lab_root=LAB_ROOT):
    """[(host, unit)] for every demo workload unit of a lab host that is up (its init runs)."""
    found, hosts = [], os.path.join(lab_root, "hosts")
    for host in sorted(os.listdir(hosts)) if os.path.isdir(hosts) else []:
        if not os.path.exists(os.path.join(hosts, host, "init.pid")):
            continue
        units = os.path.join(hosts, host, "upper", "etc", "wiremesh-lab", "units")
        found += [(host, unit) for unit in WORKLOAD_UNITS if os.path.exists(os.path.join(units, unit + ".json"))]
    return found


def stop_workloads(lab_root=LAB_ROOT):
    """Stop the demo's workload units (`wiremesh-lab-ctl stop` inside each host); returns ["host: unit", ...]
    stopped. A unit that does not stop raises RuntimeError naming it."""
    stopped = []
    for host, unit in running_workloads(lab_root):
        done = subprocess.run(labkit.host_argv(lab_root, host, CTL, "stop", unit), capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError("%s: wiremesh-lab-ctl stop %s: %s" % (host, unit, (done.stderr or done.stdout)[-300:]))
        stopped.append("%s: %s" % (host, unit))
    return stopped


def bring_up():
    """`site.yml` on the demo lab (build, mesh, workloads); figures demo_site_s and demo_site_changed."""
    start = time.monotonic()
    done = labkit.playbook("site.yml", timeout=1800)
    if done.returncode != 0:
        raise RuntimeError("site.yml exited %d: %s" % (done.returncode, done.stdout[-1500:]))
    changed = sum(stats.get("changed", 0) for stats in labkit.recap(done.stdout).values())
    return {"demo_site_s": round(time.monotonic() - start, 1), "demo_site_changed": changed}
