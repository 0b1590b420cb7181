"""Every benchmark run writes a file of its own (bench/runs/<date>-<kind>-<commit>.json, its figures only) and
merges the same figures into the latest-figures file; the README tables name the run file they come from."""

import json

from scripts import load


results_file = load("results_file", "bench/results_file.py")
bench_readme = load("bench_readme", "tools/bench_readme.py")


def test_each_run_has_its_own_file_and_the_merged_file_keeps_the_other_runs(tmp_path):
    latest = str(tmp_path / "results.json")
    first = dict(results_file.provenance("chaos"), chaos_leader_down_s=4.2)
    second = dict(results_file.provenance("planner"), plan_full_1000_s=0.3)
    second["planner_date"] = "2026-12-07T16:00:00Z"   # provenance gives a second-resolution date; make it unique
    one = results_file.merge(first, latest, kind="chaos")
    two = results_file.merge(second, latest, kind="bench")
    assert one != two and one.startswith("runs/") and "-chaos-" in one and "-bench-" in two
    with open(tmp_path / one, encoding="utf-8") as handle:
        assert json.load(handle) == first        # this run's figures and nothing else
    with open(tmp_path / two, encoding="utf-8") as handle:
        assert "chaos_leader_down_s" not in json.load(handle)
    with open(latest, encoding="utf-8") as handle:
        merged = json.load(handle)
    assert merged["chaos_leader_down_s"] == 4.2 and merged["plan_full_1000_s"] == 0.3
    assert merged["chaos_run_file"] == one and merged["planner_run_file"] == two
    # the README table names the run file, not the merged file
    assert "from `bench/%s`" % one in bench_readme.table(merged, bench_readme.FAILOVER_ROWS)
    assert "from `bench/%s`" % two in bench_readme.table(merged, bench_readme.PLANNER_ROWS)


def test_provenance_without_git_says_unknown(monkeypatch):
    def no_git(*_args, **_kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(results_file.subprocess, "run", no_git)
    assert results_file.provenance("gpu")["gpu_commit"] == "unknown"
