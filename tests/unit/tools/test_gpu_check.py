"""tools/gpu_check.sh rehearsed on a machine without an NVIDIA GPU: every part runs or says why not, the GPU parts
are skipped with their reason, one JSON file and a log are written, and the script exits 0. With no wheel folder
the install part is skipped (saying so) and the ansible-core this Python already has is used."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "tools", "gpu_check.sh")

pytestmark = pytest.mark.skipif(os.path.exists("/proc/driver/nvidia/version"), reason="an NVIDIA driver is loaded "
                                "here: the GPU path is checked by running the script itself (make gpu-check)")


def test_without_a_gpu_each_part_says_why_and_it_exits_0(tmp_path):
    pytest.importorskip("ansible", reason="ansible-core is not installed here (make deps)")
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", SCRIPT, "--out", str(out), "--work", str(tmp_path / "work"), "--wheels", str(tmp_path / "none"),
         "--python", sys.executable, "--parts", "host,install,gpu_facts,playbook,detector,tests", "--budget", "240"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "gpu_check.json").read_text())
    log = (out / "gpu_check.log").read_text()
    assert result["summary"] == {"host": "ok", "install": "skipped", "gpu_facts": "ok", "playbook": "skipped",
                                 "detector": "skipped", "tests": "ok", "bench": "skipped"}, log[-3000:]
    assert result["install"]["reason"].startswith("no ansible-core wheel in ")
    assert result["install"]["ansible_from"].endswith(os.path.join("ansible", "__init__.py"))
    assert result["host"]["python_executable"] == str(tmp_path / "work" / "bin" / "python3")
    facts = result["gpu_facts"]
    assert facts["gpu_present"] is False and facts["driver"]["loaded"] is False and facts["nouveau_loaded"] is False
    play = result["playbook"]
    assert play["check_mode"]["action"] == play["real"]["action"] == "skip"
    assert play["check_mode"]["stats"]["changed"] == play["real"]["stats"]["changed"] == 0
    assert "its keep path needs a host with an NVIDIA GPU" in play["reason"]
    assert result["detector"]["reason"].startswith("wiremesh-detector --device cuda does not start here: ")
    outcomes = {case["test"].rsplit("::", 1)[-1]: case for case in result["tests"]["cases"]}
    assert outcomes["test_real_module_agrees_with_sysfs"]["outcome"] == "passed"
    assert outcomes["test_gpu_playbook_keeps_the_working_driver"]["outcome"] == "skipped"
    assert result["bench"]["reason"] == "not in --parts"
    assert "=== playbook_real: rc 0" in log
