"""wiremesh showconf / graph / status against a state-file fixture (no hosts, no network)."""

import json
import os

import pytest
import yaml

from wiremesh_cli import collection, main, status

from .conftest import PSK, ROOT, key


def run(capsys, *argv):
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_showconf_peer_ini_never_shows_a_secret(capsys, inventory):
    code, out, err = run(capsys, "showconf", "peer", "operator", "-i", str(inventory))
    assert (code, err) == (0, "")
    assert "[Peer]\n# aws1\nPublicKey = %s\n" % key("aws1") in out
    assert "PersistentKeepalive = 25" in out and "#   ip route add 10.4.0.4/32 dev wg0" in out
    assert PSK not in out and "PresharedKey" not in out and "PrivateKey =" not in out


@pytest.mark.parametrize("fmt,load", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_showconf_peer_structured(capsys, inventory, fmt, load):
    code, out, _err = run(capsys, "showconf", "peer", "operator", "--state",
                          str(inventory / ".wiremesh" / "mesh.state.json"), "--format", fmt)
    data = load(out)
    assert code == 0 and data["addresses"] == ["10.4.100.1/32"]
    assert [p["name"] for p in data["peers"]] == ["aws1", "do1"] and "10.4.0.4/32" in data["routes"]


def test_showconf_node_as_peer_is_a_wireguard_peers_list(capsys, inventory):
    code, out, _err = run(capsys, "showconf", "node", "do1", "--as-peer", "--allowed-ips", "192.168.7.0/24,",
                          "-i", str(inventory))
    assert code == 0
    assert yaml.safe_load(out) == [{"name": "do1", "public_key": key("do1"), "endpoint": "203.0.113.11:51820",
                                    "allowed_ips": ["10.4.0.2/32", "10.4.0.3/32", "192.168.7.0/24"]}]
    code, out, _err = run(capsys, "showconf", "node", "do1", "--as-peer", "--format", "ini", "-i", str(inventory))
    assert code == 0 and out.startswith("[Peer]\n# do1\n") and "AllowedIPs = 10.4.0.2/32, 10.4.0.3/32" in out


def test_showconf_member_as_peer_fails_naming_the_leader(capsys, inventory):
    code, out, err = run(capsys, "showconf", "node", "do2", "--as-peer", "-i", str(inventory))
    assert code == 2 and out == ""
    assert "do2 is not the leader of location do-fra1 (do1 is)" in err and "export do1" in err


def test_showconf_node_without_as_peer(capsys, inventory):
    code, out, _err = run(capsys, "showconf", "node", "edge", "-i", str(inventory))
    assert code == 0 and "Address = 10.4.0.4/32" in out and "PrivateKey =" not in out and PSK not in out
    code, out, _err = run(capsys, "showconf", "node", "edge", "-i", str(inventory), "--format", "json")
    assert json.loads(out)["nat"] is True
    code, _out, err = run(capsys, "showconf", "node", "edge", "-i", str(inventory), "--allowed-ips", "10.9.0.0/24")
    assert code == 2 and "only goes with --as-peer" in err


def test_unknown_names_and_missing_state(capsys, inventory, tmp_path):
    code, _out, err = run(capsys, "showconf", "peer", "laptop", "-i", str(inventory))
    assert code == 2 and "no external peer 'laptop'" in err and "known: operator" in err
    code, _out, err = run(capsys, "showconf", "peer", "operator", "-i", str(tmp_path / "nowhere"))
    assert code == 2 and "no state file" in err and "playbooks/mesh.yml" in err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"version": 1, "nodes": {}, "psks": {"do1|do2": PSK}}))
    code, _out, err = run(capsys, "graph", "--state", str(old))
    assert code == 2 and "holds no plan yet" in err and PSK not in err


def test_graph_dot_to_stdout_and_file(capsys, inventory, tmp_path):
    code, out, _err = run(capsys, "graph", "-i", str(inventory))
    assert code == 0 and out.startswith('graph "mesh" {') and '"operator"' in out
    target = tmp_path / "out" / "mesh.dot"
    code, msg, _err = run(capsys, "graph", "-i", str(inventory), "-o", str(target))
    assert code == 0 and target.read_text() == out and str(target) in msg


def test_graph_svg_without_graphviz_says_what_to_install(capsys, inventory, monkeypatch):
    monkeypatch.setattr(main.shutil, "which", lambda name: None)
    code, out, err = run(capsys, "graph", "--format", "svg", "-i", str(inventory))
    assert code == 2 and out == "" and "apt-get install graphviz" in err


