"""wiremesh-lab-init, wiremesh_lab_units.py, wiremesh-lab-ctl: unit definitions, backoff, wait verdicts, and the supervisor itself
(run unprivileged, without sshd, under a temporary WIREMESH_LAB_BASE)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from wiremesh_lab_init import proc_table
from wiremesh_lab_sys import alive

from .conftest import FILES


def test_parse_unit_simple(units):
    unit = units.parse_unit("web", {"type": "simple", "exec": ["sleep", "1"]})
    assert unit == {"type": "simple", "exec": ["sleep", "1"], "env": {}}


def test_parse_unit_oneshot_defaults(units):
    unit = units.parse_unit("wg-quick@wg0", {"type": "oneshot", "start": ["wg-quick", "up", "wg0"]})
    assert unit["interval"] == 5 and unit["timeout"] == 60 and unit["stop"] is None and unit["check"] is None


@pytest.mark.parametrize("name, data", [
    ("bad/name", {"type": "simple", "exec": ["x"]}),
    ("sshd", {"type": "simple", "exec": ["x"]}),
    ("u", {"type": "forking", "exec": ["x"]}),
    ("u", {"type": "simple", "exec": "sleep 1"}),
    ("u", {"type": "simple", "exec": []}),
    ("u", {"type": "simple", "exec": ["x"], "env": {"A": 1}}),
    ("u", {"type": "oneshot"}),
    ("u", {"type": "oneshot", "start": ["x"], "interval": 0}),
    ("u", {"type": "oneshot", "start": ["x"], "interval": True}),
    ("u", ["not", "an", "object"]),
])
def test_parse_unit_rejects(units, name, data):
    with pytest.raises(ValueError):
        units.parse_unit(name, data)


def test_backoff(units):
    delays = [units.BACKOFF_MIN]
    while len(delays) < 5:
        delays.append(units.next_backoff(delays[-1]))
    assert delays == [1, 2, 4, 5, 5]


def test_init_loads_with_its_units_module(init, units):
    oneshot = {"type": "oneshot", "start": ["true"]}
    assert init.parse_unit("u", oneshot) == units.parse_unit("u", oneshot)
    assert init.SOCK.endswith("/run/wiremesh-lab/control.sock")


def test_ctl_verdict_and_exit_code(ctl):
    now = 1000.0
    assert ctl.verdict({"state": "active", "since": now}, "up", now) == "ok"
    assert ctl.verdict({"state": "running", "since": now - 0.2}, "up", now) == "wait"
    assert ctl.verdict({"state": "running", "since": now - 2}, "up", now) == "ok"
    assert ctl.verdict({"state": "starting", "since": now}, "up", now) == "wait"
    assert ctl.verdict({"state": "failed", "since": now}, "up", now) == "fail"
    assert ctl.verdict(None, "up", now) == "fail"
    assert ctl.verdict({"state": "stopping", "since": now}, "stopped", now) == "wait"
    assert ctl.verdict({"state": "stopped", "since": now}, "stopped", now) == "ok"
    infos = ({"state": "running"}, {"state": "active"}, {"state": "failed"}, {"state": "stopped"}, None)
    assert [ctl.exit_code(i) for i in infos] == [0, 0, 3, 3, 4]


def zombies_of(pid):
    return [p for p, (ppid, state) in proc_table().items() if ppid == pid and state == "Z"]


def children_of(pid):
    return [p for p, (ppid, state) in proc_table().items() if ppid == pid and state != "Z"]


def start_supervisor(tmp_path, **extra_env):
    """A running wiremesh-lab-init under tmp_path; returns (ctl runner, process)."""
    units = tmp_path / "etc" / "wiremesh-lab" / "units"
    units.mkdir(parents=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "var" / "log").mkdir(parents=True)
    env = dict(os.environ, WIREMESH_LAB_BASE=str(tmp_path), PYTHONDONTWRITEBYTECODE="1", **extra_env)
    proc = subprocess.Popen([sys.executable, str(FILES / "wiremesh_lab_init.py")], env=env, start_new_session=True)

    def ctl(*args):
        return subprocess.run([sys.executable, str(FILES / "wiremesh_lab_ctl.py"), *args], env=env,
                              capture_output=True, text=True, timeout=30, check=False)

    deadline = time.time() + 10
    while not (tmp_path / "run" / "wiremesh-lab" / "control.sock").exists():
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            pytest.fail("supervisor did not start")
        time.sleep(0.05)
    return ctl, proc


@pytest.fixture()
def supervisor(tmp_path):
    """A running wiremesh-lab-init under tmp_path (no sshd); yields (ctl runner, base, process)."""
    ctl, proc = start_supervisor(tmp_path, WIREMESH_LAB_SSHD="0")
    yield ctl, tmp_path, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def wait_for(predicate, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_supervisor_units_restart_reap_and_stop(supervisor):
    ctl, base, proc = supervisor
    units, flag = base / "etc" / "wiremesh-lab" / "units", base / "flag"
    # a simple unit that leaves an orphan behind, and a oneshot unit whose check watches a file
    (units / "svc.json").write_text(json.dumps(
        {"type": "simple", "exec": ["sh", "-c", "sleep 0.2 & echo hello $WHO; exec sleep 60"], "env": {"WHO": "lab"}}))
    (units / "flag.json").write_text(json.dumps(
        {"type": "oneshot", "start": ["touch", str(flag)], "stop": ["rm", "-f", str(flag)],
         "check": ["test", "-e", str(flag)], "interval": 0.3}))
    res = ctl("reload", "--wait", "10")
    assert res.returncode == 0, res.stderr
    assert flag.exists()
    status = json.loads(ctl("status").stdout)["units"]
    assert status["svc"]["state"] == "running" and status["flag"]["state"] == "active"
    assert "hello lab" in (base / "var" / "log" / "wiremesh-lab" / "svc.log").read_text()

    # simple unit killed -> restarted; the orphaned `sleep 0.2` is reaped, no zombie remains
    os.kill(status["svc"]["pid"], signal.SIGKILL)
    assert wait_for(lambda: json.loads(ctl("status", "svc").stdout)["restarts"] == 1)
    assert ctl("status", "svc").returncode == 0
    assert wait_for(lambda: not zombies_of(proc.pid), 5)

    # oneshot check fails -> stop + start
    flag.unlink()
    assert wait_for(lambda: json.loads(ctl("status", "flag").stdout)["restarts"] == 1)
    assert wait_for(flag.exists)

    # stop / status exit codes / unknown unit
    assert ctl("stop", "svc", "--wait", "10").returncode == 0
    assert ctl("status", "svc").returncode == 3
    assert ctl("status", "nope").returncode == 4
    assert ctl("start", "nope").returncode == 1

    # a unit that keeps failing: --wait reports it with its log
    (units / "bad.json").write_text(json.dumps({"type": "simple", "exec": ["sh", "-c", "echo broken; exit 3"]}))
    res = ctl("start", "bad", "--wait", "10")
    assert res.returncode == 1 and "broken" in res.stderr

    # removing a unit file + reload stops it (oneshot: its stop command runs)
    (units / "flag.json").unlink()
    assert ctl("reload").returncode == 0
    assert wait_for(lambda: not flag.exists())
    assert "flag" not in json.loads(ctl("status").stdout)["units"]

    # SIGTERM: units stopped, children gone, the supervisor exits 0
    ctl("start", "svc")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not (base / "run" / "wiremesh-lab" / "control.sock").exists()


def test_sshd_stop_ends_its_sessions_and_stays_stopped(tmp_path):
    """`stop sshd`: the listener and every session under it end, nothing restarts it until `start sshd`."""
    fake_sshd = ["sh", "-c", "sleep 300 & exec sleep 301"]  # a listener with one session below it
    ctl, proc = start_supervisor(tmp_path, WIREMESH_LAB_SSHD_ARGV=json.dumps(fake_sshd))
    try:
        assert wait_for(lambda: ctl("status", "sshd").returncode == 0)
        first = json.loads(ctl("status", "sshd").stdout)
        assert first["state"] == "running" and first["wanted"]
        assert wait_for(lambda: children_of(first["pid"]))
        session = children_of(first["pid"])[0]

        res = ctl("stop", "sshd", "--wait", "10")
        assert res.returncode == 0, res.stderr
        assert wait_for(lambda: not alive(first["pid"]) and not alive(session), 5)
        time.sleep(1.5)  # longer than the restart backoff
        info = json.loads(ctl("status", "sshd").stdout)
        assert (info["state"], info["wanted"], info["pid"]) == ("stopped", False, None)
        assert ctl("status", "sshd").returncode == 3
        assert ctl("reload", "--wait", "5").returncode == 0  # reload waits for units, not for a stopped sshd

        res = ctl("start", "sshd", "--wait", "10")
        assert res.returncode == 0, res.stderr
        again = json.loads(ctl("status", "sshd").stdout)
        assert again["state"] == "running" and again["pid"] not in (None, first["pid"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not alive(again["pid"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sshd_control_when_disabled(supervisor):
    ctl, _base, _proc = supervisor
    res = ctl("stop", "sshd")
    assert res.returncode == 1 and "disabled" in res.stderr
    assert json.loads(ctl("status", "sshd").stdout)["state"] == "stopped"
