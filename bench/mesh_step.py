# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh step on the path users run, at several sizes: for each N a fresh scale lab of N hosts
(tools/scale_lab.py: N/5 locations, one host behind NAT, `location` granularity), `playbooks/mesh.yml` twice
(first run, then a no-op rerun), optionally the popular role's config step on the same hosts
(bench/popular_role/popular.yml, twice), then the lab is torn down. Runs as root on the lab machine; ansible.cfg's
forks (10) and pipelining apply.

Figures (N = the lab's size):
- mesh_step_first_s_N, mesh_step_rerun_s_N: wall seconds of each mesh.yml run;
- mesh_step_rerun_changed_N: changed tasks of the rerun, all hosts (must be 0; when not, which ones:
  mesh_step_rerun_changed_tasks_N);
- mesh_step_tasks_per_host_N: tasks per mesh host in the rerun (ok + changed + skipped, mean over the mesh
  hosts of the PLAY RECAP; the controller's own play is left out), mesh_step_tasks_executed_per_host_N: ok + changed;
- mesh_step_first_cpu_s_N, mesh_step_rerun_cpu_s_N: controller CPU seconds (user + system) of each run:
  ansible-playbook, its workers, their ssh clients and ProxyCommands (getrusage(RUSAGE_CHILDREN) deltas; the
  ControlPersist ssh masters, which outlive the run, are not in it). The lab hosts' own work (sshd, the modules'
  python) runs on the same CPUs but is not counted;
- scale_lab_build_s_N: playbooks/lab.yml on the fresh lab;
- scale_lab_rss_mib_per_host_N, scale_lab_pss_mib_per_host_N: memory of a meshed host's steady processes (init,
  sshd, wireguard-go, failover agent), scale_lab_mem_drop_mib_per_host_N: the machine's MemAvailable before the
  build minus after the rerun, per host (noisy where other labs run);
- scale_lab_idle_cpu_pct_N: CPU the meshed lab's hosts burn on their own (failover agents, wireguard-go), in % of
  one CPU over 10 s after the rerun: all N hosts share this machine's CPUs, unlike real hosts;
- mesh_step_load_1m_N: the machine's load average when the size started (other labs share the CPUs);
- mesh_step_floor_s_N, mesh_step_floor_cpu_s_N: one no-op module (ansible.builtin.ping) on every host, same
  forks and connection, after the rerun; mesh_step_rerun_vs_floor_N: the rerun over that floor (the mesh step
  reaches every host twice: read it, then converge it);
- mesh_step_ping_N: pings received of 3, the worst of NAT'd host -> first host and back, over the mesh;
- popular_role_first_s_N, popular_role_rerun_s_N, popular_role_rerun_changed_N, popular_role_tasks_per_host_N,
  popular_role_*_cpu_s_N and mesh_step_vs_popular_rerun_N (our rerun / the popular role's rerun; the goal is
  <= 0.5 at 50 hosts), where the popular role ran;
- mesh_step_rerun_growth_exponent (and _first_): least-squares slope of log(seconds) over log(N), from the sizes
  that ran; rerun time ~ N ** exponent.
A size that fails records mesh_step_N_error (the first failed tasks) beside the figures it measured before (the
popular role still runs when only mesh.yml failed; its own failure is popular_role_N_error), its lab is still torn
down, and the other sizes still run.

    python bench/mesh_step.py [--sizes 10,25,50,100] [--popular-sizes 50|all|none|10,25] [--keep] [--write]

