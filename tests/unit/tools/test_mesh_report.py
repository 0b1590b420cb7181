"""The demo's table and ping matrix."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
spec = importlib.util.spec_from_file_location("mesh_report", os.path.join(ROOT, "tools", "mesh_report.py"))
mesh_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mesh_report)

OK = "3 packets transmitted, 3 received, 0% packet loss, time 401ms\nrtt min/avg/max/mdev = 0.512/0.700/0.901/0.1 ms"
LOST = "3 packets transmitted, 0 received, 100% packet loss, time 2040ms"


def report(b_to_a=OK):
    return {"hosts": {
        "a": {"location": "l1", "endpoint": "198.51.100.1", "mesh_ip": "10.4.0.1",
              "wg": {"latest-handshakes": "KEYB\t995\n"}, "pings": {"b": OK}},
        "b": {"location": "l2", "endpoint": None, "mesh_ip": "10.4.0.2",
              "wg": {"latest-handshakes": "KEYA\t990\nKEYC\t0\n"}, "pings": {"a": b_to_a}},
    }}


def test_table_and_matrix():
    text, failures = mesh_report.render(report(), now=1000)
    assert failures == 0
    assert "(behind NAT)" in text and "5s ago (1/1 peers)" in text and "10s ago (1/2 peers)" in text
    assert "0.70ms" in text and "2 of 2 pairs answered" in text


def test_a_lost_pair_is_counted_and_shown():
    text, failures = mesh_report.render(report(b_to_a=LOST), now=1000)
    assert failures == 1 and "FAIL" in text and "1 of 2 pairs answered" in text


def test_main_exit_codes(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"hosts": {}}')
    assert mesh_report.main(["x", str(path)]) == 0
    path.write_text("not json")
    assert mesh_report.main(["x", str(path)]) == 2
