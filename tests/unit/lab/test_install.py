"""`wiremesh-lab install`: the lab's programs and commands in one run, only what differs written."""
import importlib
import json
import os
import stat

import pytest


@pytest.fixture
def lab(monkeypatch):
    module = importlib.import_module("wiremesh_lab")
    monkeypatch.setattr(module, "check_tools", lambda: None)
    return module


def test_install_writes_once_then_nothing(lab, tmp_path):
    lib, bin_dir = str(tmp_path / "lib"), str(tmp_path / "sbin")
    os.makedirs(bin_dir)
    args = (["wiremesh_lab_spec.py", "wiremesh_lab_ctl.py"], ["wiremesh-lab-ctl=wiremesh_lab_ctl.py"], lib, bin_dir)
    planned = lab.install(*args, check=True)
    assert planned["changed"] and not os.path.exists(lib)
    done = lab.install(*args)
    assert done["actions"] == planned["actions"] and len(done["actions"]) == 4    # dir, 2 programs, 1 command
    command = os.path.join(bin_dir, "wiremesh-lab-ctl")
    assert stat.S_IMODE(os.stat(command).st_mode) == 0o755
    assert open(command).read().endswith('exec /usr/bin/python3 %s/wiremesh_lab_ctl.py "$@"\n' % lib)
    assert stat.S_IMODE(os.stat(os.path.join(lib, "wiremesh_lab_spec.py")).st_mode) == 0o644
    assert lab.install(*args) == {"changed": False, "actions": []}
    os.chmod(command, 0o700)
    assert lab.install(*args)["actions"] == ["install %s" % command]


def test_install_command_line_prints_json(lab, tmp_path, capsys):
    lib, bin_dir = str(tmp_path / "lib"), str(tmp_path)
    assert lab.main(["install", "--lib", lib, "--bin", bin_dir, "--program", "wiremesh_lab_sys.py", "--check"]) == 0
    assert json.loads(capsys.readouterr().out) == {"changed": True, "actions": ["create %s" % lib,
                                                                                "install %s/wiremesh_lab_sys.py" % lib]}