JSON on stdout; --write merges the figures (and mesh_step_commit/_date/_load_1m/_machine) into bench/results.json.
"""

import argparse
import json
import math
import os
import re
import resource
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import labkit  # noqa: E402  pylint: disable=wrong-import-position
import scale_lab  # noqa: E402  pylint: disable=wrong-import-position

DEFAULT_SIZES = (10, 25, 50, 100)
POPULAR_PLAYBOOK = os.path.join("bench", "popular_role", "popular.yml")
POPULAR_AT = 50


def _timeout(count):
    return 900 + 20 * count


CALLBACKS = os.path.join(ROOT, "bench", "callback_plugins")


def changed_env(log_path):
    """Environment that makes a run write what its changed tasks did to ``log_path`` (callback wiremesh_changed)."""
    return {"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS, "ANSIBLE_CALLBACKS_ENABLED": "wiremesh_changed",
            "WIREMESH_CHANGED_LOG": log_path}


def timed_playbook(inventory, *args, timeout=900, extra_env=None, command="ansible-playbook"):
    """(result, wall seconds, controller CPU seconds) of one ansible-playbook (or ``command``) run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = labkit.playbook(*args, inventory=inventory, timeout=timeout, extra_env=extra_env, command=command)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, round(wall, 1), round(cpu, 1)


def failures(output, limit=3):
    """The first ``limit`` failed tasks of ansible-playbook's output: task name, host and message (the indented
    lines after `fatal:`/`failed:`, at most 15 each)."""
    found, task, lines = [], None, output.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$", line)
        if match:
            task = match.group(1)
        elif re.match(r"^(?:fatal|failed): \[", line):
            body = [line]
            for nxt in lines[i + 1:i + 16]:
                if nxt[:1] not in (" ", "\t"):
                    break
                body.append(nxt)
            found.append("TASK [%s] %s" % (task, "\n".join(body)))
            if len(found) >= limit:
                break
    return found


def _failure(what, result):
    out = result.stdout or ""
    stats = labkit.recap(out)
    bad = sorted(h for h, s in stats.items() if s.get("failed") or s.get("unreachable"))
    detail = "\n".join(failures(out)) or out[-2500:]
    return RuntimeError("%s exited %d; %d hosts failed or unreachable (%s); first failures:\n%s%s"
                        % (what, result.returncode, len(bad), ", ".join(bad[:10]), detail[:4000],
                           ("\n" + result.stderr[-1000:]) if result.stderr and not failures(out) else ""))


def recap_figures(output, hosts):
    """(changed in all, tasks per host: ok+changed+skipped, executed per host: ok+changed) from the PLAY RECAP,
    the means over ``hosts``. Raises when a host failed, was unreachable or is missing."""
    stats = labkit.recap(output)
    bad = [h for h in hosts if h not in stats or stats[h].get("failed") or stats[h].get("unreachable")]
    if bad:
        raise RuntimeError("hosts failed, unreachable or missing in the PLAY RECAP: " + ", ".join(bad[:10]))
    changed = sum(s.get("changed", 0) for s in stats.values())
    tasks = [stats[h].get("ok", 0) + stats[h].get("changed", 0) + stats[h].get("skipped", 0) for h in hosts]
    executed = [stats[h].get("ok", 0) + stats[h].get("changed", 0) for h in hosts]
    return changed, round(sum(tasks) / len(hosts), 1), round(sum(executed) / len(hosts), 1)


