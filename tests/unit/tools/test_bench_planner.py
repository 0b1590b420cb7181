"""The planner benchmark times the product's path and the popular role's template honestly (checked on small
meshes, never as timed assertions), and the README's planner table comes from the results file only."""

import os
import sys

from scripts import ROOT, load

sys.path.insert(0, os.path.join(ROOT, "bench"))

planner = load("planner", "bench/planner.py")
popular = load("popular", "bench/popular.py")
bench_readme = load("bench_readme", "tools/bench_readme.py")


def test_plan_round_times_every_part_of_the_path():
    seconds, wall, size, json_bytes = planner.plan_round(planner.nodes(12, 3), "full")
    assert set(seconds) == set(planner.PARTS) and all(v >= 0 for v in seconds.values()) and wall > 0
    assert size > 12 * 11 * 100 and json_bytes > size / 2    # every host's config has its 11 peers


def test_measure_plan_reports_parts_spread_and_locations():
    out = planner.measure_plan("location", 20, 2)
    assert out["rounds"] == 2 and out["min_s"] <= out["s"] <= out["max_s"] and out["locations"] == 10
    assert all(out[part + "_s"] >= 0 for part in planner.PARTS + ("controller", "hosts"))


def test_full_mesh_too_big_for_the_machine_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(planner, "available_mib", lambda: 8 * 1024.0)
    results = {"plan_full_1000_peak_rss_mib": 1500.0, "plan_full_1000_s": 10.0}
    why = planner.too_big(results, "full", 5000)
    assert "36.6 GiB" in why and "24,995,000 peer entries" in why
    assert planner.too_big(results, "location", 5000) is None
    assert planner.too_big({}, "full", 250) is None


def test_a_failing_figure_records_its_error_and_the_others_go_on():
    results = {}
    planner.attempt(results, "plan_full_9", lambda: 1 / 0)
    planner.attempt(results, "plan_full_10", lambda: {"plan_full_10_s": 1.0})
    assert results["plan_full_9_error"].startswith("ZeroDivisionError") and results["plan_full_10_s"] == 1.0


def test_the_popular_template_renders_a_full_mesh_through_the_templar():
    nodes = planner.nodes(6, 1)
    controller = popular.Controller({n["name"]: popular.host_vars(i, n) for i, n in enumerate(nodes)},
                                    {n["name"]: {"pop_public_key": n["public_key"], "pop_private_key": "PRIV"}
                                     for n in nodes})
    try:
        text = controller.render("node00002")
    finally:
        controller.close()
    assert "Ansible managed" in text and "Address = 10.4.0.3/32\nPrivateKey = PRIV\nListenPort = 51821\n" in text
    assert text.count("\n[Peer]\n") == 5 and "# node00002\n\n[Interface]" in text
    assert "[Peer]\n# node00005\nPublicKey = %s\nAllowedIPs = 10.4.0.6/32\nEndpoint = %s:51821\n" % (
        nodes[5]["public_key"], nodes[5]["endpoint"]) in text


def test_popular_figures_extrapolate_from_a_spread_sample():
    assert popular.sample(["a", "b", "c", "d", "e", "f"], 3) == ["a", "c", "e"]
    out = popular.time_template(planner.nodes(6, 1), 2, "PRIV")
    assert out["sampled_hosts"] == 2 and out["hosts"] == 6 and out["extrapolated"]
    assert abs(out["s"] - 6 * (out["per_host_min_s"] + out["per_host_max_s"]) / 2) < 1e-9


def test_planner_table_comes_from_the_results_only():
    results = {"planner_date": "D", "planner_commit": "c0ffee", "planner_load_1m": 1.5, "planner_load_1m_end": 2.0,
               "planner_machine": "M", "plan_full_1000_s": 2.5, "plan_full_1000_min_s": 2.4,
               "plan_full_1000_max_s": 2.7, "plan_full_5000_skipped": "estimated 37 GiB",
               "popular_template_1000_s": 3000.0, "popular_template_1000_sampled_hosts": 10,
               "popular_template_1000_extrapolated": True, "plan_vs_popular_1000": 1200.0,
               "plan_location_5000_error": "MemoryError: |x"}
    text = bench_readme.table(results, bench_readme.PLANNER_ROWS)
    assert "planner run of D, commit c0ffee, load 1.50 at its start and 2.00 at its end, M" in text
    assert "| `plan_full_1000_s` | **2.50 s** (rounds 2.40–2.70)" in text
    assert "| `plan_full_5000_s` | skipped: estimated 37 GiB |" in text
    assert "**3,000 s** (extrapolated from 10 hosts spread over the 1,000" in text
    assert "**1,200×** (3,000 s / 2.50 s) | ≥ 10× |" in text
    assert "not measured: MemoryError: /x" in text and "| `plan_location_250_s` | not measured |" in text