GATHERED = json.dumps({"plays": [{"tasks": [{"hosts": {
    "aws1": {"rc": 0, "stdout": "@@wiremesh@@\n".join([
        key("aws1") + "\n",
        "%s\t990\n%s\t0\n%s\t995\n" % (key("do1"), key("edge"), key("operator")),
        "%s\t203.0.113.11:51820\n%s\t(none)\n%s\t198.51.100.10:40000\n" % (key("do1"), key("edge"), key("operator")),
        "%s\t100\t200\n%s\t0\t0\n%s\t3072\t1048576\n" % (key("do1"), key("edge"), key("operator"))])},
    "edge": {"unreachable": True, "msg": "ssh: connect to host wm-edge port 22: refused"},
}}]}]})


def test_status_live_table_from_keyless_views(capsys, inventory, monkeypatch):
    calls = []

    class Proc:
        returncode, stdout, stderr = 0, "noise\n" + GATHERED, ""

    def fake_run(argv, **kwargs):
        calls.append((argv, kwargs["env"]))
        return Proc()

    monkeypatch.setattr(status.subprocess, "run", fake_run)
    monkeypatch.setattr(main.time, "time", lambda: 1000)
    code, out, _err = run(capsys, "status", "-i", str(inventory))
    argv, env = calls[0]
    assert "dump" not in " ".join(argv) and "wg show wg0 latest-handshakes" in argv[-1]
    assert env["ANSIBLE_STDOUT_CALLBACK"] == "json" and argv[argv.index("-i") + 1] == str(inventory)
    assert code == 0
    assert "aws1  aws-eu-central-1  10.4.0.1  203.0.113.21  5s ago (2/3 peers)" in out
    rows = [line.split("  ") for line in out.splitlines()]
    assert any(r[:2] == ["aws1", "operator"] for r in [[c for c in x if c] for x in rows])
    assert "198.51.100.10:40000" in out and "1.0 MiB" in out and "3.0 KiB" in out and "never" in out
    assert "unreachable: ssh: connect to host wm-edge" in out


def test_status_report_is_what_make_demo_prints(capsys, inventory, tmp_path):
    report = tmp_path / "report.json"
    ok = "3 packets transmitted, 3 received, 0% packet loss\nrtt min/avg/max/mdev = 0.5/0.70/0.9/0.1 ms"
    report.write_text(json.dumps({"hosts": {
        "do1": {"location": "do-fra1", "endpoint": "203.0.113.11", "mesh_ip": "10.4.0.2",
                "wg": {"public-key": key("do1"), "latest-handshakes": "%s\t1\n" % key("edge"),
                       "transfer": "%s\t10\t20\n" % key("edge"), "endpoints": ""}, "pings": {"edge": ok}},
        "edge": {"location": "edge", "endpoint": None, "mesh_ip": "10.4.0.4",
                 "wg": {"public-key": key("edge")}, "pings": {"do1": "0 received"}}}}))
    code, out, _err = run(capsys, "status", "--report", str(report), "-i", str(inventory))
    assert code == 1, "a pair did not answer"
    assert "(behind NAT)" in out and "0.70ms" in out and "FAIL" in out and "1 of 2 pairs answered" in out
    assert "do1   edge  (none)" in out


def test_find_collections_prefers_the_environment_then_the_checkout(tmp_path):
    checkout = os.path.join(ROOT, "collections")
    assert collection.find_collections(environ={}) == checkout
    other = tmp_path / "elsewhere"
    (other / "ansible_collections/wiremesh/multicloud/plugins/module_utils/mesh").mkdir(parents=True)
    assert collection.find_collections(environ={"ANSIBLE_COLLECTIONS_PATH": "/nope:%s" % other}) == str(other)
    installed = tmp_path / "site" / "ansible_collections" / "wiremesh" / "multicloud"
    (installed / "plugins/module_utils/mesh").mkdir(parents=True)
    (installed / "cli/wiremesh_cli").mkdir(parents=True)
    here = str(installed / "cli/wiremesh_cli/collection.py")
    assert collection.find_collections(environ={}, here=here) == str(tmp_path / "site")


def test_find_collections_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(collection.os.path, "expanduser", lambda p: str(tmp_path / "home"))
    with pytest.raises(LookupError, match="WIREMESH_COLLECTIONS_PATH"):
        collection.find_collections(environ={}, here=str(tmp_path / "a" / "b.py"))