def changed_actions(log_path):
    """["host: task: action; action"] from the callback's log (what each changed task did)."""
    if not os.path.exists(log_path):
        return []
    with open(log_path, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    return ["%s: %s: %s" % (entry["host"], entry["task"],
                            "; ".join(map(str, entry.get("actions") or [])) or "(no actions listed)")
            for entry in lines]


def changed_tasks(output):
    """["host: task"] for every task that reported a change, from ansible-playbook's default output."""
    found, task = [], None
    for line in output.splitlines():
        match = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$", line)
        if match:
            task = match.group(1)
            continue
        match = re.match(r"^changed: \[([^\]]+)\]", line)
        if match:
            found.append("%s: %s" % (match.group(1), task))
    return found


def _two_runs(figures, prefix, count, inventory, playbook, hosts):
    """Run ``playbook`` twice (first, no-op rerun) and record prefix_{first,rerun}_{s,cpu_s}_N and the rerun's
    changed and tasks per host."""
    log_path = os.path.join(os.path.dirname(os.path.abspath(inventory)), ".changed-%s-%d.jsonl" % (prefix, count))
    if os.path.exists(log_path):
        os.unlink(log_path)
    for run in ("first", "rerun"):
        result, wall, cpu = timed_playbook(inventory, playbook, timeout=_timeout(count),
                                           extra_env=changed_env(log_path) if run == "rerun" else None)
        figures["%s_%s_s_%d" % (prefix, run, count)] = wall
        figures["%s_%s_cpu_s_%d" % (prefix, run, count)] = cpu
        if result.returncode != 0:
            raise _failure("%s (%s run)" % (playbook, run), result)
        changed, tasks, executed = recap_figures(result.stdout, hosts)
        if run == "rerun":
            figures["%s_rerun_changed_%d" % (prefix, count)] = changed
            if changed:
                figures["%s_rerun_changed_tasks_%d" % (prefix, count)] = (
                    changed_actions(log_path) or changed_tasks(result.stdout))[:20]
            figures["%s_tasks_per_host_%d" % (prefix, count)] = tasks
            figures["%s_tasks_executed_per_host_%d" % (prefix, count)] = executed


def floor(figures, count, inventory):
    """mesh_step_floor_s_N / _cpu_s_N: one no-op module (ansible.builtin.ping) on every mesh host, same inventory,
    forks and connection: the least any run costs here that reaches every host once; the mesh step reaches each
    twice (read, then converge), and mesh_step_rerun_vs_floor_N says how close the rerun comes to that."""
    result, wall, cpu = timed_playbook(inventory, "mesh", "-m", "ansible.builtin.ping", command="ansible",
                                       timeout=_timeout(count))
    if result.returncode != 0:
        raise _failure("ansible mesh -m ping", result)
    figures["mesh_step_floor_s_%d" % count], figures["mesh_step_floor_cpu_s_%d" % count] = wall, cpu
    figures["mesh_step_rerun_vs_floor_%d" % count] = round(figures["mesh_step_rerun_s_%d" % count] / wall, 2)


def destroy(inventory):
    result = labkit.playbook("playbooks/lab_destroy.yml", inventory=inventory, timeout=900)
    if result.returncode != 0:
        raise _failure("playbooks/lab_destroy.yml", result)


def one_size(count, popular=False, keep=False, out_dir=None):
    """The figures of one size (see the module's docstring). A failure ends the size, is recorded as
    mesh_step_N_error beside the figures measured so far, and the lab is still torn down."""
    out_dir = out_dir or scale_lab.default_dir(count)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)      # a fresh mesh state: the first run is a first run
    inventory = scale_lab.write(count, out_dir)
    hosts = list(scale_lab.mesh_hosts(scale_lab.read(out_dir)))
    figures = {}
    try:
        destroy(inventory)          # every scale lab shares its name and hosts: start from none
        figures["mesh_step_load_1m_%d" % count] = round(os.getloadavg()[0], 2)
        available = scale_lab.mem_available_mib()
        result, wall, _cpu = timed_playbook(inventory, "playbooks/lab.yml", timeout=_timeout(count))
        if result.returncode != 0:
            raise _failure("playbooks/lab.yml", result)
        figures["scale_lab_build_s_%d" % count] = wall
        mesh_failed = None
        try:
            _two_runs(figures, "mesh_step", count, inventory, "playbooks/mesh.yml", hosts)
            mem = scale_lab.memory(out_dir)
            figures["scale_lab_rss_mib_per_host_%d" % count] = mem["rss_mib_per_host"]
            figures["scale_lab_pss_mib_per_host_%d" % count] = mem["pss_mib_per_host"]
            figures["scale_lab_mem_drop_mib_per_host_%d" % count] = round(
                (available - scale_lab.mem_available_mib()) / count, 1)
            figures["mesh_step_ping_%d" % count] = min(scale_lab.ping(out_dir).values())
            figures["scale_lab_idle_cpu_pct_%d" % count] = scale_lab.idle_cpu(out_dir)["total_pct"]
            floor(figures, count, inventory)
        except Exception as exc:  # pylint: disable=broad-except
            mesh_failed = exc       # the popular role still runs on the same hosts: its figures stand alone
        if popular:
            try:
                _two_runs(figures, "popular_role", count, inventory, POPULAR_PLAYBOOK, hosts)
            except Exception as exc:  # pylint: disable=broad-except
                figures["popular_role_%d_error" % count] = str(exc)[-5000:]
            if mesh_failed is None and "popular_role_rerun_changed_%d" % count in figures:
                figures["mesh_step_vs_popular_rerun_%d" % count] = round(
                    figures["mesh_step_rerun_s_%d" % count] / figures["popular_role_rerun_s_%d" % count], 2)
        if mesh_failed is not None:
            raise mesh_failed
    except Exception as exc:  # pylint: disable=broad-except
        figures["mesh_step_%d_error" % count] = str(exc)[-5000:]
    finally:
        if not keep:
            try:
                destroy(inventory)
                shutil.rmtree(out_dir, ignore_errors=True)
            except Exception as exc:  # pylint: disable=broad-except
                figures["mesh_step_%d_teardown_error" % count] = str(exc)[-2000:]
    return figures


def growth_exponent(points):
    """Least-squares slope of log(t) over log(N) for [(N, t)]; None with fewer than two sizes."""
    points = [(n, t) for n, t in points if n > 0 and t and t > 0]
    if len({n for n, t in points}) < 2:
        return None
    xs = [math.log(n) for n, t in points]
    ys = [math.log(t) for n, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs), 2)


def popular_sizes_for(sizes, spec="auto"):
    """Where the popular role runs: `auto` = 50 when it is among the sizes, else the largest; `all`, `none`, or a
    comma-separated list."""
    if spec == "auto":
        return [POPULAR_AT] if POPULAR_AT in sizes else ([max(sizes)] if sizes else [])
    if spec == "all":
        return list(sizes)
    if spec in ("none", ""):
        return []
    return [int(s) for s in spec.split(",")]


def mesh_step(sizes=DEFAULT_SIZES, popular_sizes="auto", keep=False, log=None):
    """Every size in turn (see the module's docstring); a failing size records mesh_step_N_error."""
    figures = {}
    if os.geteuid() != 0:
        return {"mesh_step_error": "needs root (the scale lab is network namespaces on this machine)"}
    popular = popular_sizes_for(sizes, popular_sizes) if isinstance(popular_sizes, str) else list(popular_sizes)
    for count in sizes:
        start = time.monotonic()
        size = one_size(count, popular=count in popular, keep=keep and count == sizes[-1])
        figures.update(size)
        if log:
            log("mesh_step: %d hosts done in %.0f s: %s" % (count, time.monotonic() - start, json.dumps(size)))
    for run in ("rerun", "first"):
        exponent = growth_exponent([(n, figures.get("mesh_step_%s_s_%d" % (run, n))) for n in sizes])
        if exponent is not None:
            figures["mesh_step_%s_growth_exponent" % run] = exponent
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES),
                        help="comma-separated lab sizes (default %(default)s)")
    parser.add_argument("--popular-sizes", default="auto",
                        help="where the popular role runs too: auto (50 if among the sizes, else the largest), "
                             "all, none, or a comma-separated list")
    parser.add_argument("--keep", action="store_true", help="leave the last size's lab up (make clean removes it)")
    parser.add_argument("--write", action="store_true", help="merge the figures into bench/results.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    figures = mesh_step(sizes, args.popular_sizes, keep=args.keep,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    if args.write:
        import results_file  # pylint: disable=import-outside-toplevel
        results_file.merge(dict(figures, **results_file.provenance("mesh_step")), kind="mesh_step")
    print(json.dumps(figures, indent=2, sort_keys=True))
    return 1 if any(k.endswith("error") for k in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