def test_status_shows_dead_leaders_and_who_failed_over(capsys, inventory, monkeypatch):
    agent = {"version": 1, "interface": "wg0", "self": "aws1", "mode": "lead", "isolated": False,
             "groups": [{"name": "location do-fra1", "candidates": ["do1", "do2"], "active": "do2",
                         "preferred": "do1"},
                        {"name": "location edge", "candidates": ["edge"], "active": "edge", "preferred": "edge"}],
             "dead": ["do1"], "switches": []}
    data = json.loads(GATHERED)
    host = data["plays"][0]["tasks"][0]["hosts"]["aws1"]
    host["stdout"] += "@@wiremesh@@\n" + json.dumps(agent) + "\n"

    class Proc:
        returncode, stdout, stderr = 0, json.dumps(data), ""

    calls = []
    monkeypatch.setattr(status.subprocess, "run", lambda argv, **kw: calls.append(argv) or Proc())
    monkeypatch.setattr(main.time, "time", lambda: 1000)
    code, out, _err = run(capsys, "status", "-i", str(inventory))
    assert code == 0 and "cat /run/wiremesh/failover-wg0.state.json" in calls[0][-1]
    assert "dead: do1 (as aws1 sees it)" in out
    assert "failed over: aws1 (location do-fra1: do2 instead of do1)" in out
    assert "no answer: edge" in out
    row = next(line for line in out.splitlines() if line.startswith("aws1") and "location do-fra1" in line)
    assert row.split() == ["aws1", "lead", "location", "do-fra1", "do2", "do1"]
    assert "location edge" not in out          # nothing to choose there


def test_status_without_agents_has_no_failover_section(capsys, inventory, monkeypatch):
    class Proc:
        returncode, stdout, stderr = 0, GATHERED, ""

    monkeypatch.setattr(status.subprocess, "run", lambda argv, **kw: Proc())
    monkeypatch.setattr(main.time, "time", lambda: 1000)
    _code, out, _err = run(capsys, "status", "-i", str(inventory))
    assert "Failover" not in out


def test_the_cli_reads_an_s3_state(capsys, inventory, monkeypatch):
    """--state s3://BUCKET/KEY: the S3 backend's object, on a real moto_server, with the AWS SDK's environment."""
    from tests.emulators.moto_s3 import ENV, make_bucket, moto_server   # pylint: disable=import-outside-toplevel
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        client = make_bucket(url, "wm-cli")
        body = (inventory / ".wiremesh" / "mesh.state.json").read_bytes()
        client.put_object(Bucket="wm-cli", Key="team/mesh.state.json", Body=body)
        code, out, err = run(capsys, "showconf", "peer", "operator", "--state", "s3://wm-cli/team/mesh.state.json")
        assert (code, err) == (0, "") and "PublicKey = %s" % key("aws1") in out and PSK not in out
        code, _out, err = run(capsys, "graph", "--state", "s3://wm-cli/other.json")
        assert code == 2 and "no state file s3://wm-cli/other.json" in err
        code, _out, err = run(capsys, "graph", "--state", "s3://no-such-bucket/mesh.state.json")
        assert code == 2 and "state backend s3 (s3://no-such-bucket/mesh.state.json)" in err
        assert "the bucket does not exist" in err


def test_graph_flows_draws_what_the_access_policy_lets_open(capsys, inventory):
    state = inventory / ".wiremesh" / "mesh.state.json"
    data = json.loads(state.read_text())
    data["plan"]["acl"] = {"default": {"members": "accept", "peers": "drop"}, "rules": [
        {"rule": "r0", "from": ["do2"], "to": ["do1"], "proto": "tcp", "ports": "8080", "action": "drop"},
        {"rule": "r1", "from": ["do2", "operator"], "to": ["do1"], "proto": "tcp", "ports": "8080,22",
         "action": "accept"}]}
    state.write_text(json.dumps(data))
    code, out, _err = run(capsys, "graph", "-i", str(inventory), "--flows")
    assert code == 0
    assert '"operator" -- "do1" [color="blue", constraint="false", dir="forward", fontcolor="blue", ' \
           'label="tcp 8080,22"];' in out
    # r0 drops do2's 8080, not its 22
    assert '"do2" -- "do1" [color="blue", constraint="false", dir="forward", fontcolor="blue", label="tcp 22"];' in out
    assert "otherwise hosts accept, external peers drop" in out
    code, out, _err = run(capsys, "graph", "-i", str(inventory))
    assert code == 0 and 'color="blue"' not in out
